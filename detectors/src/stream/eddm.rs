//! EDDM — Early Drift Detection Method (Baena-García et al. 2006).
//!
//! **Method.** Instead of the error rate, EDDM watches the *distance* (number of observations)
//! between consecutive errors: while the model is good, errors are far apart. With `p'` the mean and
//! `s'` the standard deviation of those distances, it remembers the maximum of `p' + 2 s'` and, once
//! more than `warm_start` errors were seen, compares the ratio `(p' + 2 s') / max`: below `alpha`
//! is a **warning**, below `beta` a **drift**. Statistics are only updated on errors, so a warning
//! persists until the next error. Operation order and the sample standard deviation (`n - 1`) follow
//! River.
//!
//! **Input.** An error stream: `1.0` (or `true`) when the model was wrong, `0.0` when it was right.
//!
//! **Parameters** (River's defaults, from the paper):
//! * `warm_start = 30` — the paper waits for 30 errors before testing;
//! * `alpha = 0.95` — warning level;
//! * `beta = 0.90` — drift level (must be ≤ `alpha`).
//!
//! **Example** on a seeded error stream whose error rate goes from 10 % to 40 % at index 1000
//! (stream `err_10_to_40` of `tests/fixtures/streams.json`; River 0.26 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{Eddm, EddmConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Bernoulli { p: 0.1 } },
//!         Segment { len: 1000, dist: Dist::Bernoulli { p: 0.4 } },
//!     ],
//! }
//! .generate();
//! let mut eddm = Eddm::new(EddmConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if eddm.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![333, 655, 1001, 1075, 1160, 1278, 1377]);
//! ```
//!
//! **Reference.** M. Baena-García, J. del Campo-Ávila, R. Fidalgo, A. Bifet, R. Gavaldà,
//! R. Morales-Bueno, "Early drift detection method", 4th Int. Workshop on Knowledge Discovery from
//! Data Streams, 2006.

use serde::{Deserialize, Serialize};

use super::{Core, DriftState, InputKind, RiverMean, impl_stream_detector};
use crate::error::{ConfigError, Validator};

/// Settings of [`Eddm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EddmConfig {
    /// Errors (and observations) before any test. Default 30.
    pub warm_start: u32,
    /// Warning level in (0, 1]. Default 0.95.
    pub alpha: f64,
    /// Drift level in (0, alpha]. Default 0.90.
    pub beta: f64,
}

impl Default for EddmConfig {
    fn default() -> Self {
        Self {
            warm_start: 30,
            alpha: 0.95,
            beta: 0.9,
        }
    }
}

impl EddmConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("eddm");
        v.check(
            self.alpha.is_finite() && self.alpha > 0.0 && self.alpha <= 1.0,
            "alpha",
            || format!("must be in (0, 1], got {}", self.alpha),
        );
        v.check(
            self.beta.is_finite() && self.beta > 0.0 && self.beta <= self.alpha,
            "beta",
            || format!("must be in (0, alpha = {}], got {}", self.alpha, self.beta),
        );
        v.finish()
    }
}

/// EDDM detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eddm {
    config: EddmConfig,
    core: Core,
    /// Mean of the distances between errors.
    dist_mean: RiverMean,
    /// Sum of squared deviations of the distances (Welford).
    dist_s: f64,
    n: u64,
    last_error: u64,
    n_errors: u64,
    /// Maximum of `p' + 2 s'` (River starts it at -1).
    p2s_max: f64,
    warning: bool,
}

impl Eddm {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: EddmConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            core: Core::default(),
            dist_mean: RiverMean::default(),
            dist_s: 0.0,
            n: 0,
            last_error: 0,
            n_errors: 0,
            p2s_max: -1.0,
            warning: false,
        })
    }

    /// The settings.
    pub fn config(&self) -> &EddmConfig {
        &self.config
    }

    fn clear(&mut self) {
        self.dist_mean = RiverMean::default();
        self.dist_s = 0.0;
        self.n = 0;
        self.last_error = 0;
        self.n_errors = 0;
        self.p2s_max = -1.0;
        self.warning = false;
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        self.n += 1;
        let mut drift = false;
        if x == 1.0 {
            self.n_errors += 1;
            let d = (self.n - self.last_error) as f64;
            let old = self.dist_mean.mean;
            self.dist_mean.update(d);
            self.dist_s += (d - old) * (d - self.dist_mean.mean);
            if self.n > u64::from(self.config.warm_start) {
                let k = self.dist_mean.n;
                let var = if k > 1.0 {
                    self.dist_s / (k - 1.0)
                } else {
                    0.0
                };
                let p2s = self.dist_mean.mean + 2.0 * var.powf(0.5);
                if p2s > self.p2s_max {
                    self.p2s_max = p2s;
                } else if self.n_errors > u64::from(self.config.warm_start) {
                    let level = p2s / self.p2s_max;
                    if level < self.config.beta {
                        drift = true;
                    } else {
                        self.warning = level < self.config.alpha;
                    }
                }
            }
            self.last_error = self.n;
        }
        if drift {
            DriftState::Drift
        } else if self.warning {
            DriftState::Warning
        } else {
            DriftState::Stable
        }
    }
}

impl_stream_detector!(Eddm, "eddm", InputKind::Binary);
