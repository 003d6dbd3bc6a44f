//! The label half of a monitor: each joined prediction and label feeds the performance windows,
//! their drop test and the concept detector on the error stream.

use driftd_detectors::performance::{Classification, Regression, accuracy_drop, error_increase};
use driftd_detectors::stream::{DetectorConfig, DriftState, StreamDetector};

use crate::contract::event::{Event, Target};
use crate::contract::onset::{Onset, OnsetKind};

use driftd_detectors::summary::{CategoricalSummary, FeatureSummary, NumericSummary};
use driftd_detectors::twosample::CategoryCounts;

use super::{ModelMonitor, MonitorSettings, Predicted, fmt_ts, test_name};

impl ModelMonitor {
    pub(super) fn on_label(
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
                match &mut self.perf.label_window {
                    Some(FeatureSummary::Categorical(c)) => c.update(Some(tl)),
                    Some(FeatureSummary::Numeric(_)) => {}
                    None if !self.perf.reference_done => {
                        self.perf.reference_labels.push(tl.to_string());
                    }
                    None => {}
                }
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
                match &mut self.perf.label_window {
                    Some(FeatureSummary::Numeric(n)) => n.update(*tv),
                    Some(FeatureSummary::Categorical(_)) => {}
                    None if !self.perf.reference_done => self.perf.reference_values.push(*tv),
                    None => {}
                }
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
    pub(super) fn performance_window(
        &mut self,
        ev: &Event<'_>,
        s: &MonitorSettings,
        onsets: &mut Vec<Onset>,
    ) {
        let perf = &mut self.perf;
        if !perf.reference_done {
            if perf.reference.len() + perf.reference_reg.len() >= s.accuracy_reference_labels {
                perf.reference_done = true;
                perf.label_profile = label_profile(
                    &std::mem::take(&mut perf.reference_labels),
                    &std::mem::take(&mut perf.reference_values),
                    s,
                );
                perf.label_window = perf
                    .label_profile
                    .as_ref()
                    .map(FeatureSummary::empty_window);
            }
            return;
        }
        if perf.current.len() + perf.current_reg.len() < s.accuracy_window_labels {
            return;
        }
        self.label_test(ev, s, onsets);
        let perf = &mut self.perf;
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

    /// Tests the current window's label distribution against the reference period's, like a
    /// feature (the automatic choice, with its effect-size floor), then starts a fresh window.
    fn label_test(&mut self, ev: &Event<'_>, s: &MonitorSettings, onsets: &mut Vec<Onset>) {
        let (Some(profile), Some(window)) = (&self.perf.label_profile, &self.perf.label_window)
        else {
            return;
        };
        let verdict = s.policy.evaluate_summaries(profile, window).ok();
        self.perf.label_window = Some(profile.empty_window());
        let Some(v) = verdict else { return };
        let Some(result) = v.outcome.verdict() else {
            return;
        };
        let (test, statistic, p_value, threshold) = (
            test_name(&v.outcome),
            result.statistic,
            result.p_value,
            result.threshold,
        );
        self.perf.last_label_test = Some((test.clone(), statistic, p_value, v.drift));
        if self.edge("label", v.drift) {
            onsets.push(Onset {
                ts: fmt_ts(ev.ts),
                model: self.model.clone(),
                kind: OnsetKind::Label,
                feature: None,
                test,
                statistic,
                p_value,
                threshold,
                event_index: self.predictions,
            });
        }
    }

    pub(super) fn score_onset(
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

    pub(super) fn concept_onset(&self, st: DriftState, ev: &Event<'_>, onsets: &mut Vec<Onset>) {
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
}

/// The reference period's label distribution: categories for classification, values for
/// regression (`None` without labels, or when the summary cannot be built).
fn label_profile(labels: &[String], values: &[f64], s: &MonitorSettings) -> Option<FeatureSummary> {
    if !labels.is_empty() {
        let mut counts = CategoryCounts::new();
        for l in labels {
            counts.add(l, 1);
        }
        CategoricalSummary::reference(&counts, &s.summary)
            .ok()
            .map(FeatureSummary::Categorical)
    } else if !values.is_empty() {
        NumericSummary::reference(values, &s.summary)
            .ok()
            .map(FeatureSummary::Numeric)
    } else {
        None
    }
}
