/* {{name}}: a trainhost plugin in C. A linear model trained by full-batch
 * gradient descent: softmax regression for classification, least squares for
 * regression, on standardised numbers (a missing one at the mean) and one-hot
 * categories (a missing or unseen one: no level).
 *
 * It is a skeleton to replace with your algorithm; it shows every piece a
 * plugin needs: the schema (one parameter of each kind), checking parameters
 * before data, one epoch report per pass with cancel honoured, deterministic
 * model bytes, and predict. Everything goes through sdk/trainhost.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainhost.h"

static const char *const SCHEDULES[] = {"constant", "decay", NULL};
static const char *const NO_PENALTY[] = {"none", NULL};

static const th_param_spec PARAMS[] = {
    TH_INT("epochs", 100, 1, 10000, "Passes over the training rows, one gradient step each."),
    TH_FLOAT("learningRate", 0.5, 1e-4, 10.0, "Step size of gradient descent."),
    TH_BOOL("intercept", true, "Fit an intercept."),
    TH_CHOICE("schedule", "constant", SCHEDULES, "constant: the same step; decay: the step over sqrt(epoch)."),
    TH_CHOICE_OR_NUMBER("l2", "none", NO_PENALTY, 0.0, 100.0, "none, or the L2 penalty on the weights."),
};

const th_plugin TH_PLUGIN = {
    .name = "{{name}}",
    .version = "0.1.0",
    .description = "A linear model by gradient descent (the C template).",
    .tasks = TH_TASK_BIT(TH_CLASSIFICATION) | TH_TASK_BIT(TH_REGRESSION),
    .params = PARAMS,
    .n_params = sizeof PARAMS / sizeof PARAMS[0],
};

static const uint8_t MAGIC[4] = {'L', 'I', 'N', '1'};

/* The fitted model: the encoding of the columns and the weights. */
typedef struct {
  uint32_t task, n_columns, dims, outputs, intercept;
  uint8_t *kinds;      /* per column: TH_NUMERIC or TH_CATEGORICAL */
  double *center;      /* per column: mean (numeric) */
  double *scale;       /* per column: sd (numeric), levels (categorical) */
  double y_mean, y_sd; /* regression: the target's standardisation */
  double *w;           /* outputs x dims */
} model;

static void model_free(model *m) {
  free(m->kinds), free(m->center), free(m->scale), free(m->w);
  memset(m, 0, sizeof *m);
}

/* Row `r` of `t` as the model's design row x[dims]. */
static void design_row(const model *m, const th_table *t, uint32_t r, double *x) {
  uint32_t d = 0;
  memset(x, 0, m->dims * sizeof *x);
  for (uint32_t c = 0; c < m->n_columns; c++) {
    const th_column *col = &t->columns[c];
    if (m->kinds[c] == TH_NUMERIC) {
      double v = col->numbers[r];
      x[d++] = isnan(v) ? 0.0 : (v - m->center[c]) / m->scale[c];
    } else {
      uint32_t levels = (uint32_t)m->scale[c];
      if (col->codes[r] < levels) x[d + col->codes[r]] = 1.0;
      d += levels;
    }
  }
  if (m->intercept) x[d] = 1.0;
}

/* Scores of one design row: outputs[k] = w[k] . x; softmax for classification. */
static void scores(const model *m, const double *x, double *out) {
  double top = -INFINITY, sum = 0;
  for (uint32_t k = 0; k < m->outputs; k++) {
    out[k] = 0;
    for (uint32_t d = 0; d < m->dims; d++) out[k] += m->w[(size_t)k * m->dims + d] * x[d];
    if (out[k] > top) top = out[k];
  }
  if (m->task != TH_CLASSIFICATION) return;
  for (uint32_t k = 0; k < m->outputs; k++) sum += out[k] = exp(out[k] - top);
  for (uint32_t k = 0; k < m->outputs; k++) out[k] /= sum;
}

