"""Naive Bayes for mixed tables: the algorithm alone, in plain Python.

Owns the statistics and the arithmetic: Gaussian likelihoods for numeric columns
(per-class mean and population variance, plus scikit-learn GaussianNB's variance
smoothing: `var_smoothing` times the largest feature variance), categorical
likelihoods with Laplace (additive) smoothing `alpha` as in CategoricalNB, class
priors, and calibrated probabilities through log-sum-exp. A missing value skips its
feature's term, in training (it is not counted) and at predict. A level training
never saw gets the smoothed probability of a count of zero.

It must not touch the contract's types or the host: `app.py` turns tables into the
plain lists this module takes (numeric columns as floats with NaN, categorical ones
as codes into the training levels with None for missing and -1 for unseen), so it
runs under CPython as it does in the component. Standard library only.
"""
import math

FORMAT = "trainhost-naive-bayes-1"


def _class_rows(classes, n_classes):
    rows = [[] for _ in range(n_classes)]
    for r, c in enumerate(classes):
        rows[c].append(r)
    return rows


def gaussian_stats(values, class_rows):
    """Per class: [count, mean, variance] over the non-missing values (None when a
    class has none), and the variance over all non-missing values."""
    stats = []
    for rows in class_rows:
        known = [values[r] for r in rows if values[r] == values[r]]
        if not known:
            stats.append(None)
            continue
        mean = math.fsum(known) / len(known)
        var = math.fsum((v - mean) ** 2 for v in known) / len(known)
        stats.append([len(known), mean, var])
    known = [v for v in values if v == v]
    if not known:
        return stats, None
    mean = math.fsum(known) / len(known)
    return stats, math.fsum((v - mean) ** 2 for v in known) / len(known)


def categorical_counts(codes, class_rows, n_levels):
    """Per class: the count of each training level over the non-missing rows."""
    counts = []
    for rows in class_rows:
        row = [0] * n_levels
        for r in rows:
            code = codes[r]
            if code is not None and 0 <= code < n_levels:
                row[code] += 1
        counts.append(row)
    return counts


def fit(features, classes, n_classes, alpha, var_smoothing, fit_priors, on_feature=None):
    """The model as a JSON-ready dict.

    features: list of ("numeric", name, floats) or ("categorical", name, codes, levels);
    classes: a class code per row (rows without a class already dropped);
    on_feature(i, total): called after each feature's pass (progress and cancel).
    """
    class_rows = _class_rows(classes, n_classes)
    counts = [len(rows) for rows in class_rows]
    numeric, categorical, max_var = [], [], 0.0
    total = len(features)
    for i, feature in enumerate(features):
        if feature[0] == "numeric":
            stats, var = gaussian_stats(feature[2], class_rows)
            if var is not None:
                numeric.append({"name": feature[1], "stats": stats})
                max_var = max(max_var, var)
        else:
            levels = feature[3]
            categorical.append({"name": feature[1], "levels": list(levels), "counts": categorical_counts(feature[2], class_rows, len(levels))})
        if on_feature is not None:
            on_feature(i + 1, total)
    # GaussianNB's epsilon; a floor keeps all-constant numbers from dividing by zero.
    epsilon = var_smoothing * max_var if max_var > 0 else 1e-9
    return {
        "format": FORMAT,
        "class_counts": counts,
        "alpha": alpha,
        "epsilon": epsilon,
        "fit_priors": fit_priors,
        "numeric": numeric,
        "categorical": categorical,
    }


def _log_priors(model):
    counts = model["class_counts"]
    seen = [c for c in counts if c > 0]
    if model["fit_priors"]:
        total = sum(seen)
        return [math.log(c / total) if c > 0 else -math.inf for c in counts]
    return [-math.log(len(seen)) if c > 0 else -math.inf for c in counts]


def _gaussian_terms(model):
    """Per numeric feature and class: (mean, 1 / (2 var), log normaliser) or None
    (the class had no known value: the feature says nothing about it)."""
    eps = model["epsilon"]
    out = []
    for feature in model["numeric"]:
        terms = []
        for s in feature["stats"]:
            if s is None:
                terms.append(None)
                continue
            var = s[2] + eps
            terms.append((s[1], 0.5 / var, -0.5 * math.log(2 * math.pi * var)))
        out.append(terms)
    return out


def _categorical_terms(model):
    """Per categorical feature and class: the log probability of each level, and
    that of a level unseen in training (a count of zero)."""
    alpha = model["alpha"]
    out = []
    for feature in model["categorical"]:
        k = len(feature["levels"])
        terms = []
        for row in feature["counts"]:
            denom = math.log(sum(row) + alpha * k)
            terms.append(([math.log(n + alpha) - denom for n in row], math.log(alpha) - denom))
        out.append(terms)
    return out


def joint_log_likelihood(model, numeric, categorical, rows):
    """Per row, per class: log prior + the terms of its known values.

    numeric: a float list per numeric feature of the model (NaN missing);
    categorical: a code list per categorical feature (None missing, -1 unseen)."""
    priors = _log_priors(model)
    live = [c for c, p in enumerate(priors) if p > -math.inf]
    jll = [list(priors) for _ in range(rows)]
    for values, terms in zip(numeric, _gaussian_terms(model)):
        for c in live:
            t = terms[c]
            if t is None:
                continue
            mean, inv2var, norm = t
            for r in range(rows):
                x = values[r]
                if x == x:
                    jll[r][c] += norm - (x - mean) ** 2 * inv2var
    for codes, terms in zip(categorical, _categorical_terms(model)):
        for c in live:
            logp, unseen = terms[c]
            for r in range(rows):
                code = codes[r]
                if code is not None:
                    jll[r][c] += logp[code] if code >= 0 else unseen
    return jll


def predict(model, numeric, categorical, rows):
    """Labels (the most probable class, the lowest code on a tie) and row-major
    probabilities, normalised through log-sum-exp."""
    jll = joint_log_likelihood(model, numeric, categorical, rows)
    labels, probabilities = [], []
    for row in jll:
        top = max(row)
        norm = top + math.log(math.fsum(math.exp(v - top) for v in row if v > -math.inf))
        labels.append(row.index(top))
        probabilities.extend(math.exp(v - norm) if v > -math.inf else 0.0 for v in row)
    return labels, probabilities
