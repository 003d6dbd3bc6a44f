//! Backtests: drift onsets reported by a replay, scored against ground truth (detection delay,
//! missed drifts, false alarms).
//!
//! The ground truth ([`Truth`]) is the `NAME.truth.json` format written by the shared benchmark
//! generator (`make_streams.py`) and by the project's own generator (`streams.rs`): a list of
//! drifts, each with its onset (`onset_index`, `onset_ts`), its type (abrupt or gradual), the
//! features whose distribution it changes (`features`, name → description) and whether it changes
//! the concept (`concept_changed`). Unknown fields are ignored.
//!
//! [`score`] attributes every [`Onset`] of the truth's model to at most one drift and reports, per
//! drift, whether and how fast it was detected, and, per *detection stream*, the false alarms. A
//! detection stream is `data:<feature>` for data onsets and the kind (`dataset`, `prediction`,
//! `concept`, `accuracy`) for the others.
//!
//! # Matching rules
//!
//! 1. **Model.** When the truth names a model (`model_id`), onsets of other models are ignored
//!    (counted in [`Summary::onsets_ignored`], neither matches nor false alarms).
//! 2. **Eligibility** — which drifts an onset can possibly match, by what it claims changed:
//!    - `data` (feature `f`): drifts whose `features` contain `f`;
//!    - `dataset`: drifts that change at least one feature (the dataset verdict is a share of
//!      drifted features, so it is only right when some feature did change);
//!    - `prediction`: drifts that change at least one feature. With the model fixed during a replay
//!      the predictions are a function of the features only, so their distribution moves when
//!      P(X) does and *cannot* move when only P(y|X) changes: a prediction onset on a pure concept
//!      drift is a false alarm. (Any feature change counts, even one the model may ignore: the truth
//!      does not say which features the model uses, so we give the monitor the benefit of the doubt.)
//!    - `concept`, `accuracy`: drifts with `concept_changed = true`. A covariate shift can in
//!      principle move accuracy when the model is wrong in the region the data moved to; the truth
//!      format cannot express that, so the rule follows `concept_changed`, and both generators make
//!      the deployed model the true concept so that a pure covariate shift leaves the error rate flat.
//!    - `label`: drifts that change a feature or the concept. The labels' distribution P(y) moves
//!      with P(X) (through P(y|X)) and with P(y|X); the truth does not say by how much, so either
//!      kind of change can explain a label onset, and a label onset on a stream without drift is a
//!      false alarm.
//! 3. **Time.** `event_index` counts the model's prediction events processed *including* the one
//!    that completed the evaluation, and the drift's first affected event has the 0-based index
//!    `onset_index`. An onset has therefore seen at least one drifted event exactly when
//!    `event_index > onset_index`, and this is what "at or after the onset" means here (for gradual
//!    drifts too, measured from `onset_index`, not from the centre). An onset is attributed to the
//!    **latest** eligible drift with `onset_index < event_index`, i.e. it matches a drift when it
//!    fires after that drift's onset and before the onset of the *next drift it is eligible for*.
//!    (A drift that cannot explain the onset does not close the window: in the categorical stream,
//!    a late `cat_0` detection after the unrelated `cat_1` drift still belongs to the `cat_0` drift.)
//! 4. **Result.** An onset with no eligible drift at all is a false alarm of reason
//!    [`FalseAlarmReason::Unaffected`] (e.g. an unaffected feature, or a concept onset on a stream
//!    whose concept never changes); one that fires before every eligible drift's onset is a false
//!    alarm of reason [`FalseAlarmReason::BeforeDrift`]. A matched onset is never a false alarm, even
//!    when the drift was already detected (a feature re-entering the drift state after a flicker is
//!    still right); it is counted in its drift's stream.
//! 5. **Delay.** A drift is detected when at least one onset matches it; its detection is the matching
//!    onset with the smallest `event_index` (ties: input order). The delay in events is
//!    `event_index - onset_index` (at least 1: the number of drifted events processed), in seconds
//!    the difference of the onset's `ts` and the drift's `onset_ts` (absent when either is missing or
//!    not RFC 3339). The same is reported per detection stream and, for drifts with a
//!    `center_index`, relative to the centre (may be negative).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::contract::event::parse_ts;
use crate::contract::onset::{Onset, OnsetKind};

// ---------------------------------------------------------------------------------------------
// Ground truth
// ---------------------------------------------------------------------------------------------

