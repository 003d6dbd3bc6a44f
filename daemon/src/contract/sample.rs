//! What the monitors publish for alert rules and the trainer's triggers: samples of named
//! quantities with bounded labels, the board they are posted on, and the firing alerts the alert
//! task hands back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    (
        "label_drift",
        &["model"],
        "1 while the joined labels' distribution has moved from the reference period's (prior drift)",
    ),
    (
        "model_loop_event",
        &["model", "event"],
        "1 for ten minutes after a step of the retraining loop (promoted, rolled_back, rejected, inconclusive, fit_failed)",
    ),
];

/// A firing alert, as the alert task last evaluated it (what the trainer's triggers read).
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The rule's name.
    pub rule: String,
    /// Its `model` label.
    pub model: String,
    /// When it started firing.
    pub since: chrono::DateTime<chrono::Utc>,
}

/// The monitors' latest quantities, per model, for the alert task: written where the Prometheus
/// gauges are published (window ends, onsets, every 1,000 predictions), read every evaluation
/// interval — never on the per-event path.
#[derive(Debug, Default)]
pub struct SampleBoard {
    models: std::sync::Mutex<std::collections::BTreeMap<String, Vec<Sample>>>,
}

impl SampleBoard {
    /// Replaces one model's samples.
    pub fn set(&self, model: &str, samples: Vec<Sample>) {
        let mut m = self
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.insert(model.to_owned(), samples);
    }

    /// Replaces every model's samples at once (monitors rolled back to a checkpoint): a reader
    /// never sees some models missing, which would resolve their alerts.
    pub fn replace(&self, all: std::collections::BTreeMap<String, Vec<Sample>>) {
        let mut m = self
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m = all;
    }

    /// Every model's samples, in model order.
    pub fn snapshot(&self) -> Vec<Sample> {
        let m = self
            .models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.values().flatten().cloned().collect()
    }
}
