#!/usr/bin/env python3
"""One job in 1 vs 2 instances of its plugin (issue 19), end to end.

Each run is a whole `trainhost train` process (reading the CSV, encoding,
training, judging, writing the model); runs alternate 1, 2, 1, 2, ... so a
change in the machine's load falls on both sides. For each run: wall time,
and CPU time of the child (user + system, from getrusage), since other work
on the machine can stretch wall time. The figure is the ratio of the medians
(1 instance / 2 instances); the model files of every run must be identical.

Cases (100,000 rows x 20 features, generated here with a fixed seed):
  forest   random_forest, classification, nEstimators=100
  kmodes   kmodes, clustering, nInit=10 (runs its restarts in one instance
           until kmodes gains the parallel capability: expect 1.0x)

Needs a release build (cargo build --release -p trainhost) and the plugins
(scripts/build-plugins). Measure on a quiet machine: with other work running
the wall-clock ratio says little.

  python3 scripts/bench_parallel.py --runs 5 --cases forest,kmodes
"""
import argparse, csv, hashlib, os, random, resource, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_table(path, rows=100_000, features=20, seed=0, categorical=False):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"x{i}" for i in range(features)] + ["label"])
        for _ in range(rows):
            if categorical:
                xs = [f"l{rng.randrange(6)}" for _ in range(features)]
                label = xs[0]
            else:
                xs = [rng.gauss(0, 1) for _ in range(features)]
                label = "a" if sum(xs[:10]) + rng.gauss(0, 2) > 0 else "b"
            w.writerow(xs + [label])


def run(binary, config, args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([binary, "--config", config] + args, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="runs of each side")
    parser.add_argument("--cases", default="forest,kmodes")
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "trainhost"))
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-parallel-")
    config = os.path.join(work, "trainhost.toml")
    with open(config, "w") as f:
        f.write(f'plugin_dir = "{ROOT}/build/plugins"\n[storage]\ndata_dir = "{work}/data"\n'
                "[default_limits]\nmemory_mib = 4096\ntime_secs = 3600.0\n")
    cases = {
        "forest": (False, ["--plugin", "random_forest", "--task", "classification", "--target", "label", "--param", "nEstimators=100"]),
        "kmodes": (True, ["--plugin", "kmodes", "--task", "clustering", "--param", "nInit=10", "--param", "nClusters=6"]),
    }
    print(f"{'case':<8} {'instances':>9} {'wall s (median)':>16} {'cpu s (median)':>15}")
    for name in opts.cases.split(","):
        categorical, args = cases[name]
        table = os.path.join(work, f"{name}.csv")
        make_table(table, categorical=categorical)
        times = {1: [], 2: []}
        digests = set()
        for i in range(opts.runs):
            for k in (1, 2):
                model = os.path.join(work, f"{name}-{k}-{i}.bin")
                times[k].append(run(opts.binary, config, ["train", "--data", table, "--seed", "3", "--instances", str(k), "--out", model] + args))
                with open(model, "rb") as f:
                    digests.add(hashlib.sha256(f.read()).hexdigest())
        for k in (1, 2):
            print(f"{name:<8} {k:>9} {statistics.median(w for w, _ in times[k]):>16.2f} {statistics.median(c for _, c in times[k]):>15.2f}")
        wall = statistics.median(w for w, _ in times[1]) / statistics.median(w for w, _ in times[2])
        print(f"{name:<8} speed-up of 2 instances: {wall:.2f}x wall; model files identical: {len(digests) == 1}")


if __name__ == "__main__":
    main()
