#!/usr/bin/env python3
"""Serving latency under load: `driftd serve` answering single predictions of 25 features on
loopback, driven by a separate load-generator process, beside a Python stdlib server doing the
same work.

    python3 scripts/bench_serve.py [--duration 20] [--warmup 3] [--connections 4] [--runs 1] [--no-pin]

What it does:

1. builds driftd in release mode (`cargo build --release -p driftd`);
2. in a temporary directory: a configuration with the embedded state store, `[registry]
   signing_key`, `[serve] listen` on a free loopback port, one predict token and
   `[serve.events] kind = "file"`; 20,000 seeded labelled examples (20 numeric + 5 categorical
   features, a logistic rule) trained and promoted with the CLI (`driftd models --config CFG train
   bench --examples FILE`, then `promote bench 1`: the default logistic regression);
3. starts `driftd serve --config CFG` and waits for /readyz;
4. the load: a separate Python process (`--client` mode of this script) with `--connections` worker
   processes, each holding one keep-alive connection (raw sockets, the request bytes prepared in
   advance, so the client spends as little as possible per request) and sending single-prediction
   requests (`POST /v1/models/bench/predict`, one object of 25 features, 1,000 different feature
   maps in turn) back to back: `--warmup` seconds unrecorded, then `--duration` seconds in which
   every request's latency (send to last byte of the answer) is recorded. Every answer must be a
   200; the events file must hold at least one event per answer;
5. the baseline, same load, same features: a `http.server.ThreadingHTTPServer` (HTTP/1.1
   keep-alive) that checks the bearer token, parses the JSON, validates the features, encodes them
   (standardised numbers, one-hot categories with an unknown bucket), computes a logistic score in
   pure Python (NumPy is slower than plain floats for one 50-column row), answers the same JSON and
   appends one prediction event (contract v1) per answer to a JSON-lines file, written and flushed
   under a lock per request — the work `driftd serve` does per request;
6. by default the server under test is pinned to core 0 and the load generator to core 1
   (`taskset`), so each side has one core on this 2-core machine and the client does not steal the
   server's CPU; `--no-pin` lets the scheduler place them (driftd's runtime then uses both cores,
   but shares them with the client). The CPU used by the server and by the client during the run is
   printed too: a client near 100 % of its core means the throughput is the client's limit, not
   the server's;
7. prints p50, p90, p99, p99.9 and throughput for both, their ratios, and a Markdown table.

Only the Python standard library is needed.
"""
import argparse
import hmac
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-serve-predict-token-0123456789"
KEY = "bench-serve registry signing key, longer than 32 bytes"
MODEL = "bench"
N_NUM, N_CAT, N_LEVELS = 20, 5, 6
N_TRAIN = 20_000
N_BODIES = 1000


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------

def features(rng):
    f = {f"num_{j:02d}": round(rng.gauss(0.0, 1.0), 6) for j in range(N_NUM)}
    for j in range(N_CAT):
        f[f"cat_{j}"] = f"v{rng.randrange(N_LEVELS)}"
    return f


def label(f, rng):
    cat = {"v0": 1.0, "v1": -1.0}.get(f["cat_0"], 0.0)
    s = 1.5 * f["num_00"] - 1.0 * f["num_01"] + 0.8 * f["num_02"] + 0.5 * f["num_03"] + cat
    return "1" if s + rng.gauss(0.0, 0.5) > 0 else "0"


def write_examples(path, n, seed=1):
    rng = random.Random(seed)
    with open(path, "w") as out:
        for i in range(n):
            f = features(rng)
            out.write(json.dumps({"ts_ms": 1_700_000_000_000 + i * 1000, "features": f,
                                  "target": {"label": label(f, rng)}}) + "\n")


