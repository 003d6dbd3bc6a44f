#!/usr/bin/env python3
"""End-to-end intake throughput: `driftd run` on a file of 25-feature events, pinned to one core,
beside a Python baseline (orjson) doing the same work: parse, validate, count per model and kind.

    python3 scripts/bench_intake.py [--events 1000000] [--vs-driftd OTHER/target/release/driftd]

The intake figure runs with `[monitor] enabled = false` (parse, validate, count, checkpoint); the
monitoring figure adds per-model drift windows. It builds driftd in release mode, writes the events file once (seeded) under target/bench-intake/,
creates target/bench-intake/venv with orjson for the baseline, runs each side 3 times and prints
the best events/s of each and their ratio. With `--vs-driftd`, another build of driftd (e.g. the
previous commit's, built in a worktree) runs the same two workloads in the same run, interleaved run by
run with this one, and the ratio of the two builds is printed: "no slower than before" is measured
side by side, not against a figure from another day. The kernel alone (no file reading, no checkpoints) is
measured by `cargo bench -p driftd --bench intake`.
"""
import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench-intake")

BASELINE = r'''
import datetime as dt, math, re, sys, time, orjson
MODEL = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
def valid(e):
    if not isinstance(e, dict): return "not_an_object"
    kind = e.get("kind")
    if kind not in ("prediction", "feedback"): return "unknown_kind" if kind else "missing_field"
    i, m, ts = e.get("id"), e.get("model"), e.get("ts")
    if not isinstance(i, str) or not i or not isinstance(m, str) or ts is None: return "missing_field"
    if not MODEL.match(m): return "invalid_model_name"
    try: dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except Exception: return "bad_timestamp"
    if kind == "prediction":
        f = e.get("features")
        if not isinstance(f, dict): return "missing_field"
        for v in f.values():
            if isinstance(v, float) and not math.isfinite(v): return "non_finite_feature"
            if not (v is None or isinstance(v, (int, float, str, bool))): return "invalid_field"
        p = e.get("prediction")
        if p is not None:
            s = p.get("score")
            if s is not None and not (0.0 <= s <= 1.0): return "invalid_prediction"
    return None
counts, rejected = {}, {}
t0 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    for line in f:
        try: e = orjson.loads(line)
        except Exception: r = "invalid_json"
        else: r = valid(e)
        if r: rejected[r] = rejected.get(r, 0) + 1
        else:
            k = (e["model"], e["kind"]); counts[k] = counts.get(k, 0) + 1
el = time.perf_counter() - t0
print(sum(counts.values()), sum(rejected.values()), el)
'''


def make_events(path, n):
    rng = random.Random(42)
    t0 = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
    with open(path, "w") as f:
        for i in range(n):
            feats = {f"num_{j}": round(rng.uniform(-50, 50), 6) for j in range(22)}
            feats.update({f"cat_{j}": f"v{rng.randrange(8)}" for j in range(3)})
            ts = (t0 + dt.timedelta(milliseconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            e = {"kind": "prediction", "id": f"e{i}", "model": "churn" if i % 2 == 0 else "fraud",
                 "model_version": "3", "ts": ts, "features": feats,
                 "prediction": {"label": "1", "score": round(rng.random(), 4)}}
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--vs-driftd", help="another driftd binary to run beside this build")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    events = os.path.join(OUT, f"events-{args.events}.jsonl")
    if not os.path.exists(events):
        print(f"writing {events}", file=sys.stderr)
        make_events(events, args.events)
    venv = os.path.join(OUT, "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "orjson"], check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "driftd"], cwd=ROOT, check=True)
    driftd = os.path.join(ROOT, "target", "release", "driftd")
    pin = ["taskset", "-c", "0"] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []

    best_py = None
    for _ in range(args.runs):
        out = subprocess.run(pin + [py, "-c", BASELINE, events], capture_output=True, text=True, check=True)
        acc, rej, el = out.stdout.split()
        assert int(acc) == args.events and int(rej) == 0, out.stdout
        best_py = min(best_py or 1e9, float(el))

    def once(binary, monitor):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "driftd.toml")
            with open(cfg, "w") as f:
                f.write(f"[monitor]\nenabled = {'true' if monitor else 'false'}\n")
            t0 = time.perf_counter()
            out = subprocess.run(pin + [binary, "run", "--config", cfg, "--events", events,
                                        "--state", os.path.join(d, "s.redb"), "--listen", "127.0.0.1:0"],
                                 capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"},
                                 check=True)
            el = time.perf_counter() - t0
            assert f"driftd: {args.events} events accepted, 0 rejected" in out.stdout, out.stdout
            return el

    def run_driftd(monitor):
        """Best time of this build and, interleaved run by run, of the other build (or None)."""
        best, other = None, None
        for _ in range(args.runs):
            best = min(best or 1e9, once(driftd, monitor))
            if args.vs_driftd:
                other = min(other or 1e9, once(args.vs_driftd, monitor))
        return best, other

    best_rs, other_rs = run_driftd(False)
    best_mon, other_mon = run_driftd(True)

    size = os.path.getsize(events) / args.events
    print(f"events: {args.events:,} of 25 features ({size:.0f} bytes each), one core{' (taskset -c 0)' if pin else ''}")
    print(f"python + orjson baseline : {args.events / best_py:>12,.0f} events/s")
    print(f"driftd run --events      : {args.events / best_rs:>12,.0f} events/s  (intake: start, read, validate, count, checkpoint, exit)")
    print(f"ratio                    : {best_py / best_rs:>12.1f}x")
    print(f"... with monitoring on   : {args.events / best_mon:>12,.0f} events/s  (+ per-model windows of 25 feature summaries, checkpointed)")
    print(f"ratio                    : {best_py / best_mon:>12.2f}x")
    if args.vs_driftd:
        print(f"other build ({args.vs_driftd}):")
        print(f"  intake                 : {args.events / other_rs:>12,.0f} events/s  (this build: {other_rs / best_rs:.2f}x)")
        print(f"  with monitoring on     : {args.events / other_mon:>12,.0f} events/s  (this build: {other_mon / best_mon:.2f}x)")


if __name__ == "__main__":
    main()
