//! The metric catalogue: every Prometheus metric driftd exports is declared here, once.
//!
//! Conventions: base units (`_seconds`, `_bytes`), `_total` for counters, and bounded labels only
//! (model, kind, reason, topic, partition, operation — never an event id). Dashboards and alert
//! rules may use only names from [`Metrics::NAMES`]; a test checks that.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::contract::event::{EventKind, RejectReason};

/// All metrics, registered in one registry. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    /// `driftd_events_total{model,kind}`: accepted events.
    pub events: IntCounterVec,
    /// `driftd_events_rejected_total{reason}`: rejected events.
    pub rejected: IntCounterVec,
    /// `driftd_events_duplicate_total`: redelivered events skipped because a checkpoint already
    /// holds their effect.
    pub duplicates: IntCounter,
    /// `driftd_dead_letter_total{outcome}`: rejected events written to the dead-letter topic or the
    /// rejects file (`written`, `failed`).
    pub dead_letter: IntCounterVec,
    /// `driftd_kafka_consumer_lag{topic,partition}`: messages behind the partition's high watermark.
    pub consumer_lag: IntGaugeVec,
    /// `driftd_source_up`: 1 when the event source is connected (a broker is up, or the file is open).
    pub source_up: IntGauge,
    /// `driftd_events_late_total{model}`: events that arrived after the watermark had passed them,
    /// applied at once out of event-time order (see `order.rs`).
    pub events_late: IntCounterVec,
    /// `driftd_order_forced_total`: events released before the watermark because the order
    /// buffer was full.
    pub order_forced: IntCounter,
    /// `driftd_order_buffered_events`: accepted events waiting for the watermark.
    pub order_buffered: IntGauge,
    /// `driftd_order_watermark_seconds`: the event-time watermark (Unix seconds; 0 while held).
    pub order_watermark: prometheus::Gauge,
    /// `driftd_order_paused_partitions`: partitions paused because they are far ahead.
    pub order_paused: IntGauge,
    /// `driftd_review_queue_items{model}`: predictions in the model's review queue.
    pub review_items: IntGaugeVec,
    /// `driftd_review_oldest_item_timestamp_seconds{model}`: event time of the oldest item in the
    /// review queue (`time() - …` is its age).
    pub review_oldest: GaugeVec,
    /// `driftd_labels_by_source_total{model,source}`: labels (feedback events) by who gave them
    /// (at most 32 sources per model, then `other`; none given: `unknown`).
    pub labels_by_source: IntCounterVec,
    /// `driftd_label_agreement_total{model,outcome}`: a reviewed prediction labelled again by
    /// another source, `agree` or `disagree` with the first label.
    pub label_agreement: IntCounterVec,
    /// `driftd_adapter_unpaired_total{side}`: halves of an inference (KServe, Open Inference
    /// Protocol) whose other half never came, turned into events alone (`request`, `response`).
    pub adapter_unpaired: IntCounterVec,
    /// `driftd_adapter_pending`: halves of inferences waiting for their other half.
    pub adapter_pending: IntGauge,
    /// `driftd_state_store_up`: 1 when the last state store operation succeeded.
    pub store_up: IntGauge,
    /// `driftd_state_store_errors_total{op}`: failed state store operations.
    pub store_errors: IntCounterVec,
    /// `driftd_checkpoints_total{outcome}`: checkpoint attempts (`ok`, `failed`, `deferred`).
    pub checkpoints: IntCounterVec,
    /// `driftd_checkpoint_duration_seconds`: time to write one checkpoint.
    pub checkpoint_duration: Histogram,
    /// `driftd_http_requests_total{route,status}`: HTTP requests served.
    pub http_requests: IntCounterVec,
    /// `driftd_feedback_http_items_total{outcome}`: feedback items posted over HTTP
    /// (`accepted`, `rejected`).
    pub feedback_http_items: IntCounterVec,
    /// `driftd_models`: models known to this instance.
    pub models: IntGauge,
    /// `driftd_ready`: 1 when `/readyz` would answer 200.
    pub ready: IntGauge,
    /// `driftd_config_reloads_total{outcome}`: SIGHUP reloads (`ok`, `failed`).
    pub config_reloads: IntCounterVec,
    /// `driftd_build_info{version}`: always 1.
    pub build_info: IntGaugeVec,
    /// `driftd_drift_statistic{model,feature,test}`: last window's test statistic per feature.
    pub drift_statistic: GaugeVec,
    /// `driftd_drift_p_value{model,feature,test}`: its p-value after correction (p-value tests).
    pub drift_p_value: GaugeVec,
    /// `driftd_feature_drift{model,feature}`: 1 while the feature is in the drift state.
    pub feature_drift: IntGaugeVec,
    /// `driftd_dataset_drift_share{model}`: share of drifted features in the last window.
    pub dataset_drift_share: GaugeVec,
    /// `driftd_dataset_drift{model}`: 1 while the share is at or above the dataset threshold.
    pub dataset_drift: IntGaugeVec,
    /// `driftd_prediction_drift_statistic{model,test}`: last window's test on the predictions.
    pub prediction_drift_statistic: GaugeVec,
    /// `driftd_prediction_drift{model}`: 1 while the predictions are in the drift state.
    pub prediction_drift: IntGaugeVec,
    /// `driftd_concept_drift_state{model,detector}`: 0 stable, 1 warning, 2 drift.
    pub concept_drift_state: IntGaugeVec,
    /// `driftd_model_performance{model,metric}`: last performance window (accuracy, macro_f1, …).
    pub model_performance: GaugeVec,
    /// `driftd_label_coverage_ratio{model}`: joined labels / predictions.
    pub label_coverage: GaugeVec,
    /// `driftd_label_delay_seconds{model}`: event time from prediction to its label.
    pub label_delay: HistogramVec,
    /// `driftd_join_store_entries{model}`: predictions waiting for a label.
    pub join_entries: IntGaugeVec,
    /// `driftd_join_store_evictions_total{model}`: predictions evicted unlabelled.
    pub join_evictions: IntCounterVec,
    /// `driftd_feedback_unmatched_total{model}`: feedback never matched (evicted while waiting).
    pub feedback_unmatched: IntCounterVec,
    /// `driftd_window_events{model,window}`: events in the `reference` or `current` window.
    pub window_events: IntGaugeVec,
    /// `driftd_drift_evaluations_total{model}`: windows evaluated.
    pub drift_evaluations: IntCounterVec,
    /// `driftd_drift_evaluation_duration_seconds`: time to evaluate one window.
    pub drift_evaluation_duration: Histogram,
    /// `driftd_drift_onsets_total{model,kind}`: quantities that entered the drift state.
    pub drift_onsets: IntCounterVec,
    /// `driftd_class_performance{model,class,metric}`: last performance window per class
    /// (`precision`, `recall`, `f1`, `support`; classes capped by the detectors crate).
    pub class_performance: GaugeVec,
    /// `driftd_confusion{model,actual,predicted}`: last performance window's confusion counts.
    pub confusion: IntGaugeVec,
    /// `driftd_alerts{rule,severity,state}`: alerts per rule in the `pending` or `firing` state
    /// (silenced and inhibited ones included; see `driftd_alerts_suppressed`).
    pub alerts: IntGaugeVec,
    /// `driftd_alerts_suppressed{reason}`: active alerts not notified (`silenced`, `inhibited`).
    pub alerts_suppressed: IntGaugeVec,
    /// `driftd_notifications_total{receiver,kind,outcome}`: delivery attempts of notifications
    /// (`sent`, `failed` = an attempt failed and will be retried, `dropped` = given up).
    pub notifications: IntCounterVec,
    /// `driftd_notifications_queued{receiver}`: notifications in the outbox, not yet delivered.
    pub notifications_queued: IntGaugeVec,
    /// `driftd_predict_requests_total{model,outcome}`: `driftd serve` prediction requests for a
    /// served model (`ok`, `invalid` = 400/413/422, `unauthorized` = 401, `forbidden` = 403,
    /// `limited` = 429, `unavailable` = 503).
    pub predict_requests: IntCounterVec,
    /// `driftd_predict_duration_seconds`: time to answer one prediction request (validation,
    /// prediction and event emission).
    pub predict_duration: Histogram,
    /// `driftd_serving_model_version{model}`: the version `driftd serve` answers with.
    pub serving_model_version: IntGaugeVec,
    /// `driftd_model_swaps_total{model}`: live-model hot swaps by `driftd serve`.
    pub model_swaps: IntCounterVec,
    /// `driftd_retrains_total{model,outcome}`: training jobs by outcome (`candidate` = passed the
    /// validation gate, `rejected` = failed it, `failed` = no model: too little data, fit error).
    pub retrains: IntCounterVec,
    /// `driftd_retrain_duration_seconds{model,outcome}`: a training job, data copy to registration.
    pub retrain_duration: HistogramVec,
    /// `driftd_retrain_examples{model}`: labelled examples the last training job used.
    pub retrain_examples: IntGaugeVec,
    /// `driftd_retrain_phase{model}`: 0 idle, 1 training, 2 shadow, 3 watch.
    pub retrain_phase: IntGaugeVec,
    /// `driftd_retrain_events_total{model,event}`: steps of the loop (triggered, trained,
    /// rejected, promoted, rolled_back, …).
    pub retrain_events: IntCounterVec,
    /// `driftd_shadow_pairs{model,kind}`: paired outcomes of the running shadow (`candidate`) or
    /// watch run.
    pub shadow_pairs: IntGaugeVec,
}

