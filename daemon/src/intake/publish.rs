//! What the pipeline tells Prometheus about its monitors: each monitor's state as gauges (each
//! onset is a [`crate::telemetry::events::DriftOnset`]).

use crate::contract::onset::OnsetKind;
use crate::monitor::ModelMonitor;
use crate::telemetry::metrics::Metrics;
use driftd_detectors::stream::DriftState;

/// Creates a model's onset counters at 0, so that its first onset is an increase Prometheus sees
/// (a counter's first sample never is).
pub fn init_onset_series(metrics: &Metrics, model: &str) {
    for kind in OnsetKind::ALL {
        metrics
            .drift_onsets
            .with_label_values(&[model, kind.as_str()]);
    }
    metrics.events_late.with_label_values(&[model]);
}

/// Publishes a monitor's state as gauges.
pub fn publish(metrics: &Metrics, model: &str, m: &ModelMonitor) {
    let (reference, current) = m.window_len();
    metrics
        .window_events
        .with_label_values(&[model, "reference"])
        .set(reference as i64);
    metrics
        .window_events
        .with_label_values(&[model, "current"])
        .set(current as i64);
    let (labelled, _) = m.labels();
    if m.predictions() > 0 {
        metrics
            .label_coverage
            .with_label_values(&[model])
            .set(labelled as f64 / m.predictions() as f64);
    }
    metrics
        .join_entries
        .with_label_values(&[model])
        .set(m.join().len() as i64);
    let ev = metrics.join_evictions.with_label_values(&[model]);
    ev.inc_by(m.join().evicted.saturating_sub(ev.get()));
    let un = metrics.feedback_unmatched.with_label_values(&[model]);
    un.inc_by(m.join().unmatched_feedback.saturating_sub(un.get()));
    let q = m.review();
    metrics
        .review_items
        .with_label_values(&[model])
        .set(q.len() as i64);
    if let Some(ms) = q.oldest_ms() {
        metrics
            .review_oldest
            .with_label_values(&[model])
            .set(ms as f64 / 1000.0);
    }
    for (source, n) in &q.sources {
        let c = metrics.labels_by_source.with_label_values(&[model, source]);
        c.inc_by(n.saturating_sub(c.get()));
    }
    for (outcome, n) in [("agree", q.agreed), ("disagree", q.disagreed)] {
        let c = metrics.label_agreement.with_label_values(&[model, outcome]);
        c.inc_by(n.saturating_sub(c.get()));
    }
    let evals = metrics.drift_evaluations.with_label_values(&[model]);
    evals.inc_by(m.evaluations.saturating_sub(evals.get()));
    let (detector, state) = m.concept_state();
    metrics
        .concept_drift_state
        .with_label_values(&[model, detector])
        .set(match state {
            DriftState::Stable => 0,
            DriftState::Warning => 1,
            DriftState::Drift => 2,
        });
    if let Some(w) = &m.last_window {
        for f in &w.features {
            metrics
                .drift_statistic
                .with_label_values(&[model, &f.feature, &f.test])
                .set(f.statistic);
            if let Some(p) = f.p_value {
                metrics
                    .drift_p_value
                    .with_label_values(&[model, &f.feature, &f.test])
                    .set(p);
            }
            metrics
                .feature_drift
                .with_label_values(&[model, &f.feature])
                .set(i64::from(f.drift));
        }
        metrics
            .dataset_drift_share
            .with_label_values(&[model])
            .set(w.share);
        metrics
            .dataset_drift
            .with_label_values(&[model])
            .set(i64::from(w.dataset_drift));
        if let Some((test, stat, drift)) = &w.prediction {
            metrics
                .prediction_drift_statistic
                .with_label_values(&[model, test])
                .set(*stat);
            metrics
                .prediction_drift
                .with_label_values(&[model])
                .set(i64::from(*drift));
        }
    }
    let perf = m.performance();
    if let Some(r) = &perf.last {
        let g = |k: &str, v: f64| {
            metrics
                .model_performance
                .with_label_values(&[model, k])
                .set(v)
        };
        g("accuracy", r.accuracy);
        g("macro_precision", r.macro_precision);
        g("macro_recall", r.macro_recall);
        g("macro_f1", r.macro_f1);
        if let Some(v) = r.roc_auc {
            g("roc_auc", v);
        }
        if let Some(v) = r.log_loss {
            g("log_loss", v);
        }
        if let Some(v) = r.brier {
            g("brier", v);
        }
        for (class, c) in &r.per_class {
            for (k, v) in [
                ("precision", c.precision),
                ("recall", c.recall),
                ("f1", c.f1),
                ("support", c.support as f64),
            ] {
                metrics
                    .class_performance
                    .with_label_values(&[model, class, k])
                    .set(v);
            }
        }
        // Every cell of the class × class grid, zeros included, so a cell that empties is not left
        // showing its last count.
        for actual in r.per_class.keys() {
            for predicted in r.per_class.keys() {
                let n = r
                    .confusion
                    .get(actual)
                    .and_then(|row| row.get(predicted))
                    .copied()
                    .unwrap_or(0);
                metrics
                    .confusion
                    .with_label_values(&[model, actual, predicted])
                    .set(n as i64);
            }
        }
    }
    if let Some(r) = &perf.last_reg {
        let g = |k: &str, v: f64| {
            metrics
                .model_performance
                .with_label_values(&[model, k])
                .set(v)
        };
        g("mae", r.mae);
        g("rmse", r.rmse);
        if let Some(v) = r.mape {
            g("mape", v);
        }
        if let Some(v) = r.r2 {
            g("r2", v);
        }
    }
}
