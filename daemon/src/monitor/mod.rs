//! Per-model monitoring: reference and current windows of bounded-memory summaries, drift
//! evaluation at the end of each window, late-label joins and concept drift on the error stream.
//!
//! A [`ModelMonitor`] is a plain synchronous state machine fed one event at a time, with time as a
//! value (the event's own timestamp): the daemon and `driftd replay` drive the same code, so a
//! backtest reproduces what the daemon would have decided, byte for byte.
//!
//! Life of a model:
//! 1. **Reference**: the first `reference_events` predictions are buffered (bounded) and turned into
//!    reference profiles — one summary per feature (numbers → numeric, strings → categorical), one for
//!    the predictions (score, value or label).
//! 2. **Windows**: then every `window_events` predictions form a tumbling window of summaries
//!    comparable with the profiles. At the end of a window each feature is tested with the
//!    automatic choice (Evidently's rule plus an effect-size floor, see
//!    [`driftd_detectors::auto`]), p-values are corrected across features (Benjamini–Hochberg by
//!    default) and the dataset rule applied; predictions are tested the same way.
//! 3. **Labels**: predictions wait in a bounded join store until their feedback arrives (feedback
//!    may come first, twice, or never); each joined pair feeds the error stream's detector (ADWIN by
//!    default), which reports concept drift.
//!
//! Outputs are **onsets** ([`Onset`]): edge-triggered records of a quantity *entering* the drift
//! state. Repeated testing is handled by the effect-size floor (large windows: a shift must be
//! large enough to matter, not merely significant) and by the correction across features.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, SecondsFormat, Utc};
use driftd_detectors::auto::{AutoPolicy, FeatureVerdict};
use driftd_detectors::dataset::{self, DatasetPolicy};
use driftd_detectors::performance::{
    Classification, ClassificationReport, DropTest, Regression, RegressionReport, accuracy_drop,
    error_increase,
};
use driftd_detectors::stream::{AnyDetector, DetectorConfig, DriftState, StreamDetector};
use driftd_detectors::summary::{
    CategoricalSummary, FeatureSummary, NumericSummary, SummarySettings,
};
use driftd_detectors::twosample::{CategoryCounts, TestOutcome};
use serde::{Deserialize, Serialize};

use crate::contract::event::{Body, Event, FeatureValue, PredictionOutput, Target};
use crate::contract::sample::{Labels, Sample};
use crate::monitor::join::Bounds;
pub mod join;

use crate::contract::onset::{Onset, OnsetKind};
pub use join::{JoinStore, Pending, Predicted};

/// Monitoring settings (`[monitor]` in the configuration), shared by all models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    /// Monitor models at all (`driftd run`; `driftd replay` always does).
    pub enabled: bool,
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
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            enabled: true,
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
            accuracy_reference_labels: 2_000,
            accuracy_window_labels: 2_000,
            // Performance is tested window after window for as long as the daemon runs: a strict
            // level and a minimum size keep chance dips from alarming (on the shared benchmark
            // streams, α = 0.01 gave one false alarm in ~50 windows; real drops had z ≥ 3.2).
            accuracy_alpha: 0.001,
            accuracy_min_drop: 0.03,
            mae_min_increase: 0.1,
        }
    }
}

impl MonitorSettings {
    /// Every problem, as `(key, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
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

/// Performance windows of joined labels.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Performance {
    /// Reference period (classification).
    pub reference: Classification,
    /// Current window (classification).
    pub current: Classification,
    /// Reference period (regression).
    pub reference_reg: Regression,
    /// Current window (regression).
    pub current_reg: Regression,
    /// Whether the reference period is complete.
    pub reference_done: bool,
    /// The last completed window's report, for metrics.
    pub last: Option<ClassificationReport>,
    /// The last completed regression window's report.
    pub last_reg: Option<RegressionReport>,
    /// The last drop test.
    pub last_test: Option<DropTest>,
}

impl Serialize for Target<'static> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Label(l) => s.serialize_newtype_variant("Target", 0, "label", l.as_ref()),
            Target::Value(v) => s.serialize_newtype_variant("Target", 1, "value", v),
        }
    }
}

impl<'de> Deserialize<'de> for Target<'static> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum T {
            Label(String),
            Value(f64),
        }
        Ok(match T::deserialize(d)? {
            T::Label(l) => Target::Label(l.into()),
            T::Value(v) => Target::Value(v),
        })
    }
}

/// A closed pane of a sliding window: its summaries, mergeable with the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pane {
    window: BTreeMap<String, FeatureSummary>,
    prediction: Option<FeatureSummary>,
    n: usize,
    /// Event time (ms) of the pane's first prediction, for windows by event time.
    #[serde(default)]
    start_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReferenceBuffer {
    numeric: BTreeMap<String, Vec<f64>>,
    categorical: BTreeMap<String, Vec<Option<String>>>,
    predictions_numeric: Vec<f64>,
    predictions_label: Vec<Option<String>>,
    n: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profiles {
    features: BTreeMap<String, FeatureSummary>,
    prediction: Option<FeatureSummary>,
    prediction_numeric: bool,
}

/// One feature's result in the last evaluated window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureResult {
    /// Feature name.
    pub feature: String,
    /// Test used.
    pub test: String,
    /// Its statistic.
    pub statistic: f64,
    /// p-value after correction, for p-value tests.
    pub p_value: Option<f64>,
    /// In the drift state after this window.
    pub drift: bool,
    /// The test's threshold (significance level or distance).
    #[serde(default)]
    pub threshold: f64,
    /// The reference side in a few words (see [`describe`]).
    #[serde(default)]
    pub reference: String,
    /// The window's side in a few words.
    #[serde(default)]
    pub current: String,
}

