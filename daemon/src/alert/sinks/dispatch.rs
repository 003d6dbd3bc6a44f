//! The [`Dispatcher`]: sends a notification to its receiver (email, webhook or log), counts the
//! outcome in `driftd_notifications_total{receiver,kind,outcome}` and logs it; with
//! [`Dispatcher::deliver_queued`] it also keeps the [`Outbox`] and
//! `driftd_notifications_queued{receiver}` up to date.
//!
//! Outcomes counted: `sent` (accepted by the relay or webhook, or logged), `failed` (an attempt
//! failed and the notification stays queued), `dropped` (a notification given up: a permanent
//! error, or `give_up_after` reached; the attempt before a give-up is also counted as `failed`).
//! So `sent + dropped` counts notifications that left the outbox, and `failed` counts retries.
//!
//! Logging: a transient failure at warn level; a failure that needs an operator (bad SMTP
//! credentials, a refused sender, TLS) and every drop at error level. Secrets never appear: the
//! sinks hold resolved secrets only inside `secrecy` types and errors name users and hosts only.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::config::{DeliveryConfig, ReceiverConfig, SmtpConfig};
use super::email::{EmailSink, SmtpRelay};
pub use super::error::{DeliveryError, ErrorKind, SinkSetupError};
use super::outbox::{FailOutcome, Outbox};
use super::render;
use super::webhook::WebhookSink;
use crate::alert::{Notification, Status};
use crate::telemetry::events::{
    Delivery, InternalEvent as _, NotificationAttempted, NotificationDropped,
};
use crate::telemetry::metrics::Metrics;

/// What [`Dispatcher::deliver_queued`] did with a queued notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Delivered and removed from the outbox.
    Sent,
    /// Failed; it stays queued until `next_attempt_at`.
    Retry {
        /// The error of this attempt.
        error: DeliveryError,
        /// When it is due again.
        next_attempt_at: DateTime<Utc>,
    },
    /// Removed from the outbox without delivery (permanent error or `give_up_after` reached).
    Dropped {
        /// Why.
        reason: String,
    },
    /// No notification with this id is queued.
    NotQueued,
}

/// One receiver, ready to send.
enum Sink {
    Email(EmailSink),
    Webhook(WebhookSink),
    Log,
}

impl Sink {
    fn kind(&self) -> &'static str {
        match self {
            Sink::Email(_) => "email",
            Sink::Webhook(_) => "webhook",
            Sink::Log => "log",
        }
    }
}

/// Delivers notifications to the configured receivers. Built once per configuration (and again
/// on reload): secrets are resolved and the SMTP transport is built here, connections are made
/// per delivery.
pub struct Dispatcher {
    sinks: BTreeMap<String, Sink>,
    relay: Option<SmtpRelay>,
    dashboard_url: Option<String>,
    metrics: Arc<Metrics>,
}

