"""Time in Python (River, SciPy, NumPy, pandas, Frouros) the work that benches/detectors.rs times in
Rust, on the same seeded data (dgen.py = driftd_detectors::synth). Prints one JSON object
{benchmark id: seconds per iteration}; ids match criterion's (`group/function[/size]`).

    /tmp/refvenv/bin/pip install numpy==2.4.6 scipy==1.17.1 river==0.26.1 pandas==3.1.1
    /tmp/refvenv/bin/python detectors/scripts/bench_python.py > py.json
    /tmp/frouvenv/bin/python detectors/scripts/bench_python.py --only cusum > py_cusum.json

Each timing is the median of several repeats (`timeit`-style, after one warm-up run). The stream
benchmarks feed 10,000 values (per-update cost = time / 10,000). Two-sample benchmarks start from
raw unsorted arrays, like the Rust ones:
  ks          scipy.stats.ks_2samp(ref, cur)
  wasserstein scipy.stats.wasserstein_distance(ref, cur)
  psi         NumPy: quantile (+ out-of-range) edges of ref, searchsorted + bincount, PSI formula
              (twosample_fixtures.py's reference implementation)
  chi_square  pandas value_counts of both string arrays, alignment, scipy.stats.chi2_contingency
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import dgen

STREAM_SEED, REF_SEED, CUR_SEED = 2024, 7, 8
EPS = 1e-4


def timed(fn, repeats):
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def stream_benches(only):
    out = {}
    numeric = dgen.sample_n({"type": "normal", "loc": 0.0, "scale": 1.0}, STREAM_SEED, 10_000)
    binary = dgen.sample_n({"type": "bernoulli", "p": 0.1}, STREAM_SEED, 10_000)
    makers = {}
    if only in (None, "river"):
        from river import drift

        makers.update({
            "adwin": (drift.ADWIN, numeric),
            "page_hinkley": (drift.PageHinkley, numeric),
            "kswin": (lambda: drift.KSWIN(seed=42), numeric),
            "ddm": (drift.binary.DDM, binary),
            "eddm": (drift.binary.EDDM, binary),
            "hddm_a": (drift.binary.HDDMA, binary),
            "hddm_w": (drift.binary.HDDMW, binary),
        })
    if only in (None, "cusum"):
        try:
            from frouros.detectors.concept_drift import CUSUM

            def frouros_cusum():
                return CUSUM()

            makers["cusum"] = (frouros_cusum, numeric)
        except ImportError:
            pass
    for name, (make, data) in makers.items():
        def run():
            det = make()
            if name == "cusum":
                for x in data:
                    det.update(value=x)
            else:
                for x in data:
                    det.update(x)

        out[f"stream/{name}"] = timed(run, 5 if name != "kswin" else 2)
    return out


def two_sample_benches():
    import numpy as np
    import pandas as pd
    from scipy import stats

    out = {}
    for n in (10_000, 100_000, 1_000_000):
        ref = np.array(dgen.sample_n({"type": "normal", "loc": 0.0, "scale": 1.0}, REF_SEED, n))
        cur = np.array(dgen.sample_n({"type": "normal", "loc": 0.05, "scale": 1.0}, CUR_SEED, n))
        reps = 7 if n < 1_000_000 else 3
        out[f"twosample/ks/{n}"] = timed(lambda: stats.ks_2samp(ref, cur), reps)
        out[f"twosample/wasserstein/{n}"] = timed(lambda: stats.wasserstein_distance(ref, cur), reps)

        def psi():
            inner = np.quantile(ref, [i / 10 for i in range(1, 10)])
            edges = np.unique(np.concatenate([[ref.min()], inner, [np.nextafter(ref.max(), np.inf)]]))
            rc = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
            cc = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
            rp, cp = rc / rc.sum(), cc / cc.sum()
            rs, cs = np.where(rp == 0, EPS, rp), np.where(cp == 0, EPS, cp)
            return float(np.sum((cs - rs) * np.log(cs / rs)))

        out[f"twosample/psi/{n}"] = timed(psi, reps)

        def cats(seed, weights):
            d = {"type": "categorical", "weights": weights}
            return [f"c{int(x)}" for x in dgen.sample_n(d, seed, n)]

        rcat = cats(REF_SEED, [4.0, 3.0, 2.0, 1.0, 1.0, 0.5])
        ccat = cats(CUR_SEED, [4.0, 3.0, 2.0, 1.0, 1.1, 0.5])

        def chi():
            r = pd.Series(rcat).value_counts()
            c = pd.Series(ccat).value_counts()
            keys = sorted(r.index)
            rc = [int(r.get(k, 0)) for k in keys] + [0]
            cc = [int(c.get(k, 0)) for k in keys] + [int(c[~c.index.isin(keys)].sum())]
            table = np.array([rc, cc])
            table = table[:, table.sum(axis=0) > 0]
            return stats.chi2_contingency(table, correction=False)

        out[f"twosample/chi_square/{n}"] = timed(chi, reps)
    return out


def main(argv):
    only = None
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
    out = {}
    if only in (None, "river", "cusum"):
        out.update(stream_benches(only))
    if only is None:
        out.update(two_sample_benches())
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv)
