//! Per-model monitoring: a reference of bounded-memory summaries, streaming drift detection on
//! sliding windows (or evaluation at the end of each window), late-label joins and concept drift on
//! the error stream.
//!
//! A [`ModelMonitor`] is a plain synchronous state machine fed one event at a time, with time as a
//! value (the event's own timestamp): the daemon and `driftd replay` drive the same code, so a
//! backtest reproduces what the daemon would have decided, byte for byte.
//!
//! Life of a model:
//! 1. **Reference**: the first `reference_events` predictions are buffered (bounded) and turned into
//!    reference profiles — one summary per feature (numbers → numeric, strings → categorical), one for
//!    the predictions (score, value or label).
//! 2. **Detection**, by default **streaming** ([`streaming`](self#streaming), method in
//!    [`driftd_detectors::sequential`]): each feature and the prediction keep a sliding window of
//!    their last `[monitor.streaming] window_events` values as reference columns, tested every
//!    `look_every` predictions with the G-test at a level that bounds the expected false onsets per
//!    million predictions across all features and looks. With `detection = "windows"`, every
//!    `window_events` predictions form a tumbling window of summaries comparable with the profiles
//!    instead; at the end of a window each feature is tested with the automatic choice (Evidently's
//!    rule plus an effect-size floor, see [`driftd_detectors::auto`]), p-values are corrected across
//!    features (Benjamini–Hochberg by default) and the dataset rule applied; predictions are tested
//!    the same way.
//! 3. **Labels**: predictions wait in a bounded join store until their feedback arrives (feedback
//!    may come first, twice, or never); each joined pair feeds the error stream's detector (ADWIN by
//!    default), which reports concept drift.
//!
//! Outputs are **onsets** ([`Onset`]): edge-triggered records of a quantity *entering* the drift
//! state. Repeated testing is handled, when streaming, by the false-alarm budget split over features
//! and looks (plus an effect-size floor and hysteresis); with windows, by the effect-size floor
//! (large windows: a shift must be large enough to matter, not merely significant) and by the
//! correction across features.
//!
//! # Streaming
//!
//! See `streaming.rs`: a byte per value and feature in a ring, no sketch updated per event; a look
//! is a G-test over a dozen columns per feature.
//!
//! May depend on: contract.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, SecondsFormat, Utc};
use driftd_detectors::performance::{
    Classification, ClassificationReport, DropTest, Regression, RegressionReport,
};
use driftd_detectors::stream::{AnyDetector, DriftState, StreamDetector};
use driftd_detectors::summary::FeatureSummary;
use driftd_detectors::twosample::TestOutcome;
use serde::{Deserialize, Serialize};

use crate::contract::event::{Body, Event, FeatureValue, PredictionOutput, Target};
use crate::contract::onset::Onset;

pub mod history;
pub mod join;
mod labels;
pub mod reference;
pub mod review;
mod samples;
mod settings;
mod streaming;
mod window;

pub use join::{Id, JoinStore, Pending, Predicted};
pub use samples::describe;
pub use settings::{Detection, MonitorSettings};
pub use streaming::Distribution;
use window::bounds;

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
    /// The joined labels of the reference period, kept until it closes (classification).
    #[serde(default)]
    pub reference_labels: Vec<String>,
    /// The joined label values of the reference period (regression).
    #[serde(default)]
    pub reference_values: Vec<f64>,
    /// The reference period's label distribution, once it closed.
    #[serde(default)]
    pub label_profile: Option<FeatureSummary>,
    /// The labels of the current performance window, comparable with `label_profile`.
    #[serde(default)]
    pub label_window: Option<FeatureSummary>,
    /// The last label-drift test: (test, statistic, p-value, drift).
    #[serde(default)]
    pub last_label_test: Option<(String, f64, Option<f64>, bool)>,
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
    /// The closed reference (kept apart from the record in the daemon: [`reference`]).
    profiles: reference::Apart,
    /// Which reference `profiles` is: bumped whenever they are replaced or dropped.
    #[serde(default)]
    reference_id: u64,
    window: BTreeMap<String, FeatureSummary>,
    prediction_window: Option<FeatureSummary>,
    window_n: usize,
    /// Streaming detection's sliding windows (built from the profiles on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    streaming: Option<streaming::Streaming>,
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
    /// Changes of a drift state in `in_drift` (entering or leaving) in this process: what tells
    /// the daemon that the alert samples must be published now.
    #[serde(skip)]
    drift_changes: u64,
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
    /// Figures over time, for reports.
    #[serde(default)]
    history: history::History,
    /// The review queue: its counters here, its items checkpointed apart by the daemon
    /// ([`review::ReviewQueue::checkpoint`]).
    #[serde(default)]
    review: review::ReviewQueue,
}

