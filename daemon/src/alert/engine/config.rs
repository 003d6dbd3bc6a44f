//! The alerting configuration — rules, routes, inhibitions and silences, as they appear under
//! `[alerting]` in TOML — and [`EngineConfig::validate`], which reports every problem at once,
//! each with its key path (`alerting.rules.2.metric`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::labels::parse_matcher;
use crate::alert::{Labels, QUANTITIES, Severity};

/// The comparison a rule makes between a sample's value and its threshold.
///
/// Written as the operator itself in TOML and JSON: `op = ">="`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `value > threshold`
    #[serde(rename = ">")]
    Gt,
    /// `value >= threshold`
    #[serde(rename = ">=")]
    Ge,
    /// `value < threshold`
    #[serde(rename = "<")]
    Lt,
    /// `value <= threshold`
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// Whether `value op threshold` holds. A NaN on either side never holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    /// The operator as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    /// Whether `resolve` lies on the non-firing side of `threshold` (or on it), which is what
    /// makes it a hysteresis band rather than a second, stricter threshold.
    pub fn resolve_side_ok(self, threshold: f64, resolve: f64) -> bool {
        match self {
            Op::Gt | Op::Ge => resolve <= threshold,
            Op::Lt | Op::Le => resolve >= threshold,
        }
    }

    /// Whether `a` is further on the firing side than `b` (NaN counts as the least severe), so
    /// that duplicate samples of one alert resolve to the one most likely to fire.
    pub(super) fn more_severe(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        match self {
            Op::Gt | Op::Ge => a > b,
            Op::Lt | Op::Le => a < b,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[alerting.rules]]`: a condition on one monitored quantity.
///
/// ```toml
/// [[alerting.rules]]
/// name = "AccuracyDrop"
/// metric = "model_performance_drop"
/// match = { metric = "accuracy" }
/// op = ">"
/// threshold = 0.05
/// resolve_threshold = 0.02
/// for = "10m"
/// severity = "critical"
/// annotations = { summary = "{model}: {metric} dropped by {value}" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The rule's name; also the alerts' `alertname` label. Unique.
    pub name: String,
    /// The quantity watched: a name from [`QUANTITIES`], with or without the Prometheus
    /// `driftd_` prefix.
    pub metric: String,
    /// Filters on the sample's labels (TOML key `match`): `label = "value"` for equality,
    /// `label = "!value"` for inequality. Only labels the quantity carries are allowed.
    #[serde(rename = "match", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub matchers: Labels,
    /// The comparison.
    pub op: Op,
    /// The value beyond which the alert becomes active.
    pub threshold: f64,
    /// Hysteresis: once pending or firing, the alert stays active while
    /// `value op resolve_threshold` holds. Defaults to `threshold`; must lie on the non-firing
    /// side of it (for `>`/`>=`: not above it; for `<`/`<=`: not below it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_threshold: Option<f64>,
    /// How long the condition must hold before the alert fires (TOML key `for`, e.g. `"10m"`).
    /// With `0s` (the default) it fires on the tick it becomes active.
    #[serde(rename = "for", default, with = "humantime_serde")]
    pub for_: Duration,
    /// How long a firing alert keeps firing after its condition stopped holding (or its sample
    /// went away), as Prometheus' `keep_firing_for`: a condition that clears and returns within
    /// it is one episode, with one notification, not a resolved notice and a new alert each time.
    /// With `0s` (the default) it resolves on the first tick the condition no longer holds.
    #[serde(default, with = "humantime_serde")]
    pub keep_firing_for: Duration,
    /// Severity, also the alerts' `severity` label (default `warning`).
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// Extra labels added to the alerts (not `alertname`, `severity`, nor a label the quantity
    /// carries, which would make distinct samples one alert).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
    /// Templates for humans (`summary`, `description`, `runbook_url`, …). Placeholders:
    /// `{label}` for any alert label, `{value}`, `{threshold}`, `{resolve_threshold}`,
    /// `{condition}`, `{metric}` / `{quantity}`, and any key of the sample's detail such as
    /// `{p_value}`. Labels take precedence (so `{metric}` is the `metric` label where the quantity
    /// carries one: use `{quantity}` for the quantity's name); unknown placeholders stay as they are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn default_severity() -> Severity {
    Severity::Warning
}

