//! Stream detectors: one observation at a time, River-style.
//!
//! A stream detector watches either a **numeric stream** (a feature, a score, a latency) or an
//! **error stream** (`1.0`/`true` = the model was wrong, `0.0`/`false` = it was right). Each call to
//! [`StreamDetector::update`] consumes one observation and returns the [`DriftState`] reached *by that
//! observation*:
//!
//! * [`DriftState::Drift`]: a change was detected at this observation. As in River, the detector's
//!   statistics are **reset at the start of the next accepted update**, so the observation after a
//!   drift starts a new concept (`len()` counts from 1 again).
//! * [`DriftState::Warning`]: the detector suspects a change (only DDM, EDDM, HDDM_A, HDDM_W emit it).
//! * [`DriftState::Stable`]: nothing to report.
//!
//! Input contract: non-finite values (NaN, ±inf) are **rejected**, never propagated: the detector is
//! left untouched, [`StreamDetector::rejected`] is incremented, [`StreamDetector::try_update`] returns
//! the [`RejectedInput`] and [`StreamDetector::update`] returns `Stable` (nothing was detected by that
//! call). Binary detectors ([`InputKind::Binary`]) also reject anything other than exactly `0.0` or
//! `1.0`; use [`StreamDetector::update_bool`] to feed them booleans.
//!
//! | detector | input | warning | reference implementation matched by the fixtures |
//! |---|---|---|---|
//! | [`Adwin`] | numeric | no | River 0.26 `drift.ADWIN` |
//! | [`PageHinkley`] | numeric | no | River 0.26 `drift.PageHinkley` |
//! | [`Kswin`] | numeric | no | River 0.26 `drift.KSWIN` (its Python RNG reproduced bit for bit) |
//! | [`Cusum`] | numeric | no | Frouros 0.9 `CUSUM` (River has none), Page (1954) |
//! | [`Ddm`] | binary | yes | River 0.26 `drift.binary.DDM` |
//! | [`Eddm`] | binary | yes | River 0.26 `drift.binary.EDDM` |
//! | [`HddmA`] | binary | yes | River 0.26 `drift.binary.HDDM_A` |
//! | [`HddmW`] | binary | yes | River 0.26 `drift.binary.HDDM_W` with one bug fixed (see its doc) |
//!
//! Settings live in [`DetectorConfig`], a serde enum tagged by `type` whose variants default to the
//! papers'/River's values; [`DetectorConfig::build`] validates them (collecting every problem) and
//! returns an [`AnyDetector`], which is itself serialisable: the daemon checkpoints a detector with
//! `serde_json::to_string(&detector)` and restores it with `from_str`, and the restored detector
//! continues exactly where the original stopped.
//!
//! ```
//! use driftd_detectors::stream::{DetectorConfig, DriftState, StreamDetector};
//! let config: DetectorConfig = serde_json::from_str(r#"{"type": "adwin", "delta": 0.002}"#).unwrap();
//! let mut detector = config.build().unwrap();
//! let mut drifts = Vec::new();
//! for i in 0..2000 {
//!     let x = if i < 1000 { (i % 2) as f64 } else { 4.0 + (i % 4) as f64 };
//!     if detector.update(x) == DriftState::Drift {
//!         drifts.push(i);
//!     }
//! }
//! assert_eq!(drifts.len(), 1);
//! assert!(drifts[0] >= 1000 && drifts[0] < 1100);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, RejectedInput};

pub mod adwin;
pub mod cusum;
pub mod ddm;
pub mod eddm;
pub mod hddm_a;
pub mod hddm_w;
pub mod kswin;
pub mod page_hinkley;
pub(crate) mod pyrandom;

pub use adwin::{Adwin, AdwinConfig};
pub use cusum::{Cusum, CusumConfig};
pub use ddm::{Ddm, DdmConfig};
pub use eddm::{Eddm, EddmConfig};
pub use hddm_a::{HddmA, HddmAConfig};
pub use hddm_w::{HddmW, HddmWConfig};
pub use kswin::{Kswin, KswinConfig};
pub use page_hinkley::{Direction, PageHinkley, PageHinkleyConfig};

/// What a detector concluded after one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// Nothing to report.
    #[default]
    Stable,
    /// A change is suspected (not all detectors emit warnings).
    Warning,
    /// A change was detected at this observation; statistics reset on the next update.
    Drift,
}

/// Which observations a detector accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Any finite number.
    Numeric,
    /// Exactly `0.0` (the model was right) or `1.0` (the model was wrong).
    Binary,
}

impl InputKind {
    /// Checks one observation against the contract.
    #[inline]
    pub fn check(self, x: f64) -> Result<(), RejectedInput> {
        if !x.is_finite() {
            return Err(RejectedInput::NonFinite(x));
        }
        if self == InputKind::Binary && x != 0.0 && x != 1.0 {
            return Err(RejectedInput::NotBinary(x));
        }
        Ok(())
    }
}

