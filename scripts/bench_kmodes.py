#!/usr/bin/env python3
"""Planted-cluster benchmark of the kmodes plugin against the Python `kmodes`
package and a vectorised numpy implementation written here, in the same run.

K-Modes:       100,000 rows x 20 categorical columns x 10 categories, k=8.
K-Prototypes:   50,000 rows x (10 categorical + 5 numeric), k=8.
Planted clusters: each cluster has a prototype value per categorical column; a
cell keeps it with probability `purity` (0.5), else takes a uniformly random
category. Numeric columns are the cluster's centre (drawn N(0, 3^2)) + N(0, 1).

All three run Huang initialisation with the same nInit (3) and report time per
init (total fit time / nInit; for the plugin, training only), ARI against the
planted labels, and cost (each measured by its own definition, which is the
package's for the plugin and the numpy versions too). The plugin and numpy are
timed `--repeat` times (default 3) and the fastest is kept, since the machine is
shared; the package, which takes minutes, once. Usage:

    scripts/bench_kmodes.py [--runner native|trainhost] [--n-init 3] [--repeat 3] [--quick]
"""
import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from kmodes.kmodes import KModes
from kmodes.kprototypes import KPrototypes
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmodes_runner import prepare, run_plugin  # noqa: E402


def planted(n, m, levels, k, purity, numeric, seed):
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, levels, (k, m))
    centres = rng.normal(0, 3, (k, numeric))
    truth = rng.integers(0, k, n)
    cat = protos[truth]
    noisy = rng.random((n, m)) >= purity
    cat[noisy] = rng.integers(0, levels, noisy.sum())
    num = centres[truth] + rng.normal(0, 1, (n, numeric))
    return cat, num, truth


# ---- vectorised numpy K-Modes / K-Prototypes (batch updates, Huang-like init) ----

def _huang_rows(cat, k, rng):
    """Huang's init: modes drawn by value frequency, snapped to the nearest distinct rows."""
    n, m = cat.shape
    drawn = np.stack([rng.choice(cat[:, a], k) for a in range(m)], axis=1)
    rows = []
    for c in range(k):
        dist = (cat != drawn[c]).sum(1)
        for i in np.argsort(dist, kind="stable"):
            if not any((cat[i] == cat[r]).all() for r in rows):
                rows.append(i)
                break
    return np.array(rows)


def _mismatches(cat, modes, chunk=16384):
    """n x k mismatch counts, in chunks to bound the n x k x m temporary."""
    out = np.empty((cat.shape[0], modes.shape[0]), dtype=np.int32)
    for s in range(0, cat.shape[0], chunk):
        out[s:s + chunk] = (cat[s:s + chunk, None, :] != modes[None, :, :]).sum(2)
    return out


def _modes(cat, labels, k, levels, old):
    n, m = cat.shape
    modes = old.copy()
    for a in range(m):
        counts = np.bincount(labels * levels + cat[:, a], minlength=k * levels).reshape(k, levels)
        filled = counts.sum(1) > 0
        modes[filled, a] = counts[filled].argmax(1)
    return modes


def numpy_kmodes(cat, k, n_init, seed, levels, num=None, gamma=None, max_iter=100):
    rng = np.random.default_rng(seed)
    best = (np.inf, None)
    for _ in range(n_init):
        rows = _huang_rows(cat, k, rng)
        modes = cat[rows].copy()
        means = None if num is None else num.mean(0) + rng.normal(size=(k, num.shape[1])) * num.std(0)
        labels, cost = None, np.inf
        for _ in range(max_iter):
            dist = _mismatches(cat, modes).astype(np.float64)
            if num is not None:
                dist = ((num[:, None, :] - means[None]) ** 2).sum(2) + gamma * dist
            new = dist.argmin(1)
            new_cost = dist[np.arange(len(new)), new].sum()
            if labels is not None and (np.array_equal(new, labels) or new_cost >= cost):
                break
            labels, cost = new, new_cost
            modes = _modes(cat, labels, k, levels, modes)
            if num is not None:
                sums = np.zeros_like(means)
                np.add.at(sums, labels, num)
                sizes = np.bincount(labels, minlength=k)[:, None]
                means = np.where(sizes > 0, sums / np.maximum(sizes, 1), means)
        if cost < best[0]:
            best = (cost, labels)
    return best


