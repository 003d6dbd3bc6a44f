//! Numeric two-sample statistics on [`Sample`]s, each matching a SciPy function.
//!
//! | function | SciPy | p-value |
//! |---|---|---|
//! | [`ks`] | `stats.ks_2samp(a, b)` (`method="auto"`) | exact when both sizes ≤ 10,000, else `kstwo(round(mn/(m+n)))` |
//! | [`wasserstein`] | `stats.wasserstein_distance(a, b)` | — |
//! | [`cramer_von_mises`] | `stats.cramervonmises_2samp(a, b)` | exact when both sizes ≤ 20, else asymptotic |
//! | [`anderson_darling`] | `stats.anderson_ksamp([a, b, ...], variant="midrank")` | SciPy's interpolation, clipped to [0.001, 0.25] |
//! | [`mann_whitney`] | `stats.mannwhitneyu(a, b)` | exact if a size ≤ 8 and no ties, else normal with tie and continuity corrections |
//!
//! Why not statrs: its two-sample KS errors for exact p-values when `m·n > 10,000` and uses the
//! infinite-n Kolmogorov limit otherwise; its Anderson–Darling p-value assumes a normality test;
//! it has no k-sample Anderson–Darling, no Cramér–von Mises, and its Mann–Whitney is `O(n²)`. All
//! statistics here are `O(n)` after sorting (ranks come from a merge of the sorted samples).

use serde::{Deserialize, Serialize};

use super::sample::{Sample, pooled_ranks};
use crate::special::{cvm, kolmogorov, normal_sf};

/// How a p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PValueMethod {
    /// Exact null distribution.
    Exact,
    /// Large-sample approximation.
    Asymptotic,
    /// Interpolated from a table (Anderson–Darling), clipped to the table's range.
    Interpolated,
}

/// A statistic with its p-value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StatPValue {
    /// The test statistic.
    pub statistic: f64,
    /// Its p-value under the null hypothesis of equal distributions.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: PValueMethod,
}

pub(crate) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `h = max |i·(n2/g) - j·(n1/g)|` over the pooled order, so that `D = h / lcm(n1, n2)` exactly.
fn ks_h(a: &[f64], b: &[f64], g: u64) -> u64 {
    let (n1g, n2g) = ((a.len() as u64 / g) as i128, (b.len() as u64 / g) as i128);
    let (mut i, mut j) = (0usize, 0usize);
    let mut best: i128 = 0;
    while i < a.len() && j < b.len() {
        let v = a[i].min(b[j]);
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        let d = (i as i128 * n2g - j as i128 * n1g).abs();
        best = best.max(d);
    }
    best as u64
}

/// Two-sided two-sample Kolmogorov–Smirnov test, as `scipy.stats.ks_2samp(a, b)`.
///
/// The statistic is computed exactly as `h / lcm(n1, n2)` with integer arithmetic. Both samples must
/// be non-empty (checked by the caller; returns `D = 0, p = 1` otherwise).
pub fn ks(a: &Sample, b: &Sample) -> StatPValue {
    let (n1, n2) = (a.len() as u64, b.len() as u64);
    if n1 == 0 || n2 == 0 {
        return StatPValue {
            statistic: 0.0,
            p_value: 1.0,
            method: PValueMethod::Exact,
        };
    }
    let g = gcd(n1, n2);
    ks_finish(n1, n2, ks_h(a.values(), b.values(), g))
}

/// KS statistic `h / lcm(n1, n2)` and SciPy's `method="auto"` p-value.
pub(crate) fn ks_finish(n1: u64, n2: u64, h: u64) -> StatPValue {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) as f64 * n2 as f64;
    let d = h as f64 / lcm;
    if n1.max(n2) <= 10_000
        && let Some(p) = kolmogorov::two_sample_exact_sf(n1, n2, g, h)
    {
        return StatPValue {
            statistic: d,
            p_value: p,
            method: PValueMethod::Exact,
        };
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round_ties_even();
    let p = kolmogorov::kolmogorov_n_sf(en as u64, d).clamp(0.0, 1.0);
    StatPValue {
        statistic: d,
        p_value: p,
        method: PValueMethod::Asymptotic,
    }
}

/// First Wasserstein distance between the empirical distributions, as
/// `scipy.stats.wasserstein_distance(a, b)`: `∫ |F_a(x) - F_b(x)| dx`. Returns 0 if either is empty.
pub fn wasserstein(a: &Sample, b: &Sample) -> f64 {
    let (a, b) = (a.values(), b.values());
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut prev: Option<f64> = None;
    let mut total = 0.0;
    // Walk the pooled sorted values; between consecutive values both CDFs are constant.
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => unreachable!(),
        };
        if let Some(p) = prev {
            total += ((i as f64 / na) - (j as f64 / nb)).abs() * (v - p);
        }
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        prev = Some(v);
    }
    total
}

