#!/usr/bin/env python3
"""Benchmark of the `linear` plugin against scikit-learn, printed as ratios.

Two fits on synthetic tables of ROWS × 50 numeric columns:
  - L2 logistic regression (C = 1) on `make_classification`;
  - ridge regression (alpha = 1) on `make_regression`.
In the same run:
  - this plugin natively (`linear_cli`, release): its fit alone (the plugin's own
    clocks) and the whole process (which also reads a raw f64 file);
  - this plugin as WASM inside the host, end to end: the whole `trainhost train`
    run (reading the Parquet file, encoding it for the plugin, the fit, predicting
    every row and scoring them, writing the model), CPU from wait4() of the
    child, peak memory from /usr/bin/time; the plugin's fit alone by its own (wall) clock; and
    compiling the plugin (once per plugin file: cached, so not in the train runs);
  - scikit-learn (StandardScaler + estimator, as the plugin standardises too):
    logistic with lbfgs, newton-cholesky, liblinear and saga, ridge with cholesky
    and lsqr, with numpy's BLAS on one thread and on all (liblinear and saga use
    no BLAS: one thread only); the fit alone (CPU: process_time, every thread);
  - scikit-learn end to end in a child process like the CLI: start Python, read
    the same Parquet file, fit (lbfgs or cholesky, one BLAS thread), predict every
    row and score it.
Fit time is to the same objective: every solver, this plugin too, is run with a
tighter tol until its objective is within 1e-6 relative of the best any run
reached (the objective is the plugin's: mean loss + penalty, on standardised data);
the time shown is that run's. Ratios are CPU seconds over the WASM run's (end to
end) and wall seconds likewise: > 1 means slower than trainhost. On a shared
machine the wall time also counts the time other processes held the cores; CPU
time does not. The target line (issue 18: the fit as WASM at least as fast as
scikit-learn's fit on one BLAS thread) holds the WASM fit, which has only a wall
clock, to both of scikit-learn's clocks; the whole CLI run is printed beside it.

    python3 scripts/bench_linear.py                            # 1,000,000 rows
    python3 scripts/bench_linear.py --rows 200000 --repeat 3   # best of 3 per row
Needs scikit-learn, pyarrow, threadpoolctl, the plugins built (scripts/build-plugins)
and the host binary (BENCH_TRAINHOST_BIN, or $CARGO_TARGET_DIR/debug/trainhost, built
by `cargo build -p trainhost --bin trainhost` when missing).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
COLS = 50
MATCH = 1e-6
TOLS = [1e-4, 1e-6, 1e-8, 1e-10, 1e-12]

# The scikit-learn run in a child process, end to end: read the Parquet file, fit, predict, score.
PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, pyarrow.parquet as pq
from threadpoolctl import threadpool_limits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import roc_auc_score, r2_score
kind, path, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
with threadpool_limits(limits=1):
    table = pq.read_table(path)
    X = np.column_stack([table.column(f"x{j}").to_numpy() for j in range(50)])
    if kind == "logistic":
        y = table.column("y").to_numpy().astype(int)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=tol, max_iter=100_000)).fit(X, y)
        p = model.predict_proba(X)[:, 1]
        score = {"accuracy": float(np.mean((p > 0.5) == y)), "roc_auc": float(roc_auc_score(y, p))}
    else:
        y = table.column("y").to_numpy()
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0, solver="cholesky")).fit(X, y)
        score = {"r2": float(r2_score(y, model.predict(X)))}
print(json.dumps(score))
"""