/* The encoding of the training table (statistics of its known values). */
static th_status layout(const th_request *req, bool intercept, model *m) {
  const th_table *t = &req->train;
  memset(m, 0, sizeof *m);
  m->task = req->task, m->n_columns = t->n_columns, m->intercept = intercept;
  m->kinds = malloc(t->n_columns + 1);
  m->center = calloc(t->n_columns + 1, sizeof(double));
  m->scale = calloc(t->n_columns + 1, sizeof(double));
  if (!m->kinds || !m->center || !m->scale) return th_failed("out of memory");
  for (uint32_t c = 0; c < t->n_columns; c++) {
    const th_column *col = &t->columns[c];
    m->kinds[c] = (uint8_t)col->kind;
    if (col->kind == TH_CATEGORICAL) {
      m->scale[c] = col->n_levels, m->dims += col->n_levels;
      continue;
    }
    th_numeric_stats(col, &m->center[c], &m->scale[c]);
    if (!(m->scale[c] > 0)) m->scale[c] = 1.0;
    m->dims++;
  }
  m->dims += intercept;
  const th_column *y = &req->target.column;
  m->outputs = req->task == TH_CLASSIFICATION ? y->n_levels : 1;
  if (req->task == TH_REGRESSION && th_numeric_stats(y, &m->y_mean, &m->y_sd) == 0)
    return th_invalid_data("the target has no known value");
  if (!(m->y_sd > 0)) m->y_sd = 1.0;
  m->w = calloc((size_t)m->outputs * m->dims + 1, sizeof(double));
  return m->w ? TH_OK : th_failed("out of memory");
}

/* One full-batch pass: the gradient of the mean loss, then a step. Returns the mean loss. */
static double step(model *m, const th_request *req, double rate, double l2, double *x, double *p, double *grad) {
  const th_column *y = &req->target.column;
  double loss = 0, n = 0;
  memset(grad, 0, (size_t)m->outputs * m->dims * sizeof *grad);
  for (uint32_t r = 0; r < req->train.rows; r++) {
    if (th_is_missing(y, r) || (y->kind == TH_CATEGORICAL && y->codes[r] >= m->outputs)) continue;
    design_row(m, &req->train, r, x);
    scores(m, x, p);
    for (uint32_t k = 0; k < m->outputs; k++) {
      double err = m->task == TH_CLASSIFICATION ? p[k] - (y->codes[r] == k) : p[k] - (y->numbers[r] - m->y_mean) / m->y_sd;
      for (uint32_t d = 0; d < m->dims; d++) grad[(size_t)k * m->dims + d] += err * x[d];
      if (m->task == TH_REGRESSION) loss += 0.5 * err * err;
    }
    if (m->task == TH_CLASSIFICATION) loss -= log(p[y->codes[r]] + 1e-300);
    n++;
  }
  for (size_t i = 0; i < (size_t)m->outputs * m->dims; i++) m->w[i] -= rate * (grad[i] / (n > 0 ? n : 1) + l2 * m->w[i]);
  return n > 0 ? loss / n : 0;
}

static void write_model(const model *m, th_buf *out) {
  th_buf_bytes(out, MAGIC, sizeof MAGIC);
  th_buf_u32(out, m->task), th_buf_u32(out, m->n_columns), th_buf_u32(out, m->dims);
  th_buf_u32(out, m->outputs), th_buf_u32(out, m->intercept);
  th_buf_bytes(out, m->kinds, m->n_columns);
  for (uint32_t c = 0; c < m->n_columns; c++) th_buf_f64(out, m->center[c]), th_buf_f64(out, m->scale[c]);
  th_buf_f64(out, m->y_mean), th_buf_f64(out, m->y_sd);
  for (size_t i = 0; i < (size_t)m->outputs * m->dims; i++) th_buf_f64(out, m->w[i]);
}

th_status th_train(const th_request *req, th_trained *out) {
  /* Parameters first: the host checks a job's parameters with a table of no rows. */
  int64_t epochs = th_param_int(req->params, "epochs");
  double rate = th_param_float(req->params, "learningRate"), l2 = 0;
  bool intercept = th_param_bool(req->params, "intercept");
  bool decay = th_param_choice_index(req->params, "schedule") == 1;
  if (th_param_choice_or_number(req->params, "l2", &l2)) l2 = 0; /* "none" */
  th_status status = (th_status)th_params_check(req->params);
  if (status != TH_OK) return status;
  if (!req->target.present || req->task == TH_CLUSTERING) return th_invalid_data("{{name}} needs a target");
  if (req->train.rows == 0) return th_invalid_data("the training table has no rows");

  model m;
  if ((status = layout(req, intercept, &m)) != TH_OK) return model_free(&m), status;
  double *x = malloc((m.dims + 1) * sizeof(double)), *p = malloc((m.outputs + 1) * sizeof(double));
  double *grad = malloc(((size_t)m.outputs * m.dims + 1) * sizeof(double));
  double loss = 0;
  for (int64_t e = 1; x && p && grad && e <= epochs && status == TH_OK; e++) {
    loss = step(&m, req, decay ? rate / sqrt((double)e) : rate, l2, x, p, grad);
    th_metric metric = {"loss", loss};
    if (!th_report_epoch((uint32_t)e, (uint32_t)epochs, &metric, 1)) status = th_cancelled_status();
  }
  if (status == TH_OK && (!x || !p || !grad)) status = th_failed("out of memory");
  if (status == TH_OK) {
    th_trained_metric(out, "training_loss", loss);
    write_model(&m, &out->model);
    if (out->model.failed) status = th_failed("out of memory writing the model");
  }
  free(x), free(p), free(grad);
  model_free(&m);
  return status;
}