/// Two-sample Cramér–von Mises test, as `scipy.stats.cramervonmises_2samp(a, b)`: statistic
/// `T = U/(mn(m+n)) - (4mn-1)/(6(m+n))` with midranks for ties. Needs at least 2 values per sample.
pub fn cramer_von_mises(a: &Sample, b: &Sample) -> StatPValue {
    let (nx, ny) = (a.len(), b.len());
    let r = pooled_ranks(a.values(), b.values());
    let sx: f64 =
        r.a.iter()
            .enumerate()
            .map(|(i, ri)| (ri - (i + 1) as f64).powi(2))
            .sum();
    let sy: f64 =
        r.b.iter()
            .enumerate()
            .map(|(j, rj)| (rj - (j + 1) as f64).powi(2))
            .sum();
    cvm_finish(nx as f64 * sx + ny as f64 * sy, nx as u64, ny as u64)
}

/// CvM statistic `T` from `U` and its p-value (exact when both sizes <= 20).
pub(crate) fn cvm_finish(u: f64, nx: u64, ny: u64) -> StatPValue {
    let k = (nx * ny) as f64;
    let n = (nx + ny) as f64;
    let t = u / (k * n) - (4.0 * k - 1.0) / (6.0 * n);
    if nx.max(ny) <= 20 {
        let p = cvm::pval_2samp_exact(u, nx, ny);
        StatPValue {
            statistic: t,
            p_value: p,
            method: PValueMethod::Exact,
        }
    } else {
        let p = cvm::pval_2samp_asymptotic(t, nx as f64, ny as f64);
        StatPValue {
            statistic: t,
            p_value: p,
            method: PValueMethod::Asymptotic,
        }
    }
}

/// k-sample Anderson–Darling test (Scholz & Stephens 1987, midrank version `A²akN`), as
/// `scipy.stats.anderson_ksamp(samples, variant="midrank")`: the standardised statistic and SciPy's
/// p-value, interpolated (quadratic fit of `ln p` on the critical values of Table 2) and **clipped
/// to [0.001, 0.25]**, SciPy's own limits (it warns outside them; we report
/// [`PValueMethod::Interpolated`]).
///
/// `None` when fewer than two samples are given, a sample is empty, or the pooled sample has fewer
/// than two distinct values (SciPy raises in those cases).
///
/// Reference: F. W. Scholz, M. A. Stephens, "K-sample Anderson–Darling tests", JASA 82 (1987).
pub fn anderson_darling(samples: &[&Sample]) -> Option<StatPValue> {
    let k = samples.len();
    if k < 2 || samples.iter().any(|s| s.is_empty()) {
        return None;
    }
    // Pooled sorted values: merge of the sorted samples.
    let mut z: Vec<f64> = samples
        .iter()
        .flat_map(|s| s.values().iter().copied())
        .collect();
    z.sort_unstable_by(f64::total_cmp);
    let n_total = z.len();
    let mut zstar: Vec<f64> = z.clone();
    zstar.dedup();
    if zstar.len() < 2 {
        return None;
    }
    let nf = n_total as f64;
    // For each distinct value: lj (multiplicity in the pooled sample) and Bj = #(< z*) + lj/2.
    let mut lj = Vec::with_capacity(zstar.len());
    let mut bj = Vec::with_capacity(zstar.len());
    let mut pos = 0usize;
    for &v in &zstar {
        let left = pos;
        while pos < n_total && z[pos] == v {
            pos += 1;
        }
        let l = (pos - left) as f64;
        lj.push(l);
        bj.push(left as f64 + l / 2.0);
    }
    let mut a2 = 0.0;
    for s in samples {
        let vals = s.values();
        let ni = vals.len() as f64;
        let mut inner = 0.0;
        let mut p = 0usize;
        for (idx, &v) in zstar.iter().enumerate() {
            let left = p;
            while p < vals.len() && vals[p] == v {
                p += 1;
            }
            let fij = (p - left) as f64;
            let mij = p as f64 - fij / 2.0;
            let num = nf * mij - bj[idx] * ni;
            inner += lj[idx] / nf * (num * num) / (bj[idx] * (nf - bj[idx]) - nf * lj[idx] / 4.0);
        }
        a2 += inner / ni;
    }
    a2 *= (nf - 1.0) / nf;
    let sizes: Vec<f64> = samples.iter().map(|s| s.len() as f64).collect();
    Some(ad_finish(a2, nf, &sizes))
}

