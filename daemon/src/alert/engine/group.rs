//! Routes and groups: which firing alerts go where, batched how, and when a group is due.
//!
//! A group remembers, per alert, whether its receivers have been told it fires (`notified`);
//! that is what makes a new alert or a resolution a *change* (sent after `group_wait`, then at
//! most every `group_interval`) and an unchanged group a *repeat* (every `repeat_interval`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::RouteConfig;
use super::labels::{Fnv, lossless_f64, matches, render_key};
use super::lifecycle::{Resolved, reached};
use crate::alert::{AlertSnapshot, Labels, Status};

/// `group_by` value that makes every alert its own group.
const ALL_LABELS: &str = "...";

/// A route ready to use, with a stable id for its groups.
#[derive(Debug, Clone)]
pub(super) struct Route {
    /// Hash of what defines the route's groups and destinations (matchers, receivers,
    /// `group_by`), plus an occurrence number for identical routes. Timing is left out, so that
    /// tuning `repeat_interval` on reload keeps the groups' history.
    pub(super) id: String,
    matchers: Labels,
    pub(super) receivers: Vec<String>,
    group_by: Vec<String>,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    pub(super) send_resolved: bool,
    continue_: bool,
}

/// Compiles routes, giving each an id that survives reloads that leave it unchanged.
pub(super) fn compile_routes(cfgs: &[RouteConfig]) -> Vec<Route> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    cfgs.iter()
        .map(|cfg| {
            let mut h = Fnv::new();
            for (k, v) in &cfg.matchers {
                h = h.field(k).field(v);
            }
            h = h.field("receivers");
            for r in &cfg.receivers {
                h = h.field(r);
            }
            h = h.field("group_by");
            for g in &cfg.group_by {
                h = h.field(g);
            }
            let base = h.hex();
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            Route {
                id: format!("{base}.{n}"),
                matchers: cfg.matchers.clone(),
                receivers: cfg.receivers.clone(),
                group_by: cfg.group_by.clone(),
                group_wait: cfg.group_wait,
                group_interval: cfg.group_interval,
                repeat_interval: cfg.repeat_interval,
                send_resolved: cfg.send_resolved,
                continue_: cfg.continue_,
            }
        })
        .collect()
}

/// The routes that take an alert: the first that matches, and the following ones while the
/// matched ones say `continue`.
pub(super) fn routes_for<'r>(routes: &'r [Route], labels: &Labels) -> Vec<&'r Route> {
    let mut taken = Vec::new();
    for route in routes {
        if matches(&route.matchers, labels) {
            taken.push(route);
            if !route.continue_ {
                break;
            }
        }
    }
    taken
}

impl Route {
    /// The group an alert falls in: its values of `group_by` (absent labels left out).
    pub(super) fn group_labels(&self, labels: &Labels) -> Labels {
        if self.group_by.iter().any(|g| g == ALL_LABELS) {
            return labels.clone();
        }
        self.group_by
            .iter()
            .filter_map(|g| labels.get(g).map(|v| (g.clone(), v.clone())))
            .collect()
    }
}

/// The id of a group in the state: route id, then the rendered key.
pub(super) fn group_id(route: &Route, group_labels: &Labels) -> String {
    format!("{}{}", route.id, render_key(group_labels))
}

/// What a notification says about one alert, refreshed on every tick it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct AlertData {
    pub(super) rule: String,
    pub(super) labels: Labels,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
    #[serde(with = "lossless_f64")]
    pub(super) value: f64,
    pub(super) condition: String,
    pub(super) starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) detail: BTreeMap<String, String>,
}

/// One alert of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    alert: AlertData,
    /// Set once resolved; the entry then waits for the group's next notification (only
    /// alerts whose firing was notified, on routes with `send_resolved`, wait).
    ends_at: Option<DateTime<Utc>>,
    /// The receivers have been told it fires (and not yet that it resolved).
    notified: bool,
    /// It was muted after being notified: notify it again, as new, once it is visible.
    renotify: bool,
    /// Silenced or inhibited at the last tick.
    suppressed: bool,
}

/// A group of one route: its alerts and its notification history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Group {
    /// The route's id.
    pub(super) route: String,
    /// Rendered group labels, e.g. `{model="churn"}`.
    pub(super) key: String,
    pub(super) labels: Labels,
    /// When the group first had a notifiable alert: `group_wait` counts from here.
    wait_from: Option<DateTime<Utc>>,
    /// When it was last notified.
    last_sent: Option<DateTime<Utc>>,
    /// By fingerprint.
    alerts: BTreeMap<String, Entry>,
}

