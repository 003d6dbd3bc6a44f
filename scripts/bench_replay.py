#!/usr/bin/env python3
"""Replay throughput and memory: `driftd replay` on 25-feature events of 2 models, pinned to one
core, beside a Python baseline doing the same work (orjson + NumPy + SciPy + River).

    python3 scripts/bench_replay.py [--events 1000000] [--small 100000] [--runs 3] [--check-targets]

What it does:

1. builds driftd in release mode;
2. writes (seeded, once; reused when present) under target/bench-replay/ a predictions file and a
   feedback file for `--events` and for `--small` predictions: 22 numeric + 3 categorical features,
   models `churn` and `fraud` alternating, one event per millisecond; from the middle of the file on,
   num_0..num_2 shift by one standard deviation and cat_0's category shares reverse (so the
   prediction scores shift too), and the model's error rate rises from 10 % to 30 %; 90 % of the
   predictions get a label, each `--delay` events (milliseconds) after its prediction;
3. throughput: `taskset -c 0 driftd replay --events P --feedback F --report R`, best of `--runs`,
   events/s counting prediction and feedback lines; the report's summary is checked (events, windows
   per model, labels joined, nothing evicted) and so are its data onsets (the shifted features, and
   only those);
4. the baseline, same core, same files, best of `--runs`: orjson per line, merge by event time,
   per-model reference and current windows as preallocated NumPy arrays, at each 10,000-prediction
   window normalised Wasserstein (scipy.stats.wasserstein_distance / reference std) per numeric
   feature, Jensen-Shannon (scipy.spatial.distance.jensenshannon on category shares) per categorical
   one, threshold 0.1 and the 0.5 share rule (distances have no p-values, so no Benjamini-Hochberg),
   the same on the score; a dict join of predictions and feedback; River's ADWIN on the error stream;
   accuracy windows of 2,000 labels against the first 2,000 (one-sided two-proportion z). It runs
   in target/bench-replay/venv (created here with pip). It does less than driftd (no validation of
   the events, nothing kept for checkpoints) and its time is taken inside the process, after the
   imports, while driftd's is the wall time of the whole command: both favour the baseline.
   Versions used for the README figures: orjson 3.13.0, numpy 2.4.6, scipy 1.17.1, river 0.26.1
   (Python 3.11.7);
5. memory: the largest resident set (`/usr/bin/time -f %M`) of the replay of the small and the large
   file, and their ratio (by default the join store keeps 4,000 entries per model and kind in
   memory and the rest in a temporary file: `--join-memory`); then the same with `--join-memory 0`
   (all in memory; its throughput too); then the same with a tight join store (`join_max_entries` 20,000,
   `join_ttl_seconds` 60, i.e. 60,000 events), to tell the join store's share of any growth from the
   rest (the window summaries are fixed-size);
6. prints a Markdown table for the README. It exits non-zero when a check of the replay's output
   fails; with --check-targets also when a target of issue 4 is missed (> 300,000 events/s; RSS of the
   large replay within 10 % of the small one's).
"""
import argparse
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench-replay")
PACKAGES = ["orjson", "numpy", "scipy", "river"]

N_NUM, N_CAT, N_LEVELS = 22, 3, 8
SHIFTED_NUM = ("num_0", "num_1", "num_2")
SHIFTED_CAT = ("cat_0",)
SHIFTED = set(SHIFTED_NUM + SHIFTED_CAT)
MODELS = ("churn", "fraud")
WINDOW = 10_000  # driftd's default reference_events and window_events
LABEL_SHARE = 0.9
T0_MS = int(dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc).timestamp() * 1000)
CAP_ENTRIES, CAP_TTL_S, CAP_DEDUPE = 20_000, 60, 20_000  # the bounded-join-store memory run
GEN_VERSION = 1  # bump when the generator changes: the files are reused by name

