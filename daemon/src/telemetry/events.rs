//! Internal events, in the manner of Vector's: each thing that happens inside driftd and is both
//! logged and counted is one type here, and its [`InternalEvent::emit`] writes the log line and
//! moves the metric together — so the two never drift apart, and [`Metrics`] stays the one
//! catalogue of metric names. Call sites say what happened (`StoreFailed { … }.emit(&metrics)`);
//! how it is reported lives here.

use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use crate::contract::onset::Onset;
use crate::telemetry::metrics::Metrics;

/// Something that happened, logged and counted in one place.
pub trait InternalEvent {
    /// Writes the log line and updates the metrics.
    fn emit(self, metrics: &Metrics);
}

/// The state store answered an operation.
pub struct StoreAnswered<'a> {
    /// `embedded` or `redis`.
    pub store: &'a str,
    /// Whether it answered the previous one too (only a change is logged).
    pub was_up: bool,
}

impl InternalEvent for StoreAnswered<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.store_up.set(1);
        if !self.was_up {
            tracing::info!(store = self.store, "state store is reachable");
        }
    }
}

/// An operation on the state store failed; driftd keeps its state in memory and retries.
pub struct StoreFailed<'a> {
    /// `embedded` or `redis`.
    pub store: &'a str,
    /// The operation (`get`, `put`, `ping`): the `op` label of `driftd_store_errors_total`.
    pub op: &'a str,
    /// Why.
    pub error: &'a dyn Display,
    /// Whether the store answered the previous operation (only a change is logged).
    pub was_up: bool,
}

impl InternalEvent for StoreFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.store_errors.with_label_values(&[self.op]).inc();
        metrics.store_up.set(0);
        if self.was_up {
            tracing::warn!(store = self.store, error = %self.error, "state store is unreachable; keeping state in memory and retrying");
        }
    }
}

/// Connecting to the state store at start failed; driftd is not ready until it answers.
pub struct StoreConnectFailed<'a> {
    /// Why.
    pub error: &'a dyn Display,
    /// When the next attempt comes.
    pub retry_in: Duration,
}

impl InternalEvent for StoreConnectFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.store_errors.with_label_values(&["ping"]).inc();
        tracing::warn!(error = %self.error, retry_in = ?self.retry_in, "Redis is unreachable; not ready until it answers");
    }
}

/// The Kafka brokers became reachable or unreachable (librdkafka reconnects by itself).
pub struct BrokersReachable {
    /// Whether a broker is up now.
    pub up: bool,
    /// Whether one was up before (only a change is logged).
    pub was_up: bool,
}

impl InternalEvent for BrokersReachable {
    fn emit(self, metrics: &Metrics) {
        metrics.source_up.set(i64::from(self.up));
        match (self.was_up, self.up) {
            (false, true) => tracing::info!("Kafka brokers reachable"),
            (true, false) => {
                tracing::warn!("Kafka brokers unreachable; librdkafka keeps reconnecting")
            }
            _ => {}
        }
    }
}

/// A monitor reported a drift onset.
pub struct DriftOnset<'a>(pub &'a Onset);

impl InternalEvent for DriftOnset<'_> {
    fn emit(self, metrics: &Metrics) {
        let o = self.0;
        metrics
            .drift_onsets
            .with_label_values(&[o.model.as_str(), o.kind.as_str()])
            .inc();
        tracing::warn!(
            model = %o.model,
            kind = o.kind.as_str(),
            feature = o.feature.as_deref().unwrap_or(""),
            test = %o.test,
            statistic = o.statistic,
            p_value = o.p_value,
            threshold = o.threshold,
            event_ts = %o.ts,
            "drift onset"
        );
    }
}

/// The broker acknowledged a rejected event's copy on the dead-letter topic.
pub struct DeadLetterWritten;

impl InternalEvent for DeadLetterWritten {
    fn emit(self, metrics: &Metrics) {
        metrics.dead_letter.with_label_values(&["written"]).inc();
    }
}

/// A rejected event's copy did not reach the dead-letter topic.
pub struct DeadLetterFailed<'a> {
    /// Where the event came from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Why (`None`: the delivery was cancelled).
    pub error: Option<&'a dyn Display>,
    /// Whether it failed before it was queued (else the broker did not acknowledge it).
    pub enqueue: bool,
}

impl InternalEvent for DeadLetterFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.dead_letter.with_label_values(&["failed"]).inc();
        let (topic, partition, offset) = (self.topic, self.partition, self.offset);
        match (self.error, self.enqueue) {
            (Some(e), true) => {
                tracing::error!(error = %e, topic, partition, offset, "cannot enqueue the dead-letter record")
            }
            (Some(e), false) => {
                tracing::error!(error = %e, topic, partition, offset, "dead-letter write failed")
            }
            (None, _) => tracing::error!(topic, partition, offset, "dead-letter write cancelled"),
        }
    }
}

