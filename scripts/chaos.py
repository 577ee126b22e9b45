#!/usr/bin/env python3
"""Chaos run of a Redis deployment: kills processes under load and counts what survives.

Starts its own redis-server (a free port, a temp dir, AOF on), several `trainhost worker`
and `trainhost serve --api-only` processes sharing one data dir, submits --jobs jobs while
killing random workers and API nodes with SIGKILL (each restarted at once), then submits
--restart-jobs more while Redis is restarted (SIGTERM: it flushes its AOF; --redis-kill9
kills it instead). Prints how many jobs completed, failed, were lost (never ended) and
were duplicated (more than one terminal event, i.e. completed twice).

Not part of the test suite. Needs a built binary (--binary, default
$CARGO_TARGET_DIR/debug/trainhost or target/debug/trainhost) and build/plugins/.

    scripts/chaos.py --workers 3 --apis 2 --jobs 100 --restart-jobs 50
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "chaos"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10)
    return out.stdout


class Redis:
    def __init__(self, directory):
        self.port = free_port()
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes", "--save", "", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            if redis_cli(self.port, "ping").startswith("PONG"):
                return
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def restart(self, kill9):
        self.proc.send_signal(signal.SIGKILL if kill9 else signal.SIGTERM)
        self.proc.wait()
        self.start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Node:
    """One trainhost process; `kind` is "api" or "worker"."""

    def __init__(self, kind, binary, config, logs):
        self.kind, self.binary, self.config, self.logs = kind, binary, config, logs
        self.url = None
        self.proc = None
        self.start()

    def start(self):
        args = [self.binary, "--config", self.config]
        args += ["serve", "--api-only", "--bind", "127.0.0.1:0"] if self.kind == "api" else ["worker"]
        log = open(os.path.join(self.logs, f"{self.kind}-{uuid.uuid4().hex[:8]}.log"), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "TRAINHOST_LOG": "info"})
        first = self.proc.stdout.readline()
        if self.kind == "api":
            while first and not first.startswith("trainhost listening on "):
                first = self.proc.stdout.readline()
            if not first:
                raise SystemExit(f"an API node exited at start (see {log.name})")
            self.url = first.split()[3]
        elif not first.startswith("trainhost worker"):
            raise SystemExit(f"a worker exited at start (see {log.name})")
        threading.Thread(target=lambda out=self.proc.stdout: [None for _ in out], daemon=True).start()

    def kill9_and_restart(self):
        self.proc.kill()
        self.proc.wait()
        self.start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def http(method, url, body=None, headers=None, timeout=10):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None, None


def upload(url, path):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{os.path.basename(path)}\"\r\n"
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    status, answer = http("POST", f"{url}/datasets", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 201:
        raise SystemExit(f"upload failed: {status} {answer}")
    return answer["data"]["id"]


def write_config(path, data_dir, redis_port, concurrency):
    plugins = os.path.join(ROOT, "build", "plugins")
    with open(path, "w") as f:
        f.write(
            f"""[server]
bind = "127.0.0.1:0"
[auth]
mode = "none"
[broker]
redis_url = "redis://127.0.0.1:{redis_port}"
key_prefix = "{PREFIX}"
[storage]
data_dir = {json.dumps(data_dir)}
[workers]
concurrency = {concurrency}
heartbeat_secs = 0.2
dead_after_secs = 1.5
max_attempts = 10
shutdown_grace_secs = 2.0
[default_limits]
memory_mib = 256
time_secs = 60.0
[[plugins]]
name = "baseline"
path = {json.dumps(os.path.join(plugins, "baseline.wasm"))}
[[plugins]]
name = "slow"
path = {json.dumps(os.path.join(plugins, "test_slow.wasm"))}
"""
        )


def job_body(dataset, i):
    if i % 3 == 0:
        config = {"selectedModel": "baseline"}
        return {"datasetId": dataset, "targetColumn": "species", "taskType": "classification", "modelConfig": config}
    config = {"selectedModel": "slow", "epochs": random.randint(5, 15), "epochMillis": 60}
    return {"datasetId": dataset, "taskType": "clustering", "modelConfig": config}


def submit(apis, dataset, i, deadline):
    """Submits one job through any live API node, retrying while nodes restart."""
    body = json.dumps(job_body(dataset, i)).encode()
    while time.time() < deadline:
        api = random.choice(apis)
        if api.url is None:
            continue
        status, answer = http("POST", f"{api.url}/train", body, {"Content-Type": "application/json"})
        if status == 202:
            return answer["data"]["jobId"]
        time.sleep(0.1)
    raise SystemExit("could not submit a job for 60 s")


def chaos(nodes, stop, every, kills):
    while not stop.wait(random.uniform(every * 0.5, every * 1.5)):
        node = random.choice(nodes)
        node.kill9_and_restart()
        kills[node.kind] += 1


def terminal_events(redis_port, job_id):
    """The terminal events in the job's Redis stream."""
    out = redis_cli(redis_port, "--raw", "XRANGE", f"{PREFIX}:events:{job_id}", "-", "+")
    types = [json.loads(line).get("type") for line in out.splitlines() if line.startswith("{")]
    return [t for t in types if t in ("complete", "error", "cancelled")]


