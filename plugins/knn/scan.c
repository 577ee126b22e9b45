/* The neighbour scan: for each query row, the k training rows nearest to it,
 * and the vote or mean they give.
 *
 * Owns distances, the scan and the aggregation; must not know the model bytes
 * (model.c). The scan is blocked: QUERY_BLOCK query rows against TRAIN_BLOCK
 * training rows at a time, so a block of training rows is read from memory
 * once per block of queries rather than once per query, and a distance stops
 * accumulating as soon as it is past the query's current k-th best (it could
 * not enter). Rows tied at the k-th distance share its places, so a
 * prediction depends only on the model and the row, not on the rows' order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn.h"

#define QUERY_BLOCK 32u
#define TRAIN_BLOCK 256u

/* The k best of one query so far, nearest first (distances as accumulated:
 * squared for euclidean), and the rows seen at the k-th distance that did not
 * fit: they share the places of the k-th distance with the ones inside (see
 * `aggregate`), so a prediction does not depend on the order of the rows. */
typedef struct {
  double *dist;
  uint32_t *row;
  uint32_t filled;
  double tied_out;    /* rows outside the k best at exactly their k-th distance */
  double *tied_votes; /* their classes (n_classes counts), or the sum of their values */
} knn_best;

/* Checks that `features` has the training table's columns. */
static th_status check_columns(const knn_model *m, const th_table *features) {
  if (features->n_columns != m->n_columns)
    return th_invalid_data("the table has %u feature columns, the model was trained on %u", features->n_columns,
                           m->n_columns);
  for (uint32_t c = 0; c < m->n_columns; c++)
    if ((uint8_t)features->columns[c].kind != m->kinds[c])
      return th_invalid_data("column %u (%.*s) is %s, the model was trained on a %s one", c + 1,
                             (int)features->columns[c].name.len, features->columns[c].name.ptr,
                             features->columns[c].kind == TH_NUMERIC ? "numeric" : "categorical",
                             m->kinds[c] == TH_NUMERIC ? "numeric" : "categorical");
  return TH_OK;
}

/* Encodes query row `r` as the training rows are: standardised, the mean for a missing number. */
static void encode_query(const knn_model *m, const th_table *t, uint32_t r, double *numbers, uint32_t *codes) {
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
}

/* The distance of training row `row` to the query, or a value > `worst` once it cannot be at most `worst`. */
static double distance(const knn_model *m, const double *q, const uint32_t *qc, size_t row, double worst) {
  const uint32_t *codes = m->codes + row * m->n_categorical;
  double acc = 0;
  for (uint32_t k = 0; k < m->n_categorical; k++) acc += codes[k] != qc[k] ? m->categorical_weight : 0.0;
  const double *x = m->numbers + row * m->n_numeric;
  uint32_t n = 0;
  while (n < m->n_numeric) {
    uint32_t end = n + 8 < m->n_numeric ? n + 8 : m->n_numeric;
    if (m->metric == KNN_EUCLIDEAN)
      for (; n < end; n++) acc += (x[n] - q[n]) * (x[n] - q[n]);
    else
      for (; n < end; n++) acc += fabs(x[n] - q[n]);
    if (acc > worst) return acc;
  }
  return acc;
}

/* Counts training row `row` among the tied rows outside the k best. */
static void tie_add(const knn_model *m, knn_best *b, uint32_t row) {
  b->tied_out += 1;
  if (m->classes) b->tied_votes[m->classes[row]] += 1;
  else b->tied_votes[0] += m->values[row];
}

static void tie_reset(const knn_model *m, knn_best *b) {
  b->tied_out = 0;
  memset(b->tied_votes, 0, (m->classes ? m->n_classes : 1) * sizeof(double));
}

/* Takes (d, row) into the k best, or among the tied rows, if it belongs there. */
static void offer(const knn_model *m, knn_best *b, double d, uint32_t row) {
  uint32_t k = m->k;
  double worst = b->filled == k ? b->dist[k - 1] : INFINITY;
  if (d > worst) return;
  if (d == worst) {
    tie_add(m, b, row);
    return;
  }
  uint32_t ejected = b->filled == k ? b->row[k - 1] : UINT32_MAX;
  uint32_t i = b->filled < k ? b->filled++ : k - 1;
  while (i > 0 && b->dist[i - 1] > d) {
    b->dist[i] = b->dist[i - 1];
    b->row[i] = b->row[i - 1];
    i--;
  }
  b->dist[i] = d;
  b->row[i] = row;
  if (ejected == UINT32_MAX) return;
  if (b->dist[k - 1] < worst) tie_reset(m, b);
  else tie_add(m, b, ejected); /* still at the k-th distance: it shares its places */
}