BASELINE = r'''
import datetime as dt, heapq, json, math, sys, time
import numpy as np, orjson
from river import drift
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

REF = WIN = 10_000          # predictions in the reference window and in each tumbling window
ACC_REF = ACC_WIN = 2_000   # labels in the accuracy reference and in each accuracy window
THRESHOLD, SHARE = 0.1, 0.5 # distance threshold per feature; share of drifted features for the dataset
ALPHA, MIN_DROP = 0.001, 0.03
fromiso = dt.datetime.fromisoformat

class Monitor:
    def __init__(self, features):
        # Features discovered from the first prediction: numbers are numeric, strings categorical.
        self.num = [k for k, v in features.items() if isinstance(v, (int, float))]
        self.cat = [k for k, v in features.items() if isinstance(v, str)]
        self.codes = [{} for _ in self.cat]  # category -> code, per categorical feature
        self.ref_num = np.empty((REF, len(self.num))); self.cur_num = np.empty((WIN, len(self.num)))
        self.ref_cat = np.empty((REF, len(self.cat)), np.int64); self.cur_cat = np.empty((WIN, len(self.cat)), np.int64)
        self.ref_score = np.empty(REF); self.cur_score = np.empty(WIN)
        self.n = 0; self.in_ref = True; self.windows = 0
        self.state = {}; self.onsets = {}; self.data_onsets = []
        self.pending, self.early, self.joined = {}, {}, set()
        self.adwin = drift.ADWIN(delta=0.002)
        self.labelled = self.errors = 0
        self.acc_ref = [0, 0]; self.acc_cur = [0, 0]; self.acc_ref_done = False

    def code(self, j, v):
        c = self.codes[j].get(v)
        if c is None:
            c = self.codes[j][v] = len(self.codes[j])
        return c

    def edge(self, key, kind, drift):
        was = self.state.get(key, False); self.state[key] = drift
        if drift and not was:
            self.onsets[kind] = self.onsets.get(kind, 0) + 1
            return True
        return False

    def prediction(self, e):
        f, p = e["features"], e["prediction"]
        k = self.n
        if self.in_ref:
            nums, cats, scores = self.ref_num, self.ref_cat, self.ref_score
        else:
            nums, cats, scores = self.cur_num, self.cur_cat, self.cur_score
        nums[k] = [f[name] for name in self.num]
        cats[k] = [self.code(j, f[name]) for j, name in enumerate(self.cat)]
        scores[k] = p["score"]
        self.n = k + 1
        label, i = p["label"], e["id"]
        if i in self.early:
            self.on_label(label, self.early.pop(i)); self.joined.add(i)
        elif i not in self.joined and i not in self.pending:
            self.pending[i] = label
        if self.in_ref and self.n == REF:
            self.in_ref = False; self.n = 0
            self.ref_sd = self.ref_num.std(axis=0); self.ref_score_sd = self.ref_score.std()
        elif not self.in_ref and self.n == WIN:
            self.evaluate(); self.n = 0

    def feedback(self, e):
        i = e["id"]
        if i in self.joined:
            pass  # a duplicate, counted once
        elif i in self.pending:
            self.on_label(self.pending.pop(i), e["label"]); self.joined.add(i)
        elif i not in self.early:
            self.early[i] = e["label"]

    def on_label(self, predicted, actual):
        err = predicted != actual
        self.labelled += 1; self.errors += err
        self.adwin.update(float(err))
        if self.adwin.drift_detected:
            self.onsets["concept"] = self.onsets.get("concept", 0) + 1
        w = self.acc_cur if self.acc_ref_done else self.acc_ref
        w[0] += 1; w[1] += not err
        if not self.acc_ref_done:
            self.acc_ref_done = self.acc_ref[0] >= ACC_REF
        elif self.acc_cur[0] >= ACC_WIN:
            (n1, k1), (n2, k2) = self.acc_ref, self.acc_cur
            p1, p2, pp = k1 / n1, k2 / n2, (k1 + k2) / (n1 + n2)
            se = math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2)) or 1e-12
            pv = 0.5 * math.erfc((p1 - p2) / se / math.sqrt(2))
            self.edge("accuracy", "accuracy", pv < ALPHA and p1 - p2 >= MIN_DROP)
            self.acc_cur = [0, 0]

    def evaluate(self):
        self.windows += 1
        drifted = []
        for j, name in enumerate(self.num):
            d = wasserstein_distance(self.ref_num[:, j], self.cur_num[:, j]) / self.ref_sd[j]
            drifted.append((name, d >= THRESHOLD))
        for j, name in enumerate(self.cat):
            m = len(self.codes[j])
            r = np.bincount(self.ref_cat[:, j], minlength=m); c = np.bincount(self.cur_cat[:, j], minlength=m)
            drifted.append((name, jensenshannon(r / r.sum(), c / c.sum()) >= THRESHOLD))
        for name, d in drifted:
            if self.edge("data/" + name, "data", d):
                self.data_onsets.append(name)
        self.edge("dataset", "dataset", sum(d for _, d in drifted) / len(drifted) >= SHARE)
        d = wasserstein_distance(self.ref_score, self.cur_score) / self.ref_score_sd
        self.edge("prediction", "prediction", d >= THRESHOLD)

def read(path):
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                e = orjson.loads(line)
                yield fromiso(e["ts"]).timestamp(), e

t0 = time.perf_counter()
monitors, counts = {}, {}
# Merged by event time, ties to the predictions file (heapq.merge is stable).
for _, e in heapq.merge(read(sys.argv[1]), read(sys.argv[2]), key=lambda x: x[0]):
    name, kind = e["model"], e["kind"]
    counts[kind] = counts.get(kind, 0) + 1
    m = monitors.get(name)
    if m is None:
        m = monitors[name] = Monitor(e["features"])
    if kind == "prediction":
        m.prediction(e)
    else:
        m.feedback(e)
el = time.perf_counter() - t0
print(json.dumps({"elapsed": el, "counts": counts, "models": {
    k: {"windows": m.windows, "labelled": m.labelled, "errors": m.errors, "onsets": m.onsets,
        "data_onsets": sorted(m.data_onsets)} for k, m in sorted(monitors.items())}}))
'''