/// `[[alerting.routes]]`: which receivers get which alerts, grouped how and how often.
///
/// Routes are tried in order; the first whose matchers hold on an alert's labels takes it, and
/// the search stops there unless that route has `continue = true`. An alert that no route takes
/// is never notified ([`EngineConfig::validate`] reports rules in that situation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Filters on the alert's labels, including `alertname` and `severity` (TOML key `match`);
    /// same syntax as a rule's. Empty: every alert.
    #[serde(rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub matchers: Labels,
    /// Names of the receivers that get this route's notifications (at least one).
    pub receivers: Vec<String>,
    /// Labels whose values form a group; one notification covers one group. `["..."]` makes
    /// every alert its own group. Default `["model"]`.
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification (default 30s).
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// The least time between two notifications of a group when something changed (default 5m).
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// How often an unchanged, still-firing group is notified again (default 4h).
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Whether resolved alerts are notified (default true).
    pub send_resolved: bool,
    /// Whether later routes are tried after this one matched (TOML key `continue`, default false).
    #[serde(rename = "continue")]
    pub continue_: bool,
}

impl Default for RouteConfig {
    fn default() -> Self {
        RouteConfig {
            matchers: Labels::new(),
            receivers: Vec::new(),
            group_by: vec!["model".to_owned()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(5 * 60),
            repeat_interval: Duration::from_secs(4 * 60 * 60),
            send_resolved: true,
            continue_: false,
        }
    }
}

/// `[[alerting.inhibit]]`: while a firing alert matches `source_match`, alerts matching
/// `target_match` with the same values of the `equal` labels are not notified.
///
/// ```toml
/// [[alerting.inhibit]]
/// source_match = { alertname = "DatasetDrift" }
/// target_match = { alertname = "FeatureDrift" }
/// equal = ["model"]
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitConfig {
    /// Matchers an inhibiting (source) alert satisfies. Not empty.
    #[schema(value_type = MatchersSchema, required = true)]
    pub source_match: Labels,
    /// Matchers an inhibited (target) alert satisfies. Not empty.
    #[schema(value_type = MatchersSchema, required = true)]
    pub target_match: Labels,
    /// Labels whose values must be equal on source and target (an absent label equals an
    /// absent or empty one).
    #[schema(value_type = Vec<LabelNameSchema>)]
    pub equal: Vec<String>,
}

/// The OpenAPI schema of matchers (`match`, `source_match`, `target_match`): at least one, each a
/// non-empty label name and a value (`"!value"` negates).
pub struct MatchersSchema;

impl utoipa::PartialSchema for MatchersSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        use utoipa::openapi::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .min_properties(Some(1))
            .property_names(Some(LabelNameSchema::object()))
            .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
            .into()
    }
}

impl utoipa::ToSchema for MatchersSchema {}

/// The OpenAPI schema of a label name: not empty.
pub struct LabelNameSchema;

impl LabelNameSchema {
    fn object() -> utoipa::openapi::Object {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .min_length(Some(1))
            .build()
    }
}

impl utoipa::PartialSchema for LabelNameSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        Self::object().into()
    }
}

impl utoipa::ToSchema for LabelNameSchema {}

/// `[[alerting.silences]]`, or the body of a silence created through the API: alerts matching
/// every matcher are not notified between `starts_at` and `ends_at`.
///
/// ```toml
/// [[alerting.silences]]
/// match = { model = "churn", alertname = "FeatureDrift" }
/// ends_at = 2030-01-01T00:00:00Z
/// comment = "known seasonal shift"
/// created_by = "ops"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Matchers on the alert's labels (TOML key `match`); same syntax as a rule's. Not empty.
    #[serde(rename = "match", default)]
    #[schema(value_type = MatchersSchema, required = true)]
    pub matchers: Labels,
    /// When the silence starts; absent: immediately (an API silence records the time it was
    /// created).
    #[serde(
        default,
        deserialize_with = "option_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When the silence ends (exclusive).
    #[serde(deserialize_with = "datetime")]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: DateTime<Utc>,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
}

/// A timestamp written either as an RFC 3339 string (JSON, quoted TOML) or as a native TOML
/// offset datetime (`ends_at = 2030-01-01T00:00:00Z`), which serde sees as a special map.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyDatetime {
    Text(String),
    Toml(toml::value::Datetime),
}

fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    AnyDatetime::deserialize(d)?.parse()
}

/// An optional timestamp: also accepts an explicit `null` (JSON).
fn option_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<AnyDatetime>::deserialize(d)?
        .map(AnyDatetime::parse)
        .transpose()
}

impl AnyDatetime {
    fn parse<E: serde::de::Error>(self) -> Result<DateTime<Utc>, E> {
        let text = match self {
            AnyDatetime::Text(s) => s,
            AnyDatetime::Toml(t) => t.to_string(),
        };
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                E::custom(format!(
                    "not an RFC 3339 timestamp with an offset: {text:?} ({e})"
                ))
            })
    }
}