/// SIGHUP re-read the configuration file.
pub struct ConfigReloaded<'a> {
    /// The file.
    pub path: &'a Path,
    /// `Err` with every problem when the file is invalid (the running configuration stays).
    pub result: Result<(), &'a dyn Display>,
}

impl InternalEvent for ConfigReloaded<'_> {
    fn emit(self, metrics: &Metrics) {
        let path = self.path.display();
        match self.result {
            Ok(()) => {
                metrics.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(%path, "SIGHUP: reloaded log.level, http tokens, [models] and [events] model rules, [alerting]; other changes need a restart");
            }
            Err(errors) => {
                metrics.config_reloads.with_label_values(&["failed"]).inc();
                tracing::error!(%path, errors = %errors, "SIGHUP: configuration is invalid; keeping the running one");
            }
        }
    }
}

/// `driftd serve` loaded a model's live version (at start, or swapped after a promotion).
pub struct LiveModelLoaded<'a> {
    /// The model.
    pub model: &'a str,
    /// The version served before (`None` at start).
    pub from: Option<u64>,
    /// The version served now.
    pub to: u64,
}

impl InternalEvent for LiveModelLoaded<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .serving_model_version
            .with_label_values(&[self.model])
            .set(i64::try_from(self.to).unwrap_or(i64::MAX));
        match self.from {
            Some(from) => {
                metrics.model_swaps.with_label_values(&[self.model]).inc();
                tracing::info!(model = self.model, from, to = self.to, "live model swapped");
            }
            None => tracing::info!(model = self.model, version = self.to, "live model loaded"),
        }
    }
}

/// How one delivery attempt of a notification ended.
pub enum Delivery<'a> {
    /// The receiver took it.
    Sent,
    /// A temporary failure (connection, timeout, 5xx): retried.
    Transient(&'a dyn Display),
    /// The receiver refused it (authentication, 4xx): retried, but an operator must act.
    Refused(&'a dyn Display),
    /// It can never be delivered as it is: dropped.
    Permanent(&'a dyn Display),
}

/// One delivery attempt of an alert notification.
pub struct NotificationAttempted<'a> {
    /// The receiver's name.
    pub receiver: &'a str,
    /// The sink kind (`email`, `webhook`, `log`, or `unknown` for a receiver removed by a reload).
    pub kind: &'a str,
    /// The notification's id.
    pub id: &'a str,
    /// How it ended.
    pub delivery: Delivery<'a>,
}

impl InternalEvent for NotificationAttempted<'_> {
    fn emit(self, metrics: &Metrics) {
        let (receiver, kind, notification_id) = (self.receiver, self.kind, self.id);
        let outcome = match self.delivery {
            Delivery::Sent => "sent",
            Delivery::Transient(_) | Delivery::Refused(_) => "failed",
            Delivery::Permanent(_) => "dropped",
        };
        metrics
            .notifications
            .with_label_values(&[receiver, kind, outcome])
            .inc();
        match self.delivery {
            Delivery::Sent => tracing::info!(receiver, kind, notification_id, "notification sent"),
            Delivery::Transient(e) => tracing::warn!(
                receiver, kind, notification_id, error = %e,
                "notification delivery failed; will retry"
            ),
            Delivery::Refused(e) => tracing::error!(
                receiver, kind, notification_id, error = %e,
                "notification refused; will retry, but this needs an operator"
            ),
            Delivery::Permanent(e) => tracing::error!(
                receiver, kind, notification_id, error = %e,
                "notification dropped: the receiver refuses it as it is"
            ),
        }
    }
}

/// A notification given up on after retrying for `give_up_after`.
pub struct NotificationDropped<'a> {
    /// The receiver's name.
    pub receiver: &'a str,
    /// The sink kind.
    pub kind: &'a str,
    /// The notification's id.
    pub id: &'a str,
    /// Its group key.
    pub group: &'a str,
    /// Its subject line.
    pub subject: &'a str,
    /// Attempts made.
    pub attempts: u32,
    /// How long delivery was retried.
    pub give_up_after: Duration,
    /// The last error.
    pub error: &'a dyn Display,
}

impl InternalEvent for NotificationDropped<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics
            .notifications
            .with_label_values(&[self.receiver, self.kind, "dropped"])
            .inc();
        tracing::error!(
            receiver = self.receiver,
            kind = self.kind,
            notification_id = self.id,
            group = self.group,
            attempts = self.attempts,
            give_up_after = %humantime_serde::re::humantime::format_duration(self.give_up_after),
            error = %self.error,
            subject = self.subject,
            "notification dropped: delivery kept failing"
        );
    }
}
