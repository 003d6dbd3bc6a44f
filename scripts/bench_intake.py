#!/usr/bin/env python3
"""End-to-end intake and monitoring throughput: `driftd run` on a file of 25-feature events, pinned
to one core, beside two Python baselines in the same run: one that only parses, validates and counts
per model and kind (orjson), and one that monitors as driftd does (orjson + NumPy + SciPy + River:
windows, per-feature Wasserstein / Jensen-Shannon tests, a dict label join, ADWIN on the error
stream, accuracy windows; the baseline of `scripts/bench_replay.py`, reused as it is).

    python3 scripts/bench_intake.py [--events 1000000] [--vs-driftd OTHER/target/release/driftd]

Two workloads, each 1M predictions of 2 models: **no labels** (the common case in production:
labels come days later or never), and **70 % labelled**, each label 20 to 2,000 events after its
prediction, in the same file (merged by event time). The intake figure runs with
`[monitor] enabled = false` (parse, validate, count, checkpoint); the monitoring figure adds per-model
drift windows, label joins and concept detection; monitoring is also run on two cores
(`taskset -c 0,1`: the reader thread parses while the pipeline monitors). It builds driftd in release mode, writes the events file once (seeded) under target/bench-intake/,
creates target/bench-intake/venv with orjson for the baseline, runs each side 3 times and prints
the best events/s of each and their ratio. With `--vs-driftd`, another build of driftd (e.g. the
previous commit's, built in a worktree) runs the same two workloads in the same run, interleaved run by
run with this one, and the ratio of the two builds is printed: "no slower than before" is measured
side by side, not against a figure from another day. The kernel alone (no file reading, no checkpoints) is
measured by `cargo bench -p driftd --bench intake`.
"""
import argparse
import heapq
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