/// Ground truth of one benchmark stream (`NAME.truth.json`), as written by `make_streams.py` and by
/// `streams.rs`. Unknown fields are ignored; only `drifts` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The drifts, in onset order (an empty list: a stable stream).
    pub drifts: Vec<TruthDrift>,
    /// Statistics measured on the generated data between consecutive drift boundaries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<TruthSegment>,
    /// The stream's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The model the events are for; onsets of other models are ignored when scoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Number of prediction events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_events: Option<u64>,
    /// Number of feedback events (labels that arrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_feedback: Option<u64>,
    /// Event time of the first prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    /// Event time of the last prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    /// How feedback delays were drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_delay: Option<FeedbackDelay>,
    /// The file names of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<TruthFiles>,
    /// Which program generated the stream (our generator writes `driftd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// The generator's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Abrupt or gradual.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DriftType {
    /// Every event from `onset_index` on comes from the new distribution (the default).
    #[default]
    Abrupt,
    /// A transition between `onset_index` and `end_index` (a sigmoid mixture around
    /// `center_index`).
    Gradual,
}

/// One drift of the ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthDrift {
    /// 0-based index (among the model's prediction events) of the first affected event.
    pub onset_index: u64,
    /// Gradual drifts: the index where half of the events come from the new distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center_index: Option<u64>,
    /// Gradual drifts: the end of the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u64>,
    /// Abrupt or gradual (default abrupt).
    #[serde(rename = "type", default)]
    pub drift_type: DriftType,
    /// Free-form kind, e.g. `covariate`, `categorical`, `new_category`, `concept`.
    #[serde(default)]
    pub kind: String,
    /// Free text describing the change (SEA streams: `theta 8 -> 9`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Gradual drifts: how old and new distributions mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixing: Option<String>,
    /// The features whose distribution changes, with a description of the change. A list of names
    /// is accepted too (descriptions empty).
    #[serde(default, deserialize_with = "features_map_or_list")]
    pub features: BTreeMap<String, String>,
    /// Whether P(y | x) changes (only labels can reveal it).
    #[serde(default)]
    pub concept_changed: bool,
    /// Free text describing the concept change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concept_change: Option<String>,
    /// Event time of the event at `onset_index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_ts: Option<String>,
    /// Event time of the event at `center_index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center_ts: Option<String>,
    /// Event time of the event at `end_index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ts: Option<String>,
}

fn features_map_or_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum MapOrList {
        Map(BTreeMap<String, Option<String>>),
        List(Vec<String>),
    }
    Ok(match Option::<MapOrList>::deserialize(d)? {
        None => BTreeMap::new(),
        Some(MapOrList::Map(m)) => m
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect(),
        Some(MapOrList::List(l)) => l.into_iter().map(|k| (k, String::new())).collect(),
    })
}

/// Statistics of the events `[start_index, end_index)`, measured on the generated data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthSegment {
    /// First event of the segment.
    pub start_index: u64,
    /// One past the last event.
    pub end_index: u64,
    /// Event time of the first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ts: Option<String>,
    /// Share of predictions whose label differs from the true label (all events, labelled or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Share of true labels that are positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate: Option<f64>,
}

/// How feedback delays were drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackDelay {
    /// The distribution's name (`lognormal`).
    pub distribution: String,
    /// Median delay, seconds.
    pub median_s: f64,
    /// Log-scale standard deviation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// Share of labels that never arrive.
    pub missing_fraction: f64,
}

/// File names of a stream, relative to the truth file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthFiles {
    /// The prediction events.
    pub predictions: String,
    /// The feedback events.
    pub feedback: String,
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// A matching onset and its delay relative to a drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The onset.
    pub onset: Onset,
    /// `onset.event_index - drift.onset_index` (at least 1).
    pub delay_events: u64,
    /// `onset.ts - drift.onset_ts`, seconds (absent when a timestamp is missing or invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
    /// `onset.event_index - drift.center_index`, for drifts with a centre (may be negative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_from_center_events: Option<i64>,
}

/// The onsets of one detection stream that matched one drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDetection {
    /// The first of them.
    pub first: Detection,
    /// How many matched (repeats after flickers included).
    pub onsets: u64,
}