/// A drift detector fed one observation at a time (River's `update`/`drift_detected` protocol).
///
/// Implementations are deterministic: the same settings and the same observations always give the
/// same states (KSWIN's sampling uses a seeded generator that is part of its state).
pub trait StreamDetector: std::fmt::Debug + Send {
    /// Short name, as used in the `type` tag of [`DetectorConfig`] (e.g. `"adwin"`).
    fn name(&self) -> &'static str;

    /// Which observations the detector accepts.
    fn input_kind(&self) -> InputKind;

    /// Consumes one observation, or rejects it (state untouched) if it breaks the input contract.
    fn try_update(&mut self, x: f64) -> Result<DriftState, RejectedInput>;

    /// Consumes one observation and returns the state it led to. A rejected observation (see
    /// [`StreamDetector::try_update`]) changes nothing and returns [`DriftState::Stable`].
    fn update(&mut self, x: f64) -> DriftState {
        self.try_update(x).unwrap_or(DriftState::Stable)
    }

    /// Error-stream convenience: `true` = the model was wrong (`1.0`), `false` = right (`0.0`).
    fn update_bool(&mut self, error: bool) -> DriftState {
        self.update(if error { 1.0 } else { 0.0 })
    }

    /// The state returned by the last accepted observation (`Stable` after a reset).
    fn state(&self) -> DriftState;

    /// Forgets everything, as if freshly built (also clears the rejected counter).
    fn reset(&mut self);

    /// Observations accepted since the last reset (explicit, or automatic after a drift).
    fn len(&self) -> u64;

    /// `true` when no observation was accepted since the last reset.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Observations rejected since the detector was built or explicitly reset.
    fn rejected(&self) -> u64;
}

/// Bookkeeping shared by every detector: counts and the last state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Core {
    /// Accepted observations since the last reset.
    pub n: u64,
    /// Rejected observations since creation or explicit reset.
    pub rejected: u64,
    /// State returned by the last accepted observation.
    pub last: DriftState,
}

/// Implements [`StreamDetector`] for a detector struct that has a `core: Core` field and two
/// inherent methods: `observe(&mut self, x: f64) -> DriftState` (one River update on a valid value,
/// after the automatic post-drift reset) and `clear(&mut self)` (algorithm state back to fresh).
macro_rules! impl_stream_detector {
    ($ty:ty, $name:literal, $kind:expr) => {
        impl $crate::stream::StreamDetector for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn input_kind(&self) -> $crate::stream::InputKind {
                $kind
            }
            #[inline]
            fn try_update(
                &mut self,
                x: f64,
            ) -> Result<$crate::stream::DriftState, $crate::error::RejectedInput> {
                if let Err(e) = $kind.check(x) {
                    self.core.rejected += 1;
                    return Err(e);
                }
                if self.core.last == $crate::stream::DriftState::Drift {
                    self.clear();
                    self.core.n = 0;
                }
                self.core.n += 1;
                let state = self.observe(x);
                self.core.last = state;
                Ok(state)
            }
            fn state(&self) -> $crate::stream::DriftState {
                self.core.last
            }
            fn reset(&mut self) {
                self.clear();
                self.core = $crate::stream::Core::default();
            }
            fn len(&self) -> u64 {
                self.core.n
            }
            fn rejected(&self) -> u64 {
                self.core.rejected
            }
        }
    };
}
pub(crate) use impl_stream_detector;

/// River's `stats.Mean` with unit weights: `n += 1; mean += (1 / n) * (x - mean)`.
///
/// The exact operation order matters: detection indices are compared with River's bit for bit, and
/// `(1/n)*(x-mean)` rounds differently from `(x-mean)/n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RiverMean {
    pub n: f64,
    pub mean: f64,
}

impl RiverMean {
    pub(crate) fn update(&mut self, x: f64) {
        self.n += 1.0;
        self.mean += (1.0 / self.n) * (x - self.mean);
    }
}

/// Settings of any stream detector, tagged by `type`:
/// `{"type": "adwin", "delta": 0.002}`. Omitted fields take the documented defaults (River's, which
/// follow the papers). Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DetectorConfig {
    /// [`Adwin`].
    Adwin(AdwinConfig),
    /// [`PageHinkley`].
    PageHinkley(PageHinkleyConfig),
    /// [`Kswin`].
    Kswin(KswinConfig),
    /// [`Cusum`].
    Cusum(CusumConfig),
    /// [`Ddm`].
    Ddm(DdmConfig),
    /// [`Eddm`].
    Eddm(EddmConfig),
    /// [`HddmA`].
    HddmA(HddmAConfig),
    /// [`HddmW`].
    HddmW(HddmWConfig),
}

impl DetectorConfig {
    /// The default settings of every detector, one per variant (handy for conformance tests).
    pub fn all_defaults() -> Vec<DetectorConfig> {
        vec![
            DetectorConfig::Adwin(AdwinConfig::default()),
            DetectorConfig::PageHinkley(PageHinkleyConfig::default()),
            DetectorConfig::Kswin(KswinConfig::default()),
            DetectorConfig::Cusum(CusumConfig::default()),
            DetectorConfig::Ddm(DdmConfig::default()),
            DetectorConfig::Eddm(EddmConfig::default()),
            DetectorConfig::HddmA(HddmAConfig::default()),
            DetectorConfig::HddmW(HddmWConfig::default()),
        ]
    }