/// How many onsets a monitor keeps for the admin API.
pub const RECENT_ONSETS: usize = 256;

/// What a prediction said: its label, else its score against 0.5 (`positive_label`, or
/// `not-{positive_label}`), or its value. `None` for a classification without label or score.
pub fn predicted(out: &PredictionOutput<'_>, positive_label: &str) -> Option<Predicted> {
    match out {
        PredictionOutput::Value(v) => Some(Predicted::Value(*v)),
        PredictionOutput::Class { label: Some(l), .. } => Some(Predicted::Label(Id::new(l))),
        PredictionOutput::Class { score: Some(s), .. } => Some(Predicted::Label(if *s >= 0.5 {
            Id::new(positive_label)
        } else {
            smol_str::format_smolstr!("not-{positive_label}")
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
            profiles: reference::Apart::default(),
            reference_id: 0,
            window: BTreeMap::new(),
            prediction_window: None,
            window_n: 0,
            panes: VecDeque::new(),
            streaming: None,
            window_start_ms: None,
            reference_start_ms: None,
            reference_n: 0,
            predictions: 0,
            in_drift: BTreeMap::new(),
            drift_changes: 0,
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
            history: Default::default(),
            review: Default::default(),
        }
    }

    /// The latest onsets, oldest first (at most [`RECENT_ONSETS`]).
    pub fn recent_onsets(&self) -> &VecDeque<Onset> {
        &self.recent_onsets
    }

    /// Figures over time (predictions, labels, errors, features in drift), for reports.
    pub fn history(&self) -> &history::History {
        &self.history
    }

    /// Each feature's and the prediction's reference distribution against the sliding window's
    /// (streaming detection, once the reference is built; empty otherwise).
    pub fn distributions(&self) -> Vec<Distribution> {
        self.streaming
            .as_ref()
            .map(streaming::Streaming::distributions)
            .unwrap_or_default()
    }

    /// The label that counts as positive (a binary score is its probability).
    pub fn positive_label(&self) -> &str {
        &self.positive_label
    }

    /// The review queue: predictions most worth a human label, and the labels' sources.
    pub fn review(&self) -> &review::ReviewQueue {
        &self.review
    }

    /// Mutable access to the review queue (the daemon marks it written, restores it).
    pub fn review_mut(&mut self) -> &mut review::ReviewQueue {
        &mut self.review
    }

    /// Weighs a prediction that now waits for its label for the review queue.
    fn consider_review(
        &mut self,
        ev: &Event<'_>,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
        output: Option<&PredictionOutput<'_>>,
        s: &MonitorSettings,
    ) {
        let uncertainty = match output {
            Some(PredictionOutput::Class {
                score: Some(sc), ..
            }) => review::score_uncertainty(*sc),
            Some(PredictionOutput::Class { probabilities, .. }) if !probabilities.is_empty() => {
                let p: Vec<f64> = probabilities.iter().map(|(_, x)| *x).collect();
                review::entropy_uncertainty(&p)
            }
            _ => 0.0,
        };
        let drifting = self
            .streaming
            .as_ref()
            .map(|st| st.drifting_region(features))
            .unwrap_or_default();
        let why = review::Why {
            uncertainty,
            drifting,
            disagreement: false,
        };
        let ts_ms = ev.ts.timestamp_millis();
        self.review
            .consider(&s.review, &self.model, ev.id.as_ref(), why, || {
                (ts_ms, features_json(features), output_json(output))
            });
    }

    /// A shadowed challenger disagreed with the served answer of this prediction (`ev`): it
    /// weighs up in the review queue, if it still waits for its label.
    pub fn review_disagreement(&mut self, ev: &Event<'_>, s: &MonitorSettings) {
        let Body::Prediction { features, output } = &ev.body else {
            return;
        };
        if !s.review.enabled || !self.join.is_pending(ev.id.as_ref()) {
            return;
        }
        let why = review::Why {
            disagreement: true,
            ..review::Why::default()
        };
        let ts_ms = ev.ts.timestamp_millis();
        let output = output.as_ref();
        self.review
            .reconsider(&s.review, &self.model, ev.id.as_ref(), why, || {
                (ts_ms, features_json(&features.0), output_json(output))
            });
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
            None => match &self.streaming {
                Some(st) => (self.reference_n, st.len() as u64),
                None => (
                    self.reference_n,
                    (self.window_n + self.panes.iter().map(|p| p.n).sum::<usize>()) as u64,
                ),
            },
        }
    }

    /// Performance windows (for metrics).
    pub fn performance(&self) -> &Performance {
        &self.perf
    }

    /// How many times a drift state changed (entered or left) in this process.
    pub fn drift_changes(&self) -> u64 {
        self.drift_changes
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

    /// The join store, to make its checkpoints incremental and restore them
    /// ([`JoinStore::journaled`]).
    pub fn join_mut(&mut self) -> &mut JoinStore {
        &mut self.join
    }

    /// Whether the reference window is complete.
    pub fn has_reference(&self) -> bool {
        self.profiles.profiles.is_some()
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
        self.profiles.profiles = None;
        self.reference_id += 1;
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
                    } else if !self.join.is_joined(ev.id.as_ref()) {
                        self.join.add_pending_if_absent(
                            ev.id.as_ref(),
                            Pending {
                                predicted: p,
                                score,
                                ts_ms: now_ms,
                            },
                        );
                        if s.review.enabled {
                            self.consider_review(ev, &features.0, output.as_ref(), s);
                        }
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
                } else if s.detection == Detection::Streaming {
                    onsets.extend(self.add_streaming(&features.0, output.as_ref(), ev.ts, s));
                } else if self.streaming.take().is_some() {
                    // Switched to windows: the streaming state goes, this prediction opens them.
                    self.reset_window();
                    self.add_window(&features.0, output.as_ref());
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
                if self.history.due(self.predictions) {
                    self.history.note(history::Point {
                        ts_ms: now_ms,
                        predictions: self.predictions,
                        labelled: self.labelled,
                        errors: self.errors,
                        drifting: self.in_drift.values().filter(|d| **d).count() as u32,
                    });
                }
            }
            Body::Feedback { target, source } => {
                let label = match target {
                    Target::Label(l) => l.to_string(),
                    Target::Value(v) => v.to_string(),
                };
                self.review.count_source(source.as_deref(), now_ms);
                if self.join.is_joined(ev.id.as_ref()) {
                    self.join.duplicate_feedback += 1;
                    self.review
                        .second_label(ev.id.as_ref(), &label, source.as_deref());
                } else if let Some(p) = self.join.take_pending(ev.id.as_ref()) {
                    self.label_delays.push((now_ms - p.ts_ms).max(0));
                    self.on_label(&p.predicted, p.score, target, ev, s, &mut onsets);
                    self.mark_joined(ev.id.as_ref());
                    self.review
                        .labelled(ev.id.as_ref(), &label, source.as_deref());
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
    pub fn spill_joins_to(
        &mut self,
        dir: &std::path::Path,
        hot: usize,
    ) -> Result<(), join::SpillError> {
        self.join.spill_to(dir, hot)
    }
}

#[cfg(test)]
mod tests;

/// Features as a JSON object, in the event's order (for the review queue).
fn features_json(features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in features.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k.as_ref()).expect("a string serialises"));
        out.push(':');
        let v = match v {
            FeatureValue::Number(x) => serde_json::Number::from_f64(*x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            FeatureValue::Category(c) => serde_json::Value::String(c.to_string()),
            FeatureValue::Missing => serde_json::Value::Null,
        };
        out.push_str(&v.to_string());
    }
    out.push('}');
    out
}

/// What a model answered, as a JSON object (for the review queue).
fn output_json(output: Option<&PredictionOutput<'_>>) -> String {
    let v = match output {
        Some(PredictionOutput::Class {
            label,
            score,
            probabilities,
        }) => {
            let mut m = serde_json::Map::new();
            if let Some(l) = label {
                m.insert("label".into(), l.to_string().into());
            }
            if let Some(s) = score {
                m.insert("score".into(), (*s).into());
            }
            if !probabilities.is_empty() {
                let p: serde_json::Map<String, serde_json::Value> = probabilities
                    .iter()
                    .map(|(k, x)| (k.to_string(), (*x).into()))
                    .collect();
                m.insert("probabilities".into(), p.into());
            }
            serde_json::Value::Object(m)
        }
        Some(PredictionOutput::Value(x)) => serde_json::json!({ "value": x }),
        None => serde_json::json!({}),
    };
    v.to_string()
}
