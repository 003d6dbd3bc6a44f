//! What a monitor reports: an [`Onset`], a quantity entering the drift state. Part of the contract
//! layer: the monitor produces onsets; the pipeline logs and counts them, the admin API lists them,
//! `driftd replay` writes them as report lines and the backtest scores them.

use serde::{Deserialize, Serialize};

/// What kind of quantity entered the drift state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnsetKind {
    /// One feature's distribution (`feature` names it).
    Data,
    /// The share of drifted features crossed the dataset-drift threshold.
    Dataset,
    /// The distribution of predictions (labels, scores or values).
    Prediction,
    /// A stream detector on the error stream (labelled predictions).
    Concept,
    /// An accuracy metric dropped significantly against the reference period.
    Accuracy,
    /// The distribution of the joined labels (classes, or regression targets) moved away from
    /// the reference period's: prior or label drift.
    Label,
}

impl OnsetKind {
    /// Every kind, in order.
    pub const ALL: [OnsetKind; 6] = [
        OnsetKind::Data,
        OnsetKind::Dataset,
        OnsetKind::Prediction,
        OnsetKind::Concept,
        OnsetKind::Accuracy,
        OnsetKind::Label,
    ];

    /// The name in reports and the `kind` label of `driftd_drift_onsets_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnsetKind::Data => "data",
            OnsetKind::Dataset => "dataset",
            OnsetKind::Prediction => "prediction",
            OnsetKind::Concept => "concept",
            OnsetKind::Accuracy => "accuracy",
            OnsetKind::Label => "label",
        }
    }
}

/// One drift onset: a quantity entered the drift state (edge-triggered). One JSON line of a replay
/// report. Field order is part of the format (reports are compared byte for byte).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Onset {
    /// Event time of the event that completed the evaluation (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// The model.
    pub model: String,
    /// What drifted.
    pub kind: OnsetKind,
    /// The feature, for `data` onsets (and the metric name for `accuracy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// The test or detector that decided (e.g. `ks`, `wasserstein_normed`, `ddm`).
    pub test: String,
    /// Its statistic.
    pub statistic: f64,
    /// Its p-value, where the test has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The threshold the decision used.
    pub threshold: f64,
    /// How many prediction events of this model had been processed when the onset fired.
    pub event_index: u64,
}
