#!/usr/bin/env python3
"""Quality of the random_forest plugin against scikit-learn's RandomForest on
the real datasets: same hyperparameters (100 trees, defaults otherwise), same
cross-validation folds (5-fold, zoo 3-fold; stratified for classification,
shuffled with seed 0), all rows kept (both sides handle missing values: the
plugin natively, scikit-learn >= 1.4 natively for NaN), categorical columns as
ordinal codes for scikit-learn and natively for the plugin.

    python3 scripts/quality_random_forest.py [--runner native|trainhost] [--data DIR]

Prints one row per dataset and whether the plugin is within 1.5 points of
accuracy (or 0.02 of R²) of scikit-learn.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rf_common import ROOT, Runner  # noqa: E402

DATASETS = [  # file, target, task, folds
    ("iris", "species", "classification", 5),
    ("wine", "cultivar", "classification", 5),
    ("breast_cancer", "diagnosis", "classification", 5),
    ("diabetes", "progression", "regression", 5),
    ("penguins", "species", "classification", 5),
    ("heart_disease", "diameter narrowing", "classification", 5),
    ("titanic", "Survived", "classification", 5),
    ("zoo", "type", "classification", 3),
]


def sklearn_matrix(frame, target):
    """Features for scikit-learn: numbers as they are, text as ordinal codes (NaN if missing)."""
    import numpy as np
    X = frame.drop(columns=[target]).copy()
    for col in X.columns:
        if X[col].dtype == object or str(X[col].dtype).startswith(("string", "str", "category")):
            codes = X[col].astype("category").cat.codes.astype(float)
            X[col] = codes.where(codes >= 0, np.nan)
    return X.to_numpy(dtype=float)


def evaluate(runner, data_dir, name, target, task, k, workdir):
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import KFold, StratifiedKFold
    frame = pd.read_csv(os.path.join(data_dir, f"{name}.csv"))
    X = sklearn_matrix(frame, target)
    y = frame[target].astype(str).to_numpy() if task == "classification" else frame[target].to_numpy(dtype=float)
    splitter = (StratifiedKFold if task == "classification" else KFold)(k, shuffle=True, random_state=0)
    ours, theirs = [], []
    for fold, (tr, te) in enumerate(splitter.split(X, y)):
        train_csv, test_csv = (os.path.join(workdir, f"{name}_{fold}_{p}.csv") for p in ("train", "test"))
        frame.iloc[tr].to_csv(train_csv, index=False)
        frame.iloc[te].to_csv(test_csv, index=False)
        model = os.path.join(workdir, f"{name}_{fold}.bin")
        runner.train(train_csv, target, task, {}, model, seed=fold)
        pred = runner.predict(model, test_csv, os.path.join(workdir, f"{name}_{fold}_pred.csv"))
        Model = RandomForestClassifier if task == "classification" else RandomForestRegressor
        sk = Model(n_estimators=100, random_state=0, n_jobs=1).fit(X[tr], y[tr]).predict(X[te])
        if task == "classification":
            ours.append(accuracy_score(y[te], np.array(pred)))
            theirs.append(accuracy_score(y[te], sk))
        else:
            ours.append(r2_score(y[te], np.array(pred, dtype=float)))
            theirs.append(r2_score(y[te], sk))
    return float(np.mean(ours)), float(np.mean(theirs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", choices=["native", "trainhost"], default="native")
    ap.add_argument("--data", default=os.path.join(ROOT, "plugins", "random_forest", "testdata"))
    args = ap.parse_args()
    runner = Runner(args.runner)
    print(f"| dataset | metric | folds | random_forest ({args.runner}) | scikit-learn | difference | within tolerance |")
    print("|---|---|---|---|---|---|---|")
    failures = 0
    with tempfile.TemporaryDirectory() as workdir:
        for name, target, task, k in DATASETS:
            ours, theirs = evaluate(runner, args.data, name, target, task, k, workdir)
            tolerance = 0.015 if task == "classification" else 0.02
            ok = ours >= theirs - tolerance
            failures += not ok
            metric = "accuracy" if task == "classification" else "R²"
            print(f"| {name} | {metric} | {k} | {ours:.4f} | {theirs:.4f} | {ours - theirs:+.4f} | {'yes' if ok else 'NO'} |",
                  flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
