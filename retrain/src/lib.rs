//! # driftd-retrain
//!
//! Retraining with Linfa, shadow comparison of a candidate against the live model on the same
//! labelled traffic, and the promotion decision. Synchronous and pure: the daemon runs it off the
//! async runtime and feeds it data; it never touches the network, a disk or the clock.
//!
//! This crate is a placeholder until the retraining issue lands; it holds the shared vocabulary the
//! daemon already needs.

use serde::{Deserialize, Serialize};

/// The kind of learning task a monitored model performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predicts a class label, optionally with a score or class probabilities.
    #[default]
    Classification,
    /// Predicts a real value.
    Regression,
}