/// What a due group sends.
pub(super) struct Batch {
    pub(super) status: Status,
    pub(super) alerts: Vec<AlertSnapshot>,
}

impl Group {
    pub(super) fn new(route: &Route, labels: Labels) -> Group {
        Group {
            route: route.id.clone(),
            key: render_key(&labels),
            labels,
            wait_from: None,
            last_sent: None,
            alerts: BTreeMap::new(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Records that an alert fires in this group on this tick.
    pub(super) fn upsert(&mut self, fp: &str, alert: AlertData, suppressed: bool) {
        let entry = self.alerts.entry(fp.to_owned()).or_insert_with(|| Entry {
            alert: alert.clone(),
            ends_at: None,
            notified: false,
            renotify: false,
            suppressed,
        });
        entry.alert = alert;
        entry.ends_at = None;
        entry.suppressed = suppressed;
        if suppressed && entry.notified {
            entry.renotify = true;
        }
    }

    /// Settles the alerts that did not fire in this group on this tick (`touched` holds those
    /// that did): an alert that resolved (or whose rule is gone) waits to be notified as
    /// resolved if its firing was notified and the route sends resolved notices, else it is
    /// forgotten; an alert still firing elsewhere (re-routed by a reload) leaves silently.
    pub(super) fn settle(
        &mut self,
        touched: &BTreeSet<String>,
        firing: &BTreeSet<&str>,
        resolved: &BTreeMap<String, Resolved>,
        send_resolved: bool,
        now: DateTime<Utc>,
    ) {
        self.alerts.retain(|fp, entry| {
            if touched.contains(fp) || entry.ends_at.is_some() {
                return true;
            }
            if firing.contains(fp.as_str()) || !(entry.notified && send_resolved) {
                return false;
            }
            if let Some(last) = resolved.get(fp) {
                entry.alert.value = last.value;
                entry.alert.detail.clone_from(&last.detail);
            }
            entry.ends_at = Some(now);
            true
        });
    }

    /// The group's notification if one is due at `now`, marking what it tells as told.
    ///
    /// Visible alerts are the firing ones not silenced or inhibited. A change is a visible alert
    /// the receivers have not been told about, or a resolution they have not been told about.
    /// The first notification waits `group_wait` from the first visible alert; later changes
    /// wait `group_interval` from the previous notification; without change, a group with
    /// visible alerts is repeated after `repeat_interval`.
    pub(super) fn take_due(&mut self, route: &Route, now: DateTime<Utc>) -> Option<Batch> {
        let visible = |e: &Entry| e.ends_at.is_none() && !e.suppressed;
        let any_visible = self.alerts.values().any(visible);
        let changed = self
            .alerts
            .values()
            .any(|e| e.ends_at.is_some() || (visible(e) && (!e.notified || e.renotify)));
        if self.wait_from.is_none() && any_visible {
            self.wait_from = Some(now);
        }
        let due = match (self.last_sent, self.wait_from) {
            (None, Some(from)) => changed && reached(from, route.group_wait, now),
            (None, None) => false,
            (Some(last), _) if changed => reached(last, route.group_interval, now),
            (Some(last), _) => any_visible && reached(last, route.repeat_interval, now),
        };
        if !due {
            return None;
        }
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        for (fp, entry) in &mut self.alerts {
            if let Some(ends_at) = entry.ends_at {
                resolved.push(snapshot(fp, &entry.alert, Status::Resolved, Some(ends_at)));
            } else if visible(entry) {
                firing.push(snapshot(fp, &entry.alert, Status::Firing, None));
                entry.notified = true;
                entry.renotify = false;
            }
        }
        self.alerts.retain(|_, e| e.ends_at.is_none());
        self.last_sent = Some(now);
        let status = if firing.is_empty() {
            Status::Resolved
        } else {
            Status::Firing
        };
        firing.extend(resolved);
        Some(Batch {
            status,
            alerts: firing,
        })
    }
}

fn snapshot(
    fp: &str,
    alert: &AlertData,
    status: Status,
    ends_at: Option<DateTime<Utc>>,
) -> AlertSnapshot {
    AlertSnapshot {
        rule: alert.rule.clone(),
        status,
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        value: alert.value,
        condition: alert.condition.clone(),
        starts_at: alert.starts_at,
        ends_at,
        fingerprint: fp.to_owned(),
        detail: alert.detail.clone(),
    }
}