impl Dispatcher {
    /// Builds every receiver. Fails, naming the receiver, on what [`super::validate`] reports
    /// (an email receiver without `smtp`, a bad address or URL, an unresolvable secret).
    pub fn new(
        receivers: &BTreeMap<String, ReceiverConfig>,
        smtp: Option<&SmtpConfig>,
        dashboard_url: Option<&str>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, SinkSetupError> {
        let relay = smtp
            .map(SmtpRelay::new)
            .transpose()
            .map_err(|e| e.at("alerting.smtp"))?;
        let mut sinks = BTreeMap::new();
        for (name, cfg) in receivers {
            let sink = match cfg {
                ReceiverConfig::Email(e) => {
                    if relay.is_none() {
                        Err(SinkSetupError::NoSmtp)
                    } else {
                        EmailSink::new(e).map(Sink::Email)
                    }
                }
                ReceiverConfig::Webhook(w) => WebhookSink::new(w).map(Sink::Webhook),
                ReceiverConfig::Log(_) => Ok(Sink::Log),
            }
            .map_err(|e| e.at(format!("alerting.receivers.{name}")))?;
            // Pre-create the series so dashboards show zeros before the first notification.
            for outcome in ["sent", "failed", "dropped"] {
                metrics
                    .notifications
                    .with_label_values(&[name.as_str(), sink.kind(), outcome]);
            }
            metrics
                .notifications_queued
                .with_label_values(&[name.as_str()]);
            sinks.insert(name.clone(), sink);
        }
        Ok(Dispatcher {
            sinks,
            relay,
            dashboard_url: dashboard_url
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            metrics,
        })
    }

    /// The configured receivers' names.
    pub fn receivers(&self) -> impl Iterator<Item = &str> {
        self.sinks.keys().map(String::as_str)
    }

    /// `host:port` of the SMTP relay, if one is configured.
    pub fn smtp_endpoint(&self) -> Option<&str> {
        self.relay.as_ref().map(SmtpRelay::endpoint)
    }

    /// Sends one notification to its receiver; counts and logs the outcome (see the module doc).
    /// A notification for a receiver that is not configured (removed by a reload) is a
    /// permanent error.
    pub async fn deliver(&self, n: &Notification) -> Result<(), DeliveryError> {
        let (kind, result) = match self.sinks.get(&n.receiver) {
            None => (
                "unknown",
                Err(DeliveryError::permanent(format!(
                    "receiver `{}` is not configured (any more)",
                    n.receiver
                ))),
            ),
            Some(sink) => (sink.kind(), self.send(sink, n).await),
        };
        NotificationAttempted {
            receiver: &n.receiver,
            kind,
            id: &n.id,
            delivery: match &result {
                Ok(()) => Delivery::Sent,
                Err(e) => match e.kind {
                    ErrorKind::Transient => Delivery::Transient(e),
                    ErrorKind::Rejected => Delivery::Refused(e),
                    ErrorKind::Permanent => Delivery::Permanent(e),
                },
            },
        }
        .emit(&self.metrics);
        result
    }

    /// Attempts the queued notification `id` at `now` and records the outcome in the outbox
    /// ([`Dispatcher::deliver`] then [`Dispatcher::settle`]). The caller stores the outbox
    /// afterwards (see the parent module's delivery guarantee).
    pub async fn deliver_queued(
        &self,
        outbox: &mut Outbox,
        id: &str,
        now: DateTime<Utc>,
        delivery: &DeliveryConfig,
    ) -> Attempt {
        let Some(n) = outbox.get(id).map(|q| q.notification.clone()) else {
            return Attempt::NotQueued;
        };
        let result = self.deliver(&n).await;
        self.settle(outbox, id, result, now, delivery)
    }

    /// Records the result of [`Dispatcher::deliver`] for the queued notification `id` (for callers
    /// that deliver concurrently, off the task that owns the outbox): removed when sent or
    /// permanently refused, rescheduled on a retryable error, dropped once it has failed for
    /// `give_up_after` (counted as `dropped` and logged at error level here). Updates the queue
    /// gauge.
    pub fn settle(
        &self,
        outbox: &mut Outbox,
        id: &str,
        result: Result<(), DeliveryError>,
        now: DateTime<Utc>,
        delivery: &DeliveryConfig,
    ) -> Attempt {
        let attempt = match result {
            Ok(()) => {
                if outbox.sent(id) {
                    Attempt::Sent
                } else {
                    Attempt::NotQueued
                }
            }
            Err(e) if !e.is_retryable() => match outbox.remove(id) {
                Some(_) => Attempt::Dropped { reason: e.message },
                None => Attempt::NotQueued,
            },
            Err(e) => match outbox.failed(id, now, &e.message, delivery) {
                FailOutcome::Retry {
                    next_attempt_at, ..
                } => Attempt::Retry {
                    error: e,
                    next_attempt_at,
                },
                FailOutcome::GaveUp(q) => {
                    self.give_up(&q.notification, q.attempts, &e, delivery);
                    Attempt::Dropped {
                        reason: format!(
                            "still failing after {} ({} attempts): {}",
                            humantime_serde::re::humantime::format_duration(delivery.give_up_after),
                            q.attempts,
                            e.message
                        ),
                    }
                }
                FailOutcome::NotQueued => Attempt::NotQueued,
            },
        };
        self.record_queue(outbox);
        attempt
    }

    /// Sets `driftd_notifications_queued{receiver}` from the outbox (0 for idle receivers).
    pub fn record_queue(&self, outbox: &Outbox) {
        let counts = outbox.len_by_receiver();
        for name in self.sinks.keys().chain(counts.keys()) {
            let k = counts.get(name).copied().unwrap_or(0);
            self.metrics
                .notifications_queued
                .with_label_values(&[name.as_str()])
                .set(i64::try_from(k).unwrap_or(i64::MAX));
        }
    }

    async fn send(&self, sink: &Sink, n: &Notification) -> Result<(), DeliveryError> {
        let dashboard = self.dashboard_url.as_deref();
        match sink {
            Sink::Email(e) => match &self.relay {
                Some(relay) => e.send(relay, n, dashboard).await,
                None => Err(DeliveryError::permanent("no SMTP relay is configured")),
            },
            Sink::Webhook(w) => w.send(n, dashboard).await,
            Sink::Log => {
                log_notification(n, dashboard);
                Ok(())
            }
        }
    }

    fn give_up(&self, n: &Notification, attempts: u32, e: &DeliveryError, d: &DeliveryConfig) {
        let kind = self.sinks.get(&n.receiver).map_or("unknown", Sink::kind);
        NotificationDropped {
            receiver: &n.receiver,
            kind,
            id: &n.id,
            group: &n.group_key,
            subject: &render::subject(n, ""),
            attempts,
            give_up_after: d.give_up_after,
            error: e,
        }
        .emit(&self.metrics);
    }
}

/// The log sink: one warn-level event per notification, with the subject as message and the
/// alerts in one field (`FeatureDrift{feature=age} 0.31 > 0.2; …`).
fn log_notification(n: &Notification, dashboard_url: Option<&str>) {
    let firing = n
        .alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .count();
    let alerts: Vec<String> = n
        .alerts
        .iter()
        .map(|a| {
            let labels: Vec<String> = a
                .labels
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity" | "model"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let status = match a.status {
                Status::Firing => "",
                Status::Resolved => " resolved",
            };
            format!(
                "{}{{{}}} {} {}{status}",
                a.labels.get("alertname").unwrap_or(&a.rule),
                labels.join(","),
                render::number(a.value),
                a.condition
            )
        })
        .collect();
    let dashboard = render::dashboard_for(n, dashboard_url);
    tracing::warn!(
        receiver = %n.receiver,
        notification_id = %n.id,
        status = match n.status { Status::Firing => "firing", Status::Resolved => "resolved" },
        group = %n.group_key,
        firing,
        resolved = n.alerts.len() - firing,
        alerts = %alerts.join("; "),
        actions = %n.actions.join("; "),
        dashboard = dashboard.as_deref().unwrap_or(""),
        "{}",
        render::subject(n, "")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sinks::config::{LogReceiver, WebhookReceiver};
    use crate::alert::sinks::render::tests::{alert, notification, t};

    fn receivers() -> BTreeMap<String, ReceiverConfig> {
        BTreeMap::from([
            ("journal".to_owned(), ReceiverConfig::Log(LogReceiver {})),
            (
                "hook".to_owned(),
                ReceiverConfig::Webhook(WebhookReceiver {
                    // Port 9 (discard) on loopback: nothing listens, so connecting is refused.
                    url: "http://127.0.0.1:9/hook".into(),
                    timeout: std::time::Duration::from_secs(2),
                    bearer_token: None,
                    format: Default::default(),
                }),
            ),
        ])
    }

    fn counter(m: &Metrics, receiver: &str, kind: &str, outcome: &str) -> u64 {
        m.notifications
            .with_label_values(&[receiver, kind, outcome])
            .get()
    }

    #[tokio::test]
    async fn log_sink_sends_and_counts() {
        let metrics = Arc::new(Metrics::new());
        let d = Dispatcher::new(&receivers(), None, None, metrics.clone()).unwrap();
        let mut n = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.3)],
        );
        n.receiver = "journal".into();
        d.deliver(&n).await.unwrap();
        assert_eq!(counter(&metrics, "journal", "log", "sent"), 1);
        assert_eq!(d.receivers().collect::<Vec<_>>(), ["hook", "journal"]);
    }

    #[tokio::test]
    async fn unknown_receivers_are_dropped_from_the_outbox() {
        let metrics = Arc::new(Metrics::new());
        let d = Dispatcher::new(&receivers(), None, None, metrics.clone()).unwrap();
        let mut n = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.3)],
        );
        n.receiver = "gone".into();
        let mut ob = Outbox::new();
        ob.push(n.clone(), t(10, 0));
        let r = d
            .deliver_queued(&mut ob, &n.id, t(10, 0), &DeliveryConfig::default())
            .await;
        assert!(
            matches!(r, Attempt::Dropped { ref reason } if reason.contains("gone")),
            "{r:?}"
        );
        assert!(ob.is_empty());
        assert_eq!(counter(&metrics, "gone", "unknown", "dropped"), 1);
    }

    #[tokio::test]
    async fn refused_connection_is_retried_then_given_up() {
        let metrics = Arc::new(Metrics::new());
        let d = Dispatcher::new(&receivers(), None, None, metrics.clone()).unwrap();
        let mut n = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.3)],
        );
        n.receiver = "hook".into();
        let delivery = DeliveryConfig {
            initial_backoff: std::time::Duration::from_secs(10),
            max_backoff: std::time::Duration::from_secs(10),
            give_up_after: std::time::Duration::from_secs(15),
        };
        let mut ob = Outbox::new();
        let start = t(10, 0);
        ob.push(n.clone(), start);
        d.record_queue(&ob);
        assert_eq!(
            metrics
                .notifications_queued
                .with_label_values(&["hook"])
                .get(),
            1
        );
        let r = d.deliver_queued(&mut ob, &n.id, start, &delivery).await;
        let Attempt::Retry {
            error,
            next_attempt_at,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(error.kind, ErrorKind::Transient);
        assert!(error.message.contains("127.0.0.1:9"), "{error}");
        assert_eq!(next_attempt_at, start + chrono::TimeDelta::seconds(10));
        let r = d
            .deliver_queued(
                &mut ob,
                &n.id,
                next_attempt_at + chrono::TimeDelta::seconds(10),
                &delivery,
            )
            .await;
        assert!(matches!(r, Attempt::Dropped { .. }), "{r:?}");
        assert!(ob.is_empty());
        assert_eq!(counter(&metrics, "hook", "webhook", "failed"), 2);
        assert_eq!(counter(&metrics, "hook", "webhook", "dropped"), 1);
        assert_eq!(
            metrics
                .notifications_queued
                .with_label_values(&["hook"])
                .get(),
            0
        );
    }

    #[test]
    fn settle_records_results_of_concurrent_deliveries() {
        let metrics = Arc::new(Metrics::new());
        let d = Dispatcher::new(&receivers(), None, None, metrics.clone()).unwrap();
        let delivery = DeliveryConfig::default();
        let mut ob = Outbox::new();
        let now = t(10, 0);
        let mut a = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.3)],
        );
        a.receiver = "hook".into();
        let mut b = a.clone();
        b.id = "other".into();
        b.group_key = "{model=\"other\"}".into();
        ob.push(a.clone(), now);
        ob.push(b.clone(), now);
        let r = d.settle(
            &mut ob,
            &a.id,
            Err(DeliveryError::transient("503")),
            now,
            &delivery,
        );
        assert!(matches!(r, Attempt::Retry { .. }), "{r:?}");
        let r = d.settle(
            &mut ob,
            &b.id,
            Err(DeliveryError::permanent("400")),
            now,
            &delivery,
        );
        assert_eq!(
            r,
            Attempt::Dropped {
                reason: "400".into()
            }
        );
        assert_eq!(
            d.settle(&mut ob, &a.id, Ok(()), now, &delivery),
            Attempt::Sent
        );
        assert_eq!(
            d.settle(&mut ob, &a.id, Ok(()), now, &delivery),
            Attempt::NotQueued
        );
        assert!(ob.is_empty());
        assert_eq!(
            metrics
                .notifications_queued
                .with_label_values(&["hook"])
                .get(),
            0
        );
    }

    #[test]
    fn email_receiver_without_smtp_is_refused() {
        let r = BTreeMap::from([(
            "oncall".to_owned(),
            ReceiverConfig::Email(crate::alert::sinks::config::EmailReceiver {
                to: vec!["a@example.com".into()],
                cc: vec![],
                from: None,
                subject_prefix: "[driftd]".into(),
            }),
        )]);
        let e = Dispatcher::new(&r, None, None, Arc::new(Metrics::new()))
            .err()
            .unwrap();
        assert!(
            matches!(&e, SinkSetupError::At { key, source }
                if key == "alerting.receivers.oncall"
                    && matches!(**source, SinkSetupError::NoSmtp)),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "alerting.receivers.oncall: an email receiver needs the [alerting.smtp] section"
        );
    }
}
