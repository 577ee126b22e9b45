#!/usr/bin/env python3
"""Benchmark of this platform's sweeps against Optuna + LightGBM (issue 20). Printed, not a test.

One search space over gbdt (learningRate 0.01..0.3 log, numLeaves 8..255 log,
minDataInLeaf 5..100 log, featureFraction 0.5..1; nEstimators fixed, the rounds
successive halving spends), searched in the same run by:
  trainhost  `POST /sweeps` with "strategy": "asha" on a `trainhost serve` of this
             checkout (embedded broker, `[workers] concurrency` = the parallel trials)
  optuna     Optuna's TPESampler with its SuccessiveHalvingPruner, LightGBM with
             num_threads=1 per trial, the same number of trials at once (threads:
             LightGBM releases the GIL), pruning on the validation metric per round
Both get the same wall-clock budget and the same parallel trials (default: the
machine's cores). With --forest the same is done for random_forest against
Optuna + LightGBM's random forest mode (boosting=rf).

Tables, each split 80/20 (seeded) into a search part and a test part that neither
search sees: breast_cancer (classification: diagnosis) and diabetes (regression:
progression) from --data (the shared real tables), and a 200,000-row
make_classification synthetic table. Within the search part both contenders see the
same three shares of rows: 70% to fit on, 10% to prune on (the per-round score) and
20% to choose the best trial by. trainhost does this with testFraction 0.2 (its judged
rows, never handed to the plugin) and pluginValidationFraction 0.1; Optuna with a
seeded permutation cut 70/10/20, reporting the 10% to its pruner and returning the
score on the 20%. With --optuna-split stock Optuna instead fits on 80% and prunes and
chooses on the other 20%, as most Optuna scripts do: that gives it 14% more rows to
fit on than trainhost's trials get, so its test score is not a like-for-like figure.

Printed per table and contender: the best validation score, the best model's score on
the test part (trainhost: POST /jobs/{best}/predict on the uploaded test part, scored by
the host; optuna: the best trial's booster on the same rows), the trials finished and
pruned, and the time it took to get within 0.5% of its own final best. The machine may be
shared: `uptime` is printed beside the figures.

  python3 scripts/bench_sweep.py --budget 120 [--parallel 2] [--tables breast_cancer,diabetes,synthetic] [--forest]
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time, urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The shares of the search part: judged (choosing the best trial) and pruned on; the rest is fitted on.
JUDGED, PRUNED_ON = 0.2, 0.1
TABLES = {"breast_cancer": ("diagnosis", "classification"), "diabetes": ("progression", "regression"), "synthetic": ("y", "classification")}


def table(name, data_dir, out_dir):
    """(search csv, test csv, target, task): the table split 80/20, seeded."""
    import pandas as pd
    target, task = TABLES[name]
    if name == "synthetic":
        from sklearn.datasets import make_classification
        x, y = make_classification(n_samples=200_000, n_features=20, n_informative=10, random_state=0)
        df = pd.DataFrame(x, columns=[f"x{i}" for i in range(20)])
        df["y"] = np.where(y == 1, "yes", "no")
    else:
        df = pd.read_csv(os.path.join(data_dir, f"{name}.csv"))
    order = np.random.default_rng(0).permutation(len(df))
    cut = int(len(df) * 0.8)
    paths = []
    for part, rows in (("search", order[:cut]), ("test", order[cut:])):
        path = os.path.join(out_dir, f"{name}-{part}.csv")
        df.iloc[rows].to_csv(path, index=False)
        paths.append(path)
    return paths[0], paths[1], target, task


def within(history, final, higher=True, tol=0.005):
    """Seconds until the best so far is within `tol` of `final` (relative)."""
    for t, best in history:
        if (higher and best >= final - tol * abs(final)) or (not higher and best <= final + tol * abs(final)):
            return t
    return float("nan")


# ---------------------------------------------------------------- trainhost

class Server:
    def __init__(self, binary, parallel, budget):
        self.dir = tempfile.mkdtemp(prefix="bench-sweep-")
        plugins = os.path.join(ROOT, "build/plugins")
        config = os.path.join(self.dir, "trainhost.toml")
        with open(config, "w") as f:
            f.write(f"""[server]\nbind = "127.0.0.1:0"\n[storage]\ndata_dir = "{self.dir}/data"\n[workers]\nconcurrency = {parallel}\n
