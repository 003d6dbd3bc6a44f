//! Page–Hinkley test (Page 1954; the form used by River and Sebastião & Fernandes 2017).
//!
//! **Method.** With `x̄_t` the running mean of the stream, two cumulative sums with a forgetting
//! factor `α` track deviations from it:
//!
//! `U_t = α U_{t-1} + (x_t - x̄_t) - δ` (increases) and `L_t = α L_{t-1} + (x_t - x̄_t) + δ` (decreases).
//!
//! A drift is signalled once at least `min_instances` values were seen and `U_t - min U > λ`
//! (mean went up) or `max L - L_t > λ` (mean went down), depending on `mode`.
//!
//! **Input.** Any finite number.
//!
//! **Parameters** (River's defaults):
//! * `min_instances = 30` — no detection before this many values;
//! * `delta = 0.005` — magnitude of changes that are tolerated;
//! * `threshold = 50` — `λ`, the detection threshold: larger means fewer false alarms, later
//!   detections (it is in the units of the stream: scale it with the stream's spread);
//! * `alpha = 1 - 0.0001` — forgetting factor of the cumulative sums;
//! * `mode = both` — `up`, `down` or `both`.
//!
//! **Example** on a seeded stream, 0/1 noise then values in [4, 8) from index 1000 (stream
//! `discrete_jump` of `tests/fixtures/streams.json`; River 0.26 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{PageHinkley, PageHinkleyConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12345,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Discrete { k: 2 } },
//!         Segment { len: 1000, dist: Dist::Uniform { low: 4.0, high: 8.0 } },
//!     ],
//! }
//! .generate();
//! let mut ph = PageHinkley::new(PageHinkleyConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if ph.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![1003, 1405, 1794]);
//! ```
//!
//! **References.** E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954) 100–115;
//! R. Sebastião, J. M. Fernandes, "Supporting the Page-Hinkley test with empirical mode decomposition
//! for change detection", ISMIS 2017.

use serde::{Deserialize, Serialize};

use super::{Core, DriftState, InputKind, RiverMean, impl_stream_detector};
use crate::error::{ConfigError, Validator};

/// Which direction of change a one-variable test watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Increases of the mean only.
    Up,
    /// Decreases of the mean only.
    Down,
    /// Both.
    #[default]
    Both,
}

/// Settings of [`PageHinkley`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PageHinkleyConfig {
    /// No detection before this many values. Default 30.
    pub min_instances: u32,
    /// Tolerated magnitude of change δ (≥ 0). Default 0.005.
    pub delta: f64,
    /// Detection threshold λ (> 0). Default 50.
    pub threshold: f64,
    /// Forgetting factor α in (0, 1]. Default 1 - 0.0001.
    pub alpha: f64,
    /// Which changes to detect. Default `both`.
    pub mode: Direction,
}

impl Default for PageHinkleyConfig {
    fn default() -> Self {
        Self {
            min_instances: 30,
            delta: 0.005,
            threshold: 50.0,
            alpha: 1.0 - 0.0001,
            mode: Direction::Both,
        }
    }
}

impl PageHinkleyConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("page_hinkley");
        v.non_negative("delta", self.delta);
        v.positive("threshold", self.threshold);
        v.check(
            self.alpha.is_finite() && self.alpha > 0.0 && self.alpha <= 1.0,
            "alpha",
            || format!("must be in (0, 1], got {}", self.alpha),
        );
        v.finish()
    }
}

/// Page–Hinkley detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    config: PageHinkleyConfig,
    core: Core,
    mean: RiverMean,
    sum_increase: f64,
    sum_decrease: f64,
    /// Minimum of `sum_increase` so far (`None` = +∞, nothing seen).
    min_increase: Option<f64>,
    /// Maximum of `sum_decrease` so far (River starts it at -1).
    max_decrease: f64,
}

impl PageHinkley {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: PageHinkleyConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            core: Core::default(),
            mean: RiverMean::default(),
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: None,
            max_decrease: -1.0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PageHinkleyConfig {
        &self.config
    }

    fn clear(&mut self) {
        self.mean = RiverMean::default();
        self.sum_increase = 0.0;
        self.sum_decrease = 0.0;
        self.min_increase = None;
        self.max_decrease = -1.0;
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        let c = &self.config;
        self.mean.update(x);
        let dev = x - self.mean.mean;
        self.sum_increase = c.alpha * self.sum_increase + dev - c.delta;
        self.sum_decrease = c.alpha * self.sum_decrease + dev + c.delta;
        if self.min_increase.is_none_or(|m| self.sum_increase < m) {
            self.min_increase = Some(self.sum_increase);
        }
        if self.sum_decrease > self.max_decrease {
            self.max_decrease = self.sum_decrease;
        }
        if self.mean.n < f64::from(c.min_instances) {
            return DriftState::Stable;
        }
        let up = self.sum_increase - self.min_increase.unwrap_or(self.sum_increase) > c.threshold;
        let down = self.max_decrease - self.sum_decrease > c.threshold;
        let drift = match c.mode {
            Direction::Up => up,
            Direction::Down => down,
            Direction::Both => up || down,
        };
        if drift {
            DriftState::Drift
        } else {
            DriftState::Stable
        }
    }
}

impl_stream_detector!(PageHinkley, "page_hinkley", InputKind::Numeric);
