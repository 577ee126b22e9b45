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
  gbdt-wasm     the plugin as WASM inside `trainhost train` (limits on, from trainhost.toml),
                one instance (--instances 1), as the one-thread peers
  gbdt-wasm-all the same with the instances `trainhost train` offers by default (one a core;
                not in the default contenders)
  lgb-1t/lgb-all  LightGBM num_threads=1 / all cores
  xgb-1t        XGBoost tree_method=hist, grow_policy=lossguide, max_leaves, nthread=1
  cb-1t         CatBoost thread_count=1 (depth 6/8 symmetric trees: its own growth)

Figures, each contender in its own process:
  fit        the contender's own timing of training alone (data loading excluded; for
             gbdt-wasm the host's `fit` line: the plugin's train call, binning included,
             as for LightGBM whose Dataset construction is timed with the fit). CPU is
             user + system time of the process over the fit (all its threads); for
             gbdt-wasm the host's `train call CPU` line: the CPU clock of the threads
             that ran the train call (the copy of the table into the sandbox included).
  train run  the whole training run, end to end: reading the CSV, the fit, writing the
             model (for gbdt-wasm and gbdt-native the CLI process, its CPU time from
             getrusage of that child; for the Python peers the forked process up to
             the end of the fit, CPU from getrusage inside it).
  predict    end to end over every row of the table (train + test features, 1M rows
             for a and b): reading the CSV, loading the model, predicting, writing the
             predictions (for gbdt-wasm `trainhost predict`, for gbdt-native
             `gbdt_cli predict`, for the peers their own predict in one process).
  quality    AUC / log-loss (a, b) or RMSE (c) on the test rows (the last rows of the
             predict run). Peak memory: the process's peak RSS; for gbdt-wasm the
             plugin's linear-memory peak as the host reports it.
The machine may be shared: CPU time is the figure to judge speed by (wall clocks move
with the load); ratios are taken within one run against lgb-1t (> 1: faster than it).

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


def all_features(name):
    """A CSV of every row's features (the training rows, then the test rows): the predict input."""
    import pandas as pd
    train, test, _, _ = dataset(name)
    path = f"{CACHE}/{name}_all_x.csv"
    if not os.path.exists(path):
        x = pd.concat([pd.read_csv(train), pd.read_csv(test)]).drop(columns=["y"])
        x.to_csv(path + ".tmp", index=False, float_format="%.9g")
        os.replace(path + ".tmp", path)
    return path


