/* The knn model: fitting (standardising the training rows) and its bytes.
 *
 * Owns the model layout; must not score or predict (scan.c does). The bytes
 * are a magic, a version, the settings, the column layout, the statistics and
 * the rows, all little-endian: the same rows and settings give the same bytes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn.h"

static const uint8_t MAGIC[4] = {'K', 'N', 'N', '1'};

void knn_model_free(knn_model *m) {
  free(m->kinds);
  free(m->mean);
  free(m->sd);
  free(m->n_levels);
  free(m->numbers);
  free(m->codes);
  free(m->classes);
  free(m->values);
  memset(m, 0, sizeof *m);
}

/* Allocates the arrays for the layout already in `m`; false when out of memory. */
static bool allocate(knn_model *m) {
  size_t rows = m->rows;
  m->kinds = calloc(m->n_columns + 1, 1);
  m->mean = calloc(m->n_numeric + 1, sizeof(double));
  m->sd = calloc(m->n_numeric + 1, sizeof(double));
  m->n_levels = calloc(m->n_categorical + 1, sizeof(uint32_t));
  m->numbers = malloc((rows * m->n_numeric + 1) * sizeof(double));
  m->codes = malloc((rows * m->n_categorical + 1) * sizeof(uint32_t));
  if (m->task == TH_CLASSIFICATION)
    m->classes = malloc((rows + 1) * sizeof(uint32_t));
  else
    m->values = malloc((rows + 1) * sizeof(double));
  return m->kinds && m->mean && m->sd && m->n_levels && m->numbers && m->codes && (m->classes || m->values);
}

/* Whether training row `row` has a known target (a finite number, a class of the levels). */
static bool known_target(const th_column *target, uint32_t row) {
  return target->kind == TH_NUMERIC ? isfinite(target->numbers[row]) : target->codes[row] < target->n_levels;
}

/* The layout and statistics of the training table. */
static th_status layout(const th_request *request, const knn_settings *s, knn_model *m) {
  const th_table *t = &request->train;
  const th_column *target = &request->target.column;
  memset(m, 0, sizeof *m);
  m->task = request->task;
  m->weights = s->weights;
  m->metric = s->metric;
  m->categorical_weight = s->categorical_weight;
  m->n_columns = t->n_columns;
  for (uint32_t c = 0; c < t->n_columns; c++) {
    if (t->columns[c].kind == TH_NUMERIC) m->n_numeric++;
    else m->n_categorical++;
  }
  for (uint32_t r = 0; r < t->rows; r++) m->rows += known_target(target, r);
  if (m->rows == 0) return th_invalid_data("no training row has a known target");
  m->k = s->k < m->rows ? s->k : m->rows;
  if (m->k < s->k) th_log(TH_WARN, "nNeighbors = %u is more than the %u training rows: using %u", s->k, m->rows, m->k);
  m->n_classes = request->task == TH_CLASSIFICATION ? target->n_levels : 0;
  if (!allocate(m)) return th_failed("out of memory for %u training rows", m->rows);
  uint32_t n = 0, k = 0;
  for (uint32_t c = 0; c < t->n_columns; c++) {
    const th_column *col = &t->columns[c];
    m->kinds[c] = (uint8_t)col->kind;
    if (col->kind == TH_CATEGORICAL) {
      m->n_levels[k++] = col->n_levels;
      continue;
    }
    /* Statistics of the rows the model keeps, as a scaler fitted on them. */
    double sum = 0, sum_sq = 0, count = 0;
    for (uint32_t r = 0; r < t->rows; r++)
      if (known_target(target, r) && isfinite(col->numbers[r])) sum += col->numbers[r], count++;
    double mean = count > 0 ? sum / count : 0;
    for (uint32_t r = 0; r < t->rows; r++)
      if (known_target(target, r) && isfinite(col->numbers[r])) sum_sq += (col->numbers[r] - mean) * (col->numbers[r] - mean);
    double sd = count > 0 ? sqrt(sum_sq / count) : 0;
    m->mean[n] = mean;
    m->sd[n++] = sd > 0 && isfinite(sd) ? sd : 1.0; /* a constant column: every row at 0 */
  }
  return TH_OK;
}

/* Copies training rows [from, to) with a known target, standardised, from row slot `*slot` on. */
static void encode_rows(const th_request *request, knn_model *m, uint32_t from, uint32_t to, uint32_t *slot) {
  const th_table *t = &request->train;
  const th_column *target = &request->target.column;
  for (uint32_t r = from; r < to; r++) {
    if (!known_target(target, r)) continue;
    size_t i = *slot;
    double *numbers = m->numbers + i * m->n_numeric;
    uint32_t *codes = m->codes + i * m->n_categorical;
    uint32_t n = 0, k = 0;
    for (uint32_t c = 0; c < t->n_columns; c++) {
      const th_column *col = &t->columns[c];
      if (col->kind == TH_NUMERIC) {
        double x = col->numbers[r];
        numbers[n] = isfinite(x) ? (x - m->mean[n]) / m->sd[n] : 0.0;
        n++;
      } else {
        uint32_t code = col->codes[r];
        codes[k] = code < m->n_levels[k] ? code : m->n_levels[k];
        k++;
      }
    }
    if (m->classes) m->classes[i] = target->codes[r];
    else m->values[i] = target->numbers[r];
    (*slot)++;
  }
}