[auth]\nmode = "none"\n[default_limits]\nmemory_mib = 2048\ntime_secs = {budget * 2}\n
[[plugins]]\nname = "gbdt"\npath = "{plugins}/gbdt.wasm"\n[[plugins]]\nname = "random_forest"\npath = "{plugins}/random_forest.wasm"\n""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINHOST_")}
        self.proc = subprocess.Popen([binary, "--config", config, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        for line in self.proc.stdout:
            if "listening on" in line:
                self.url = line.split("listening on")[1].split()[0]
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def call(self, method, path, body=None, data=None, headers=None):
        req = urllib.request.Request(self.url + path, method=method, data=data if data is not None else (json.dumps(body).encode() if body is not None else None),
                                     headers=headers or ({"Content-Type": "application/json"} if body is not None else {}))
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def upload(self, path):
        boundary = "benchsweep"
        with open(path, "rb") as f:
            payload = f.read()
        data = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{os.path.basename(path)}\"\r\nContent-Type: text/csv\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", "/datasets", data=data, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})["data"]["id"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def trainhost_sweep(server, search, test, target, task, plugin, space, budget, parallel, rounds_param, rounds):
    metric = "accuracy" if task == "classification" else "r2"
    dataset, test_set = server.upload(search), server.upload(test)
    entry = {"selectedModel": plugin, rounds_param: rounds, **space}
    body = {"datasetId": dataset, "targetColumn": target, "taskType": task, "metric": metric, "strategy": "asha", "budgetSeconds": budget,
            "trials": 1000, "parallelTrials": parallel, "folds": 0, "seed": 1, "testFraction": JUDGED, "pluginValidationFraction": PRUNED_ON, "space": [entry]}
    started = time.monotonic()
    sweep = server.call("POST", "/sweeps", body)["data"]["sweepId"]
    history, best = [], None
    while True:
        data = server.call("GET", f"/sweeps/{sweep}")["data"]
        score = (data.get("best") or {}).get("score")
        if score is not None and score != best:
            best = score
            history.append((time.monotonic() - started, score))
        if data["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.25)
    trials = data.get("trials", [])
    if best is None:
        return {"error": data.get("message") or data["status"]}
    predicted = server.call("POST", f"/jobs/{data['best']['jobId']}/predict", {"datasetId": test_set})["data"]
    return {"validation": best, "test": predicted["score"]["metrics"][metric], "within": within(history, best), "wall": time.monotonic() - started,
            "finished": sum(t["status"] == "completed" for t in trials), "pruned": sum(t["status"] == "pruned" for t in trials)}


# ---------------------------------------------------------------- optuna

def optuna_sweep(search, test, target, task, forest, budget, parallel, rounds, stock_split=False):
    import lightgbm as lgb
    import optuna
    import pandas as pd
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    df, held = pd.read_csv(search), pd.read_csv(test)
    classes = sorted(df[target].astype(str).unique()) if task == "classification" else None

    def xy(frame):
        x = frame.drop(columns=[target])
        for c in x.columns:
            if x[c].dtype == object:
                x[c] = x[c].astype("category")
        y = frame[target].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy() if classes else frame[target].to_numpy(float)
        # All-numeric tables go to LightGBM as one float array: its pandas path,
        # entered from several Optuna threads at once, crashed the process here.
        if not any(x[c].dtype.name == "category" for c in x.columns):
            x = x.to_numpy(dtype=float)
        return x, y

    order = np.random.default_rng(1).permutation(len(df))
    if stock_split:
        cut = int(len(df) * 0.8)
        fit_rows, prune_rows, judged_rows = order[:cut], order[cut:], order[cut:]
    else:
        fit_cut, prune_cut = int(len(df) * (1 - JUDGED - PRUNED_ON)), int(len(df) * (1 - JUDGED))
        fit_rows, prune_rows, judged_rows = order[:fit_cut], order[fit_cut:prune_cut], order[prune_cut:]
    (xf, yf), (xv, yv), (xj, yj), (xt, yt) = xy(df.iloc[fit_rows]), xy(df.iloc[prune_rows]), xy(df.iloc[judged_rows]), xy(held)
    objective = ("binary" if len(classes) == 2 else "multiclass") if classes else "regression"

    def score(booster, x, y):
        p = booster.predict(x)
        if classes:
            labels = (p > 0.5).astype(int) if p.ndim == 1 else p.argmax(1)
            return float((labels == y).mean())
        return float(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())

    boosters, lock, history, started = {}, threading.Lock(), [], time.monotonic()

    def run(trial):
        params = {"objective": objective, "num_threads": 1, "verbose": -1, "seed": trial.number, "max_bin": 255,
                  "feature_fraction": trial.suggest_float("featureFraction", 0.5, 1.0)}
        if forest:
            params.update(boosting="rf", bagging_freq=1, bagging_fraction=trial.suggest_float("maxSamples", 0.3, 1.0), num_leaves=trial.suggest_int("numLeaves", 8, 255, log=True),
                          min_data_in_leaf=trial.suggest_int("minSamplesLeaf", 1, 50, log=True))
        else:
            params.update(learning_rate=trial.suggest_float("learningRate", 0.01, 0.3, log=True), num_leaves=trial.suggest_int("numLeaves", 8, 255, log=True),
                          min_data_in_leaf=trial.suggest_int("minDataInLeaf", 5, 100, log=True))
        if classes and len(classes) > 2:
            params["num_class"] = len(classes)
        train, valid = lgb.Dataset(xf, yf), lgb.Dataset(xv, yv)
        state = {}

        def report(env):
            if env.iteration % 5 == 4:
                value = score(env.model, xv, yv)
                trial.report(value, env.iteration + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        booster = lgb.train(params, train, num_boost_round=rounds, valid_sets=[valid], callbacks=[report])
        value = score(booster, xj, yj)
        with lock:
            boosters[trial.number] = booster
            best = max(value, max((b for _, b in history), default=-np.inf))
            history.append((time.monotonic() - started, best))
        state["v"] = value
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1), pruner=optuna.pruners.SuccessiveHalvingPruner())
    study.optimize(run, timeout=budget, n_jobs=parallel)
    best = study.best_trial
    states = [t.state for t in study.trials]
    return {"validation": best.value, "test": score(boosters[best.number], xt, yt), "within": within(history, best.value), "wall": time.monotonic() - started,
            "finished": states.count(optuna.trial.TrialState.COMPLETE), "pruned": states.count(optuna.trial.TrialState.PRUNED)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=int, default=120, help="wall-clock seconds per search")
    ap.add_argument("--parallel", type=int, default=os.cpu_count(), help="trials at once (default: the cores)")
    ap.add_argument("--tables", default="breast_cancer,diabetes,synthetic")
    ap.add_argument("--data", default="/work/shared/data", help="folder of the real tables")
    ap.add_argument("--rounds", type=int, default=200, help="gbdt's nEstimators (random_forest's with --forest)")
    ap.add_argument("--forest", action="store_true", help="random_forest against LightGBM's rf mode as well")
    ap.add_argument("--optuna-split", choices=["same", "stock"], default="same",
                    help="same: Optuna fits, prunes and chooses on the shares trainhost uses (70/10/20); stock: 80/20, pruning and choosing on one part")
    ap.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug/trainhost"))
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="bench-sweep-tables-")
    gbdt_space = {"learningRate": {"min": 0.01, "max": 0.3, "scale": "log"}, "numLeaves": {"min": 8, "max": 255, "scale": "log"},
                  "minDataInLeaf": {"min": 5, "max": 100, "scale": "log"}, "featureFraction": {"min": 0.5, "max": 1.0}}
    rf_space = {"maxSamples": {"min": 0.3, "max": 1.0}, "minSamplesLeaf": {"min": 1, "max": 50, "scale": "log"}, "maxFeatures": {"min": 0.5, "max": 1.0}}
    runs = [("gbdt", False, gbdt_space, "nEstimators")] + ([("random_forest", True, rf_space, "nEstimators")] if args.forest else [])
    print(f"budget {args.budget} s, {args.parallel} trials at once, {args.rounds} rounds, Optuna's split: {args.optuna_split}; load: {os.getloadavg()}")
    print(f"{'table':<14} {'plugin':<14} {'contender':<10} {'validation':>10} {'test':>8} {'finished':>8} {'pruned':>7} {'to 0.5%':>8} {'wall':>7}")
    for name in args.tables.split(","):
        search, test, target, task = table(name, args.data, out)
        for plugin, forest, space, rounds_param in runs:
            server = Server(args.binary, args.parallel, args.budget)
            try:
                ours = trainhost_sweep(server, search, test, target, task, plugin, space, args.budget, args.parallel, rounds_param, args.rounds)
            finally:
                server.stop()
            theirs = optuna_sweep(search, test, target, task, forest, args.budget, args.parallel, args.rounds, args.optuna_split == "stock")
            for who, r in (("trainhost", ours), ("optuna", theirs)):
                if "error" in r:
                    print(f"{name:<14} {plugin:<14} {who:<10} failed: {r['error']}")
                    continue
                print(f"{name:<14} {plugin:<14} {who:<10} {r['validation']:>10.4f} {r['test']:>8.4f} {r['finished']:>8} {r['pruned']:>7} {r['within']:>7.1f}s {r['wall']:>6.0f}s")
            sys.stdout.flush()
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