/// `[alerting]`: the engine's whole configuration. Receivers are configured with the sinks; the
/// engine only needs their names (see [`EngineConfig::validate`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The rules, evaluated in order on every tick.
    pub rules: Vec<RuleConfig>,
    /// The routes, tried in order for every firing alert.
    pub routes: Vec<RouteConfig>,
    /// Inhibitions.
    pub inhibit: Vec<InhibitConfig>,
    /// Silences from the config (the API adds more at run time).
    pub silences: Vec<SilenceConfig>,
}

/// A quantity of [`QUANTITIES`] by name, accepting the Prometheus spelling with `driftd_`:
/// `(canonical name, labels it carries)`.
pub(super) fn quantity(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    let bare = name.strip_prefix("driftd_").unwrap_or(name);
    QUANTITIES
        .iter()
        .find(|(q, _, _)| *q == bare)
        .map(|(q, labels, _)| (*q, *labels))
}

/// The `severity` label value of a severity.
pub(super) fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// Collected problems: `(key path, message)`.
type Problems = Vec<(String, String)>;

fn problem(out: &mut Problems, path: impl Into<String>, message: impl Into<String>) {
    out.push((path.into(), message.into()));
}

impl RuleConfig {
    /// The labels every alert of this rule carries whatever the sample: the equality matchers,
    /// the extra labels, `alertname` and `severity` (later ones win, as in the alert identity).
    pub(super) fn fixed_labels(&self) -> Labels {
        let mut fixed: Labels = self
            .matchers
            .iter()
            .filter_map(|(k, pattern)| match parse_matcher(pattern) {
                (false, v) => Some((k.clone(), v.to_owned())),
                (true, _) => None,
            })
            .collect();
        fixed.extend(self.labels.clone());
        fixed.insert("alertname".to_owned(), self.name.clone());
        fixed.insert(
            "severity".to_owned(),
            severity_name(self.severity).to_owned(),
        );
        fixed
    }

    fn check(&self, path: &str, out: &mut Problems) {
        if self.name.trim().is_empty() {
            problem(out, format!("{path}.name"), "must not be empty");
        }
        let carried = match quantity(&self.metric) {
            Some((_, labels)) => Some(labels),
            None => {
                let known: Vec<&str> = QUANTITIES.iter().map(|(q, _, _)| *q).collect();
                problem(
                    out,
                    format!("{path}.metric"),
                    format!(
                        "unknown quantity {:?}; known: {}",
                        self.metric,
                        known.join(", ")
                    ),
                );
                None
            }
        };
        if !self.threshold.is_finite() {
            problem(out, format!("{path}.threshold"), "must be a finite number");
        }
        self.check_resolve(path, out);
        if let Some(carried) = carried {
            for label in self.matchers.keys() {
                if !carried.contains(&label.as_str()) {
                    problem(
                        out,
                        format!("{path}.match.{label}"),
                        format!(
                            "quantity {} does not carry label {label:?} (it carries: {})",
                            self.metric,
                            list_or_none(carried)
                        ),
                    );
                }
            }
        }
        for label in self.labels.keys() {
            let at = format!("{path}.labels.{label}");
            if label.is_empty() {
                problem(out, at, "empty label name");
            } else if label == "alertname" || label == "severity" {
                problem(
                    out,
                    at,
                    "set by the engine from the rule's name and severity",
                );
            } else if carried.is_some_and(|c| c.contains(&label.as_str())) {
                problem(
                    out,
                    at,
                    "the quantity carries this label; overriding it would merge distinct alerts",
                );
            }
        }
    }

    fn check_resolve(&self, path: &str, out: &mut Problems) {
        let Some(resolve) = self.resolve_threshold else {
            return;
        };
        let at = format!("{path}.resolve_threshold");
        if !resolve.is_finite() {
            problem(out, at, "must be a finite number");
        } else if self.threshold.is_finite() && !self.op.resolve_side_ok(self.threshold, resolve) {
            let side = match self.op {
                Op::Gt | Op::Ge => "at most",
                Op::Lt | Op::Le => "at least",
            };
            problem(
                out,
                at,
                format!(
                    "must lie on the non-firing side of the threshold: {side} {} for op {:?}",
                    self.threshold,
                    self.op.as_str()
                ),
            );
        }
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "no labels".to_owned()
    } else {
        items.join(", ")
    }
}

impl RouteConfig {
    /// Whether this route may take alerts of a rule whose statically known labels are `fixed`:
    /// every matcher on a fixed label must agree with it; matchers on other labels depend on
    /// the sample, so they are assumed to match.
    pub(super) fn may_take(&self, fixed: &Labels) -> bool {
        self.matchers.iter().all(|(label, pattern)| {
            fixed.get(label).is_none_or(|value| {
                let (negated, wanted) = parse_matcher(pattern);
                (value == wanted) != negated
            })
        })
    }

