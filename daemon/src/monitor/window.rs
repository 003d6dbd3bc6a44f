//! The feature half of a monitor: the reference buffer and its profiles, the current window's
//! panes, and the tests run when a window closes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use driftd_detectors::auto::FeatureVerdict;
use driftd_detectors::dataset::{self};
use driftd_detectors::summary::{
    CategoricalSummary, FeatureSummary, NumericSummary, SummarySettings,
};
use driftd_detectors::twosample::CategoryCounts;

use crate::contract::event::{FeatureValue, PredictionOutput};
use crate::contract::onset::{Onset, OnsetKind};

use super::{
    FeatureResult, ModelMonitor, MonitorSettings, Pane, Profiles, ReferenceBuffer, WindowResult,
    describe, fmt_ts, test_name,
};
use crate::monitor::join::Bounds;

impl ModelMonitor {
    pub(super) fn add_reference(
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
    pub(super) fn close_reference(&mut self, s: &MonitorSettings) {
        if let Some(buf) = self.reference.take() {
            self.reference_n = buf.n as u64;
            self.profiles.profiles = Some(build_profiles(buf, &s.summary));
            self.reference_id += 1;
            self.reset_window();
            self.window_start_ms = None;
        }
    }

    pub(super) fn reset_window(&mut self) {
        let p = self.profiles.profiles.as_ref().expect("profiles built");
        self.window = p
            .features
            .iter()
            .map(|(k, v)| (k.clone(), v.empty_window()))
            .collect();
        self.prediction_window = p.prediction.as_ref().map(FeatureSummary::empty_window);
        self.window_n = 0;
    }

    pub(super) fn add_window(
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
        let numeric = self
            .profiles
            .profiles
            .as_ref()
            .is_some_and(|p| p.prediction_numeric);
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
    pub(super) fn close_pane(&mut self, ts: DateTime<Utc>, s: &MonitorSettings) -> Vec<Onset> {
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
        if s.detection == super::Detection::Streaming {
            return self.peek_streaming(s);
        }
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
    pub(super) fn test_window(
        &self,
        s: &MonitorSettings,
    ) -> Option<(WindowResult, dataset::DatasetReport, Option<FeatureVerdict>)> {
        self.test_summaries(&self.window, self.prediction_window.as_ref(), s)
    }

    /// Tests window summaries (the open window, or a merge of panes) against the reference.
    pub(super) fn test_summaries(
        &self,
        window: &BTreeMap<String, FeatureSummary>,
        prediction_window: Option<&FeatureSummary>,
        s: &MonitorSettings,
    ) -> Option<(WindowResult, dataset::DatasetReport, Option<FeatureVerdict>)> {
        let p = self.profiles.profiles.as_ref()?;
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
    pub(super) fn onsets_of(
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
        onsets.extend(self.dataset_onset(&ts_s, report.share, report.dataset_drift, s));
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

    /// The dataset onset when the dataset *enters* drift (its state recorded either way).
    pub(super) fn dataset_onset(
        &mut self,
        ts: &str,
        share: f64,
        drift: bool,
        s: &MonitorSettings,
    ) -> Option<Onset> {
        self.edge("dataset", drift).then(|| Onset {
            ts: ts.to_owned(),
            model: self.model.clone(),
            kind: OnsetKind::Dataset,
            feature: None,
            test: "drift_share".into(),
            statistic: share,
            p_value: None,
            threshold: s.dataset.drift_share,
            event_index: self.predictions,
        })
    }

    /// Records the state of `key`; true when it *enters* drift.
    pub(super) fn edge(&mut self, key: &str, drift: bool) -> bool {
        let was = match self.in_drift.get_mut(key) {
            Some(state) => std::mem::replace(state, drift),
            None => {
                self.in_drift.insert(key.to_owned(), drift);
                false
            }
        };
        if was != drift {
            self.drift_changes += 1;
        }
        drift && !was
    }
}

/// The join store's bounds from the settings.
pub(super) fn bounds(s: &MonitorSettings) -> Bounds {
    Bounds {
        max: s.join_max_entries,
        dedupe: s.join_dedupe_entries,
        ttl_ms: (s.join_ttl_seconds as i64).saturating_mul(1000),
    }
}

/// The merge of panes' summaries (they share the reference's bins and categories, so merging is
/// exact for counts and within the sketch's error for quantiles).
pub(super) fn merge_panes<'a>(mut panes: impl Iterator<Item = &'a Pane>) -> Pane {
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

pub(super) fn build_profiles(buf: ReferenceBuffer, settings: &SummarySettings) -> Profiles {
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
