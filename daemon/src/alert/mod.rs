//! Alerting: rules on the monitor's quantities, an Alertmanager-like lifecycle inside the daemon,
//! grouped notifications, and sinks (email, webhook, log) behind a durable outbox.
//!
//! The flow, each tick (wall clock in `driftd run`, event time in `driftd replay`):
//!
//! ```text
//! monitors ──▶ Vec<Sample> ──▶ engine::Engine::tick(now, samples)
//!                                 rules: op/threshold, for, resolve threshold (hysteresis)
//!                                 lifecycle: inactive → pending → firing → resolved
//!                                 silences, inhibition, routes, grouping (wait/interval/repeat)
//!                              ──▶ Vec<Notification> ──▶ sinks::Outbox (in the state store, written
//!                                  with the engine state in one atomic put) ──▶ email / webhook / log
//! ```
//!
//! This module holds the types the engine and the sinks share.
//!
//! May depend on: contract, telemetry, store, report (its HTML escape, for the emails).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::contract::sample::{Labels, QUANTITIES, Sample};

pub mod engine;
pub mod sinks;
pub mod task;

/// `[alerting]`: rules, routes, inhibitions, silences (the engine), receivers, SMTP relay and
/// retries (the sinks).
///
/// Defaults make the embedded default useful with no configuration: the shipped rule set
/// (`config/alerting.toml`) with every alert routed to the log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Evaluate rules at all.
    pub enabled: bool,
    /// How often the rules are evaluated (wall clock in `driftd run`, event time in replay).
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: std::time::Duration,
    /// Grafana dashboard base URL for links in notifications, e.g.
    /// `https://grafana.example.com/d/driftd/driftd`.
    pub dashboard_url: Option<String>,
    /// With no `rules` of its own, the config gets the shipped rule set (and its inhibitions
    /// when it has no `inhibit` either). `false` means: no rules unless written here.
    pub default_rules: bool,
    /// Rules (`[[alerting.rules]]`).
    pub rules: Vec<engine::RuleConfig>,
    /// Routes (`[[alerting.routes]]`); none: every alert goes to the `log` receiver.
    pub routes: Vec<engine::RouteConfig>,
    /// Inhibitions (`[[alerting.inhibit]]`).
    pub inhibit: Vec<engine::InhibitConfig>,
    /// Silences (`[[alerting.silences]]`); the admin API adds more at run time.
    pub silences: Vec<engine::SilenceConfig>,
    /// Receivers by name (`[alerting.receivers.NAME]`); a `log` receiver always exists.
    pub receivers: BTreeMap<String, sinks::ReceiverConfig>,
    /// The SMTP relay for email receivers.
    pub smtp: Option<sinks::SmtpConfig>,
    /// Retries of failed deliveries.
    pub delivery: sinks::DeliveryConfig,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            enabled: true,
            evaluation_interval: std::time::Duration::from_secs(15),
            dashboard_url: None,
            default_rules: true,
            rules: Vec::new(),
            routes: Vec::new(),
            inhibit: Vec::new(),
            silences: Vec::new(),
            receivers: BTreeMap::new(),
            smtp: None,
            delivery: sinks::DeliveryConfig::default(),
        }
    }
}

/// The shipped rule set, `config/alerting.toml`.
pub const DEFAULT_RULES_TOML: &str = include_str!("../../../config/alerting.toml");

impl AlertingConfig {
    /// The engine's configuration, defaults applied.
    pub fn engine(&self) -> engine::EngineConfig {
        let mut rules = self.rules.clone();
        let mut inhibit = self.inhibit.clone();
        if rules.is_empty() && self.default_rules {
            let shipped = shipped();
            rules = shipped.rules;
            if inhibit.is_empty() {
                inhibit = shipped.inhibit;
            }
        }
        let routes = if self.routes.is_empty() {
            // As the shipped routes: a rule's episode on a model is one group, so another rule
            // firing on the same model does not send the first one's alerts again.
            vec![engine::RouteConfig {
                receivers: vec!["log".to_owned()],
                group_by: vec!["model".to_owned(), "alertname".to_owned()],
                ..Default::default()
            }]
        } else {
            self.routes.clone()
        };
        engine::EngineConfig {
            rules,
            routes,
            inhibit,
            silences: self.silences.clone(),
        }
    }

    /// The receivers, with the implicit `log` one.
    pub fn receivers(&self) -> BTreeMap<String, sinks::ReceiverConfig> {
        let mut r = self.receivers.clone();
        r.entry("log".to_owned())
            .or_insert(sinks::ReceiverConfig::Log(sinks::LogReceiver {}));
        r
    }

    /// Every problem, as `(key path, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.evaluation_interval.is_zero() {
            e.push((
                "alerting.evaluation_interval".to_owned(),
                "must be positive".to_owned(),
            ));
        }
        if let Some(url) = &self.dashboard_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            e.push((
                "alerting.dashboard_url".to_owned(),
                "must be an http:// or https:// URL".to_owned(),
            ));
        }
        let receivers = self.receivers();
        let names: Vec<&str> = receivers.keys().map(String::as_str).collect();
        e.extend(self.engine().validate(&names));
        e.extend(sinks::validate(&receivers, self.smtp.as_ref()));
        e.extend(sinks::validate_delivery(&self.delivery));
        e
    }
}