def timed(f):
    start = time.perf_counter()
    result = f()
    return time.perf_counter() - start, result


def bench(name, cat, num, truth, k, n_init, runner, seed, package, repeat):
    n = len(truth)
    letters = np.array([chr(ord("a") + v) for v in range(26)])
    frame = pd.DataFrame({f"c{a}": letters[cat[:, a]] for a in range(cat.shape[1])})
    for j in range(0 if num is None else num.shape[1]):
        frame[f"x{j}"] = num[:, j]
    rows = []
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        frame.to_csv(f, index=False)
        path = f.name
    try:
        params = {"nClusters": k, "nInit": n_init, "init": "huang", "maxIter": 100}
        runs = [run_plugin(runner, path, params, seed) for _ in range(repeat)]
        figures, ids = min(runs, key=lambda r: r[0]["seconds_per_init"])
    finally:
        os.unlink(path)
    rows.append(("plugin (" + runner + ")", figures["seconds_per_init"], adjusted_rand_score(truth, ids), figures["cost"]))
    gamma = figures.get("gamma")

    levels = int(cat.max()) + 1
    seconds, (cost, labels) = min((timed(lambda: numpy_kmodes(cat, k, n_init, seed, levels, num, gamma))
                                   for _ in range(repeat)), key=lambda r: r[0])
    rows.append(("numpy (vectorised)", seconds / n_init, adjusted_rand_score(truth, labels), cost))

    if package:
        if num is None:
            model = KModes(n_clusters=k, init="Huang", n_init=n_init, random_state=seed)
            seconds, _ = timed(lambda: model.fit(cat))
        else:
            mixed = np.concatenate([num, cat], axis=1).astype(object)
            model = KPrototypes(n_clusters=k, init="Huang", n_init=n_init, random_state=seed, gamma=gamma)
            seconds, _ = timed(lambda: model.fit(mixed, categorical=list(range(num.shape[1], mixed.shape[1]))))
        rows.append(("kmodes package", seconds / n_init, adjusted_rand_score(truth, model.labels_), model.cost_))

    print(f"\n{name}: {n} rows, k={k}, nInit={n_init}" + ("" if gamma is None else f", gamma={gamma:.4g} (plugin's default, given to the others)"))
    print(f"{'implementation':<22}{'s/init':>10}{'ARI':>8}{'cost':>14}{'plugin speed-up':>17}")
    plugin_time = rows[0][1]
    for label, per_init, ari, cost in rows:
        print(f"{label:<22}{per_init:>10.4f}{ari:>8.4f}{cost:>14.6g}{per_init / plugin_time:>16.1f}x")
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", choices=["native", "trainhost"], default="native")
    parser.add_argument("--n-init", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--purity", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3, help="timings of the plugin and numpy (fastest kept)")
    parser.add_argument("--no-package", action="store_true", help="skip the (slow) kmodes package")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    prepare(args.runner)
    scale = 10 if args.quick else 1
    failures = []
    for name, n, m, numeric in [("K-Modes", 100_000, 20, 0), ("K-Prototypes", 50_000, 10, 5)]:
        cat, num, truth = planted(n // scale, m, 10, 8, args.purity, numeric, args.seed)
        rows = bench(name, cat, num if numeric else None, truth, 8, args.n_init, args.runner, args.seed,
                     not args.no_package, args.repeat)
        plugin, numpy_row = rows[0], rows[1]
        if plugin[2] < 0.99:
            failures.append(f"{name}: plugin ARI {plugin[2]:.4f} < 0.99")
        if numpy_row[1] / plugin[1] < 3:
            failures.append(f"{name}: only {numpy_row[1] / plugin[1]:.1f}x faster than numpy (need 3x)")
        if len(rows) > 2 and rows[2][1] / plugin[1] < 100:
            failures.append(f"{name}: only {rows[2][1] / plugin[1]:.1f}x faster than the package (need 100x)")
    print("\n" + ("\n".join(failures) if failures else "all targets met (ARI >= 0.99, >= 100x package, >= 3x numpy)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
