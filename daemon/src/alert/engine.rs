//! The alert engine: rules on the monitor's quantities, an Alertmanager-like lifecycle, and
//! grouped notifications, all inside the daemon and driven by [`Engine::tick`].
//!
//! The engine is pure: time is the `now` passed to each call (never the clock), state is one
//! serialisable [`EngineState`] of ordered maps, and the same configuration, state and inputs
//! give the same notifications, byte for byte. `driftd run` ticks it on the wall clock every
//! evaluation interval; `driftd replay` in event time. Every duration is compared against `now`,
//! so any cadence works (a coarser one only delays what is due to the next tick).
//!
//! # Semantics
//!
//! **Identity.** An alert is one rule applied to one labelled sample: its labels are the
//! sample's labels, overridden by the rule's extra `labels`, plus `alertname` (the rule's name)
//! and `severity`. Its fingerprint is FNV-1a 64 over those labels in order, in hex: stable across
//! builds and platforms, since it is persisted and ends up in notification ids. Samples of one
//! tick that map to the same alert collapse to the most severe value.
//!
//! **Lifecycle.** inactive → *pending* when `value op threshold` holds (NaN never holds) →
//! *firing* once it has been pending for at least the rule's `for` (on the same tick when
//! `for = 0s`) → *resolved* when `value op resolve_threshold` no longer holds or its sample is
//! absent from a tick. The resolve threshold (default: the threshold) applies to pending alerts
//! too, which gives hysteresis: `> 0.2` resolving at `0.15` fires at 0.21 and keeps firing
//! through 0.19. A pending alert that stops holding goes back to inactive silently. Only pending
//! and firing alerts are stored.
//!
//! **Silences and inhibition.** A firing alert matched by an active silence (`starts_at <= now <
//! ends_at`), or inhibited — an `[[alerting.inhibit]]` rule's target while a *firing* source with
//! the same `equal` label values exists, never by itself — is left out of notifications and is
//! not a change. When it becomes visible again it is notified at its group's next flush as if
//! new. Receivers that were told an alert fires are still told when it resolves, muted or not.
//!
//! **Routing and grouping.** Each firing alert goes to the first route whose matchers hold on
//! its labels, and on to later matching routes while the matched ones have `continue = true`;
//! an alert no route takes is not notified. Within a route, alerts with equal values of the
//! route's `group_by` labels form a group, keyed like `{model="churn"}`. A group's first
//! notification goes out `group_wait` after its first visible alert, so alerts that fire
//! together (five features drifting in one window) make one notification. Later changes — an
//! alert newly visible, or a notified one resolved — go out at most every `group_interval` after
//! the group's previous notification; an unchanged group with visible alerts is notified again
//! every `repeat_interval`. A notification lists the group's visible firing alerts, then the
//! alerts resolved since the last one (only with `send_resolved`), each in fingerprint order;
//! its status is firing if any alert in it fires. Resolved alerts are listed once and
//! forgotten; a group whose alerts have all resolved sends one resolved notification (with
//! `send_resolved`) and is removed. Each receiver of a route gets its own [`Notification`], with
//! id `{receiver}-{group hash}-{n}`, `n` from a counter in the state (unique across restarts
//! that restore the state; the same after a replay of the same inputs).
//!
//! **Bounded state.** The state holds active alerts, groups of firing or not yet notified
//! resolved alerts, and API silences until they end: it does not grow with time.
//!
//! **Reload.** [`Engine::reload`] keeps the alerts of rules still present (by name) and the
//! groups of routes still present (same matchers, receivers and `group_by`); alerts of removed
//! rules resolve on the next tick, groups of removed routes are dropped.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Labels, Notification, Sample, Severity};

mod config;
mod group;
mod labels;
mod lifecycle;
mod silence;
#[cfg(test)]
mod tests;

pub use config::{
    EngineConfig, InhibitConfig, LabelNameSchema, MatchersSchema, Op, RouteConfig, RuleConfig,
    SilenceConfig,
};
pub use lifecycle::AlertState;
pub use silence::{Silence, SilenceError};

use group::{AlertData, Group, Route, compile_routes, group_id, routes_for};
use labels::Fnv;
use lifecycle::{ActiveAlert, Resolved, Rule};
use silence::{Inhibitor, check_new_silence};

/// Prefix of the ids of silences created through the API.
const API_SILENCE_PREFIX: &str = "api-";
const API_INHIBIT_PREFIX: &str = "api-inhibit-";

