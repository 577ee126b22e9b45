"""The trainhost SDK for Python plugins: the author writes only the algorithm.

This file is the SDK's one home. `trainhost plugin new NAME --lang python` copies it
into the new project beside `app.py` (it is part of templates/python), and
plugins/naive_bayes builds against this same file. It owns the glue between the
WIT contract 0.3.0 (the bindings componentize-py generates as `wit_world`) and plain
Python: parameter schema and typed access with defaults and bounds, table and column
helpers (missing values, categorical codes and levels, recoding by level name),
progress, cancel and log, deterministic model bytes, and the mapping of Python
exceptions to the contract's errors. It must not hold any algorithm.

Standard library only: numpy has no WASI build.

    class Trainer(trainhost_sdk.Plugin):
        INFO = trainhost_sdk.info("my_algo", "0.1.0", "What it does",
                                  [trainhost_sdk.CLASSIFICATION], [trainhost_sdk.int_param(...)])
        def fit(self, job):            # job: trainhost_sdk.Job
            ...; return trainhost_sdk.Model(bytes_or_json_bytes)
        def predict_table(self, model, table):   # table: trainhost_sdk.Table
            return trainhost_sdk.classes(labels, probabilities, n_classes)
"""
import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import trainer as trainer_types
from wit_world.imports import host, tables, types

#: A categorical code meaning "missing" (u32::MAX), as the contract says.
MISSING_CODE = 4294967295

CLASSIFICATION = types.Task.CLASSIFICATION
REGRESSION = types.Task.REGRESSION
CLUSTERING = types.Task.CLUSTERING
TASK_NAMES = {CLASSIFICATION: "classification", REGRESSION: "regression", CLUSTERING: "clustering"}


# --- Errors: raise these anywhere in fit or predict_table -------------------------

class InvalidParameter(Exception):
    """A parameter the plugin refuses: the host names it to the user (422)."""

    def __init__(self, name, reason):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


class InvalidData(Exception):
    """Training or prediction data the algorithm cannot use, in words a user can act on."""


class InvalidModel(Exception):
    """Model bytes predict cannot read (not this plugin's, or damaged)."""


class Cancelled(Exception):
    """The job was cancelled: raised by `check_cancel` and `report_epoch`."""


# --- Schema -----------------------------------------------------------------------

def int_param(name, default, lo, hi, help):
    """An integer parameter with inclusive bounds (give both: the host refuses outside them)."""
    return types.ParamSpec(name, help, types.ParamKind_Int(types.IntSpec(default, lo, hi)))


def float_param(name, default, lo, hi, help):
    """A float parameter with inclusive bounds."""
    return types.ParamSpec(name, help, types.ParamKind_Float(types.FloatSpec(float(default), float(lo), float(hi))))


def bool_param(name, default, help):
    """A boolean parameter."""
    return types.ParamSpec(name, help, types.ParamKind_Boolean(bool(default)))


def choice_param(name, default, choices, help):
    """One of a non-empty list of strings; the default must be one of them."""
    return types.ParamSpec(name, help, types.ParamKind_Choice(types.ChoiceSpec(default, list(choices))))


def info(name, version, description, tasks, params):
    """What `describe` answers."""
    return types.PluginInfo(name, version, description, list(tasks), list(params))


def _default(spec):
    kind = spec.kind
    if isinstance(kind, types.ParamKind_Boolean):
        return kind.value
    return kind.value.default


def _checked(spec, value):
    """The value as the spec's Python type, or InvalidParameter naming what is wrong."""
    kind, name = spec.kind, spec.name
    if isinstance(kind, types.ParamKind_Int):
        if not isinstance(value, types.ParamValue_Int):
            raise InvalidParameter(name, "must be an integer")
        _in_bounds(name, value.value, kind.value.min, kind.value.max)
    elif isinstance(kind, types.ParamKind_Float):
        if not isinstance(value, (types.ParamValue_Float, types.ParamValue_Int)):
            raise InvalidParameter(name, "must be a number")
        v = float(value.value)
        if not math.isfinite(v):
            raise InvalidParameter(name, "must be a finite number")
        _in_bounds(name, v, kind.value.min, kind.value.max)
        return v
    elif isinstance(kind, types.ParamKind_Boolean):
        if not isinstance(value, types.ParamValue_Boolean):
            raise InvalidParameter(name, "must be true or false")
    elif isinstance(kind, types.ParamKind_Choice):
        if not isinstance(value, types.ParamValue_Choice) or value.value not in kind.value.choices:
            raise InvalidParameter(name, "must be one of " + ", ".join(kind.value.choices))
    else:
        raise InvalidParameter(name, "has a kind this SDK does not read")
    return value.value


