//! The retraining stage: closing the loop from "drift detected" to "a better model is live".
//!
//! - [`learn`] — the per-event half inside the intake pipeline: training buffers, label joins,
//!   shadow scoring.
//! - [`trainer`] — the control half: triggers and schedule, lease, fit, gates, promotion, watch,
//!   rollback; [`state`]: a model's place in the loop; [`announce`]: promotion notices;
//!   [`config`]: `[models.NAME.retrain]`.
//!
//! May depend on: contract, telemetry, store, kafka, registry, monitor.

pub mod announce;
pub mod config;
pub mod learn;
pub mod state;
pub mod trainer;
