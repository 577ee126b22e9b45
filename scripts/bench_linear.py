#!/usr/bin/env python3
"""Benchmark of the `linear` plugin against scikit-learn, printed.

Two fits on synthetic tables of ROWS × 50 numeric columns:
  - L2 logistic regression (C = 1) on `make_classification`;
  - ridge regression (alpha = 1) on `make_regression`.
Each is run as this plugin natively (`linear_cli`, release) and as WASM inside the
host (`trainhost train`, the time the plugin reports for its own fit), and as
scikit-learn (StandardScaler + estimator, as the plugin standardises too) with
numpy's BLAS on one thread and on all, in the same run. Fit time is to the same
objective: each scikit-learn solver is run with a tighter tol until its objective
is within 1e-6 relative of the best one any run reached; the time shown is that
run's (the objective is the plugin's: mean loss + penalty, on standardised data).
Wall and CPU seconds are both printed: on a shared machine the wall time also
counts the time other processes held the cores (the WASM row's CPU is the whole
`trainhost train` run: reading and encoding the table, compiling the plugin).

    python3 scripts/bench_linear.py                  # 1,000,000 rows
    python3 scripts/bench_linear.py --rows 200000    # a busy machine
Needs scikit-learn, pyarrow, the plugins built (scripts/build-plugins) and the host
binary (cargo build -p trainhost --bin trainhost); CARGO_TARGET_DIR is honoured.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
COLS = 50
MATCH = 1e-6


def build():
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "linear", "--example", "linear_cli"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--quiet", "-p", "trainhost", "--bin", "trainhost"], cwd=ROOT, check=True)


def objective(kind, X, y, coef, intercept, n, strength):
    """The plugin's objective on standardised X: mean loss + penalty (scikit-learn's units converted)."""
    z = X @ coef + intercept
    if kind == "logistic":
        # mean log loss + |w|^2 / (2 C n)
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + coef @ coef / (2 * strength * n))
    # mean half squared error + (alpha / n) |w|^2 / 2
    r = y - z
    return float(r @ r / (2 * n) + strength / n * (coef @ coef) / 2)


def sklearn_runs(kind, X, y, threads, best):
    """(solver, seconds, objective) of the first run of each solver within MATCH of `best`."""
    n = len(y)
    scaled_once = StandardScaler().fit_transform(X)
    out = []
    solvers = ["lbfgs", "newton-cholesky"] if kind == "logistic" else ["cholesky", "lsqr"]
    for solver in solvers:
        for tol in [1e-4, 1e-6, 1e-8, 1e-10, 1e-12]:
            est = LogisticRegression(C=1.0, solver=solver, tol=tol, max_iter=100_000) if kind == "logistic" else Ridge(alpha=1.0, solver=solver, tol=tol)
            model = make_pipeline(StandardScaler(), est)
            with threadpool_limits(limits=threads):
                start, cpu = time.perf_counter(), time.process_time()
                model.fit(X, y)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            fitted = model[-1]
            obj = objective(kind, scaled_once, y, np.ravel(fitted.coef_), float(np.ravel([fitted.intercept_])[0]), n, 1.0)
            out.append((f"{solver} tol={tol:g}", seconds, cpu, obj))
            if obj <= best * (1 + MATCH) or solver == "cholesky":
                break
    return out


def plugin_native(kind, raw, rows):
    task = "classification" if kind == "logistic" else "regression"
    params = ["penalty=l2", "c=1"] if kind == "logistic" else ["penalty=l2", "alpha=1"]
    args = [os.path.join(TARGET, "release", "examples", "linear_cli"), "fit", "--raw", raw, "--rows", str(rows), "--cols", str(COLS), "--task", task, "--no-predictions"]
    for p in params:
        args += ["--param", p]
    out = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    return out["fit_seconds"], out["fit_cpu_seconds"], out["metrics"]["objective"]


def plugin_wasm(kind, parquet, rows, workdir):
    task = "classification" if kind == "logistic" else "regression"
    params = ["penalty=l2", "c=1"] if kind == "logistic" else ["penalty=l2", "alpha=1"]
    config = os.path.join(workdir, "trainhost.toml")
    with open(config, "w") as f:
        f.write(f'[storage]\ndata_dir = "{workdir}/data"\n[limits]\nmax_table_cells = {rows * (COLS + 1) + 1}\nmax_table_mib = 4096\n'
                f'[[plugins]]\nname = "linear"\npath = "{ROOT}/build/plugins/linear.wasm"\nlimits = {{ memory_mib = 4000, time_secs = 3600.0 }}\n')
    args = [os.path.join(TARGET, "debug", "trainhost"), "--config", config, "train", "--plugin", "linear", "--data", parquet, "--target", "y", "--task", task,
            "--test-fraction", "0", "--plugin-validation-fraction", "0", "--out", os.path.join(workdir, "model.bin")]
    for p in params:
        args += ["--param", p]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"trainhost failed:\n{result.stdout}\n{result.stderr}")
    m = re.search(r"iterations in ([0-9.]+) s, objective ([0-9.e+-]+)", result.stderr)
    return float(m.group(1)), cli_cpu, float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    build()
    rows = args.rows
    all_threads = os.cpu_count()
    print(f"{rows:,} rows × {COLS} columns; scikit-learn on 1 and {all_threads} BLAS threads; fit time to the same objective (within {MATCH:g})\n")
    with tempfile.TemporaryDirectory() as workdir:
        for kind in ["logistic", "ridge"]:
            if kind == "logistic":
                X, y = make_classification(n_samples=rows, n_features=COLS, n_informative=30, n_redundant=10, random_state=0)
                y = y.astype(float)
            else:
                X, y = make_regression(n_samples=rows, n_features=COLS, n_informative=30, noise=10.0, random_state=0)
            raw = os.path.join(workdir, f"{kind}.f64")
            np.column_stack([X, y]).astype("<f8").tofile(raw)
            parquet = os.path.join(workdir, f"{kind}.parquet")
            cols = {f"x{j}": X[:, j] for j in range(COLS)}
            cols["y"] = y.astype(int).astype(str) if kind == "logistic" else y
            pq.write_table(pa.table(cols), parquet)
            native = plugin_native(kind, raw, rows)
            wasm = plugin_wasm(kind, parquet, rows, workdir)
            best = min(native[2], wasm[2])
            runs = [("plugin, native", "", *native), ("plugin, WASM in the host (cpu: whole CLI)", "", *wasm)]
            for threads in [1, all_threads]:
                runs += [("scikit-learn " + solver, f"{threads} thread{'s' if threads > 1 else ''}", s, c, o) for solver, s, c, o in sklearn_runs(kind, X, y, threads, best)]
            best = min(r[4] for r in runs)
            print(f"{'L2 logistic regression, C = 1' if kind == 'logistic' else 'ridge regression, alpha = 1'}")
            print(f"  {'fit':<42} {'BLAS':<10} {'wall s':>8} {'cpu s':>8} {'objective':>22} {'rel. gap':>9} {'wall / WASM':>12}")
            for name, threads, seconds, cpu, obj in runs:
                gap = (obj - best) / abs(best)
                print(f"  {name:<42} {threads:<10} {seconds:>8.3f} {cpu:>8.2f} {obj:>22.15e} {gap:>9.1e} {seconds / wasm[0]:>11.2f}x")
            print()


if __name__ == "__main__":
    main()