def request_bodies(n, seed=7):
    rng = random.Random(seed)
    return [json.dumps({"features": features(rng)}, separators=(",", ":")).encode() for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# Load generator (`--client`): a separate process, with one worker process per connection
# ----------------------------------------------------------------------------------------------

def read_response(sock, buf):
    """Reads one HTTP/1.1 response with a Content-Length; returns (status, body, leftover)."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    head = buf[:end]
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
            break
    if length is None:
        raise ValueError(f"no Content-Length in {head!r}")
    start = end + 4
    while len(buf) < start + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return status, buf[start:start + length], buf[start + length:]


def worker(args):
    host, port, path, t_start, t_end, seed = args
    bodies = request_bodies(N_BODIES, seed)
    reqs = [(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b
            for b in bodies]
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    errors = 0
    sample = None
    buf = b""
    i = 0
    perf = time.perf_counter
    cpu0 = None
    while True:
        now = time.monotonic()
        if now >= t_end:
            break
        if cpu0 is None and now >= t_start:
            cpu0 = os.times()
        req = reqs[i % N_BODIES]
        i += 1
        t0 = perf()
        sock.sendall(req)
        status, body, buf = read_response(sock, buf)
        dt = perf() - t0
        if status != 200:
            errors += 1
            if sample is None:
                sample = f"HTTP {status}: {body[:300]!r}"
        elif sample is None:
            sample = body.decode()
        if now >= t_start:
            lat.append(dt)
    cpu1 = os.times()
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) if cpu0 else 0.0
    sock.close()
    return lat, errors, sample, cpu


def client_main(host, port, path, warmup, duration, connections):
    t0 = time.monotonic() + 0.5  # time for the workers to start
    t_start, t_end = t0 + warmup, t0 + warmup + duration
    with mp.Pool(connections) as pool:
        res = pool.map(worker, [(host, port, path, t_start, t_end, 7 + k) for k in range(connections)])
    lat = sorted(x for r in res for x in r[0])
    out = {"n": len(lat), "duration": duration, "errors": sum(r[1] for r in res),
           "sample": next((r[2] for r in res if r[2]), None), "client_cpu": sum(r[3] for r in res)}
    for q in (50, 90, 99, 99.9):
        out[f"p{q}"] = lat[min(len(lat) - 1, math.ceil(len(lat) * q / 100) - 1)] if lat else float("nan")
    out["mean"] = sum(lat) / len(lat) if lat else float("nan")
    out["max"] = lat[-1] if lat else float("nan")
    print(json.dumps(out))


# ----------------------------------------------------------------------------------------------
# Baseline server (`--baseline-server`): Python stdlib, the same work as `driftd serve`
# ----------------------------------------------------------------------------------------------

def baseline_main(port, events_path):
    import datetime as dt
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    # A fitted-looking logistic model over the same encoded columns as driftd's: 20 standardised
    # numbers (mean-imputed when missing), 5 × (6 levels + unknown) one-hot columns.
    rng = random.Random(3)
    num = [(f"num_{j:02d}", rng.gauss(0, 0.05), 1.0 + rng.random() * 0.1, rng.gauss(0, 1)) for j in range(N_NUM)]
    cat = [(f"cat_{j}", {f"v{l}": rng.gauss(0, 1) for l in range(N_LEVELS)}, rng.gauss(0, 1)) for j in range(N_CAT)]
    known = {n for n, *_ in num} | {n for n, *_ in cat}
    intercept = rng.gauss(0, 1)
    classes = ("0", "1")
    token = f"Bearer {TOKEN}".encode()
    prefix = "/v1/models/"
    lock = threading.Lock()
    events = open(events_path, "ab")
    seed = random.getrandbits(64)
    counter = [0]
    max_body = 1 << 20

    def valid(item):
        if not isinstance(item, dict) or not isinstance(item.get("features"), dict):
            return False
        if set(item) - {"id", "features"}:
            return False
        i = item.get("id")
        if i is not None and (not isinstance(i, str) or not 0 < len(i) <= 256):
            return False
        for v in item["features"].values():
            if not (v is None or isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       and math.isfinite(v))):
                return False
        return True

    def predict(f):
        z = intercept
        for name, mean, sd, w in num:
            v = f.get(name)
            if isinstance(v, (int, float)):
                z += w * (v - mean) / sd
        for name, levels, unknown in cat:
            v = f.get(name)
            z += levels.get(v, unknown) if isinstance(v, str) else unknown
        p = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
        return {"label": classes[p >= 0.5], "score": p}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per answer (flushed by handle_one_request) and no Nagle delay: without these,
        # headers and body go out in two segments and every answer waits ~40 ms for a delayed ACK.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def answer(self, status, obj):
            body = json.dumps(obj, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if not hmac.compare_digest(self.headers.get("Authorization", "").encode(), token):
                return self.answer(401, {"error": "unauthorized"})
            if not (self.path.startswith(prefix) and self.path.endswith("/predict")):
                return self.answer(404, {"error": "not found"})
            model = self.path[len(prefix):-len("/predict")]
            n = int(self.headers.get("Content-Length", "0"))
            if n > max_body:
                return self.answer(413, {"error": "body too large"})
            body = self.rfile.read(n)
            if model != MODEL:
                return self.answer(404, {"error": f"unknown model {model}"})
            try:
                req = json.loads(body)
            except ValueError as e:
                return self.answer(400, {"error": str(e)})
            items = req if isinstance(req, list) else [req]
            bad = [k for k, it in enumerate(items) if not valid(it)]
            if bad or not items:
                return self.answer(422, {"items": [{"index": k} for k in bad]})
            answers, lines = [], []
            ts = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            for it in items:
                f = it["features"]
                if set(f) - known:
                    pass  # unknown features are ignored by the encoder, as in driftd
                i = it.get("id")
                if i is None:
                    with lock:
                        counter[0] += 1
                        c = counter[0]
                    i = f"{seed:016x}-{c:012x}"
                p = predict(f)
                answers.append({"id": i, "model": MODEL, "model_version": "1", "prediction": p})
                lines.append(json.dumps({"kind": "prediction", "id": i, "model": MODEL, "model_version": "1",
                                         "ts": ts, "features": f, "prediction": p},
                                        separators=(",", ":")).encode() + b"\n")
            with lock:
                events.write(b"".join(lines))
                events.flush()
            self.answer(200, answers if isinstance(req, list) else answers[0])

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    srv = Server(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    srv.serve_forever()


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} not ready after {timeout} s")


def proc_cpu(pid):
    """user + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def load(args, port, pin, server_pid):
    cpu0, t0 = proc_cpu(server_pid), time.monotonic()
    out = subprocess.run(pin + [sys.executable, os.path.abspath(__file__), "--client", str(port),
                                "--warmup", str(args.warmup), "--duration", str(args.duration),
                                "--connections", str(args.connections)],
                         capture_output=True, text=True)
    el = time.monotonic() - t0
    if out.returncode != 0:
        print(out.stdout, out.stderr, file=sys.stderr)
        sys.exit("the load generator failed")
    r = json.loads(out.stdout)
    # The server's CPU over the client's whole run (warm-up included), as a share of one core.
    r["server_cpu"] = (proc_cpu(server_pid) - cpu0) / el
    r["client_cpu"] = r["client_cpu"] / args.duration
    r["rps"] = r["n"] / args.duration
    return r


def show(name, r):
    print(f"{name}: {r['n']:,} requests in {r['duration']} s = {r['rps']:,.0f}/s; "
          f"p50 {r['p50'] * 1e3:.3f} ms, p90 {r['p90'] * 1e3:.3f} ms, p99 {r['p99'] * 1e3:.3f} ms, "
          f"p99.9 {r['p99.9'] * 1e3:.3f} ms, max {r['max'] * 1e3:.1f} ms; errors {r['errors']}; "
          f"server CPU {r['server_cpu']:.0%} of a core, client CPU {r['client_cpu']:.0%}", file=sys.stderr)
    print(f"  sample answer: {r['sample']}", file=sys.stderr)


def best(runs):
    """The run with the highest throughput (its latencies are reported with it)."""
    return max(runs, key=lambda r: r["rps"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="recorded seconds per run")
    ap.add_argument("--warmup", type=float, default=3.0, help="unrecorded seconds before")
    ap.add_argument("--connections", type=int, default=4, help="keep-alive connections (one process each)")
    ap.add_argument("--runs", type=int, default=1, help="runs per server (the best throughput is kept)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the server and the client to cores")
    ap.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ap.add_argument("--baseline-server", nargs=2, metavar=("PORT", "EVENTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        return client_main("127.0.0.1", args.client, f"/v1/models/{MODEL}/predict", args.warmup,
                           args.duration, args.connections)
    if args.baseline_server:
        return baseline_main(int(args.baseline_server[0]), args.baseline_server[1])

    pinned = not args.no_pin and shutil.which("taskset") and os.cpu_count() >= 2
    pin_server = ["taskset", "-c", "0"] if pinned else []
    pin_client = ["taskset", "-c", "1"] if pinned else []
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "driftd"], cwd=ROOT, check=True)
    driftd = os.path.join(ROOT, "target", "release", "driftd")
    work = tempfile.mkdtemp(prefix="bench-serve-")
    try:
        cfg = os.path.join(work, "driftd.toml")
        events = os.path.join(work, "events.jsonl")
        port = free_port()
        with open(cfg, "w") as f:
            f.write(f'[state]\nkind = "embedded"\npath = "{work}/state.redb"\n\n'
                    f'[registry]\nsigning_key = {{ value = "{KEY}" }}\n\n'
                    f'[serve]\nlisten = "127.0.0.1:{port}"\npredict_tokens = [{{ value = "{TOKEN}" }}]\n'
                    f'events = {{ kind = "file", path = "{events}" }}\n')
        ex = os.path.join(work, "examples.jsonl")
        write_examples(ex, N_TRAIN)
        env = {k: v for k, v in os.environ.items() if k not in ("DRIFTD_CONFIG", "DRIFTD_REGISTRY_KEY")}
        for cmd in (["train", MODEL, "--examples", ex], ["promote", MODEL, "1"]):
            out = subprocess.run([driftd, "models", "--config", cfg] + cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(out.stdout, out.stderr, file=sys.stderr)
                sys.exit(f"driftd models {' '.join(cmd)} failed")
            print(f"driftd models {cmd[0]}: {out.stdout.strip().splitlines()[-1] if out.stdout.strip() else 'ok'}",
                  file=sys.stderr)

        # driftd serve.
        log = open(os.path.join(work, "serve.log"), "w")
        srv = subprocess.Popen(pin_server + [driftd, "serve", "--config", cfg], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, env=env)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", srv)
            runs = []
            for k in range(args.runs):
                r = load(args, port, pin_client, srv.pid)
                show(f"driftd serve, run {k + 1}", r)
                runs.append(r)
            rs = best(runs)
        finally:
            srv.terminate()
            srv.wait(timeout=30)
        rs_events = count_lines(events)

        # The Python baseline.
        bport = free_port()
        bevents = os.path.join(work, "baseline-events.jsonl")
        base = subprocess.Popen(pin_server + [sys.executable, os.path.abspath(__file__), "--baseline-server",
                                              str(bport), bevents],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        try:
            if base.stdout.readline().strip() != "ready":
                sys.exit("the baseline server did not start")
            runs = []
            for k in range(args.runs):
                r = load(args, bport, pin_client, base.pid)
                show(f"Python baseline, run {k + 1}", r)
                runs.append(r)
            py = best(runs)
        finally:
            base.terminate()
            base.wait(timeout=30)
        py_events = count_lines(bevents)

        failed = []
        for name, r, ev in (("driftd", rs, rs_events), ("baseline", py, py_events)):
            if r["errors"]:
                failed.append(f"{name}: {r['errors']} requests failed")
            if ev < r["n"]:
                failed.append(f"{name}: {ev:,} events for {r['n']:,} recorded answers")
        print(f"events written: driftd {rs_events:,}, baseline {py_events:,} (warm-up included)", file=sys.stderr)
        sample = json.loads(rs["sample"])
        if sample.get("model") != MODEL or "label" not in sample.get("prediction", {}):
            failed.append(f"unexpected driftd answer {rs['sample']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cmd = "`python3 scripts/bench_serve.py`" + (" --no-pin" if args.no_pin else "")
    where = ("server pinned to core 0, load generator to core 1" if pinned else "not pinned")
    print()
    print(f"Single predictions (one JSON object, 25 features: 20 numeric + 5 categorical; logistic "
          f"regression; one prediction event written and flushed to a JSON-lines file per answer) over "
          f"loopback HTTP/1.1 keep-alive, {args.connections} connections back to back from a separate "
          f"Python load generator ({args.connections} processes, raw sockets), {args.warmup:g} s warm-up "
          f"then {args.duration:g} s recorded; {where}; "
          f"{'best of ' + str(args.runs) if args.runs > 1 else 'one run'}. Python {sys.version.split()[0]}.")
    print()
    print("| server | throughput | p50 | p90 | p99 | p99.9 | server CPU | client CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in (("`driftd serve`", rs), ("Python `ThreadingHTTPServer` baseline (same work)", py)):
        print(f"| {name} | {r['rps']:,.0f} req/s | {r['p50'] * 1e3:.3f} ms | {r['p90'] * 1e3:.3f} ms | "
              f"{r['p99'] * 1e3:.3f} ms | {r['p99.9'] * 1e3:.3f} ms | {r['server_cpu']:.0%} | {r['client_cpu']:.0%} |")
    print(f"| ratio (driftd / baseline) | {rs['rps'] / py['rps']:.1f}× | "
          + " | ".join(f"{rs[q] / py[q]:.2f}×" for q in ("p50", "p90", "p99", "p99.9")) + " | | |")
    print()
    print(f"Command: {cmd}")
    if failed:
        print("\nFAILED:", *failed, sep="\n  ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