/// The outcome for one drift of the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftResult {
    /// Position in `truth.drifts`.
    pub drift: usize,
    /// The drift's onset index.
    pub onset_index: u64,
    /// The drift's onset time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_ts: Option<String>,
    /// Abrupt or gradual.
    #[serde(rename = "type")]
    pub drift_type: DriftType,
    /// The truth's kind.
    pub kind: String,
    /// Whether any onset matched.
    pub detected: bool,
    /// The first matching onset, over all detection streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Detection>,
    /// Per detection stream (`data:<feature>`, `dataset`, `prediction`, `concept`, `accuracy`).
    pub streams: BTreeMap<String, StreamDetection>,
    /// Affected features with no matching data onset.
    pub missed_features: Vec<String>,
}

/// Why an onset is a false alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FalseAlarmReason {
    /// No drift of the truth can explain this kind of onset (an unaffected feature, a concept onset
    /// where the concept never changes, a dataset or prediction onset where no feature changes).
    Unaffected,
    /// It fired before the onset of every drift that could explain it.
    BeforeDrift,
}

/// One false alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FalseAlarm {
    /// Its detection stream.
    pub stream: String,
    /// Why it is false.
    pub reason: FalseAlarmReason,
    /// The onset.
    pub onset: Onset,
}

/// Totals of a backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Drifts in the truth.
    pub drifts: u64,
    /// Drifts with at least one matching onset.
    pub detected: u64,
    /// Drifts with none.
    pub missed: u64,
    /// Onsets of the truth's model (the ones scored).
    pub onsets: u64,
    /// Onsets that matched a drift.
    pub onsets_matched: u64,
    /// Onsets of other models, not scored.
    pub onsets_ignored: u64,
    /// Onsets that matched no drift.
    pub false_alarms: u64,
    /// False alarms by onset kind (every kind present, zero included).
    pub false_alarms_by_kind: BTreeMap<OnsetKind, u64>,
    /// False alarms by detection stream (only streams with at least one).
    pub false_alarms_by_stream: BTreeMap<String, u64>,
    /// Mean detection delay of the detected drifts, events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_delay_events: Option<f64>,
    /// Largest detection delay, events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_events: Option<u64>,
    /// Mean detection delay, seconds (over detected drifts whose delay in seconds is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_delay_seconds: Option<f64>,
    /// Largest detection delay, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_seconds: Option<f64>,
}

/// The score of a replay's onsets against a truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// The model scored (`truth.model_id`; absent: every onset was scored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Totals.
    pub summary: Summary,
    /// One entry per drift of the truth, in the truth's order.
    pub drifts: Vec<DriftResult>,
    /// Every false alarm, in `event_index` order.
    pub false_alarms: Vec<FalseAlarm>,
}

/// The detection stream of an onset: `data:<feature>` for data onsets (`data` when the feature is
/// missing), else the kind's name.
pub fn stream_key(onset: &Onset) -> String {
    match (onset.kind, &onset.feature) {
        (OnsetKind::Data, Some(f)) => format!("data:{f}"),
        (OnsetKind::Data, None) => "data".to_owned(),
        (OnsetKind::Dataset, _) => "dataset".to_owned(),
        (OnsetKind::Prediction, _) => "prediction".to_owned(),
        (OnsetKind::Concept, _) => "concept".to_owned(),
        (OnsetKind::Accuracy, _) => "accuracy".to_owned(),
        (OnsetKind::Label, _) => "label".to_owned(),
    }
}

/// Whether `drift` can explain an onset of this kind (rule 2 of the module doc).
fn eligible(onset: &Onset, drift: &TruthDrift) -> bool {
    match onset.kind {
        OnsetKind::Data => onset
            .feature
            .as_ref()
            .is_some_and(|f| drift.features.contains_key(f)),
        OnsetKind::Dataset | OnsetKind::Prediction => !drift.features.is_empty(),
        OnsetKind::Concept | OnsetKind::Accuracy => drift.concept_changed,
        OnsetKind::Label => !drift.features.is_empty() || drift.concept_changed,
    }
}

fn detection(onset: &Onset, drift: &TruthDrift) -> Detection {
    let delay_seconds = match (
        parse_ts(&onset.ts),
        drift.onset_ts.as_deref().and_then(parse_ts),
    ) {
        (Some(a), Some(b)) => Some((a - b).num_milliseconds() as f64 / 1000.0),
        _ => None,
    };
    Detection {
        onset: onset.clone(),
        delay_events: onset.event_index - drift.onset_index,
        delay_seconds,
        delay_from_center_events: drift
            .center_index
            .map(|c| onset.event_index as i64 - c as i64),
    }
}

