#!/usr/bin/env python3
"""Training time and shadow-scoring cost: driftd's criterion bench (`retrain/benches/train.rs`)
beside scikit-learn on the same data shape, same machine, same core.

    python3 scripts/bench_train.py [--runs 5] [--no-cargo] [--no-pin] [--core 0] [--baseline-only | --no-baseline]

What it does:

1. creates (once) a throwaway venv in `.testbed/bench-venv` with NumPy and scikit-learn (pip), and
   runs the baseline there, pinned to the same core, with one BLAS/OpenMP thread (driftd's Linfa
   build is pure Rust and single-threaded):
   the same shape — 100,000 examples, 20 numeric features (standard normal) and 5 categorical ones
   (6 levels, as strings), the same rules for the binary, 3-class and regression targets — then
   `encode` (StandardScaler + OneHotEncoder, fitted and applied) and the fit of each model with the
   settings of driftd's defaults: LogisticRegression(lbfgs, C = 1 / alpha = 1, max_iter 100,
   tol 1e-4; multinomial for 3 classes), DecisionTreeClassifier(gini, max_depth 10),
   GaussianNB(var_smoothing 1e-9), LinearRegression, ElasticNet(alpha 0.01, l1_ratio 0.5,
   max_iter 1000, tol 1e-4); best of `--runs`; scoring one pre-encoded row (predict_proba) and a
   batch of 1,000; saves the results in `target/bench-train/sklearn.json` (`--no-baseline` reuses
   them, `--baseline-only` stops there);
2. runs `cargo bench -p driftd-retrain --bench train` (built first without the pin, then run
   pinned to the same core, `--core`, default 0), unless `--no-cargo` (then it reads the results
   of the last run); reads criterion's `target/criterion/<group>/<bench>/new/sample.json` and
   `estimates.json`;
3. prints a Markdown table: driftd (best sample of criterion's, and its mean), scikit-learn
   (encode + fit, and fit alone, best of `--runs`), and the ratio.

driftd's `train()` takes raw examples (feature maps): its time includes fitting the encoder,
encoding, the fit and a divergence check (a prediction over the training set). The fair comparison
is therefore with scikit-learn's encode + fit; the fit alone is printed too.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".testbed", "bench-venv")
CRITERION = os.path.join(ROOT, "target", "criterion")
ALGOS = ["logistic_binary", "logistic_multinomial_3", "decision_tree", "gaussian_nb", "linear_regression",
         "elastic_net"]

BASELINE = r'''
import json, sys, time
import numpy as np
import sklearn
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

RUNS = int(sys.argv[1])
N, N_NUM, N_CAT, N_LEVELS = 100_000, 20, 5, 6
rng = np.random.default_rng(1)

def data(n):
    x = rng.standard_normal((n, N_NUM))
    c = rng.integers(0, N_LEVELS, (n, N_CAT))
    cats = np.array([f"v{l}" for l in range(N_LEVELS)], dtype=object)[c]
    eff = lambda j: np.where(c[:, j] == 0, 1.0, np.where(c[:, j] == 1, -1.0, 0.0))
    s1 = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.8 * x[:, 2] + eff(0)
    binary = np.where(s1 + 0.5 * x[:, 3] + 0.5 * rng.standard_normal(n) > 0, "1", "0")
    s2 = 1.2 * x[:, 3] - 0.7 * x[:, 4] + eff(1)
    s3 = -0.5 * s1 - 0.5 * s2 + 0.9 * x[:, 5]
    s = np.stack([s1, s2, s3], axis=1) + 0.3 * rng.standard_normal((n, 3))
    multi = np.array(["a", "b", "c"])[s.argmax(axis=1)]
    reg = 3.0 + s1 + 0.5 * x[:, 3] - 0.25 * x[:, 4] + 2.0 * eff(1) + rng.standard_normal(n)
    return x, cats, {"binary": binary, "multi": multi, "regression": reg}

x, cats, ys = data(N)

def encode(x, cats):
    sc = StandardScaler().fit(x)
    oh = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cats)
    return np.hstack([sc.transform(x), oh.transform(cats)]), (sc, oh)

def best(f):
    ts = []
    for _ in range(RUNS):
        t = time.perf_counter(); r = f(); ts.append(time.perf_counter() - t)
    return min(ts), r

t_enc, (X, _) = best(lambda: encode(x, cats))
algos = {
    "logistic_binary": (lambda: LogisticRegression(C=1.0, solver="lbfgs", max_iter=100, tol=1e-4), "binary"),
    "logistic_multinomial_3": (lambda: LogisticRegression(C=1.0, solver="lbfgs", max_iter=100, tol=1e-4), "multi"),
    "decision_tree": (lambda: DecisionTreeClassifier(criterion="gini", max_depth=10, random_state=0), "binary"),
    "gaussian_nb": (lambda: GaussianNB(var_smoothing=1e-9), "binary"),
    "linear_regression": (lambda: LinearRegression(), "regression"),
    "elastic_net": (lambda: ElasticNet(alpha=0.01, l1_ratio=0.5, max_iter=1000, tol=1e-4), "regression"),
}
out = {"versions": f"Python {sys.version.split()[0]}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}",
       "encode": t_enc, "fit": {}, "score": {}}
x_te, cats_te, ys_te = data(10_000)
X_te = np.hstack([StandardScaler().fit(x).transform(x_te),
                  OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(cats).transform(cats_te)])
models = {}
for name, (make, target) in algos.items():
    t, m = best(lambda: make().fit(X, ys[target]))
    models[name] = m
    q = m.score(X_te, ys_te[target])
    out["fit"][name] = {"seconds": t, "holdout_score": q}
    print(f"{name}: fit {t:.3f} s, held-out {'R2' if target == 'regression' else 'accuracy'} {q:.3f}", file=sys.stderr)
for name in ("logistic_binary", "decision_tree"):
    m = models[name]
    row = X_te[:1]
    k = 2000
    t = time.perf_counter()
    for _ in range(k):
        m.predict_proba(row)
    one = (time.perf_counter() - t) / k
    batch = X_te[:1000]
    t_b, _ = best(lambda: [m.predict_proba(batch) for _ in range(20)])
    out["score"][name] = {"predict": one, "predict_batch_1000": t_b / 20 / 1000}
print(json.dumps(out))
'''


def criterion_result(group, bench):
    """(best per-iteration time, mean) in seconds, from criterion's files."""
    d = os.path.join(CRITERION, group, bench, "new")
    with open(os.path.join(d, "sample.json")) as f:
        s = json.load(f)
    with open(os.path.join(d, "estimates.json")) as f:
        e = json.load(f)
    best = min(t / i for t, i in zip(s["times"], s["iters"]))
    return best * 1e-9, e["mean"]["point_estimate"] * 1e-9