/// The last evaluated window of a model, for metrics and the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Per feature, in name order.
    pub features: Vec<FeatureResult>,
    /// Share of drifted features.
    pub share: f64,
    /// Dataset drift.
    pub dataset_drift: bool,
    /// Prediction test: name, statistic, drift.
    pub prediction: Option<(String, f64, bool)>,
}

/// The state of one model's monitor (serialisable: the daemon checkpoints it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMonitor {
    model: String,
    positive_label: String,
    reference: Option<ReferenceBuffer>,
    profiles: Option<Profiles>,
    window: BTreeMap<String, FeatureSummary>,
    prediction_window: Option<FeatureSummary>,
    window_n: usize,
    /// Sliding windows: the last closed panes (at most `window_slides - 1` kept between
    /// evaluations), oldest first; the open pane is `window`.
    #[serde(default)]
    panes: VecDeque<Pane>,
    /// Event time (ms) of the current window's first prediction.
    #[serde(default)]
    window_start_ms: Option<i64>,
    /// Event time (ms) of the reference's first prediction.
    #[serde(default)]
    reference_start_ms: Option<i64>,
    /// Predictions the built reference holds.
    #[serde(default)]
    reference_n: u64,
    predictions: u64,
    in_drift: BTreeMap<String, bool>,
    concept: AnyDetector,
    /// The score-stream detector, when configured (built on the first score).
    #[serde(default)]
    score_detector: Option<AnyDetector>,
    join: JoinStore,
    /// Windows evaluated so far.
    pub evaluations: u64,
    /// Last dataset drift share.
    pub last_share: f64,
    labelled: u64,
    errors: u64,
    perf: Performance,
    /// The last evaluated window.
    pub last_window: Option<WindowResult>,
    /// Labels joined since the last concept-drift onset (`None` before the first): the
    /// `concept_drift_state` sample holds the drift state for one accuracy window after an onset,
    /// because the detector itself resets on the next update.
    #[serde(default)]
    labels_since_concept: Option<u64>,
    /// Label delays (milliseconds of event time) of joins since the last call to
    /// [`ModelMonitor::take_label_delays`].
    #[serde(skip)]
    label_delays: Vec<i64>,
    /// The latest onsets, oldest first (at most [`RECENT_ONSETS`]): what `GET /v1/models/{model}`
    /// shows, checkpointed with the monitor so a restart keeps them.
    #[serde(default)]
    recent_onsets: VecDeque<Onset>,
}

/// How many onsets a monitor keeps for the admin API.
pub const RECENT_ONSETS: usize = 256;

/// What a prediction said: its label, else its score against 0.5 (`positive_label`, or
/// `not-{positive_label}`), or its value. `None` for a classification without label or score.
pub fn predicted(out: &PredictionOutput<'_>, positive_label: &str) -> Option<Predicted> {
    match out {
        PredictionOutput::Value(v) => Some(Predicted::Value(*v)),
        PredictionOutput::Class { label: Some(l), .. } => Some(Predicted::Label(l.to_string())),
        PredictionOutput::Class { score: Some(s), .. } => Some(Predicted::Label(if *s >= 0.5 {
            positive_label.to_owned()
        } else {
            format!("not-{positive_label}")
        })),
        PredictionOutput::Class { .. } => None,
    }
}

