/* trainhost C SDK: what a plugin written in C sees of the contract.
 *
 * Owns the plain-C view of trainhost:plugin@0.3.0 (wit/v0.3): the parameter
 * schema a plugin declares, typed parameter access with defaults, read-only
 * tables and columns (missing values, categorical codes), progress, cancel,
 * log, errors, a byte buffer for deterministic model bytes, and the
 * predictions a plugin returns. trainhost.c maps it onto the bindings that
 * wit-bindgen's C generator makes of the WIT; a plugin includes only this file.
 *
 * It must not contain any algorithm: plugins own their maths. Its home is
 * sdk-c/ in the trainhost repository; templates/c/sdk/ is a vendored copy
 * (kept identical by host/tests/knn.rs).
 *
 * A plugin defines four things (see plugins/knn or templates/c):
 *   const th_plugin TH_PLUGIN = { ... };                  the describe() answer
 *   th_status th_train(const th_request *, th_trained *);  train
 *   th_status th_predict(const th_bytes *, const th_table *, th_predictions *);
 * and optionally th_estimate (a weak default declares no estimate).
 */
#ifndef TRAINHOST_H
#define TRAINHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Tasks, parameters, the plugin's description ---------------------- */

typedef enum { TH_CLASSIFICATION = 0, TH_REGRESSION = 1, TH_CLUSTERING = 2 } th_task;

/* Bit of a task in th_plugin.tasks. */
#define TH_TASK_BIT(task) (1u << (task))

typedef enum { TH_PARAM_INT, TH_PARAM_FLOAT, TH_PARAM_BOOL, TH_PARAM_CHOICE, TH_PARAM_CHOICE_OR_NUMBER } th_param_kind;

/* One hyperparameter as declared. Numbers always carry both bounds: the host
 * refuses values outside them at submit. Declare with the TH_INT/TH_FLOAT/
 * TH_BOOL/TH_CHOICE/TH_CHOICE_OR_NUMBER macros below. */
typedef struct {
  const char *name; /* camelCase, as the HTTP API and the UI use it */
  const char *help;
  th_param_kind kind;
  int64_t int_default, int_min, int_max;
  double float_default, float_min, float_max;
  bool bool_default;
  const char *choice_default;
  const char *const *choices; /* NULL-terminated */
} th_param_spec;

#define TH_INT(NAME, DEF, MIN, MAX, HELP) \
  { .name = (NAME), .help = (HELP), .kind = TH_PARAM_INT, .int_default = (DEF), .int_min = (MIN), .int_max = (MAX) }
#define TH_FLOAT(NAME, DEF, MIN, MAX, HELP) \
  { .name = (NAME), .help = (HELP), .kind = TH_PARAM_FLOAT, .float_default = (DEF), .float_min = (MIN), .float_max = (MAX) }
#define TH_BOOL(NAME, DEF, HELP) { .name = (NAME), .help = (HELP), .kind = TH_PARAM_BOOL, .bool_default = (DEF) }
/* CHOICES: a NULL-terminated array of strings, DEF one of them. */
#define TH_CHOICE(NAME, DEF, CHOICES, HELP) \
  { .name = (NAME), .help = (HELP), .kind = TH_PARAM_CHOICE, .choice_default = (DEF), .choices = (CHOICES) }
/* A choice or a number within [MIN, MAX] (e.g. maxFeatures = "sqrt" | 0.5); DEF one of CHOICES. */
#define TH_CHOICE_OR_NUMBER(NAME, DEF, CHOICES, MIN, MAX, HELP)                                         \
  { .name = (NAME), .help = (HELP), .kind = TH_PARAM_CHOICE_OR_NUMBER, .choice_default = (DEF), .choices = (CHOICES), \
    .float_min = (MIN), .float_max = (MAX) }

/* What describe() answers. */
typedef struct {
  const char *name;
  const char *version;
  const char *description;
  uint32_t tasks; /* TH_TASK_BIT(TH_CLASSIFICATION) | ... */
  const th_param_spec *params;
  size_t n_params;
} th_plugin;

