#!/usr/bin/env python3
"""The kmodes plugin against the Python `kmodes` package on real categorical and
mixed tables: same rows, same k, same init method, nInit=10 on both sides.

Prints, per dataset, init and seed: k, plugin cost, package cost, ratio (plugin /
package), and the ARI of each clustering against the dataset's label column
(which neither side clusters on); then, per dataset and init, the best cost
over all seeds on each side and its ratio (must be <= 1.01), and the median ratio.

Rows with a missing value are dropped on both sides, because the package cannot
take missing values; the plugin's own handling of them is tested in
plugins/kmodes/tests/missing.rs. Usage:

    scripts/quality_kmodes.py [--runner native|trainhost] [--seeds 0 1 2 3 4] [--inits huang cao] [--no-refine]
"""
import argparse
import os
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
from kmodes.kmodes import KModes
from kmodes.kprototypes import KPrototypes
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmodes_runner import REPO, prepare, run_plugin  # noqa: E402

DATA = os.path.join(REPO, "plugins", "kmodes", "testdata")
# name, label column, k (the label's class count), algorithm
DATASETS = [
    ("zoo", "type", 7, "kmodes"),
    ("titanic", "Survived", 2, "kmodes"),
    ("solar_flare", "zurich-class", 6, "kmodes"),
    ("heart_disease", "diameter narrowing", 2, "kprototypes"),
    ("penguins", "species", 3, "kprototypes"),
]
NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"]  # as the plugin's CSV reader


def package_fit(features, k, algorithm, init, n_init, seed):
    if algorithm == "kmodes":
        # As strings: np.unique cannot sort a mix of str and int (solar_flare).
        model = KModes(n_clusters=k, init=init.capitalize() if init != "random" else "random",
                       n_init=n_init, random_state=seed)
        labels = model.fit_predict(features.astype(str).values)
        return model.cost_, labels
    categorical = [i for i, c in enumerate(features.columns) if not pd.api.types.is_numeric_dtype(features[c])]
    model = KPrototypes(n_clusters=k, init=init.capitalize() if init != "random" else "random",
                        n_init=n_init, random_state=seed)
    labels = model.fit_predict(features.values, categorical=categorical)
    return model.cost_, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", choices=["native", "trainhost"], default="native")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--no-refine", action="store_true", help="the plugin without its refinement (the package's algorithm)")
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--inits", nargs="+", default=["huang", "cao"])
    args = parser.parse_args()
    prepare(args.runner)
    warnings.filterwarnings("ignore")

    print(f"runner={args.runner} seeds={args.seeds} nInit={args.n_init} refine={not args.no_refine} "
          f"(package: n_init={args.n_init}, random_state=seed; K-Modes with Cao runs once on both sides)")
    header = f"{'dataset':<14}{'algorithm':<12}{'init':<7}{'seed':>5}{'rows':>5}{'k':>3}{'plugin cost':>15}" \
             f"{'package cost':>15}{'ratio':>8}{'ARI plugin':>11}{'ARI package':>12}"
    print(header)
    print("-" * len(header))
    summary = []
    for name, label, k, algorithm in DATASETS:
        frame = pd.read_csv(os.path.join(DATA, f"{name}.csv"), na_values=NA, keep_default_na=False)
        frame = frame.dropna().reset_index(drop=True)
        features, truth = frame.drop(columns=[label]), frame[label].astype(str).values
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            features.to_csv(f, index=False)
            path = f.name
        try:
            for init in args.inits:
                ours, theirs = [], []
                for seed in args.seeds:
                    params = {"nClusters": k, "nInit": args.n_init, "init": init, "algorithm": algorithm,
                              "refine": str(not args.no_refine).lower()}
                    figures, ids = run_plugin(args.runner, path, params, seed)
                    package_cost, package_labels = package_fit(features, k, algorithm, init, args.n_init, seed)
                    ours.append(figures["cost"])
                    theirs.append(package_cost)
                    print(f"{name:<14}{algorithm:<12}{init:<7}{seed:>5}{len(frame):>5}{k:>3}{figures['cost']:>15.8g}"
                          f"{package_cost:>15.8g}{figures['cost'] / package_cost:>8.4f}"
                          f"{adjusted_rand_score(truth, ids):>11.3f}{adjusted_rand_score(truth, package_labels):>12.3f}")
                summary.append((name, init, min(ours), min(theirs), float(np.median(np.array(ours) / np.array(theirs))),
                                max(o / t for o, t in zip(ours, theirs))))
        finally:
            os.unlink(path)
    print(f"\n{'dataset':<14}{'init':<7}{'best plugin':>14}{'best package':>14}{'best ratio':>11}"
          f"{'median ratio':>13}{'worst seed ratio':>17}")
    for name, init, ours, theirs, median, worst_seed in summary:
        print(f"{name:<14}{init:<7}{ours:>14.8g}{theirs:>14.8g}{ours / theirs:>11.4f}{median:>13.4f}{worst_seed:>17.4f}")
    worst = max(ours / theirs for _, _, ours, theirs, _, _ in summary)
    verdict = "OK" if worst <= 1.01 else "FAIL"
    print(f"worst best-cost ratio over {len(args.seeds)} seeds: {worst:.4f} (limit 1.01): {verdict}")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
