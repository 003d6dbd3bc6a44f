//! Distances between two distributions given as counts over the same bins (numeric histograms on
//! reference-quantile bins with out-of-range bins, see [`super::Bins`], or category counts with an
//! other/new bucket).
//!
//! | function | definition | reference |
//! |---|---|---|
//! | [`psi`] | `Σ (c_i - r_i) ln(c_i / r_i)` on **smoothed** proportions | NumPy implementation in `scripts/twosample_fixtures.py` (Evidently's formula) |
//! | [`jensen_shannon`] | `sqrt((KL(p‖m) + KL(q‖m)) / 2)`, `m = (p+q)/2`, natural log | `scipy.spatial.distance.jensenshannon(p, q)` |
//! | [`hellinger`] | `‖√p - √q‖₂ / √2` | NumPy |
//! | [`kullback_leibler`] | `Σ r_i ln(r_i / c_i)` on smoothed proportions, renormalised | `scipy.stats.entropy(r, c)` |
//! | [`l_infinity`] | `max_i |p_i - q_i|` | TFDV's L-infinity distance |
//!
//! **Smoothing of empty bins** (PSI and KL only, which are infinite otherwise): a proportion of 0 is
//! replaced by [`EMPTY_BIN_PROPORTION`] = 1e-4 (Evidently's constant). PSI uses the smoothed
//! proportions as they are (they may sum to slightly more than 1); KL renormalises them, as
//! `scipy.stats.entropy` does. Jensen–Shannon, Hellinger and L-infinity need no smoothing.
//!
//! All functions return 0 when either side has no observation (no evidence of a difference); the
//! callers report "not enough data" before getting there.

/// Proportion given to an empty bin in PSI and KL.
pub const EMPTY_BIN_PROPORTION: f64 = 1e-4;

fn proportions(counts: &[u64]) -> Option<Vec<f64>> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let t = total as f64;
    Some(counts.iter().map(|&c| c as f64 / t).collect())
}

fn smoothed(counts: &[u64]) -> Option<Vec<f64>> {
    proportions(counts).map(|p| {
        p.into_iter()
            .map(|x| if x == 0.0 { EMPTY_BIN_PROPORTION } else { x })
            .collect()
    })
}

/// `x ln(x / y)` with SciPy's conventions (`rel_entr`): 0 when `x = 0`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * (x / y).ln() }
}

/// Population Stability Index of `current` against `reference` (same bins).
pub fn psi(reference: &[u64], current: &[u64]) -> f64 {
    match (smoothed(reference), smoothed(current)) {
        (Some(r), Some(c)) => r.iter().zip(&c).map(|(r, c)| (c - r) * (c / r).ln()).sum(),
        _ => 0.0,
    }
}

/// Jensen–Shannon distance (natural logarithm, so in `[0, √ln 2]`).
pub fn jensen_shannon(reference: &[u64], current: &[u64]) -> f64 {
    match (proportions(reference), proportions(current)) {
        (Some(p), Some(q)) => {
            let mut left = 0.0;
            let mut right = 0.0;
            for (a, b) in p.iter().zip(&q) {
                let m = (a + b) / 2.0;
                left += rel_entr(*a, m);
                right += rel_entr(*b, m);
            }
            ((left + right) / 2.0).max(0.0).sqrt()
        }
        _ => 0.0,
    }
}

/// Hellinger distance, in `[0, 1]`.
pub fn hellinger(reference: &[u64], current: &[u64]) -> f64 {
    match (proportions(reference), proportions(current)) {
        (Some(p), Some(q)) => {
            let s: f64 = p
                .iter()
                .zip(&q)
                .map(|(a, b)| (a.sqrt() - b.sqrt()).powi(2))
                .sum();
            s.sqrt() / std::f64::consts::SQRT_2
        }
        _ => 0.0,
    }
}

/// Kullback–Leibler divergence `KL(reference ‖ current)` on smoothed, renormalised proportions.
pub fn kullback_leibler(reference: &[u64], current: &[u64]) -> f64 {
    match (smoothed(reference), smoothed(current)) {
        (Some(r), Some(c)) => {
            let (sr, sc): (f64, f64) = (r.iter().sum(), c.iter().sum());
            r.iter()
                .zip(&c)
                .map(|(a, b)| rel_entr(a / sr, b / sc))
                .sum()
        }
        _ => 0.0,
    }
}

/// L-infinity distance between the proportion vectors (TFDV's drift comparator), in `[0, 1]`.
pub fn l_infinity(reference: &[u64], current: &[u64]) -> f64 {
    match (proportions(reference), proportions(current)) {
        (Some(p), Some(q)) => p
            .iter()
            .zip(&q)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_counts_give_zero() {
        let c = [10, 0, 5, 7];
        assert_eq!(psi(&c, &c), 0.0);
        assert_eq!(jensen_shannon(&c, &c), 0.0);
        assert_eq!(hellinger(&c, &c), 0.0);
        assert_eq!(kullback_leibler(&c, &c), 0.0);
        assert_eq!(l_infinity(&c, &c), 0.0);
    }

    #[test]
    fn disjoint_supports_reach_the_maxima() {
        let (a, b) = ([10, 0], [0, 10]);
        assert!((jensen_shannon(&a, &b) - 2f64.ln().sqrt()).abs() < 1e-15);
        assert!((hellinger(&a, &b) - 1.0).abs() < 1e-15);
        assert_eq!(l_infinity(&a, &b), 1.0);
        assert!(psi(&a, &b).is_finite() && psi(&a, &b) > 10.0);
    }
}
