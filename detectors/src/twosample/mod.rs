//! Two-sample tests: compare a reference sample with a current window.
//!
//! Two layers:
//!
//! * **Kernels** — plain functions matching SciPy/NumPy: [`numeric`] (KS, Wasserstein, Cramér–von
//!   Mises, k-sample Anderson–Darling, Mann–Whitney), [`binned`] (PSI, Jensen–Shannon, Hellinger,
//!   KL, L-infinity on counts over the same bins) and [`categorical`] (chi-square, two-proportion Z,
//!   alignment with an other/new bucket).
//!   [`weighted`] has the numeric statistics on weighted samples (quantile-sketch views).
//! * **Tests with a decision** — [`NumericTest`] and [`CategoricalTest`] are serde enums tagged by
//!   `test` (`{"test": "ks", "alpha": 0.05}`) whose `evaluate` returns a [`TestOutcome`]: either a
//!   [`Verdict`] (statistic, p-value where one exists, threshold and the drift decision) or
//!   [`TestOutcome::NotEnoughData`] with the reason — never a NaN.
//!
//! Decision rule: tests with a p-value flag drift when `p < alpha`; distances flag drift when
//! `statistic >= threshold` (Evidently's conventions). Defaults: `alpha = 0.05`; thresholds 0.1
//! (PSI, Jensen–Shannon, Hellinger, KL, L-infinity, normalised Wasserstein).
//!
//! Input handling: NaN/±inf in numeric samples are dropped and counted ([`Sample::non_finite`]),
//! missing categorical values are counted ([`CategoryCounts::missing`]); both counts are reported
//! in the verdict. A side with fewer than `min_samples` (default [`MIN_SAMPLES`] = 5) usable values
//! gives `NotEnoughData`.
//!
//! ```
//! use driftd_detectors::twosample::{NumericTest, Sample, TestOutcome};
//! use driftd_detectors::synth::{Dist, Rng};
//! let mut rng = Rng::new(1);
//! let reference = Sample::new(&Dist::Normal { loc: 0.0, scale: 1.0 }.sample_n(&mut rng, 500));
//! let current = Sample::new(&Dist::Normal { loc: 0.5, scale: 1.0 }.sample_n(&mut rng, 500));
//! let ks = NumericTest::Ks { alpha: 0.05 };
//! match ks.evaluate(&reference, &current) {
//!     TestOutcome::Computed(v) => {
//!         assert!(v.drift);
//!         assert!(v.p_value.unwrap() < 1e-6);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! let tiny = Sample::new(&[1.0, 2.0]);
//! assert!(matches!(ks.evaluate(&reference, &tiny), TestOutcome::NotEnoughData { .. }));
//! ```

pub mod binned;
mod bins;
pub mod categorical;
pub mod numeric;
mod sample;
pub mod weighted;

use serde::{Deserialize, Serialize};

pub use bins::Bins;
pub use categorical::{CategoryCounts, Unseen};
pub use numeric::{PValueMethod, StatPValue};
pub use sample::Sample;

use crate::error::{ConfigError, Validator};

/// Fewest usable values per side before a test is computed.
pub const MIN_SAMPLES: usize = 5;

/// Default number of reference-quantile bins of the binned numeric distances (two out-of-range bins
/// are added, see [`Bins::from_reference_quantiles`]).
pub const DEFAULT_BINS: usize = 10;

fn default_alpha() -> f64 {
    0.05
}
fn default_distance() -> f64 {
    0.1
}
fn default_bins() -> usize {
    DEFAULT_BINS
}

