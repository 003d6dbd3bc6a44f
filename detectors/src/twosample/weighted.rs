//! The numeric statistics on weighted samples ([`SortedView`]s of quantile sketches), for tests
//! computed from summaries.
//!
//! A sketch item of weight `w` stands for `w` equal values; every statistic is the statistic of that
//! *expanded* sample, computed in `O(items)` without expanding, and p-values use the true sample sizes
//! (the views' total weights). With unit weights and `slack = 0` (sketches that have not compacted,
//! or views of exact samples) the results equal [`super::numeric`]'s — property tests check this.
//!
//! **Conservative p-values.** A compacted sketch misplaces ranks by up to its rank error `ε`, so the
//! two empirical CDFs may differ by up to `slack = ε_ref + ε_cur` where the true ones do not. On large
//! windows that noise alone would look significant (the KS critical value at 30k vs 100k values is
//! below 0.01, the same order as `ε`). The p-value tests therefore report the sketch statistic but
//! compute the p-value at the statistic **shrunk towards the null by the slack**: every CDF difference
//! `Δ` becomes `sign(Δ)·max(0, |Δ| - slack)`. The p-value is then no smaller than the exact one
//! whenever the sketches are within their bound (99 % confidence each): sketch noise does not raise
//! false alarms, at the price of not detecting changes smaller than the slack (≈ 2.1 % in CDF terms
//! for the default k = 256).

use super::PValueMethod;
use super::numeric::{StatPValue, ad_finish, cvm_finish, gcd, ks_finish, mwu_finish};
use crate::special::cvm;
use crate::summary::kll::SortedView;

/// Pooled distinct values with the weight each view has there: `(value, w_a, w_b)`, ascending.
fn pooled<'a>(a: &'a SortedView, b: &'a SortedView) -> impl Iterator<Item = (f64, u64, u64)> + 'a {
    let (mut i, mut j) = (0usize, 0usize);
    std::iter::from_fn(move || {
        let (va, vb) = (a.values.get(i), b.values.get(j));
        let v = match (va, vb) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => return None,
        };
        let mut wa = 0;
        if va == Some(&v) {
            wa = a.weights[i];
            i += 1;
        }
        let mut wb = 0;
        if vb == Some(&v) {
            wb = b.weights[j];
            j += 1;
        }
        Some((v, wa, wb))
    })
}

/// Two-sample KS on weighted samples; the p-value is computed at `max(0, D - slack)`.
pub fn ks(a: &SortedView, b: &SortedView, slack: f64) -> StatPValue {
    let (n1, n2) = (a.total, b.total);
    if n1 == 0 || n2 == 0 {
        return StatPValue {
            statistic: 0.0,
            p_value: 1.0,
            method: PValueMethod::Exact,
        };
    }
    let g = gcd(n1, n2);
    let (n1g, n2g) = (i128::from(n1 / g), i128::from(n2 / g));
    let (mut ca, mut cb, mut h) = (0i128, 0i128, 0i128);
    for (_, wa, wb) in pooled(a, b) {
        ca += i128::from(wa);
        cb += i128::from(wb);
        h = h.max((ca * n2g - cb * n1g).abs());
    }
    let raw = ks_finish(n1, n2, h as u64);
    if slack <= 0.0 {
        return raw;
    }
    let lcm = (n1 / g) as f64 * n2 as f64;
    let h_cons = ((raw.statistic - slack).max(0.0) * lcm).floor() as u64;
    StatPValue {
        statistic: raw.statistic,
        ..ks_finish(n1, n2, h_cons)
    }
}

/// Wasserstein-1 between weighted samples.
pub fn wasserstein(a: &SortedView, b: &SortedView) -> f64 {
    if a.total == 0 || b.total == 0 {
        return 0.0;
    }
    // A tight merge loop (this is the hot path of window evaluation). Reciprocals instead of
    // divisions: differs from the exact kernel by ~1 ulp per term.
    let (ra, rb) = (1.0 / a.total as f64, 1.0 / b.total as f64);
    let (av, aw, bv, bw) = (&a.values[..], &a.weights[..], &b.values[..], &b.weights[..]);
    let (na, nb) = (av.len(), bv.len());
    let (mut i, mut j) = (0usize, 0usize);
    let (mut ca, mut cb) = (0u64, 0u64);
    let mut prev = av[0].min(bv[0]);
    let mut total = 0.0;
    while i < na && j < nb {
        let (x, y) = (av[i], bv[j]);
        let v = x.min(y);
        total += ((ca as f64 * ra) - (cb as f64 * rb)).abs() * (v - prev);
        // Branch-free advance: the order of the two samples is random, so branches mispredict.
        let (ta, tb) = (usize::from(x <= y), usize::from(y <= x));
        ca += aw[i] * ta as u64;
        cb += bw[j] * tb as u64;
        i += ta;
        j += tb;
        prev = v;
    }
    // One side is exhausted: its CDF is 1 from here on.
    while i < na {
        let v = av[i];
        total += ((ca as f64 * ra) - 1.0).abs() * (v - prev);
        ca += aw[i];
        i += 1;
        prev = v;
    }
    while j < nb {
        let v = bv[j];
        total += (1.0 - (cb as f64 * rb)).abs() * (v - prev);
        cb += bw[j];
        j += 1;
        prev = v;
    }
    total
}