def fmt_ts(ms):
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def make_events(pred_path, fb_path, n, delay, seed=42):
    """n predictions (models alternating) and the feedback of 90 % of them, `delay` ms later."""
    rng = random.Random(seed)
    # Per model and feature: mean and standard deviation.
    params = {m: [(rng.uniform(-100, 100), rng.choice([0.5, 1.0, 5.0, 20.0, 100.0])) for _ in range(N_NUM)]
              for m in MODELS}
    weights = [0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]
    cum = [sum(weights[: k + 1]) for k in range(N_LEVELS)]
    cum_rev = [sum(weights[::-1][: k + 1]) for k in range(N_LEVELS)]
    half = n // 2
    tmp_p, tmp_f = pred_path + ".tmp", fb_path + ".tmp"
    with open(tmp_p, "w") as fp, open(tmp_f, "w") as ff:
        for i in range(n):
            model = MODELS[i % 2]
            shifted = i >= half
            parts = []
            z = []
            for j, (mu, sd) in enumerate(params[model]):
                x = rng.gauss(0.0, 1.0) + (1.0 if shifted and j < len(SHIFTED_NUM) else 0.0)
                z.append(x)
                parts.append(f'"num_{j}":{round(mu + sd * x, 4)!r}')
            for j in range(N_CAT):
                c = cum_rev if shifted and j < len(SHIFTED_CAT) else cum
                parts.append(f'"cat_{j}":"v{min(bisect_right(c, rng.random()), N_LEVELS - 1)}"')
            logit = 0.8 * z[0] + 0.5 * z[3] - 0.6 * z[5] + rng.gauss(0.0, 0.5)
            score = 1.0 / (1.0 + math.exp(-logit))
            label = "1" if score >= 0.5 else "0"
            fp.write(f'{{"kind":"prediction","id":"p{i}","model":"{model}","model_version":"3",'
                     f'"ts":"{fmt_ts(T0_MS + i)}","features":{{{",".join(parts)}}},'
                     f'"prediction":{{"label":"{label}","score":{round(score, 4)!r}}}}}\n')
            if rng.random() < LABEL_SHARE:
                wrong = rng.random() < (0.3 if shifted else 0.1)
                truth = ("0" if label == "1" else "1") if wrong else label
                ff.write(f'{{"kind":"feedback","id":"p{i}","model":"{model}",'
                         f'"ts":"{fmt_ts(T0_MS + i + delay)}","label":"{truth}"}}\n')
    os.replace(tmp_f, fb_path)
    os.replace(tmp_p, pred_path)


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def feedback_per_model(path):
    counts = {}
    pat = re.compile(rb'"model":"([^"]+)"')
    with open(path, "rb") as f:
        for line in f:
            m = pat.search(line)
            counts[m.group(1).decode()] = counts.get(m.group(1).decode(), 0) + 1
    return counts