def cpu_now():
    """User + system CPU seconds of this process so far (all its threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_timed(cmd, cwd=None):
    """Runs cmd to completion; returns (stdout, wall s, CPU s of that child from
    getrusage (user + system, its threads included), its peak RSS in MiB)."""
    import tempfile
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        wall = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - wall
        out.seek(0); err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{cmd[0]} failed: {err.read().decode()[-2000:]}")
        return out.read().decode(), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def py_predict(d, predict, frame):
    """Times an in-process predict over every row, end to end: read the CSV, predict,
    write the predictions. Returns the figures and the test rows' predictions."""
    import pandas as pd
    _, test, task, cats = dataset(d)
    w, c = time.perf_counter(), cpu_now()
    x = frame(pd.read_csv(all_features(d)))
    p = np.asarray(predict(x), dtype=float)
    pd.DataFrame({"p": p}).to_csv(f"{CACHE}/peer.pred", index=False)
    figures = {"pred_s": time.perf_counter() - w, "pred_cpu_s": cpu_now() - c, "pred_rows": len(p)}
    n_test = sum(1 for _ in open(test)) - 1
    return figures, p[-n_test:]



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
        out.setdefault("peak_rss_mib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        q.put(out)
    p = mp.get_context("fork").Process(target=run)
    p.start(); p.join()
    return q.get() if not q.empty() else {"error": f"exit {p.exitcode}"}


def cast_like(x, cats):
    """The predict table's categorical columns with the training table's levels."""
    def frame(df):
        for c in cats:
            df[c] = df[c].astype(x[c].dtype)
        return df
    return frame


def timed_fit(fit):
    """Runs fit(); returns the model and its wall / CPU seconds, and the process's
    CPU seconds and peak RSS from its start to the end of the fit (the training run)."""
    w, c = time.perf_counter(), cpu_now()
    m = fit()
    return m, {"fit_s": time.perf_counter() - w, "fit_cpu_s": cpu_now() - c, "run_cpu_s": cpu_now(),
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def lightgbm_run(d, rounds, leaves, threads):
    def fn():
        import lightgbm as lgb
        start = time.perf_counter()
        train, test, task, cats = dataset(d)
        x, y = load(train, task, cats)
        params = {"objective": "binary" if task == "classification" else "regression", "learning_rate": 0.1, "num_leaves": leaves,
                  "max_bin": 255, "min_data_in_leaf": 20, "num_threads": threads, "verbose": -1, "seed": 0}
        m, fig = timed_fit(lambda: lgb.train(params, lgb.Dataset(x, y), rounds))
        fig["run_s"] = time.perf_counter() - start
        _, yt = load(test, task, cats)
        pred, p = py_predict(d, lambda xt: m.predict(xt, num_threads=threads), cast_like(x, cats))
        return {**fig, **pred, "model_bytes": len(m.model_to_string().encode()), **quality(task, yt, p)}
    return child(fn)


def xgboost_run(d, rounds, leaves):
    def fn():
        import xgboost as xgb
        start = time.perf_counter()
        train, test, task, cats = dataset(d)
        x, y = load(train, task, cats)
        params = {"objective": "binary:logistic" if task == "classification" else "reg:squarederror", "eta": 0.1, "tree_method": "hist",
                  "grow_policy": "lossguide", "max_leaves": leaves, "max_depth": 0, "max_bin": 255, "nthread": 1, "min_child_weight": 1e-3, "seed": 0}
        m, fig = timed_fit(lambda: xgb.train(params, xgb.DMatrix(x, y, enable_categorical=True), rounds))
        fig["run_s"] = time.perf_counter() - start
        _, yt = load(test, task, cats)
        pred, p = py_predict(d, lambda xt: m.predict(xgb.DMatrix(xt, enable_categorical=True)), cast_like(x, cats))
        return {**fig, **pred, "model_bytes": len(m.save_raw(raw_format="ubj")), **quality(task, yt, p)}
    return child(fn)


def catboost_run(d, rounds, leaves):
    def fn():
        import catboost as cb
        start = time.perf_counter()
        train, test, task, cats = dataset(d)
        x, y = load(train, task, cats)
        for c in cats:
            x[c] = x[c].astype(str)
        depth = 8 if leaves > 31 else 5  # symmetric trees: 2^depth leaves
        cls = cb.CatBoostClassifier if task == "classification" else cb.CatBoostRegressor
        m = cls(iterations=rounds, learning_rate=0.1, depth=depth, border_count=254, thread_count=1, random_seed=0, verbose=False)
        _, fig = timed_fit(lambda: m.fit(x, y, cat_features=cats or None))
        fig["run_s"] = time.perf_counter() - start
        _, yt = load(test, task, cats)

        def as_text(df):
            for c in cats:
                df[c] = df[c].astype(str)
            return df
        pred, p = py_predict(d, lambda xt: m.predict_proba(xt)[:, 1] if task == "classification" else m.predict(xt), as_text)
        path = f"{CACHE}/cb.model"
        m.save_model(path)
        return {**fig, **pred, "model_bytes": os.path.getsize(path), **quality(task, yt, p)}
    return child(fn)


def gbdt_params(rounds, leaves):
    return [f"nEstimators={rounds}", "learningRate=0.1", f"numLeaves={leaves}", "maxBins=255", "minDataInLeaf=20"]


def test_rows(path):
    return sum(1 for _ in open(path)) - 1


def native_run(d, rounds, leaves, cli):
    train, test, task, cats = dataset(d)
    model, preds = f"{CACHE}/native.model", f"{CACHE}/native_{d}.pred"
    cmd = [cli, "train", "--data", train, "--target", "y", "--task", task, "--out", model]
    for p in gbdt_params(rounds, leaves):
        cmd += ["--param", p]
    out, run_s, run_cpu, _ = run_timed(cmd)
    j = json.loads(out.strip().splitlines()[-1])
    out, pred_s, pred_cpu, _ = run_timed([cli, "predict", "--model", model, "--data", all_features(d), "--predictions", preds])
    p = np.loadtxt(preds)
    _, yt = load(test, task, [])
    return {"fit_s": j["fit_seconds"], "fit_cpu_s": j["fit_cpu_seconds"], "run_s": run_s, "run_cpu_s": run_cpu,
            "pred_s": pred_s, "pred_cpu_s": pred_cpu, "pred_rows": len(p), "model_bytes": j["model_bytes"],
            "peak_rss_mib": j["peak_rss_bytes"] / 2**20, "heap_train_mib": (j["heap_train_bytes"] + j["heap_request_bytes"]) / 2**20,
            **quality(task, yt, p[-test_rows(test):])}


def wasm_run(d, rounds, leaves, trainhost, instances=1):
    """The plugin as WASM in `trainhost train` (limits from trainhost.toml), then
    `trainhost predict` on every row. The fit figure is the host's own for the
    plugin's train call; peak memory is the plugin's linear-memory peak."""
    import re
    import pandas as pd
    train, test, task, cats = dataset(d)
    model, preds = f"{CACHE}/wasm.model", f"{CACHE}/wasm_{d}.pred"
    config = ["--config", f"{ROOT}/trainhost.toml"]
    cmd = [trainhost, *config, "train", "--plugin", "gbdt", "--data", train, "--target", "y", "--task", task,
           "--test-fraction", "0", "--plugin-validation-fraction", "0", "--seed", "0", "--out", model]
    if instances:
        cmd += ["--instances", str(instances)]
    for p in gbdt_params(rounds, leaves):
        cmd += ["--param", p]
    out, run_s, run_cpu, _ = run_timed(cmd, cwd=ROOT)
    m = re.search(r" in ([0-9.]+) s \(peak plugin memory ([0-9.]+) MiB\)", out)
    call_cpu = float(re.search(r"train call CPU: ([0-9.]+) s", out).group(1))
    _, pred_s, pred_cpu, _ = run_timed([trainhost, *config, "predict", "--model", model, "--data", all_features(d), "--out", preds], cwd=ROOT)
    p = pd.read_csv(preds)[("p_pos" if task == "classification" else "prediction")].to_numpy()
    _, yt = load(test, task, [])
    return {"fit_s": float(m.group(1)), "fit_cpu_s": call_cpu, "run_s": run_s, "run_cpu_s": run_cpu,
            "pred_s": pred_s, "pred_cpu_s": pred_cpu, "pred_rows": len(p), "model_bytes": os.path.getsize(model),
            "peak_rss_mib": float(m.group(2)), **quality(task, yt, p[-test_rows(test):])}


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
        # Every core: as many instances as `trainhost train` offers by default (contract 0.4.0).
        "gbdt-wasm-all": lambda d, r, l: wasm_run(d, r, l, args.trainhost, instances=None),
        "lgb-1t": lambda d, r, l: lightgbm_run(d, r, l, 1),
        "lgb-all": lambda d, r, l: lightgbm_run(d, r, l, os.cpu_count()),
        "xgb-1t": xgboost_run,
        "cb-1t": catboost_run,
    }
    names = args.contenders.split(",")
    if "gbdt-wasm" in names:
        # Loading the plugins compiles them into the host's compile cache, so no
        # timed run pays for compiling the WASM.
        subprocess.run([args.trainhost, "--config", f"{ROOT}/trainhost.toml", "plugins"], check=True, capture_output=True, cwd=ROOT)
    import lightgbm
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; LightGBM {lightgbm.__version__}; "
          "CPU time (user + system, getrusage) is the figure to judge speed by on a shared machine", flush=True)
    for d in args.datasets.split(","):
        dataset(d); all_features(d)
        for rounds in map(int, args.rounds.split(",")):
            for leaves in map(int, args.leaves.split(",")):
                results = {}
                for _ in range(args.repeat):  # interleaved, so load changes hit every contender alike
                    for n in names:
                        try:
                            r = runners[n](d, rounds, leaves)
                        except Exception as e:  # one contender failing must not lose the others' figures
                            r = {"error": str(e)[-300:]}
                        if n not in results or r.get("fit_s", 1e9) < results[n].get("fit_s", 1e9):
                            results[n] = r
                report(d, rounds, leaves, results)


