//! What a monitor shows people and alert rules: short summaries of a feature and the samples of
//! every quantity rules may watch.

use driftd_detectors::stream::DriftState;
use driftd_detectors::summary::FeatureSummary;

use crate::contract::sample::{Labels, Sample};

use super::{ModelMonitor, MonitorSettings};

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
        let window = match s.detection {
            super::Detection::Streaming => format!(
                "look {} at the last {} predictions",
                self.evaluations, s.streaming.window_events
            ),
            super::Detection::Windows => format!(
                "window {} of {} predictions",
                self.evaluations, s.window_events
            ),
        };
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
        if let Some((test, statistic, p_value, drift)) = &perf.last_label_test {
            let mut detail = vec![
                ("test", test.clone()),
                ("statistic", format!("{statistic:.4}")),
            ];
            detail.extend(p_value.map(|p| ("p_value", format!("{p:.3e}"))));
            push("label_drift", &[], f64::from(u8::from(*drift)), detail);
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
