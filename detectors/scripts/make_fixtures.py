"""Generate the reference fixtures of driftd-detectors from River, SciPy and NumPy.

Run it from a throwaway virtual environment OUTSIDE the repository, e.g.

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install numpy==2.4.6 scipy==1.17.1 river==0.26.1
    /tmp/refvenv/bin/python detectors/scripts/make_fixtures.py            # all fixtures
    /tmp/refvenv/bin/python detectors/scripts/make_fixtures.py streams    # only streams.json

Versions used for the committed fixtures: Python 3.11.7, numpy 2.4.6, scipy 1.17.1, river 0.26.1.

Outputs (in detectors/tests/fixtures/):

* streams.json    — seeded streams (as generator recipes, see dgen.py) and, for each detector setting,
                    the indices where River (or Frouros's CUSUM recurrence) reports drifts and warnings.
* twosample.json  — numeric two-sample cases (recipes) with SciPy's statistics and p-values.
* categorical.json — categorical two-sample cases with SciPy/NumPy results.
* corrections.json — Benjamini-Hochberg adjusted p-values (scipy.stats.false_discovery_control).
* gtest.json      — G-tests of homogeneity (scipy.stats.chi2_contingency, lambda_="log-likelihood").

Data are stored as recipes for dgen.py / driftd_detectors::synth together with a checksum (the sum of
the generated values), not as raw numbers, so the fixtures stay small even for 100,000-value samples.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import dgen

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")


def versions() -> dict:
    import numpy
    import scipy

    out = {"python": sys.version.split()[0], "numpy": numpy.__version__, "scipy": scipy.__version__}
    try:
        import river

        out["river"] = river.__version__
    except ImportError:
        pass
    return out


# ---------------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------------


def seg(n, **dist):
    return {"len": n, "dist": dist}


NUMERIC_STREAMS = {
    "mean_shift": {"seed": 1, "segments": [seg(2000, type="normal", loc=0.0, scale=1.0), seg(2000, type="normal", loc=1.0, scale=1.0)]},
    "small_mean_shift": {"seed": 2, "segments": [seg(3000, type="normal", loc=0.0, scale=1.0), seg(3000, type="normal", loc=0.3, scale=1.0)]},
    "variance_increase": {"seed": 3, "segments": [seg(2000, type="normal", loc=0.0, scale=1.0), seg(2000, type="normal", loc=0.0, scale=3.0)]},
    "stationary": {"seed": 4, "segments": [seg(6000, type="normal", loc=5.0, scale=2.0)]},
    "multi_shift": {"seed": 5, "segments": [
        seg(1500, type="normal", loc=0.0, scale=1.0), seg(1500, type="normal", loc=2.0, scale=1.0),
        seg(1500, type="normal", loc=-1.0, scale=1.0), seg(1500, type="normal", loc=0.5, scale=1.0)]},
    "discrete_jump": {"seed": 12345, "segments": [seg(1000, type="discrete", k=2), seg(1000, type="uniform", low=4.0, high=8.0)]},
    "heavy_tailed": {"seed": 7, "segments": [seg(3000, type="cauchy", loc=0.0, scale=1.0), seg(3000, type="cauchy", loc=3.0, scale=1.0)]},
    "ties": {"seed": 8, "segments": [seg(2000, type="rounded", loc=0.0, scale=1.0, step=2.0), seg(2000, type="rounded", loc=0.8, scale=1.0, step=2.0)]},
    "mean_decrease": {"seed": 9, "segments": [seg(2000, type="normal", loc=10.0, scale=2.0), seg(2000, type="normal", loc=8.0, scale=2.0)]},
    "pareto": {"seed": 10, "segments": [seg(3000, type="pareto", scale=1.0), seg(3000, type="pareto", scale=2.0)]},
}

BINARY_STREAMS = {
    "err_10_to_20": {"seed": 11, "segments": [seg(5000, type="bernoulli", p=0.1), seg(5000, type="bernoulli", p=0.2)]},
    "err_10_to_40": {"seed": 12, "segments": [seg(1000, type="bernoulli", p=0.1), seg(1000, type="bernoulli", p=0.4)]},
    "err_stable_5": {"seed": 13, "segments": [seg(8000, type="bernoulli", p=0.05)]},
    "err_30_to_10": {"seed": 14, "segments": [seg(3000, type="bernoulli", p=0.3), seg(3000, type="bernoulli", p=0.1)]},
    "err_multi": {"seed": 15, "segments": [
        seg(2000, type="bernoulli", p=0.1), seg(2000, type="bernoulli", p=0.3),
        seg(2000, type="bernoulli", p=0.1), seg(2000, type="bernoulli", p=0.5)]},
    "err_50_to_70": {"seed": 16, "segments": [seg(1000, type="bernoulli", p=0.5), seg(1000, type="bernoulli", p=0.7)]},
    "err_low_rate": {"seed": 17, "segments": [seg(5000, type="bernoulli", p=0.01), seg(5000, type="bernoulli", p=0.05)]},
    "err_gradual": {"seed": 18, "segments": [
        seg(2000, type="bernoulli", p=0.1), seg(500, type="bernoulli", p=0.15), seg(500, type="bernoulli", p=0.2),
        seg(500, type="bernoulli", p=0.25), seg(2000, type="bernoulli", p=0.3)]},
    "err_high": {"seed": 19, "segments": [seg(2000, type="bernoulli", p=0.8), seg(2000, type="bernoulli", p=0.9)]},
}

# Detector settings, in the JSON shape of driftd's DetectorConfig. Binary detectors run on the binary
# streams only; numeric detectors run on every stream.
DETECTORS = [
    {"type": "adwin"},
    {"type": "adwin", "delta": 0.05, "clock": 1, "max_buckets": 3, "min_window_length": 10, "grace_period": 30},
    {"type": "page_hinkley"},
    {"type": "page_hinkley", "min_instances": 10, "delta": 0.05, "threshold": 10.0, "alpha": 0.999, "mode": "up"},
    {"type": "page_hinkley", "threshold": 25.0, "mode": "down"},
    {"type": "kswin"},
    {"type": "kswin", "alpha": 0.0001, "window_size": 200, "stat_size": 50, "seed": 7},
    {"type": "cusum"},
    {"type": "cusum", "delta": 0.05, "lambda": 10.0, "min_instances": 50},
    {"type": "ddm"},
    {"type": "ddm", "warm_start": 50, "warning_threshold": 1.5, "drift_threshold": 2.5},
    {"type": "eddm"},
    {"type": "eddm", "warm_start": 50, "alpha": 0.9, "beta": 0.8},
    {"type": "hddm_a"},
    {"type": "hddm_a", "drift_confidence": 0.0001, "warning_confidence": 0.01, "two_sided_test": True},
    {"type": "hddm_w"},
    {"type": "hddm_w", "drift_confidence": 0.0001, "warning_confidence": 0.01, "lambda": 0.1, "two_sided_test": True},
]

BINARY_TYPES = {"ddm", "eddm", "hddm_a", "hddm_w"}


class FrourosCusum:
    """Frouros 0.9 `CUSUM` recurrence (frouros/detectors/concept_drift/streaming/change_detection),
    transcribed; scripts/check_cusum_frouros.py verifies it against the real package. `mode` other
    than "up" is driftd's two-sided extension (mirrored recurrence)."""

    def __init__(self, delta=0.005, lambda_=50.0, min_num_instances=30, mode="up"):
        self.delta, self.lambda_, self.min_num_instances, self.mode = delta, lambda_, min_num_instances, mode
        self.reset()

    def reset(self):
        self.n, self.mean, self.up, self.down, self.drift = 0, 0.0, 0.0, 0.0, False

    def update(self, x):
        self.n += 1
        self.mean += (x - self.mean) / self.n
        self.up = max(0.0, self.up + x - self.mean - self.delta)
        self.down = max(0.0, self.down - x + self.mean - self.delta)
        hit_up, hit_down = self.up > self.lambda_, self.down > self.lambda_
        hit = {"up": hit_up, "down": hit_down, "both": hit_up or hit_down}[self.mode]
        self.drift = self.n >= self.min_num_instances and hit


