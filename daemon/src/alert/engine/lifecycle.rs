//! Rules and the alert lifecycle: a rule compiled from its config, evaluated on each tick's
//! samples, moves each of its alerts through inactive → pending → firing → resolved.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{Op, RuleConfig, quantity, severity_name};
use super::labels::{fingerprint, format_value, lossless_f64, matches, render_template};
use crate::alert::{Labels, Sample, Severity};

/// Where an active alert is in its lifecycle (inactive alerts are not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for` duration.
    Pending,
    /// The condition has held for `for`: notifiable.
    Firing,
}

/// A rule ready to evaluate. Built from any config without failing: an unknown quantity
/// matches no sample, a NaN threshold never fires, a resolve threshold on the wrong side is
/// ignored ([`super::EngineConfig::validate`] reports all three).
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub(super) name: String,
    /// Canonical quantity name (without `driftd_`).
    pub(super) metric: String,
    matchers: Labels,
    op: Op,
    threshold: f64,
    resolve: f64,
    for_: Duration,
    keep_firing_for: Duration,
    severity: Severity,
    labels: Labels,
    annotations: BTreeMap<String, String>,
}

/// One alert that is pending or firing, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ActiveAlert {
    pub(super) labels: Labels,
    pub(super) severity: Severity,
    pub(super) state: AlertState,
    /// When the condition started to hold (entered pending).
    pub(super) active_since: DateTime<Utc>,
    /// When it entered firing.
    pub(super) firing_since: Option<DateTime<Utc>>,
    /// The last value seen.
    #[serde(with = "lossless_f64")]
    pub(super) value: f64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) detail: BTreeMap<String, String>,
    /// Matched an active silence at the last evaluation.
    #[serde(default)]
    pub(super) silenced: bool,
    /// Inhibited by a firing alert at the last evaluation.
    #[serde(default)]
    pub(super) inhibited: bool,
    /// Firing, but its condition stopped holding at this time: it keeps firing until the
    /// rule's `keep_firing_for` has passed (and holds again if the condition returns first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) cleared_since: Option<DateTime<Utc>>,
}

/// The last observation of an alert that resolved on this tick.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub(super) value: f64,
    pub(super) detail: BTreeMap<String, String>,
}

/// One tick's observation of an alert: the sample mapped to the alert's identity.
struct Observation<'a> {
    labels: Labels,
    sample: &'a Sample,
}

impl Rule {
    pub(super) fn from_config(cfg: &RuleConfig) -> Rule {
        let metric =
            quantity(&cfg.metric).map_or_else(|| cfg.metric.clone(), |(q, _)| q.to_owned());
        let resolve = cfg
            .resolve_threshold
            .filter(|r| cfg.op.resolve_side_ok(cfg.threshold, *r))
            .unwrap_or(cfg.threshold);
        Rule {
            name: cfg.name.clone(),
            metric,
            matchers: cfg.matchers.clone(),
            op: cfg.op,
            threshold: cfg.threshold,
            resolve,
            for_: cfg.for_,
            keep_firing_for: cfg.keep_firing_for,
            severity: cfg.severity,
            labels: cfg.labels.clone(),
            annotations: cfg.annotations.clone(),
        }
    }

    /// The alert's identity: the sample's labels, overridden by the rule's extra labels, then
    /// `alertname` and `severity`.
    fn identity(&self, sample: &Labels) -> Labels {
        let mut labels = sample.clone();
        labels.extend(self.labels.clone());
        labels.insert("alertname".to_owned(), self.name.clone());
        labels.insert(
            "severity".to_owned(),
            severity_name(self.severity).to_owned(),
        );
        labels
    }

    /// The condition for humans, e.g. `> 0.2`.
    pub(super) fn condition(&self) -> String {
        format!("{} {}", self.op, self.threshold)
    }

    /// The annotations rendered for one alert.
    pub(super) fn annotations(&self, alert: &ActiveAlert) -> BTreeMap<String, String> {
        self.annotations
            .iter()
            .map(|(key, template)| {
                let text = render_template(template, |name| self.placeholder(name, alert));
                (key.clone(), text)
            })
            .collect()
    }