def run_child(args, env=None):
    """(returncode, stdout, stderr, wall s, cpu s, peak RSS MiB) of one child process: CPU from wait4(),
    peak RSS from /usr/bin/time (a child forked from this large Python process starts with its RSS)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile(mode="r") as peak:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", peak.name] + args, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        kib = re.findall(r"^[0-9]+$", peak.read(), re.M)
        return proc.returncode, out.read().decode(), err.read().decode(), wall, cpu, float(kib[-1]) / 1024 if kib else float("nan")


def host_binary():
    path = os.environ.get("BENCH_TRAINHOST_BIN") or os.path.join(TARGET, "debug", "trainhost")
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--quiet", "-p", "trainhost", "--bin", "trainhost"], cwd=ROOT, check=True)
    return path


def build():
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "linear", "--example", "linear_cli"], cwd=ROOT, check=True)
    return host_binary()


def objective(kind, X, y, coef, intercept, n, strength):
    """The plugin's objective on standardised X: mean loss + penalty (scikit-learn's units converted)."""
    z = X @ coef + intercept
    if kind == "logistic":
        # mean log loss + |w|^2 / (2 C n)
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + coef @ coef / (2 * strength * n))
    # mean half squared error + (alpha / n) |w|^2 / 2
    r = y - z
    return float(r @ r / (2 * n) + strength / n * (coef @ coef) / 2)


def sklearn_estimator(kind, solver, tol):
    if kind == "ridge":
        return Ridge(alpha=1.0, solver=solver, tol=tol)
    extra = {"random_state": 0} if solver in ("saga", "liblinear") else {}
    return LogisticRegression(C=1.0, solver=solver, tol=tol, max_iter=100_000, **extra)


def ladder(run, best):
    """The first run of the tol ladder whose objective is within MATCH of `best` (else the last): (tol, result)."""
    for tol in TOLS:
        result = run(tol)
        if result["objective"] <= best * (1 + MATCH):
            break
    return tol, result


def best_of(repeat, run):
    """The run with the least CPU of `repeat` (the same work each time)."""
    return min((run() for _ in range(repeat)), key=lambda r: r["cpu"])


def sklearn_fit(kind, X, y, scaled, solver, threads, tol):
    model = make_pipeline(StandardScaler(), sklearn_estimator(kind, solver, tol))
    with threadpool_limits(limits=threads):
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(X, y)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    fitted = model[-1]
    obj = objective(kind, scaled, y, np.ravel(fitted.coef_), float(np.ravel([fitted.intercept_])[0]), len(y), 1.0)
    return {"wall": wall, "cpu": cpu, "objective": obj}


def plugin_params(kind, tol):
    params = ["penalty=l2", "c=1"] if kind == "logistic" else ["penalty=l2", "alpha=1"]
    return params + [f"tol={tol:g}"]


def plugin_native(kind, raw, rows, tol):
    task = "classification" if kind == "logistic" else "regression"
    args = [os.path.join(TARGET, "release", "examples", "linear_cli"), "fit", "--raw", raw, "--rows", str(rows), "--cols", str(COLS), "--task", task, "--no-predictions"]
    for p in plugin_params(kind, tol):
        args += ["--param", p]
    code, stdout, stderr, wall, cpu, rss = run_child(args)
    if code != 0:
        raise SystemExit(f"linear_cli failed:\n{stderr}")
    out = json.loads(stdout)
    return {"wall": out["fit_seconds"], "cpu": out["fit_cpu_seconds"], "objective": out["metrics"]["objective"], "process": (wall, cpu, rss)}


def host_config(workdir, rows):
    config = os.path.join(workdir, "trainhost.toml")
    with open(config, "w") as f:
        f.write(f'[storage]\ndata_dir = "{workdir}/data"\n[limits]\nmax_table_cells = {rows * (COLS + 1) + 1}\nmax_table_mib = 16384\n'
                f'[[plugins]]\nname = "linear"\npath = "{ROOT}/build/plugins/linear.wasm"\nlimits = {{ memory_mib = 16000, time_secs = 3600.0 }}\n')
    return config


def compile_plugin(host, config):
    """Loads the plugin once with an empty compile cache: (wall, cpu) of compiling it."""
    code, _, stderr, wall, cpu, _ = run_child([host, "--config", config, "plugins"], env={**os.environ, "NO_COLOR": "1"})
    if code != 0:
        raise SystemExit(f"trainhost plugins failed:\n{stderr}")
    return wall, cpu


def plugin_wasm(host, config, kind, parquet, workdir, tol):
    task = "classification" if kind == "logistic" else "regression"
    args = [host, "--config", config, "train", "--plugin", "linear", "--data", parquet, "--target", "y", "--task", task,
            "--test-fraction", "0", "--plugin-validation-fraction", "0", "--out", os.path.join(workdir, "model.bin")]
    for p in plugin_params(kind, tol):
        args += ["--param", p]
    code, stdout, stderr, wall, cpu, rss = run_child(args, env={**os.environ, "NO_COLOR": "1"})
    if code != 0:
        raise SystemExit(f"trainhost failed:\n{stdout}\n{stderr}")
    m = re.search(r"iterations in ([0-9.]+) s, objective ([0-9.e+-]+)", stderr)
    return {"wall": wall, "cpu": cpu, "rss": rss, "fit_wall": float(m.group(1)), "objective": float(m.group(2))}


def peer_end_to_end(kind, parquet, tol):
    code, stdout, stderr, wall, cpu, rss = run_child([sys.executable, "-c", PEER_SCRIPT, kind, parquet, f"{tol:g}"])
    if code != 0:
        raise SystemExit(f"the scikit-learn child failed:\n{stderr}")
    return {"wall": wall, "cpu": cpu, "rss": rss, "score": json.loads(stdout)}


def tables(kind, rows, workdir):
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
    return X, y, raw, parquet


def bench(kind, rows, workdir, host, config, repeat):
    X, y, raw, parquet = tables(kind, rows, workdir)
    scaled = StandardScaler().fit_transform(X)
    # The best objective: the plugin and scikit-learn's exact solver at tight tolerances (not timed).
    exact = "newton-cholesky" if kind == "logistic" else "cholesky"
    best = min(plugin_native(kind, raw, rows, 1e-12)["objective"], sklearn_fit(kind, X, y, scaled, exact, 1, 1e-12)["objective"])
    runs = []  # (name, BLAS threads, tol, result)
    tol, r = ladder(lambda t: best_of(repeat, lambda: plugin_native(kind, raw, rows, t)), best)
    runs.append(("plugin native, fit (its own clocks)", "", tol, r))
    wall, cpu, rss = r["process"]
    runs.append(("plugin native, whole process (raw file)", "", tol, {"wall": wall, "cpu": cpu, "objective": r["objective"], "rss": rss}))
    tol, wasm = ladder(lambda t: best_of(repeat, lambda: plugin_wasm(host, config, kind, parquet, workdir, t)), best)
    runs.append(("plugin WASM, fit (its own clock: wall)", "", tol, {"wall": wasm["fit_wall"], "cpu": float("nan"), "objective": wasm["objective"]}))
    runs.append(("trainhost train (WASM), whole CLI", "", tol, wasm))
    solvers = ["lbfgs", "newton-cholesky", "liblinear", "saga"] if kind == "logistic" else ["cholesky", "lsqr"]
    lbfgs_tol = None
    for threads in [1, os.cpu_count()]:
        for solver in solvers:
            if threads > 1 and solver in ("liblinear", "saga"):
                continue
            tol, r = ladder(lambda t: best_of(repeat, lambda: sklearn_fit(kind, X, y, scaled, solver, threads, t)), best)
            runs.append((f"scikit-learn {solver}, fit", f"{threads}", tol, r))
            if threads == 1 and solver in ("lbfgs", "cholesky"):
                lbfgs_tol, peer_fit = tol, r
    peer = best_of(repeat, lambda: peer_end_to_end(kind, parquet, lbfgs_tol))
    peer["objective"] = peer_fit["objective"]
    runs.append((f"scikit-learn {solvers[0]}, end to end (child)", "1", lbfgs_tol, peer))
    return runs, wasm, peer_fit, peer


def report(kind, runs, wasm, peer_fit, peer):
    best = min(r["objective"] for *_, r in runs)
    title = "L2 logistic regression, C = 1" if kind == "logistic" else "ridge regression, alpha = 1"
    print(title)
    print(f"  {'run':<44} {'BLAS':>4} {'tol':>6} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'objective':>22} {'rel. gap':>9} {'cpu/WASM':>9} {'wall/WASM':>10}")
    for name, threads, tol, r in runs:
        gap = (r["objective"] - best) / abs(best)
        rss = f"{r['rss']:.0f}" if "rss" in r else ""
        print(f"  {name:<44} {threads:>4} {tol:>6g} {r['wall']:>8.3f} {r['cpu']:>8.3f} {rss:>9} {r['objective']:>22.15e} {gap:>9.1e} "
              f"{r['cpu'] / wasm['cpu']:>8.2f}x {r['wall'] / wasm['wall']:>9.2f}x")
    name = "lbfgs" if kind == "logistic" else "cholesky"
    # Issue 18's target: the fit as WASM at least as fast as scikit-learn's on one
    # BLAS thread. The WASM fit has only a wall clock, so it is held to both of
    # scikit-learn's clocks; "met" needs both.
    fit = wasm["fit_wall"]
    met = fit <= peer_fit["wall"] and fit <= peer_fit["cpu"]
    print(f"  target, the fit as WASM at least as fast as scikit-learn {name}'s on one BLAS thread: "
          f"{peer_fit['wall']:.3f} s wall / {fit:.3f} s = {peer_fit['wall'] / fit:.2f}x, "
          f"{peer_fit['cpu']:.3f} s CPU / {fit:.3f} s = {peer_fit['cpu'] / fit:.2f}x ({'met' if met else 'NOT met'})")
    print(f"  where a user feels it, the whole trainhost train run (CPU): vs scikit-learn's fit alone "
          f"{peer_fit['cpu'] / wasm['cpu']:.2f}x; vs its end-to-end child {peer['cpu'] / wasm['cpu']:.2f}x; scores {peer['score']}")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the one with the least CPU is shown")
    ap.add_argument("--kinds", default="logistic,ridge")
    args = ap.parse_args()
    host = build()
    blas = ", ".join(sorted({f"{p['internal_api']} {p.get('version', '')}" for p in threadpool_info() if p["user_api"] == "blas"}))
    print(f"{args.rows:,} rows × {COLS} columns; scikit-learn {sklearn.__version__}, numpy {np.__version__} ({blas}) on 1 and {os.cpu_count()} BLAS threads;")
    print(f"fit time to the same objective (within {MATCH:g}); best of {args.repeat} by CPU; load average {os.getloadavg()[0]:.1f} at the start\n")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as workdir:
        config = host_config(workdir, args.rows)
        wall, cpu = compile_plugin(host, config)
        print(f"compiling linear.wasm (once per plugin file, then cached; not in the runs below): {wall:.2f} s wall, {cpu:.2f} s CPU\n")
        for kind in args.kinds.split(","):
            report(kind, *bench(kind, args.rows, workdir, host, config, args.repeat))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
