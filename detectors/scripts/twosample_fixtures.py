"""Two-sample fixtures: SciPy/NumPy results on seeded samples (called by make_fixtures.py).

Each case stores the two samples as dgen recipes (distribution, seed, size) plus their checksums,
and the reference results:

* ks          scipy.stats.ks_2samp(ref, cur)                      (method="auto")
* wasserstein scipy.stats.wasserstein_distance(ref, cur), and the same / np.std(ref) (Evidently's norm)
* cvm         scipy.stats.cramervonmises_2samp(ref, cur)          (method="auto")
* ad          scipy.stats.anderson_ksamp([ref, cur], variant="midrank")
* mwu         scipy.stats.mannwhitneyu(ref, cur)                  (two-sided, continuity, method="auto")
* psi, js, hellinger, kl on reference-quantile bins plus two out-of-range bins (quantile_edges and
  numpy_binned below, the NumPy reference of driftd's binned distances; JS via
  scipy.spatial.distance.jensenshannon, KL via scipy.stats.entropy)

Categorical cases store category-index recipes (value i is the category "c{i}") and results of
scipy.stats.chi2_contingency(correction=False), the two-proportion z-test, PSI, JS, Hellinger, KL and
L-infinity on counts aligned on the reference's categories plus one other/new bucket.
"""

from __future__ import annotations

import json
import os

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

import dgen

EPS = 1e-4  # driftd's EMPTY_BIN_PROPORTION


def N(loc=0.0, scale=1.0):
    return {"type": "normal", "loc": loc, "scale": scale}


def U(low=0.0, high=1.0):
    return {"type": "uniform", "low": low, "high": high}


def C(loc=0.0, scale=1.0):
    return {"type": "cauchy", "loc": loc, "scale": scale}


def P(scale=1.0):
    return {"type": "pareto", "scale": scale}


def D(k):
    return {"type": "discrete", "k": k}


def R(loc=0.0, scale=1.0, step=10.0):
    return {"type": "rounded", "loc": loc, "scale": scale, "step": step}


def CAT(*w):
    return {"type": "categorical", "weights": list(w)}


# (name, reference dist, n_ref, current dist, n_cur)
NUMERIC_CASES = [
    ("tiny_equal", N(), 5, N(), 5),
    ("tiny_shift", N(), 5, N(1.0), 7),
    ("mwu_exact_8_6", N(), 8, N(0.5), 6),
    ("n10_equal", N(), 10, N(), 10),
    ("cvm_exact_15_20", N(), 15, N(0.8), 20),
    ("cvm_exact_20_20_scale", N(), 20, N(0.0, 2.0), 20),
    ("cvm_asymp_25_21", N(), 25, N(0.3), 21),
    ("exact_7_7_large_shift", N(), 7, N(4.0), 7),
    ("mwu_asymp_9_9", U(), 9, U(0.2, 1.2), 9),
    ("mwu_exact_8_100", N(), 8, N(0.4), 100),
    ("discrete_ties_30_40", D(5), 30, D(6), 40),
    ("rounded_ties_50_60", R(0, 1, 2.0), 50, R(0.5, 1, 2.0), 60),
    ("cauchy_50_shift", C(), 50, C(1.0), 50),
    ("pareto_100_80", P(1.0), 100, P(1.3), 80),
    ("n100_equal", N(), 100, N(), 100),
    ("n100_150_shift", N(), 100, N(0.3), 150),
    ("uniform_200_300", U(), 200, U(0.05, 1.05), 300),
    ("discrete3_500_ties", D(3), 500, D(3), 500),
    ("binary_numeric_200", D(2), 200, CAT(0.4, 0.6), 200),
    ("variance_300", N(), 300, N(0.0, 1.5), 300),
    ("skewed_cat_numeric_400", CAT(5, 3, 1, 1), 400, CAT(4, 3, 2, 1), 350),
    ("n1000_equal", N(), 1000, N(), 1000),
    ("n1000_800_small_shift", N(), 1000, N(0.1), 800),
    ("cauchy_1000_scale", C(), 1000, C(0.0, 2.0), 1000),
    ("rounded_1000_2000", R(0, 1, 10.0), 1000, R(0.05, 1, 10.0), 2000),
    ("n2000_big_shift", N(), 2000, N(0.5), 2000),
    ("n5000_tiny_shift", N(), 5000, N(0.05), 5000),
    ("discrete10_5000_3000", D(10), 5000, D(10), 3000),
    ("n10000_equal_exact", N(), 10000, N(), 10000),
    ("n10000_7000_exact_inside", N(), 10000, N(0.05), 7000),
    ("asymp_3000_12000", N(), 3000, N(0.03), 12000),
    ("uniform_12000_9000", U(), 12000, U(0.01, 1.01), 9000),
    ("asymp_small_en_20000_50", N(), 20000, N(0.2), 50),
    ("asymp_en140_15000_141", N(), 15000, N(0.1), 141),
    ("asymp_en300_20000_300", N(), 20000, N(0.15), 300),
    ("n50000_equal", N(), 50000, N(), 50000),
    ("n100000_equal", N(), 100000, N(), 100000),
    ("n100000_small_shift", N(), 100000, N(0.02), 100000),
    ("n100000_big_shift", N(), 100000, N(0.2), 100000),
    ("cauchy_100000_50000", C(), 100000, C(), 50000),
    ("pareto_100000_scale", P(1.0), 100000, P(1.1), 100000),
    ("discrete20_100000_ties", D(20), 100000, D(20), 100000),
    ("rounded_100000_20000", R(0, 1, 1.0), 100000, R(0.01, 1, 1.0), 20000),
    ("unequal_5_100000", N(), 5, N(0.5), 100000),
]