th_status knn_fit(const th_request *request, const knn_settings *settings, uint32_t chunks, uint32_t total,
                  knn_model *m) {
  th_status status = layout(request, settings, m);
  if (status != TH_OK) {
    knn_model_free(m);
    return status;
  }
  uint32_t rows = request->train.rows, slot = 0;
  for (uint32_t chunk = 0; chunk < chunks; chunk++) {
    uint32_t from = (uint32_t)((uint64_t)rows * chunk / chunks), to = (uint32_t)((uint64_t)rows * (chunk + 1) / chunks);
    encode_rows(request, m, from, to, &slot);
    th_metric metric = {"rows_indexed", (double)slot};
    if (!th_report_epoch(chunk + 1, total, &metric, 1)) {
      knn_model_free(m);
      return th_cancelled_status();
    }
  }
  return TH_OK;
}

void knn_model_write(const knn_model *m, th_buf *out) {
  size_t per_row = 8ull * m->n_numeric + 4ull * m->n_categorical + (m->classes ? 4 : 8);
  th_buf_reserve(out, 64 + m->n_columns + 16ull * m->n_numeric + 4ull * m->n_categorical + (size_t)m->rows * per_row);
  th_buf_bytes(out, MAGIC, sizeof MAGIC);
  th_buf_u32(out, 1); /* layout version */
  th_buf_u32(out, (uint32_t)m->task);
  th_buf_u32(out, m->k);
  th_buf_u32(out, (uint32_t)m->weights);
  th_buf_u32(out, (uint32_t)m->metric);
  th_buf_f64(out, m->categorical_weight);
  th_buf_u32(out, m->n_columns);
  th_buf_u32(out, m->rows);
  th_buf_u32(out, m->n_classes);
  th_buf_bytes(out, m->kinds, m->n_columns);
  for (uint32_t n = 0; n < m->n_numeric; n++) th_buf_f64(out, m->mean[n]), th_buf_f64(out, m->sd[n]);
  for (uint32_t k = 0; k < m->n_categorical; k++) th_buf_u32(out, m->n_levels[k]);
  for (size_t i = 0; i < (size_t)m->rows * m->n_numeric; i++) th_buf_f64(out, m->numbers[i]);
  for (size_t i = 0; i < (size_t)m->rows * m->n_categorical; i++) th_buf_u32(out, m->codes[i]);
  for (uint32_t r = 0; r < m->rows; r++) {
    if (m->classes) th_buf_u32(out, m->classes[r]);
    else th_buf_f64(out, m->values[r]);
  }
}

/* The header: settings and column layout, checked. */
static th_status read_header(th_reader *in, knn_model *m) {
  const uint8_t *magic = th_read_bytes(in, sizeof MAGIC);
  if (!magic || memcmp(magic, MAGIC, sizeof MAGIC) != 0) return th_invalid_model("not a knn model (bad magic)");
  if (th_read_u32(in) != 1) return th_invalid_model("a knn model of another layout version");
  m->task = (th_task)th_read_u32(in);
  m->k = th_read_u32(in);
  m->weights = (int)th_read_u32(in);
  m->metric = (int)th_read_u32(in);
  m->categorical_weight = th_read_f64(in);
  m->n_columns = th_read_u32(in);
  m->rows = th_read_u32(in);
  m->n_classes = th_read_u32(in);
  if (in->failed || (m->task != TH_CLASSIFICATION && m->task != TH_REGRESSION) || m->k == 0 || m->k > m->rows)
    return th_invalid_model("a corrupt knn model header");
  const uint8_t *kinds = th_read_bytes(in, m->n_columns);
  if (!kinds) return th_invalid_model("truncated knn model");
  for (uint32_t c = 0; c < m->n_columns; c++) {
    if (kinds[c] == TH_NUMERIC) m->n_numeric++;
    else if (kinds[c] == TH_CATEGORICAL) m->n_categorical++;
    else return th_invalid_model("a corrupt knn model column kind");
  }
  /* Everything that follows has a known size: refuse a short model before allocating. */
  uint64_t body = 16ull * m->n_numeric + 4ull * m->n_categorical +
                  (uint64_t)m->rows * (8ull * m->n_numeric + 4ull * m->n_categorical + (m->task == TH_CLASSIFICATION ? 4 : 8));
  if (body != in->len - in->pos) return th_invalid_model("a knn model of the wrong length");
  if (!allocate(m)) return th_failed("out of memory reading the model");
  memcpy(m->kinds, kinds, m->n_columns);
  return TH_OK;
}

th_status knn_model_read(const th_bytes *bytes, knn_model *m) {
  memset(m, 0, sizeof *m);
  th_reader in = th_reader_of(bytes);
  th_status status = read_header(&in, m);
  if (status != TH_OK) {
    knn_model_free(m);
    return status;
  }
  for (uint32_t n = 0; n < m->n_numeric; n++) m->mean[n] = th_read_f64(&in), m->sd[n] = th_read_f64(&in);
  for (uint32_t k = 0; k < m->n_categorical; k++) m->n_levels[k] = th_read_u32(&in);
  for (size_t i = 0; i < (size_t)m->rows * m->n_numeric; i++) m->numbers[i] = th_read_f64(&in);
  for (size_t i = 0; i < (size_t)m->rows * m->n_categorical; i++) m->codes[i] = th_read_u32(&in);
  for (uint32_t r = 0; r < m->rows; r++) {
    if (m->classes) m->classes[r] = th_read_u32(&in);
    else m->values[r] = th_read_f64(&in);
    if (m->classes && m->classes[r] >= m->n_classes) in.failed = true;
  }
  if (in.failed) {
    knn_model_free(m);
    return th_invalid_model("a corrupt knn model");
  }
  return TH_OK;
}
