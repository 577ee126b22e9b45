/* trainhost C SDK: the contract's exports and imports over wit-bindgen's C
 * bindings of wit/v0.3 (plugin.h, generated at build time by build-component.sh).
 *
 * Owns the mapping between the generated types and trainhost.h's plain view:
 * describe() from TH_PLUGIN, parameter lookup, tables, errors, progress, log,
 * model bytes, predictions. It must not contain any algorithm. Ownership, as
 * the canonical ABI has it: the arguments of an export belong to the callee
 * (freed here once the plugin returns), and what an export returns is
 * malloc'ed here and freed by the generated post-return functions.
 */
#include "trainhost.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#if defined(__wasi__)
#include <wasi/api.h>

/* vsnprintf (messages, log lines) links musl's stdio exit path, which would
 * import three WASI preview-1 functions that never run here (no stream is
 * ever opened or flushed). Defined to fail, they keep the core module free of
 * WASI imports: `wasm-tools component new` then needs no preview-1 adapter,
 * and the plugin imports only the contract's `host`. */
__wasi_errno_t __wasi_fd_close(__wasi_fd_t fd) { return __WASI_ERRNO_BADF; }
__wasi_errno_t __wasi_fd_seek(__wasi_fd_t fd, __wasi_filedelta_t offset, __wasi_whence_t whence, __wasi_filesize_t *out) {
  return __WASI_ERRNO_BADF;
}
__wasi_errno_t __wasi_fd_write(__wasi_fd_t fd, const __wasi_ciovec_t *iovs, size_t n, __wasi_size_t *written) {
  return __WASI_ERRNO_BADF;
}
#endif

typedef trainhost_plugin_0_1_0_types_param_t gen_param;
typedef trainhost_plugin_0_1_0_types_table_t gen_table;
typedef trainhost_plugin_0_1_0_types_column_data_t gen_column_data;
typedef exports_trainhost_plugin_0_3_0_trainer_train_error_t gen_train_error;
typedef exports_trainhost_plugin_0_3_0_trainer_predict_error_t gen_predict_error;

/* ---- The error of the current call --------------------------------------- */

static th_status error_status = TH_OK;
static char error_message[1024];
static char error_name[128];

static th_status record(th_status status, const char *format, va_list args) {
  error_status = status;
  vsnprintf(error_message, sizeof error_message, format, args);
  return status;
}

th_status th_invalid_parameter(const char *name, const char *format, ...) {
  snprintf(error_name, sizeof error_name, "%s", name);
  va_list args;
  va_start(args, format);
  th_status status = record(TH_INVALID_PARAMETER, format, args);
  va_end(args);
  return status;
}

#define RECORDER(FN, STATUS)                                  \
  th_status FN(const char *format, ...) {                     \
    va_list args;                                             \
    va_start(args, format);                                   \
    th_status status = record(STATUS, format, args);          \
    va_end(args);                                             \
    return status;                                            \
  }
RECORDER(th_invalid_data, TH_INVALID_DATA)
RECORDER(th_failed, TH_FAILED)
RECORDER(th_invalid_model, TH_INVALID_MODEL)

th_status th_cancelled_status(void) {
  error_status = TH_CANCELLED;
  return TH_CANCELLED;
}

/* The recorded message for `status` (a generic one when the plugin recorded none). */
static const char *message_for(th_status status) {
  if (error_status == status && error_message[0]) return error_message;
  return status == TH_INVALID_DATA ? "invalid data" : status == TH_INVALID_MODEL ? "invalid model" : "failed";
}

static void reset_error(void) {
  error_status = TH_OK;
  error_message[0] = error_name[0] = '\0';
}

static void to_train_error(th_status status, gen_train_error *err) {
  switch (status) {
    case TH_INVALID_PARAMETER:
      err->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_TRAIN_ERROR_INVALID_PARAMETER;
      plugin_string_dup(&err->val.invalid_parameter.name, error_name[0] ? error_name : "(unnamed)");
      plugin_string_dup(&err->val.invalid_parameter.reason, error_message[0] ? error_message : "invalid");
      break;
    case TH_INVALID_DATA:
      err->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_TRAIN_ERROR_INVALID_DATA;
      plugin_string_dup(&err->val.invalid_data, message_for(status));
      break;
    case TH_CANCELLED:
      err->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_TRAIN_ERROR_CANCELLED;
      break;
    default:
      err->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_TRAIN_ERROR_FAILED;
      plugin_string_dup(&err->val.failed, message_for(status));
  }
}

