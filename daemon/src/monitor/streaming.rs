//! Streaming drift detection (the default, `detection = "streaming"`): every feature and the
//! prediction in a sliding window of the last `[monitor.streaming] window_events` predictions,
//! tested against the reference every `look_every` predictions, the false-alarm rate bounded across
//! features and looks (the method, its justification and references:
//! [`driftd_detectors::sequential`]).
//!
//! Values map to the reference profile's columns (numeric: its reference-quantile bins, out-of-range
//! bins included; categorical: its categories and the other/new bucket), so the window is a ring of
//! column indices — a byte per value — and a look costs a G-test over a dozen columns per feature.
//! No sketch is updated per event in this mode.

use chrono::{DateTime, Utc};
use driftd_detectors::sequential::{Look, SequentialSettings, SlidingTest};
use driftd_detectors::summary::FeatureSummary;
use driftd_detectors::twosample::Bins;
use serde::{Deserialize, Serialize};

use crate::contract::event::{FeatureValue, PredictionOutput};
use crate::contract::onset::{Onset, OnsetKind};

use super::{
    FeatureResult, ModelMonitor, MonitorSettings, Profiles, WindowResult, describe, fmt_ts,
};

/// The share of `features` in drift (0 with none).
fn share_of(features: &[FeatureResult]) -> f64 {
    if features.is_empty() {
        return 0.0;
    }
    features.iter().filter(|f| f.drift).count() as f64 / features.len() as f64
}

/// The test name streaming onsets and results carry.
pub const TEST: &str = "g_test";

/// How a value finds its column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Columns {
    /// Reference-quantile bins.
    Numeric(Bins),
    /// Reference categories (sorted); the other/new bucket is the column after the last.
    Categorical(Vec<String>),
}

impl Columns {
    fn of(profile: &FeatureSummary) -> (Self, Vec<u64>) {
        match profile {
            FeatureSummary::Numeric(n) => (Columns::Numeric(n.bins().clone()), n.counts().to_vec()),
            FeatureSummary::Categorical(c) => (
                Columns::Categorical(c.categories().to_vec()),
                c.counts().to_vec(),
            ),
        }
    }

    fn number(&self, x: f64) -> Option<usize> {
        match self {
            Columns::Numeric(b) if x.is_finite() => Some(b.index(if x == 0.0 { 0.0 } else { x })),
            Columns::Numeric(_) => None,
            Columns::Categorical(c) => Some(category(c, &x.to_string())),
        }
    }

    fn text(&self, v: &str) -> Option<usize> {
        match self {
            Columns::Categorical(c) => Some(category(c, v)),
            Columns::Numeric(_) => None,
        }
    }

    /// Writes the raw columns `a..=b` in words to `out`: a range of values, or a category.
    fn name(&self, a: usize, b: usize, out: &mut String) {
        match self {
            Columns::Numeric(bins) => {
                let e = bins.edges();
                let lo = a.checked_sub(1).and_then(|i| e.get(i));
                match (lo, e.get(b)) {
                    (None, Some(hi)) => {
                        out.push_str("< ");
                        short(*hi, out);
                    }
                    (Some(lo), None) => {
                        out.push_str("≥ ");
                        short(*lo, out);
                    }
                    (Some(lo), Some(hi)) => {
                        out.push('[');
                        short(*lo, out);
                        out.push_str(", ");
                        short(*hi, out);
                        out.push(')');
                    }
                    (None, None) => out.push_str("all values"),
                }
            }
            Columns::Categorical(c) if a == b => {
                out.push_str(c.get(a).map_or("(new)", String::as_str));
            }
            Columns::Categorical(_) => out.push_str("rarer categories"),
        }
    }
}

