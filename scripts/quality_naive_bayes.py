#!/usr/bin/env python3
"""Quality and speed of the naive_bayes plugin (Python, issue 21) against scikit-learn.

For every classification table in ../shared/data: the same 5 folds as
scripts/quality_gbdt.py (stratified, shuffled with seed 0), the plugin trained
through the `trainhost` CLI on each fold's training rows (`--test-fraction 0
--plugin-validation-fraction 0`: it gets all of them, as scikit-learn does) and
asked to predict the fold's test rows with `trainhost predict`. The reference is
the same model in scikit-learn 1.x: GaussianNB (var_smoothing 1e-9) on the columns
the host reads as numbers and CategoricalNB (alpha 1) on the others, their joint
log-likelihoods added (the class prior counted once). scikit-learn takes no missing
value, so it gets them imputed (numbers: the training mean; categories: the most
frequent training level, also for a level the training rows never had), where the
plugin skips the missing value's term.

Printed: mean accuracy of each, the difference and whether it is within 1 point;
then the plugin's fit time (the host's `train` call into the component, as
`trainhost train` reports it) and predict time (the whole `trainhost predict`
command: CSV, compiled-component load and the call) beside scikit-learn's fit and
predict (in-process, one thread), each summed over the folds.

  cargo build -p trainhost --bin trainhost && PLUGINS=naive_bayes scripts/build-plugins
  python3 scripts/quality_naive_bayes.py [--trainhost PATH] [--data DIR] [--tables iris,wine]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = {  # file: target
    "iris": "species",
    "wine": "cultivar",
    "breast_cancer": "diagnosis",
    "penguins": "species",
    "heart_disease": "diameter narrowing",
    "zoo": "type",
    "titanic": "Survived",
    "solar_flare": "zurich-class",
}
NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"]  # as the host's CSV reader


def folds(y):
    from sklearn.model_selection import StratifiedKFold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zoo: classes with fewer rows than folds
        return list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y))


def reference(df, target, train_idx, test_idx):
    """Mixed naive Bayes in scikit-learn: labels for the test rows, fit and predict seconds."""
    from sklearn.naive_bayes import CategoricalNB, GaussianNB
    x = df.drop(columns=[target])
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    categorical = [c for c in x.columns if c not in numeric]
    train, test = x.iloc[train_idx], x.iloc[test_idx]
    y = df[target].astype(str).to_numpy()[train_idx]
    xn_train = xn_test = xc_train = xc_test = None
    if numeric:
        means = train[numeric].mean()
        xn_train, xn_test = train[numeric].fillna(means).to_numpy(float), test[numeric].fillna(means).to_numpy(float)
    if categorical:
        xc_train, xc_test = encode_categories(train[categorical], test[categorical])
    started = time.perf_counter()
    gnb = GaussianNB(var_smoothing=1e-9).fit(xn_train, y) if numeric else None
    cnb = CategoricalNB(alpha=1.0).fit(xc_train, y) if categorical else None
    fitted = time.perf_counter()
    jll = 0.0
    if gnb is not None:
        jll = jll + gnb.predict_joint_log_proba(xn_test)
    if cnb is not None:
        jll = jll + cnb.predict_joint_log_proba(xc_test)
    if gnb is not None and cnb is not None:
        jll = jll - cnb.class_log_prior_
    classes = (gnb or cnb).classes_
    labels = classes[np.argmax(jll, axis=1)]
    done = time.perf_counter()
    return labels, fitted - started, done - fitted


def encode_categories(train, test):
    """Ordinal codes of the training levels; missing and unseen: the most frequent training level."""
    out_train, out_test = [], []
    for c in train.columns:
        levels = sorted(train[c].dropna().astype(str).unique())
        index = {level: i for i, level in enumerate(levels)}
        codes_train = train[c].map(lambda v: index.get(str(v), -1) if pd.notna(v) else -1).to_numpy()
        known = codes_train[codes_train >= 0]
        mode = int(np.bincount(known).argmax()) if len(known) else 0
        codes_test = test[c].map(lambda v: index.get(str(v), -1) if pd.notna(v) else -1).to_numpy()
        out_train.append(np.where(codes_train >= 0, codes_train, mode))
        out_test.append(np.where(codes_test >= 0, codes_test, mode))
    return np.column_stack(out_train), np.column_stack(out_test)


def run_plugin(trainhost, df, target, train_idx, test_idx, work):
    """Labels from the plugin through the CLI, its train call's seconds, the predict command's seconds."""
    train_csv, test_csv = f"{work}/train.csv", f"{work}/test.csv"
    model, preds = f"{work}/model.trainhost", f"{work}/preds.csv"
    df.iloc[train_idx].to_csv(train_csv, index=False)
    df.iloc[test_idx].drop(columns=[target]).to_csv(test_csv, index=False)
    config = ["--config", f"{ROOT}/trainhost.toml"]
    cmd = [trainhost, *config, "train", "--plugin", "naive_bayes", "--data", train_csv, "--target", target,
           "--task", "classification", "--test-fraction", "0", "--plugin-validation-fraction", "0", "--seed", "0", "--out", model]
    out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    fit = float(re.search(r" in ([0-9.]+) s \(peak plugin memory", out).group(1))
    started = time.perf_counter()
    subprocess.run([trainhost, *config, "predict", "--model", model, "--data", test_csv, "--out", preds],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    predict = time.perf_counter() - started
    labels = pd.read_csv(preds, keep_default_na=False, dtype=str)["prediction"].tolist()
    return labels, fit, predict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainhost", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", f"{ROOT}/target"), "debug", "trainhost"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--tables", default=",".join(TABLES))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.tables.split(","):
            target = TABLES[name]
            df = pd.read_csv(os.path.join(args.data, f"{name}.csv"), na_values=NA, keep_default_na=False)
            df = df[df[target].notna()].reset_index(drop=True)
            y = df[target].astype(str).to_numpy()
            ours, theirs, times = [], [], np.zeros(4)
            for train_idx, test_idx in folds(y):
                labels, fit, predict = run_plugin(args.trainhost, df, target, train_idx, test_idx, work)
                ours.append(float(np.mean(np.array(labels) == y[test_idx])))
                ref, sk_fit, sk_predict = reference(df, target, train_idx, test_idx)
                theirs.append(float(np.mean(ref == y[test_idx])))
                times += [fit, sk_fit, predict, sk_predict]
            a, b = float(np.mean(ours)), float(np.mean(theirs))
            rows.append((name, len(df), a, b, a - b, a >= b - 0.01, times))
            print(f"{name}: naive_bayes {a:.4f} scikit-learn {b:.4f}", file=sys.stderr)
    print("| table | rows | naive_bayes (trainhost) | scikit-learn GaussianNB + CategoricalNB | difference | within 1 point |"
          " fit: plugin / scikit-learn (s, 5 folds) | predict: `trainhost predict` / scikit-learn (s, 5 folds) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, a, b, d, ok, t in rows:
        print(f"| {name} | {n} | {a:.4f} | {b:.4f} | {d:+.4f} | {'yes' if ok else 'NO'} | {t[0]:.3f} / {t[1]:.4f} | {t[2]:.2f} / {t[3]:.4f} |")
    sys.exit(0 if all(r[5] for r in rows) else 1)


if __name__ == "__main__":
    main()
