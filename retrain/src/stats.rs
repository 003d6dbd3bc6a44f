//! The paired tests behind the shadow gate: McNemar's test on discordant pairs and the Wilcoxon
//! signed-rank test on paired differences. Both are checked against SciPy 1.17
//! (`tests/stats_reference.rs`, fixtures from `tests/fixtures/make_fixtures.py`).
//!
//! **McNemar** ([`mcnemar`]). Of `n = b + c` discordant pairs, `b` went one way and `c` the other;
//! under the null hypothesis each discordant pair is either way with probability ½.
//!
//! * Below [`MCNEMAR_EXACT_BELOW`] (25) discordant pairs, the **exact** binomial test
//!   (`scipy.stats.binomtest(k, n, 0.5, alternative)`): `greater` is `P(X ≥ c)`, `less` is
//!   `P(X ≤ c)`, two-sided is `min(1, 2·P(X ≤ min(b, c)))` (SciPy's two-sided rule, which for
//!   p = ½ is this doubling). The statistic is `c` for one-sided tests, `min(b, c)` two-sided (the
//!   convention of statsmodels' `mcnemar`).
//! * From 25 on, **chi-square with continuity correction**: statistic
//!   `max(0, |b − c| − 1)² / (b + c)`, two-sided p = `chi2.sf(statistic, 1)`. One-sided p-values are
//!   the matching continuity-corrected normal approximations of the binomial tail: `greater` =
//!   `norm.sf((c − b − 1)/√n)`, `less` = `norm.cdf((c − b + 1)/√n)` (for `c > b + 1` the `greater`
//!   p is exactly half the two-sided one). statsmodels uses `(|b − c| − 1)²` without the `max`,
//!   which gives a statistic of `1/n` instead of 0 when `b = c`; the p-value then is 0.84 instead
//!   of 1 — irrelevant for a decision at any usual alpha.
//! * No discordant pairs: statistic 0, p = 1 (no evidence either way).
//!
//! Binomial, chi-square and normal tails come from statrs.
//!
//! **Wilcoxon signed-rank** ([`wilcoxon`]) matches `scipy.stats.wilcoxon(d, alternative=…)` with its
//! defaults: `zero_method="wilcox"` (zero differences are dropped), `correction=False`,
//! `method="auto"`, which means, with `n` the number of differences *including* zeros:
//!
//! * `n > 50` → **asymptotic**: `z = (R⁺ − μ)/σ` with `μ = m(m+1)/4`,
//!   `σ² = [m(m+1)(2m+1) − ½·Σ(t³ − t)]/24` over the `m` non-zero differences and their tie groups
//!   `t` (average ranks of `|d|`); p from the standard normal;
//! * `n ≤ 50`, no ties and no zeros → **exact** null distribution of `R⁺`;
//! * `n ≤ 13` with ties or zeros → SciPy's exact **permutation** test over all `2ⁿ` sign flips;
//! * `13 < n ≤ 50` with ties or zeros → asymptotic.
//!
//! The exact and permutation distributions are the same computation here: the number of sign
//! patterns for every sum of (doubled, hence integer) average ranks, by dynamic programming in
//! exact integers — written by hand because statrs has no signed-rank distribution. The
//! statistic is `min(R⁺, R⁻)` two-sided and `R⁺` one-sided (SciPy's). One deliberate deviation:
//! when every difference is zero SciPy returns a NaN p-value in the asymptotic branch; we return
//! p = 1 (no evidence), as SciPy itself does in the permutation branch.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF, Normal};

/// McNemar's test is exact below this many discordant pairs and chi-square from it on.
pub const MCNEMAR_EXACT_BELOW: u64 = 25;
/// Largest sample size (zeros included) for which the Wilcoxon test may be exact (SciPy's rule).
pub const WILCOXON_EXACT_MAX: usize = 50;
/// Largest sample size for SciPy's exact permutation test when there are ties or zeros.
pub const WILCOXON_PERMUTATION_MAX: usize = 13;

/// The alternative hypothesis of a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    /// Either direction.
    TwoSided,
    /// McNemar: `c` tends to exceed `b`. Wilcoxon: differences tend to be positive.
    Greater,
    /// McNemar: `c` tends to be below `b`. Wilcoxon: differences tend to be negative.
    Less,
}

/// Which shadow test was run (as it appears in decision records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShadowTest {
    /// McNemar's exact binomial test.
    McnemarExact,
    /// McNemar's chi-square test with continuity correction.
    McnemarChi2,
    /// Wilcoxon signed-rank test.
    WilcoxonSignedRank,
}

/// Result of [`mcnemar`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Exact or chi-square.
    pub test: ShadowTest,
    /// See the [module documentation](self).
    pub statistic: f64,
    /// The p-value for the requested alternative.
    pub p_value: f64,
}