static void to_predict_error(th_status status, gen_predict_error *err) {
  uint8_t tag = status == TH_INVALID_MODEL  ? TRAINHOST_PLUGIN_0_1_0_TYPES_PREDICT_ERROR_INVALID_MODEL
                : status == TH_INVALID_DATA ? TRAINHOST_PLUGIN_0_1_0_TYPES_PREDICT_ERROR_INVALID_DATA
                                            : TRAINHOST_PLUGIN_0_1_0_TYPES_PREDICT_ERROR_FAILED;
  err->tag = tag;
  plugin_string_dup(&err->val.failed, message_for(status)); /* every case is a string at the same place */
}

/* ---- Parameters ------------------------------------------------------------ */

struct th_params {
  const gen_param *items;
  size_t len;
};

static bool name_is(const plugin_string_t *s, const char *name) {
  size_t n = strlen(name);
  return s->len == n && memcmp(s->ptr, name, n) == 0;
}

static const th_param_spec *spec_of(const char *name) {
  for (size_t i = 0; i < TH_PLUGIN.n_params; i++)
    if (strcmp(TH_PLUGIN.params[i].name, name) == 0) return &TH_PLUGIN.params[i];
  return NULL;
}

static const gen_param *find(const th_params *params, const char *name) {
  for (size_t i = 0; i < params->len; i++)
    if (name_is(&params->items[i].name, name)) return &params->items[i];
  return NULL;
}

/* The spec of `name` if it has this kind; records an error otherwise. */
static const th_param_spec *spec_checked(const char *name, th_param_kind kind) {
  const th_param_spec *spec = spec_of(name);
  if (!spec) th_invalid_parameter(name, "not a parameter of this plugin (a bug in the plugin)");
  else if (spec->kind != kind) th_invalid_parameter(name, "read with another kind than declared (a bug in the plugin)");
  return spec && spec->kind == kind ? spec : NULL;
}

int64_t th_param_int(const th_params *params, const char *name) {
  const th_param_spec *spec = spec_checked(name, TH_PARAM_INT);
  const gen_param *p = find(params, name);
  if (!spec) return 0;
  if (!p) return spec->int_default;
  if (p->value.tag == TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_INT) return p->value.val.int_;
  th_invalid_parameter(name, "expected an integer");
  return 0;
}

double th_param_float(const th_params *params, const char *name) {
  const th_param_spec *spec = spec_checked(name, TH_PARAM_FLOAT);
  const gen_param *p = find(params, name);
  if (!spec) return 0;
  if (!p) return spec->float_default;
  if (p->value.tag == TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_FLOAT) return p->value.val.float_;
  if (p->value.tag == TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_INT) return (double)p->value.val.int_;
  th_invalid_parameter(name, "expected a number");
  return 0;
}

bool th_param_bool(const th_params *params, const char *name) {
  const th_param_spec *spec = spec_checked(name, TH_PARAM_BOOL);
  const gen_param *p = find(params, name);
  if (!spec) return false;
  if (!p) return spec->bool_default;
  if (p->value.tag == TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_BOOLEAN) return p->value.val.boolean;
  th_invalid_parameter(name, "expected true or false");
  return false;
}

int th_param_choice_index(const th_params *params, const char *name) {
  const th_param_spec *spec = spec_checked(name, TH_PARAM_CHOICE);
  const gen_param *p = find(params, name);
  if (!spec) return -1;
  for (int i = 0; spec->choices[i]; i++) {
    if (!p && strcmp(spec->choices[i], spec->choice_default) == 0) return i;
    if (p && p->value.tag == TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_CHOICE && name_is(&p->value.val.choice, spec->choices[i]))
      return i;
  }
  th_invalid_parameter(name, "not one of the listed choices");
  return -1;
}