/* The plugin's description: defined by the plugin. */
extern const th_plugin TH_PLUGIN;

/* The request's parameters (validated by the host, defaults filled in). */
typedef struct th_params th_params;

/* Typed access. A parameter the request lacks gets the schema's default; one
 * that is not declared, or declared with another kind, records an
 * invalid-parameter error and returns 0/false/"" (check th_params_ok). */
int64_t th_param_int(const th_params *params, const char *name);
double th_param_float(const th_params *params, const char *name);
bool th_param_bool(const th_params *params, const char *name);
/* The choice as a NUL-terminated string owned by the SDK (valid during the call). */
const char *th_param_choice(const th_params *params, const char *name);
/* Index of the chosen value in the spec's `choices`, or -1. */
int th_param_choice_index(const th_params *params, const char *name);
/* A choice-or-number parameter: the choice (one of the spec's `choices`), or
 * NULL with the number in *number. */
const char *th_param_choice_or_number(const th_params *params, const char *name, double *number);
/* Refuses any number outside its declared bounds (the host does so at submit;
 * the check keeps a plugin honest when called directly) and any parameter
 * lookup that failed: TH_OK, or TH_INVALID_PARAMETER with the error recorded. */
int th_params_check(const th_params *params);

/* ---- Tables ------------------------------------------------------------ */

/* Code of a missing value in a categorical column. */
#define TH_MISSING_CODE UINT32_MAX

typedef struct {
  const char *ptr; /* not NUL-terminated */
  size_t len;
} th_str;

typedef enum { TH_NUMERIC = 0, TH_CATEGORICAL = 1 } th_column_kind;

typedef struct {
  th_str name;
  th_column_kind kind;
  uint32_t rows;
  const double *numbers; /* TH_NUMERIC: one per row, NaN when missing */
  const uint32_t *codes;  /* TH_CATEGORICAL: one per row, TH_MISSING_CODE when missing */
  const th_str *levels;   /* TH_CATEGORICAL: the names the codes index */
  uint32_t n_levels;
} th_column;

typedef struct {
  uint32_t rows;
  uint32_t n_columns;
  const th_column *columns;
} th_table;

/* True when row `row` of the column is missing (NaN, or the missing code). */
bool th_is_missing(const th_column *column, uint32_t row);
/* Mean and population standard deviation of a numeric column's known values;
 * returns how many there were (0: mean and sd are 0). */
uint32_t th_numeric_stats(const th_column *column, double *mean, double *sd);
/* Rows per level of a categorical column into counts[n_levels]; returns the missing ones. */
uint32_t th_level_counts(const th_column *column, uint32_t *counts);

/* A target column: classes (codes into `levels`) or numbers. Absent for clustering. */
typedef struct {
  bool present;
  th_column column;
} th_target;

typedef struct {
  th_task task;
  th_table train;
  th_target target;
  bool has_validation; /* rows for early stopping and progress, never judged */
  th_table validation;
  th_target validation_target;
  const th_params *params;
  uint64_t seed;
} th_request;

/* ---- Status and errors ------------------------------------------------- */

typedef enum {
  TH_OK = 0,
  TH_INVALID_PARAMETER,
  TH_INVALID_DATA,
  TH_CANCELLED,
  TH_FAILED,
  TH_INVALID_MODEL, /* predict only */
} th_status;

/* Each records the message (printf-style) and returns its status, so
 * `return th_invalid_data("no rows");` ends a train or predict call. */
th_status th_invalid_parameter(const char *name, const char *format, ...) __attribute__((format(printf, 2, 3)));
th_status th_invalid_data(const char *format, ...) __attribute__((format(printf, 1, 2)));
th_status th_failed(const char *format, ...) __attribute__((format(printf, 1, 2)));
th_status th_invalid_model(const char *format, ...) __attribute__((format(printf, 1, 2)));
th_status th_cancelled_status(void);

/* ---- Progress, cancel, log --------------------------------------------- */

typedef struct {
  const char *name;
  double value;
} th_metric;

