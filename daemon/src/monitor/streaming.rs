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

use std::collections::BTreeMap;

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

    /// The raw columns `a..=b`, in words: a range of values, or a category.
    fn name(&self, a: usize, b: usize) -> String {
        match self {
            Columns::Numeric(bins) => {
                let e = bins.edges();
                let lo = a.checked_sub(1).and_then(|i| e.get(i));
                match (lo, e.get(b)) {
                    (None, Some(hi)) => format!("< {}", short(*hi)),
                    (Some(lo), None) => format!("≥ {}", short(*lo)),
                    (Some(lo), Some(hi)) => format!("[{}, {})", short(*lo), short(*hi)),
                    (None, None) => "all values".into(),
                }
            }
            Columns::Categorical(c) if a == b => {
                c.get(a).cloned().unwrap_or_else(|| "(new)".into())
            }
            Columns::Categorical(_) => "rarer categories".into(),
        }
    }
}

fn short(x: f64) -> String {
    format!("{x:.4}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_owned()
}

fn category(categories: &[String], v: &str) -> usize {
    categories
        .binary_search_by(|c| c.as_str().cmp(v))
        .unwrap_or(categories.len())
}

/// One watched quantity: how its values map to columns, and its sliding test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Watched {
    columns: Columns,
    test: SlidingTest,
}

impl Watched {
    fn new(profile: &FeatureSummary, s: &SequentialSettings) -> Self {
        let (columns, counts) = Columns::of(profile);
        let test = match columns {
            Columns::Numeric(_) => SlidingTest::new(&counts, s),
            Columns::Categorical(_) => SlidingTest::new_unordered(&counts, s),
        };
        Watched { columns, test }
    }

    /// The column whose share moved most, in words: `"[0.84, 1.28) 31.0% (reference 10.0%)"`.
    fn describe_window(&self) -> String {
        let (reference, current, map) = self.test.columns_detail();
        let (nr, nc) = (
            reference.iter().sum::<u64>().max(1) as f64,
            current.iter().sum::<u64>().max(1) as f64,
        );
        let Some((col, _)) = reference
            .iter()
            .zip(&current)
            .enumerate()
            .map(|(i, (r, c))| (i, (*c as f64 / nc - *r as f64 / nr).abs()))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            return String::new();
        };
        let raws: Vec<usize> = (0..map.len()).filter(|&r| map[r] as usize == col).collect();
        let name = match (raws.first(), raws.last()) {
            (Some(&a), Some(&b)) => self.columns.name(a, b),
            _ => String::new(),
        };
        format!(
            "{name} {:.1}% (reference {:.1}%) · n {}",
            100.0 * current[col] as f64 / nc,
            100.0 * reference[col] as f64 / nr,
            self.test.len()
        )
    }
}

/// A model's streaming state: one sliding test per feature and one for the prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Streaming {
    settings: SequentialSettings,
    features: BTreeMap<String, Watched>,
    prediction: Option<Watched>,
    prediction_numeric: bool,
    /// Predictions since the last look.
    since_look: usize,
    /// Predictions in the window (up to `window_events`).
    filled: usize,
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
            prediction: p.prediction.as_ref().map(|v| Watched::new(v, s)),
            prediction_numeric: p.prediction_numeric,
            since_look: 0,
            filled: 0,
        }
    }

    /// Predictions in the sliding window.
    pub(super) fn len(&self) -> usize {
        self.filled
    }

    fn tests(&self) -> usize {
        self.features.len() + usize::from(self.prediction.is_some())
    }

    fn add(
        &mut self,
        features: &[(std::borrow::Cow<'_, str>, FeatureValue<'_>)],
        output: Option<&PredictionOutput<'_>>,
    ) -> bool {
        for (name, v) in features {
            let Some(w) = self.features.get_mut(name.as_ref()) else {
                continue; // not in the reference: not monitored
            };
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
    profile: &FeatureSummary,
    drift: bool,
) -> FeatureResult {
    FeatureResult {
        feature: name.to_owned(),
        test: TEST.into(),
        statistic: look.statistic,
        p_value: Some(look.p_value),
        drift,
        threshold: alpha,
        reference: describe(profile),
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
        let Some(p) = self.profiles.as_ref() else {
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
        let (Some(st), Some(p)) = (self.streaming.as_mut(), self.profiles.as_ref()) else {
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
                features.push(result(name, w, &look, alpha, profile, w.test.in_drift()));
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
        for f in &features {
            self.in_drift.insert(format!("data/{}", f.feature), f.drift);
        }
        if let Some((_, _, drift)) = &prediction {
            self.in_drift.insert("prediction".into(), *drift);
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
        let (st, p) = (self.streaming.as_ref()?, self.profiles.as_ref()?);
        let alpha = st.settings.alpha_look(st.tests());
        let mut features = Vec::new();
        for (name, w) in &st.features {
            if !w.test.is_full() {
                continue;
            }
            let look = w.test.look(alpha);
            if let Some(profile) = p.features.get(name) {
                let drift = w.test.state_after(&look);
                features.push(result(name, w, &look, alpha, profile, drift));
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