const char *th_param_choice_or_number(const th_params *params, const char *name, double *number) {
  const th_param_spec *spec = spec_checked(name, TH_PARAM_CHOICE_OR_NUMBER);
  const gen_param *p = find(params, name);
  *number = 0;
  if (!spec) return "";
  if (!p) return spec->choice_default;
  switch (p->value.tag) {
    case TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_FLOAT: *number = p->value.val.float_; return NULL;
    case TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_INT: *number = (double)p->value.val.int_; return NULL;
    case TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_CHOICE:
      for (int i = 0; spec->choices[i]; i++)
        if (name_is(&p->value.val.choice, spec->choices[i])) return spec->choices[i];
  }
  th_invalid_parameter(name, "expected one of the listed choices or a number");
  return "";
}

const char *th_param_choice(const th_params *params, const char *name) {
  int i = th_param_choice_index(params, name);
  return i < 0 ? "" : spec_of(name)->choices[i];
}

/* Whether a request value is within its spec's bounds; records the error if not. */
static bool in_bounds(const th_param_spec *spec, const gen_param *p) {
  if (spec->kind == TH_PARAM_INT && p->value.tag == TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_VALUE_INT) {
    int64_t v = p->value.val.int_;
    if (v < spec->int_min || v > spec->int_max) {
      th_invalid_parameter(spec->name, "%lld is outside [%lld, %lld]", (long long)v, (long long)spec->int_min,
                           (long long)spec->int_max);
      return false;
    }
  } else if (spec->kind == TH_PARAM_FLOAT) {
    double v = th_param_float(&(th_params){p, 1}, spec->name);
    if (!(v >= spec->float_min && v <= spec->float_max)) {
      th_invalid_parameter(spec->name, "%g is outside [%g, %g]", v, spec->float_min, spec->float_max);
      return false;
    }
  } else if (spec->kind == TH_PARAM_CHOICE) {
    return th_param_choice_index(&(th_params){p, 1}, spec->name) >= 0;
  } else if (spec->kind == TH_PARAM_CHOICE_OR_NUMBER) {
    double v;
    if (th_param_choice_or_number(&(th_params){p, 1}, spec->name, &v) || error_status == TH_INVALID_PARAMETER)
      return error_status != TH_INVALID_PARAMETER;
    if (!(v >= spec->float_min && v <= spec->float_max)) {
      th_invalid_parameter(spec->name, "%g is outside [%g, %g]", v, spec->float_min, spec->float_max);
      return false;
    }
  }
  return true;
}

int th_params_check(const th_params *params) {
  if (error_status == TH_INVALID_PARAMETER) return TH_INVALID_PARAMETER; /* a lookup failed */
  for (size_t i = 0; i < params->len; i++) {
    const gen_param *p = &params->items[i];
    const th_param_spec *spec = NULL;
    for (size_t s = 0; s < TH_PLUGIN.n_params && !spec; s++)
      if (name_is(&p->name, TH_PLUGIN.params[s].name)) spec = &TH_PLUGIN.params[s];
    if (!spec) {
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)p->name.len, (const char *)p->name.ptr);
      return th_invalid_parameter(name, "not a parameter of %s", TH_PLUGIN.name);
    }
    if (!in_bounds(spec, p)) return TH_INVALID_PARAMETER;
  }
  return error_status == TH_INVALID_PARAMETER ? TH_INVALID_PARAMETER : TH_OK;
}

/* ---- Tables ---------------------------------------------------------------- */

bool th_is_missing(const th_column *c, uint32_t row) {
  return c->kind == TH_NUMERIC ? isnan(c->numbers[row]) : c->codes[row] == TH_MISSING_CODE;
}

uint32_t th_numeric_stats(const th_column *c, double *mean, double *sd) {
  double sum = 0, sq = 0;
  uint32_t n = 0;
  for (uint32_t r = 0; r < c->rows; r++)
    if (!isnan(c->numbers[r])) sum += c->numbers[r], n++;
  *mean = n ? sum / n : 0;
  for (uint32_t r = 0; r < c->rows; r++)
    if (!isnan(c->numbers[r])) sq += (c->numbers[r] - *mean) * (c->numbers[r] - *mean);
  *sd = n ? sqrt(sq / n) : 0;
  return n;
}