/// Everything the engine must remember across restarts, checkpointed with the rest of the
/// daemon's state. Ordered maps only, so its serialisation is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineState {
    /// Active (pending or firing) alerts: rule name → fingerprint → alert.
    alerts: BTreeMap<String, BTreeMap<String, ActiveAlert>>,
    /// Groups by route id and group key.
    groups: BTreeMap<String, Group>,
    /// Silences created through the API, by number, until they end.
    silences: BTreeMap<u64, Silence>,
    /// Ids of config silences expired through the API (pruned to those still configured).
    expired_config_silences: BTreeSet<String>,
    /// Number of the next API silence.
    next_silence: u64,
    /// Inhibition rules added through the API, by number, until removed.
    inhibit: BTreeMap<u64, InhibitConfig>,
    /// Number of the next API inhibition rule.
    next_inhibit: u64,
    /// Number of the next notification batch.
    next_notification: u64,
}

impl EngineState {
    /// How many alerts are pending or firing.
    pub fn active_alerts(&self) -> usize {
        self.alerts.values().map(BTreeMap::len).sum()
    }

    /// How many notification groups exist.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }
}

/// An active alert as the API and metrics show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// The rule's name.
    pub rule: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's labels (with `alertname` and `severity`).
    pub labels: Labels,
    /// Pending or firing.
    pub state: AlertState,
    /// The rule's severity.
    pub severity: Severity,
    /// When the condition started to hold.
    pub active_since: DateTime<Utc>,
    /// When it started firing.
    pub firing_since: Option<DateTime<Utc>>,
    /// The last value seen.
    pub value: f64,
    /// Matched an active silence at the last evaluation.
    pub silenced: bool,
    /// Inhibited by another firing alert at the last evaluation.
    pub inhibited: bool,
}

/// The alert engine. See the module doc for its semantics.
#[derive(Debug, Clone)]
pub struct Engine {
    config: EngineConfig,
    rules: Vec<Rule>,
    routes: Vec<Route>,
    config_silences: Vec<Silence>,
    state: EngineState,
}

impl Engine {
    /// An engine with empty state. The config is used as given (an invalid one cannot make
    /// the engine fail, only misbehave): validate it first with [`EngineConfig::validate`].
    pub fn new(cfg: EngineConfig) -> Engine {
        Engine::restore(cfg, EngineState::default())
    }

    /// An engine continuing from a checkpointed state; state of rules and routes no longer in
    /// `cfg` is dropped (as by [`Engine::reload`]).
    pub fn restore(cfg: EngineConfig, state: EngineState) -> Engine {
        let mut names = BTreeSet::new();
        // With duplicate names (an invalid config) only the first rule runs: two rules sharing
        // one set of alerts would resolve each other's.
        let rules = cfg
            .rules
            .iter()
            .filter(|r| names.insert(r.name.as_str()))
            .map(Rule::from_config)
            .collect();
        let mut engine = Engine {
            rules,
            routes: compile_routes(&cfg.routes),
            config_silences: cfg.silences.iter().map(Silence::from_config).collect(),
            config: cfg,
            state,
        };
        engine.drop_unconfigured();
        engine
    }

    /// Applies a new config, keeping the state of rules still present by name and of routes
    /// still present (see the module doc).
    pub fn reload(&mut self, cfg: EngineConfig) {
        let state = std::mem::take(&mut self.state);
        *self = Engine::restore(cfg, state);
    }

    /// The state to checkpoint.
    pub fn state(&self) -> &EngineState {
        &self.state
    }

