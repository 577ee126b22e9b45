#!/usr/bin/env python3
"""One job in 1 vs 2 instances of its plugin (issue 19), end to end.

Each run is a whole `trainhost train` process (reading the CSV, encoding,
training, judging, writing the model); runs alternate 1, 2, 1, 2, ... so a
change in the machine's load falls on both sides. For each run: wall time,
and CPU time of the child (user + system, from getrusage), since other work
on the machine can stretch wall time. The figure is the ratio of the medians
(1 instance / 2 instances); the model files of every run must be identical.

Cases (generated here with a fixed seed):
  forest   random_forest, 100,000 x 20 numeric, classification, nEstimators=100
  kmodes   kmodes, 100,000 x 20 categorical, clustering, nInit=10 with
           init=huang (the default, Cao, is deterministic: on an all-categorical
           table kmodes makes one run whatever nInit says, as the Python
           package does, so there would be no restarts to share)
  gbdt     gbdt, make_classification(1_000_000, 28, n_informative=14,
           random_state=0), 100 rounds (needs scikit-learn)

Besides the end-to-end wall and CPU times, each run's own report: the
plugin's train call (the CLI's "in N s" line) and, with 2 instances, what the
collective calls cost (calls, bytes, seconds inside them). From the measured
speed-up S on p = 2 instances, the Karp-Flatt serial fraction
e = (1/S - 1/p) / (1 - 1/p) and what Amdahl's law then gives on 16 cores,
1 / (e + (1 - e) / 16), for the train call and end to end.

The machine's own ceiling (--ceiling): two independent 1-instance runs of
the same job started together, in separate processes sharing nothing but the
machine. Their throughput against one run alone, 2 x T(1) / T(pair), is what
two cores give this job when nothing is shared and nobody waits: caches,
memory bandwidth and the hypervisor's scheduling all count against it. No
2-instance job can beat it, so it is the peer the speed-up is judged against.

Uses the binary `scripts/run` uses (the dev profile, the host at -O2; pass
--binary for another) and the plugins (scripts/build-plugins). Measure on a
quiet machine: with other work running the wall-clock ratio says little.

  python3 scripts/bench_parallel.py --runs 5 --cases forest,kmodes,gbdt
"""
import argparse, csv, hashlib, os, random, re, resource, statistics, subprocess, sys, tempfile, time

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


def make_gbdt_table(path):
    from sklearn.datasets import make_classification
    import numpy as np
    x, y = make_classification(1_000_000, 28, n_informative=14, random_state=0)
    header = ",".join([f"f{i}" for i in range(28)] + ["label"])
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt=["%.7g"] * 28 + ["%d"])


def report(stdout):
    """The train call's seconds and the collective line's (calls, MB, seconds), from the CLI's output."""
    call = re.search(r" in ([0-9.]+) s \(peak plugin memory", stdout)
    coll = re.search(r"collective calls: (\d+) per instance, ([0-9.]+) MB handed in, ([0-9.]+) s inside them", stdout)
    return (float(call.group(1)) if call else float("nan"),
            (int(coll.group(1)), float(coll.group(2)), float(coll.group(3))) if coll else None)


def karp_flatt(speedup, p=2):
    return (1 / speedup - 1 / p) / (1 - 1 / p)


def amdahl(e, cores=16):
    return 1 / (e + (1 - e) / cores)


def run(binary, config, args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([binary, "--config", config] + args, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, report(done.stdout)


def run_pair(binary, config, args_a, args_b):
    """Two independent runs started together: the wall time until both have ended."""
    started = time.monotonic()
    procs = [subprocess.Popen([binary, "--config", config] + a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a in (args_a, args_b)]
    outputs = [p.communicate() for p in procs]
    wall = time.monotonic() - started
    for p, (out, err) in zip(procs, outputs):
        if p.returncode != 0:
            sys.exit(f"failed: {' '.join(p.args)}\n{out}\n{err}")
    return wall


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="runs of each side")
    parser.add_argument("--cases", default="forest,kmodes")
    parser.add_argument("--ceiling", action="store_true",
                        help="also time two independent 1-instance runs side by side (the machine's 2-core ceiling)")
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "trainhost"))
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-parallel-")
    config = os.path.join(work, "trainhost.toml")
    with open(config, "w") as f:
        f.write(f'plugin_dir = "{ROOT}/build/plugins"\n[storage]\ndata_dir = "{work}/data"\n'
                "[default_limits]\nmemory_mib = 4096\ntime_secs = 3600.0\n")
    cases = {
        "forest": ("numeric", ["--plugin", "random_forest", "--task", "classification", "--target", "label", "--param", "nEstimators=100"]),
        "kmodes": ("categorical", ["--plugin", "kmodes", "--task", "clustering", "--param", "nInit=10", "--param", "init=huang", "--param", "nClusters=6"]),
        "gbdt": ("gbdt", ["--plugin", "gbdt", "--task", "classification", "--target", "label", "--param", "nEstimators=100"]),
    }
    print(f"{'case':<8} {'instances':>9} {'wall s':>8} {'cpu s':>8} {'train call s':>13}   (medians)")
    for name in opts.cases.split(","):
        kind, args = cases[name]
        table = os.path.join(work, f"{name}.csv")
        if kind == "gbdt":
            make_gbdt_table(table)
        else:
            make_table(table, categorical=kind == "categorical")
        runs = {1: [], 2: []}
        pairs = []
        digests = set()
        def train_args(instances, model):
            return ["train", "--data", table, "--seed", "3", "--instances", str(instances), "--out", model] + args

        for i in range(opts.runs):
            for k in (1, 2):
                model = os.path.join(work, f"{name}-{k}-{i}.bin")
                runs[k].append(run(opts.binary, config, train_args(k, model)))
                with open(model, "rb") as f:
                    digests.add(hashlib.sha256(f.read()).hexdigest())
            if opts.ceiling:
                pair = [train_args(1, os.path.join(work, f"{name}-pair{j}-{i}.bin")) for j in (0, 1)]
                pairs.append(run_pair(opts.binary, config, *pair))
        med = {k: (statistics.median(r[0] for r in runs[k]), statistics.median(r[1] for r in runs[k]),
                   statistics.median(r[2][0] for r in runs[k])) for k in (1, 2)}
        for k in (1, 2):
            print(f"{name:<8} {k:>9} {med[k][0]:>8.2f} {med[k][1]:>8.2f} {med[k][2]:>13.2f}")
        wall, call = med[1][0] / med[2][0], med[1][2] / med[2][2]
        print(f"{name:<8} speed-up of 2 instances: {wall:.2f}x end to end, {call:.2f}x the train call; "
              f"model files identical: {len(digests) == 1}")
        if pairs:
            ceiling = 2 * med[1][0] / statistics.median(pairs)
            print(f"{name:<8}   two independent 1-instance runs side by side: {statistics.median(pairs):.2f} s, "
                  f"a ceiling of {ceiling:.2f}x; 2 instances reach {wall / ceiling:.0%} of it")
        for label, s in (("end to end", wall), ("train call", call)):
            e = karp_flatt(s)
            print(f"{name:<8}   {label}: serial fraction e = {e:.2f}; Amdahl on 16 cores: {amdahl(e):.1f}x")
        costs = [r[2][1] for r in runs[2] if r[2][1]]
        if costs:
            calls, mb, secs = costs[len(costs) // 2]
            print(f"{name:<8}   collectives (2 instances): {calls} calls, {mb:.1f} MB, {secs:.3f} s inside them, "
                  f"{1e6 * secs / (2 * calls):.0f} us a call an instance")


if __name__ == "__main__":
    main()