def dataset(n, delay):
    base = os.path.join(OUT, f"v{GEN_VERSION}-{n}-d{delay}")
    pred, fb = base + ".predictions.jsonl", base + ".feedback.jsonl"
    if not (os.path.exists(pred) and os.path.exists(fb)):
        print(f"writing {pred} and {fb}", file=sys.stderr)
        t = time.perf_counter()
        make_events(pred, fb, n, delay)
        print(f"  ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return pred, fb


class Check:
    def __init__(self):
        self.failed = []

    def __call__(self, ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}", file=sys.stderr)
        if not ok:
            self.failed.append(what)


def read_report(path):
    onsets, summary = [], None
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            if "summary" in o:
                summary = o["summary"]
            else:
                onsets.append(o)
    return onsets, summary


def check_replay(check, report, n, fb_counts, label):
    """The replay's report against what the input implies."""
    onsets, s = read_report(report)
    check(s is not None, f"{label}: the report ends with a summary line")
    if s is None:
        return
    per_model = n // len(MODELS)
    windows = (per_model - WINDOW) // WINDOW
    check(s["events"] == n + sum(fb_counts.values()), f"{label}: summary.events = {s['events']:,}")
    check(not s.get("rejected"), f"{label}: nothing rejected ({s.get('rejected')})")
    for m in MODELS:
        ms = s["models"].get(m, {})
        check(ms.get("predictions") == per_model and ms.get("feedback") == fb_counts.get(m),
              f"{label}: {m}: {ms.get('predictions')} predictions, {ms.get('feedback')} feedback")
        check(ms.get("windows") == windows, f"{label}: {m}: {ms.get('windows')} windows evaluated (expected {windows})")
        check(ms.get("labelled") == fb_counts.get(m), f"{label}: {m}: every label joined ({ms.get('labelled')})")
        check(ms.get("join_evicted") == 0 and ms.get("duplicate_feedback") == 0,
              f"{label}: {m}: nothing evicted, no duplicate")
        data = sorted(o["feature"] for o in onsets if o["model"] == m and o["kind"] == "data")
        check(data == sorted(SHIFTED), f"{label}: {m}: data onsets on {data} (expected {sorted(SHIFTED)})")
        kinds = {o["kind"] for o in onsets if o["model"] == m}
        check({"concept", "accuracy"} <= kinds, f"{label}: {m}: onset kinds {sorted(kinds)} include concept and accuracy")
    return s


def max_rss_kib(pin, driftd, pred, fb, report, config=None, extra=()):
    cfg = ["--config", config] if config else []
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + pin + [driftd, "replay", "--events", pred, "--feedback",
                                                             fb, "--report", report] + cfg + list(extra),
                         capture_output=True, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="predictions in the large file")
    ap.add_argument("--small", type=int, default=100_000, help="predictions in the small file (memory)")
    ap.add_argument("--delay", type=int, default=5_000, help="label delay, in events (= milliseconds)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side (best is kept)")
    ap.add_argument("--check-targets", action="store_true", help="also fail when a target of issue 4 is missed")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)

    if not os.path.exists("/usr/bin/time"):
        print("/usr/bin/time is missing: installing Debian's `time`", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "time"], check=True, stdout=subprocess.DEVNULL)
    venv = os.path.join(OUT, "venv")
    py = os.path.join(venv, "bin", "python")
    ready = os.path.exists(py) and subprocess.run([py, "-c", "import orjson, numpy, scipy, river"],
                                                  capture_output=True).returncode == 0
    if not ready:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q"] + PACKAGES, check=True)
    versions = subprocess.run(
        [py, "-c", "import sys, orjson, numpy, scipy, river; print(f'Python {sys.version.split()[0]}, orjson "
                   "{orjson.__version__}, NumPy {numpy.__version__}, SciPy {scipy.__version__}, River {river.__version__}')"],
        capture_output=True, text=True, check=True).stdout.strip()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "driftd"], cwd=ROOT, check=True)
    driftd = os.path.join(ROOT, "target", "release", "driftd")
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []

    big_p, big_f = dataset(args.events, args.delay)
    small_p, small_f = dataset(args.small, args.delay)
    big_fb, small_fb = feedback_per_model(big_f), feedback_per_model(small_f)
    big_total = args.events + sum(big_fb.values())
    check = Check()

    # Throughput: driftd.
    work = tempfile.mkdtemp(prefix="bench-replay-")
    report = os.path.join(work, "report.jsonl")
    best_rs = None
    for r in range(args.runs):
        t0 = time.perf_counter()
        out = subprocess.run(pin + [driftd, "replay", "--events", big_p, "--feedback", big_f, "--report", report],
                             capture_output=True, text=True)
        el = time.perf_counter() - t0
        if out.returncode != 0:
            print(out.stdout, out.stderr, file=sys.stderr)
            sys.exit("driftd replay failed")
        print(f"driftd replay run {r + 1}: {el:.2f} s ({big_total / el:,.0f} events/s)", file=sys.stderr)
        best_rs = min(best_rs or 1e9, el)
    summary = check_replay(check, report, args.events, big_fb, "replay 1M" if args.events == 1_000_000 else "replay")
    # Determinism, for free: a second report of the same input is the same bytes.
    report2 = os.path.join(work, "report2.jsonl")
    subprocess.run([driftd, "replay", "--events", big_p, "--feedback", big_f, "--report", report2],
                   capture_output=True, check=True)
    with open(report, "rb") as a, open(report2, "rb") as b:
        check(a.read() == b.read(), "two replays give byte-identical reports")

    # Throughput: the Python baseline.
    best_py, py_out = None, None
    for r in range(args.runs):
        out = subprocess.run(pin + [py, "-c", BASELINE, big_p, big_f], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stdout, out.stderr, file=sys.stderr)
            sys.exit("the Python baseline failed")
        py_out = json.loads(out.stdout)
        print(f"python baseline run {r + 1}: {py_out['elapsed']:.2f} s "
              f"({big_total / py_out['elapsed']:,.0f} events/s)", file=sys.stderr)
        best_py = min(best_py or 1e9, py_out["elapsed"])
    per_model = args.events // len(MODELS)
    for m in MODELS:
        pm = py_out["models"].get(m, {})
        check(pm.get("windows") == (per_model - WINDOW) // WINDOW and pm.get("labelled") == big_fb.get(m),
              f"baseline: {m}: {pm.get('windows')} windows, {pm.get('labelled')} labels joined")
        check(pm.get("data_onsets") == sorted(SHIFTED), f"baseline: {m}: data onsets on {pm.get('data_onsets')}")
        if summary:
            rs = summary["models"][m]
            print(f"  onsets by kind, {m}: driftd {rs['onsets']}, baseline {pm.get('onsets')}", file=sys.stderr)

    # Memory.
    rss_small = max_rss_kib(pin, driftd, small_p, small_f, os.path.join(work, "small.jsonl"))
    check_replay(check, os.path.join(work, "small.jsonl"), args.small, small_fb, "replay small")
    rss_big = max_rss_kib(pin, driftd, big_p, big_f, os.path.join(work, "big.jsonl"))
    rss_ratio = rss_big / rss_small
    # The same with a tight join store (a diagnostic: how much of the growth is the join store's).
    capped = os.path.join(work, "capped.toml")
    with open(capped, "w") as f:
        f.write(f"[monitor]\njoin_max_entries = {CAP_ENTRIES}\njoin_ttl_seconds = {CAP_TTL_S}\n"
                f"join_dedupe_entries = {CAP_DEDUPE}\n")
    rss_small_c = max_rss_kib(pin, driftd, small_p, small_f, os.path.join(work, "small-c.jsonl"), capped)
    rss_big_c = max_rss_kib(pin, driftd, big_p, big_f, os.path.join(work, "big-c.jsonl"), capped)
    # Everything in memory (`--join-memory 0`): faster, but the join store's memory grows with
    # the number of waiting predictions and remembered ids (up to its bounds).
    best_mem = None
    for r in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run(pin + [driftd, "replay", "--events", big_p, "--feedback", big_f, "--report", report,
                              "--join-memory", "0"], capture_output=True, check=True)
        best_mem = min(best_mem or 1e9, time.perf_counter() - t0)
    rss_small_m = max_rss_kib(pin, driftd, small_p, small_f, os.path.join(work, "small-m.jsonl"),
                              extra=["--join-memory", "0"])
    rss_big_m = max_rss_kib(pin, driftd, big_p, big_f, os.path.join(work, "big-m.jsonl"),
                            extra=["--join-memory", "0"])
    shutil.rmtree(work, ignore_errors=True)

    rs_eps, py_eps = big_total / best_rs, big_total / best_py
    small_total = args.small + sum(small_fb.values())
    cmd = "`python3 scripts/bench_replay.py`"
    size = os.path.getsize(big_p) / args.events
    print()
    print(f"Replay of {args.events:,} predictions ({size:.0f} bytes each: 22 numeric + 3 categorical features, "
          f"models churn and fraud alternating) and {sum(big_fb.values()):,} feedback lines "
          f"({LABEL_SHARE:.0%} labelled, {args.delay:,} events late); reference and tumbling windows of "
          f"{WINDOW:,} predictions per model, i.e. {(per_model - WINDOW) // WINDOW} evaluations per model; "
          f"one core{' (`taskset -c 0`)' if pin else ''}; best of {args.runs}. Baseline: {versions}.")
    print()
    print("| what | figure | command |")
    print("|---|---|---|")
    print(f"| `driftd replay`, {big_total:,} events (predictions + feedback), end to end | "
          f"{rs_eps:,.0f} events/s | {cmd} |")
    print(f"| Python baseline, same work, same run (orjson, NumPy arrays, SciPy Wasserstein / Jensen–Shannon, "
          f"dict join, River ADWIN) | {py_eps:,.0f} events/s (driftd {rs_eps / py_eps:.1f}× faster) | {cmd} |")
    print(f"| max RSS, replay of {args.small:,} predictions ({small_total:,} events) | "
          f"{rss_small / 1024:,.1f} MiB | {cmd} |")
    print(f"| max RSS, replay of {args.events:,} predictions ({big_total:,} events) | "
          f"{rss_big / 1024:,.1f} MiB ({rss_ratio:.2f}× the small one) | {cmd} |")
    print(f"| `--join-memory 0` (the join store all in memory): throughput; max RSS small → large | "
          f"{big_total / best_mem:,.0f} events/s; {rss_small_m / 1024:,.1f} → {rss_big_m / 1024:,.1f} MiB "
          f"({rss_big_m / rss_small_m:.2f}×) | {cmd} |")
    print(f"| the same two with `[monitor] join_max_entries = {CAP_ENTRIES:,}`, `join_ttl_seconds = {CAP_TTL_S}`, "
          f"`join_dedupe_entries = {CAP_DEDUPE:,}` "
          f"(diagnostic) | {rss_small_c / 1024:,.1f} → {rss_big_c / 1024:,.1f} MiB "
          f"({rss_big_c / rss_small_c:.2f}×) | {cmd} |")
    print()
    targets = [(rs_eps > 300_000, f"throughput > 300,000 events/s: {rs_eps:,.0f}"),
               (abs(rss_ratio - 1) <= 0.10, f"RSS of the large replay within 10 % of the small one's: {rss_ratio:.2f}×")]
    for ok, what in targets:
        print(f"target {'met' if ok else 'NOT met'}: {what}")
    if check.failed:
        print(f"\n{len(check.failed)} check(s) failed:", *check.failed, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    if args.check_targets and not all(ok for ok, _ in targets):
        sys.exit(2)


if __name__ == "__main__":
    main()
