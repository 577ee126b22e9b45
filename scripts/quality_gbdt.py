#!/usr/bin/env python3
"""Quality of the gbdt plugin against LightGBM 4 (issue 15).

For every table in ../shared/data with a target: the same 5 folds (stratified,
shuffled with seed 0; zoo's rarest classes have fewer than 5 rows, so they do
not appear in every fold), the plugin trained through the `trainhost` CLI on
each fold's training rows (`--test-fraction 0 --plugin-validation-fraction 0`:
it gets all of them, as LightGBM does) and asked to predict the fold's test
rows with `trainhost predict`; LightGBM trained with the same hyperparameters
(100 rounds, learning rate 0.1, 31 leaves, min_data_in_leaf 20, max_bin 255,
string columns as pandas categories, so both split them natively). Prints
the mean accuracy (R² for regression) of each and whether the plugin is within
0.5 accuracy points (0.01 R²) of LightGBM.

  cargo build -p trainhost --bin trainhost && PLUGINS=gbdt scripts/build-plugins
  python3 scripts/quality_gbdt.py [--trainhost PATH] [--data DIR] [--tables iris,wine]
"""
import argparse, os, subprocess, sys, tempfile

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = {  # file: (target, task)
    "iris": ("species", "classification"),
    "wine": ("cultivar", "classification"),
    "breast_cancer": ("diagnosis", "classification"),
    "diabetes": ("progression", "regression"),
    "penguins": ("species", "classification"),
    "heart_disease": ("diameter narrowing", "classification"),
    "zoo": ("type", "classification"),
    "titanic": ("Survived", "classification"),
    "solar_flare": ("zurich-class", "classification"),
}
PARAMS = {"nEstimators": 100, "learningRate": 0.1, "numLeaves": 31, "minDataInLeaf": 20, "maxBins": 255}


def lightgbm_params(task, n_classes):
    import lightgbm  # noqa: F401
    objective = "regression" if task == "regression" else ("binary" if n_classes == 2 else "multiclass")
    p = {"objective": objective, "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "max_bin": 255,
         "num_threads": 1, "verbose": -1, "seed": 0, "deterministic": True}
    if objective == "multiclass":
        p["num_class"] = n_classes
    return p


def folds(y, task):
    from sklearn.model_selection import KFold, StratifiedKFold
    if task == "regression":
        return list(KFold(5, shuffle=True, random_state=0).split(np.zeros(len(y))))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zoo: classes with fewer rows than folds
        return list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y))


def score(task, truth, predicted):
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if task == "regression":
        truth, predicted = truth.astype(float), predicted.astype(float)
        return 1 - ((truth - predicted) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
    return float((truth.astype(str) == predicted.astype(str)).mean())


def run_lightgbm(df, target, task, train_idx, test_idx):
    import lightgbm as lgb
    x = df.drop(columns=[target]).copy()
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]):
            x[c] = x[c].astype(pd.CategoricalDtype(sorted(x[c].dropna().unique())))
    y = df[target]
    if task == "regression":
        labels, yy = None, y.astype(float)
    else:
        labels = sorted(y.dropna().astype(str).unique())
        yy = y.astype(str).map({l: i for i, l in enumerate(labels)})
    m = lgb.train(lightgbm_params(task, len(labels or [])), lgb.Dataset(x.iloc[train_idx], yy.iloc[train_idx]), 100)
    p = m.predict(x.iloc[test_idx])
    if task == "regression":
        return p
    if p.ndim == 1:
        return [labels[int(v > 0.5)] for v in p]
    return [labels[i] for i in p.argmax(axis=1)]


def run_plugin(trainhost, df, target, task, train_idx, test_idx, work):
    train_csv, test_csv = f"{work}/train.csv", f"{work}/test.csv"
    model, preds = f"{work}/model.trainhost", f"{work}/preds.csv"
    df.iloc[train_idx].to_csv(train_csv, index=False)
    df.iloc[test_idx].drop(columns=[target]).to_csv(test_csv, index=False)
    cmd = [trainhost, "--config", f"{ROOT}/trainhost.toml", "train", "--plugin", "gbdt", "--data", train_csv, "--target", target,
           "--task", task, "--test-fraction", "0", "--plugin-validation-fraction", "0", "--seed", "0", "--out", model]
    for k, v in PARAMS.items():
        cmd += ["--param", f"{k}={v}"]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    subprocess.run([trainhost, "--config", f"{ROOT}/trainhost.toml", "predict", "--model", model, "--data", test_csv, "--out", preds],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    out = pd.read_csv(preds, keep_default_na=False)
    return out["prediction"].astype(float if task == "regression" else str).tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainhost", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", f"{ROOT}/target"), "debug", "trainhost"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--tables", default=",".join(TABLES))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.tables.split(","):
            target, task = TABLES[name]
            df = pd.read_csv(os.path.join(args.data, f"{name}.csv"))
            df = df[df[target].notna()].reset_index(drop=True)
            ours, theirs = [], []
            for train_idx, test_idx in folds(df[target].astype(str) if task != "regression" else df[target], task):
                truth = df[target].iloc[test_idx]
                ours.append(score(task, truth, run_plugin(args.trainhost, df, target, task, train_idx, test_idx, work)))
                theirs.append(score(task, truth, run_lightgbm(df, target, task, train_idx, test_idx)))
            a, b = float(np.mean(ours)), float(np.mean(theirs))
            tolerance = 0.01 if task == "regression" else 0.005
            rows.append((name, "R²" if task == "regression" else "accuracy", a, b, a - b, a >= b - tolerance))
            print(f"{name}: gbdt {a:.4f} lightgbm {b:.4f}", file=sys.stderr)
    print("| table | metric | gbdt (trainhost) | LightGBM 4 | difference | within tolerance |")
    print("|---|---|---|---|---|---|")
    for name, metric, a, b, d, ok in rows:
        print(f"| {name} | {metric} | {a:.4f} | {b:.4f} | {d:+.4f} | {'yes' if ok else 'NO'} |")
    sys.exit(0 if all(r[5] for r in rows) else 1)


if __name__ == "__main__":
    main()
