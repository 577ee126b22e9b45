/* The knn plugin: k nearest neighbours for classification (probabilities are
 * the neighbours' weighted vote fractions) and regression (their weighted mean).
 *
 * Owns the algorithm: the distance (standardised numbers, categorical
 * mismatches), the model bytes, and the blocked neighbour scan. It must not
 * touch the contract's bindings: everything goes through sdk-c/trainhost.h.
 *
 * Distance between two rows: over the numeric columns, standardised with the
 * training rows' mean and standard deviation (a missing number is the training
 * mean, so it adds nothing against a row at the mean), plus, per categorical
 * column, `categoricalWeight` when the codes differ. A missing category is a
 * level of its own: it matches another missing one and no level. Euclidean:
 * the square root of the sum of squared differences (a mismatch adds the
 * weight to the sum); manhattan: the sum of absolute differences.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn.h"

static const char *const WEIGHTS[] = {"uniform", "distance", NULL};
static const char *const METRICS[] = {"euclidean", "manhattan", NULL};

static const th_param_spec PARAMS[] = {
    TH_INT("nNeighbors", 5, 1, 1000, "Neighbours that vote (fewer when the training rows are fewer)."),
    TH_CHOICE("weights", "uniform", WEIGHTS,
              "uniform: every neighbour counts the same; distance: by the inverse of its distance "
              "(neighbours at distance 0 alone decide)."),
    TH_CHOICE("metric", "euclidean", METRICS, "Distance over the standardised columns."),
    TH_FLOAT("categoricalWeight", 1.0, 0.0, 100.0,
             "What a categorical mismatch adds to the distance, in squared standard deviations "
             "of a numeric column (euclidean) or in standard deviations (manhattan)."),
};

const th_plugin TH_PLUGIN = {
    .name = "knn",
    .version = "1.0.0",
    .description = "k nearest neighbours on standardised numbers and categorical mismatches, written in C.",
    .tasks = TH_TASK_BIT(TH_CLASSIFICATION) | TH_TASK_BIT(TH_REGRESSION),
    .params = PARAMS,
    .n_params = sizeof PARAMS / sizeof PARAMS[0],
};

/* Reads and checks the parameters; TH_OK or the error. */
static th_status read_params(const th_params *params, knn_settings *settings) {
  settings->k = (uint32_t)th_param_int(params, "nNeighbors");
  settings->weights = th_param_choice_index(params, "weights");
  settings->metric = th_param_choice_index(params, "metric");
  settings->categorical_weight = th_param_float(params, "categoricalWeight");
  return (th_status)th_params_check(params);
}

/* Checks the target's kind against the task. */
static th_status check_target(th_task task, const th_target *target) {
  if (!target->present) return th_invalid_data("knn needs a target column");
  if (task == TH_CLASSIFICATION && target->column.kind != TH_CATEGORICAL)
    return th_invalid_data("classification needs a categorical target");
  if (task == TH_REGRESSION && target->column.kind != TH_NUMERIC)
    return th_invalid_data("regression needs a numeric target");
  if (task == TH_CLUSTERING) return th_invalid_data("knn does not cluster");
  return TH_OK;
}

/* Scores validation rows chunk by chunk, one epoch each (after `done` of
 * `total`); returns TH_CANCELLED when the job is cancelled between chunks. */
static th_status score_validation(const knn_model *model, const th_request *request, uint32_t done, uint32_t total,
                                  th_trained *out) {
  const th_table *rows = &request->validation;
  const th_column *truth = &request->validation_target.column;
  knn_score score = {0};
  uint32_t chunks = total - done;
  for (uint32_t chunk = 0; chunk < chunks; chunk++) {
    uint32_t from = (uint32_t)((uint64_t)rows->rows * chunk / chunks);
    uint32_t to = (uint32_t)((uint64_t)rows->rows * (chunk + 1) / chunks);
    th_status status = knn_score_rows(model, rows, truth, from, to, &score);
    if (status != TH_OK) return status;
    th_metric metric = {model->task == TH_CLASSIFICATION ? "validation_accuracy" : "validation_r2",
                        knn_score_value(&score, model->task)};
    if (!th_report_epoch(done + chunk + 1, total, &metric, 1)) return th_cancelled_status();
  }
  th_trained_metric(out, model->task == TH_CLASSIFICATION ? "validation_accuracy" : "validation_r2",
                    knn_score_value(&score, model->task));
  return TH_OK;
}

th_status th_train(const th_request *request, th_trained *out) {
  knn_settings settings;
  th_status status = read_params(request->params, &settings);
  if (status != TH_OK) return status;
  if ((status = check_target(request->task, &request->target)) != TH_OK) return status;
  if (request->train.rows == 0) return th_invalid_data("the training table has no rows");

  knn_model model;
  uint32_t chunks = request->train.rows < KNN_CHUNKS ? request->train.rows : KNN_CHUNKS;
  bool validate = request->has_validation && request->validation.rows > 0 && request->validation_target.present;
  uint32_t total = chunks + (validate ? KNN_CHUNKS : 0);
  status = knn_fit(request, &settings, chunks, total, &model);
  if (status != TH_OK) return status;
  if (validate && (status = score_validation(&model, request, chunks, total, out)) != TH_OK) {
    knn_model_free(&model);
    return status;
  }
  th_trained_metric(out, "training_rows", model.rows);
  th_trained_metric(out, "neighbours", model.k);
  knn_model_write(&model, &out->model);
  knn_model_free(&model);
  if (out->model.failed) return th_failed("out of memory writing the model");
  return TH_OK;
}

th_status th_predict(const th_bytes *bytes, const th_table *features, th_predictions *out) {
  knn_model model;
  th_status status = knn_model_read(bytes, &model);
  if (status != TH_OK) return status;
  status = knn_predict(&model, features, out);
  knn_model_free(&model);
  return status;
}

th_status th_estimate(th_task task, const th_params *params, const th_shape *shape, th_cost *cost, bool *has_cost) {
  knn_settings settings;
  th_status status = read_params(params, &settings);
  if (status != TH_OK) return status;
  /* The model is a standardised copy of every training row, held twice while
   * it is written (the struct and the bytes); scoring the validation rows
   * scans every training row for each. From host/tests/knn.rs's generated
   * table (20,000 x 16, load 24-29 on 2 cores): 0.10-0.16 s wall to index
   * 16,000 rows, 1.05 s of CPU for 4,000 x 16,000 distances of 16 columns. */
  uint64_t per_row = 8ull * shape->numeric_columns + 4ull * shape->n_categorical + 8;
  cost->peak_memory_bytes = th_request_bytes(task, shape) + 2 * shape->rows * per_row + (128u << 10);
  double cells = (double)shape->rows * (double)(shape->numeric_columns + shape->n_categorical);
  cost->cpu_seconds = 1.5e-7 * cells + 1.2e-9 * cells * (double)shape->validation_rows;
  cost->driven_by[0] = NULL;
  *has_cost = true;
  return TH_OK;
}