/* A neighbour's weight at distance `acc` (as accumulated): 1, or the inverse
 * distance (only the exact matches when there are any). */
static double weight(const knn_model *m, const knn_best *b, double acc) {
  if (m->weights == KNN_UNIFORM) return 1.0;
  if (b->dist[0] == 0.0) return acc == 0.0 ? 1.0 : 0.0;
  return 1.0 / (m->metric == KNN_EUCLIDEAN ? sqrt(acc) : acc);
}

/* The prediction of one query from its neighbours: class label and
 * probabilities, or the value. The rows at the k-th distance, inside and
 * outside the k best, share its places equally: the mean over every way of
 * breaking the tie. `votes` has room for n_classes doubles. */
static void aggregate(const knn_model *m, const knn_best *b, double *votes, uint32_t *label, float *probs, double *value) {
  double last = b->dist[b->filled - 1], inside = 0;
  for (uint32_t i = 0; i < b->filled; i++) inside += b->dist[i] == last;
  double share = inside / (inside + b->tied_out), w_last = weight(m, b, last) * share, total;
  uint32_t outputs = m->classes ? m->n_classes : 1;
  for (uint32_t c = 0; c < outputs; c++) votes[c] = w_last * b->tied_votes[c];
  total = w_last * b->tied_out;
  for (uint32_t i = 0; i < b->filled; i++) {
    double w = b->dist[i] == last ? w_last : weight(m, b, b->dist[i]);
    total += w;
    if (m->classes) votes[m->classes[b->row[i]]] += w;
    else votes[0] += w * m->values[b->row[i]];
  }
  if (!m->classes) {
    *value = votes[0] / total;
    return;
  }
  uint32_t top = 0;
  for (uint32_t c = 0; c < m->n_classes; c++) {
    probs[c] = (float)(votes[c] / total);
    if (votes[c] > votes[top]) top = c;
  }
  *label = top;
}

/* Scratch of one block scan. */
typedef struct {
  double *numbers, *dist, *votes, *tied;
  uint32_t *codes, *rows;
  knn_best best[QUERY_BLOCK];
} knn_scratch;

static bool scratch_new(const knn_model *m, knn_scratch *s) {
  s->numbers = malloc(((size_t)QUERY_BLOCK * m->n_numeric + 1) * sizeof(double));
  s->codes = malloc(((size_t)QUERY_BLOCK * m->n_categorical + 1) * sizeof(uint32_t));
  s->dist = malloc((size_t)QUERY_BLOCK * m->k * sizeof(double));
  s->rows = malloc((size_t)QUERY_BLOCK * m->k * sizeof(uint32_t));
  size_t outputs = m->classes ? m->n_classes : 1;
  s->votes = malloc((outputs + 1) * sizeof(double));
  s->tied = malloc((QUERY_BLOCK * outputs + 1) * sizeof(double));
  for (uint32_t q = 0; q < QUERY_BLOCK && s->dist && s->rows && s->tied; q++)
    s->best[q] = (knn_best){s->dist + (size_t)q * m->k, s->rows + (size_t)q * m->k, 0, 0, s->tied + q * outputs};
  return s->numbers && s->codes && s->dist && s->rows && s->votes && s->tied;
}

static void scratch_free(knn_scratch *s) {
  free(s->numbers);
  free(s->codes);
  free(s->dist);
  free(s->rows);
  free(s->votes);
  free(s->tied);
}