def add_labels(src, dst, share=0.7, seed=7):
    """The events of `src` with feedback for `share` of the predictions, each 20 to 2,000 events
    (= milliseconds) later and wrong one time in ten, merged into one file in event-time order."""
    rng = random.Random(seed)
    pending = []  # (due index, line)
    with open(src) as f, open(dst + ".tmp", "w") as out:
        for i, line in enumerate(f):
            while pending and pending[0][0] <= i:
                out.write(heapq.heappop(pending)[1])
            out.write(line)
            if rng.random() < share:
                e = json.loads(line)
                delay = rng.randint(20, 2000)
                label = e["prediction"]["label"]
                if rng.random() < 0.1:
                    label = "0" if label == "1" else "1"
                ts = (dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
                      + dt.timedelta(milliseconds=delay)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                fb = {"kind": "feedback", "id": e["id"], "model": e["model"], "ts": ts, "label": label}
                heapq.heappush(pending, (i + delay, json.dumps(fb, separators=(",", ":")) + "\n"))
        while pending:
            out.write(heapq.heappop(pending)[1])
    os.replace(dst + ".tmp", dst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--vs-driftd", help="another driftd binary to run beside this build")
    ap.add_argument("--no-monitor-baseline", action="store_true",
                    help="skip the Python monitoring baseline (needs NumPy, SciPy, River)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    events = os.path.join(OUT, f"events-{args.events}.jsonl")
    if not os.path.exists(events):
        print(f"writing {events}", file=sys.stderr)
        make_events(events, args.events)
    venv = os.path.join(OUT, "venv")
    py = os.path.join(venv, "bin", "python")
    packages = ["orjson"] if args.no_monitor_baseline else ["orjson", "numpy", "scipy", "river"]
    imports = ", ".join(packages)
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if subprocess.run([py, "-c", f"import {imports}"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q"] + packages, check=True)
    labelled = os.path.join(OUT, f"events-{args.events}-labelled.jsonl")
    if not os.path.exists(labelled):
        print(f"writing {labelled}", file=sys.stderr)
        add_labels(events, labelled)
    empty = os.path.join(OUT, "empty.jsonl")
    open(empty, "w").close()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "driftd"], cwd=ROOT, check=True)
    driftd = os.path.join(ROOT, "target", "release", "driftd")
    pin = ["taskset", "-c", "0"] if subprocess.run(["which", "taskset"], capture_output=True).returncode == 0 else []

    def parse_baseline(path, lines):
        best = None
        for _ in range(args.runs):
            out = subprocess.run(pin + [py, "-c", BASELINE, path], capture_output=True, text=True, check=True)
            acc, rej, el = out.stdout.split()
            assert int(acc) == lines and int(rej) == 0, out.stdout
            best = min(best or 1e9, float(el))
        return best

    def monitor_baseline(path, lines):
        if args.no_monitor_baseline:
            return None
        from bench_replay import BASELINE as MONITOR
        best = None
        for _ in range(args.runs):
            out = subprocess.run(pin + [py, "-c", MONITOR, path, empty], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            assert sum(r["counts"].values()) == lines, out.stdout
            best = min(best or 1e9, r["elapsed"])
        return best

    n_labelled = sum(1 for _ in open(labelled, "rb"))
    best_py = parse_baseline(events, args.events)
    best_py_l = parse_baseline(labelled, n_labelled)
    best_pm = monitor_baseline(events, args.events)
    best_pm_l = monitor_baseline(labelled, n_labelled)

    def once(binary, monitor, path=events, lines=args.events, cores=pin):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "driftd.toml")
            with open(cfg, "w") as f:
                f.write(f"[monitor]\nenabled = {'true' if monitor else 'false'}\n")
            t0 = time.perf_counter()
            out = subprocess.run(cores + [binary, "run", "--config", cfg, "--events", path,
                                        "--state", os.path.join(d, "s.redb"), "--listen", "127.0.0.1:0"],
                                 capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"},
                                 check=True)
            el = time.perf_counter() - t0
            assert f"driftd: {lines} events accepted, 0 rejected" in out.stdout, out.stdout
            return el

    def run_driftd(monitor, path=events, lines=args.events):
        """Best time of this build on one core and on two, and, interleaved run by run, of the
        other build on one core (or None)."""
        best, best2, other = None, None, None
        for _ in range(args.runs):
            best = min(best or 1e9, once(driftd, monitor, path, lines))
            if two:
                best2 = min(best2 or 1e9, once(driftd, monitor, path, lines, two))
            if args.vs_driftd:
                other = min(other or 1e9, once(args.vs_driftd, monitor, path, lines))
        return best, best2, other

    # Two cores: the reader thread parses while the pipeline task monitors (the parse stage).
    two = ["taskset", "-c", "0,1"] if pin and (os.cpu_count() or 1) >= 2 else None
    best_rs, _, other_rs = run_driftd(False)
    best_mon, best_mon2, other_mon = run_driftd(True)
    best_rs_l, _, _ = run_driftd(False, labelled, n_labelled)
    best_mon_l, best_mon2_l, _ = run_driftd(True, labelled, n_labelled)

    size = os.path.getsize(events) / args.events
    print(f"events: {args.events:,} of 25 features ({size:.0f} bytes each), one core{' (taskset -c 0)' if pin else ''}")
    print(f"python + orjson baseline : {args.events / best_py:>12,.0f} events/s")
    print(f"driftd run --events      : {args.events / best_rs:>12,.0f} events/s  (intake: start, read, validate, count, checkpoint, exit)")
    print(f"ratio                    : {best_py / best_rs:>12.1f}x")
    print(f"... with monitoring on   : {args.events / best_mon:>12,.0f} events/s  (+ per-model windows of 25 feature summaries, checkpointed)")
    print(f"ratio                    : {best_py / best_mon:>12.2f}x")
    if best_mon2:
        print(f"... on two cores         : {args.events / best_mon2:>12,.0f} events/s  ({best_py / best_mon2:.2f}x the baseline, {best_mon / best_mon2:.2f}x one core; taskset -c 0,1)")
    if best_pm:
        print(f"python monitor baseline  : {args.events / best_pm:>12,.0f} events/s  (driftd with monitoring: {best_pm / best_mon:.2f}x)")
    print(f"with labels: {n_labelled:,} lines (70 % of the predictions labelled 20-2,000 events later)")
    print(f"python + orjson baseline : {n_labelled / best_py_l:>12,.0f} events/s")
    print(f"driftd run --events      : {n_labelled / best_rs_l:>12,.0f} events/s  ({best_py_l / best_rs_l:.1f}x)")
    print(f"... with monitoring on   : {n_labelled / best_mon_l:>12,.0f} events/s  ({best_py_l / best_mon_l:.2f}x)")
    if best_mon2_l:
        print(f"... on two cores         : {n_labelled / best_mon2_l:>12,.0f} events/s  ({best_py_l / best_mon2_l:.2f}x the baseline, {best_mon_l / best_mon2_l:.2f}x one core)")
    if best_pm_l:
        print(f"python monitor baseline  : {n_labelled / best_pm_l:>12,.0f} events/s  (driftd with monitoring: {best_pm_l / best_mon_l:.2f}x)")
    if args.vs_driftd:
        print(f"other build ({args.vs_driftd}):")
        print(f"  intake                 : {args.events / other_rs:>12,.0f} events/s  (this build: {other_rs / best_rs:.2f}x)")
        print(f"  with monitoring on     : {args.events / other_mon:>12,.0f} events/s  (this build: {other_mon / best_mon:.2f}x)")
        if best_mon2:
            print(f"  ... vs this build on two cores: {other_mon / best_mon2:.2f}x")


if __name__ == "__main__":
    main()
