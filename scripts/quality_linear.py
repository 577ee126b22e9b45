#!/usr/bin/env python3
"""Quality of the `linear` plugin against scikit-learn and statsmodels, on the real
tables of ../shared/data (copies in plugins/linear/testdata and testdata/).

For each case the plugin runs natively (`linear_cli`, the crate's example, release
build) and the reference fits the same design: the same one-hot columns (a reference
level dropped when unpenalised), mean imputation with missing indicators, and for
penalised fits the same standardisation and the same penalty in scikit-learn's units.
Printed per case: the largest relative difference of the coefficients (and, for
unpenalised fits, of the standard errors and p-values) and of the predictions.
Targets: coefficients within 1e-4 relative where the optimum is unique; standard
errors and p-values within 1e-6 relative of statsmodels.

Besides the real tables (the largest has 569 rows), one large synthetic table
(`--large-rows`, default 200,000 rows; 0 to skip): 12 numbers (one with 2% missing),
a 4-level category, a regression and a binary target, written to a temporary CSV
with every float in round-trip precision so both sides read the same values.

    pip install scikit-learn statsmodels pandas
    python3 scripts/quality_linear.py                    # with the 200,000-row synthetic cases
    python3 scripts/quality_linear.py --large-rows 0     # the real tables only
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, PoissonRegressor, Ridge

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "plugins", "linear", "testdata")
MISSING = ["", "NA", "nan", "NaN", "?"]
warnings.filterwarnings("ignore")


def large_table(path, rows):
    """The synthetic table of the large cases: written once, seeded."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(rows, 12)) * rng.uniform(0.5, 5.0, size=12) + rng.uniform(-3, 3, size=12)
    level = rng.integers(0, 4, size=rows)
    beta = np.linspace(-1.0, 1.0, 12)
    linear = (X - X.mean(0)) / X.std(0) @ beta * 0.5 + np.array([0.0, 0.4, -0.3, 0.8])[level]
    y = 3.0 + 2.0 * linear + rng.normal(size=rows)
    label = np.where(rng.uniform(size=rows) < 1 / (1 + np.exp(-linear)), "yes", "no")
    frame = pd.DataFrame({f"x{j}": X[:, j] for j in range(12)})
    frame.loc[rng.uniform(size=rows) < 0.02, "x3"] = np.nan
    frame["grade"] = np.array(["a", "b", "c", "d"])[level]
    frame["y"], frame["label"] = y, label
    frame.to_csv(path, index=False, float_format="%.17g", na_rep="")


def cli():
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "linear", "--example", "linear_cli"], cwd=ROOT, check=True)
    return os.path.join(target_dir, "release", "examples", "linear_cli")


def load(name, target, task, categorical=(), keep=None):
    """Columns typed as the plugin's tests type them: numbers, else sorted levels.
    `name` is a table of DATA, or an absolute path without `.csv`."""
    d = pd.read_csv(os.path.join(DATA, f"{name}.csv"), dtype=str, keep_default_na=False).apply(lambda c: c.str.strip())
    cols = {}
    for c in d.columns:
        if keep is not None and c not in keep and c != target:
            continue
        miss = d[c].isin(MISSING)
        num = pd.to_numeric(d[c].where(~miss), errors="coerce")
        numeric = (num.notna() | miss).all() and c not in categorical and not (c == target and task == "classification")
        cols[c] = ("num", num.astype(float)) if numeric else ("cat", d[c].where(~miss))
    return cols


def design(cols, target, penalised, intercept=True):
    """The plugin's design: see plugins/linear/src/design.rs."""
    X, names = [], []
    n = len(next(iter(cols.values()))[1])
    if intercept:
        X.append(np.ones(n))
        names.append("(intercept)")
    for c, (kind, v) in cols.items():
        if c == target:
            continue
        if kind == "num":
            miss = v.isna().values
            filled = v.fillna(v.mean()).values
            if penalised:
                center = filled.mean() if intercept else 0.0
                sd = np.sqrt(((filled - center) ** 2).mean())
                filled = (filled - center) / (sd if sd > 0 else 1.0)
            X.append(filled)
            names.append(c)
            if miss.any() and not miss.all():
                X.append(miss.astype(float))
                names.append(f"{c} (missing)")
        else:
            levels = sorted(v.dropna().unique())
            for level in levels if penalised else levels[1:]:
                X.append((v == level).astype(float).values)
                names.append(f"{c}[{level}]")
            if v.isna().any():
                X.append(v.isna().astype(float).values)
                names.append(f"{c} (missing)")
    return np.column_stack(X), names