def patch_hddm_w_ibc():
    """The one-line fix of River's HDDM_W (see src/stream/hddm_w.rs): an EWMA that has seen a single
    value has sum of squared weights 1 (MOA's HDDM_W_Test), not lambda^2 + (1-lambda)^2."""
    from river.drift.binary import hddm_w

    original = hddm_w.SampleInfo.update

    def update(self, x):
        first = not self._is_init
        original(self, x)
        if first:
            self._ibc = 1.0

    hddm_w.SampleInfo.update = update
    return lambda: setattr(hddm_w.SampleInfo, "update", original)


def make_river(cfg: dict):
    from river import drift

    c = dict(cfg)
    t = c.pop("type")
    if t == "adwin":
        return drift.ADWIN(**c)
    if t == "page_hinkley":
        return drift.PageHinkley(**c)
    if t == "kswin":
        c.setdefault("seed", 42)
        return drift.KSWIN(**c)
    if t == "cusum":
        return FrourosCusum(delta=c.get("delta", 0.005), lambda_=c.get("lambda", 50.0),
                            min_num_instances=c.get("min_instances", 30), mode=c.get("mode", "up"))
    if t == "ddm":
        return drift.binary.DDM(**c)
    if t == "eddm":
        return drift.binary.EDDM(**c)
    if t == "hddm_a":
        return drift.binary.HDDMA(**c)
    if t == "hddm_w":
        if "lambda" in c:
            c["lambda_val"] = c.pop("lambda")
        return drift.binary.HDDMW(**c)
    raise ValueError(t)


def run_detector(cfg: dict, xs: list[float]):
    det = make_river(cfg)
    drifts, warns = [], []
    frouros = isinstance(det, FrourosCusum)
    prev_drift = False
    for i, x in enumerate(xs):
        if frouros and prev_drift:
            det.reset()  # River semantics: reset on the update after a drift
        det.update(x)
        d = det.drift if frouros else det.drift_detected
        w = getattr(det, "warning_detected", False)
        if d:
            drifts.append(i)
        elif w:
            warns.append(i)
        prev_drift = d
    return drifts, warns