def report(d, rounds, leaves, results):
    base = results.get("lgb-1t", {})
    score = "rmse" if d == "c" else "auc"
    ratio = lambda key, r: base.get(key, float("nan")) / r[key] if r.get(key) else float("nan")
    print(f"\n### dataset {d}, {rounds} rounds, numLeaves {leaves} (load average {os.getloadavg()[0]:.1f}; "
          "judge speed by CPU time, the machine is shared; x = lgb-1t's time / this one's, > 1 is faster)")
    print(f"| contender | fit s wall | fit s CPU | x fit CPU | train run s wall | train run s CPU | x train run CPU | x fit wall "
          f"| predict s wall | predict s CPU | x predict CPU | {score} | {'logloss | ' if d != 'c' else ''}model bytes | peak MiB |")
    print("|---" * (15 if d != "c" else 14) + "|")
    for n, r in results.items():
        if "error" in r:
            print(f"| {n} | {r['error']} |"); continue
        extra = f"{r['logloss']:.4f} | " if d != "c" else ""
        print(f"| {n} | {r['fit_s']:.2f} | {r['fit_cpu_s']:.2f} | {ratio('fit_cpu_s', r):.2f} | {r['run_s']:.2f} | {r['run_cpu_s']:.2f} | {ratio('run_cpu_s', r):.2f} "
              f"| {ratio('fit_s', r):.2f} | {r['pred_s']:.2f} | {r['pred_cpu_s']:.2f} | {ratio('pred_cpu_s', r):.2f} | {r[score]:.4f} | {extra}"
              f"{r['model_bytes']:,} | {r['peak_rss_mib']:.0f} |", flush=True)
    rows = next((r["pred_rows"] for r in results.values() if "pred_rows" in r), 0)
    print(f"(predict: {rows:,} rows, end to end)")


if __name__ == "__main__" and not (len(sys.argv) > 1 and sys.argv[1] == "--generate"):
    main()

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--generate":
    for d in sys.argv[2].split(","):
        print(dataset(d))
    sys.exit(0)