def _in_bounds(name, v, lo, hi):
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InvalidParameter(name, f"{v} is outside [{lo}, {hi}]")


class Params:
    """The request's parameters checked against the schema, defaults filled in.

    `params["alpha"]` is the value as a Python int, float, bool or str. Every value is
    checked against its bounds here (the host checks too, but a plugin must refuse an
    out-of-range value itself), and an unknown name is refused.
    """

    def __init__(self, given, specs):
        by_name = {spec.name: spec for spec in specs}
        self._values = {spec.name: _default(spec) for spec in specs}
        for param in given:
            spec = by_name.get(param.name)
            if spec is None:
                raise InvalidParameter(param.name, "is not a parameter of this plugin")
            self._values[param.name] = _checked(spec, param.value)

    def __getitem__(self, name):
        return self._values[name]

    def as_dict(self):
        """Every parameter by name (for storing beside the model)."""
        return dict(self._values)


# --- Tables -----------------------------------------------------------------------

class Column:
    """One feature column: `values` (floats, NaN missing) or `codes` and `levels`."""

    def __init__(self, column):
        self.name = column.name
        data = column.data
        self.is_numeric = isinstance(data, types.ColumnData_Numeric)
        self.values = data.value if self.is_numeric else None
        self.codes = None if self.is_numeric else data.value.codes
        self.levels = None if self.is_numeric else data.value.levels

    def __len__(self):
        return len(self.values if self.is_numeric else self.codes)

    def missing(self, row):
        """Whether the value in `row` is missing (NaN, or a code past the levels)."""
        if self.is_numeric:
            return self.values[row] != self.values[row]
        return self.codes[row] >= len(self.levels)

    def missing_count(self):
        return sum(1 for row in range(len(self)) if self.missing(row))

    def level(self, row):
        """The level of a categorical column's row as text, None when missing."""
        code = self.codes[row]
        return self.levels[code] if code < len(self.levels) else None

    def recoded(self, training_levels):
        """This column's codes as indices into `training_levels` (matched by text, as
        predict must: a prediction table may carry its own levels). Missing: None;
        a level training never had: -1."""
        index = {level: i for i, level in enumerate(training_levels)}
        mapping = [index.get(level, -1) for level in self.levels]
        n = len(mapping)
        return [mapping[code] if code < n else None for code in self.codes]


class Table:
    """The feature columns of a table, by position and by name."""

    def __init__(self, table):
        self.rows = table.rows
        self.columns = [Column(c) for c in table.columns]
        self.by_name = {c.name: c for c in self.columns}

    def matching(self, names):
        """The columns named `names`, in that order (as training saw them), or
        InvalidData naming the first one missing."""
        missing = [n for n in names if n not in self.by_name]
        if missing:
            raise InvalidData(f"the table has no column {missing[0]!r}, which the model was trained on")
        return [self.by_name[n] for n in names]


class Target:
    """The training target: class codes and levels, or numbers."""

    def __init__(self, data):
        self.is_categorical = isinstance(data, types.ColumnData_Categorical)
        self.values = None if self.is_categorical else data.value
        self.codes = data.value.codes if self.is_categorical else None
        self.levels = data.value.levels if self.is_categorical else None

    def known_rows(self):
        """The rows whose target is not missing."""
        if self.is_categorical:
            n = len(self.levels)
            return [r for r, c in enumerate(self.codes) if c < n]
        return [r for r, v in enumerate(self.values) if v == v]


class Job:
    """What `fit` gets: the task, tables, checked parameters and seed, plus progress."""

    def __init__(self, request, specs):
        self.task = request.task
        self.params = Params(request.params, specs)
        self.seed = request.seed
        self.train = Table(request.train.features)
        self.target = Target(request.train.target) if request.train.target is not None else None
        validation = request.validation
        self.validation = Table(validation.features) if validation is not None else None
        self.validation_target = Target(validation.target) if validation is not None and validation.target is not None else None


# --- Progress, cancel, log ----------------------------------------------------------

def report_epoch(epoch, total, **metrics):
    """One unit of progress (epoch counts from 1 to total) with named figures, then
    a cancel check: raises Cancelled once the job is cancelled."""
    host.report_epoch(epoch, total, [types.Metric(k, float(v)) for k, v in sorted(metrics.items())])
    check_cancel()


def check_cancel():
    """Raises Cancelled once the job has been cancelled: call it between epochs."""
    if host.cancelled():
        raise Cancelled()


