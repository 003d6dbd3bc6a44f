//! `[monitor]` and `[models.NAME.monitor]`: the monitoring settings, their defaults and checks.

use driftd_detectors::auto::AutoPolicy;
use driftd_detectors::dataset::DatasetPolicy;
use driftd_detectors::sequential::SequentialSettings;
use driftd_detectors::stream::DetectorConfig;
use driftd_detectors::summary::SummarySettings;
use serde::{Deserialize, Serialize};

/// Monitoring settings (`[monitor]` in the configuration), shared by all models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    /// Monitor models at all (`driftd run`; `driftd replay` always does).
    pub enabled: bool,
    /// How features and the prediction are tested: `streaming` (the default) tests a sliding
    /// window every few predictions with the false-alarm rate bounded across features and looks
    /// (`[monitor.streaming]`); `windows` tests tumbling or sliding windows of `window_events`
    /// predictions (or `window_seconds`) when each closes, for reports by window.
    pub detection: Detection,
    /// Streaming detection's settings (`detection = "streaming"`).
    pub streaming: SequentialSettings,
    /// Predictions that form the reference window.
    pub reference_events: usize,
    /// Predictions per tumbling current window (when `window_seconds` is not set).
    pub window_events: usize,
    /// Tumbling windows by event time instead of by count: a window closes at the first prediction
    /// at least this many seconds (event time) after the window's first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
    /// Sliding windows: the window (`window_events` or `window_seconds`) is cut into this many
    /// panes of mergeable summaries, and evaluated at the end of every pane over the last
    /// `window_slides` panes. 1 (the default) = tumbling windows.
    pub window_slides: usize,
    /// The reference spans this many seconds of event time from the model's first prediction (still
    /// capped at `reference_events` predictions, which bounds its memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_seconds: Option<u64>,
    /// Summary settings (bins, sketch size, category cap).
    pub summary: SummarySettings,
    /// Test choice per feature.
    pub policy: AutoPolicy,
    /// Correction across features and the dataset-drift rule.
    pub dataset: DatasetPolicy,
    /// Detector on the error stream (`true` = the model was wrong).
    pub concept_detector: DetectorConfig,
    /// Optional detector on the score stream (the positive-class score of every prediction, no
    /// label needed): a change in the scores' level shows up before labels arrive. Its onsets are
    /// of kind `prediction` with the detector's name plus `_score` as the test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_detector: Option<DetectorConfig>,
    /// Most predictions waiting for their label; the oldest are evicted first.
    pub join_max_entries: usize,
    /// Predictions older than this (event time, seconds) are evicted unlabelled.
    pub join_ttl_seconds: u64,
    /// Ids of labelled predictions remembered to count duplicate feedback once (the most recent
    /// ones; feedback repeated after that is counted as new, unmatched feedback).
    pub join_dedupe_entries: usize,
    /// The review queue: predictions most worth a human label (`[monitor.review]`).
    pub review: super::review::ReviewSettings,
    /// Joined labels that form the reference period's performance.
    pub accuracy_reference_labels: u64,
    /// Joined labels per tumbling performance window.
    pub accuracy_window_labels: u64,
    /// Significance level of the accuracy-drop tests.
    pub accuracy_alpha: f64,
    /// Smallest accuracy drop that counts (absolute, e.g. 0.03 = three points).
    pub accuracy_min_drop: f64,
    /// Smallest relative increase of the mean absolute error that counts (regression).
    pub mae_min_increase: f64,
    /// Threads that monitor the models of a batch of events in parallel (`driftd run`; one
    /// model's events always go to one thread, in order): 0 = one per core, 1 = on the pipeline's
    /// thread. Global only (not in `[models.NAME.monitor]`).
    #[serde(skip_serializing_if = "is_zero")]
    pub threads: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How a monitor tests features and the prediction (`[monitor] detection`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detection {
    /// A sliding window tested every `look_every` predictions (see
    /// [`driftd_detectors::sequential`]).
    #[default]
    Streaming,
    /// Windows of `window_events` predictions (or `window_seconds`), tested when each closes.
    Windows,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            enabled: true,
            detection: Detection::Streaming,
            streaming: SequentialSettings::default(),
            reference_events: 10_000,
            window_events: 10_000,
            window_seconds: None,
            window_slides: 1,
            reference_seconds: None,
            summary: SummarySettings::default(),
            policy: AutoPolicy::default(),
            dataset: DatasetPolicy::default(),
            concept_detector: DetectorConfig::Adwin(Default::default()),
            score_detector: None,
            join_max_entries: 1_000_000,
            join_ttl_seconds: 7 * 24 * 3600,
            join_dedupe_entries: 100_000,
            review: Default::default(),
            accuracy_reference_labels: 2_000,
            accuracy_window_labels: 2_000,
            // Performance is tested window after window for as long as the daemon runs: a strict
            // level and a minimum size keep chance dips from alarming (on the shared benchmark
            // streams, α = 0.01 gave one false alarm in ~50 windows; real drops had z ≥ 3.2).
            accuracy_alpha: 0.001,
            accuracy_min_drop: 0.03,
            mae_min_increase: 0.1,
            threads: 0,
        }
    }
}

impl MonitorSettings {
    /// Every problem, as `(key, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = self.review.problems("review");
        if self.reference_events < 10 {
            e.push(("reference_events".into(), "must be at least 10".into()));
        }
        if self.window_events < 10 {
            e.push(("window_events".into(), "must be at least 10".into()));
        }
        if self.window_slides == 0 {
            e.push(("window_slides".into(), "must be at least 1".into()));
        } else if self.window_seconds.is_none() && self.window_events / self.window_slides < 10 {
            e.push((
                "window_slides".into(),
                "each pane (window_events / window_slides) needs at least 10 predictions".into(),
            ));
        } else if self
            .window_seconds
            .is_some_and(|w| w < self.window_slides as u64)
        {
            e.push((
                "window_slides".into(),
                "each pane (window_seconds / window_slides) needs at least one second".into(),
            ));
        }
        if self.window_seconds == Some(0) {
            e.push(("window_seconds".into(), "must be positive".into()));
        }
        if self.reference_seconds == Some(0) {
            e.push(("reference_seconds".into(), "must be positive".into()));
        }
        if self.accuracy_reference_labels < driftd_detectors::performance::MIN_LABELS
            || self.accuracy_window_labels < driftd_detectors::performance::MIN_LABELS
        {
            e.push((
                "accuracy_window_labels".into(),
                format!(
                    "accuracy windows need at least {} labels",
                    driftd_detectors::performance::MIN_LABELS
                ),
            ));
        }
        if !(self.accuracy_alpha > 0.0 && self.accuracy_alpha < 1.0) {
            e.push(("accuracy_alpha".into(), "must be in (0, 1)".into()));
        }
        if self.join_max_entries == 0 {
            e.push(("join_max_entries".into(), "must be at least 1".into()));
        }
        for (key, r) in [
            ("streaming", self.streaming.validate()),
            ("summary", self.summary.validate()),
            ("policy", self.policy.validate()),
            ("dataset", self.dataset.validate()),
        ] {
            if let Err(err) = r {
                e.push((key.into(), err.to_string()));
            }
        }
        if let Err(err) = self.concept_detector.build() {
            e.push(("concept_detector".into(), err.to_string()));
        }
        if let Some(Err(err)) = self.score_detector.as_ref().map(DetectorConfig::build) {
            e.push(("score_detector".into(), err.to_string()));
        }
        e
    }
}