def run_plugin(binary, name, target, task, params=(), categorical=(), keep=None):
    args = [binary, "fit", "--data", os.path.join(DATA, f"{name}.csv"), "--target", target, "--task", task]
    if categorical:
        args += ["--categorical", ",".join(categorical)]
    if keep:
        args += ["--keep", ",".join(keep)]
    for p in params:
        args += ["--param", p]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))) if len(a) else 0.0


ROWS = []


def report(case, reference, what, diff, tol):
    ROWS.append((case, reference, what, diff, tol, diff <= tol))


def coefficients(out, field, names, classes=None):
    table = {(c["class"], c["term"]): c[field] for c in out["coefficients"]}
    keys = [(k, t) for k in (classes or [None]) for t in names]
    return np.array([np.nan if table[k] is None else table[k] for k in keys])


def unpenalised(binary, case, name, target, task, model, **kw):
    """statsmodels on the same design: estimates, standard errors, p-values, predictions."""
    cols = load(name, target, task, kw.get("categorical", ()), kw.get("keep"))
    X, names = design(cols, target, penalised=False)
    kind, y = cols[target]
    params = ["model=poisson"] if model == "poisson" else []
    out = run_plugin(binary, name, target, task, params, kw.get("categorical", ()), kw.get("keep"))
    if model == "ols":
        fit = sm.OLS(y.values, X).fit()
        pred = fit.fittedvalues
    elif model == "poisson":
        fit = sm.Poisson(y.values, X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
        pred = fit.predict()
    else:
        levels = sorted(y.dropna().unique())
        codes = np.array([levels.index(v) for v in y])
        if len(levels) == 2:
            fit = sm.Logit(codes, X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
            p1 = fit.predict()
            pred = np.column_stack([1 - p1, p1]).ravel()
        else:
            fit = sm.MNLogit(codes, X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
            pred = fit.predict().ravel()
    classes = None
    if model == "logit" and len(sorted(y.dropna().unique())) > 2:
        classes = sorted(y.dropna().unique())[1:]
    flat = lambda a: np.asarray(a).T.ravel() if np.ndim(a) == 2 else np.asarray(a)
    got_pred = np.array(out["predictions"].get("values") or out["predictions"]["probabilities"])
    report(case, "statsmodels", "estimate", rel(coefficients(out, "estimate", names, classes), flat(fit.params)), 1e-6)
    report(case, "statsmodels", "std_error", rel(coefficients(out, "std_error", names, classes), flat(fit.bse)), 1e-6)
    report(case, "statsmodels", "p_value", rel(coefficients(out, "p_value", names, classes), flat(fit.pvalues)), 1e-6)
    report(case, "statsmodels", "log_likelihood", rel([out["metrics"]["log_likelihood"]], [fit.llf]), 1e-9)
    report(case, "statsmodels", "predictions", rel(got_pred, pred), 1e-5)


def penalised(binary, case, name, target, task, params, reference, **kw):
    """scikit-learn on the standardised design: standardised slopes and intercepts, predictions."""
    cols = load(name, target, task, kw.get("categorical", ()), kw.get("keep"))
    X, names = design(cols, target, penalised=True)
    _, y = cols[target]
    out = run_plugin(binary, name, target, task, params, kw.get("categorical", ()), kw.get("keep"))
    m = reference.fit(X[:, 1:], y.values)
    coef, icpt = np.atleast_2d(m.coef_), np.atleast_1d(m.intercept_)
    classes = None
    if hasattr(m, "classes_") and len(m.classes_) > 2:
        classes = list(m.classes_)
    elif hasattr(m, "classes_"):
        classes = [None]
    want = np.concatenate([np.concatenate([[icpt[k]], coef[k]]) for k in range(coef.shape[0])])
    got = coefficients(out, "standardised", names, classes if classes != [None] else None)
    # L1 zeros must be exact zeros: compare the non-zero ones relatively, count the rest.
    nz = np.abs(want) > 1e-10
    zero_mismatch = int(np.sum((np.abs(got) > 0) != nz))
    report(case, type(reference).__name__, f"coefficients ({int(nz.sum())} non-zero)", rel(got[nz], want[nz]), kw.get("tol", 1e-4))
    report(case, type(reference).__name__, "zero pattern (mismatches)", zero_mismatch, 0)
    pred = m.predict_proba(X[:, 1:]).ravel() if hasattr(m, "predict_proba") else m.predict(X[:, 1:])
    got_pred = np.array(out["predictions"].get("values") or out["predictions"]["probabilities"])
    report(case, type(reference).__name__, "predictions", rel(got_pred, pred), kw.get("tol", 1e-4))


def large_cases(binary, rows):
    """The same comparisons on a large synthetic table (see the module's doc)."""
    with tempfile.TemporaryDirectory() as work:
        name = os.path.join(work, "large")
        large_table(f"{name}.csv", rows)
        features = [f"x{j}" for j in range(12)] + ["grade"]  # the other target is no feature
        n = f"{rows // 1000}k"
        unpenalised(binary, f"OLS synthetic {n} (level, missing)", name, "y", "regression", "ols", keep=features)
        unpenalised(binary, f"logit synthetic {n} (level, missing)", name, "label", "classification", "logit", keep=features)
        penalised(binary, f"ridge synthetic {n} alpha=10", name, "y", "regression", ["penalty=l2", "alpha=10"], Ridge(alpha=10.0, tol=1e-12), keep=features)
        penalised(binary, f"logistic l2 synthetic {n} C=0.01", name, "label", "classification", ["penalty=l2", "c=0.01"],
                  LogisticRegression(C=0.01, solver="newton-cholesky", tol=1e-14, max_iter=1000), keep=features)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large-rows", type=int, default=200_000, help="rows of the synthetic large table (0: skip it)")
    args = ap.parse_args()
    binary = cli()
    tight = dict(tol=1e-14, max_iter=100_000)
    unpenalised(binary, "OLS diabetes", "diabetes", "progression", "regression", "ols")
    unpenalised(binary, "logit heart_disease (levels, missing)", "heart_disease", "diameter narrowing", "classification", "logit")
    unpenalised(binary, "MNLogit wine (3 classes)", "wine", "cultivar", "classification", "logit", keep=["alcohol", "malic_acid", "ash"])
    flares = ["largest-spot-size", "spot-distribution", "activity", "evolution", "area"]
    unpenalised(binary, "Poisson solar_flare", "solar_flare", "c-class-flares", "regression", "poisson", categorical=flares, keep=flares)
    penalised(binary, "ridge diabetes alpha=10", "diabetes", "progression", "regression", ["penalty=l2", "alpha=10"], Ridge(alpha=10.0, tol=1e-12))
    penalised(binary, "lasso diabetes alpha=1", "diabetes", "progression", "regression", ["penalty=l1", "alpha=1"], Lasso(alpha=1.0, **tight))
    penalised(binary, "elastic net diabetes", "diabetes", "progression", "regression", ["penalty=elasticnet", "alpha=0.5", "l1Ratio=0.3"],
              ElasticNet(alpha=0.5, l1_ratio=0.3, **tight))
    penalised(binary, "logistic l2 wine (multinomial)", "wine", "cultivar", "classification", ["penalty=l2", "c=0.5"],
              LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-14, max_iter=1000))
    penalised(binary, "logistic l2 balanced breast_cancer", "breast_cancer", "diagnosis", "classification", ["penalty=l2", "c=1", "classWeight=balanced"],
              LogisticRegression(C=1.0, class_weight="balanced", solver="newton-cholesky", tol=1e-14, max_iter=1000))
    # liblinear penalises the intercept too (as a column of intercept_scaling): a huge scaling makes that penalty negligible.
    penalised(binary, "logistic l1 breast_cancer C=0.2", "breast_cancer", "diagnosis", "classification", ["penalty=l1", "c=0.2"],
              LogisticRegression(penalty="l1", C=0.2, solver="liblinear", tol=1e-12, max_iter=100_000, intercept_scaling=1e6))
    penalised(binary, "poisson l2 solar_flare alpha=0.01", "solar_flare", "c-class-flares", "regression", ["model=poisson", "penalty=l2", "alpha=0.01"],
              PoissonRegressor(alpha=0.01, solver="newton-cholesky", tol=1e-14, max_iter=1000), categorical=flares, keep=flares)
    if args.large_rows > 0:
        large_cases(binary, args.large_rows)
    width = max(len(r[0]) for r in ROWS)
    print(f"{'case':<{width}}  {'reference':<18} {'quantity':<28} {'max rel diff':>12} {'target':>8}  ok")
    for case, ref, what, diff, tol, ok in ROWS:
        print(f"{case:<{width}}  {ref:<18} {what:<28} {diff:>12.2e} {tol:>8.0e}  {'yes' if ok else 'NO'}")
    failed = [r for r in ROWS if not r[5]]
    print(f"\n{len(ROWS) - len(failed)} of {len(ROWS)} comparisons within target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