fn test_name(o: &TestOutcome) -> String {
    serde_json::to_value(o.test())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn fmt_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl ModelMonitor {
    /// A fresh monitor for `model`.
    pub fn new(model: &str, positive_label: &str, s: &MonitorSettings) -> Self {
        ModelMonitor {
            model: model.to_owned(),
            positive_label: positive_label.to_owned(),
            reference: Some(ReferenceBuffer::default()),
            profiles: None,
            window: BTreeMap::new(),
            prediction_window: None,
            window_n: 0,
            panes: VecDeque::new(),
            window_start_ms: None,
            reference_start_ms: None,
            reference_n: 0,
            predictions: 0,
            in_drift: BTreeMap::new(),
            concept: s
                .concept_detector
                .build()
                .expect("concept detector validated with the settings"),
            join: JoinStore::default(),
            score_detector: None,
            evaluations: 0,
            last_share: 0.0,
            labelled: 0,
            errors: 0,
            perf: Performance::default(),
            last_window: None,
            labels_since_concept: None,
            label_delays: Vec::new(),
            recent_onsets: VecDeque::new(),
        }
    }

    /// The latest onsets, oldest first (at most [`RECENT_ONSETS`]).
    pub fn recent_onsets(&self) -> &VecDeque<Onset> {
        &self.recent_onsets
    }

    /// Keeps onsets for [`ModelMonitor::recent_onsets`].
    pub fn record_onsets(&mut self, onsets: &[Onset]) {
        for o in onsets {
            if self.recent_onsets.len() == RECENT_ONSETS {
                self.recent_onsets.pop_front();
            }
            self.recent_onsets.push_back(o.clone());
        }
    }

    /// Label delays of the joins since the last call (for the delay histogram).
    pub fn take_label_delays(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.label_delays)
    }

    /// The concept detector's current state.
    pub fn concept_state(&self) -> (&'static str, DriftState) {
        (self.concept.name(), self.concept.state())
    }

    /// Predictions in the reference (while it is built, and once built) and in the current window.
    pub fn window_len(&self) -> (u64, u64) {
        match &self.reference {
            Some(r) => (r.n as u64, 0),
            None => (
                self.reference_n,
                (self.window_n + self.panes.iter().map(|p| p.n).sum::<usize>()) as u64,
            ),
        }
    }

    /// Performance windows (for metrics).
    pub fn performance(&self) -> &Performance {
        &self.perf
    }

    /// Prediction events seen.
    pub fn predictions(&self) -> u64 {
        self.predictions
    }

    /// Joined labels and how many of them the model got wrong.
    pub fn labels(&self) -> (u64, u64) {
        (self.labelled, self.errors)
    }

    /// The join store (for metrics).
    pub fn join(&self) -> &JoinStore {
        &self.join
    }

    /// Whether the reference window is complete.
    pub fn has_reference(&self) -> bool {
        self.profiles.is_some()
    }

    /// Builds the reference from recorded predictions (e.g. the training data or a reference file)
    /// instead of the first live ones: at most `reference_events` of them, then the reference is
    /// closed even if there were fewer. Returns how many predictions were used.
    pub fn set_reference<'a>(
        &mut self,
        events: impl IntoIterator<Item = Event<'a>>,
        s: &MonitorSettings,
    ) -> usize {
        self.reference = Some(ReferenceBuffer::default());
        self.profiles = None;
        let mut n = 0;
        for ev in events {
            if self.reference.is_none() {
                break;
            }
            if let Body::Prediction { features, output } = &ev.body {
                self.add_reference(&features.0, output.as_ref(), s);
                n += 1;
            }
        }
        self.close_reference(s);
        n
    }

    /// Starts the error-stream side afresh: a new concept detector, score detector, accuracy
    /// reference and concept-state hold. For a new live model (a promotion or rollback), whose
    /// errors are a different stream from its predecessor's. Label counters stay.
    pub fn reset_concept(&mut self, s: &MonitorSettings) {
        if let Ok(d) = s.concept_detector.build() {
            self.concept = d;
        }
        self.score_detector = None;
        self.perf = Performance::default();
        self.labels_since_concept = None;
    }

    /// Feeds one validated event; returns the onsets it caused (in a deterministic order).
    pub fn observe(&mut self, ev: &Event<'_>, s: &MonitorSettings) -> Vec<Onset> {
        let mut onsets = Vec::new();
        let now_ms = ev.ts.timestamp_millis();
        match &ev.body {
            Body::Prediction { features, output } => {
                self.predictions += 1;
                let score = match output {
                    Some(PredictionOutput::Class { score, .. }) => *score,
                    _ => None,
                };
                if let (Some(sc), Some(cfg)) = (score, s.score_detector.as_ref())
                    && sc.is_finite()
                {
                    self.score_onset(sc, cfg, ev, &mut onsets);
                }
                if let Some(p) = output
                    .as_ref()
                    .and_then(|o| predicted(o, &self.positive_label))
                {
                    if let Some((target, fb_ms)) = self.join.take_early(ev.id.as_ref()) {
                        self.label_delays.push((fb_ms - now_ms).max(0));
                        self.on_label(&p, score, &target, ev, s, &mut onsets);
                        self.mark_joined(ev.id.as_ref());
                    } else if !self.join.is_joined(ev.id.as_ref())
                        && !self.join.is_pending(ev.id.as_ref())
                    {
                        self.join.add_pending(
                            ev.id.as_ref(),
                            Pending {
                                predicted: p,
                                score,
                                ts_ms: now_ms,
                            },
                        );
                    }
                }
                self.join.enforce(bounds(s), now_ms);
                // A time-based reference ends at the first prediction past its span.
                if self.reference.is_some()
                    && let (Some(span), Some(start)) =
                        (s.reference_seconds, self.reference_start_ms)
                    && now_ms >= start.saturating_add(span as i64 * 1000)
                {
                    self.close_reference(s);
                }
                if self.reference.is_some() {
                    self.reference_start_ms.get_or_insert(now_ms);
                    self.add_reference(&features.0, output.as_ref(), s);
                } else if let Some(secs) = s.window_seconds {
                    // By event time: the prediction that crosses the boundary opens the next window
                    // (or pane).
                    let pane_ms = (secs as i64 * 1000) / s.window_slides.max(1) as i64;
                    match self.window_start_ms {
                        Some(start) if now_ms >= start.saturating_add(pane_ms) => {
                            onsets.extend(self.close_pane(ev.ts, s));
                            self.window_start_ms = Some(now_ms);
                        }
                        Some(_) => {}
                        None => self.window_start_ms = Some(now_ms),
                    }
                    self.add_window(&features.0, output.as_ref());
                } else {
                    self.add_window(&features.0, output.as_ref());
                    if self.window_n >= s.window_events / s.window_slides.max(1) {
                        onsets.extend(self.close_pane(ev.ts, s));
                    }
                }
            }
            Body::Feedback { target, .. } => {
                if self.join.is_joined(ev.id.as_ref()) {
                    self.join.duplicate_feedback += 1;
                } else if let Some(p) = self.join.take_pending(ev.id.as_ref()) {
                    self.label_delays.push((now_ms - p.ts_ms).max(0));
                    self.on_label(&p.predicted, p.score, target, ev, s, &mut onsets);
                    self.mark_joined(ev.id.as_ref());
                } else if !self.join.has_early(ev.id.as_ref()) {
                    let owned = match target {
                        Target::Label(l) => Target::Label(l.to_string().into()),
                        Target::Value(v) => Target::Value(*v),
                    };
                    self.join.add_early(ev.id.as_ref(), (owned, now_ms));
                    self.join.enforce(bounds(s), now_ms);
                } else {
                    self.join.duplicate_feedback += 1;
                }
            }
        }
        onsets
    }

    fn mark_joined(&mut self, id: &str) {
        self.join.mark_joined(id);
    }

    /// Gives the join store a cold tier in `dir` past `hot` entries (replay: flat memory).
    pub fn spill_joins_to(&mut self, dir: &std::path::Path, hot: usize) -> Result<(), String> {
        self.join.spill_to(dir, hot)
    }

    fn on_label(
        &mut self,
        p: &Predicted,
        score: Option<f64>,
        t: &Target<'_>,
        ev: &Event<'_>,
        s: &MonitorSettings,
        onsets: &mut Vec<Onset>,
    ) {
        let st = match (p, t) {
            (Predicted::Label(pl), Target::Label(tl)) => {
                let error = pl != tl.as_ref();
                self.errors += u64::from(error);
                let positive = tl.as_ref() == self.positive_label;
                let w = if self.perf.reference_done {
                    &mut self.perf.current
                } else {
                    &mut self.perf.reference
                };
                w.update(tl, pl, score.map(|sc| (sc, positive)));
                self.concept.update_bool(error)
            }
            // Regression: the detector watches the absolute error itself.
            (Predicted::Value(pv), Target::Value(tv)) => {
                let w = if self.perf.reference_done {
                    &mut self.perf.current_reg
                } else {
                    &mut self.perf.reference_reg
                };
                w.update(*tv, *pv);
                self.concept.update((pv - tv).abs())
            }
            _ => return,
        };
        self.labelled += 1;
        if st == DriftState::Drift {
            self.labels_since_concept = Some(0);
        } else if let Some(n) = self.labels_since_concept.as_mut() {
            *n += 1;
        }
        self.concept_onset(st, ev, onsets);
        self.performance_window(ev, s, onsets);
    }

    /// Closes the reference period or a performance window when it is full, testing for a drop.
    fn performance_window(&mut self, ev: &Event<'_>, s: &MonitorSettings, onsets: &mut Vec<Onset>) {
        let perf = &mut self.perf;
        if !perf.reference_done {
            if perf.reference.len() + perf.reference_reg.len() >= s.accuracy_reference_labels {
                perf.reference_done = true;
            }
            return;
        }
        if perf.current.len() + perf.current_reg.len() < s.accuracy_window_labels {
            return;
        }
        let test = if !perf.current.is_empty() {
            perf.last = perf.current.report();
            accuracy_drop(
                &perf.reference,
                &perf.current,
                s.accuracy_alpha,
                s.accuracy_min_drop,
            )
        } else {
            perf.last_reg = perf.current_reg.report();
            error_increase(
                &perf.reference_reg,
                &perf.current_reg,
                s.accuracy_alpha,
                s.mae_min_increase,
            )
        };
        perf.current = Classification::default();
        perf.current_reg = Regression::default();
        let Some(test) = test else { return };
        let entered = self.edge(&format!("accuracy/{}", test.metric), test.drop);
        if entered {
            onsets.push(Onset {
                ts: fmt_ts(ev.ts),
                model: self.model.clone(),
                kind: OnsetKind::Accuracy,
                feature: Some(test.metric.clone()),
                test: if test.metric == "accuracy" {
                    "two_proportion_z".into()
                } else {
                    "welch_t".into()
                },
                statistic: test.statistic,
                p_value: Some(test.p_value),
                threshold: test.alpha,
                event_index: self.predictions,
            });
        }
        self.perf.last_test = Some(test);
    }

    fn score_onset(
        &mut self,
        score: f64,
        cfg: &DetectorConfig,
        ev: &Event<'_>,
        onsets: &mut Vec<Onset>,
    ) {
        if self.score_detector.is_none() {
            // Validated with the settings; a failure here leaves the score stream unwatched.
            self.score_detector = cfg.build().ok();
        }
        let Some(d) = self.score_detector.as_mut() else {
            return;
        };
        if d.update(score) == DriftState::Drift {
            onsets.push(Onset {
                ts: fmt_ts(ev.ts),
                model: self.model.clone(),
                kind: OnsetKind::Prediction,
                feature: None,
                test: format!("{}_score", d.name()),
                statistic: d.len() as f64,
                p_value: None,
                threshold: 0.0,
                event_index: self.predictions,
            });
        }
    }

    fn concept_onset(&self, st: DriftState, ev: &Event<'_>, onsets: &mut Vec<Onset>) {
        // Detectors reset on the update after a drift, so every Drift state is a new onset.
        if st == DriftState::Drift {
            onsets.push(Onset {
                ts: fmt_ts(ev.ts),
                model: self.model.clone(),
                kind: OnsetKind::Concept,
                feature: None,
                test: self.concept.name().to_owned(),
                statistic: self.concept.len() as f64,
                p_value: None,
                threshold: 0.0,
                event_index: self.predictions,
            });
        }
    }

    fn add_reference(
        &mut self,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
        output: Option<&PredictionOutput<'_>>,
        s: &MonitorSettings,
    ) {
        let buf = self.reference.as_mut().expect("in the reference phase");
        buf.n += 1;
        for (name, v) in features {
            match v {
                FeatureValue::Number(x) => {
                    buf.numeric.entry(name.to_string()).or_default().push(*x)
                }
                FeatureValue::Category(c) => buf
                    .categorical
                    .entry(name.to_string())
                    .or_default()
                    .push(Some(c.to_string())),
                FeatureValue::Missing => {}
            }
        }
        match output {
            Some(PredictionOutput::Class {
                score: Some(sc), ..
            }) => buf.predictions_numeric.push(*sc),
            Some(PredictionOutput::Value(v)) => buf.predictions_numeric.push(*v),
            Some(PredictionOutput::Class { label: Some(l), .. }) => {
                buf.predictions_label.push(Some(l.to_string()))
            }
            _ => {}
        }
        if buf.n >= s.reference_events {
            self.close_reference(s);
        }
    }

    /// Turns the buffered reference into profiles and opens the first window.
    fn close_reference(&mut self, s: &MonitorSettings) {
        if let Some(buf) = self.reference.take() {
            self.reference_n = buf.n as u64;
            self.profiles = Some(build_profiles(buf, &s.summary));
            self.reset_window();
            self.window_start_ms = None;
        }
    }

    fn reset_window(&mut self) {
        let p = self.profiles.as_ref().expect("profiles built");
        self.window = p
            .features
            .iter()
            .map(|(k, v)| (k.clone(), v.empty_window()))
            .collect();
        self.prediction_window = p.prediction.as_ref().map(FeatureSummary::empty_window);
        self.window_n = 0;
    }

    fn add_window(
        &mut self,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
        output: Option<&PredictionOutput<'_>>,
    ) {
        self.window_n += 1;
        for (name, v) in features {
            let Some(w) = self.window.get_mut(name.as_ref()) else {
                continue; // not in the reference: not monitored
            };
            match (w, v) {
                (FeatureSummary::Numeric(n), FeatureValue::Number(x)) => n.update(*x),
                (FeatureSummary::Categorical(c), FeatureValue::Category(v)) => c.update(Some(v)),
                (FeatureSummary::Categorical(c), FeatureValue::Number(x)) => {
                    c.update(Some(&x.to_string()))
                }
                (FeatureSummary::Categorical(c), FeatureValue::Missing) => c.update(None),
                _ => {}
            }
        }
        let numeric = self.profiles.as_ref().is_some_and(|p| p.prediction_numeric);
        if let Some(w) = self.prediction_window.as_mut() {
            match (w, output, numeric) {
                (
                    FeatureSummary::Numeric(n),
                    Some(PredictionOutput::Class {
                        score: Some(sc), ..
                    }),
                    true,
                ) => n.update(*sc),
                (FeatureSummary::Numeric(n), Some(PredictionOutput::Value(v)), true) => {
                    n.update(*v)
                }
                (
                    FeatureSummary::Categorical(c),
                    Some(PredictionOutput::Class { label: Some(l), .. }),
                    false,
                ) => c.update(Some(l)),
                _ => {}
            }
        }
    }

    /// Closes the open pane: with tumbling windows, evaluates it; with sliding windows, keeps it
    /// and evaluates the merge of the last `window_slides` panes once there are that many.
    fn close_pane(&mut self, ts: DateTime<Utc>, s: &MonitorSettings) -> Vec<Onset> {
        let k = s.window_slides.max(1);
        if k == 1 {
            // (Panes left by a configuration with slides do not belong to tumbling windows.)
            self.panes.clear();
            return self.evaluate(ts, s);
        }
        self.panes.push_back(Pane {
            window: std::mem::take(&mut self.window),
            prediction: self.prediction_window.take(),
            n: self.window_n,
            start_ms: s.window_seconds.and(self.window_start_ms),
        });
        while self.panes.len() > k {
            self.panes.pop_front();
        }
        // By event time, a window covers `window_seconds`: panes from before a quiet stretch
        // leave it, and evaluation resumes once `window_slides` recent panes are there.
        if let Some(secs) = s.window_seconds {
            let oldest = ts.timestamp_millis().saturating_sub(secs as i64 * 1000);
            self.panes
                .retain(|p| p.start_ms.is_none_or(|start| start >= oldest));
        }
        if self.panes.len() < k {
            self.reset_window();
            return Vec::new();
        }
        let merged = merge_panes(self.panes.iter());
        self.window = merged.window;
        self.prediction_window = merged.prediction;
        self.window_n = merged.n;
        let onsets = self.evaluate(ts, s);
        // The oldest pane leaves the window before the next evaluation.
        self.panes.pop_front();
        onsets
    }

    /// Evaluates the current window against the reference and starts a new window.
    pub fn evaluate(&mut self, ts: DateTime<Utc>, s: &MonitorSettings) -> Vec<Onset> {
        let Some((result, report, prediction)) = self.test_window(s) else {
            return Vec::new();
        };
        self.evaluations += 1;
        self.last_share = report.share;
        self.last_window = Some(result);
        self.onsets_of(ts, s, &report, prediction)
    }

    /// Evaluates the current, still open window as if it ended now, without changing anything
    /// (on-demand evaluation: `GET /v1/models/{model}`). `None` before the reference is complete
    /// or while the window is empty.
    pub fn peek(&self, s: &MonitorSettings) -> Option<WindowResult> {
        if self.window_n + self.panes.iter().map(|p| p.n).sum::<usize>() == 0 {
            return None;
        }
        if self.panes.is_empty() {
            return self.test_window(s).map(|(r, _, _)| r);
        }
        // Sliding: the closed panes of the window plus the open one.
        let open = Pane {
            window: self.window.clone(),
            prediction: self.prediction_window.clone(),
            n: self.window_n,
            start_ms: None,
        };
        let merged = merge_panes(self.panes.iter().chain(std::iter::once(&open)));
        self.test_summaries(&merged.window, merged.prediction.as_ref(), s)
            .map(|(r, _, _)| r)
    }

    /// Tests the current window against the reference: per-feature verdicts, the correction and
    /// dataset rule, and the prediction test.
    fn test_window(
        &self,
        s: &MonitorSettings,
    ) -> Option<(WindowResult, dataset::DatasetReport, Option<FeatureVerdict>)> {
        self.test_summaries(&self.window, self.prediction_window.as_ref(), s)
    }

    /// Tests window summaries (the open window, or a merge of panes) against the reference.
    fn test_summaries(
        &self,
        window: &BTreeMap<String, FeatureSummary>,
        prediction_window: Option<&FeatureSummary>,
        s: &MonitorSettings,
    ) -> Option<(WindowResult, dataset::DatasetReport, Option<FeatureVerdict>)> {
        let p = self.profiles.as_ref()?;
        let mut verdicts: Vec<(String, FeatureVerdict)> = Vec::new();
        for (name, reference) in &p.features {
            let Some(w) = window.get(name) else {
                continue;
            };
            if let Ok(v) = s.policy.evaluate_summaries(reference, w) {
                verdicts.push((name.clone(), v));
            }
        }
        let report = dataset::evaluate(verdicts, &s.dataset);
        let prediction = match (&p.prediction, prediction_window) {
            (Some(r), Some(w)) => s.policy.evaluate_summaries(r, w).ok(),
            _ => None,
        };
        let mut result = WindowResult {
            share: report.share,
            dataset_drift: report.dataset_drift,
            ..Default::default()
        };
        for f in &report.features {
            if let Some(v) = f.verdict.outcome.verdict() {
                result.features.push(FeatureResult {
                    feature: f.name.clone(),
                    test: test_name(&f.verdict.outcome),
                    statistic: v.statistic,
                    p_value: f.adjusted_p_value.or(v.p_value),
                    drift: f.drift,
                    threshold: v.threshold,
                    reference: p.features.get(&f.name).map(describe).unwrap_or_default(),
                    current: window.get(&f.name).map(describe).unwrap_or_default(),
                });
            }
        }
        if let Some(v) = &prediction
            && let Some(verdict) = v.outcome.verdict()
        {
            result.prediction = Some((test_name(&v.outcome), verdict.statistic, v.drift));
        }
        Some((result, report, prediction))
    }

    /// The onsets of an evaluated window (edges into drift), then a fresh window.
    fn onsets_of(
        &mut self,
        ts: DateTime<Utc>,
        s: &MonitorSettings,
        report: &dataset::DatasetReport,
        prediction: Option<FeatureVerdict>,
    ) -> Vec<Onset> {
        let mut onsets = Vec::new();
        let ts_s = fmt_ts(ts);
        for f in &report.features {
            let key = format!("data/{}", f.name);
            if let Some(v) = f.verdict.outcome.verdict()
                && self.edge(&key, f.drift)
            {
                onsets.push(Onset {
                    ts: ts_s.clone(),
                    model: self.model.clone(),
                    kind: OnsetKind::Data,
                    feature: Some(f.name.clone()),
                    test: test_name(&f.verdict.outcome),
                    statistic: v.statistic,
                    p_value: f.adjusted_p_value.or(v.p_value),
                    threshold: v.threshold,
                    event_index: self.predictions,
                });
            }
        }
        if self.edge("dataset", report.dataset_drift) {
            onsets.push(Onset {
                ts: ts_s.clone(),
                model: self.model.clone(),
                kind: OnsetKind::Dataset,
                feature: None,
                test: "drift_share".into(),
                statistic: report.share,
                p_value: None,
                threshold: s.dataset.drift_share,
                event_index: self.predictions,
            });
        }
        if let Some(v) = prediction
            && let Some(verdict) = v.outcome.verdict()
            && self.edge("prediction", v.drift)
        {
            onsets.push(Onset {
                ts: ts_s,
                model: self.model.clone(),
                kind: OnsetKind::Prediction,
                feature: None,
                test: test_name(&v.outcome),
                statistic: verdict.statistic,
                p_value: verdict.p_value,
                threshold: verdict.threshold,
                event_index: self.predictions,
            });
        }
        self.reset_window();
        onsets
    }

    /// Records the state of `key`; true when it *enters* drift.
    fn edge(&mut self, key: &str, drift: bool) -> bool {
        let was = self.in_drift.insert(key.to_owned(), drift).unwrap_or(false);
        drift && !was
    }
}

