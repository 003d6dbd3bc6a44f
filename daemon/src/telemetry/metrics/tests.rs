//! Unit tests of the metric catalogue.

use super::*;

#[test]
fn every_exported_family_is_in_the_catalogue() {
    let m = Metrics::new();
    m.events_for("churn", EventKind::Prediction).inc();
    m.consumer_lag.with_label_values(&["t", "0"]).set(3);
    m.http_requests
        .with_label_values(&["/healthz", "200"])
        .inc();
    m.config_reloads.with_label_values(&["ok"]).inc();
    m.checkpoint_duration.observe(0.01);
    let (model, feature, test) = ("churn", "age", "ks");
    m.drift_statistic
        .with_label_values(&[model, feature, test])
        .set(0.1);
    m.drift_p_value
        .with_label_values(&[model, feature, test])
        .set(0.5);
    m.feature_drift.with_label_values(&[model, feature]).set(0);
    m.prediction_drift_statistic
        .with_label_values(&[model, test])
        .set(0.1);
    m.dataset_drift_share.with_label_values(&["churn"]).set(0.0);
    m.dataset_drift.with_label_values(&["churn"]).set(0);
    m.prediction_drift.with_label_values(&["churn"]).set(0);
    m.concept_drift_state
        .with_label_values(&["churn", "adwin"])
        .set(0);
    m.model_performance
        .with_label_values(&["churn", "accuracy"])
        .set(0.9);
    m.label_coverage.with_label_values(&["churn"]).set(0.5);
    m.label_delay.with_label_values(&["churn"]).observe(60.0);
    m.join_entries.with_label_values(&["churn"]).set(1);
    m.join_evictions.with_label_values(&["churn"]).inc();
    m.feedback_unmatched.with_label_values(&["churn"]).inc();
    m.window_events
        .with_label_values(&["churn", "current"])
        .set(1);
    m.drift_evaluations.with_label_values(&["churn"]).inc();
    m.drift_evaluation_duration.observe(0.001);
    m.drift_onsets.with_label_values(&["churn", "data"]).inc();
    m.events_late.with_label_values(&["churn"]).inc();
    m.class_performance
        .with_label_values(&["churn", "yes", "f1"])
        .set(0.8);
    m.confusion
        .with_label_values(&["churn", "yes", "no"])
        .set(3);
    m.alerts
        .with_label_values(&["FeatureDrift", "warning", "firing"])
        .set(1);
    m.notifications
        .with_label_values(&["oncall", "email", "sent"])
        .inc();
    m.notifications_queued.with_label_values(&["oncall"]).set(0);
    m.predict_requests.with_label_values(&["churn", "ok"]).inc();
    m.predict_duration.observe(0.001);
    m.serving_model_version.with_label_values(&["churn"]).set(2);
    m.model_swaps.with_label_values(&["churn"]).inc();
    m.retrains.with_label_values(&["churn", "candidate"]).inc();
    m.retrain_duration
        .with_label_values(&["churn", "candidate"])
        .observe(1.0);
    m.retrain_examples.with_label_values(&["churn"]).set(10);
    m.retrain_phase.with_label_values(&["churn"]).set(2);
    m.retrain_events
        .with_label_values(&["churn", "promoted"])
        .inc();
    m.shadow_pairs
        .with_label_values(&["churn", "candidate"])
        .set(5);
    m.review_items.with_label_values(&["churn"]).set(3);
    m.review_oldest.with_label_values(&["churn"]).set(1.0e9);
    m.labels_by_source
        .with_label_values(&["churn", "ana"])
        .inc();
    m.label_agreement
        .with_label_values(&["churn", "agree"])
        .inc();
    let text = m.render();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            Metrics::NAMES.contains(&name),
            "{name} missing from Metrics::NAMES"
        );
    }
    for name in Metrics::NAMES {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} is in the catalogue but not exported"
        );
    }
    assert!(text.contains(r#"driftd_events_total{kind="prediction",model="churn"} 1"#));
}