/// Names of all tests (as they appear in outputs and in the `test` tag of settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestName {
    /// Two-sample Kolmogorov–Smirnov.
    Ks,
    /// Wasserstein-1 distance in the feature's units.
    Wasserstein,
    /// Wasserstein-1 divided by the reference's standard deviation.
    WassersteinNormed,
    /// Population Stability Index.
    Psi,
    /// Jensen–Shannon distance.
    JensenShannon,
    /// Hellinger distance.
    Hellinger,
    /// Kullback–Leibler divergence (reference ‖ current).
    KullbackLeibler,
    /// Two-sample Cramér–von Mises.
    CramerVonMises,
    /// k-sample Anderson–Darling with two samples.
    AndersonDarling,
    /// Mann–Whitney U.
    MannWhitney,
    /// Pearson chi-square test of homogeneity.
    ChiSquare,
    /// Two-proportion Z-test.
    ZTest,
    /// L-infinity distance of category shares.
    LInfinity,
}

impl TestName {
    /// `true` for tests that produce a p-value (decision `p < alpha`).
    pub fn has_p_value(self) -> bool {
        matches!(
            self,
            TestName::Ks
                | TestName::CramerVonMises
                | TestName::AndersonDarling
                | TestName::MannWhitney
                | TestName::ChiSquare
                | TestName::ZTest
        )
    }
}

/// Why a test was not computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Insufficient {
    /// A side has fewer usable values than required.
    TooFewObservations {
        /// The minimum per side.
        needed: usize,
    },
    /// The pooled sample has a single distinct value (Anderson–Darling is undefined).
    NoVariation,
    /// The reference has zero spread, so a normalised distance is undefined while the current
    /// window differs from it (if it does not, the distance is 0 and is reported).
    ConstantReference,
    /// The Z-test needs exactly two categories.
    NotBinary {
        /// Distinct categories seen (reference categories plus a non-empty other/new bucket).
        categories: usize,
    },
}

/// A computed test with its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Which test.
    pub test: TestName,
    /// Its statistic (a distance for distance tests).
    pub statistic: f64,
    /// p-value, for tests that have one.
    pub p_value: Option<f64>,
    /// How the p-value was obtained.
    pub p_value_method: Option<PValueMethod>,
    /// `alpha` for p-value tests, the distance threshold otherwise.
    pub threshold: f64,
    /// The decision: `p < alpha`, or `statistic >= threshold`.
    pub drift: bool,
    /// Usable reference values.
    pub n_reference: u64,
    /// Usable current values.
    pub n_current: u64,
    /// Values left out: NaN/±inf (numeric) or missing (categorical), reference side.
    pub ignored_reference: u64,
    /// Values left out, current side.
    pub ignored_current: u64,
    /// Categorical tests: current values in categories the reference never saw.
    pub unseen: Option<Unseen>,
}

/// Result of a two-sample test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TestOutcome {
    /// The test ran.
    Computed(Verdict),
    /// The test could not run on this data.
    NotEnoughData {
        /// Which test.
        test: TestName,
        /// Why.
        #[serde(flatten)]
        reason: Insufficient,
        /// Usable reference values.
        n_reference: u64,
        /// Usable current values.
        n_current: u64,
    },
}

impl TestOutcome {
    /// The verdict, if computed.
    pub fn verdict(&self) -> Option<&Verdict> {
        match self {
            TestOutcome::Computed(v) => Some(v),
            TestOutcome::NotEnoughData { .. } => None,
        }
    }

    /// `true` only for a computed verdict that flags drift.
    pub fn drift(&self) -> bool {
        self.verdict().is_some_and(|v| v.drift)
    }

    /// Which test.
    pub fn test(&self) -> TestName {
        match self {
            TestOutcome::Computed(v) => v.test,
            TestOutcome::NotEnoughData { test, .. } => *test,
        }
    }
}

/// Builds a verdict from a statistic and optional p-value.
pub(crate) struct VerdictBuilder {
    pub test: TestName,
    pub threshold: f64,
    pub n_reference: u64,
    pub n_current: u64,
    pub ignored_reference: u64,
    pub ignored_current: u64,
}

impl VerdictBuilder {
    pub(crate) fn p_value(self, s: StatPValue) -> TestOutcome {
        TestOutcome::Computed(Verdict {
            test: self.test,
            statistic: s.statistic,
            p_value: Some(s.p_value),
            p_value_method: Some(s.method),
            threshold: self.threshold,
            drift: s.p_value < self.threshold,
            n_reference: self.n_reference,
            n_current: self.n_current,
            ignored_reference: self.ignored_reference,
            ignored_current: self.ignored_current,
            unseen: None,
        })
    }