/// `Σ_{t=1..w} (d - t)²`, the squared rank offsets of `w` tied copies.
fn sum_sq_offsets(d: f64, w: f64) -> f64 {
    w * d * d - d * w * (w + 1.0) + w * (w + 1.0) * (2.0 * w + 1.0) / 6.0
}

/// Two-sample Cramér–von Mises on weighted samples. With `slack = 0` this is SciPy's midrank
/// statistic of the expanded samples; otherwise the statistic is the ECDF form
/// `T = nm/N² Σ_z l_z (F(z) - G(z))²` and the p-value uses the shrunk differences.
pub fn cramer_von_mises(a: &SortedView, b: &SortedView, slack: f64) -> StatPValue {
    if slack <= 0.0 {
        let (mut ca, mut cb, mut pooled_before) = (0.0f64, 0.0f64, 0.0f64);
        let (mut sx, mut sy) = (0.0, 0.0);
        for (_, wa, wb) in pooled(a, b) {
            let (wa, wb) = (wa as f64, wb as f64);
            let t = wa + wb;
            let midrank = pooled_before + (t + 1.0) / 2.0;
            sx += sum_sq_offsets(midrank - ca, wa);
            sy += sum_sq_offsets(midrank - cb, wb);
            ca += wa;
            cb += wb;
            pooled_before += t;
        }
        return cvm_finish(a.total as f64 * sx + b.total as f64 * sy, a.total, b.total);
    }
    let (na, nb) = (a.total as f64, b.total as f64);
    let n = na + nb;
    let (mut ca, mut cb) = (0.0f64, 0.0f64);
    let (mut raw, mut cons) = (0.0, 0.0);
    for (_, wa, wb) in pooled(a, b) {
        ca += wa as f64;
        cb += wb as f64;
        let d = ca / na - cb / nb;
        let l = (wa + wb) as f64;
        raw += l * d * d;
        let s = (d.abs() - slack).max(0.0);
        cons += l * s * s;
    }
    let scale = na * nb / (n * n);
    let p = cvm::pval_2samp_asymptotic(cons * scale, na, nb);
    StatPValue {
        statistic: raw * scale,
        p_value: p,
        method: PValueMethod::Asymptotic,
    }
}

/// Mann–Whitney U on weighted samples (U of the first); the p-value is computed at `U` moved
/// towards `nm/2` by `slack · nm`.
pub fn mann_whitney(a: &SortedView, b: &SortedView, slack: f64) -> StatPValue {
    let (mut before, mut r1, mut tie_term, mut has_ties) = (0.0f64, 0.0f64, 0.0f64, false);
    for (_, wa, wb) in pooled(a, b) {
        let t = (wa + wb) as f64;
        let midrank = before + (t + 1.0) / 2.0;
        r1 += wa as f64 * midrank;
        if wa + wb > 1 {
            has_ties = true;
            tie_term += t * t * t - t;
        }
        before += t;
    }
    let raw = mwu_finish(r1, a.total, b.total, tie_term, has_ties);
    if slack <= 0.0 {
        return raw;
    }
    let (n1, n2) = (a.total as f64, b.total as f64);
    let half = n1 * n2 / 2.0;
    let dev = raw.statistic - half;
    let u_cons = half + dev.signum() * (dev.abs() - slack * n1 * n2).max(0.0);
    let r1_cons = u_cons + n1 * (n1 + 1.0) / 2.0;
    StatPValue {
        statistic: raw.statistic,
        ..mwu_finish(r1_cons, a.total, b.total, tie_term, has_ties)
    }
}

/// Two-sample Anderson–Darling (midrank `A²akN`) on weighted samples; `None` with fewer than two
/// distinct pooled values or an empty side. The p-value uses the midrank-ECDF differences shrunk by
/// `slack`.
pub fn anderson_darling(a: &SortedView, b: &SortedView, slack: f64) -> Option<StatPValue> {
    if a.total == 0 || b.total == 0 {
        return None;
    }
    let groups: Vec<(f64, u64, u64)> = pooled(a, b).collect();
    if groups.len() < 2 {
        return None;
    }
    let nf = (a.total + b.total) as f64;
    let (na, nb) = (a.total as f64, b.total as f64);
    let (mut before, mut ca, mut cb) = (0.0f64, 0.0f64, 0.0f64);
    let (mut raw, mut cons) = (0.0, 0.0);
    for (_, wa, wb) in groups {
        let (wa, wb) = (wa as f64, wb as f64);
        let l = wa + wb;
        let bj = before + l / 2.0;
        ca += wa;
        cb += wb;
        // N·M_a - B·n_a = n_a n_b (M_a/n_a - M_b/n_b), and the b term is its negative.
        let (ma, mb) = (ca - wa / 2.0, cb - wb / 2.0);
        let den = bj * (nf - bj) - nf * l / 4.0;
        let x = nf * ma - bj * na;
        raw += l / nf * (x * x) / den;
        let delta = ma / na - mb / nb;
        let xs = na * nb * (delta.abs() - slack).max(0.0);
        cons += l / nf * (xs * xs) / den;
        before += l;
    }
    let a2 = |inner: f64| (inner / na + inner / nb) * ((nf - 1.0) / nf);
    let stat = ad_finish(a2(raw), nf, &[na, nb]);
    if slack <= 0.0 {
        return Some(stat);
    }
    Some(StatPValue {
        statistic: stat.statistic,
        ..ad_finish(a2(cons), nf, &[na, nb])
    })
}