    fn check(&self, path: &str, receivers: &[&str], out: &mut Problems) {
        check_matcher_names(&self.matchers, &format!("{path}.match"), out);
        if self.receivers.is_empty() {
            problem(out, format!("{path}.receivers"), "no receivers");
        }
        let mut seen = BTreeSet::new();
        for (j, r) in self.receivers.iter().enumerate() {
            let at = format!("{path}.receivers.{j}");
            if !receivers.contains(&r.as_str()) {
                problem(
                    out,
                    at,
                    format!(
                        "unknown receiver {r:?}; known: {}",
                        if receivers.is_empty() {
                            "none".to_owned()
                        } else {
                            receivers.join(", ")
                        }
                    ),
                );
            } else if !seen.insert(r) {
                problem(out, at, format!("receiver {r:?} is listed twice"));
            }
        }
        for (j, label) in self.group_by.iter().enumerate() {
            if label.is_empty() {
                problem(out, format!("{path}.group_by.{j}"), "empty label name");
            }
        }
        if self.group_interval.is_zero() {
            problem(out, format!("{path}.group_interval"), "must be positive");
        }
        if self.repeat_interval.is_zero() {
            problem(out, format!("{path}.repeat_interval"), "must be positive");
        }
    }
}

fn check_matcher_names(matchers: &Labels, path: &str, out: &mut Problems) {
    if matchers.contains_key("") {
        problem(out, path, "empty label name");
    }
}

impl InhibitConfig {
    /// Every problem of an inhibition rule created through the API, as messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Problems::new();
        self.check("inhibit", &mut out);
        out.into_iter().map(|(k, m)| format!("{k}: {m}")).collect()
    }

    fn check(&self, path: &str, out: &mut Problems) {
        for (key, matchers) in [
            ("source_match", &self.source_match),
            ("target_match", &self.target_match),
        ] {
            let at = format!("{path}.{key}");
            if matchers.is_empty() {
                problem(out, at, "must not be empty (it would match every alert)");
            } else {
                check_matcher_names(matchers, &at, out);
            }
        }
        for (j, label) in self.equal.iter().enumerate() {
            if label.is_empty() {
                problem(out, format!("{path}.equal.{j}"), "empty label name");
            }
        }
    }
}

impl SilenceConfig {
    /// Problems independent of the current time: `(key under the silence, message)`.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.matchers.is_empty() {
            out.push((
                "match",
                "must not be empty (it would silence every alert)".into(),
            ));
        } else if self.matchers.contains_key("") {
            out.push(("match", "empty label name".into()));
        }
        if let Some(start) = self.starts_at
            && start >= self.ends_at
        {
            out.push(("ends_at", "must be after starts_at".into()));
        }
        out
    }
}

impl EngineConfig {
    /// Every problem of the configuration, as `(key path, message)` with paths under
    /// `alerting.`; `receivers` are the names the sinks define. Empty means valid.
    ///
    /// Besides each item's own checks, it reports rules that no route can take: a route can take
    /// a rule when each of its matchers is on a label the rule fixes (`alertname`, `severity`,
    /// the rule's `labels` and equality matchers) and agrees with it, or is on a label the rule
    /// does not fix (which may then match).
    pub fn validate(&self, receivers: &[&str]) -> Vec<(String, String)> {
        let mut out = Problems::new();
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let path = format!("alerting.rules.{i}");
            rule.check(&path, &mut out);
            if let Some(first) = names.get(rule.name.as_str()) {
                problem(
                    &mut out,
                    format!("{path}.name"),
                    format!(
                        "duplicate rule name {:?} (also alerting.rules.{first})",
                        rule.name
                    ),
                );
            } else {
                names.insert(&rule.name, i);
            }
            let fixed = rule.fixed_labels();
            if !self.routes.iter().any(|r| r.may_take(&fixed)) {
                problem(
                    &mut out,
                    path,
                    format!(
                        "no route matches this rule's alerts (alertname={}, severity={})",
                        rule.name,
                        severity_name(rule.severity)
                    ),
                );
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            route.check(&format!("alerting.routes.{i}"), receivers, &mut out);
        }
        for (i, inhibit) in self.inhibit.iter().enumerate() {
            inhibit.check(&format!("alerting.inhibit.{i}"), &mut out);
        }
        for (i, silence) in self.silences.iter().enumerate() {
            for (key, message) in silence.problems() {
                problem(&mut out, format!("alerting.silences.{i}.{key}"), message);
            }
        }
        out
    }
}