uint32_t th_level_counts(const th_column *c, uint32_t *counts) {
  uint32_t missing = 0;
  memset(counts, 0, c->n_levels * sizeof *counts);
  for (uint32_t r = 0; r < c->rows; r++) {
    if (c->codes[r] < c->n_levels) counts[c->codes[r]]++;
    else missing++;
  }
  return missing;
}

/* A view of one generated column (pointers into it; levels malloc'ed). */
static bool view_column(const plugin_string_t *name, const gen_column_data *data, uint32_t rows, th_column *out) {
  memset(out, 0, sizeof *out);
  if (name) out->name = (th_str){(const char *)name->ptr, name->len};
  out->rows = rows;
  if (data->tag == TRAINHOST_PLUGIN_0_1_0_TYPES_COLUMN_DATA_NUMERIC) {
    out->kind = TH_NUMERIC;
    out->numbers = data->val.numeric.ptr;
    return data->val.numeric.len == rows;
  }
  const trainhost_plugin_0_1_0_types_categorical_t *c = &data->val.categorical;
  out->kind = TH_CATEGORICAL;
  out->codes = c->codes.ptr;
  out->n_levels = (uint32_t)c->levels.len;
  th_str *levels = malloc((c->levels.len + 1) * sizeof *levels);
  if (!levels) return false;
  for (size_t i = 0; i < c->levels.len; i++) levels[i] = (th_str){(const char *)c->levels.ptr[i].ptr, c->levels.ptr[i].len};
  out->levels = levels;
  return c->codes.len == rows;
}

static void free_view(th_table *t) {
  for (uint32_t c = 0; c < t->n_columns; c++) free((void *)t->columns[c].levels);
  free((void *)t->columns);
  memset(t, 0, sizeof *t);
}

/* A view of a generated table; TH_OK, or invalid-data for a ragged one. */
static th_status view_table(const gen_table *in, th_table *out) {
  th_column *columns = calloc(in->columns.len + 1, sizeof *columns);
  out->rows = in->rows;
  out->n_columns = 0;
  out->columns = columns;
  if (!columns) return th_failed("out of memory");
  for (size_t c = 0; c < in->columns.len; c++) {
    out->n_columns++;
    if (!view_column(&in->columns.ptr[c].name, &in->columns.ptr[c].data, in->rows, &columns[c]))
      return th_invalid_data("column %zu has a length other than the table's %u rows", c + 1, in->rows);
  }
  return TH_OK;
}

static th_status view_target(const trainhost_plugin_0_1_0_types_option_column_data_t *in, uint32_t rows, th_target *out) {
  memset(out, 0, sizeof *out);
  if (!in->is_some) return TH_OK;
  out->present = true;
  return view_column(NULL, &in->val, rows, &out->column) ? TH_OK : th_invalid_data("the target's length is not the table's");
}

/* ---- Progress and log ------------------------------------------------------ */

bool th_report_epoch(uint32_t epoch, uint32_t total, const th_metric *metrics, size_t n) {
  trainhost_plugin_0_1_0_host_metric_t items[16];
  if (n > 16) n = 16;
  for (size_t i = 0; i < n; i++) {
    plugin_string_set(&items[i].name, metrics[i].name);
    items[i].value = metrics[i].value;
  }
  trainhost_plugin_0_1_0_host_list_metric_t list = {items, n};
  trainhost_plugin_0_1_0_host_report_epoch(epoch, total, &list);
  return !trainhost_plugin_0_1_0_host_cancelled();
}

bool th_cancelled(void) { return trainhost_plugin_0_1_0_host_cancelled(); }

void th_log(th_log_level level, const char *format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  plugin_string_t message;
  plugin_string_set(&message, line);
  trainhost_plugin_0_1_0_host_log((trainhost_plugin_0_1_0_host_log_level_t)level, &message);
}

/* ---- Model bytes ----------------------------------------------------------- */

/* Grows the capacity to at least `cap`; false (and `failed`) when out of memory. */
static bool grow(th_buf *b, size_t cap) {
  if (b->failed) return false;
  if (cap <= b->cap) return true;
  uint8_t *data = realloc(b->data, cap);
  if (!data) {
    b->failed = true;
    return false;
  }
  b->data = data, b->cap = cap;
  return true;
}