    /// Checks every field and reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            DetectorConfig::Adwin(c) => c.validate(),
            DetectorConfig::PageHinkley(c) => c.validate(),
            DetectorConfig::Kswin(c) => c.validate(),
            DetectorConfig::Cusum(c) => c.validate(),
            DetectorConfig::Ddm(c) => c.validate(),
            DetectorConfig::Eddm(c) => c.validate(),
            DetectorConfig::HddmA(c) => c.validate(),
            DetectorConfig::HddmW(c) => c.validate(),
        }
    }

    /// Validates the settings and builds a fresh detector.
    pub fn build(&self) -> Result<AnyDetector, ConfigError> {
        Ok(match self {
            DetectorConfig::Adwin(c) => AnyDetector::Adwin(Adwin::new(c.clone())?),
            DetectorConfig::PageHinkley(c) => {
                AnyDetector::PageHinkley(PageHinkley::new(c.clone())?)
            }
            DetectorConfig::Kswin(c) => AnyDetector::Kswin(Kswin::new(c.clone())?),
            DetectorConfig::Cusum(c) => AnyDetector::Cusum(Cusum::new(c.clone())?),
            DetectorConfig::Ddm(c) => AnyDetector::Ddm(Ddm::new(c.clone())?),
            DetectorConfig::Eddm(c) => AnyDetector::Eddm(Eddm::new(c.clone())?),
            DetectorConfig::HddmA(c) => AnyDetector::HddmA(HddmA::new(c.clone())?),
            DetectorConfig::HddmW(c) => AnyDetector::HddmW(HddmW::new(c.clone())?),
        })
    }

    /// Like [`DetectorConfig::build`], boxed behind the trait.
    pub fn build_boxed(&self) -> Result<Box<dyn StreamDetector>, ConfigError> {
        Ok(Box::new(self.build()?))
    }

    /// The input the configured detector accepts.
    pub fn input_kind(&self) -> InputKind {
        match self {
            DetectorConfig::Adwin(_)
            | DetectorConfig::PageHinkley(_)
            | DetectorConfig::Kswin(_)
            | DetectorConfig::Cusum(_) => InputKind::Numeric,
            _ => InputKind::Binary,
        }
    }
}

/// Any stream detector, with its full state: serialise it to checkpoint, deserialise to resume.
/// Tagged by `type` like [`DetectorConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnyDetector {
    /// [`Adwin`].
    Adwin(Adwin),
    /// [`PageHinkley`].
    PageHinkley(PageHinkley),
    /// [`Kswin`].
    Kswin(Kswin),
    /// [`Cusum`].
    Cusum(Cusum),
    /// [`Ddm`].
    Ddm(Ddm),
    /// [`Eddm`].
    Eddm(Eddm),
    /// [`HddmA`].
    HddmA(HddmA),
    /// [`HddmW`].
    HddmW(HddmW),
}

macro_rules! delegate {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            AnyDetector::Adwin($d) => $e,
            AnyDetector::PageHinkley($d) => $e,
            AnyDetector::Kswin($d) => $e,
            AnyDetector::Cusum($d) => $e,
            AnyDetector::Ddm($d) => $e,
            AnyDetector::Eddm($d) => $e,
            AnyDetector::HddmA($d) => $e,
            AnyDetector::HddmW($d) => $e,
        }
    };
}

impl StreamDetector for AnyDetector {
    #[inline]
    fn update(&mut self, x: f64) -> DriftState {
        delegate!(self, d => d.update(x))
    }
    fn name(&self) -> &'static str {
        delegate!(self, d => d.name())
    }
    fn input_kind(&self) -> InputKind {
        delegate!(self, d => d.input_kind())
    }
    fn try_update(&mut self, x: f64) -> Result<DriftState, RejectedInput> {
        delegate!(self, d => d.try_update(x))
    }
    fn state(&self) -> DriftState {
        delegate!(self, d => d.state())
    }
    fn reset(&mut self) {
        delegate!(self, d => d.reset())
    }
    fn len(&self) -> u64 {
        delegate!(self, d => d.len())
    }
    fn rejected(&self) -> u64 {
        delegate!(self, d => d.rejected())
    }
}

/// Serde helpers for `f64` fields that may hold ±infinity as a sentinel (JSON has no infinity).
pub(crate) mod serde_f64_ext {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
    }

    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            Repr::Num(*x).serialize(s)
        } else if x.is_nan() {
            Repr::Text("nan".into()).serialize(s)
        } else if *x > 0.0 {
            Repr::Text("inf".into()).serialize(s)
        } else {
            Repr::Text("-inf".into()).serialize(s)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(x) => Ok(x),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, got {other:?}"
                ))),
            },
        }
    }
}