/// McNemar's test on discordant counts `b` and `c` (see the [module documentation](self)).
///
/// ```
/// use driftd_retrain::stats::{mcnemar, Alternative, ShadowTest};
/// let r = mcnemar(3, 15, Alternative::Greater); // exact: P(X >= 15 | n = 18, p = 1/2)
/// assert_eq!(r.test, ShadowTest::McnemarExact);
/// assert!((r.p_value - 988.0 / 262_144.0).abs() < 1e-15);
/// let r = mcnemar(30, 60, Alternative::TwoSided); // chi-square: (30 - 1)^2 / 90
/// assert_eq!(r.test, ShadowTest::McnemarChi2);
/// assert!((r.statistic - 841.0 / 90.0).abs() < 1e-12);
/// ```
pub fn mcnemar(b: u64, c: u64, alternative: Alternative) -> McNemar {
    let n = b + c;
    if n == 0 {
        let test = ShadowTest::McnemarExact;
        return McNemar {
            test,
            statistic: 0.0,
            p_value: 1.0,
        };
    }
    if n < MCNEMAR_EXACT_BELOW {
        // `Binomial::new` only fails for p outside [0, 1].
        let Ok(bin) = Binomial::new(0.5, n) else {
            unreachable_p()
        };
        let (statistic, p) = match alternative {
            Alternative::Greater => (c, if c == 0 { 1.0 } else { bin.sf(c - 1) }),
            Alternative::Less => (c, bin.cdf(c)),
            Alternative::TwoSided => {
                let k = b.min(c);
                (k, (2.0 * bin.cdf(k)).min(1.0))
            }
        };
        McNemar {
            test: ShadowTest::McnemarExact,
            statistic: statistic as f64,
            p_value: p.clamp(0.0, 1.0),
        }
    } else {
        let (bf, cf, nf) = (b as f64, c as f64, n as f64);
        let excess = ((bf - cf).abs() - 1.0).max(0.0);
        let statistic = excess * excess / nf;
        let normal = Normal::standard();
        let p = match alternative {
            Alternative::TwoSided => match ChiSquared::new(1.0) {
                Ok(chi2) => chi2.sf(statistic),
                Err(_) => unreachable_p(),
            },
            Alternative::Greater => normal.sf((cf - bf - 1.0) / nf.sqrt()),
            Alternative::Less => normal.cdf((cf - bf + 1.0) / nf.sqrt()),
        };
        McNemar {
            test: ShadowTest::McnemarChi2,
            statistic,
            p_value: p.clamp(0.0, 1.0),
        }
    }
}

/// statrs refuses only invalid distribution parameters, and ours are constants.
#[cold]
fn unreachable_p() -> ! {
    unreachable!("statrs refused a valid constant parameter")
}

/// How a Wilcoxon p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// Exact null distribution (no ties, no zeros, n ≤ 50).
    Exact,
    /// Exact permutation distribution over all sign flips (ties or zeros, n ≤ 13).
    Permutation,
    /// Normal approximation with tie correction, no continuity correction.
    Asymptotic,
}

/// Result of [`wilcoxon`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wilcoxon {
    /// `min(R⁺, R⁻)` for two-sided tests, `R⁺` for one-sided ones.
    pub statistic: f64,
    /// The p-value for the requested alternative.
    pub p_value: f64,
    /// The z statistic of the normal approximation (two-sided: `−|z|`, as SciPy reports it);
    /// `None` for exact and permutation p-values.
    pub z: Option<f64>,
    /// How the p-value was computed.
    pub method: WilcoxonMethod,
    /// Sum of the ranks of the positive differences.
    pub r_plus: f64,
    /// Sum of the ranks of the negative differences.
    pub r_minus: f64,
    /// Number of non-zero differences (the ones ranked).
    pub n: usize,
    /// Number of zero differences (dropped).
    pub zeros: usize,
}