/// Writes `x` to four decimals without trailing zeros (`0.84`, `12`) to `out` (a look describes
/// every feature's window, so this writes in place rather than through temporary strings).
fn short(x: f64, out: &mut String) {
    use std::fmt::Write as _;
    let start = out.len();
    let _ = write!(out, "{x:.4}");
    while out.len() > start && out.ends_with('0') {
        out.pop();
    }
    if out.len() > start && out.ends_with('.') {
        out.pop();
    }
}

fn category(categories: &[String], v: &str) -> usize {
    categories
        .binary_search_by(|c| c.as_str().cmp(v))
        .unwrap_or(categories.len())
}

/// A watched quantity's distribution: the reference's share of each pooled column against the
/// sliding window's, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// The feature (or `prediction`).
    pub feature: String,
    /// Numeric (columns are ranges) or categorical (columns are categories).
    pub numeric: bool,
    /// Each column in words: `[0.84, 1.28)`, or a category.
    pub columns: Vec<String>,
    /// The reference's share per column.
    pub reference: Vec<f64>,
    /// The window's share per column.
    pub current: Vec<f64>,
    /// Values in the window.
    pub n_current: u64,
}

/// One watched quantity: how its values map to columns, and its sliding test.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watched {
    columns: Columns,
    test: SlidingTest,
    /// The reference profile in words ([`describe`]), made once rather than at every look.
    #[serde(skip)]
    reference: Option<String>,
    /// Each pooled column in words (`[0.84, 1.28)`), made once rather than at every look: fixed
    /// precision float formatting was a tenth of a look's cost.
    #[serde(skip)]
    names: std::sync::OnceLock<Vec<String>>,
}

/// Equal when the states are (the caches aside).
impl PartialEq for Watched {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns && self.test == other.test
    }
}

impl Watched {
    fn new(profile: &FeatureSummary, s: &SequentialSettings) -> Self {
        let (columns, counts) = Columns::of(profile);
        let test = match columns {
            Columns::Numeric(_) => SlidingTest::new(&counts, s),
            Columns::Categorical(_) => SlidingTest::new_unordered(&counts, s),
        };
        Watched {
            columns,
            test,
            reference: None,
            names: std::sync::OnceLock::new(),
        }
    }

    /// Each pooled column in words, made once.
    fn column_names(&self) -> &[String] {
        let (_, current, map) = self.test.columns_ref();
        self.names.get_or_init(|| {
            (0..current.len())
                .map(|col| {
                    let mut out = String::new();
                    let first = map.iter().position(|&c| c as usize == col);
                    let last = map.iter().rposition(|&c| c as usize == col);
                    if let (Some(a), Some(b)) = (first, last) {
                        self.columns.name(a, b, &mut out);
                    }
                    out
                })
                .collect()
        })
    }

    /// The reference's and the window's shares per pooled column.
    fn distribution(&self, feature: &str) -> Distribution {
        let (reference, current, _) = self.test.columns_ref();
        let nr = reference.iter().sum::<u64>().max(1) as f64;
        let n_current: u64 = current.iter().map(|&c| u64::from(c)).sum();
        let nc = n_current.max(1) as f64;
        Distribution {
            feature: feature.to_owned(),
            numeric: matches!(self.columns, Columns::Numeric(_)),
            columns: self.column_names().to_vec(),
            reference: reference.iter().map(|&r| r as f64 / nr).collect(),
            current: current.iter().map(|&c| f64::from(c) / nc).collect(),
            n_current,
        }
    }

    /// The column whose share moved most, in words: `"[0.84, 1.28) 31.0% (reference 10.0%)"`.
    fn describe_window(&self) -> String {
        use std::fmt::Write as _;
        let (reference, current, _) = self.test.columns_ref();
        let (nr, nc) = (
            reference.iter().sum::<u64>().max(1) as f64,
            current.iter().map(|&c| u64::from(c)).sum::<u64>().max(1) as f64,
        );
        let Some((col, _)) = reference
            .iter()
            .zip(current)
            .enumerate()
            .map(|(i, (r, c))| (i, (f64::from(*c) / nc - *r as f64 / nr).abs()))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            return String::new();
        };
        let names = self.column_names();
        let mut out = String::with_capacity(64);
        out.push_str(names.get(col).map_or("", String::as_str));
        let _ = write!(
            out,
            " {:.1}% (reference {:.1}%) · n {}",
            100.0 * f64::from(current[col]) / nc,
            100.0 * reference[col] as f64 / nr,
            self.test.len()
        );
        out
    }
}