/* One unit of progress (epoch counts from 1 to total). Returns false once the
 * job is cancelled: stop and return th_cancelled_status(). */
bool th_report_epoch(uint32_t epoch, uint32_t total, const th_metric *metrics, size_t n_metrics);
/* True once the job has been cancelled. */
bool th_cancelled(void);

typedef enum { TH_DEBUG = 0, TH_INFO = 1, TH_WARN = 2, TH_ERROR = 3 } th_log_level;
/* A line for the job's log (the host caps its rate and size). */
void th_log(th_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- Model bytes ------------------------------------------------------- */

/* A growable byte buffer, little-endian writers (deterministic bytes), and a
 * bounds-checked reader for predict. */
typedef struct {
  uint8_t *data;
  size_t len, cap;
  bool failed; /* an allocation failed: the bytes are incomplete */
} th_buf;

/* Makes room for `len` more bytes at once (optional: writers grow the buffer). */
void th_buf_reserve(th_buf *buf, size_t len);
void th_buf_bytes(th_buf *buf, const void *bytes, size_t len);
void th_buf_u32(th_buf *buf, uint32_t value);
void th_buf_u64(th_buf *buf, uint64_t value);
void th_buf_f64(th_buf *buf, double value);
void th_buf_free(th_buf *buf);

typedef struct {
  const uint8_t *data;
  size_t len;
} th_bytes;

typedef struct {
  const uint8_t *data;
  size_t len, pos;
  bool failed; /* read past the end */
} th_reader;

th_reader th_reader_of(const th_bytes *bytes);
/* Each returns 0 and sets `failed` past the end. th_read_bytes returns a
 * pointer into the model (NULL past the end). */
uint32_t th_read_u32(th_reader *reader);
uint64_t th_read_u64(th_reader *reader);
double th_read_f64(th_reader *reader);
const uint8_t *th_read_bytes(th_reader *reader, size_t len);

/* ---- What train and predict return ------------------------------------- */

typedef struct {
  th_buf model;            /* the model bytes, handed back to predict unchanged */
  th_metric *metrics;      /* optional: malloc'ed, names static or malloc'ed-and-owned by you */
  size_t n_metrics;
  double *importances;     /* optional: malloc'ed, one per training column */
} th_trained;

/* Adds a final metric (name copied). */
void th_trained_metric(th_trained *trained, const char *name, double value);

typedef enum { TH_PRED_CLASSES, TH_PRED_VALUES, TH_PRED_CLUSTERS } th_predictions_kind;

typedef struct {
  th_predictions_kind kind;
  uint32_t rows;
  uint32_t *labels;      /* CLASSES, CLUSTERS: malloc'ed, one per row */
  float *probabilities;  /* CLASSES, optional: malloc'ed, rows x n_classes row-major */
  uint32_t n_classes;
  double *values;        /* VALUES: malloc'ed, one per row */
} th_predictions;

/* ---- Cost estimate (contract 0.3.0) ------------------------------------ */

typedef struct {
  uint64_t rows, validation_rows;
  uint32_t numeric_columns;
  const uint32_t *categorical_levels;
  uint32_t n_categorical;
  uint32_t classes;
} th_shape;

typedef struct {
  uint64_t peak_memory_bytes;
  double cpu_seconds;
  const char *driven_by[8]; /* parameter names, strongest first, NULL-terminated */
} th_cost;

/* Bytes the host's request takes in the plugin's memory (as the Rust SDK's
 * TableShape::request_bytes): every estimate starts from it. */
uint64_t th_request_bytes(th_task task, const th_shape *shape);

/* Plugin hooks. */
th_status th_train(const th_request *request, th_trained *out);
th_status th_predict(const th_bytes *model, const th_table *features, th_predictions *out);
/* Optional: *has_cost = false (the default) declares no estimate. */
th_status th_estimate(th_task task, const th_params *params, const th_shape *shape, th_cost *cost, bool *has_cost);

#ifdef __cplusplus
}
#endif
#endif
