"""Runs the kmodes plugin on a CSV, for quality_kmodes.py and bench_kmodes.py.

native:    the plugin's example binary (plugins/kmodes/examples/kmodes_cli.rs), built
           in release; times are training only (CSV parsing excluded).
trainhost: the host CLI (`trainhost train` / `trainhost predict`) running the wasm
           component; times are wall clock of `trainhost train`, ingest included.
"""
import os
import re
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))


def build_native():
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "kmodes", "--example", "kmodes_cli"],
                   cwd=REPO, check=True)
    return os.path.join(TARGET, "release", "examples", "kmodes_cli")


def run_plugin(runner, csv_path, params, seed):
    """Returns (dict of figures, list of cluster ids)."""
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = os.path.join(tmp, "ids.csv")
        flags = [a for k, v in params.items() for a in ("--param", f"{k}={v}")]
        if runner == "native":
            out = subprocess.run([build_native.binary, "--data", csv_path, "--seed", str(seed), "--out", ids_path]
                                 + flags, check=True, capture_output=True, text=True).stdout
            figures = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}
        else:
            model = os.path.join(tmp, "model.bin")
            start = time.perf_counter()
            # --validation 0: train on every row, so that the cost compares with the package's.
            out = subprocess.run(["trainhost", "train", "--plugin", "kmodes", "--data", csv_path,
                                  "--task", "clustering", "--validation", "0", "--seed", str(seed),
                                  "--out", model] + flags,
                                 check=True, capture_output=True, text=True).stdout
            seconds = time.perf_counter() - start
            subprocess.run(["trainhost", "predict", "--model", model, "--data", csv_path, "--out", ids_path],
                           check=True, capture_output=True, text=True)
            # The host prints the plugin's own metrics as "plugin NAME VALUE" (its own
            # holdout metrics, without the prefix, are not the plugin's figures).
            figures = {name: m.group(1) for name in ("cost", "runs", "iterations", "gamma")
                       if (m := re.search(rf"plugin\s+{name}\s+([-+0-9.eE]+)", out))}
            figures["seconds"] = str(seconds)
            figures["seconds_per_init"] = str(seconds / float(figures.get("runs", params.get("nInit", 1))))
        with open(ids_path) as f:
            ids = [int(line.split(",")[-1]) for line in f.read().split()[1:]]
    return {k: (float(v) if re.fullmatch(r"[-+0-9.eE]+|nan|inf", v) else v) for k, v in figures.items()}, ids


def prepare(runner):
    if runner == "native":
        build_native.binary = build_native()
