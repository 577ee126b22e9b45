#!/usr/bin/env python3
"""Benchmark of the gbdt plugin against LightGBM, XGBoost and CatBoost (issue 15).

Datasets, each split 80/20 (seeded) into a training and a test part:
  a  make_classification(1_000_000, 28, n_informative=14, random_state=0)       binary
  b  1M rows: 3 categorical columns (20, 100, 300 levels, Zipf-skewed) and 6
     numeric ones; the target's log-odds depend on the categories   binary
  c  make_regression(500_000, 20, noise=10, random_state=0)                      regression

Contenders, same hyperparameters (rounds, learning rate 0.1, num_leaves, max_bin 255,
min_data_in_leaf 20, no bagging):
  gbdt-native   the plugin's Rust code built natively (examples/gbdt_cli.rs, release)
  gbdt-wasm     the plugin as WASM inside `trainhost train` (limits on, from trainhost.toml)
  lgb-1t/lgb-all  LightGBM num_threads=1 / all cores
  xgb-1t        XGBoost tree_method=hist, grow_policy=lossguide, max_leaves, nthread=1
  cb-1t         CatBoost thread_count=1 (depth 6/8 symmetric trees: its own growth)

Fit time is wall-clock of training alone (data loading excluded; for gbdt-wasm the
host's `fit` line: the plugin's train call, binning included, as for LightGBM whose
Dataset construction is timed with the fit). Peak memory: the process's peak RSS
(each contender runs in its own subprocess). The machine is shared: each figure is
the fastest of --repeat runs, and ratios are taken within one run.

  python3 scripts/bench_gbdt.py --datasets a,b --rounds 100 --leaves 31
"""
import argparse, json, os, resource, subprocess, sys, time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("GBDT_BENCH_DIR", "/var/tmp/gbdt-bench")


def make_b(n=1_000_000, seed=0):
    rng = np.random.default_rng(seed)
    cols = {}
    logit = np.zeros(n)
    codes_of = {}
    for name, levels in (("c20", 20), ("c100", 100), ("c300", 300)):
        p = 1.0 / np.arange(1, levels + 1) ** 1.1  # Zipf-like: a few levels hold most rows
        p /= p.sum()
        codes = rng.choice(levels, size=n, p=p)
        effect = rng.normal(0, 1.0, levels)
        logit += effect[codes]
        codes_of[name] = codes
        cols[name] = np.array([f"{name}_{k}" for k in range(levels)])[codes]
    x = rng.normal(size=(n, 6))
    logit += 0.8 * x[:, 0] - 0.5 * x[:, 1] * x[:, 2] + np.sin(2 * x[:, 3]) + 0.3 * np.abs(x[:, 4])
    # One interaction between a category and a number.
    logit += np.where(codes_of["c20"] % 3 == 1, x[:, 5], -0.3 * x[:, 5])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    import pandas as pd
    df = pd.DataFrame({**{k: v for k, v in cols.items()}, **{f"x{i}": x[:, i] for i in range(6)}})
    df["y"] = y
    return df


def dataset(name):
    """(train csv, test csv, task, categorical columns) of a dataset, generated once."""
    import pandas as pd
    from sklearn.datasets import make_classification, make_regression
    task = "regression" if name == "c" else "classification"
    cats = ["c20", "c100", "c300"] if name == "b" else []
    train, test = f"{CACHE}/{name}_train.csv", f"{CACHE}/{name}_test.csv"
    if not (os.path.exists(train) and os.path.exists(test)):
        os.makedirs(CACHE, exist_ok=True)
        if name == "a":
            x, y = make_classification(1_000_000, 28, n_informative=14, random_state=0)
            df = pd.DataFrame(x, columns=[f"f{i}" for i in range(28)]); df["y"] = y
        elif name == "b":
            df = make_b()
        else:
            x, y = make_regression(500_000, 20, noise=10, random_state=0)
            df = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)]); df["y"] = y
        if task == "classification":
            df["y"] = np.where(df["y"] == 1, "pos", "neg")
        idx = np.random.default_rng(1).permutation(len(df))
        cut = int(0.8 * len(df))
        df.iloc[idx[:cut]].to_csv(train + ".tmp", index=False, float_format="%.9g")
        df.iloc[idx[cut:]].to_csv(test + ".tmp", index=False, float_format="%.9g")
        os.replace(train + ".tmp", train); os.replace(test + ".tmp", test)
    return train, test, task, cats


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--generate":
    for d in sys.argv[2].split(","):
        print(dataset(d))
    sys.exit(0)
