//! Alerting: rules on the monitor's quantities, an Alertmanager-like lifecycle inside the daemon,
//! grouped notifications, and sinks (email, webhook, log) behind a durable outbox.
//!
//! The flow, each tick (wall clock in `driftd run`, event time in `driftd replay`):
//!
//! ```text
//! monitors ──▶ Vec<Sample> ──▶ engine::Engine::tick(now, samples)
//!                                 rules: op/threshold, for, resolve threshold (hysteresis)
//!                                 lifecycle: inactive → pending → firing → resolved
//!                                 silences, inhibition, routes, grouping (wait/interval/repeat)
//!                              ──▶ Vec<Notification> ──▶ sinks::Outbox (in the state store, written
//!                                  with the engine state in one atomic put) ──▶ email / webhook / log
//! ```
//!
//! This module holds the types the engine and the sinks share.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod engine;
pub mod sinks;

/// Labels of a sample or an alert (`model`, `feature`, `test`, `metric`, `detector`, …), ordered.
pub type Labels = BTreeMap<String, String>;

/// One current value of a monitored quantity.
///
/// `metric` names are the Prometheus names without the `driftd_` prefix, plus derived
/// quantities (see [`QUANTITIES`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Quantity name, one of [`QUANTITIES`].
    pub metric: String,
    /// Bounded labels (never ids).
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Context for humans, shown in notifications: e.g. `test`, `p_value`, `threshold`,
    /// `window`, `reference`, `current` (a short summary of each side).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, String>,
}

/// The quantities rules may watch: `(name, labels it carries, meaning)`.
pub const QUANTITIES: &[(&str, &[&str], &str)] = &[
    (
        "drift_statistic",
        &["model", "feature", "test"],
        "a feature's drift statistic in the last window",
    ),
    (
        "drift_p_value",
        &["model", "feature", "test"],
        "a feature's corrected p-value in the last window",
    ),
    (
        "feature_drift",
        &["model", "feature"],
        "1 while a feature is in the drift state",
    ),
    (
        "dataset_drift_share",
        &["model"],
        "share of drifted features in the last window",
    ),
    (
        "dataset_drift",
        &["model"],
        "1 while the dataset-drift rule holds",
    ),
    (
        "prediction_drift_statistic",
        &["model", "test"],
        "the prediction distribution's drift statistic",
    ),
    (
        "prediction_drift",
        &["model"],
        "1 while the predictions drift",
    ),
    (
        "concept_drift_state",
        &["model", "detector"],
        "error-stream detector: 0 stable, 1 warning, 2 drift",
    ),
    (
        "model_performance",
        &["model", "metric"],
        "an accuracy metric of the last labelled window",
    ),
    (
        "model_performance_drop",
        &["model", "metric"],
        "reference minus current (errors: current minus reference)",
    ),
    (
        "accuracy_drop_p_value",
        &["model"],
        "p-value of the last accuracy-drop test",
    ),
    (
        "label_coverage_ratio",
        &["model"],
        "labelled share of the model's predictions",
    ),
    (
        "seconds_since_last_event",
        &["model"],
        "seconds since the model's last event (staleness)",
    ),
    (
        "event_rate",
        &["model"],
        "events per second over the last minute",
    ),
    (
        "reject_ratio",
        &[],
        "rejected share of events over the last minute",
    ),
];

/// Severity of a rule; routes match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warning,
    /// Needs attention now.
    Critical,
}

/// Whether a notified alert is firing or has resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
}

/// One alert as it appears in a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSnapshot {
    /// The rule's name.
    pub rule: String,
    /// Firing or resolved at the time of the notification.
    pub status: Status,
    /// Rule labels merged with the sample's labels (plus `alertname` and `severity`).
    pub labels: Labels,
    /// Rendered `summary`, `description`, `runbook_url` (and any other annotation).
    pub annotations: BTreeMap<String, String>,
    /// The value that made it fire (or the last one seen).
    pub value: f64,
    /// The rule's threshold and operator, for humans, e.g. `> 0.2`.
    pub condition: String,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// Stable id of the alert (rule + labels), hex.
    pub fingerprint: String,
    /// The sample's detail (statistic, p-value, window, reference vs current).
    pub detail: BTreeMap<String, String>,
}

/// A notification for one group of alerts, to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique and deterministic (group key and a sequence number): the idempotency key and the
    /// email `Message-ID` local part.
    pub id: String,
    /// The receiver (a name in the config's receivers).
    pub receiver: String,
    /// The group's key (its `group_by` label values), e.g. `{model="churn"}`.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: Labels,
    /// Firing if any alert of the group fires, else resolved.
    pub status: Status,
    /// The group's alerts: firing ones first, then resolved ones, each in fingerprint order.
    pub alerts: Vec<AlertSnapshot>,
    /// When the engine made it.
    pub created: DateTime<Utc>,
    /// What driftd did about it (e.g. "retraining triggered" / "retraining not configured").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}