#[derive(Deserialize)]
struct ShippedFile {
    alerting: ShippedRules,
}

#[derive(Deserialize, Default)]
struct ShippedRules {
    #[serde(default)]
    rules: Vec<engine::RuleConfig>,
    #[serde(default)]
    inhibit: Vec<engine::InhibitConfig>,
}

/// The shipped rules (a unit test keeps the file parseable and valid).
fn shipped() -> ShippedRules {
    toml::from_str::<ShippedFile>(DEFAULT_RULES_TOML)
        .map(|f| f.alerting)
        .unwrap_or_default()
}

/// Severity of a rule; routes match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs attention.
    Warning,
    /// Needs attention now.
    Critical,
}

/// Whether a notified alert is firing or has resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Firing.
    Firing,
    /// Resolved.
    Resolved,
}

/// One alert as it appears in a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSnapshot {
    /// The rule's name.
    pub rule: String,
    /// Firing or resolved at the time of the notification.
    pub status: Status,
    /// Rule labels merged with the sample's labels (plus `alertname` and `severity`).
    pub labels: Labels,
    /// Rendered `summary`, `description`, `runbook_url` (and any other annotation).
    pub annotations: BTreeMap<String, String>,
    /// The value that made it fire (or the last one seen). Non-finite values are written as the
    /// strings `"inf"`, `"-inf"`, `"NaN"`, so a queued notification always reads back.
    #[serde(with = "any_f64")]
    pub value: f64,
    /// The rule's threshold and operator, for humans, e.g. `> 0.2`.
    pub condition: String,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// Stable id of the alert (rule + labels), hex.
    pub fingerprint: String,
    /// The sample's detail (statistic, p-value, window, reference vs current).
    pub detail: BTreeMap<String, String>,
}

/// Serde for an `f64` that may be infinite or NaN (JSON has no such numbers).
mod any_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            Num(f64),
            Text(String),
        }
        match N::deserialize(d)? {
            N::Num(v) => Ok(v),
            N::Text(t) => t
                .parse::<f64>()
                .map_err(|_| serde::de::Error::custom(format!("not a number: {t:?}"))),
        }
    }
}

/// A notification for one group of alerts, to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique and deterministic (group key and a sequence number): the idempotency key and the
    /// email `Message-ID` local part.
    pub id: String,
    /// The receiver (a name in the config's receivers).
    pub receiver: String,
    /// The group's key (its `group_by` label values), e.g. `{model="churn"}`.
    pub group_key: String,
    /// The group's labels.
    pub group_labels: Labels,
    /// Firing if any alert of the group fires, else resolved.
    pub status: Status,
    /// The group's alerts: firing ones first, then resolved ones, each in fingerprint order.
    pub alerts: Vec<AlertSnapshot>,
    /// When the engine made it.
    pub created: DateTime<Utc>,
    /// What driftd did about it (e.g. "retraining triggered" / "retraining not configured").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid_and_routes_the_shipped_rules_to_the_log() {
        let c = AlertingConfig::default();
        assert_eq!(c.validate(), Vec::<(String, String)>::new());
        let e = c.engine();
        assert!(e.rules.len() >= 6, "{:?}", e.rules);
        assert_eq!(e.routes.len(), 1);
        assert_eq!(e.routes[0].receivers, ["log"]);
        assert!(!e.inhibit.is_empty());
    }

    #[test]
    fn infinite_values_survive_a_round_trip() {
        for v in [f64::INFINITY, f64::NEG_INFINITY, 1.5] {
            let a = AlertSnapshot {
                rule: "R".into(),
                status: Status::Firing,
                labels: Labels::new(),
                annotations: BTreeMap::new(),
                value: v,
                condition: "> 1".into(),
                starts_at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
                ends_at: None,
                fingerprint: "0".into(),
                detail: BTreeMap::new(),
            };
            let back: AlertSnapshot =
                serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
            assert_eq!(back, a);
        }
        // NaN is not equal to itself: checked on its own, through the same field.
        let mut json = serde_json::to_value(AlertSnapshot {
            rule: "R".into(),
            status: Status::Firing,
            labels: Labels::new(),
            annotations: BTreeMap::new(),
            value: f64::NAN,
            condition: "> 1".into(),
            starts_at: DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
            ends_at: None,
            fingerprint: "0".into(),
            detail: BTreeMap::new(),
        })
        .unwrap();
        assert_eq!(json["value"], "NaN");
        json["value"] = "NaN".into();
        let back: AlertSnapshot = serde_json::from_value(json).unwrap();
        assert!(back.value.is_nan());
    }

    #[test]
    fn own_rules_replace_the_shipped_ones() {
        let c: AlertingConfig = toml::from_str(
            r#"
[[rules]]
name = "Mine"
metric = "dataset_drift_share"
op = ">="
threshold = 0.5
"#,
        )
        .unwrap();
        let e = c.engine();
        assert_eq!(e.rules.len(), 1);
        assert_eq!(e.rules[0].name, "Mine");
        assert!(e.inhibit.is_empty());
    }
}