    pub(crate) fn distance(self, d: f64) -> TestOutcome {
        TestOutcome::Computed(Verdict {
            test: self.test,
            statistic: d,
            p_value: None,
            p_value_method: None,
            threshold: self.threshold,
            drift: d >= self.threshold,
            n_reference: self.n_reference,
            n_current: self.n_current,
            ignored_reference: self.ignored_reference,
            ignored_current: self.ignored_current,
            unseen: None,
        })
    }

    pub(crate) fn insufficient(self, reason: Insufficient) -> TestOutcome {
        TestOutcome::NotEnoughData {
            test: self.test,
            reason,
            n_reference: self.n_reference,
            n_current: self.n_current,
        }
    }
}

/// A numeric two-sample test with its decision threshold. Serialised as
/// `{"test": "psi", "bins": 10, "threshold": 0.1}`; omitted fields take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case", deny_unknown_fields)]
pub enum NumericTest {
    /// Kolmogorov–Smirnov, drift when `p < alpha`.
    Ks {
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// Wasserstein-1 in the feature's units, drift when `>= threshold`.
    Wasserstein {
        /// Threshold in the feature's units (default 0.1 — set it for your units).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Wasserstein-1 divided by the reference's (population) standard deviation (Evidently's
    /// `wasserstein` test), drift when `>= threshold`.
    WassersteinNormed {
        /// Threshold in reference standard deviations (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// PSI on reference-quantile bins (see [`Bins::from_reference_quantiles`]).
    Psi {
        /// Number of bins (default 10).
        #[serde(default = "default_bins")]
        bins: usize,
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Jensen–Shannon distance on reference-quantile bins.
    JensenShannon {
        /// Number of bins (default 10).
        #[serde(default = "default_bins")]
        bins: usize,
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Hellinger distance on reference-quantile bins.
    Hellinger {
        /// Number of bins (default 10).
        #[serde(default = "default_bins")]
        bins: usize,
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Kullback–Leibler divergence (reference ‖ current) on reference-quantile bins.
    KullbackLeibler {
        /// Number of bins (default 10).
        #[serde(default = "default_bins")]
        bins: usize,
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Cramér–von Mises, drift when `p < alpha`.
    CramerVonMises {
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// Anderson–Darling (k = 2), drift when `p < alpha` (p clipped to [0.001, 0.25]).
    AndersonDarling {
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// Mann–Whitney U, drift when `p < alpha`.
    MannWhitney {
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
}

impl NumericTest {
    /// The test's name.
    pub fn name(&self) -> TestName {
        match self {
            NumericTest::Ks { .. } => TestName::Ks,
            NumericTest::Wasserstein { .. } => TestName::Wasserstein,
            NumericTest::WassersteinNormed { .. } => TestName::WassersteinNormed,
            NumericTest::Psi { .. } => TestName::Psi,
            NumericTest::JensenShannon { .. } => TestName::JensenShannon,
            NumericTest::Hellinger { .. } => TestName::Hellinger,
            NumericTest::KullbackLeibler { .. } => TestName::KullbackLeibler,
            NumericTest::CramerVonMises { .. } => TestName::CramerVonMises,
            NumericTest::AndersonDarling { .. } => TestName::AndersonDarling,
            NumericTest::MannWhitney { .. } => TestName::MannWhitney,
        }
    }

    /// The decision threshold (`alpha` or distance threshold).
    pub fn threshold(&self) -> f64 {
        match self {
            NumericTest::Ks { alpha }
            | NumericTest::CramerVonMises { alpha }
            | NumericTest::AndersonDarling { alpha }
            | NumericTest::MannWhitney { alpha } => *alpha,
            NumericTest::Wasserstein { threshold }
            | NumericTest::WassersteinNormed { threshold }
            | NumericTest::Psi { threshold, .. }
            | NumericTest::JensenShannon { threshold, .. }
            | NumericTest::Hellinger { threshold, .. }
            | NumericTest::KullbackLeibler { threshold, .. } => *threshold,
        }
    }

    /// Number of bins, for binned tests.
    pub fn bins(&self) -> Option<usize> {
        match self {
            NumericTest::Psi { bins, .. }
            | NumericTest::JensenShannon { bins, .. }
            | NumericTest::Hellinger { bins, .. }
            | NumericTest::KullbackLeibler { bins, .. } => Some(*bins),
            _ => None,
        }
    }

    /// Checks the settings, reporting every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("numeric test");
        let t = self.threshold();
        if self.name().has_p_value() {
            v.open_interval("alpha", t, 0.0, 1.0);
        } else {
            v.non_negative("threshold", t);
        }
        if let Some(b) = self.bins() {
            v.check(b >= 2, "bins", || format!("must be >= 2, got {b}"));
        }
        v.finish()
    }

    /// Runs the test with the default minimum sample size [`MIN_SAMPLES`].
    pub fn evaluate(&self, reference: &Sample, current: &Sample) -> TestOutcome {
        self.evaluate_with_min(reference, current, MIN_SAMPLES)
    }

    /// Runs the test on raw (unsorted) values. Binned tests (PSI, Jensen–Shannon, Hellinger, KL) skip
    /// the sort: reference quantiles by selection and a binary search per value, `O(n log bins)`;
    /// the results are identical to [`NumericTest::evaluate`]. Other tests prepare [`Sample`]s.
    pub fn evaluate_values(&self, reference: &[f64], current: &[f64]) -> TestOutcome {
        let Some(bins) = self.bins() else {
            return self.evaluate(&Sample::new(reference), &Sample::new(current));
        };
        let finite = |v: &[f64]| v.iter().filter(|x| x.is_finite()).count();
        let (nr, nc) = (finite(reference), finite(current));
        let b = VerdictBuilder {
            test: self.name(),
            threshold: self.threshold(),
            n_reference: nr as u64,
            n_current: nc as u64,
            ignored_reference: (reference.len() - nr) as u64,
            ignored_current: (current.len() - nc) as u64,
        };
        if nr < MIN_SAMPLES || nc < MIN_SAMPLES {
            return b.insufficient(Insufficient::TooFewObservations {
                needed: MIN_SAMPLES,
            });
        }
        let edges = Bins::from_unsorted_quantiles(reference, bins);
        let (r, c) = (
            edges.counts_unsorted(reference),
            edges.counts_unsorted(current),
        );
        b.distance(binned_distance(self.name(), &r, &c))
    }

    /// Runs the test; a side with fewer than `min_samples` finite values gives `NotEnoughData`.
    pub fn evaluate_with_min(
        &self,
        reference: &Sample,
        current: &Sample,
        min_samples: usize,
    ) -> TestOutcome {
        let b = VerdictBuilder {
            test: self.name(),
            threshold: self.threshold(),
            n_reference: reference.len() as u64,
            n_current: current.len() as u64,
            ignored_reference: reference.non_finite(),
            ignored_current: current.non_finite(),
        };
        let needed = min_samples.max(2);
        if reference.len() < needed || current.len() < needed {
            return b.insufficient(Insufficient::TooFewObservations { needed });
        }
        match self {
            NumericTest::Ks { .. } => b.p_value(numeric::ks(reference, current)),
            NumericTest::CramerVonMises { .. } => {
                b.p_value(numeric::cramer_von_mises(reference, current))
            }
            NumericTest::MannWhitney { .. } => b.p_value(numeric::mann_whitney(reference, current)),
            NumericTest::AndersonDarling { .. } => {
                match numeric::anderson_darling(&[reference, current]) {
                    Some(s) => b.p_value(s),
                    None => b.insufficient(Insufficient::NoVariation),
                }
            }
            NumericTest::Wasserstein { .. } => b.distance(numeric::wasserstein(reference, current)),
            NumericTest::WassersteinNormed { .. } => {
                let w = numeric::wasserstein(reference, current);
                normed_wasserstein(w, reference.std(), b)
            }
            NumericTest::Psi { bins, .. }
            | NumericTest::JensenShannon { bins, .. }
            | NumericTest::Hellinger { bins, .. }
            | NumericTest::KullbackLeibler { bins, .. } => {
                let edges = Bins::from_reference_quantiles(reference, *bins);
                let (r, c) = (edges.counts(reference), edges.counts(current));
                b.distance(binned_distance(self.name(), &r, &c))
            }
        }
    }
}

/// Normalised Wasserstein with the constant-reference rule.
pub(crate) fn normed_wasserstein(w: f64, std_ref: f64, b: VerdictBuilder) -> TestOutcome {
    if std_ref > 0.0 {
        b.distance(w / std_ref)
    } else if w == 0.0 {
        b.distance(0.0)
    } else {
        b.insufficient(Insufficient::ConstantReference)
    }
}

/// Dispatches a binned distance by name.
pub(crate) fn binned_distance(test: TestName, reference: &[u64], current: &[u64]) -> f64 {
    match test {
        TestName::Psi => binned::psi(reference, current),
        TestName::JensenShannon => binned::jensen_shannon(reference, current),
        TestName::Hellinger => binned::hellinger(reference, current),
        TestName::KullbackLeibler => binned::kullback_leibler(reference, current),
        TestName::LInfinity => binned::l_infinity(reference, current),
        other => unreachable!("{other:?} is not a binned distance"),
    }
}

/// A categorical two-sample test with its decision threshold, serialised as
/// `{"test": "chi_square", "alpha": 0.05}`. Categories are the reference's plus an other/new bucket
/// (see [`categorical`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case", deny_unknown_fields)]
pub enum CategoricalTest {
    /// Chi-square test of homogeneity, drift when `p < alpha`.
    ChiSquare {
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// Two-proportion Z-test (binary features only), drift when `p < alpha`.
    ZTest {
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// PSI of category shares.
    Psi {
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Jensen–Shannon distance of category shares.
    JensenShannon {
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Hellinger distance of category shares.
    Hellinger {
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// Kullback–Leibler divergence of category shares.
    KullbackLeibler {
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
    /// L-infinity distance of category shares (TFDV).
    LInfinity {
        /// Threshold (default 0.1).
        #[serde(default = "default_distance")]
        threshold: f64,
    },
}

impl CategoricalTest {
    /// The test's name.
    pub fn name(&self) -> TestName {
        match self {
            CategoricalTest::ChiSquare { .. } => TestName::ChiSquare,
            CategoricalTest::ZTest { .. } => TestName::ZTest,
            CategoricalTest::Psi { .. } => TestName::Psi,
            CategoricalTest::JensenShannon { .. } => TestName::JensenShannon,
            CategoricalTest::Hellinger { .. } => TestName::Hellinger,
            CategoricalTest::KullbackLeibler { .. } => TestName::KullbackLeibler,
            CategoricalTest::LInfinity { .. } => TestName::LInfinity,
        }
    }

    /// The decision threshold.
    pub fn threshold(&self) -> f64 {
        match self {
            CategoricalTest::ChiSquare { alpha } | CategoricalTest::ZTest { alpha } => *alpha,
            CategoricalTest::Psi { threshold }
            | CategoricalTest::JensenShannon { threshold }
            | CategoricalTest::Hellinger { threshold }
            | CategoricalTest::KullbackLeibler { threshold }
            | CategoricalTest::LInfinity { threshold } => *threshold,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("categorical test");
        if self.name().has_p_value() {
            v.open_interval("alpha", self.threshold(), 0.0, 1.0);
        } else {
            v.non_negative("threshold", self.threshold());
        }
        v.finish()
    }

    /// Runs the test with the default minimum sample size [`MIN_SAMPLES`].
    pub fn evaluate(&self, reference: &CategoryCounts, current: &CategoryCounts) -> TestOutcome {
        let al = categorical::align(reference, current);
        self.evaluate_aligned(
            &al.reference,
            &al.current,
            al.unseen,
            reference.missing(),
            current.missing(),
            MIN_SAMPLES,
        )
    }

    /// Runs the test on counts already aligned (last column = other/new bucket, reference count 0).
    pub(crate) fn evaluate_aligned(
        &self,
        reference: &[u64],
        current: &[u64],
        unseen: Unseen,
        ignored_reference: u64,
        ignored_current: u64,
        min_samples: usize,
    ) -> TestOutcome {
        let (nr, nc): (u64, u64) = (reference.iter().sum(), current.iter().sum());
        let b = VerdictBuilder {
            test: self.name(),
            threshold: self.threshold(),
            n_reference: nr,
            n_current: nc,
            ignored_reference,
            ignored_current,
        };
        let needed = min_samples.max(1);
        if (nr as usize) < needed || (nc as usize) < needed {
            return b.insufficient(Insufficient::TooFewObservations { needed });
        }
        let mut out = match self {
            CategoricalTest::ChiSquare { .. } => {
                let (stat, p, _) = categorical::chi_square(reference, current);
                b.p_value(StatPValue {
                    statistic: stat,
                    p_value: p,
                    method: PValueMethod::Asymptotic,
                })
            }
            CategoricalTest::ZTest { .. } => {
                let used: Vec<usize> = (0..reference.len())
                    .filter(|&i| reference[i] + current[i] > 0)
                    .collect();
                let k = used.len();
                let known = reference.len() - 1; // columns before the other/new bucket
                if k > 2 || known > 2 || (unseen.count > 0 && known >= 2) {
                    let categories = known + usize::from(unseen.count > 0);
                    return b.insufficient(Insufficient::NotBinary { categories });
                }
                // Success = the first reference category (sorted by name).
                let (z, p) = categorical::z_test(reference[0], nr, current[0], nc);
                b.p_value(StatPValue {
                    statistic: z,
                    p_value: p,
                    method: PValueMethod::Asymptotic,
                })
            }
            _ => b.distance(binned_distance(self.name(), reference, current)),
        };
        if let TestOutcome::Computed(v) = &mut out {
            v.unseen = Some(unseen);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_defaults_and_refuse_unknown_fields() {
        let t: NumericTest = serde_json::from_str(r#"{"test": "psi"}"#).unwrap();
        assert_eq!(
            t,
            NumericTest::Psi {
                bins: 10,
                threshold: 0.1
            }
        );
        assert!(serde_json::from_str::<NumericTest>(r#"{"test": "ks", "alpah": 0.1}"#).is_err());
        let c: CategoricalTest =
            serde_json::from_str(r#"{"test": "chi_square", "alpha": 0.01}"#).unwrap();
        assert_eq!(c, CategoricalTest::ChiSquare { alpha: 0.01 });
        assert!(
            NumericTest::Psi {
                bins: 1,
                threshold: -1.0
            }
            .validate()
            .unwrap_err()
            .problems
            .len()
                == 2
        );
    }

    #[test]
    fn constant_reference_is_defined() {
        let r = Sample::new(&[2.0; 20]);
        let same = NumericTest::WassersteinNormed { threshold: 0.1 }.evaluate(&r, &r);
        assert_eq!(same.verdict().map(|v| v.statistic), Some(0.0));
        let other = Sample::new(&[3.0; 20]);
        let out = NumericTest::WassersteinNormed { threshold: 0.1 }.evaluate(&r, &other);
        assert!(matches!(
            out,
            TestOutcome::NotEnoughData {
                reason: Insufficient::ConstantReference,
                ..
            }
        ));
        // KS handles it: D = 1.
        assert_eq!(
            NumericTest::Ks { alpha: 0.05 }
                .evaluate(&r, &other)
                .verdict()
                .unwrap()
                .statistic,
            1.0
        );
    }
}