/// Scores `onsets` (in any order) against `truth` with the rules of the module doc.
pub fn score(onsets: &[Onset], truth: &Truth) -> BacktestReport {
    let mut order: Vec<&Onset> = onsets.iter().collect();
    // Stable: ties keep their input order.
    order.sort_by_key(|o| o.event_index);

    let mut results: Vec<DriftResult> = truth
        .drifts
        .iter()
        .enumerate()
        .map(|(i, d)| DriftResult {
            drift: i,
            onset_index: d.onset_index,
            onset_ts: d.onset_ts.clone(),
            drift_type: d.drift_type,
            kind: d.kind.clone(),
            detected: false,
            first: None,
            streams: BTreeMap::new(),
            missed_features: Vec::new(),
        })
        .collect();
    let mut false_alarms = Vec::new();
    let mut summary = Summary {
        drifts: truth.drifts.len() as u64,
        detected: 0,
        missed: 0,
        onsets: 0,
        onsets_matched: 0,
        onsets_ignored: 0,
        false_alarms: 0,
        false_alarms_by_kind: [
            OnsetKind::Data,
            OnsetKind::Dataset,
            OnsetKind::Prediction,
            OnsetKind::Concept,
            OnsetKind::Accuracy,
        ]
        .into_iter()
        .map(|k| (k, 0))
        .collect(),
        false_alarms_by_stream: BTreeMap::new(),
        mean_delay_events: None,
        max_delay_events: None,
        mean_delay_seconds: None,
        max_delay_seconds: None,
    };

    for onset in order {
        if truth.model_id.as_ref().is_some_and(|m| *m != onset.model) {
            summary.onsets_ignored += 1;
            continue;
        }
        summary.onsets += 1;
        let key = stream_key(onset);
        let mut any_eligible = false;
        let mut best: Option<usize> = None;
        for (i, d) in truth.drifts.iter().enumerate() {
            if !eligible(onset, d) {
                continue;
            }
            any_eligible = true;
            if d.onset_index < onset.event_index
                && best.is_none_or(|b| d.onset_index >= truth.drifts[b].onset_index)
            {
                best = Some(i);
            }
        }
        let Some(i) = best else {
            let reason = if any_eligible {
                FalseAlarmReason::BeforeDrift
            } else {
                FalseAlarmReason::Unaffected
            };
            summary.false_alarms += 1;
            *summary.false_alarms_by_kind.entry(onset.kind).or_default() += 1;
            *summary
                .false_alarms_by_stream
                .entry(key.clone())
                .or_default() += 1;
            false_alarms.push(FalseAlarm {
                stream: key,
                reason,
                onset: onset.clone(),
            });
            continue;
        };
        summary.onsets_matched += 1;
        let drift = &truth.drifts[i];
        let r = &mut results[i];
        if r.first.is_none() {
            r.detected = true;
            r.first = Some(detection(onset, drift));
        }
        r.streams
            .entry(key)
            .and_modify(|s| s.onsets += 1)
            .or_insert_with(|| StreamDetection {
                first: detection(onset, drift),
                onsets: 1,
            });
    }

    let mut delays = Vec::new();
    let mut delays_s = Vec::new();
    for (r, d) in results.iter_mut().zip(&truth.drifts) {
        r.missed_features = d
            .features
            .keys()
            .filter(|f| !r.streams.contains_key(&format!("data:{f}")))
            .cloned()
            .collect();
        match &r.first {
            Some(det) => {
                summary.detected += 1;
                delays.push(det.delay_events);
                delays_s.extend(det.delay_seconds);
            }
            None => summary.missed += 1,
        }
    }
    if !delays.is_empty() {
        summary.mean_delay_events =
            Some(delays.iter().map(|&d| d as f64).sum::<f64>() / delays.len() as f64);
        summary.max_delay_events = delays.iter().copied().max();
    }
    if !delays_s.is_empty() {
        summary.mean_delay_seconds = Some(delays_s.iter().sum::<f64>() / delays_s.len() as f64);
        summary.max_delay_seconds = delays_s.iter().copied().reduce(f64::max);
    }
    BacktestReport {
        model: truth.model_id.clone(),
        summary,
        drifts: results,
        false_alarms,
    }
}

#[cfg(test)]
mod tests;
