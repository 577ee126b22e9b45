#!/usr/bin/env python3
"""Side-by-side benchmark of the random_forest plugin and scikit-learn
(n_jobs=1), in the same run, on make_classification / make_regression
(100k rows x 20, 80/20 split, 100 trees, full depth, default max features).

    python3 scripts/bench_random_forest.py [--runner native|trainhost] [--trees 100]
        [--big]            also train 20 trees on 1M x 20 (plugin only) and report its memory
        [--workdir DIR]    where the CSVs and models go (default /var/tmp/rf-bench)
        [--only cls|reg]   run one of the two tasks
        [--reuse-sklearn]  reuse scikit-learn's last measurement (sk_cls.json /
                           sk_reg.json in the workdir) instead of re-running it;
                           such rows are labelled "scikit-learn (cached)" and the
                           ratios are then not from one run

Times are fit only: the plugin's own training time (`rf_cli` measures around
`train`, CSV parsing excluded) against scikit-learn's `fit`. Both wall and
CPU seconds are printed; on a shared machine CPU seconds are the fairer
comparison. Peak memory: each side's process peak RSS, and for the plugin also
the peak heap of the train call (table included), which is what a WASM
instance's linear memory must hold.
"""
import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rf_common import Runner  # noqa: E402

FEATURES = [f"x{i}" for i in range(20)]


def make_data(workdir, kind, rows, seed=0):
    """Writes {kind}_{rows}_train/test.csv once; returns their paths."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification, make_regression
    from sklearn.model_selection import train_test_split
    train, test = (os.path.join(workdir, f"{kind}_{rows}_{part}.csv") for part in ("train", "test"))
    if os.path.exists(train) and os.path.exists(test):
        return train, test
    if kind == "cls":
        X, y = make_classification(rows, 20, n_informative=10, random_state=seed)
    else:
        X, y = make_regression(rows, 20, noise=10, random_state=seed)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed)
    for path, X_, y_ in ((train, Xtr, ytr), (test, Xte, yte)):
        frame = pd.DataFrame(X_.astype(np.float64), columns=FEATURES)
        frame["y"] = y_
        frame.to_csv(path, index=False, float_format="%.17g")
    return train, test


def sklearn_child(kind, train, test, trees, out):
    """Runs in its own process so its peak RSS is its own."""
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.metrics import accuracy_score, r2_score
    tr, te = pd.read_csv(train), pd.read_csv(test)
    X, y = tr[FEATURES].to_numpy(), tr["y"].to_numpy()
    Model = RandomForestClassifier if kind == "cls" else RandomForestRegressor
    model = Model(n_estimators=trees, random_state=0, n_jobs=1)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pred = model.predict(te[FEATURES].to_numpy())
    score = accuracy_score(te["y"], pred) if kind == "cls" else r2_score(te["y"], pred)
    result = {"fit_seconds": wall, "fit_cpu_seconds": cpu, "score": score,
              "model_bytes": len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)),
              "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    with open(out, "w") as f:
        json.dump(result, f)


def run_sklearn(kind, train, test, trees, workdir):
    out = os.path.join(workdir, f"sk_{kind}.json")
    subprocess.run([sys.executable, __file__, "--sklearn-child", kind, train, test, str(trees), out], check=True)
    with open(out) as f:
        return json.load(f)


def score_predictions(kind, test, predictions):
    import numpy as np
    import pandas as pd
    truth = pd.read_csv(test)["y"].to_numpy()
    if kind == "cls":
        return float(np.mean(np.array([int(float(p)) for p in predictions]) == truth))
    pred = np.array([float(p) for p in predictions])
    return float(1 - ((truth - pred) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())


def run_plugin(runner, kind, train, test, trees, workdir, params=None):
    model = os.path.join(workdir, f"rf_{kind}.bin")
    task = "classification" if kind == "cls" else "regression"
    params = {"nEstimators": trees, "oobScore": "false", **(params or {})}
    report = runner.train(train, "y", task, params, model)
    predictions = runner.predict(model, test, os.path.join(workdir, f"rf_{kind}_pred.csv"))
    report["score"] = score_predictions(kind, test, predictions)
    return report


def mb(n):
    return f"{n / 1e6:.1f}"


def print_table(rows):
    head = ["task", "implementation", "fit wall s", "fit CPU s", "score", "model MB", "peak RSS MB", "train heap MB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for task, name, r in rows:
        heap = mb(r["heap_peak_train_bytes"]) if "heap_peak_train_bytes" in r else "-"
        cpu = f"{r['fit_cpu_seconds']:.2f}" if "fit_cpu_seconds" in r else "-"
        rss = mb(r["peak_rss_bytes"]) if "peak_rss_bytes" in r else "-"
        print(f"| {task} | {name} | {r['fit_seconds']:.2f} | {cpu} | {r['score']:.4f} | "
              f"{mb(r['model_bytes'])} | {rss} | {heap} |")


def compare(kind, sk, rf):
    metric = "accuracy" if kind == "cls" else "R²"
    wall, cpu = sk["fit_seconds"] / rf["fit_seconds"], sk["fit_cpu_seconds"] / max(rf.get("fit_cpu_seconds", rf["fit_seconds"]), 1e-9)
    delta = rf["score"] - sk["score"]
    size = rf["model_bytes"] / sk["model_bytes"]
    print(f"{kind}: speed-up {wall:.1f}x wall, {cpu:.1f}x CPU; {metric} {delta:+.4f} vs scikit-learn; "
          f"model {size:.3f} of scikit-learn's pickle")
    if kind == "cls":
        ok = min(wall, cpu) >= 10 and delta >= -0.005
        print(f"  target (>=10x, accuracy >= -0.5 pt): {'MET' if ok else 'NOT MET'}")
    else:
        ok = min(wall, cpu) >= 10 and delta >= -0.005 and size <= 0.25
        print(f"  target (>=10x, R² >= -0.005, model <= 1/4): {'MET' if ok else 'NOT MET'}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--sklearn-child":
        kind, train, test, trees, out = sys.argv[2:7]
        return sklearn_child(kind, train, test, int(trees), out)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", choices=["native", "trainhost"], default="native")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--workdir", default="/var/tmp/rf-bench")
    ap.add_argument("--reuse-sklearn", action="store_true")
    ap.add_argument("--only", choices=["cls", "reg"])
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    runner = Runner(args.runner)
    rows = []
    for kind in (args.only,) if args.only else ("cls", "reg"):
        train, test = make_data(args.workdir, kind, args.rows)
        rf = run_plugin(runner, kind, train, test, args.trees, args.workdir)
        rows.append((kind, f"random_forest ({args.runner})", rf))
        if not args.skip_sklearn:
            cached = os.path.join(args.workdir, f"sk_{kind}.json")
            if args.reuse_sklearn and os.path.exists(cached):
                with open(cached) as f:
                    sk = json.load(f)
                rows.append((kind, "scikit-learn (cached)", sk))
            else:
                sk = run_sklearn(kind, train, test, args.trees, args.workdir)
                rows.append((kind, "scikit-learn", sk))
            print_table(rows[-2:])
            compare(kind, sk, rf)
            sys.stdout.flush()
    print()
    print_table(rows)
    if args.big:
        train, test = make_data(args.workdir, "cls", 1_000_000)
        rf = run_plugin(runner, "cls", train, test, 20, args.workdir)
        print("\n1M x 20 classification, 20 trees:")
        print_table([("cls 1M", f"random_forest ({args.runner})", rf)])


if __name__ == "__main__":
    main()