    /// A placeholder's value: alert labels first, then the rule's own values, then the detail.
    fn placeholder(&self, name: &str, alert: &ActiveAlert) -> Option<String> {
        if let Some(v) = alert.labels.get(name) {
            return Some(v.clone());
        }
        match name {
            "value" => Some(format_value(alert.value)),
            "threshold" => Some(self.threshold.to_string()),
            "resolve_threshold" => Some(self.resolve.to_string()),
            "condition" => Some(self.condition()),
            "metric" | "quantity" => Some(self.metric.clone()),
            _ => alert.detail.get(name).cloned(),
        }
    }

    /// This tick's observations, one per alert identity. Samples that map to the same identity
    /// (duplicates from the caller) collapse to the most severe value, so that "any sample
    /// holds" decides.
    fn observe<'a>(&self, samples: &[&'a Sample]) -> BTreeMap<String, Observation<'a>> {
        let mut seen: BTreeMap<String, Observation<'a>> = BTreeMap::new();
        for sample in samples {
            if !matches(&self.matchers, &sample.labels) {
                continue;
            }
            let labels = self.identity(&sample.labels);
            let fp = fingerprint(&labels);
            let replace = seen
                .get(&fp)
                .is_none_or(|o| self.op.more_severe(sample.value, o.sample.value));
            if replace {
                seen.insert(fp, Observation { labels, sample });
            }
        }
        seen
    }

    /// Advances this rule's alerts (keyed by fingerprint) to `now` given the samples of its
    /// quantity; returns the alerts that stopped firing on this tick. Pending alerts that stop
    /// holding are dropped without a trace.
    pub(super) fn evaluate(
        &self,
        alerts: &mut BTreeMap<String, ActiveAlert>,
        samples: &[&Sample],
        now: DateTime<Utc>,
    ) -> BTreeMap<String, Resolved> {
        let mut observed = self.observe(samples);
        let mut resolved = BTreeMap::new();
        alerts.retain(|fp, alert| {
            let seen = observed.remove(fp);
            if let Some(o) = &seen {
                alert.value = o.sample.value;
                alert.detail.clone_from(&o.sample.detail);
            }
            // Hysteresis: an active alert is held by the resolve threshold, not the threshold.
            if seen.is_some_and(|o| self.op.holds(o.sample.value, self.resolve)) {
                alert.cleared_since = None;
                alert.advance(self.for_, now);
                return true;
            }
            // Keep firing for a while after the condition cleared: a flap is one episode.
            if alert.state == AlertState::Firing && !self.keep_firing_for.is_zero() {
                let cleared = *alert.cleared_since.get_or_insert(now);
                if !reached(cleared, self.keep_firing_for, now) {
                    return true;
                }
            }
            if alert.state == AlertState::Firing {
                let last = Resolved {
                    value: alert.value,
                    detail: std::mem::take(&mut alert.detail),
                };
                resolved.insert(fp.clone(), last);
            }
            false
        });
        for (fp, o) in observed {
            if self.op.holds(o.sample.value, self.threshold) {
                let mut alert = ActiveAlert::pending(o.labels, self.severity, o.sample, now);
                alert.advance(self.for_, now);
                alerts.insert(fp, alert);
            }
        }
        resolved
    }
}

impl ActiveAlert {
    fn pending(labels: Labels, severity: Severity, sample: &Sample, now: DateTime<Utc>) -> Self {
        ActiveAlert {
            labels,
            severity,
            state: AlertState::Pending,
            active_since: now,
            firing_since: None,
            value: sample.value,
            detail: sample.detail.clone(),
            silenced: false,
            inhibited: false,
            cleared_since: None,
        }
    }

    /// Pending → firing once the condition has held for `for_`.
    fn advance(&mut self, for_: Duration, now: DateTime<Utc>) {
        if self.state == AlertState::Pending && reached(self.active_since, for_, now) {
            self.state = AlertState::Firing;
            self.firing_since = Some(now);
        }
    }
}

/// Whether `wait` has elapsed between `since` and `now`. Time is a parameter, so it may go
/// backwards (a replay restarted, a clock step): a negative elapsed time has reached nothing.
pub(super) fn reached(since: DateTime<Utc>, wait: Duration, now: DateTime<Utc>) -> bool {
    (now - since).to_std().is_ok_and(|elapsed| elapsed >= wait)
}