/// Standardises `A²akN` (Scholz & Stephens' variance) and interpolates SciPy's p-value.
pub(crate) fn ad_finish(a2: f64, nf: f64, sizes: &[f64]) -> StatPValue {
    let k = sizes.len();
    let h_inv: f64 = sizes.iter().map(|n| 1.0 / n).sum();
    // hs_cs = cumsum(1 / arange(N-1, 1, -1)); h = hs_cs[-1] + 1; g = sum(hs_cs / arange(2, N))
    let mut hs = 0.0;
    let mut g = 0.0;
    let mut idx = 2.0;
    let mut d = nf - 1.0;
    while d > 1.0 {
        hs += 1.0 / d;
        g += hs / idx;
        idx += 1.0;
        d -= 1.0;
    }
    let h = hs + 1.0;
    let kf = k as f64;
    let a = (4.0 * g - 6.0) * (kf - 1.0) + (10.0 - 6.0 * g) * h_inv;
    let b = (2.0 * g - 4.0) * kf * kf + 8.0 * h * kf + (2.0 * g - 14.0 * h - 4.0) * h_inv - 8.0 * h
        + 4.0 * g
        - 6.0;
    let c = (6.0 * h + 2.0 * g - 2.0) * kf * kf
        + (4.0 * h - 4.0 * g + 6.0) * kf
        + (2.0 * h - 6.0) * h_inv
        + 4.0 * h;
    let dd = (2.0 * h + 6.0) * kf * kf - 4.0 * h * kf;
    let sigmasq =
        (a * nf.powi(3) + b * nf * nf + c * nf + dd) / ((nf - 1.0) * (nf - 2.0) * (nf - 3.0));
    let m = kf - 1.0;
    let stat = (a2 - m) / sigmasq.sqrt();

    let b0 = [0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085];
    let b1 = [-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615];
    let b2 = [-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154];
    let sig = [0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001];
    let crit: Vec<f64> = (0..7)
        .map(|i| b0[i] + b1[i] / m.sqrt() + b2[i] / m)
        .collect();
    let cmin = crit.iter().cloned().fold(f64::INFINITY, f64::min);
    let cmax = crit.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let p = if stat < cmin {
        0.25
    } else if stat > cmax {
        0.001
    } else {
        let ln_sig: Vec<f64> = sig.iter().map(|s: &f64| s.ln()).collect();
        let coef = polyfit2(&crit, &ln_sig);
        (coef[0] * stat * stat + coef[1] * stat + coef[2]).exp()
    };
    StatPValue {
        statistic: stat,
        p_value: p,
        method: PValueMethod::Interpolated,
    }
}

/// Least-squares quadratic `[a, b, c]` (highest power first, like `np.polyfit(x, y, 2)`), solved
/// with centred and scaled abscissae for conditioning.
fn polyfit2(x: &[f64], y: &[f64]) -> [f64; 3] {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let sx = (x.iter().map(|v| (v - mx) * (v - mx)).sum::<f64>() / n).sqrt();
    let t: Vec<f64> = x.iter().map(|v| (v - mx) / sx).collect();
    // Normal equations in t: [S4 S3 S2; S3 S2 S1; S2 S1 S0] [a b c]' = [T2 T1 T0]'
    let s = |p: i32| t.iter().map(|v| v.powi(p)).sum::<f64>();
    let ty = |p: i32| t.iter().zip(y).map(|(v, w)| v.powi(p) * w).sum::<f64>();
    let m = [[s(4), s(3), s(2)], [s(3), s(2), s(1)], [s(2), s(1), n]];
    let r = [ty(2), ty(1), ty(0)];
    let [a, b, c] = solve3(m, r);
    // Back to x: a t² + b t + c with t = (x - mx)/sx.
    let a_x = a / (sx * sx);
    let b_x = b / sx - 2.0 * a * mx / (sx * sx);
    let c_x = c - b * mx / sx + a * mx * mx / (sx * sx);
    [a_x, b_x, c_x]
}

fn solve3(mut m: [[f64; 3]; 3], mut r: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let piv = (col..3)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap_or(col);
        m.swap(col, piv);
        r.swap(col, piv);
        for row in (col + 1)..3 {
            let f = m[row][col] / m[col][col];
            let pivot_row = m[col];
            for (x, p) in m[row].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            r[row] -= f * r[col];
        }
    }
    let mut out = [0.0; 3];
    for row in (0..3).rev() {
        let mut acc = r[row];
        for c in (row + 1)..3 {
            acc -= m[row][c] * out[c];
        }
        out[row] = acc / m[row][row];
    }
    out
}