/// A model's streaming state: one sliding test per feature and one for the prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Streaming {
    settings: SequentialSettings,
    /// By name, sorted (serialised as a map).
    #[serde(with = "sorted_map")]
    features: Vec<(String, Watched)>,
    /// Where each position of the last event's feature list was found in `features` (`None`: not
    /// monitored): events of one model list their features in the same order, so a feature is
    /// found by one string comparison instead of a search by name.
    #[serde(skip)]
    slots: Vec<(String, Option<usize>)>,
    prediction: Option<Watched>,
    prediction_numeric: bool,
    /// Predictions since the last look.
    since_look: usize,
    /// Predictions in the window (up to `window_events`).
    filled: usize,
}

/// Equal when the states are (the slot cache aside).
impl PartialEq for Streaming {
    fn eq(&self, other: &Self) -> bool {
        let Streaming {
            settings,
            features,
            slots: _,
            prediction,
            prediction_numeric,
            since_look,
            filled,
        } = self;
        *settings == other.settings
            && *features == other.features
            && *prediction == other.prediction
            && *prediction_numeric == other.prediction_numeric
            && *since_look == other.since_look
            && *filled == other.filled
    }
}

impl Streaming {
    pub(super) fn new(p: &Profiles, s: &SequentialSettings) -> Self {
        Streaming {
            settings: s.clone(),
            features: p
                .features
                .iter()
                .map(|(k, v)| (k.clone(), Watched::new(v, s)))
                .collect(),
            slots: Vec::new(),
            prediction: p.prediction.as_ref().map(|v| Watched::new(v, s)),
            prediction_numeric: p.prediction_numeric,
            since_look: 0,
            filled: 0,
        }
    }

    /// Each feature's distribution (by name), then the prediction's (`prediction`).
    pub(super) fn distributions(&self) -> Vec<Distribution> {
        self.features
            .iter()
            .map(|(k, w)| w.distribution(k))
            .chain(
                self.prediction
                    .as_ref()
                    .map(|w| w.distribution("prediction")),
            )
            .collect()
    }

    /// The features in the drift state whose value in `features` falls in a column the sliding
    /// window over-represents (at least 1.5 times its reference share): the prediction sits in
    /// the region that moved.
    pub(super) fn drifting_region(
        &self,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
    ) -> Vec<String> {
        let mut out = Vec::new();
        // The common case, on every prediction: nothing in drift, nothing to look up.
        if !self.features.iter().any(|(_, w)| w.test.in_drift()) {
            return out;
        }
        for (name, v) in features {
            let Ok(slot) = self
                .features
                .binary_search_by(|(k, _)| k.as_str().cmp(name))
            else {
                continue;
            };
            let w = &self.features[slot].1;
            if !w.test.in_drift() {
                continue;
            }
            let raw = match v {
                FeatureValue::Number(x) => w.columns.number(*x),
                FeatureValue::Category(c) => w.columns.text(c),
                FeatureValue::Missing => None,
            };
            let (reference, current, map) = w.test.columns_ref();
            let Some(col) = raw.and_then(|r| map.get(r)).map(|c| *c as usize) else {
                continue;
            };
            let nr = reference.iter().sum::<u64>().max(1) as f64;
            let nc = current.iter().map(|&c| u64::from(c)).sum::<u64>().max(1) as f64;
            let (r, c) = (
                reference.get(col).copied().unwrap_or(0) as f64 / nr,
                current.get(col).copied().map_or(0.0, f64::from) / nc,
            );
            if c >= 1.5 * r && c > 0.0 {
                out.push(name.to_string());
            }
        }
        out
    }

