//! DDM — Drift Detection Method (Gama, Medas, Castillo & Rodrigues 2004).
//!
//! **Method.** The error rate `p_i` of an error stream is a binomial proportion with standard
//! deviation `s_i = sqrt(p_i (1 - p_i) / i)`. DDM remembers the point where `p_i + s_i` was lowest
//! (`p_min`, `s_min`) and signals a **warning** when `p_i + s_i > p_min + 2 s_min` and a **drift** when
//! `p_i + s_i > p_min + 3 s_min`. Nothing is signalled during the first `warm_start` observations.
//! Comparisons follow River (`<=` to update the minimum, strict `>` for the thresholds).
//!
//! **Input.** An error stream: `1.0` (or `true`) when the model was wrong, `0.0` when it was right.
//!
//! **Parameters** (River's defaults, from the paper):
//! * `warm_start = 30` — observations before any signal (the paper's `n > 30` normal approximation);
//! * `warning_threshold = 2.0` — warning at `p_min + 2 s_min` (≈ 95 % confidence);
//! * `drift_threshold = 3.0` — drift at `p_min + 3 s_min` (≈ 99 % confidence).
//!
//! **Example** on a seeded error stream whose error rate goes from 10 % to 40 % at index 1000
//! (stream `err_10_to_40` of `tests/fixtures/streams.json`; River 0.26 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{Ddm, DdmConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Bernoulli { p: 0.1 } },
//!         Segment { len: 1000, dist: Dist::Bernoulli { p: 0.4 } },
//!     ],
//! }
//! .generate();
//! let mut ddm = Ddm::new(DdmConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if ddm.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![125, 1071]);
//! ```
//!
//! **Reference.** J. Gama, P. Medas, G. Castillo, P. Rodrigues, "Learning with drift detection",
//! SBIA 2004, LNCS 3171, pp. 286–295.

use serde::{Deserialize, Serialize};

use super::{Core, DriftState, InputKind, RiverMean, impl_stream_detector};
use crate::error::{ConfigError, Validator};

/// Settings of [`Ddm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DdmConfig {
    /// Observations before any signal. Default 30.
    pub warm_start: u32,
    /// Warning at `p_min + warning_threshold * s_min` (> 0). Default 2.
    pub warning_threshold: f64,
    /// Drift at `p_min + drift_threshold * s_min` (≥ warning threshold). Default 3.
    pub drift_threshold: f64,
}

impl Default for DdmConfig {
    fn default() -> Self {
        Self {
            warm_start: 30,
            warning_threshold: 2.0,
            drift_threshold: 3.0,
        }
    }
}

impl DdmConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("ddm");
        v.positive("warning_threshold", self.warning_threshold);
        v.positive("drift_threshold", self.drift_threshold);
        v.check(
            self.drift_threshold >= self.warning_threshold,
            "drift_threshold",
            || {
                format!(
                    "must be >= warning_threshold ({}), got {}",
                    self.warning_threshold, self.drift_threshold
                )
            },
        );
        v.finish()
    }
}

/// DDM detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ddm {
    config: DdmConfig,
    core: Core,
    p: RiverMean,
    /// `(p_min, s_min)` at the lowest `p + s` seen after the warm start.
    min: Option<(f64, f64)>,
    warning: bool,
}

impl Ddm {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: DdmConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            core: Core::default(),
            p: RiverMean::default(),
            min: None,
            warning: false,
        })
    }

    /// The settings.
    pub fn config(&self) -> &DdmConfig {
        &self.config
    }

    /// Current error-rate estimate.
    pub fn error_rate(&self) -> f64 {
        self.p.mean
    }

    fn clear(&mut self) {
        self.p = RiverMean::default();
        self.min = None;
        self.warning = false;
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        self.p.update(x);
        let p = self.p.mean;
        let n = self.p.n;
        let s = (p * (1.0 - p) / n).sqrt();
        if n > f64::from(self.config.warm_start) {
            let ps = p + s;
            if self.min.is_none_or(|(pm, sm)| ps <= pm + sm) {
                self.min = Some((p, s));
            }
            let (p_min, s_min) = self.min.unwrap_or((p, s));
            self.warning = ps > p_min + self.config.warning_threshold * s_min;
            if ps > p_min + self.config.drift_threshold * s_min {
                self.warning = false;
                return DriftState::Drift;
            }
        }
        if self.warning {
            DriftState::Warning
        } else {
            DriftState::Stable
        }
    }
}

impl_stream_detector!(Ddm, "ddm", InputKind::Binary);