/// Number of ways to obtain each `U` in `0..=n1·n2` with samples of sizes `n1 <= n2` (no ties): the
/// coefficients of the Gaussian binomial `[n1+n2 choose n1]_q`, built by multiplying
/// `(1 - q^(n2+i)) / (1 - q^i)` for `i = 1..n1`. The intermediate products have negative
/// coefficients, so the counts are kept in exact `i128` integers while `C(n1+n2, n1) < 2^120`;
/// beyond that (never for the sizes SciPy itself handles exactly) they are accumulated in `f64`.
fn mwu_counts(n1: usize, n2: usize) -> Vec<f64> {
    let max_u = n1 * n2;
    let fits = (0..n1).fold(0.0f64, |acc, i| {
        acc + ((n2 + n1 - i) as f64 / (i + 1) as f64).log2()
    }) < 120.0;
    if fits {
        let mut c = vec![0i128; max_u + 1];
        c[0] = 1;
        for i in 1..=n1 {
            let s = n2 + i;
            for u in (s..=max_u).rev() {
                c[u] -= c[u - s];
            }
            for u in i..=max_u {
                c[u] += c[u - i];
            }
        }
        c.into_iter().map(|v| v as f64).collect()
    } else {
        let mut c = vec![0.0f64; max_u + 1];
        c[0] = 1.0;
        for i in 1..=n1 {
            let s = n2 + i;
            for u in (s..=max_u).rev() {
                c[u] -= c[u - s];
            }
            for u in i..=max_u {
                c[u] += c[u - i];
            }
        }
        c
    }
}

/// Mann–Whitney U test (two-sided), as `scipy.stats.mannwhitneyu(a, b)`: the statistic is `U` of the
/// first sample; the p-value is exact (Löffler's distribution, here via the Gaussian binomial) when
/// one sample has at most 8 values and there are no ties, otherwise the normal approximation with the
/// tie correction and a continuity correction of 0.5.
pub fn mann_whitney(a: &Sample, b: &Sample) -> StatPValue {
    let (n1, n2) = (a.len(), b.len());
    let r = pooled_ranks(a.values(), b.values());
    let r1: f64 = r.a.iter().sum();
    mwu_finish(r1, n1 as u64, n2 as u64, r.tie_term, r.has_ties)
}

/// U of the first sample from its rank sum, and the p-value.
pub(crate) fn mwu_finish(r1: f64, n1: u64, n2: u64, tie_term: f64, has_ties: bool) -> StatPValue {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let u2 = n1f * n2f - u1;
    let u = u1.max(u2);
    let exact = (n1 <= 8 || n2 <= 8) && !has_ties;
    if exact {
        let (s, l) = (n1.min(n2) as usize, n1.max(n2) as usize);
        let counts = mwu_counts(s, l);
        let total: f64 = counts.iter().sum();
        // sf(U) = P(U' >= U) = cdf(n1 n2 - U) by symmetry.
        let kc = n1f * n2f - u;
        let cdf: f64 = counts.iter().take(kc as usize + 1).sum::<f64>() / total;
        let p = (2.0 * cdf).clamp(0.0, 1.0);
        return StatPValue {
            statistic: u1,
            p_value: p,
            method: PValueMethod::Exact,
        };
    }
    let mu = n1f * n2f / 2.0;
    let n = n1f + n2f;
    let s = (n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let z = (u - mu - 0.5) / s;
    let p = if z.is_finite() {
        (2.0 * normal_sf(z)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    StatPValue {
        statistic: u1,
        p_value: p,
        method: PValueMethod::Asymptotic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mwu_counts_sum_to_binomial() {
        let c = mwu_counts(4, 6);
        assert_eq!(c.iter().sum::<f64>(), 210.0);
        assert_eq!(c[0], 1.0);
        assert_eq!(c[24], 1.0);
    }

    #[test]
    fn polyfit_recovers_a_quadratic() {
        let x = [0.5, 1.0, 1.5, 2.0, 3.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v * v - 3.0 * v + 0.5).collect();
        let c = polyfit2(&x, &y);
        assert!(
            (c[0] - 2.0).abs() < 1e-12 && (c[1] + 3.0).abs() < 1e-12 && (c[2] - 0.5).abs() < 1e-12,
            "{c:?}"
        );
    }

    #[test]
    fn ks_statistic_is_exact_fraction() {
        let a = Sample::new(&[1.0, 2.0, 3.0]);
        let b = Sample::new(&[2.5, 3.5]);
        // ECDF gap is largest at x = 2: 2/3 - 0.
        assert_eq!(ks(&a, &b).statistic, 2.0 / 3.0);
    }
}
