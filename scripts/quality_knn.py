#!/usr/bin/env python3
"""Quality of the knn plugin (C) against scikit-learn's KNeighborsClassifier /
KNeighborsRegressor (issue 21), with the same preprocessing and the same splits.

For every table in ../shared/data with a target: the same 5 folds as
scripts/quality_gbdt.py (stratified for classification, shuffled with seed 0),
the plugin trained through the `trainhost` CLI on each fold's training rows
(`--test-fraction 0 --plugin-validation-fraction 0`: it gets all of them, as
scikit-learn does) and asked to predict the fold's test rows with `trainhost
predict`. scikit-learn gets the plugin's distance: numeric columns standardised
with the training rows' mean and population standard deviation of their known
values, a missing number then set to the mean (0); string columns one-hot with
a missing value as a level of its own, each indicator scaled by sqrt(1/2) so a
mismatch adds 1 to the squared distance (the plugin's categoricalWeight = 1);
brute-force search, k = 5, for weights uniform and distance.

Printed: mean accuracy (R² for regression) of each, the difference, whether the
plugin is within 1 point of accuracy (0.02 R²) of scikit-learn or better, and the
times. Rows tied at the k-th distance share its places in the plugin; scikit-learn
keeps an arbitrary k of them (the order its partial sort leaves), so on tables
with many identical rows (titanic, zoo, solar_flare) the two differ, the plugin
predicting the mean over every way of breaking the tie. The times: the plugin's training time
as the CLI reports it (inside the sandbox, to 10 ms), the wall time of the `trainhost
predict` process (start, model load from the compile cache, reading the CSV,
predicting), and scikit-learn's fit and predict (the preprocessing included).

  cargo build -p trainhost --bin trainhost && scripts/build-plugins
  python3 scripts/quality_knn.py [--trainhost PATH] [--data DIR] [--tables iris,wine]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_gbdt import ROOT, TABLES, folds, score  # noqa: E402

K = 5


def sklearn_pipeline(x, task, weights):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    text = [c for c in x.columns if c not in numeric]
    parts = []
    if numeric:  # StandardScaler ignores NaN when fitting: the statistics of the known values
        parts.append(("num", make_pipeline(StandardScaler(), SimpleImputer(strategy="constant", fill_value=0.0)), numeric))
    if text:
        as_text = FunctionTransformer(lambda d: d.astype(object).where(d.notna(), "\x00missing").astype(str))
        one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        parts.append(("cat", make_pipeline(as_text, one_hot, FunctionTransformer(lambda a: a * np.sqrt(0.5))), text))
    model = (KNeighborsRegressor if task == "regression" else KNeighborsClassifier)(n_neighbors=K, weights=weights, algorithm="brute")
    return make_pipeline(ColumnTransformer(parts), model)


def run_sklearn(df, target, task, train_idx, test_idx, weights):
    x, y = df.drop(columns=[target]), df[target]
    y = y.astype(float) if task == "regression" else y.astype(str)
    pipe = sklearn_pipeline(x, task, weights)
    start = time.perf_counter()
    pipe.fit(x.iloc[train_idx], y.iloc[train_idx])
    fitted = time.perf_counter()
    predicted = pipe.predict(x.iloc[test_idx])
    return predicted, fitted - start, time.perf_counter() - fitted


def run_plugin(trainhost, df, target, task, train_idx, test_idx, work, weights):
    train_csv, test_csv = f"{work}/train.csv", f"{work}/test.csv"
    model, preds = f"{work}/model.trainhost", f"{work}/preds.csv"
    df.iloc[train_idx].to_csv(train_csv, index=False)
    df.iloc[test_idx].drop(columns=[target]).to_csv(test_csv, index=False)
    cmd = [trainhost, "--config", f"{ROOT}/trainhost.toml", "train", "--plugin", "knn", "--data", train_csv, "--target", target,
           "--task", task, "--test-fraction", "0", "--plugin-validation-fraction", "0", "--seed", "0", "--out", model,
           "--param", f"nNeighbors={K}", "--param", f"weights={weights}"]
    out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    fit = float(re.search(r" in ([0-9.]+) s \(peak plugin memory", out).group(1))
    start = time.perf_counter()
    subprocess.run([trainhost, "--config", f"{ROOT}/trainhost.toml", "predict", "--model", model, "--data", test_csv, "--out", preds],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    predict = time.perf_counter() - start
    got = pd.read_csv(preds, keep_default_na=False)["prediction"].astype(float if task == "regression" else str).tolist()
    return got, fit, predict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainhost", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", f"{ROOT}/target"), "debug", "trainhost"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--weights", default="uniform,distance")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for weights in args.weights.split(","):
            for name in args.tables.split(","):
                target, task = TABLES[name]
                df = pd.read_csv(os.path.join(args.data, f"{name}.csv"))
                df = df[df[target].notna()].reset_index(drop=True)
                ours, theirs, times = [], [], np.zeros(4)
                for train_idx, test_idx in folds(df[target].astype(str) if task != "regression" else df[target], task):
                    truth = df[target].iloc[test_idx]
                    got, fit, predict = run_plugin(args.trainhost, df, target, task, train_idx, test_idx, work, weights)
                    ref, ref_fit, ref_predict = run_sklearn(df, target, task, train_idx, test_idx, weights)
                    ours.append(score(task, truth, got))
                    theirs.append(score(task, truth, ref))
                    times += [fit, predict, ref_fit, ref_predict]
                a, b = float(np.mean(ours)), float(np.mean(theirs))
                tolerance = 0.02 if task == "regression" else 0.01
                rows.append((name, weights, "R²" if task == "regression" else "accuracy", a, b, a - b, a >= b - tolerance, times / 5))
                print(f"{name} {weights}: knn {a:.4f} scikit-learn {b:.4f}", file=sys.stderr)
    print(f"k = {K}, 5 folds; times are means per fold in ms")
    print("| table | weights | metric | knn (trainhost) | scikit-learn | difference | within tolerance "
          "| knn fit | knn predict (CLI process) | sklearn fit | sklearn predict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, weights, metric, a, b, d, ok, t in rows:
        ms = [f"{1000 * v:.1f}" for v in t]
        print(f"| {name} | {weights} | {metric} | {a:.4f} | {b:.4f} | {d:+.4f} | {'yes' if ok else 'NO'} | " + " | ".join(ms) + " |")
    sys.exit(0 if all(r[6] for r in rows) else 1)


if __name__ == "__main__":
    main()
