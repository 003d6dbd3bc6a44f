//! KSWIN — Kolmogorov–Smirnov windowing (Raab, Heusinger & Schleif 2020).
//!
//! **Method.** KSWIN keeps a sliding window `Ψ` of the last `window_size` values. Its newest
//! `stat_size` values form `R` (the current concept); `stat_size` values drawn uniformly without
//! replacement from the older `window_size - stat_size` form `W` (the previous concept). Once the
//! window is full, every update runs a two-sample KS test on `W` and `R` and signals a **drift** when
//! `p ≤ alpha` and the KS statistic exceeds 0.1 (River's condition; the paper's threshold is
//! `sqrt(-ln(alpha) / stat_size)`).
//!
//! The draw uses CPython's Mersenne Twister and `random.sample` reproduced bit for bit (module
//! `pyrandom`) and the KS p-value is SciPy's exact one, so for the same `seed` our detection indices
//! are River's. The generator state is part of the serialised detector.
//!
//! **Input.** Any finite number.
//!
//! **Parameters** (River's defaults):
//! * `alpha = 0.005` — significance of the KS test (the paper recommends small values);
//! * `window_size = 100`, `stat_size = 30`;
//! * `seed = 42` — River's default is an unseeded generator (`None`); a detector that must be
//!   deterministic and checkpointable needs a seed, and 42 is River's documented example.
//!
//! **Example** on a seeded stream, 0/1 noise then values in [4, 8) from index 1000 (stream
//! `discrete_jump` of `tests/fixtures/streams.json`; River 0.26 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{Kswin, KswinConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12345,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Discrete { k: 2 } },
//!         Segment { len: 1000, dist: Dist::Uniform { low: 4.0, high: 8.0 } },
//!     ],
//! }
//! .generate();
//! let mut kswin = Kswin::new(KswinConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if kswin.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![1013, 1116, 1381]);
//! ```
//!
//! **Reference.** C. Raab, M. Heusinger, F.-M. Schleif, "Reactive soft prototype computing for
//! concept drift streams", Neurocomputing 416 (2020) 340–351.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::pyrandom::PyRandom;
use super::{Core, DriftState, InputKind, impl_stream_detector};
use crate::error::{ConfigError, Validator};
use crate::twosample::{Sample, numeric::ks};

/// Settings of [`Kswin`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KswinConfig {
    /// Significance level of the KS test, in (0, 1). Default 0.005.
    pub alpha: f64,
    /// Size of the sliding window. Default 100.
    pub window_size: u32,
    /// Size of the two compared samples (< `window_size / 2` is sensible). Default 30.
    pub stat_size: u32,
    /// Seed of the sampling generator. Default 42.
    pub seed: u64,
}

impl Default for KswinConfig {
    fn default() -> Self {
        Self {
            alpha: 0.005,
            window_size: 100,
            stat_size: 30,
            seed: 42,
        }
    }
}

impl KswinConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("kswin");
        v.open_interval("alpha", self.alpha, 0.0, 1.0);
        v.check(self.stat_size >= 1, "stat_size", || {
            format!("must be >= 1, got {}", self.stat_size)
        });
        v.check(self.window_size >= 2 * self.stat_size.max(1), "window_size", || {
            format!(
                "must be at least 2 * stat_size = {} (older part must hold stat_size values), got {}",
                2 * self.stat_size,
                self.window_size
            )
        });
        v.finish()
    }
}

/// KSWIN detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Kswin {
    config: KswinConfig,
    core: Core,
    window: VecDeque<f64>,
    rng: PyRandom,
    /// p-value of the last test (1 before the window is full).
    p_value: f64,
}

impl Kswin {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: KswinConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let rng = PyRandom::new(config.seed);
        Ok(Self {
            window: VecDeque::with_capacity(config.window_size as usize),
            rng,
            config,
            core: Core::default(),
            p_value: 1.0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &KswinConfig {
        &self.config
    }

    /// p-value of the last KS test (1 while the window is filling).
    pub fn p_value(&self) -> f64 {
        self.p_value
    }

    fn clear(&mut self) {
        self.window.clear();
        self.rng = PyRandom::new(self.config.seed);
        self.p_value = 1.0;
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        let (w, r) = (
            self.config.window_size as usize,
            self.config.stat_size as usize,
        );
        if self.window.len() == w {
            self.window.pop_front();
        }
        self.window.push_back(x);
        if self.window.len() < w {
            return DriftState::Stable;
        }
        let picks = self.rng.sample_range((w - r) as u32, r as u32);
        let older: Vec<f64> = picks.iter().map(|&i| self.window[i as usize]).collect();
        let recent: Vec<f64> = self.window.iter().skip(w - r).copied().collect();
        let res = ks(&Sample::new(&older), &Sample::new(&recent));
        self.p_value = res.p_value;
        if res.p_value <= self.config.alpha && res.statistic > 0.1 {
            DriftState::Drift
        } else {
            DriftState::Stable
        }
    }
}

impl_stream_detector!(Kswin, "kswin", InputKind::Numeric);

impl Serialize for Kswin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Kswin::serialize(self, s)
    }
}

/// Deserialisation checks the invariants the code relies on, so a corrupted checkpoint is an error,
/// not a panic later.
impl<'de> Deserialize<'de> for Kswin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Kswin::deserialize(d)?;
        let check = |v: &Kswin| -> Result<(), String> {
            v.config.validate().map_err(|e| e.to_string())?;
            if v.window.len() > v.config.window_size as usize {
                return Err("kswin: window longer than window_size".into());
            }
            Ok(())
        };
        check(&v).map_err(serde::de::Error::custom)?;
        Ok(v)
    }
}
