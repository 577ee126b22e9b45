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



def load(path, task, cats):
    import pandas as pd
    df = pd.read_csv(path)
    y = df.pop("y")
    y = (y == "pos").astype(int).to_numpy() if task == "classification" else y.to_numpy()
    for c in cats:
        df[c] = df[c].astype("category")
    return df, y


def quality(task, y, p):
    from sklearn.metrics import log_loss, roc_auc_score
    p = np.asarray(p, dtype=float)
    if task == "classification":
        return {"auc": roc_auc_score(y, p), "logloss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))}
    return {"rmse": float(np.sqrt(np.mean((y - p) ** 2)))}


def child(fn):
    """Runs fn() in a fresh process; returns its dict plus that process's peak RSS."""
    import multiprocessing as mp
    q = mp.get_context("fork").SimpleQueue()

    def run():
        out = fn()
        out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        q.put(out)
    p = mp.get_context("fork").Process(target=run)
    p.start(); p.join()
    return q.get() if not q.empty() else {"error": f"exit {p.exitcode}"}


def lightgbm_run(d, rounds, leaves, threads):
    def fn():
        import lightgbm as lgb
        train, test, task, cats = dataset(d)
        x, y = load(train, task, cats); xt, yt = load(test, task, cats)
        xt = xt.astype({c: x[c].dtype for c in cats})
        params = {"objective": "binary" if task == "classification" else "regression", "learning_rate": 0.1, "num_leaves": leaves,
                  "max_bin": 255, "min_data_in_leaf": 20, "num_threads": threads, "verbose": -1, "seed": 0}
        w, c = time.perf_counter(), time.process_time()
        m = lgb.train(params, lgb.Dataset(x, y), rounds)
        w, c = time.perf_counter() - w, time.process_time() - c
        return {"fit_s": w, "fit_cpu_s": c, "model_bytes": len(m.model_to_string().encode()), **quality(task, yt, m.predict(xt))}
    return child(fn)


def xgboost_run(d, rounds, leaves):
    def fn():
        import xgboost as xgb
        train, test, task, cats = dataset(d)
        x, y = load(train, task, cats); xt, yt = load(test, task, cats)
        xt = xt.astype({c: x[c].dtype for c in cats})
        params = {"objective": "binary:logistic" if task == "classification" else "reg:squarederror", "eta": 0.1, "tree_method": "hist",
                  "grow_policy": "lossguide", "max_leaves": leaves, "max_depth": 0, "max_bin": 255, "nthread": 1, "min_child_weight": 1e-3, "seed": 0}
        w, c = time.perf_counter(), time.process_time()
        m = xgb.train(params, xgb.DMatrix(x, y, enable_categorical=True), rounds)
        w, c = time.perf_counter() - w, time.process_time() - c
        raw = m.save_raw(raw_format="ubj")
        return {"fit_s": w, "fit_cpu_s": c, "model_bytes": len(raw), **quality(task, yt, m.predict(xgb.DMatrix(xt, enable_categorical=True)))}
    return child(fn)


def catboost_run(d, rounds, leaves):
    def fn():
        import catboost as cb
        train, test, task, cats = dataset(d)
        x, y = load(train, task, cats); xt, yt = load(test, task, cats)
        for c in cats:
            x[c] = x[c].astype(str); xt[c] = xt[c].astype(str)
        depth = 8 if leaves > 31 else 5  # symmetric trees: 2^depth leaves
        cls = cb.CatBoostClassifier if task == "classification" else cb.CatBoostRegressor
        m = cls(iterations=rounds, learning_rate=0.1, depth=depth, border_count=254, thread_count=1, random_seed=0, verbose=False)
        w, c = time.perf_counter(), time.process_time()
        m.fit(x, y, cat_features=cats or None)
        w, c = time.perf_counter() - w, time.process_time() - c
        p = m.predict_proba(xt)[:, 1] if task == "classification" else m.predict(xt)
        path = f"{CACHE}/cb.model"
        m.save_model(path)
        return {"fit_s": w, "fit_cpu_s": c, "model_bytes": os.path.getsize(path), **quality(task, yt, p)}
    return child(fn)


def gbdt_params(rounds, leaves):
    return [f"nEstimators={rounds}", "learningRate=0.1", f"numLeaves={leaves}", "maxBins=255", "minDataInLeaf=20"]


def native_run(d, rounds, leaves, cli):
    train, test, task, cats = dataset(d)
    preds = f"{CACHE}/native_{d}.pred"
    cmd = [cli, "train", "--data", train, "--target", "y", "--task", task, "--test", test, "--predictions", preds, "--out", f"{CACHE}/native.model"]
    for p in gbdt_params(rounds, leaves):
        cmd += ["--param", p]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    _, yt = load(test, task, [])
    return {"fit_s": j["fit_seconds"], "fit_cpu_s": j["fit_cpu_seconds"], "model_bytes": j["model_bytes"],
            "peak_rss_mib": j["peak_rss_bytes"] / 2**20, "heap_train_mib": (j["heap_train_bytes"] + j["heap_request_bytes"]) / 2**20,
            **quality(task, yt, np.loadtxt(preds))}


def wasm_run(d, rounds, leaves, trainhost):
    """The plugin as WASM in `trainhost train` (limits from trainhost.toml). Fit time is
    the host's own figure for the plugin's train call; peak memory is the plugin's
    linear-memory peak as the host reports it."""
    import re
    import pandas as pd
    train, test, task, cats = dataset(d)
    model, preds = f"{CACHE}/wasm.model", f"{CACHE}/wasm_{d}.pred"
    cmd = [trainhost, "--config", f"{ROOT}/trainhost.toml", "train", "--plugin", "gbdt", "--data", train, "--target", "y", "--task", task,
           "--test-fraction", "0", "--plugin-validation-fraction", "0", "--seed", "0", "--out", model]
    for p in gbdt_params(rounds, leaves):
        cmd += ["--param", p]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    m = re.search(r" in ([0-9.]+) s \(peak plugin memory ([0-9.]+) MiB\)", out)
    test_features = f"{CACHE}/{d}_test_x.csv"
    if not os.path.exists(test_features):
        pd.read_csv(test).drop(columns=["y"]).to_csv(test_features, index=False, float_format="%.9g")
    subprocess.run([trainhost, "--config", f"{ROOT}/trainhost.toml", "predict", "--model", model, "--data", test_features, "--out", preds],
                   check=True, capture_output=True, cwd=ROOT)
    p = pd.read_csv(preds)
    _, yt = load(test, task, [])
    col = "p_pos" if task == "classification" else "prediction"
    return {"fit_s": float(m.group(1)), "fit_cpu_s": float("nan"), "model_bytes": os.path.getsize(model), "peak_rss_mib": float(m.group(2)),
            **quality(task, yt, p[col].to_numpy())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="a,b,c")
    ap.add_argument("--rounds", default="100,500")
    ap.add_argument("--leaves", default="255,31")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--contenders", default="gbdt-native,gbdt-wasm,lgb-1t,lgb-all,xgb-1t,cb-1t")
    target = os.environ.get("CARGO_TARGET_DIR", f"{ROOT}/target")
    ap.add_argument("--cli", default=f"{target}/release/examples/gbdt_cli")
    ap.add_argument("--trainhost", default=f"{target}/debug/trainhost")
    args = ap.parse_args()
    runners = {
        "gbdt-native": lambda d, r, l: native_run(d, r, l, args.cli),
        "gbdt-wasm": lambda d, r, l: wasm_run(d, r, l, args.trainhost),
        "lgb-1t": lambda d, r, l: lightgbm_run(d, r, l, 1),
        "lgb-all": lambda d, r, l: lightgbm_run(d, r, l, os.cpu_count()),
        "xgb-1t": xgboost_run,
        "cb-1t": catboost_run,
    }
    names = args.contenders.split(",")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    for d in args.datasets.split(","):
        dataset(d)
        for rounds in map(int, args.rounds.split(",")):
            for leaves in map(int, args.leaves.split(",")):
                results = {}
                for _ in range(args.repeat):  # interleaved, so load changes hit every contender alike
                    for n in names:
                        r = runners[n](d, rounds, leaves)
                        if n not in results or r.get("fit_s", 1e9) < results[n].get("fit_s", 1e9):
                            results[n] = r
                report(d, rounds, leaves, results)


def report(d, rounds, leaves, results):
    base = results.get("lgb-1t", {})
    score = "rmse" if d == "c" else "auc"
    print(f"\n### dataset {d}, {rounds} rounds, numLeaves {leaves} (load average {os.getloadavg()[0]:.1f})")
    print(f"| contender | fit s (wall) | fit s (CPU) | speed vs lgb-1t (wall) | {score} | {'logloss | ' if d != 'c' else ''}model bytes | peak memory MiB |")
    print("|---|---|---|---|---|" + ("---|" if d != "c" else "") + "---|---|")
    for n, r in results.items():
        if "error" in r:
            print(f"| {n} | {r['error']} |"); continue
        ratio = base.get("fit_s", float("nan")) / r["fit_s"]
        extra = f"{r['logloss']:.4f} | " if d != "c" else ""
        print(f"| {n} | {r['fit_s']:.2f} | {r['fit_cpu_s']:.2f} | {ratio:.2f} | {r[score]:.4f} | {extra}{r['model_bytes']:,} | {r['peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__" and not (len(sys.argv) > 1 and sys.argv[1] == "--generate"):
    main()

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--generate":
    for d in sys.argv[2].split(","):
        print(dataset(d))
    sys.exit(0)