/// The join store's bounds from the settings.
fn bounds(s: &MonitorSettings) -> Bounds {
    Bounds {
        max: s.join_max_entries,
        dedupe: s.join_dedupe_entries,
        ttl_ms: (s.join_ttl_seconds as i64).saturating_mul(1000),
    }
}

/// The merge of panes' summaries (they share the reference's bins and categories, so merging is
/// exact for counts and within the sketch's error for quantiles).
fn merge_panes<'a>(mut panes: impl Iterator<Item = &'a Pane>) -> Pane {
    let Some(first) = panes.next() else {
        return Pane {
            window: BTreeMap::new(),
            prediction: None,
            n: 0,
            start_ms: None,
        };
    };
    let mut acc = first.clone();
    for p in panes {
        for (name, w) in &p.window {
            if let Some(a) = acc.window.get_mut(name) {
                // Same reference layout by construction; a mismatch leaves that pane out.
                let _ = a.merge(w);
            }
        }
        if let (Some(a), Some(w)) = (acc.prediction.as_mut(), p.prediction.as_ref()) {
            let _ = a.merge(w);
        }
        acc.n += p.n;
    }
    acc
}

/// A summary in a few words for people reading an alert: `mean 3.2 · median 3.1 · sd 0.4 · n 10000`
/// for numbers, the three most frequent categories with their shares for strings.
pub fn describe(s: &FeatureSummary) -> String {
    match s {
        FeatureSummary::Numeric(n) => {
            let m = n.moments();
            let median = n
                .sorted_view()
                .quantile(0.5)
                .map_or_else(|| "-".to_owned(), |q| format!("{q:.4}"));
            format!(
                "mean {:.4} · median {median} · sd {:.4} · n {}",
                m.mean,
                m.std(),
                n.len()
            )
        }
        FeatureSummary::Categorical(c) => {
            let total = c.len().max(1) as f64;
            let mut top: Vec<(&str, u64)> = c
                .categories()
                .iter()
                .map(String::as_str)
                .chain(["(new)"])
                .zip(c.counts().iter().copied())
                .filter(|(_, k)| *k > 0)
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let shown: Vec<String> = top
                .iter()
                .take(3)
                .map(|(name, k)| format!("{name} {:.1}%", 100.0 * *k as f64 / total))
                .collect();
            format!("{} · n {}", shown.join(", "), c.len())
        }
    }
}

