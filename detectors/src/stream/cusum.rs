//! CUSUM — Page's cumulative sum test (Page 1954), in the form Frouros implements.
//!
//! River has no CUSUM, so the reference implementation is **Frouros 0.9's `CUSUM`** (the
//! drift-detection library users compare us with), itself citing Page (1954): with `x̄_t` the running
//! mean (updated *before* the sum),
//!
//! `S_t = max(0, S_{t-1} + x_t - x̄_t - δ)` and a **drift** when `t ≥ min_instances` and `S_t > λ`.
//!
//! Frouros only watches increases; `mode = "down"` applies the mirrored recursion
//! `S_t = max(0, S_{t-1} - x_t + x̄_t - δ)` and `mode = "both"` runs the two (Page's two-sided
//! scheme). Like every detector here, statistics reset on the update after a drift (Frouros leaves
//! that to the caller; the fixture script calls `reset()` there).
//!
//! **Input.** Any finite number (an error stream or a feature).
//!
//! **Parameters** (Frouros's defaults):
//! * `delta = 0.005` — allowance: drifts smaller than this are ignored;
//! * `lambda = 50` — decision threshold, in the units of the stream;
//! * `min_instances = 30` — no detection before this many values;
//! * `mode = up`.
//!
//! **Example** on a seeded stream, 0/1 noise then values in [4, 8) from index 1000 (stream
//! `discrete_jump` of `tests/fixtures/streams.json`; Frouros 0.9 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{Cusum, CusumConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12345,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Discrete { k: 2 } },
//!         Segment { len: 1000, dist: Dist::Uniform { low: 4.0, high: 8.0 } },
//!     ],
//! }
//! .generate();
//! let mut cusum = Cusum::new(CusumConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if cusum.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![1003]);
//! ```
//!
//! **References.** E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100–115;
//! J. Céspedes Sisniega, Á. López García, "Frouros: an open-source Python library for drift
//! detection in machine learning systems", SoftwareX 26 (2024).

use serde::{Deserialize, Serialize};

use super::page_hinkley::Direction;
use super::{Core, DriftState, InputKind, impl_stream_detector};
use crate::error::{ConfigError, Validator};

/// Settings of [`Cusum`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CusumConfig {
    /// Allowance δ (≥ 0). Default 0.005.
    pub delta: f64,
    /// Threshold λ (> 0). Default 50.
    pub lambda: f64,
    /// No detection before this many values. Default 30.
    pub min_instances: u32,
    /// Which changes to detect. Default `up`.
    pub mode: Direction,
}

impl Default for CusumConfig {
    fn default() -> Self {
        Self {
            delta: 0.005,
            lambda: 50.0,
            min_instances: 30,
            mode: Direction::Up,
        }
    }
}

impl CusumConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("cusum");
        v.non_negative("delta", self.delta);
        v.positive("lambda", self.lambda);
        v.finish()
    }
}

/// CUSUM detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cusum {
    config: CusumConfig,
    core: Core,
    n: u64,
    mean: f64,
    sum_up: f64,
    sum_down: f64,
}

impl Cusum {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: CusumConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            core: Core::default(),
            n: 0,
            mean: 0.0,
            sum_up: 0.0,
            sum_down: 0.0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &CusumConfig {
        &self.config
    }

    fn clear(&mut self) {
        self.n = 0;
        self.mean = 0.0;
        self.sum_up = 0.0;
        self.sum_down = 0.0;
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        self.n += 1;
        // Frouros's incremental mean: mean += (x - mean) / n.
        self.mean += (x - self.mean) / self.n as f64;
        let d = self.config.delta;
        self.sum_up = (self.sum_up + x - self.mean - d).max(0.0);
        self.sum_down = (self.sum_down - x + self.mean - d).max(0.0);
        if self.n < u64::from(self.config.min_instances) {
            return DriftState::Stable;
        }
        let lam = self.config.lambda;
        let drift = match self.config.mode {
            Direction::Up => self.sum_up > lam,
            Direction::Down => self.sum_down > lam,
            Direction::Both => self.sum_up > lam || self.sum_down > lam,
        };
        if drift {
            DriftState::Drift
        } else {
            DriftState::Stable
        }
    }
}

impl_stream_detector!(Cusum, "cusum", InputKind::Numeric);