fn fgauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric definition");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn fgauge(r: &Registry, name: &str, help: &str) -> prometheus::Gauge {
    let g = prometheus::Gauge::new(name, help).expect("valid metric definition");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric definition");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    r.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

impl Metrics {
    /// Every metric name this catalogue exports (process metrics included), for tests of the
    /// dashboards and alert rules. Histograms appear with their base name.
    pub const NAMES: &'static [&'static str] = &[
        "driftd_events_total",
        "driftd_events_rejected_total",
        "driftd_events_duplicate_total",
        "driftd_dead_letter_total",
        "driftd_kafka_consumer_lag",
        "driftd_source_up",
        "driftd_events_late_total",
        "driftd_order_forced_total",
        "driftd_order_buffered_events",
        "driftd_order_watermark_seconds",
        "driftd_order_paused_partitions",
        "driftd_adapter_unpaired_total",
        "driftd_adapter_pending",
        "driftd_review_queue_items",
        "driftd_review_oldest_item_timestamp_seconds",
        "driftd_labels_by_source_total",
        "driftd_label_agreement_total",
        "driftd_state_store_up",
        "driftd_state_store_errors_total",
        "driftd_checkpoints_total",
        "driftd_checkpoint_duration_seconds",
        "driftd_http_requests_total",
        "driftd_feedback_http_items_total",
        "driftd_models",
        "driftd_ready",
        "driftd_config_reloads_total",
        "driftd_build_info",
        "driftd_drift_statistic",
        "driftd_drift_p_value",
        "driftd_feature_drift",
        "driftd_dataset_drift_share",
        "driftd_dataset_drift",
        "driftd_prediction_drift_statistic",
        "driftd_prediction_drift",
        "driftd_concept_drift_state",
        "driftd_model_performance",
        "driftd_label_coverage_ratio",
        "driftd_label_delay_seconds",
        "driftd_join_store_entries",
        "driftd_join_store_evictions_total",
        "driftd_feedback_unmatched_total",
        "driftd_window_events",
        "driftd_drift_evaluations_total",
        "driftd_drift_evaluation_duration_seconds",
        "driftd_drift_onsets_total",
        "driftd_class_performance",
        "driftd_confusion",
        "driftd_alerts",
        "driftd_alerts_suppressed",
        "driftd_notifications_total",
        "driftd_notifications_queued",
        "driftd_predict_requests_total",
        "driftd_predict_duration_seconds",
        "driftd_serving_model_version",
        "driftd_model_swaps_total",
        "driftd_retrains_total",
        "driftd_retrain_duration_seconds",
        "driftd_retrain_examples",
        "driftd_retrain_phase",
        "driftd_retrain_events_total",
        "driftd_shadow_pairs",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "process_max_fds",
        "process_virtual_memory_bytes",
        "process_threads",
    ];

    /// Creates and registers every metric in a fresh registry.
    pub fn new() -> Self {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process collector registered once");
        let checkpoint_duration = Histogram::with_opts(
            HistogramOpts::new(
                "driftd_checkpoint_duration_seconds",
                "Time to write one checkpoint to the state store.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid metric definition");
        r.register(Box::new(checkpoint_duration.clone()))
            .expect("metric registered once");
        let m = Metrics {
            events: counter_vec(
                &r,
                "driftd_events_total",
                "Accepted events.",
                &["model", "kind"],
            ),
            rejected: counter_vec(
                &r,
                "driftd_events_rejected_total",
                "Rejected events, by reason.",
                &["reason"],
            ),
            duplicates: counter(
                &r,
                "driftd_events_duplicate_total",
                "Redelivered events skipped because a checkpoint already holds their effect.",
            ),
            dead_letter: counter_vec(
                &r,
                "driftd_dead_letter_total",
                "Rejected events written to the dead-letter topic or rejects file.",
                &["outcome"],
            ),
            consumer_lag: gauge_vec(
                &r,
                "driftd_kafka_consumer_lag",
                "Messages between the consumer's position and the partition's high watermark.",
                &["topic", "partition"],
            ),
            events_late: counter_vec(
                &r,
                "driftd_events_late_total",
                "Events that arrived after the event-time watermark had passed them (applied at once, out of order).",
                &["model"],
            ),
            order_forced: counter(
                &r,
                "driftd_order_forced_total",
                "Events released before the watermark because the order buffer was full.",
            ),
            order_buffered: gauge(
                &r,
                "driftd_order_buffered_events",
                "Accepted events waiting for the event-time watermark.",
            ),
            order_watermark: fgauge(
                &r,
                "driftd_order_watermark_seconds",
                "The event-time watermark, Unix seconds (0 while a partition holds it back).",
            ),
            review_items: gauge_vec(
                &r,
                "driftd_review_queue_items",
                "Predictions in the model's review queue (most worth a human label).",
                &["model"],
            ),
            review_oldest: fgauge_vec(
                &r,
                "driftd_review_oldest_item_timestamp_seconds",
                "Event time of the oldest prediction in the model's review queue.",
                &["model"],
            ),
            labels_by_source: counter_vec(
                &r,
                "driftd_labels_by_source_total",
                "Labels (feedback events) by who gave them.",
                &["model", "source"],
            ),
            label_agreement: counter_vec(
                &r,
                "driftd_label_agreement_total",
                "A reviewed prediction labelled again by another source: agree or disagree.",
                &["model", "outcome"],
            ),
            adapter_unpaired: counter_vec(
                &r,
                "driftd_adapter_unpaired_total",
                "Halves of an inference whose other half never came, turned into events alone.",
                &["side"],
            ),
            adapter_pending: gauge(
                &r,
                "driftd_adapter_pending",
                "Halves of inferences waiting for their other half.",
            ),
            order_paused: gauge(
                &r,
                "driftd_order_paused_partitions",
                "Partitions paused because they are far ahead of the event-time watermark.",
            ),
            source_up: gauge(
                &r,
                "driftd_source_up",
                "1 when the event source is connected.",
            ),
            store_up: gauge(
                &r,
                "driftd_state_store_up",
                "1 when the last state store operation succeeded.",
            ),
            store_errors: counter_vec(
                &r,
                "driftd_state_store_errors_total",
                "Failed state store operations.",
                &["op"],
            ),
            checkpoints: counter_vec(
                &r,
                "driftd_checkpoints_total",
                "Checkpoint attempts by outcome.",
                &["outcome"],
            ),
            checkpoint_duration,
            http_requests: counter_vec(
                &r,
                "driftd_http_requests_total",
                "HTTP requests served.",
                &["route", "status"],
            ),
            feedback_http_items: counter_vec(
                &r,
                "driftd_feedback_http_items_total",
                "Feedback items posted over HTTP, by outcome.",
                &["outcome"],
            ),
            models: gauge(&r, "driftd_models", "Models known to this instance."),
            ready: gauge(&r, "driftd_ready", "1 when /readyz answers 200."),
            config_reloads: counter_vec(
                &r,
                "driftd_config_reloads_total",
                "Configuration reloads on SIGHUP.",
                &["outcome"],
            ),
            build_info: gauge_vec(
                &r,
                "driftd_build_info",
                "Build information; always 1.",
                &["version"],
            ),
            drift_statistic: fgauge_vec(
                &r,
                "driftd_drift_statistic",
                "Last window's drift test statistic per feature.",
                &["model", "feature", "test"],
            ),
            drift_p_value: fgauge_vec(
                &r,
                "driftd_drift_p_value",
                "Last window's drift p-value per feature, after correction.",
                &["model", "feature", "test"],
            ),
            feature_drift: gauge_vec(
                &r,
                "driftd_feature_drift",
                "1 while the feature is in the drift state.",
                &["model", "feature"],
            ),
            dataset_drift_share: fgauge_vec(
                &r,
                "driftd_dataset_drift_share",
                "Share of drifted features in the last window.",
                &["model"],
            ),
            dataset_drift: gauge_vec(
                &r,
                "driftd_dataset_drift",
                "1 while the share of drifted features is at or above the dataset threshold.",
                &["model"],
            ),
            prediction_drift_statistic: fgauge_vec(
                &r,
                "driftd_prediction_drift_statistic",
                "Last window's drift test statistic on the predictions.",
                &["model", "test"],
            ),
            prediction_drift: gauge_vec(
                &r,
                "driftd_prediction_drift",
                "1 while the predictions are in the drift state.",
                &["model"],
            ),
            concept_drift_state: gauge_vec(
                &r,
                "driftd_concept_drift_state",
                "Error-stream detector state: 0 stable, 1 warning, 2 drift.",
                &["model", "detector"],
            ),
            model_performance: fgauge_vec(
                &r,
                "driftd_model_performance",
                "Last performance window of joined labels, by metric.",
                &["model", "metric"],
            ),
            label_coverage: fgauge_vec(
                &r,
                "driftd_label_coverage_ratio",
                "Joined labels per prediction.",
                &["model"],
            ),
            label_delay: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "driftd_label_delay_seconds",
                        "Event time from a prediction to its label.",
                    )
                    .buckets(vec![
                        1.0,
                        10.0,
                        60.0,
                        300.0,
                        900.0,
                        3600.0,
                        4.0 * 3600.0,
                        86400.0,
                        7.0 * 86400.0,
                    ]),
                    &["model"],
                )
                .expect("valid metric definition");
                r.register(Box::new(h.clone()))
                    .expect("metric registered once");
                h
            },
            join_entries: gauge_vec(
                &r,
                "driftd_join_store_entries",
                "Predictions waiting for a label.",
                &["model"],
            ),
            join_evictions: counter_vec(
                &r,
                "driftd_join_store_evictions_total",
                "Predictions evicted from the join store unlabelled.",
                &["model"],
            ),
            feedback_unmatched: counter_vec(
                &r,
                "driftd_feedback_unmatched_total",
                "Feedback evicted before its prediction arrived.",
                &["model"],
            ),
            window_events: gauge_vec(
                &r,
                "driftd_window_events",
                "Predictions in the reference or current window.",
                &["model", "window"],
            ),
            drift_evaluations: counter_vec(
                &r,
                "driftd_drift_evaluations_total",
                "Windows evaluated.",
                &["model"],
            ),
            drift_evaluation_duration: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "driftd_drift_evaluation_duration_seconds",
                        "Time to evaluate one window.",
                    )
                    .buckets(vec![
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25,
                    ]),
                )
                .expect("valid metric definition");
                r.register(Box::new(h.clone()))
                    .expect("metric registered once");
                h
            },
            drift_onsets: counter_vec(
                &r,
                "driftd_drift_onsets_total",
                "Quantities that entered the drift state, by kind.",
                &["model", "kind"],
            ),
            class_performance: fgauge_vec(
                &r,
                "driftd_class_performance",
                "Last performance window per class: precision, recall, f1, support.",
                &["model", "class", "metric"],
            ),
            confusion: gauge_vec(
                &r,
                "driftd_confusion",
                "Last performance window's confusion counts (true class, predicted class).",
                &["model", "actual", "predicted"],
            ),
            alerts: gauge_vec(
                &r,
                "driftd_alerts",
                "Active alerts per rule and state (pending, firing).",
                &["rule", "severity", "state"],
            ),
            alerts_suppressed: gauge_vec(
                &r,
                "driftd_alerts_suppressed",
                "Active alerts not notified, by reason (silenced, inhibited).",
                &["reason"],
            ),
            notifications: counter_vec(
                &r,
                "driftd_notifications_total",
                "Notification delivery attempts, by receiver, kind and outcome (sent, failed, dropped).",
                &["receiver", "kind", "outcome"],
            ),
            notifications_queued: gauge_vec(
                &r,
                "driftd_notifications_queued",
                "Notifications waiting in the outbox.",
                &["receiver"],
            ),
            predict_requests: counter_vec(
                &r,
                "driftd_predict_requests_total",
                "Prediction requests of driftd serve for a served model, by outcome.",
                &["model", "outcome"],
            ),
            predict_duration: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "driftd_predict_duration_seconds",
                        "Time to answer one prediction request, event emission included.",
                    )
                    .buckets(vec![
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 1.0,
                    ]),
                )
                .expect("valid metric definition");
                r.register(Box::new(h.clone()))
                    .expect("metric registered once");
                h
            },
            serving_model_version: gauge_vec(
                &r,
                "driftd_serving_model_version",
                "The model version driftd serve answers with.",
                &["model"],
            ),
            model_swaps: counter_vec(
                &r,
                "driftd_model_swaps_total",
                "Live-model hot swaps by driftd serve.",
                &["model"],
            ),
            retrains: counter_vec(
                &r,
                "driftd_retrains_total",
                "Training jobs by outcome (candidate, rejected by the validation gate, failed).",
                &["model", "outcome"],
            ),
            retrain_duration: {
                let h = HistogramVec::new(
                    HistogramOpts::new(
                        "driftd_retrain_duration_seconds",
                        "Duration of a training job, from copying the data to registering the candidate.",
                    )
                    .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0]),
                    &["model", "outcome"],
                )
                .expect("valid metric definition");
                r.register(Box::new(h.clone()))
                    .expect("metric registered once");
                h
            },
            retrain_examples: gauge_vec(
                &r,
                "driftd_retrain_examples",
                "Labelled examples the last training job used.",
                &["model"],
            ),
            retrain_phase: gauge_vec(
                &r,
                "driftd_retrain_phase",
                "Where the retraining loop stands: 0 idle, 1 training, 2 shadow, 3 watch.",
                &["model"],
            ),
            retrain_events: counter_vec(
                &r,
                "driftd_retrain_events_total",
                "Steps of the retraining loop (triggered, trained, rejected, promoted, rolled_back, ...).",
                &["model", "event"],
            ),
            shadow_pairs: gauge_vec(
                &r,
                "driftd_shadow_pairs",
                "Paired outcomes of the running shadow (candidate) or watch run.",
                &["model", "kind"],
            ),
            registry: r,
        };
        // Pre-register series that dashboards expect to exist before the first occurrence.
        for reason in RejectReason::ALL {
            m.rejected.with_label_values(&[reason.as_str()]);
        }
        for outcome in ["written", "failed"] {
            m.dead_letter.with_label_values(&[outcome]);
        }
        for side in ["request", "response"] {
            m.adapter_unpaired.with_label_values(&[side]);
        }
        for outcome in ["ok", "failed", "deferred"] {
            m.checkpoints.with_label_values(&[outcome]);
        }
        for outcome in ["accepted", "rejected"] {
            m.feedback_http_items.with_label_values(&[outcome]);
        }
        for outcome in ["ok", "failed"] {
            m.config_reloads.with_label_values(&[outcome]);
        }
        for reason in ["silenced", "inhibited"] {
            m.alerts_suppressed.with_label_values(&[reason]);
        }
        for op in ["get", "put", "ping"] {
            m.store_errors.with_label_values(&[op]);
        }
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m
    }

    /// The counter of accepted events for one model and kind.
    pub fn events_for(&self, model: &str, kind: EventKind) -> IntCounter {
        self.events.with_label_values(&[model, kind.as_str()])
    }

    /// Accepted events per model (all kinds), and rejected events in all: what the alert task
    /// turns into event rates, staleness and the reject ratio.
    pub fn event_totals(&self) -> (std::collections::BTreeMap<String, u64>, u64) {
        let mut per_model = std::collections::BTreeMap::new();
        let mut rejected = 0u64;
        for family in self.registry.gather() {
            let name = family.name();
            if name != "driftd_events_total" && name != "driftd_events_rejected_total" {
                continue;
            }
            for m in family.get_metric() {
                let v = m.get_counter().get_value() as u64;
                if name == "driftd_events_rejected_total" {
                    rejected += v;
                } else if let Some(l) = m.get_label().iter().find(|l| l.name() == "model") {
                    *per_model.entry(l.value().to_owned()).or_insert(0) += v;
                }
            }
        }
        (per_model, rejected)
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(16 * 1024);
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