    /// Predictions in the sliding window.
    pub(super) fn len(&self) -> usize {
        self.filled
    }

    fn tests(&self) -> usize {
        self.features.len() + usize::from(self.prediction.is_some())
    }

    /// The index in `features` of the feature named `name`, listed at position `i` of an event.
    fn slot(&mut self, i: usize, name: &str) -> Option<usize> {
        if let Some((cached, slot)) = self.slots.get(i)
            && cached == name
        {
            return *slot;
        }
        let slot = self
            .features
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, (String::new(), None));
        }
        self.slots[i] = (name.to_owned(), slot);
        slot
    }

    fn add(
        &mut self,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
        output: Option<&PredictionOutput<'_>>,
    ) -> bool {
        for (i, (name, v)) in features.iter().enumerate() {
            let Some(slot) = self.slot(i, name) else {
                continue; // not in the reference: not monitored
            };
            let w = &mut self.features[slot].1;
            let raw = match v {
                FeatureValue::Number(x) => w.columns.number(*x),
                FeatureValue::Category(c) => w.columns.text(c),
                FeatureValue::Missing => None,
            };
            if let Some(raw) = raw {
                w.test.push(raw);
            }
        }
        if let Some(w) = self.prediction.as_mut() {
            let raw = match (output, self.prediction_numeric) {
                (Some(PredictionOutput::Class { score: Some(x), .. }), true)
                | (Some(PredictionOutput::Value(x)), true) => w.columns.number(*x),
                (Some(PredictionOutput::Class { label: Some(l), .. }), false) => w.columns.text(l),
                _ => None,
            };
            if let Some(raw) = raw {
                w.test.push(raw);
            }
        }
        self.filled = (self.filled + 1).min(self.settings.window_events);
        self.since_look += 1;
        if self.filled >= self.settings.window_events && self.since_look >= self.settings.look_every
        {
            self.since_look = 0;
            return true;
        }
        false
    }
}

fn result(
    name: &str,
    w: &Watched,
    look: &Look,
    alpha: f64,
    reference: String,
    drift: bool,
) -> FeatureResult {
    FeatureResult {
        feature: name.to_owned(),
        test: TEST.into(),
        statistic: look.statistic,
        p_value: Some(look.p_value),
        drift,
        threshold: alpha,
        reference,
        current: w.describe_window(),
    }
}

impl ModelMonitor {
    /// Streaming mode: adds a prediction to the sliding windows and, when a look is due, tests them
    /// and returns the onsets.
    pub(super) fn add_streaming(
        &mut self,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
        output: Option<&PredictionOutput<'_>>,
        ts: DateTime<Utc>,
        s: &MonitorSettings,
    ) -> Vec<Onset> {
        let Some(p) = self.profiles.profiles.as_ref() else {
            return Vec::new();
        };
        if self
            .streaming
            .as_ref()
            .is_none_or(|st| st.settings != s.streaming)
        {
            // First use, a checkpoint from the windowed mode, or new settings: start the windows.
            self.streaming = Some(Streaming::new(p, &s.streaming));
        }
        let st = self.streaming.as_mut().expect("just set");
        if !st.add(features, output) {
            return Vec::new();
        }
        self.look(ts, s)
    }

