#!/usr/bin/env python3
"""What TLS costs the server: GET /healthz against `trainhost serve` over plain
HTTP and over HTTPS (a self-signed certificate made with openssl), in the same
run, one server after the other on an empty data dir and no plugins.

Two loops per scheme, one client, one request at a time:
  keep-alive: N requests on one connection (the per-request cost of TLS records);
  new connection: M requests, each on a connection of its own (the handshake).
Printed per scheme: wall time per request, requests/s, and the server
process's CPU time per request (utime + stime from /proc, before and after),
then HTTPS / HTTP as ratios. The client is Python's http.client and ssl
(OpenSSL), on the same machine as the server: the figures include its cost,
and on a loaded machine the wall times vary more than the CPU times.

    python3 scripts/bench_tls.py [--requests 2000] [--connections 200]
Needs the host built (`cargo build -p trainhost --bin trainhost`) and openssl.
"""
import argparse
import http.client
import os
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    path = os.path.join(target, "debug", "trainhost")
    if not os.path.exists(path):
        sys.exit(f"{path} not found: build it with `cargo build -p trainhost --bin trainhost`")
    return path


def make_certificate(folder):
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    return cert, key


def start(folder, tls):
    config = os.path.join(folder, f"bench-{'tls' if tls else 'plain'}.toml")
    lines = ['plugin_dir = "no-plugins"', "[server]", 'bind = "127.0.0.1:0"']
    if tls:
        lines += [f'tls_cert = "{tls[0]}"', f'tls_key = "{tls[1]}"']
    lines += ["[storage]", f'data_dir = "{os.path.join(folder, "data-tls" if tls else "data-plain")}"', "[auth]", 'mode = "none"']
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINHOST_") and k != "REDIS_URL"}
    env["TRAINHOST_LOG"] = "warn"
    process = subprocess.Popen([binary(), "--config", config, "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    for line in process.stdout:
        if line.startswith("trainhost listening on "):
            url = line.split()[3]
            return process, url
    sys.exit("the server did not start")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(url, context):
    host, port = url.split("://")[1].rsplit(":", 1)
    if context:
        return http.client.HTTPSConnection("localhost", int(port), context=context, timeout=30)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def get(connection):
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"GET /healthz answered {response.status}")


def measure(process, url, context, requests, connections):
    figures = {}
    warm = connect(url, context)
    for _ in range(50):
        get(warm)
    warm.close()
    one = connect(url, context)
    cpu, wall = cpu_seconds(process.pid), time.perf_counter()
    for _ in range(requests):
        get(one)
    figures["keep-alive"] = ((time.perf_counter() - wall) / requests, (cpu_seconds(process.pid) - cpu) / requests)
    one.close()
    cpu, wall = cpu_seconds(process.pid), time.perf_counter()
    for _ in range(connections):
        fresh = connect(url, context)
        get(fresh)
        fresh.close()
    figures["new connection"] = ((time.perf_counter() - wall) / connections, (cpu_seconds(process.pid) - cpu) / connections)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cert, key = make_certificate(folder)
        context = ssl.create_default_context(cafile=cert)
        results = {}
        for name, tls, ctx in [("http", None, None), ("https", (cert, key), context)]:
            process, url = start(folder, tls)
            try:
                results[name] = measure(process, url, ctx, args.requests, args.connections)
            finally:
                process.terminate()
                process.wait()
        print(f"GET /healthz, one client at a time ({args.requests} keep-alive requests, {args.connections} new connections), load {os.getloadavg()[0]:.1f}")
        for loop in ["keep-alive", "new connection"]:
            (hw, hc), (sw, sc) = results["http"][loop], results["https"][loop]
            print(f"  {loop:>14}: http {hw * 1e3:.3f} ms ({1 / hw:,.0f}/s), server CPU {hc * 1e6:.0f} us | "
                  f"https {sw * 1e3:.3f} ms ({1 / sw:,.0f}/s), server CPU {sc * 1e6:.0f} us | "
                  f"https/http: wall {sw / hw:.2f}x, server CPU {sc / hc if hc else float('nan'):.2f}x")
        handshake = results["https"]["new connection"][0] - results["http"]["new connection"][0]
        print(f"  TLS handshake (new-connection wall, https minus http): {handshake * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
