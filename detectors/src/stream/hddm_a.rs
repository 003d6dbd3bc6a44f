//! HDDM_A — drift detection with Hoeffding's bounds, moving-average test (Frías-Blanco et al. 2015).
//!
//! **Method.** With `Z` the mean of the whole stream since the last reset, HDDM_A keeps a cut point
//! `X`: the prefix whose mean (widened by its Hoeffding bound) was lowest. A change is signalled when
//! the mean after the cut exceeds the mean before it by more than the Hoeffding bound
//! `ε = sqrt(m/2 · ln(2/conf))`, `m = (n_Z - n_X) / (n_X · n_Z)`: at `drift_confidence` a **drift**,
//! at `warning_confidence` a **warning**. With `two_sided_test` a symmetric cut tracks decreases too.
//!
//! **Input.** An error stream: `1.0` (or `true`) when the model was wrong, `0.0` when it was right
//! (the bounds assume values in `[0, 1]`).
//!
//! **Parameters** (River's defaults, from the paper):
//! * `drift_confidence = 0.001`, `warning_confidence = 0.005`;
//! * `two_sided_test = false` — only increases of the error rate are reported.
//!
//! **Example** on a seeded error stream whose error rate goes from 10 % to 40 % at index 1000
//! (stream `err_10_to_40` of `tests/fixtures/streams.json`; River 0.26 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{HddmA, HddmAConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Bernoulli { p: 0.1 } },
//!         Segment { len: 1000, dist: Dist::Bernoulli { p: 0.4 } },
//!     ],
//! }
//! .generate();
//! let mut hddm = HddmA::new(HddmAConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if hddm.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![1026]);
//! ```
//!
//! **Reference.** I. Frías-Blanco, J. del Campo-Ávila, G. Ramos-Jiménez, R. Morales-Bueno,
//! A. Ortiz-Díaz, Y. Caballero-Mota, "Online and non-parametric drift detection methods based on
//! Hoeffding's bounds", IEEE TKDE 27(3) (2015) 810–823.

use serde::{Deserialize, Serialize};

use super::{Core, DriftState, InputKind, RiverMean, impl_stream_detector};
use crate::error::{ConfigError, Validator};

/// Settings of [`HddmA`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HddmAConfig {
    /// Confidence level of a drift, in (0, 1). Default 0.001.
    pub drift_confidence: f64,
    /// Confidence level of a warning, in (0, 1). Default 0.005.
    pub warning_confidence: f64,
    /// Also report decreases of the error rate. Default `false`.
    pub two_sided_test: bool,
}

impl Default for HddmAConfig {
    fn default() -> Self {
        Self {
            drift_confidence: 0.001,
            warning_confidence: 0.005,
            two_sided_test: false,
        }
    }
}

impl HddmAConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("hddm_a");
        v.open_interval("drift_confidence", self.drift_confidence, 0.0, 1.0);
        v.open_interval("warning_confidence", self.warning_confidence, 0.0, 1.0);
        v.finish()
    }
}

/// HDDM_A detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HddmA {
    config: HddmAConfig,
    core: Core,
    /// Mean of the whole stream since the last reset.
    z: RiverMean,
    /// Cut point for increases (a copy of `z` at the cut).
    x_min: RiverMean,
    /// Cut point for decreases.
    x_max: RiverMean,
    warning: bool,
}

impl HddmA {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: HddmAConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            core: Core::default(),
            z: RiverMean::default(),
            x_min: RiverMean::default(),
            x_max: RiverMean::default(),
            warning: false,
        })
    }

    /// The settings.
    pub fn config(&self) -> &HddmAConfig {
        &self.config
    }

    fn clear(&mut self) {
        self.z = RiverMean::default();
        self.x_min = RiverMean::default();
        self.x_max = RiverMean::default();
        self.warning = false;
    }

    /// `sqrt(1/(2n) · ln(1/drift_confidence))`; `ln_inv_dc` is the logarithm, computed once per
    /// update (same value, same operation order as River).
    fn hoeffding_bound(n: f64, ln_inv_dc: f64) -> f64 {
        (1.0 / (2.0 * n) * ln_inv_dc).sqrt()
    }

    /// `true` when the mean after `cut` exceeds the mean at `cut` (`cut` before `after`).
    fn changed(cut: &RiverMean, z: &RiverMean, ln_2_over_conf: f64, increase: bool) -> bool {
        if cut.n == z.n {
            return false;
        }
        let m = (z.n - cut.n) / cut.n * (1.0 / z.n);
        let eps = (m / 2.0 * ln_2_over_conf).sqrt();
        if increase {
            z.mean - cut.mean >= eps
        } else {
            cut.mean - z.mean >= eps
        }
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        self.z.update(x);
        if self.x_min.n == 0.0 {
            self.x_min = self.z;
        }
        if self.x_max.n == 0.0 {
            self.x_max = self.z;
        }
        let ln_inv_dc = (1.0 / self.config.drift_confidence).ln();
        let eps_z = Self::hoeffding_bound(self.z.n, ln_inv_dc);
        let eps_x = Self::hoeffding_bound(self.x_min.n, ln_inv_dc);
        if self.x_min.mean + eps_x >= self.z.mean + eps_z {
            self.x_min = self.z;
        }
        let eps_x = Self::hoeffding_bound(self.x_max.n, ln_inv_dc);
        if self.x_max.mean - eps_x <= self.z.mean - eps_z {
            self.x_max = self.z;
        }
        let (dc, wc) = (
            (2.0 / self.config.drift_confidence).ln(),
            (2.0 / self.config.warning_confidence).ln(),
        );
        let mut drift = false;
        if Self::changed(&self.x_min, &self.z, dc, true) {
            self.warning = false;
            drift = true;
        } else {
            self.warning = Self::changed(&self.x_min, &self.z, wc, true);
        }
        if self.config.two_sided_test {
            if Self::changed(&self.x_max, &self.z, dc, false) {
                drift = true;
            } else if Self::changed(&self.x_max, &self.z, wc, false) {
                self.warning = true;
            }
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

impl_stream_detector!(HddmA, "hddm_a", InputKind::Binary);
