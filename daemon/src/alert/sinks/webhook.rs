//! The webhook sink: a JSON POST, in Alertmanager's webhook format (version 4) or driftd's own.
//!
//! The Alertmanager payload is what `alertmanager` itself sends to a `webhook_config`, so the many
//! tools that accept it (chat bridges, incident managers) work unchanged. driftd's own format is
//! the [`Notification`] as stored in the outbox: every alert's value, condition and detail.
//!
//! The HTTP client is `ureq` (blocking), run on the blocking pool; it honours `HTTPS_PROXY`,
//! `HTTP_PROXY` and `NO_PROXY`, and follows no redirects. Status codes decide what
//! happens next: 2xx delivered; 429, 5xx and connection errors are retried; any other answer
//! (4xx, a redirect) means the request itself is wrong and is not retried.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::config::{WebhookFormat, WebhookReceiver};
use super::error::{DeliveryError, SinkSetupError};
use super::render::dashboard_link;
use crate::alert::{AlertSnapshot, Labels, Notification, Status};

/// Alertmanager's webhook payload, version 4 (field names as Alertmanager writes them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertmanagerPayload {
    /// Always `"4"`.
    pub version: &'static str,
    /// The group's key: identifies the group across notifications.
    #[serde(rename = "groupKey")]
    pub group_key: String,
    /// Alerts left out of `alerts` (driftd never truncates: 0).
    #[serde(rename = "truncatedAlerts")]
    pub truncated_alerts: u64,
    /// `firing` or `resolved`.
    pub status: Status,
    /// The receiver's name.
    pub receiver: String,
    /// The labels the alerts were grouped by.
    #[serde(rename = "groupLabels")]
    pub group_labels: Labels,
    /// Labels every alert has, with the same value.
    #[serde(rename = "commonLabels")]
    pub common_labels: Labels,
    /// Annotations every alert has, with the same value.
    #[serde(rename = "commonAnnotations")]
    pub common_annotations: BTreeMap<String, String>,
    /// The dashboard's base URL (empty without one).
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    pub alerts: Vec<AlertmanagerAlert>,
}