def make_streams():
    streams = []
    for kind, table in (("numeric", NUMERIC_STREAMS), ("binary", BINARY_STREAMS)):
        for name, recipe in table.items():
            xs = dgen.stream(recipe)
            streams.append({"name": name, "kind": kind, "recipe": recipe, "len": len(xs), "checksum": dgen.checksum(xs)})
    data = {s["name"]: dgen.stream(s["recipe"]) for s in streams}
    results = []
    for cfg in DETECTORS:
        binary = cfg["type"] in BINARY_TYPES
        per_stream = {}
        for s in streams:
            if binary and s["kind"] != "binary":
                continue
            xs = data[s["name"]]
            entry = {}
            if cfg["type"] == "hddm_w":
                raw_d, raw_w = run_detector(cfg, xs)
                restore = patch_hddm_w_ibc()
                try:
                    d, w = run_detector(cfg, xs)
                finally:
                    restore()
                entry = {"drifts": d, "warnings": w}
                if (raw_d, raw_w) != (d, w):
                    entry["river_unpatched"] = {"drifts": raw_d, "warnings": raw_w}
            else:
                d, w = run_detector(cfg, xs)
                entry = {"drifts": d, "warnings": w}
            per_stream[s["name"]] = entry
        reference = "frouros-0.9 CUSUM recurrence" if cfg["type"] == "cusum" else "river"
        if cfg["type"] == "hddm_w":
            reference = "river with the HDDM_W first-update IBC fix"
        results.append({"config": cfg, "reference": reference, "results": per_stream})
    out = {"versions": versions(), "streams": streams, "detectors": results}
    path = os.path.join(OUT, "streams.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")


def make_corrections():
    """Benjamini-Hochberg adjusted p-values from scipy.stats.false_discovery_control."""
    import numpy as np
    from scipy import stats

    rng = dgen.Rng(77)
    vectors = [
        [0.01, 0.04, 0.03, 0.2],
        [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216],
        [0.5, 0.5, 0.5],
        [1e-12, 0.9, 0.049, 0.051, 0.0001],
        [rng.uniform() ** 3 for _ in range(50)],
    ]
    cases = [{"p": v, "bh": stats.false_discovery_control(np.array(v), method="bh").tolist()} for v in vectors]
    path = os.path.join(OUT, "corrections.json")
    with open(path, "w") as f:
        json.dump({"versions": versions(), "cases": cases}, f, indent=1)
    print(f"wrote {path}")


def make_gtest():
    """G-tests of homogeneity (2 x k tables) from scipy.stats.chi2_contingency(lambda_="log-likelihood"):
    the statistic and p-value of driftd_detectors::sequential::g_test, including tables with empty
    columns, a zero reference column (a new category) and p-values far in the tail (the streaming
    detector looks at alpha ~ 1e-8)."""
    import numpy as np
    from scipy import stats

    rng = dgen.Rng(91)
    tables = [
        ([10, 20], [20, 10]),
        ([1000] * 10, [100] * 10),
        ([1000] * 10, [80, 90, 95, 100, 100, 105, 110, 110, 105, 105]),
        ([0, 998, 1003, 1001, 999, 1000, 997, 1002, 1000, 1000, 1000, 0], [0, 40, 45, 60, 70, 90, 100, 120, 140, 150, 180, 5]),
        ([5000, 3000, 2000, 0], [300, 300, 350, 50]),
        ([9990, 10], [990, 10]),
        ([9990, 10, 0], [990, 8, 2]),
        ([400, 0, 600], [40, 0, 60]),
        ([2500, 2500, 2500, 2500], [0, 0, 500, 500]),
        ([50 + int(1950 * rng.uniform()) for _ in range(20)], [int(200 * rng.uniform()) for _ in range(20)]),
    ]
    cases = []
    for r, c in tables:
        table = np.array([r, c])
        keep = table.sum(axis=0) > 0
        g, p, dof, _ = stats.chi2_contingency(table[:, keep], correction=False, lambda_="log-likelihood")
        cases.append({"reference": r, "current": c, "g": float(g), "p": float(p), "dof": int(dof)})
    path = os.path.join(OUT, "gtest.json")
    with open(path, "w") as f:
        json.dump({"versions": versions(), "cases": cases}, f, indent=1)
    print(f"wrote {path}")


def main(argv):
    what = argv[1:] or ["streams", "twosample", "categorical", "corrections", "gtest"]
    warnings.simplefilter("ignore")
    if "streams" in what:
        make_streams()
    if "twosample" in what:
        import twosample_fixtures

        twosample_fixtures.make(OUT, versions())
    if "corrections" in what:
        make_corrections()
    if "categorical" in what:
        import twosample_fixtures

        twosample_fixtures.make_categorical(OUT, versions())
    if "gtest" in what:
        make_gtest()


if __name__ == "__main__":
    main(sys.argv)
