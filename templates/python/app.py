"""The {{name}} plugin: a linear model trained by full-batch gradient descent.

A starting point to replace with your algorithm. It shows every part a plugin has:
a schema with one parameter of each kind (int, float, bool, choice), training that
reports one epoch at a time and stops when the job is cancelled, deterministic model
bytes, and predict for classification (softmax) and regression (least squares).
Numbers are standardised with missing values set to the training mean; categories
become one indicator per level (a missing or unseen level: none set).

Everything the contract needs is in trainhost_sdk.py (vendored: standard library
only, numpy has no WASI build). `./build` makes {{name}}.wasm.
"""
import math

import trainhost_sdk as sdk

FORMAT = "{{name}}-1"
PARAMS = [
    sdk.int_param("epochs", 50, 1, 10000, "Passes of gradient descent over the training rows"),
    sdk.float_param("learningRate", 0.5, 1e-6, 2.0, "Step size of each pass, divided by the number of inputs (so any value in bounds is stable)"),
    sdk.bool_param("intercept", True, "Fit an intercept (a constant column)"),
    sdk.choice_param("penalty", "l2", ["none", "l2"], "Shrink the weights towards zero (l2: by 0.01 x weight per pass)"),
]


def standardiser(values):
    """Mean and standard deviation (1 for a constant) of the known values."""
    known = [v for v in values if v == v]
    mean = math.fsum(known) / len(known) if known else 0.0
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in known) / len(known)) if known else 0.0
    return mean, sd if sd > 0 else 1.0


def design_spec(table):
    """What each column becomes: numbers with their mean and spread, or levels."""
    spec = []
    for col in table.columns:
        if col.is_numeric:
            mean, sd = standardiser(col.values)
            spec.append({"name": col.name, "mean": mean, "sd": sd})
        else:
            spec.append({"name": col.name, "levels": list(col.levels)})
    return spec


def design(spec, table, intercept):
    """One row of inputs per table row, in the model's column order."""
    rows = [[1.0] if intercept else [] for _ in range(table.rows)]
    for s, col in zip(spec, table.matching([s["name"] for s in spec])):
        if "mean" in s:
            if not col.is_numeric:
                raise sdk.InvalidData(f"column {col.name!r} was numeric in training")
            for r, v in enumerate(col.values):
                rows[r].append((v - s["mean"]) / s["sd"] if v == v else 0.0)
        else:
            if col.is_numeric:
                raise sdk.InvalidData(f"column {col.name!r} was categorical in training")
            k = len(s["levels"])
            for r, code in enumerate(col.recoded(s["levels"])):
                rows[r].extend(1.0 if code == j else 0.0 for j in range(k))
    return rows


def outputs(weights, x):
    """The model's raw outputs for one row: one per class, or one value."""
    return [math.fsum(w * v for w, v in zip(ws, x)) for ws in weights]


def softmax(z):
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def gradient_step(weights, x_rows, y, classification, rate, l2):
    """One full-batch pass: mean gradient of the log loss (or squared error)."""
    n, k, d = len(x_rows), len(weights), len(weights[0])
    grad = [[0.0] * d for _ in range(k)]
    loss = 0.0
    for x, target in zip(x_rows, y):
        z = outputs(weights, x)
        if classification:
            p = softmax(z)
            loss -= math.log(max(p[target], 1e-15))
            errors = [p[c] - (1.0 if c == target else 0.0) for c in range(k)]
        else:
            errors = [z[0] - target]
            loss += errors[0] ** 2
        for c in range(k):
            g, e = grad[c], errors[c]
            for j in range(d):
                g[j] += e * x[j]
    step = rate / max(d, 1)  # inputs are standardised: the loss's curvature is at most d
    for c in range(k):
        for j in range(d):
            weights[c][j] -= step * (grad[c][j] / n + l2 * weights[c][j])
    return loss / n


class Trainer(sdk.Plugin):
    INFO = sdk.info("{{name}}", "0.1.0", "A linear model by gradient descent (template: replace with your algorithm)",
                    [sdk.CLASSIFICATION, sdk.REGRESSION], PARAMS)

    def fit(self, job):
        p = job.params
        target = job.target
        classification = job.task == sdk.CLASSIFICATION
        if target is None or target.is_categorical != classification:
            raise sdk.InvalidData("classification needs a categorical target, regression a numeric one")
        rows = target.known_rows()
        if not rows:
            raise sdk.InvalidData("no training row has a target value")
        spec = design_spec(job.train)
        x_all = design(spec, job.train, p["intercept"])
        x_rows = [x_all[r] for r in rows]
        y_mean, y_sd = 0.0, 1.0
        if classification:
            y, k = [target.codes[r] for r in rows], len(target.levels)
        else:
            y_mean, y_sd = standardiser([target.values[r] for r in rows])
            y, k = [(target.values[r] - y_mean) / y_sd for r in rows], 1
        weights = [[0.0] * len(x_rows[0]) for _ in range(k)]
        l2 = 0.01 if p["penalty"] == "l2" else 0.0
        loss = 0.0
        for epoch in range(1, p["epochs"] + 1):
            loss = gradient_step(weights, x_rows, y, classification, p["learningRate"], l2)
            if not math.isfinite(loss):
                raise sdk.InvalidParameter("learningRate", "training diverged: lower the learning rate")
            sdk.report_epoch(epoch, p["epochs"], loss=loss)  # raises Cancelled once the job is cancelled
        model = {"format": FORMAT, "classification": classification, "intercept": p["intercept"], "spec": spec, "weights": weights,
                 "target": [y_mean, y_sd]}
        return sdk.Model(sdk.to_bytes(model), metrics={"train_loss": loss})

    def predict_table(self, model, table):
        m = sdk.from_bytes(model, FORMAT)
        x_rows = design(m["spec"], table, m["intercept"])
        z = [outputs(m["weights"], x) for x in x_rows]
        if not m["classification"]:
            y_mean, y_sd = m["target"]
            return sdk.values([row[0] * y_sd + y_mean for row in z])
        probabilities = [softmax(row) for row in z]
        labels = [row.index(max(row)) for row in probabilities]
        return sdk.classes(labels, [v for row in probabilities for v in row], len(m["weights"]))