void th_buf_reserve(th_buf *b, size_t len) { grow(b, b->len + len); }

void th_buf_bytes(th_buf *b, const void *bytes, size_t len) {
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + len) cap *= 2;
  if (!grow(b, cap)) return;
  if (len) memcpy(b->data + b->len, bytes, len);
  b->len += len;
}

void th_buf_u32(th_buf *b, uint32_t v) {
  uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  th_buf_bytes(b, le, 4);
}

void th_buf_u64(th_buf *b, uint64_t v) {
  th_buf_u32(b, (uint32_t)v);
  th_buf_u32(b, (uint32_t)(v >> 32));
}

void th_buf_f64(th_buf *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  th_buf_u64(b, bits);
}

void th_buf_free(th_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

th_reader th_reader_of(const th_bytes *bytes) { return (th_reader){bytes->data, bytes->len, 0, false}; }

const uint8_t *th_read_bytes(th_reader *r, size_t len) {
  if (r->failed || len > r->len - r->pos) {
    r->failed = true;
    return NULL;
  }
  const uint8_t *at = r->data + r->pos;
  r->pos += len;
  return at;
}

uint32_t th_read_u32(th_reader *r) {
  const uint8_t *b = th_read_bytes(r, 4);
  return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}

uint64_t th_read_u64(th_reader *r) {
  uint64_t lo = th_read_u32(r);
  return lo | (uint64_t)th_read_u32(r) << 32;
}

double th_read_f64(th_reader *r) {
  uint64_t bits = th_read_u64(r);
  double v;
  memcpy(&v, &bits, 8);
  return v;
}

void th_trained_metric(th_trained *t, const char *name, double value) {
  th_metric *metrics = realloc(t->metrics, (t->n_metrics + 1) * sizeof *metrics);
  if (!metrics) return;
  t->metrics = metrics;
  t->metrics[t->n_metrics++] = (th_metric){name, value};
}

uint64_t th_request_bytes(th_task task, const th_shape *s) {
  uint64_t target = task == TH_CLASSIFICATION ? 4 : task == TH_REGRESSION ? 8 : 0;
  uint64_t per_row = 8ull * s->numeric_columns + 4ull * s->n_categorical + target, levels = s->classes;
  for (uint32_t i = 0; i < s->n_categorical; i++) levels += s->categorical_levels[i];
  return (s->rows + s->validation_rows) * per_row + levels * 16;
}

/* The default estimate: none. A plugin defines its own th_estimate to declare one. */
__attribute__((weak)) th_status th_estimate(th_task task, const th_params *params, const th_shape *shape, th_cost *cost,
                                            bool *has_cost) {
  *has_cost = false;
  return TH_OK;
}

/* ---- The exports ------------------------------------------------------------ */

/* A malloc'ed copy of a NULL-terminated list of strings. */
static plugin_list_string_t dup_list(const char *const *items) {
  size_t n = 0;
  while (items[n]) n++;
  plugin_list_string_t list = {malloc((n + 1) * sizeof(plugin_string_t)), 0};
  for (size_t i = 0; list.ptr && i < n; i++) plugin_string_dup(&list.ptr[list.len++], items[i]);
  return list;
}

/* A declared parameter's kind, default and bounds as the contract has them. */
static void describe_kind(const th_param_spec *s, trainhost_plugin_0_1_0_types_param_kind_t *k) {
  switch (s->kind) {
    case TH_PARAM_INT:
      k->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_KIND_INT;
      k->val.int_ = (trainhost_plugin_0_1_0_types_int_spec_t){s->int_default, {true, s->int_min}, {true, s->int_max}};
      break;
    case TH_PARAM_FLOAT:
      k->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_KIND_FLOAT;
      k->val.float_ = (trainhost_plugin_0_1_0_types_float_spec_t){s->float_default, {true, s->float_min}, {true, s->float_max}};
      break;
    case TH_PARAM_BOOL:
      k->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_KIND_BOOLEAN;
      k->val.boolean = s->bool_default;
      break;
    case TH_PARAM_CHOICE:
      k->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_KIND_CHOICE;
      plugin_string_dup(&k->val.choice.default_, s->choice_default);
      k->val.choice.choices = dup_list(s->choices);
      break;
    case TH_PARAM_CHOICE_OR_NUMBER:
      k->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PARAM_KIND_CHOICE_OR_NUMBER;
      plugin_string_dup(&k->val.choice_or_number.default_, s->choice_default);
      k->val.choice_or_number.choices = dup_list(s->choices);
      k->val.choice_or_number.min = s->float_min;
      k->val.choice_or_number.max = s->float_max;
      break;
  }
}

void exports_trainhost_plugin_0_3_0_trainer_describe(exports_trainhost_plugin_0_3_0_trainer_plugin_info_t *ret) {
  plugin_string_dup(&ret->name, TH_PLUGIN.name);
  plugin_string_dup(&ret->version, TH_PLUGIN.version);
  plugin_string_dup(&ret->description, TH_PLUGIN.description);
  ret->tasks.ptr = malloc(3 * sizeof *ret->tasks.ptr);
  ret->tasks.len = 0;
  for (uint8_t t = 0; t < 3 && ret->tasks.ptr; t++)
    if (TH_PLUGIN.tasks & TH_TASK_BIT(t)) ret->tasks.ptr[ret->tasks.len++] = t;
  ret->params.ptr = calloc(TH_PLUGIN.n_params + 1, sizeof *ret->params.ptr);
  ret->params.len = ret->params.ptr ? TH_PLUGIN.n_params : 0;
  for (size_t i = 0; i < ret->params.len; i++) {
    const th_param_spec *s = &TH_PLUGIN.params[i];
    trainhost_plugin_0_1_0_types_param_spec_t *out = &ret->params.ptr[i];
    plugin_string_dup(&out->name, s->name);
    plugin_string_dup(&out->help, s->help);
    describe_kind(s, &out->kind);
  }
}

/* The request as trainhost.h shows it (views into the generated one). */
static th_status view_request(const exports_trainhost_plugin_0_3_0_trainer_train_request_t *in, th_params *params, th_request *out) {
  memset(out, 0, sizeof *out);
  *params = (th_params){in->params.ptr, in->params.len};
  out->task = (th_task)in->task;
  out->params = params;
  out->seed = in->seed;
  th_status status = view_table(&in->train.features, &out->train);
  if (status == TH_OK) status = view_target(&in->train.target, in->train.features.rows, &out->target);
  if (status == TH_OK && in->validation.is_some) {
    out->has_validation = true;
    status = view_table(&in->validation.val.features, &out->validation);
    if (status == TH_OK) status = view_target(&in->validation.val.target, in->validation.val.features.rows, &out->validation_target);
  }
  return status;
}

static void free_request_view(th_request *r) {
  free_view(&r->train);
  free_view(&r->validation);
  free((void *)r->target.column.levels);
  free((void *)r->validation_target.column.levels);
}

/* Moves what the plugin trained into the generated result. */
static void to_trained(th_trained *t, uint32_t n_columns, exports_trainhost_plugin_0_3_0_trainer_trained_t *ret) {
  memset(ret, 0, sizeof *ret);
  ret->model.model = (plugin_list_u8_t){t->model.data, t->model.len};
  ret->model.metrics.ptr = calloc(t->n_metrics + 1, sizeof *ret->model.metrics.ptr);
  ret->model.metrics.len = ret->model.metrics.ptr ? t->n_metrics : 0;
  for (size_t i = 0; i < ret->model.metrics.len; i++) {
    plugin_string_dup(&ret->model.metrics.ptr[i].name, t->metrics[i].name);
    ret->model.metrics.ptr[i].value = t->metrics[i].value;
  }
  if (t->importances) {
    ret->model.feature_importances.is_some = true;
    ret->model.feature_importances.val = (plugin_list_f64_t){t->importances, n_columns};
  }
  free(t->metrics);
}

bool exports_trainhost_plugin_0_3_0_trainer_train(exports_trainhost_plugin_0_3_0_trainer_train_request_t *request,
                                                  exports_trainhost_plugin_0_3_0_trainer_trained_t *ret, gen_train_error *err) {
  reset_error();
  th_params params;
  th_request view;
  th_trained trained = {0};
  th_status status = view_request(request, &params, &view);
  if (status == TH_OK) status = th_train(&view, &trained);
  if (status == TH_OK) {
    to_trained(&trained, view.train.n_columns, ret);
  } else {
    th_buf_free(&trained.model);
    free(trained.metrics);
    free(trained.importances);
    to_train_error(status, err);
  }
  free_request_view(&view);
  exports_trainhost_plugin_0_3_0_trainer_train_request_free(request);
  return status == TH_OK;
}

/* Moves the plugin's predictions into the generated result. */
static void to_predictions(const th_predictions *p, exports_trainhost_plugin_0_3_0_trainer_predictions_t *ret) {
  memset(ret, 0, sizeof *ret);
  if (p->kind == TH_PRED_VALUES) {
    ret->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PREDICTIONS_VALUES;
    ret->val.values = (plugin_list_f64_t){p->values, p->rows};
  } else if (p->kind == TH_PRED_CLUSTERS) {
    ret->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PREDICTIONS_CLUSTERS;
    ret->val.clusters = (plugin_list_u32_t){p->labels, p->rows};
  } else {
    ret->tag = TRAINHOST_PLUGIN_0_1_0_TYPES_PREDICTIONS_CLASSES;
    ret->val.classes.labels = (plugin_list_u32_t){p->labels, p->rows};
    ret->val.classes.n_classes = p->n_classes;
    ret->val.classes.probabilities.is_some = p->probabilities != NULL;
    ret->val.classes.probabilities.val = (plugin_list_f32_t){p->probabilities, p->probabilities ? (size_t)p->rows * p->n_classes : 0};
  }
}

bool exports_trainhost_plugin_0_3_0_trainer_predict(plugin_list_u8_t *model, exports_trainhost_plugin_0_3_0_trainer_table_t *features,
                                                    exports_trainhost_plugin_0_3_0_trainer_predictions_t *ret, gen_predict_error *err) {
  reset_error();
  th_table table = {0};
  th_predictions predictions = {0};
  th_bytes bytes = {model->ptr, model->len};
  th_status status = view_table(features, &table);
  if (status == TH_OK) status = th_predict(&bytes, &table, &predictions);
  if (status == TH_OK) {
    to_predictions(&predictions, ret);
  } else {
    free(predictions.labels);
    free(predictions.probabilities);
    free(predictions.values);
    to_predict_error(status, err);
  }
  free_view(&table);
  plugin_list_u8_free(model);
  exports_trainhost_plugin_0_3_0_trainer_table_free(features);
  return status == TH_OK;
}

bool exports_trainhost_plugin_0_3_0_trainer_estimate(exports_trainhost_plugin_0_3_0_trainer_task_t task,
                                                     exports_trainhost_plugin_0_3_0_trainer_list_param_t *params,
                                                     exports_trainhost_plugin_0_3_0_trainer_table_shape_t *shape,
                                                     exports_trainhost_plugin_0_3_0_trainer_option_cost_t *ret, gen_train_error *err) {
  reset_error();
  th_params view = {params->ptr, params->len};
  th_shape s = {shape->rows, shape->validation_rows, shape->numeric_columns, shape->categorical_levels.ptr,
                (uint32_t)shape->categorical_levels.len, shape->classes};
  th_cost cost = {0};
  bool has_cost = false;
  th_status status = th_estimate((th_task)task, &view, &s, &cost, &has_cost);
  memset(ret, 0, sizeof *ret);
  if (status == TH_OK && has_cost) {
    size_t n = 0;
    while (n < 8 && cost.driven_by[n]) n++;
    ret->is_some = true;
    ret->val.peak_memory_bytes = cost.peak_memory_bytes;
    ret->val.cpu_seconds = cost.cpu_seconds;
    ret->val.driven_by.ptr = malloc((n + 1) * sizeof(plugin_string_t));
    ret->val.driven_by.len = ret->val.driven_by.ptr ? n : 0;
    for (size_t i = 0; i < ret->val.driven_by.len; i++) plugin_string_dup(&ret->val.driven_by.ptr[i], cost.driven_by[i]);
  } else if (status != TH_OK) {
    to_train_error(status, err);
  }
  exports_trainhost_plugin_0_3_0_trainer_list_param_free(params);
  plugin_list_u32_free(&shape->categorical_levels);
  return status == TH_OK;
}
