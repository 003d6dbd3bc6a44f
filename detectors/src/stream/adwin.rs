//! ADWIN — ADaptive WINdowing (Bifet & Gavaldà 2007).
//!
//! **Method.** ADWIN keeps a window of recent values, compressed into exponential histograms: row `i`
//! holds up to `max_buckets` buckets that each summarise `2^i` consecutive values (their sum and their
//! variance). Every `clock` observations it checks every cut of the window into an older part `W0`
//! and a newer part `W1` (bucket boundaries only) and signals a drift when
//!
//! `|mean(W0) - mean(W1)| > sqrt(2 m σ² δ') + 2/3 δ' m`, with `m = 1/(n0 - L + 1) + 1/(n1 - L + 1)`,
//! `δ' = ln(2 ln(n) / δ)`, `σ²` the window variance and `L = min_window_length`,
//!
//! dropping the oldest bucket after each detection and re-checking until no cut is significant.
//! This is ADWIN2 as implemented by MOA and River (the arithmetic mirrors River's port operation by
//! operation so that detection indices agree exactly).
//!
//! **Input.** Any finite number (a feature, or an error stream of 0/1).
//!
//! **Parameters** (River's defaults):
//! * `delta = 0.002` — confidence: smaller means fewer false alarms and later detections;
//! * `clock = 32` — check for a change every 32 observations (the cost of a check grows with
//!   `log(window)`, so checking every time would be wasteful);
//! * `max_buckets = 5` — buckets per row before two are merged (memory/precision trade-off, `M` in
//!   the paper);
//! * `min_window_length = 5` — both sub-windows must hold at least this many values;
//! * `grace_period = 10` — no check before the window holds more than this many values.
//!
//! **After a drift** the whole window is discarded on the next update (River's behaviour; the paper
//! keeps the shrunken window — River resets the detector after every detection).
//!
//! **Example** on a seeded stream, 0/1 noise then values in [4, 8) from index 1000 (stream
//! `discrete_jump` of `tests/fixtures/streams.json`; River 0.26 reports the same indices):
//!
//! ```
//! use driftd_detectors::stream::{Adwin, AdwinConfig, DriftState, StreamDetector};
//! use driftd_detectors::synth::{Dist, Segment, StreamRecipe};
//! let stream = StreamRecipe {
//!     seed: 12345,
//!     segments: vec![
//!         Segment { len: 1000, dist: Dist::Discrete { k: 2 } },
//!         Segment { len: 1000, dist: Dist::Uniform { low: 4.0, high: 8.0 } },
//!     ],
//! }
//! .generate();
//! let mut adwin = Adwin::new(AdwinConfig::default()).unwrap();
//! let mut drifts = Vec::new();
//! for (i, x) in stream.iter().enumerate() {
//!     if adwin.update(*x) == DriftState::Drift {
//!         println!("drift detected at index {i}");
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts, vec![1023]);
//! ```
//!
//! **Reference.** A. Bifet, R. Gavaldà, "Learning from time-changing data with adaptive windowing",
//! SIAM SDM 2007, pp. 443–448.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Core, DriftState, InputKind, impl_stream_detector};
use crate::error::{ConfigError, Validator};

/// Settings of [`Adwin`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdwinConfig {
    /// Confidence value δ in (0, 1). Default 0.002.
    pub delta: f64,
    /// Check for a change every `clock` observations (≥ 1). Default 32.
    pub clock: u32,
    /// Buckets per row before merging (≥ 2). Default 5.
    pub max_buckets: u32,
    /// Minimum length of each sub-window (≥ 1). Default 5.
    pub min_window_length: u32,
    /// No check until the window holds more than this many values. Default 10.
    pub grace_period: u32,
}

impl Default for AdwinConfig {
    fn default() -> Self {
        Self {
            delta: 0.002,
            clock: 32,
            max_buckets: 5,
            min_window_length: 5,
            grace_period: 10,
        }
    }
}

impl AdwinConfig {
    /// Checks every field, reporting all problems.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut v = Validator::new("adwin");
        v.open_interval("delta", self.delta, 0.0, 1.0);
        v.check(self.clock >= 1, "clock", || {
            format!("must be >= 1, got {}", self.clock)
        });
        v.check(self.max_buckets >= 2, "max_buckets", || {
            format!("must be >= 2, got {}", self.max_buckets)
        });
        v.check(self.min_window_length >= 1, "min_window_length", || {
            format!("must be >= 1, got {}", self.min_window_length)
        });
        v.finish()
    }
}

/// One row of the exponential histogram: buckets of `2^row` values each, oldest first, as
/// `(sum, n·variance)` pairs in a ring buffer (the two oldest leave, a new one arrives).
type Row = VecDeque<(f64, f64)>;

/// ADWIN detector (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct Adwin {
    config: AdwinConfig,
    core: Core,
    /// Rows of buckets; row `i` buckets summarise `2^i` values. Row 0 always exists.
    rows: Vec<Row>,
    /// Sum of the values in the window.
    total: f64,
    /// Sum of squared deviations from the mean (n·variance) of the window.
    variance: f64,
    /// Number of values in the window.
    width: f64,
    /// Observations since the last reset, for the clock.
    tick: u64,
}