impl ModelMonitor {
    /// The monitor's current quantities for alert rules (see [`crate::contract::sample::QUANTITIES`]): the
    /// last window's drift results, the latest performance window and its drop test, label
    /// coverage and the concept detector's state. Deterministic order.
    pub fn samples(&self, s: &MonitorSettings) -> Vec<Sample> {
        let model = self.model.as_str();
        let mut out = Vec::new();
        let mut push =
            |metric: &str, labels: &[(&str, &str)], value: f64, detail: Vec<(&str, String)>| {
                let mut l = Labels::new();
                l.insert("model".into(), model.to_owned());
                for (k, v) in labels {
                    l.insert((*k).to_owned(), (*v).to_owned());
                }
                out.push(Sample {
                    metric: metric.to_owned(),
                    labels: l,
                    value,
                    detail: detail.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                });
            };
        let window = format!(
            "window {} of {} predictions",
            self.evaluations, s.window_events
        );
        if let Some(w) = &self.last_window {
            for f in &w.features {
                let mut detail = vec![
                    ("test", f.test.clone()),
                    ("statistic", format!("{:.6}", f.statistic)),
                    ("threshold", format!("{}", f.threshold)),
                    ("window", window.clone()),
                    ("reference", f.reference.clone()),
                    ("current", f.current.clone()),
                ];
                if let Some(p) = f.p_value {
                    detail.push(("p_value", format!("{p:.3e}")));
                }
                let labels = [("feature", f.feature.as_str()), ("test", f.test.as_str())];
                push("drift_statistic", &labels, f.statistic, detail.clone());
                if let Some(p) = f.p_value {
                    push("drift_p_value", &labels, p, detail.clone());
                }
                push(
                    "feature_drift",
                    &[("feature", f.feature.as_str())],
                    f64::from(u8::from(f.drift)),
                    detail,
                );
            }
            let drifted: Vec<&str> = w
                .features
                .iter()
                .filter(|f| f.drift)
                .map(|f| f.feature.as_str())
                .collect();
            let detail = vec![
                ("drifted", drifted.join(", ")),
                ("threshold", format!("{}", s.dataset.drift_share)),
                ("window", window.clone()),
            ];
            push("dataset_drift_share", &[], w.share, detail.clone());
            push(
                "dataset_drift",
                &[],
                f64::from(u8::from(w.dataset_drift)),
                detail,
            );
            if let Some((test, stat, drift)) = &w.prediction {
                let detail = vec![("test", test.clone()), ("window", window.clone())];
                push(
                    "prediction_drift_statistic",
                    &[("test", test.as_str())],
                    *stat,
                    detail.clone(),
                );
                push("prediction_drift", &[], f64::from(u8::from(*drift)), detail);
            }
        }
        let (detector, state) = self.concept_state();
        let held = self
            .labels_since_concept
            .is_some_and(|n| n < s.accuracy_window_labels);
        let state = if held {
            2.0
        } else {
            match state {
                DriftState::Stable => 0.0,
                DriftState::Warning => 1.0,
                DriftState::Drift => 2.0,
            }
        };
        push(
            "concept_drift_state",
            &[("detector", detector)],
            state,
            vec![("labels", self.labelled.to_string())],
        );
        let perf = &self.perf;
        let mut metrics: Vec<(&str, f64)> = Vec::new();
        if let Some(r) = &perf.last {
            metrics.extend([
                ("accuracy", r.accuracy),
                ("macro_precision", r.macro_precision),
                ("macro_recall", r.macro_recall),
                ("macro_f1", r.macro_f1),
            ]);
            metrics.extend(r.roc_auc.map(|v| ("roc_auc", v)));
            metrics.extend(r.log_loss.map(|v| ("log_loss", v)));
            metrics.extend(r.brier.map(|v| ("brier", v)));
        }
        if let Some(r) = &perf.last_reg {
            metrics.extend([("mae", r.mae), ("rmse", r.rmse)]);
            metrics.extend(r.mape.map(|v| ("mape", v)));
            metrics.extend(r.r2.map(|v| ("r2", v)));
        }
        for (metric, v) in metrics {
            push("model_performance", &[("metric", metric)], v, Vec::new());
        }
        if let Some(t) = &perf.last_test {
            // A drop is positive when the model got worse: accuracy fell, or the error rose.
            let drop = if t.metric == "accuracy" {
                t.reference - t.current
            } else {
                t.current - t.reference
            };
            let detail = vec![
                ("reference", format!("{:.4}", t.reference)),
                ("current", format!("{:.4}", t.current)),
                ("statistic", format!("{:.4}", t.statistic)),
                ("p_value", format!("{:.3e}", t.p_value)),
                ("alpha", format!("{}", t.alpha)),
            ];
            push(
                "model_performance_drop",
                &[("metric", t.metric.as_str())],
                drop,
                detail.clone(),
            );
            push("accuracy_drop_p_value", &[], t.p_value, detail);
        }
        if self.predictions > 0 {
            push(
                "label_coverage_ratio",
                &[],
                self.labelled as f64 / self.predictions as f64,
                vec![
                    ("labelled", self.labelled.to_string()),
                    ("predictions", self.predictions.to_string()),
                ],
            );
        }
        out
    }
}

