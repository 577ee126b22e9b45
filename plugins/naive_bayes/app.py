"""The naive_bayes plugin's component: the contract's side of naive_bayes.py.

Owns the schema, the checks of the target and the columns, the conversion of the
host's tables into the algorithm's plain lists, progress (one epoch per feature
pass, then one that scores the validation rows when the host sends some) and the
model's result table. The statistics live in naive_bayes.py; the glue to the
contract in the SDK (templates/python/trainhost_sdk.py). Classification only.
"""
import math

import naive_bayes as nb
import trainhost_sdk as sdk

PARAMS = [
    sdk.float_param("alpha", 1.0, 1e-10, 1e6,
                    "Laplace (additive) smoothing of the categorical likelihoods; also what a level unseen in training gets"),
    sdk.float_param("varSmoothing", 1e-9, 0.0, 1.0,
                    "Share of the largest feature variance added to every variance, as scikit-learn's GaussianNB"),
    sdk.bool_param("fitPriors", True, "Learn the class priors from the training rows; false: uniform priors"),
]


def _features(table, rows):
    """The training columns restricted to `rows`, as naive_bayes.fit takes them."""
    out = []
    for col in table.columns:
        if col.is_numeric:
            out.append(("numeric", col.name, [col.values[r] for r in rows]))
        else:
            n = len(col.levels)
            out.append(("categorical", col.name, [col.codes[r] if col.codes[r] < n else None for r in rows], col.levels))
    return out


def _inputs(model, table):
    """A prediction table's columns in the model's order: floats, and codes into the
    training levels (None missing, -1 unseen)."""
    numeric = table.matching([f["name"] for f in model["numeric"]])
    categorical = table.matching([f["name"] for f in model["categorical"]])
    for col in numeric:
        if not col.is_numeric:
            raise sdk.InvalidData(f"column {col.name!r} was numeric in training but is categorical here")
    for col in categorical:
        if col.is_numeric:
            raise sdk.InvalidData(f"column {col.name!r} was categorical in training but is numeric here")
    codes = [col.recoded(f["levels"]) for col, f in zip(categorical, model["categorical"])]
    return [col.values for col in numeric], codes


def _score(model, table, target):
    """Accuracy and mean log loss on a labelled table (rows with a class only)."""
    numeric, categorical = _inputs(model, table)
    labels, probs = nb.predict(model, numeric, categorical, table.rows)
    k = len(model["class_counts"])
    known = [r for r in target.known_rows() if target.codes[r] < k]
    if not known:
        return {}
    hits = sum(1 for r in known if labels[r] == target.codes[r])
    loss = math.fsum(-math.log(max(probs[r * k + target.codes[r]], 1e-15)) for r in known)
    return {"validation_accuracy": hits / len(known), "validation_log_loss": loss / len(known)}


def _classes_table(model):
    counts = model["class_counts"]
    total = sum(counts)
    rows = [[level, n, n / total] for level, n in zip(model["classes"], counts)]
    return sdk.result_table("classes", "Classes: training rows and prior share", ["class", "rows", "share"], rows)


class Trainer(sdk.Plugin):
    INFO = sdk.info("naive_bayes", "0.1.0",
                    "Naive Bayes: Gaussian likelihoods for numbers, smoothed categorical ones for categories; missing values skipped",
                    [sdk.CLASSIFICATION], PARAMS)

    def fit(self, job):
        target = job.target
        if target is None or not target.is_categorical:
            raise sdk.InvalidData("classification needs a categorical target")
        rows = target.known_rows()
        if not rows:
            raise sdk.InvalidData("no training row has a class")
        p = job.params
        total = len(job.train.columns) + 1
        model = nb.fit(_features(job.train, rows), [target.codes[r] for r in rows], len(target.levels), p["alpha"],
                       p["varSmoothing"], p["fitPriors"], on_feature=lambda i, _: sdk.report_epoch(i, total, features=i))
        model["classes"] = list(target.levels)
        metrics = {}
        if job.validation is not None and job.validation_target is not None and job.validation_target.is_categorical:
            metrics = _score(model, job.validation, job.validation_target)
        sdk.report_epoch(total, total, **metrics)
        return sdk.Model(sdk.to_bytes(model), metrics=metrics, tables=[_classes_table(model)])

    def predict_table(self, model, table):
        model = sdk.from_bytes(model, nb.FORMAT)
        numeric, categorical = _inputs(model, table)
        labels, probabilities = nb.predict(model, numeric, categorical, table.rows)
        return sdk.classes(labels, probabilities, len(model["class_counts"]))