impl Adwin {
    /// Validates `config` and builds a fresh detector.
    pub fn new(config: AdwinConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let rows = vec![Row::with_capacity(config.max_buckets as usize + 1)];
        Ok(Self {
            config,
            core: Core::default(),
            rows,
            total: 0.0,
            variance: 0.0,
            width: 0.0,
            tick: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AdwinConfig {
        &self.config
    }

    /// Number of values currently in the adaptive window.
    pub fn width(&self) -> u64 {
        self.width as u64
    }

    /// Mean of the window (0 when empty).
    pub fn estimation(&self) -> f64 {
        if self.width == 0.0 {
            0.0
        } else {
            self.total / self.width
        }
    }

    fn clear(&mut self) {
        self.rows = vec![Row::with_capacity(self.config.max_buckets as usize + 1)];
        self.total = 0.0;
        self.variance = 0.0;
        self.width = 0.0;
        self.tick = 0;
    }

    #[inline]
    fn observe(&mut self, x: f64) -> DriftState {
        self.insert(x);
        if self.detect() {
            DriftState::Drift
        } else {
            DriftState::Stable
        }
    }

    fn insert(&mut self, x: f64) {
        self.rows[0].push_back((x, 0.0));
        // Incremental update of n·variance, in River's operation order.
        self.width += 1.0;
        let mut inc = 0.0;
        if self.width > 1.0 {
            let d = x - self.total / (self.width - 1.0);
            inc = (self.width - 1.0) * d * d / self.width;
        }
        self.variance += inc;
        self.total += x;
        self.compress();
    }

    /// Merges the two oldest buckets of a row that overflowed into one bucket of the next row.
    fn compress(&mut self) {
        let max = self.config.max_buckets as usize;
        let mut i = 0;
        while self.rows[i].len() == max + 1 {
            let size = (1u64 << i) as f64;
            // Division by a power of two is exact, so multiplying by its reciprocal is too.
            let inv = 1.0 / size;
            let (t0, v0) = self.rows[i].pop_front().unwrap_or_default();
            let (t1, v1) = self.rows[i].pop_front().unwrap_or_default();
            let (m0, m1) = (t0 * inv, t1 * inv);
            let merged_var = v0 + v1 + size * 0.5 * (m0 - m1) * (m0 - m1);
            if i + 1 == self.rows.len() {
                self.rows.push(Row::with_capacity(max + 1));
            }
            self.rows[i + 1].push_back((t0 + t1, merged_var));
            if self.rows[i + 1].len() <= max {
                break;
            }
            i += 1;
        }
    }

    /// Drops the oldest bucket (last row, first bucket).
    fn drop_oldest(&mut self) {
        let last = self.rows.len() - 1;
        let size = (1u64 << last) as f64;
        let (u, v) = self.rows[last].pop_front().unwrap_or_default();
        let mu = u / size;
        self.width -= size;
        self.total -= u;
        let mu_window = self.total / self.width;
        self.variance -=
            v + size * self.width * (mu - mu_window) * (mu - mu_window) / (size + self.width);
        if self.rows[last].is_empty() && last > 0 {
            self.rows.pop();
        }
    }

    fn detect(&mut self) -> bool {
        self.tick += 1;
        let mut detected = false;
        if !self.tick.is_multiple_of(u64::from(self.config.clock))
            || self.width <= f64::from(self.config.grace_period)
        {
            return false;
        }
        let min_len = f64::from(self.config.min_window_length);
        'restart: loop {
            // Per-pass constants of the bound (the window only changes when a bucket is dropped);
            // the operation order is River's, so the values are bit-identical.
            let delta_prime = (2.0 * self.width.ln() / self.config.delta).ln();
            let two_thirds_dp = 2.0 / 3.0 * delta_prime;
            let var_per_width = self.variance / self.width;
            let (mut n0, mut n1) = (0.0, self.width);
            let (mut u0, mut u1) = (0.0, self.total);
            // Scan cuts from the oldest bucket to the newest.
            for row in (0..self.rows.len()).rev() {
                let size = (1u64 << row) as f64;
                let count = self.rows[row].len();
                for k in 0..count {
                    n0 += size;
                    n1 -= size;
                    let t = self.rows[row][k].0;
                    u0 += t;
                    u1 -= t;
                    if row == 0 && k == count - 1 {
                        break 'restart;
                    }
                    if n1 >= min_len && n0 >= min_len {
                        let diff = u0 / n0 - u1 / n1;
                        let m = 1.0 / (n0 - min_len + 1.0) + 1.0 / (n1 - min_len + 1.0);
                        let eps =
                            (2.0 * m * var_per_width * delta_prime).sqrt() + two_thirds_dp * m;
                        if diff.abs() > eps {
                            detected = true;
                            if self.width > 0.0 {
                                self.drop_oldest();
                                continue 'restart;
                            }
                        }
                    }
                }
            }
            break;
        }
        detected
    }
}

impl_stream_detector!(Adwin, "adwin", InputKind::Numeric);

impl Serialize for Adwin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Adwin::serialize(self, s)
    }
}

/// Deserialisation checks the invariants the code relies on, so a corrupted checkpoint is an error,
/// not a panic later.
impl<'de> Deserialize<'de> for Adwin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Adwin::deserialize(d)?;
        let check = |v: &Adwin| -> Result<(), String> {
            v.config.validate().map_err(|e| e.to_string())?;
            let max = v.config.max_buckets as usize + 1;
            if v.rows.is_empty() || v.rows.iter().any(|r| r.len() > max) {
                return Err("adwin: invalid bucket rows".into());
            }
            Ok(())
        };
        check(&v).map_err(serde::de::Error::custom)?;
        Ok(v)
    }
}