def venv_python():
    py = os.path.join(VENV, "bin", "python")
    ok = os.path.exists(py) and subprocess.run([py, "-c", "import numpy, sklearn"], capture_output=True).returncode == 0
    if not ok:
        shutil.rmtree(VENV, ignore_errors=True)
        os.makedirs(os.path.dirname(VENV), exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "numpy", "scikit-learn"], check=True)
    return py


def fmt_s(t):
    return f"{t:.3f} s" if t >= 0.1 else f"{t * 1e3:.1f} ms"


def fmt_us(t):
    return f"{t * 1e6:.2f} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="scikit-learn runs per measurement (best kept)")
    ap.add_argument("--no-cargo", action="store_true", help="read the last criterion results, do not run the bench")
    ap.add_argument("--no-pin", action="store_true", help="do not pin both sides to one core")
    ap.add_argument("--core", type=int, default=0, help="the core both sides are pinned to (default 0)")
    ap.add_argument("--baseline-only", action="store_true", help="run and save the scikit-learn side only")
    ap.add_argument("--no-baseline", action="store_true", help="reuse the scikit-learn results saved last time")
    args = ap.parse_args()
    pin = ["taskset", "-c", str(args.core)] if not args.no_pin and shutil.which("taskset") else []

    saved = os.path.join(ROOT, "target", "bench-train", "sklearn.json")
    if args.no_baseline:
        with open(saved) as f:
            sk = json.load(f)
    else:
        py = venv_python()
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        out = subprocess.run(pin + [py, "-c", BASELINE, str(args.runs)], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stdout, out.stderr, file=sys.stderr)
            sys.exit("the scikit-learn baseline failed")
        print(out.stderr, file=sys.stderr, end="")
        sk = json.loads(out.stdout)
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        with open(saved, "w") as f:
            json.dump(sk, f)
    if args.baseline_only:
        return
    if not args.no_cargo:
        subprocess.run(["cargo", "bench", "-p", "driftd-retrain", "--bench", "train", "--no-run"], cwd=ROOT,
                       check=True)
        subprocess.run(pin + ["cargo", "bench", "-p", "driftd-retrain", "--bench", "train"], cwd=ROOT, check=True)
    rs = {a: criterion_result("train_100k_x25", a) for a in ALGOS + ["encode_only"]}
    score = {}
    for d in sorted(glob.glob(os.path.join(CRITERION, "shadow_score", "*", "new"))):
        bench = os.path.basename(os.path.dirname(d))
        with open(os.path.join(d, "benchmark.json")) as f:
            tp = json.load(f).get("throughput") or {}
        per = (tp.get("Elements") or tp.get("elements") or 1)
        best, mean = criterion_result("shadow_score", bench)
        score[bench] = (best / per, mean / per)

    print()
    print(f"Training on 100,000 examples × 25 raw features (20 numeric, 5 categorical with 6 levels), "
          f"default settings; {f'one core (`taskset -c {args.core}`), ' if pin else ''}one BLAS thread for the "
          f"baseline. driftd: criterion, best of 10 samples (mean in brackets). scikit-learn: best of "
          f"{args.runs}; {sk['versions']}.")
    print()
    print("| algorithm | driftd `train()` (encode + fit) | scikit-learn encode + fit | scikit-learn fit only | "
          "driftd / scikit-learn (encode + fit) |")
    print("|---|---|---|---|---|")
    b, m = rs["encode_only"]
    print(f"| (encoding alone) | {fmt_s(b)} ({fmt_s(m)}) | {fmt_s(sk['encode'])} | — | {b / sk['encode']:.1f}× |")
    for a in ALGOS:
        b, m = rs[a]
        fit = sk["fit"][a]["seconds"]
        tot = fit + sk["encode"]
        print(f"| {a} | {fmt_s(b)} ({fmt_s(m)}) | {fmt_s(tot)} | {fmt_s(fit)} | {b / tot:.2f}× |")
    print()
    print("Scoring cost per event (shadow mode); driftd from a raw 25-feature map (encoding included), "
          "scikit-learn `predict_proba` on an already encoded row:")
    print()
    print("| model | driftd `predict` (one map) | driftd `predict_batch` of 1,000, per event | "
          "scikit-learn, one row | scikit-learn, batch of 1,000, per row |")
    print("|---|---|---|---|---|")
    for name in ("logistic", "decision_tree"):
        one = score.get(f"{name}_predict")
        batch = score.get(f"{name}_predict_batch_1000")
        skn = sk["score"]["logistic_binary" if name == "logistic" else name]
        print(f"| {name} | {fmt_us(one[0]) if one else '—'} | {fmt_us(batch[0]) if batch else '—'} | "
              f"{fmt_us(skn['predict'])} | {fmt_us(skn['predict_batch_1000'])} |")
    print()
    print("Commands: `cargo bench -p driftd-retrain --bench train`; `python3 scripts/bench_train.py`")


if __name__ == "__main__":
    main()