    /// The config in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn drop_unconfigured(&mut self) {
        let rules: BTreeSet<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        self.state
            .alerts
            .retain(|name, _| rules.contains(name.as_str()));
        let routes: BTreeSet<&str> = self.routes.iter().map(|r| r.id.as_str()).collect();
        self.state
            .groups
            .retain(|_, g| routes.contains(g.route.as_str()));
        let silences: BTreeSet<&str> = self.config_silences.iter().map(|s| s.id.as_str()).collect();
        self.state
            .expired_config_silences
            .retain(|id| silences.contains(id.as_str()));
    }

    /// Evaluates every rule on `samples` at `now`, advances the lifecycle, applies silences and
    /// inhibition, routes and groups, and returns the notifications due at `now` (in route
    /// order, then group key, then receiver order). `actions` is left empty.
    pub fn tick(&mut self, now: DateTime<Utc>, samples: &[Sample]) -> Vec<Notification> {
        self.state.silences.retain(|_, s| !s.is_expired(now));
        let resolved = self.evaluate(now, samples);
        self.refresh_suppression(now);
        self.update_groups(now, &resolved);
        self.flush(now)
    }

    /// Runs every rule; returns the alerts that resolved, by fingerprint.
    fn evaluate(&mut self, now: DateTime<Utc>, samples: &[Sample]) -> BTreeMap<String, Resolved> {
        let mut by_metric: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
        for s in samples {
            by_metric.entry(s.metric.as_str()).or_default().push(s);
        }
        let mut resolved = BTreeMap::new();
        for rule in &self.rules {
            let samples = by_metric
                .get(rule.metric.as_str())
                .map_or(&[][..], Vec::as_slice);
            let alerts = self.state.alerts.entry(rule.name.clone()).or_default();
            resolved.extend(rule.evaluate(alerts, samples, now));
            if alerts.is_empty() {
                self.state.alerts.remove(&rule.name);
            }
        }
        resolved
    }

    /// Every silence that mutes at `now`.
    fn active_silences(&self, now: DateTime<Utc>) -> Vec<&Silence> {
        self.live_silences(now)
            .into_iter()
            .filter(|s| s.is_active(now))
            .collect()
    }

    /// Every silence not ended at `now`: config ones (unless expired through the API) in config
    /// order, then API ones in creation order.
    fn live_silences(&self, now: DateTime<Utc>) -> Vec<&Silence> {
        let expired = &self.state.expired_config_silences;
        self.config_silences
            .iter()
            .filter(|s| !expired.contains(&s.id))
            .chain(self.state.silences.values())
            .filter(|s| !s.is_expired(now))
            .collect()
    }

    /// Recomputes every active alert's `silenced` and `inhibited` flags for `now`.
    fn refresh_suppression(&mut self, now: DateTime<Utc>) {
        let flags: Vec<(bool, bool)> = {
            let silences = self.active_silences(now);
            let all = || {
                self.state
                    .alerts
                    .values()
                    .flat_map(|alerts| alerts.iter())
                    .map(|(fp, a)| (fp.as_str(), a))
            };
            let firing = all()
                .filter(|(_, a)| a.state == AlertState::Firing)
                .map(|(fp, a)| (fp, &a.labels));
            let rules: Vec<InhibitConfig> = self
                .config
                .inhibit
                .iter()
                .chain(self.state.inhibit.values())
                .cloned()
                .collect();
            let inhibitor = Inhibitor::new(&rules, firing);
            all()
                .map(|(fp, a)| {
                    let silenced = silences.iter().any(|s| s.mutes(&a.labels, now));
                    (silenced, inhibitor.inhibits(fp, &a.labels))
                })
                .collect()
        };
        let alerts = self.state.alerts.values_mut().flat_map(|a| a.values_mut());
        for (alert, (silenced, inhibited)) in alerts.zip(flags) {
            alert.silenced = silenced;
            alert.inhibited = inhibited;
        }
    }

    /// Puts every firing alert in its groups, and settles the alerts that left them.
    fn update_groups(&mut self, now: DateTime<Utc>, resolved: &BTreeMap<String, Resolved>) {
        let mut touched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut firing: BTreeSet<&str> = BTreeSet::new();
        for rule in &self.rules {
            let Some(alerts) = self.state.alerts.get(&rule.name) else {
                continue;
            };
            for (fp, alert) in alerts {
                if alert.state != AlertState::Firing {
                    continue;
                }
                firing.insert(fp);
                let data = AlertData {
                    rule: rule.name.clone(),
                    labels: alert.labels.clone(),
                    annotations: rule.annotations(alert),
                    value: alert.value,
                    condition: rule.condition(),
                    starts_at: alert.firing_since.unwrap_or(alert.active_since),
                    detail: alert.detail.clone(),
                };
                let suppressed = alert.silenced || alert.inhibited;
                for route in routes_for(&self.routes, &alert.labels) {
                    let labels = route.group_labels(&alert.labels);
                    let id = group_id(route, &labels);
                    let group = self
                        .state
                        .groups
                        .entry(id.clone())
                        .or_insert_with(|| Group::new(route, labels));
                    group.upsert(fp, data.clone(), suppressed);
                    touched.entry(id).or_default().insert(fp.clone());
                }
            }
        }
        let none = BTreeSet::new();
        for (id, group) in &mut self.state.groups {
            let send_resolved = self
                .routes
                .iter()
                .find(|r| r.id == group.route)
                .is_some_and(|r| r.send_resolved);
            let touched = touched.get(id).unwrap_or(&none);
            group.settle(touched, &firing, resolved, send_resolved, now);
        }
    }

    /// Sends every due group, and removes the groups left empty.
    fn flush(&mut self, now: DateTime<Utc>) -> Vec<Notification> {
        let mut out = Vec::new();
        for route in &self.routes {
            for (id, group) in &mut self.state.groups {
                if group.route != route.id {
                    continue;
                }
                let Some(batch) = group.take_due(route, now) else {
                    continue;
                };
                let n = self.state.next_notification;
                self.state.next_notification = n.wrapping_add(1);
                let hash = Fnv::new().field(id).hex();
                for receiver in &route.receivers {
                    out.push(Notification {
                        id: format!("{receiver}-{hash}-{n}"),
                        receiver: receiver.clone(),
                        group_key: group.key.clone(),
                        group_labels: group.labels.clone(),
                        status: batch.status,
                        alerts: batch.alerts.clone(),
                        created: now,
                        actions: Vec::new(),
                    });
                }
            }
        }
        self.state.groups.retain(|_, g| !g.is_empty());
        out
    }

    /// Every pending or firing alert, by rule name then fingerprint.
    pub fn alerts(&self) -> Vec<AlertView> {
        self.state
            .alerts
            .iter()
            .flat_map(|(rule, alerts)| {
                alerts.iter().map(move |(fp, a)| AlertView {
                    rule: rule.clone(),
                    fingerprint: fp.clone(),
                    labels: a.labels.clone(),
                    state: a.state,
                    severity: a.severity,
                    active_since: a.active_since,
                    firing_since: a.firing_since,
                    value: a.value,
                    silenced: a.silenced,
                    inhibited: a.inhibited,
                })
            })
            .collect()
    }

    /// Adds a silence (it starts at `now` unless `starts_at` says otherwise) and returns its
    /// id. Refused when it has no matchers, an empty label name, or does not end after `now`
    /// and after its start.
    pub fn add_silence(
        &mut self,
        cfg: SilenceConfig,
        now: DateTime<Utc>,
    ) -> Result<String, SilenceError> {
        check_new_silence(&cfg, now)?;
        let n = self.state.next_silence;
        self.state.next_silence = n.wrapping_add(1);
        let id = format!("{API_SILENCE_PREFIX}{n}");
        let cfg = SilenceConfig {
            starts_at: Some(cfg.starts_at.unwrap_or(now)),
            ..cfg
        };
        self.state.silences.insert(n, Silence::new(id.clone(), cfg));
        self.refresh_suppression(now);
        Ok(id)
    }

    /// Adds an inhibition rule at run time (kept in the state, so it survives restarts); returns
    /// its id (`api-inhibit-N`), or why it was refused.
    pub fn add_inhibit(
        &mut self,
        cfg: InhibitConfig,
        now: DateTime<Utc>,
    ) -> Result<String, SilenceError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(SilenceError::InvalidInhibit(problems));
        }
        let n = self.state.next_inhibit;
        self.state.next_inhibit = n.wrapping_add(1);
        self.state.inhibit.insert(n, cfg);
        self.refresh_suppression(now);
        Ok(format!("{API_INHIBIT_PREFIX}{n}"))
    }

    /// Removes an inhibition rule added through the API; `false` for an unknown id (config
    /// rules are changed in the config).
    pub fn remove_inhibit(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let removed = id
            .strip_prefix(API_INHIBIT_PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|n| self.state.inhibit.remove(&n))
            .is_some();
        if removed {
            self.refresh_suppression(now);
        }
        removed
    }

    /// Every inhibition rule with its id: the config's (`cfg-inhibit-I`, by position) then the
    /// API's.
    pub fn inhibitions(&self) -> Vec<(String, InhibitConfig)> {
        self.config
            .inhibit
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("cfg-inhibit-{i}"), c.clone()))
            .chain(
                self.state
                    .inhibit
                    .iter()
                    .map(|(n, c)| (format!("{API_INHIBIT_PREFIX}{n}"), c.clone())),
            )
            .collect()
    }

    /// Ends a silence now. `false` when no silence with that id is pending or active. A
    /// config silence stays expired until it leaves the config.
    pub fn expire_silence(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        let api = id
            .strip_prefix(API_SILENCE_PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|n| self.state.silences.remove(&n));
        let found = match api {
            Some(silence) => !silence.is_expired(now),
            None => {
                let live = self
                    .config_silences
                    .iter()
                    .any(|s| s.id == id && !s.is_expired(now));
                live && self.state.expired_config_silences.insert(id.to_owned())
            }
        };
        if found {
            self.refresh_suppression(now);
        }
        found
    }

    /// The silences that have not ended at `now` (active and pending): config ones first, in
    /// config order, then API ones in creation order.
    pub fn silences(&self, now: DateTime<Utc>) -> Vec<Silence> {
        self.live_silences(now).into_iter().cloned().collect()
    }
}