_LEVELS = {"debug": host.LogLevel.DEBUG, "info": host.LogLevel.INFO, "warn": host.LogLevel.WARN, "error": host.LogLevel.ERROR}


def log(message, level="info"):
    """A line for the job's log (level: debug, info, warn, error)."""
    host.log(_LEVELS[level], str(message))


# --- Results --------------------------------------------------------------------------

class Model:
    """What `fit` returns: the model bytes, with optional figures and result tables."""

    def __init__(self, model, metrics=None, feature_importances=None, cluster_sizes=None, tables=()):
        self.model = bytes(model)
        self.metrics = metrics or {}
        self.feature_importances = feature_importances
        self.cluster_sizes = cluster_sizes
        self.tables = list(tables)


def result_table(name, title, columns, rows):
    """A table shown with the job: cells are numbers, text, or None (empty)."""
    def cell(v):
        if v is None:
            return tables.Cell_Empty()
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return tables.Cell_Number(float(v))
        return tables.Cell_Text(str(v))
    return tables.ResultTable(name, title, list(columns), [[cell(v) for v in row] for row in rows])


def to_bytes(obj):
    """Deterministic model bytes: JSON with sorted keys and no spaces (floats by repr)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def from_bytes(model, magic):
    """The object `to_bytes` wrote, checked to carry `magic` in its "format" key."""
    try:
        obj = json.loads(bytes(model).decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidModel(f"not a model of this plugin ({e})") from None
    if not isinstance(obj, dict) or obj.get("format") != magic:
        raise InvalidModel(f"not a model of this plugin (expected format {magic!r})")
    return obj


def classes(labels, probabilities, n_classes):
    """Classification predictions: one label per row, row-major probabilities or None."""
    return types.Predictions_Classes(types.ClassPredictions(list(labels), probabilities, n_classes))


def values(predicted):
    """Regression predictions."""
    return types.Predictions_Values([float(v) for v in predicted])


def clusters(assigned):
    """Clustering predictions: a cluster id per row."""
    return types.Predictions_Clusters(list(assigned))


def logsumexp(xs):
    """log(sum(exp(x))) without overflow; -inf for an empty or all -inf list."""
    top = max(xs, default=-math.inf)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(x - top) for x in xs))


# --- The exported trainer ---------------------------------------------------------------

def _train_error(e):
    if isinstance(e, InvalidParameter):
        return types.TrainError_InvalidParameter(types.InvalidParameter(e.name, e.reason))
    if isinstance(e, InvalidData):
        return types.TrainError_InvalidData(str(e))
    if isinstance(e, Cancelled):
        return types.TrainError_Cancelled()
    return types.TrainError_Failed(f"{type(e).__name__}: {e}")


def _predict_error(e):
    if isinstance(e, InvalidModel):
        return types.PredictError_InvalidModel(str(e))
    if isinstance(e, InvalidData):
        return types.PredictError_InvalidData(str(e))
    return types.PredictError_Failed(f"{type(e).__name__}: {e}")


class Plugin(exports.Trainer):
    """Base of the app's `Trainer` class. Set INFO; write fit(job) and predict_table(model, table).

    Parameters are checked before the data; a table without rows is refused as
    invalid data (the host's submit-time parameter check relies on both).
    """

    INFO = None

    def describe(self):
        return self.INFO

    def train(self, request):
        try:
            job = Job(request, self.INFO.params)
            if request.task not in self.INFO.tasks:
                raise InvalidData(f"this plugin does not do {TASK_NAMES[request.task]}")
            if job.train.rows == 0:
                raise InvalidData("the training table has no rows")
            out = self.fit(job)
        except Exception as e:  # every failure becomes the contract's error, never a trap
            raise Err(_train_error(e)) from None
        metrics = [types.Metric(k, float(v)) for k, v in sorted(out.metrics.items())]
        model = types.TrainedModel(out.model, metrics, out.feature_importances, out.cluster_sizes)
        return trainer_types.Trained(model, out.tables)

    def predict(self, model, features):
        try:
            return self.predict_table(model, Table(features))
        except Exception as e:
            raise Err(_predict_error(e)) from None

    def estimate(self, task, params, shape):
        """No cost estimate unless the app overrides `cost(task, params, shape)`."""
        try:
            checked = Params(params, self.INFO.params)
            return self.cost(task, checked, shape)
        except Exception as e:
            raise Err(_train_error(e)) from None

    def cost(self, task, params, shape):
        """Override to return `estimates.Cost(peak_memory_bytes, cpu_seconds, driven_by)`."""
        return None

    def fit(self, job):
        raise NotImplementedError

    def predict_table(self, model, table):
        raise NotImplementedError