static th_status read_model(const th_bytes *bytes, model *m) {
  th_reader in = th_reader_of(bytes);
  const uint8_t *magic = th_read_bytes(&in, sizeof MAGIC);
  memset(m, 0, sizeof *m);
  if (!magic || memcmp(magic, MAGIC, sizeof MAGIC) != 0) return th_invalid_model("not a {{name}} model");
  m->task = th_read_u32(&in), m->n_columns = th_read_u32(&in), m->dims = th_read_u32(&in);
  m->outputs = th_read_u32(&in), m->intercept = th_read_u32(&in);
  const uint8_t *kinds = th_read_bytes(&in, m->n_columns);
  if (!kinds || in.len - in.pos != 16ull * m->n_columns + 16 + 8ull * m->outputs * m->dims)
    return th_invalid_model("a {{name}} model of the wrong length");
  m->kinds = malloc(m->n_columns + 1);
  m->center = malloc((m->n_columns + 1) * sizeof(double));
  m->scale = malloc((m->n_columns + 1) * sizeof(double));
  m->w = malloc(((size_t)m->outputs * m->dims + 1) * sizeof(double));
  if (!m->kinds || !m->center || !m->scale || !m->w) return th_failed("out of memory");
  memcpy(m->kinds, kinds, m->n_columns);
  for (uint32_t c = 0; c < m->n_columns; c++) m->center[c] = th_read_f64(&in), m->scale[c] = th_read_f64(&in);
  m->y_mean = th_read_f64(&in), m->y_sd = th_read_f64(&in);
  for (size_t i = 0; i < (size_t)m->outputs * m->dims; i++) m->w[i] = th_read_f64(&in);
  return TH_OK;
}

/* Predictions for rows of the training table's columns (codes past the
 * training levels, as an unseen level's, count as no level). */
static th_status predict_rows(const model *m, const th_table *t, th_predictions *out) {
  for (uint32_t c = 0; c < m->n_columns; c++)
    if (c >= t->n_columns || (uint8_t)t->columns[c].kind != m->kinds[c])
      return th_invalid_data("the table's columns are not the training table's (column %u)", c + 1);
  double *x = malloc((m->dims + 1) * sizeof(double)), *p = malloc((m->outputs + 1) * sizeof(double));
  bool classes = m->task == TH_CLASSIFICATION;
  out->kind = classes ? TH_PRED_CLASSES : TH_PRED_VALUES;
  out->rows = t->rows, out->n_classes = classes ? m->outputs : 0;
  if (classes) {
    out->labels = malloc(((size_t)t->rows + 1) * sizeof(uint32_t));
    out->probabilities = malloc(((size_t)t->rows * m->outputs + 1) * sizeof(float));
  } else {
    out->values = malloc(((size_t)t->rows + 1) * sizeof(double));
  }
  bool ok = x && p && (classes ? out->labels && out->probabilities : out->values != NULL);
  for (uint32_t r = 0; ok && r < t->rows; r++) {
    design_row(m, t, r, x);
    scores(m, x, p);
    if (!classes) out->values[r] = m->y_mean + m->y_sd * p[0];
    for (uint32_t k = 0; classes && k < m->outputs; k++) {
      out->probabilities[(size_t)r * m->outputs + k] = (float)p[k];
      if (k == 0 || p[k] > p[out->labels[r]]) out->labels[r] = k;
    }
  }
  free(x), free(p);
  return ok ? TH_OK : th_failed("out of memory");
}

th_status th_predict(const th_bytes *bytes, const th_table *features, th_predictions *out) {
  model m;
  th_status status = read_model(bytes, &m);
  if (status == TH_OK) status = predict_rows(&m, features, out);
  model_free(&m);
  return status;
}