def quantile_edges(ref_sorted: np.ndarray, n_bins: int) -> np.ndarray:
    """Reference-quantile edges plus the out-of-range edges min(ref) and nextafter(max(ref), inf)."""
    qs = [i / n_bins for i in range(1, n_bins)]
    inner = np.quantile(ref_sorted, qs)
    return np.unique(np.concatenate([[ref_sorted[0]], inner, [np.nextafter(ref_sorted[-1], np.inf)]]))


def counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)


def numpy_binned(rc: np.ndarray, cc: np.ndarray) -> dict:
    """driftd's binned distances in NumPy/SciPy (the reference implementation)."""
    rp, cp = rc / rc.sum(), cc / cc.sum()
    rs, cs = np.where(rp == 0, EPS, rp), np.where(cp == 0, EPS, cp)
    return {
        "psi": float(np.sum((cs - rs) * np.log(cs / rs))),
        "js": float(jensenshannon(rc, cc)),
        "hellinger": float(np.sqrt(np.sum((np.sqrt(rp) - np.sqrt(cp)) ** 2)) / np.sqrt(2)),
        "kl": float(stats.entropy(rs, cs)),
        "linf": float(np.max(np.abs(rp - cp))),
    }


def numeric_case(name, dr, nr, dc, nc, seed):
    ref = np.array(dgen.sample_n(dr, seed, nr))
    cur = np.array(dgen.sample_n(dc, seed + 1, nc))
    out = {
        "name": name,
        "reference": {"dist": dr, "seed": seed, "n": nr, "checksum": dgen.checksum(ref)},
        "current": {"dist": dc, "seed": seed + 1, "n": nc, "checksum": dgen.checksum(cur)},
    }
    ks = stats.ks_2samp(ref, cur)
    out["ks"] = {"statistic": float(ks.statistic), "p_value": float(ks.pvalue),
                 "method": "exact" if max(nr, nc) <= 10000 else "asymp"}
    w = float(stats.wasserstein_distance(ref, cur))
    out["wasserstein"] = w
    sd = float(np.std(ref))
    out["wasserstein_normed"] = w / sd if sd > 0 else None
    cvm = stats.cramervonmises_2samp(ref, cur)
    out["cvm"] = {"statistic": float(cvm.statistic), "p_value": float(cvm.pvalue)}
    if len(np.unique(np.concatenate([ref, cur]))) >= 2:
        ad = stats.anderson_ksamp([ref, cur], variant="midrank")
        out["ad"] = {"statistic": float(ad.statistic), "p_value": float(ad.pvalue)}
    mwu = stats.mannwhitneyu(ref, cur)
    out["mwu"] = {"statistic": float(mwu.statistic), "p_value": float(mwu.pvalue)}
    out["binned"] = {}
    for n_bins in (10, 4):
        edges = quantile_edges(np.sort(ref), n_bins)
        out["binned"][str(n_bins)] = dict(numpy_binned(counts(ref, edges), counts(cur, edges)), n_edges=len(edges))
    return out