fn build_profiles(buf: ReferenceBuffer, settings: &SummarySettings) -> Profiles {
    let mut features = BTreeMap::new();
    for (name, values) in &buf.numeric {
        // A name seen both as numbers and as strings is categorical.
        if buf.categorical.contains_key(name) {
            continue;
        }
        if let Ok(s) = NumericSummary::reference(values, settings) {
            features.insert(name.clone(), FeatureSummary::Numeric(s));
        }
    }
    for (name, values) in &buf.categorical {
        let mut counts = CategoryCounts::new();
        for v in values.iter().flatten() {
            counts.add(v, 1);
        }
        if let Some(nums) = buf.numeric.get(name) {
            for x in nums {
                counts.add(&x.to_string(), 1);
            }
        }
        if let Ok(s) = CategoricalSummary::reference(&counts, settings) {
            features.insert(name.clone(), FeatureSummary::Categorical(s));
        }
    }
    let (prediction, prediction_numeric) = if !buf.predictions_numeric.is_empty() {
        (
            NumericSummary::reference(&buf.predictions_numeric, settings)
                .ok()
                .map(FeatureSummary::Numeric),
            true,
        )
    } else if !buf.predictions_label.is_empty() {
        let mut counts = CategoryCounts::new();
        for v in buf.predictions_label.iter().flatten() {
            counts.add(v, 1);
        }
        (
            CategoricalSummary::reference(&counts, settings)
                .ok()
                .map(FeatureSummary::Categorical),
            false,
        )
    } else {
        (None, false)
    };
    Profiles {
        features,
        prediction,
        prediction_numeric,
    }
}

#[cfg(test)]
mod tests;