/* Finds the neighbours of query rows [from, from + count) of `t` into s->best. */
static void scan_block(const knn_model *m, const th_table *t, uint32_t from, uint32_t count, knn_scratch *s) {
  for (uint32_t q = 0; q < count; q++) {
    encode_query(m, t, from + q, s->numbers + (size_t)q * m->n_numeric, s->codes + (size_t)q * m->n_categorical);
    s->best[q].filled = 0;
    tie_reset(m, &s->best[q]);
  }
  for (uint32_t start = 0; start < m->rows; start += TRAIN_BLOCK) {
    uint32_t end = start + TRAIN_BLOCK < m->rows ? start + TRAIN_BLOCK : m->rows;
    for (uint32_t q = 0; q < count; q++) {
      knn_best *best = &s->best[q];
      const double *qn = s->numbers + (size_t)q * m->n_numeric;
      const uint32_t *qc = s->codes + (size_t)q * m->n_categorical;
      for (uint32_t row = start; row < end; row++) {
        double worst = best->filled == m->k ? best->dist[m->k - 1] : INFINITY;
        offer(m, best, distance(m, qn, qc, row, worst), row);
      }
    }
  }
}

/* Predicts rows [from, to) of `t` into the arrays (index 0: row `from`). */
static th_status predict_range(const knn_model *m, const th_table *t, uint32_t from, uint32_t to, uint32_t *labels,
                               float *probs, double *values) {
  knn_scratch s;
  if (!scratch_new(m, &s)) {
    scratch_free(&s);
    return th_failed("out of memory for the neighbour scan");
  }
  for (uint32_t block = from; block < to; block += QUERY_BLOCK) {
    uint32_t count = to - block < QUERY_BLOCK ? to - block : QUERY_BLOCK;
    scan_block(m, t, block, count, &s);
    for (uint32_t q = 0; q < count; q++) {
      size_t r = block + q - from;
      aggregate(m, &s.best[q], s.votes, labels ? &labels[r] : NULL, probs ? &probs[r * m->n_classes] : NULL,
                values ? &values[r] : NULL);
    }
  }
  scratch_free(&s);
  return TH_OK;
}

th_status knn_predict(const knn_model *m, const th_table *features, th_predictions *out) {
  th_status status = check_columns(m, features);
  if (status != TH_OK) return status;
  size_t rows = features->rows;
  out->rows = features->rows;
  if (m->task == TH_CLASSIFICATION) {
    out->kind = TH_PRED_CLASSES;
    out->n_classes = m->n_classes;
    out->labels = malloc((rows + 1) * sizeof(uint32_t));
    out->probabilities = malloc((rows * m->n_classes + 1) * sizeof(float));
    if (!out->labels || !out->probabilities) return th_failed("out of memory for %zu predictions", rows);
    return predict_range(m, features, 0, features->rows, out->labels, out->probabilities, NULL);
  }
  out->kind = TH_PRED_VALUES;
  out->values = malloc((rows + 1) * sizeof(double));
  if (!out->values) return th_failed("out of memory for %zu predictions", rows);
  return predict_range(m, features, 0, features->rows, NULL, NULL, out->values);
}

th_status knn_score_rows(const knn_model *m, const th_table *features, const th_column *truth, uint32_t from,
                         uint32_t to, knn_score *score) {
  th_status status = check_columns(m, features);
  if (status != TH_OK) return status;
  size_t rows = to - from;
  uint32_t *labels = m->task == TH_CLASSIFICATION ? malloc((rows + 1) * sizeof(uint32_t)) : NULL;
  float *probs = m->task == TH_CLASSIFICATION ? malloc((rows * m->n_classes + 1) * sizeof(float)) : NULL;
  double *values = m->task == TH_REGRESSION ? malloc((rows + 1) * sizeof(double)) : NULL;
  if (m->task == TH_CLASSIFICATION ? !labels || !probs : !values) status = th_failed("out of memory for validation");
  if (status == TH_OK) status = predict_range(m, features, from, to, labels, probs, values);
  for (uint32_t r = from; status == TH_OK && r < to; r++) {
    if (th_is_missing(truth, r)) continue;
    score->n++;
    if (m->task == TH_CLASSIFICATION) {
      score->correct += labels[r - from] == truth->codes[r];
    } else {
      double y = truth->numbers[r], e = y - values[r - from];
      score->sum += y, score->sum_sq += y * y, score->sse += e * e;
    }
  }
  free(labels);
  free(probs);
  free(values);
  return status;
}

double knn_score_value(const knn_score *s, th_task task) {
  if (s->n == 0) return 0.0;
  if (task == TH_CLASSIFICATION) return s->correct / s->n;
  double sst = s->sum_sq - s->sum * s->sum / s->n;
  return sst > 0 ? 1.0 - s->sse / sst : 0.0;
}