def make(out_dir: str, versions: dict):
    cases = []
    for i, (name, dr, nr, dc, nc) in enumerate(NUMERIC_CASES):
        cases.append(numeric_case(name, dr, nr, dc, nc, 1000 + 2 * i))
        print(f"  {name}: ks p={cases[-1]['ks']['p_value']:.3g}")
    path = os.path.join(out_dir, "twosample.json")
    with open(path, "w") as f:
        json.dump({"versions": versions, "empty_bin_proportion": EPS, "cases": cases}, f, indent=1)
    print(f"wrote {path} ({len(cases)} cases)")


# (name, reference weights, n_ref, current weights, n_cur); category i is named "c{i}".
CATEGORICAL_CASES = [
    ("equal_4", CAT(4, 3, 2, 1), 2000, CAT(4, 3, 2, 1), 2000),
    ("shifted_4", CAT(4, 3, 2, 1), 2000, CAT(2, 3, 3, 2), 1500),
    ("new_categories", CAT(5, 3, 2), 1000, CAT(5, 3, 2, 1, 1), 1000),
    ("binary_equal", CAT(7, 3), 500, CAT(7, 3), 600),
    ("binary_shift", CAT(7, 3), 500, CAT(6, 4), 600),
    ("binary_small", CAT(1, 1), 5, CAT(1, 3), 6),
    ("rare_categories", CAT(100, 50, 1, 1, 0.5), 3000, CAT(100, 50, 2, 0.2, 0.5), 3000),
    ("many_categories", CAT(*[1.0 + (i % 7) for i in range(40)]), 20000, CAT(*[1.0 + ((i + 1) % 7) for i in range(40)]), 20000),
    ("large_equal", CAT(3, 2, 2, 1, 1, 1), 100000, CAT(3, 2, 2, 1, 1, 1), 100000),
    ("large_tiny_shift", CAT(3, 2, 2, 1, 1, 1), 100000, CAT(3, 2, 2, 1, 1, 1.1), 100000),
    ("single_category_both", CAT(1), 50, CAT(1), 80),
    ("single_vs_new", CAT(1), 50, CAT(1, 1), 80),
    ("small_5_5", CAT(2, 1, 1), 5, CAT(1, 1, 2), 5),
]


def make_categorical(out_dir: str, versions: dict):
    cases = []
    for i, (name, wr, nr, wc, nc) in enumerate(CATEGORICAL_CASES):
        seed = 5000 + 2 * i
        ref = [f"c{int(v)}" for v in dgen.sample_n(wr, seed, nr)]
        cur = [f"c{int(v)}" for v in dgen.sample_n(wc, seed + 1, nc)]
        cats = sorted(set(ref))
        rc = np.array([ref.count(c) for c in cats] + [0])
        cur_known = [cur.count(c) for c in cats]
        unseen = len(cur) - sum(cur_known)
        cc = np.array(cur_known + [unseen])
        keep = (rc + cc) > 0
        out = {
            "name": name,
            "reference": {"dist": wr, "seed": seed, "n": nr},
            "current": {"dist": wc, "seed": seed + 1, "n": nc},
            "reference_counts": rc.tolist(),
            "current_counts": cc.tolist(),
            "unseen": int(unseen),
        }
        if keep.sum() >= 2:
            chi = stats.chi2_contingency(np.array([rc[keep], cc[keep]]), correction=False)
            out["chi_square"] = {"statistic": float(chi.statistic), "p_value": float(chi.pvalue), "dof": int(chi.dof)}
        else:
            out["chi_square"] = {"statistic": 0.0, "p_value": 1.0, "dof": 0}
        if int(keep.sum()) <= 2 and not (unseen > 0 and len(cats) >= 2):
            n1, n2 = rc.sum(), cc.sum()
            p1, p2 = rc[0] / n1, cc[0] / n2
            pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
            var = pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2)
            if var > 0:
                z = (p1 - p2) / np.sqrt(var)
                out["z_test"] = {"statistic": float(z), "p_value": float(2 * stats.norm.sf(abs(z)))}
            else:
                out["z_test"] = {"statistic": 0.0, "p_value": 1.0}
        out.update(numpy_binned(rc, cc))
        cases.append(out)
    path = os.path.join(out_dir, "categorical.json")
    with open(path, "w") as f:
        json.dump({"versions": versions, "empty_bin_proportion": EPS, "cases": cases}, f, indent=1)
    print(f"wrote {path} ({len(cases)} cases)")