def wait_all(redis_port, jobs, within):
    deadline = time.time() + within
    statuses = {}
    while time.time() < deadline:
        for job in jobs:
            if statuses.get(job) not in ("completed", "failed", "cancelled"):
                statuses[job] = redis_cli(redis_port, "--raw", "HGET", f"{PREFIX}:job:{job}", "status").strip()
        if all(statuses[j] in ("completed", "failed", "cancelled") for j in jobs):
            break
        time.sleep(0.5)
    return statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "trainhost"))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="slots per worker")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--restart-jobs", type=int, default=50)
    parser.add_argument("--kill-every", type=float, default=2.0, help="seconds between kills, on average")
    parser.add_argument("--redis-kill9", action="store_true", help="kill Redis with SIGKILL instead of SIGTERM")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    random.seed(args.seed)

    tmp = tempfile.mkdtemp(prefix="trainhost-chaos-")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    redis = Redis(os.path.join(tmp, "redis"))
    config = os.path.join(tmp, "trainhost.toml")
    write_config(config, os.path.join(tmp, "data"), redis.port, args.concurrency)
    apis = [Node("api", args.binary, config, logs) for _ in range(args.apis)]
    workers = [Node("worker", args.binary, config, logs) for _ in range(args.workers)]
    nodes = apis + workers
    kills = {"api": 0, "worker": 0}
    try:
        dataset = upload(apis[0].url, os.path.join(ROOT, "testdata", "penguins.csv"))
        started = time.time()
        stop = threading.Event()
        killer = threading.Thread(target=chaos, args=(nodes, stop, args.kill_every, kills))
        killer.start()
        first = [submit(apis, dataset, i, time.time() + 60) for i in range(args.jobs)]
        statuses = wait_all(redis.port, first, 180)
        stop.set()
        killer.join()
        print(f"phase 1: {args.jobs} jobs, {kills['worker']} workers and {kills['api']} API nodes killed, {time.time() - started:.1f} s")

        started = time.time()
        second = []
        for i in range(args.restart_jobs):
            second.append(submit(apis, dataset, i, time.time() + 60))
            if i == args.restart_jobs // 2:
                redis.restart(args.redis_kill9)
        statuses.update(wait_all(redis.port, second, 180))
        print(f"phase 2: {args.restart_jobs} jobs, Redis restarted ({'SIGKILL' if args.redis_kill9 else 'SIGTERM'}) once, {time.time() - started:.1f} s")

        jobs = first + second
        counts = {s: sum(1 for j in jobs if statuses.get(j) == s) for s in ("completed", "failed", "cancelled")}
        lost = [j for j in jobs if statuses.get(j) not in ("completed", "failed", "cancelled")]
        duplicated = [j for j in jobs if len(terminal_events(redis.port, j)) > 1]
        recorded = int(redis_cli(redis.port, "ZCARD", f"{PREFIX}:jobs").strip() or 0)
        failures = sorted({redis_cli(redis.port, "--raw", "HGET", f"{PREFIX}:job:{j}", "error").strip() for j in jobs if statuses.get(j) == "failed"})
        print(f"submitted {len(jobs)}: completed {counts['completed']}, failed {counts['failed']}, cancelled {counts['cancelled']}, "
              f"lost {len(lost)}, duplicated {len(duplicated)}; jobs in Redis {recorded} (more: a submit retried after an unanswered one)")
        for message in failures:
            print(f"  failed with: {message}")
        for job in lost[:10]:
            print(f"  lost: {job} ({statuses.get(job) or 'no record'})")
        return 0 if not lost and not duplicated else 1
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
        if args.keep:
            print(f"logs in {logs}")
        else:
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(main())