/// Wilcoxon signed-rank test of the differences `d` (see the [module documentation](self)).
/// `None` when `d` is empty or holds NaN or an infinity.
///
/// ```
/// use driftd_retrain::stats::{wilcoxon, Alternative, WilcoxonMethod};
/// let d = [1.5, -0.5, 2.0, 3.0, 0.25, 4.0, -1.0, 2.5];
/// let w = wilcoxon(&d, Alternative::TwoSided).unwrap();
/// assert_eq!(w.method, WilcoxonMethod::Exact);
/// assert_eq!(w.statistic, 5.0); // R⁻ = 2 + 3 (ranks of |-0.5| and |-1.0|)
/// assert!((w.p_value - 0.078125).abs() < 1e-15); // scipy.stats.wilcoxon(d)
/// ```
pub fn wilcoxon(d: &[f64], alternative: Alternative) -> Option<Wilcoxon> {
    if d.is_empty() || d.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let zeros = d.iter().filter(|x| **x == 0.0).count();
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    let m = nonzero.len();
    // Doubled average ranks (integers), positive sum, tie groups.
    let mut doubled = vec![0u64; m];
    let mut tie_term = 0.0; // Σ (t³ − t)
    let mut has_ties = false;
    let mut i = 0;
    while i < m {
        let mut j = i;
        while j + 1 < m && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        // Ranks i+1..=j+1 averaged: (i + 1 + j + 1) / 2, doubled: i + j + 2.
        for r in &mut doubled[i..=j] {
            *r = (i + j + 2) as u64;
        }
        let t = (j - i + 1) as f64;
        if j > i {
            has_ties = true;
            tie_term += t * t * t - t;
        }
        i = j + 1;
    }
    let plus2: u64 = nonzero
        .iter()
        .zip(&doubled)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total2: u64 = doubled.iter().sum();
    let r_plus = plus2 as f64 / 2.0;
    let r_minus = (total2 - plus2) as f64 / 2.0;
    let n_all = d.len();
    let method = if n_all > WILCOXON_EXACT_MAX {
        WilcoxonMethod::Asymptotic
    } else if !(has_ties || zeros > 0) {
        WilcoxonMethod::Exact
    } else if n_all <= WILCOXON_PERMUTATION_MAX {
        WilcoxonMethod::Permutation
    } else {
        WilcoxonMethod::Asymptotic
    };
    let statistic = match alternative {
        Alternative::TwoSided => r_plus.min(r_minus),
        _ => r_plus,
    };
    let (p_value, z) = if m == 0 {
        (1.0, None)
    } else if method == WilcoxonMethod::Asymptotic {
        let mf = m as f64;
        let mean = mf * (mf + 1.0) * 0.25;
        let se = ((mf * (mf + 1.0) * (2.0 * mf + 1.0) - tie_term / 2.0) / 24.0).sqrt();
        let z = (r_plus - mean) / se;
        let normal = Normal::standard();
        match alternative {
            Alternative::Greater => (normal.sf(z), Some(z)),
            Alternative::Less => (normal.cdf(z), Some(z)),
            Alternative::TwoSided => (2.0 * normal.sf(z.abs()), Some(-z.abs())),
        }
    } else {
        let counts = sign_flip_counts(&doubled);
        let total: u128 = counts.iter().sum();
        let at_least: u128 = counts[plus2 as usize..].iter().sum();
        let at_most: u128 = counts[..=plus2 as usize].iter().sum();
        let (ge, le) = (
            at_least as f64 / total as f64,
            at_most as f64 / total as f64,
        );
        let p = match alternative {
            Alternative::Greater => ge,
            Alternative::Less => le,
            Alternative::TwoSided => (2.0 * ge.min(le)).min(1.0),
        };
        (p, None)
    };
    Some(Wilcoxon {
        statistic,
        p_value: p_value.clamp(0.0, 1.0),
        z,
        method,
        r_plus,
        r_minus,
        n: m,
        zeros,
    })
}

/// `counts[s]` = number of the `2^m` sign patterns whose positive ranks sum (doubled) to `s`.
/// Only used for `m ≤ 50`, so counts stay below `2^50`.
fn sign_flip_counts(doubled: &[u64]) -> Vec<u128> {
    let total: u64 = doubled.iter().sum();
    let mut counts = vec![0u128; total as usize + 1];
    counts[0] = 1;
    let mut reach = 0usize;
    for &r in doubled {
        let r = r as usize;
        for s in (0..=reach).rev() {
            let here = counts[s];
            if here != 0 {
                counts[s + r] += here;
            }
        }
        reach += r;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_flip_counts_small() {
        // Ranks 1, 2, 3 (doubled 2, 4, 6): sums 0,1,2,3,3,4,5,6 → doubled 0,2,4,6,6,8,10,12.
        let c = sign_flip_counts(&[2, 4, 6]);
        let nonzero: Vec<(usize, u128)> = c
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .map(|(i, v)| (i, *v))
            .collect();
        assert_eq!(
            nonzero,
            [(0, 1), (2, 1), (4, 1), (6, 2), (8, 1), (10, 1), (12, 1)]
        );
    }

    #[test]
    fn mcnemar_edges() {
        for alt in [
            Alternative::TwoSided,
            Alternative::Greater,
            Alternative::Less,
        ] {
            assert_eq!(mcnemar(0, 0, alt).p_value, 1.0);
        }
        assert_eq!(mcnemar(5, 0, Alternative::Greater).p_value, 1.0);
        assert_eq!(mcnemar(12, 12, Alternative::TwoSided).p_value, 1.0);
        assert_eq!(mcnemar(20, 20, Alternative::TwoSided).p_value, 1.0);
        // Switch at 25 discordant pairs.
        assert_eq!(
            mcnemar(12, 12, Alternative::Greater).test,
            ShadowTest::McnemarExact
        );
        assert_eq!(
            mcnemar(12, 13, Alternative::Greater).test,
            ShadowTest::McnemarChi2
        );
    }

    #[test]
    fn wilcoxon_all_zero_and_bad_input() {
        for n in [5, 20, 60] {
            let w = wilcoxon(&vec![0.0; n], Alternative::Greater).unwrap();
            assert_eq!((w.p_value, w.n, w.zeros), (1.0, 0, n));
        }
        assert!(wilcoxon(&[], Alternative::TwoSided).is_none());
        assert!(wilcoxon(&[1.0, f64::NAN], Alternative::TwoSided).is_none());
    }
}