    /// One look at every full window: moves the drift states and reports the onsets.
    fn look(&mut self, ts: DateTime<Utc>, s: &MonitorSettings) -> Vec<Onset> {
        let (Some(st), Some(p)) = (self.streaming.as_mut(), self.profiles.profiles.as_ref()) else {
            return Vec::new();
        };
        let alpha = st.settings.alpha_look(st.tests());
        let mut features = Vec::new();
        let mut entered = Vec::new();
        for (name, w) in st.features.iter_mut() {
            if !w.test.is_full() {
                continue; // a feature too often missing to fill its window yet
            }
            let (look, enter) = w.test.update_state(alpha);
            if let Some(profile) = p.features.get(name) {
                let reference = w.reference.get_or_insert_with(|| describe(profile)).clone();
                let drift = w.test.in_drift();
                features.push(result(name, w, &look, alpha, reference, drift));
            }
            if enter {
                entered.push((OnsetKind::Data, Some(name.clone()), look));
            }
        }
        let mut prediction = None;
        if let Some(w) = st.prediction.as_mut().filter(|w| w.test.is_full()) {
            let (look, enter) = w.test.update_state(alpha);
            prediction = Some((TEST.to_owned(), look.statistic, w.test.in_drift()));
            if enter {
                entered.push((OnsetKind::Prediction, None, look));
            }
        }
        let share = share_of(&features);
        let dataset_drift = !features.is_empty() && share >= s.dataset.drift_share;
        let mut key = String::new();
        for f in &features {
            key.clear();
            key.push_str("data/");
            key.push_str(&f.feature);
            self.edge(&key, f.drift);
        }
        if let Some((_, _, drift)) = &prediction {
            self.edge("prediction", *drift);
        }
        let ts_s = fmt_ts(ts);
        let onset = |(kind, feature, look): (OnsetKind, Option<String>, Look)| Onset {
            ts: ts_s.clone(),
            model: self.model.clone(),
            kind,
            feature,
            test: TEST.into(),
            statistic: look.statistic,
            p_value: Some(look.p_value),
            threshold: alpha,
            event_index: self.predictions,
        };
        // The windowed mode's order: features, the dataset, the prediction.
        let (predicted, data): (Vec<_>, Vec<_>) = entered
            .into_iter()
            .partition(|(kind, _, _)| *kind == OnsetKind::Prediction);
        let mut onsets: Vec<Onset> = data.into_iter().map(onset).collect();
        let predicted: Vec<Onset> = predicted.into_iter().map(onset).collect();
        onsets.extend(self.dataset_onset(&ts_s, share, dataset_drift, s));
        onsets.extend(predicted);
        self.evaluations += 1;
        self.last_share = share;
        self.last_window = Some(WindowResult {
            features,
            share,
            dataset_drift,
            prediction,
        });
        onsets
    }

    /// The streaming windows tested as of now, without changing any state (`None` before a window
    /// is full).
    pub(super) fn peek_streaming(&self, s: &MonitorSettings) -> Option<WindowResult> {
        let (st, p) = (self.streaming.as_ref()?, self.profiles.profiles.as_ref()?);
        let alpha = st.settings.alpha_look(st.tests());
        let mut features = Vec::new();
        for (name, w) in &st.features {
            if !w.test.is_full() {
                continue;
            }
            let look = w.test.look(alpha);
            if let Some(profile) = p.features.get(name) {
                let reference = w.reference.clone().unwrap_or_else(|| describe(profile));
                let drift = w.test.state_after(&look);
                features.push(result(name, w, &look, alpha, reference, drift));
            }
        }
        if features.is_empty() {
            return None;
        }
        let share = share_of(&features);
        let prediction = st
            .prediction
            .as_ref()
            .filter(|w| w.test.is_full())
            .map(|w| {
                let look = w.test.look(alpha);
                (TEST.to_owned(), look.statistic, w.test.state_after(&look))
            });
        Some(WindowResult {
            features,
            share,
            dataset_drift: share >= s.dataset.drift_share,
            prediction,
        })
    }
}

/// `Vec<(String, T)>` sorted by key, serialised as a map (the checkpoint's shape when it was a
/// `BTreeMap`).
mod sorted_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &[(String, T)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(k, t)| (k, t)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<(String, T)>, D::Error> {
        Ok(BTreeMap::<String, T>::deserialize(d)?.into_iter().collect())
    }
}