/// One alert of an [`AlertmanagerPayload`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertmanagerAlert {
    /// `firing` or `resolved`.
    pub status: Status,
    /// The alert's labels (with `alertname` and `severity`).
    pub labels: Labels,
    /// Its annotations (`summary`, `description`, `runbook_url`, …).
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` while firing, as Alertmanager writes it.
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    /// The dashboard for the alert's model (empty without a dashboard URL).
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// The alert's stable id.
    pub fingerprint: String,
}

/// Alertmanager's "no end time" value.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Builds the Alertmanager v4 payload of a notification.
pub fn alertmanager_payload(n: &Notification, dashboard_url: Option<&str>) -> AlertmanagerPayload {
    let base = dashboard_url.map(str::trim).filter(|b| !b.is_empty());
    AlertmanagerPayload {
        version: "4",
        group_key: n.group_key.clone(),
        truncated_alerts: 0,
        status: n.status,
        receiver: n.receiver.clone(),
        group_labels: n.group_labels.clone(),
        common_labels: common(n.alerts.iter().map(|a| &a.labels)),
        common_annotations: common(n.alerts.iter().map(|a| &a.annotations)),
        external_url: base.unwrap_or_default().to_owned(),
        alerts: n.alerts.iter().map(|a| am_alert(a, base)).collect(),
    }
}

fn am_alert(a: &AlertSnapshot, base: Option<&str>) -> AlertmanagerAlert {
    AlertmanagerAlert {
        status: a.status,
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at: a
            .starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ends_at: a.ends_at.map_or_else(
            || ZERO_TIME.to_owned(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        generator_url: base.map_or_else(String::new, |b| {
            dashboard_link(b, a.labels.get("model").map(String::as_str))
        }),
        fingerprint: a.fingerprint.clone(),
    }
}

/// The entries shared, with equal values, by every map (empty for no maps).
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut shared = first.clone();
    for m in maps {
        shared.retain(|k, v| m.get(k) == Some(v));
    }
    shared
}

/// The body a webhook receives, serialised; a body that cannot be serialised is a permanent
/// error.
pub fn payload(
    n: &Notification,
    format: WebhookFormat,
    dashboard_url: Option<&str>,
) -> Result<Vec<u8>, DeliveryError> {
    let bytes = match format {
        WebhookFormat::Alertmanager => serde_json::to_vec(&alertmanager_payload(n, dashboard_url)),
        WebhookFormat::Driftd => serde_json::to_vec(n),
    };
    bytes
        .map_err(|e| DeliveryError::permanent(format!("cannot serialise the webhook payload: {e}")))
}

/// A configured webhook: the client, the URL, the resolved token.
pub(crate) struct WebhookSink {
    agent: ureq::Agent,
    url: String,
    token: Option<SecretString>,
    format: WebhookFormat,
}

impl WebhookSink {
    /// Resolves the token and builds the client (no connection yet).
    pub(crate) fn new(cfg: &WebhookReceiver) -> Result<Self, SinkSetupError> {
        super::config::check_http_url(&cfg.url)?;
        let token = match &cfg.bearer_token {
            Some(spec) => Some(spec.resolve().map_err(|source| SinkSetupError::Secret {
                field: "bearer_token",
                source,
            })?),
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("driftd/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(WebhookSink {
            agent,
            url: cfg.url.clone(),
            token,
            format: cfg.format,
        })
    }

    /// POSTs the notification; classifies the answer (see the module doc).
    pub(crate) async fn send(
        &self,
        n: &Notification,
        dashboard_url: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let body = payload(n, self.format, dashboard_url)?;
        let agent = self.agent.clone();
        let url = self.url.clone();
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose_secret()));
        let joined = tokio::task::spawn_blocking(move || post(&agent, &url, auth, &body)).await;
        let status = match joined {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                return Err(DeliveryError::transient(format!(
                    "webhook {}: {e}",
                    self.url
                )));
            }
            Err(e) => {
                return Err(DeliveryError::transient(format!(
                    "webhook {}: the request task failed: {e}",
                    self.url
                )));
            }
        };
        classify(&self.url, status)
    }
}

/// One POST; returns the status code (and reads the answer's first bytes to free the connection).
fn post(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<String>,
    body: &[u8],
) -> Result<u16, ureq::Error> {
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(auth) = auth {
        req = req.header("authorization", &auth);
    }
    let mut resp = req.send(body)?;
    let status = resp.status().as_u16();
    // The answer is not used; read a little of it so the connection can be reused, ignore errors.
    let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
    Ok(status)
}

/// 2xx delivered; 429/5xx retried; other codes are permanent.
fn classify(url: &str, status: u16) -> Result<(), DeliveryError> {
    match status {
        200..=299 => Ok(()),
        429 | 500..=599 => Err(DeliveryError::transient(format!(
            "webhook {url} answered {status}"
        ))),
        _ => Err(DeliveryError::permanent(format!(
            "webhook {url} answered {status}: the request is refused as it is, not retried"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sinks::error::ErrorKind;
    use crate::alert::sinks::render::tests::{alert, notification};

    #[test]
    fn alertmanager_v4_shape() {
        let mut second = alert("FeatureDrift", "tenure_days", Status::Firing, 0.4);
        second
            .annotations
            .insert("summary".into(), "another summary".into());
        let resolved = alert("FeatureDrift", "plan", Status::Resolved, 0.1);
        let n = notification(
            Status::Firing,
            vec![
                alert("FeatureDrift", "age", Status::Firing, 0.31),
                second,
                resolved,
            ],
        );
        let bytes = payload(&n, WebhookFormat::Alertmanager, Some("http://g/d/driftd")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["version"], "4");
        assert_eq!(v["groupKey"], "{model=\"churn\"}");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["receiver"], "oncall");
        assert_eq!(v["truncatedAlerts"], 0);
        assert_eq!(v["externalURL"], "http://g/d/driftd");
        assert_eq!(v["groupLabels"], serde_json::json!({"model": "churn"}));
        assert_eq!(
            v["commonLabels"],
            serde_json::json!({"alertname": "FeatureDrift", "model": "churn", "severity": "warning", "test": "psi"})
        );
        assert_eq!(
            v["commonAnnotations"],
            serde_json::json!({"runbook_url": "https://runbooks.example.com/drift"})
        );
        let alerts = v["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 3);
        let a0 = &alerts[0];
        assert_eq!(a0["status"], "firing");
        assert_eq!(a0["labels"]["feature"], "age");
        assert_eq!(a0["annotations"]["summary"], "Feature age of churn drifted");
        assert_eq!(a0["startsAt"], "2026-11-21T10:00:00Z");
        assert_eq!(a0["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(a0["generatorURL"], "http://g/d/driftd?var-model=churn");
        assert_eq!(a0["fingerprint"], n.alerts[0].fingerprint.as_str());
        assert_eq!(alerts[2]["status"], "resolved");
        assert_eq!(alerts[2]["endsAt"], "2026-11-21T11:30:00Z");
        let mut keys: Vec<&str> = a0.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "annotations",
                "endsAt",
                "fingerprint",
                "generatorURL",
                "labels",
                "startsAt",
                "status"
            ]
        );
    }

    #[test]
    fn without_a_dashboard_the_urls_are_empty() {
        let n = notification(
            Status::Resolved,
            vec![alert("FeatureDrift", "age", Status::Resolved, 0.1)],
        );
        let p = alertmanager_payload(&n, None);
        assert_eq!(p.external_url, "");
        assert_eq!(p.alerts[0].generator_url, "");
        assert_eq!(p.status, Status::Resolved);
    }

    #[test]
    fn driftd_format_is_the_notification() {
        let n = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.31)],
        );
        let bytes = payload(&n, WebhookFormat::Driftd, None).unwrap();
        let back: Notification = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn status_codes_decide_retries() {
        assert!(classify("u", 200).is_ok());
        assert!(classify("u", 204).is_ok());
        for code in [429, 500, 502, 503] {
            assert_eq!(classify("u", code).unwrap_err().kind, ErrorKind::Transient);
        }
        for code in [301, 400, 401, 404, 410] {
            assert_eq!(classify("u", code).unwrap_err().kind, ErrorKind::Permanent);
        }
    }
}
