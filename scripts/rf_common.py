"""Shared helpers of the random_forest scripts: run the plugin through the
native example binary (`rf_cli`) or through the `trainhost` CLI, and measure
a child process's peak memory."""
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def build_native():
    """Builds rf_cli once (release) and returns its path."""
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "-p", "random_forest", "--example", "rf_cli"],
        cwd=ROOT, check=True)
    return os.path.join(TARGET_DIR, "release", "examples", "rf_cli")


class Runner:
    """Trains and predicts with the plugin, natively or through trainhost."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "native":
            self.binary = build_native()
        else:
            self.binary = shutil.which("trainhost") or os.path.join(TARGET_DIR, "release", "trainhost")
            if not os.path.exists(self.binary):
                sys.exit("trainhost CLI not found: build it on main, or use --runner native")

    def train(self, data, target, task, params, out, seed=0):
        args = [self.binary, "train"]
        if self.kind == "trainhost":
            args += ["--plugin", "random_forest", "--validation", "0.0"]
        args += ["--data", data, "--target", target, "--task", task, "--seed", str(seed), "--out", out]
        for name, value in params.items():
            args += ["--param", f"{name}={value}"]
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"train failed: {' '.join(args)}\n{proc.stderr}")
        report = {}
        if self.kind == "native":
            report = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            # The host run times the whole command (CSV load included): an upper bound.
            report = {"fit_seconds": wall, "model_bytes": os.path.getsize(out)}
        report["process_seconds"] = wall
        return report

    def predict(self, model, data, out):
        args = [self.binary, "predict", "--model", model, "--data", data, "--out", out]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"predict failed: {' '.join(args)}\n{proc.stderr}")
        with open(out) as f:
            lines = [l.strip() for l in f if l.strip()]
        return lines[1:] if lines and lines[0] == "prediction" else lines
