//! Tests of the alert engine: lifecycle, grouping and timing, silences, inhibition, routing,
//! restore, determinism, validation and the shipped rule set. Time is a parameter: every test
//! drives the engine with explicit `now`s, mostly every 15 s as the daemon does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::labels::{fingerprint, format_value, render_template};
use super::*;
use crate::alert::{Labels, Notification, Sample, Severity, Status};

/// Seconds after an arbitrary origin.
fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("a valid test time")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn sample(metric: &str, pairs: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        metric: metric.to_owned(),
        labels: labels(pairs),
        value,
        detail: BTreeMap::from([("statistic".to_owned(), format!("{value}"))]),
    }
}

fn feature(model: &str, name: &str, value: f64) -> Sample {
    sample(
        "feature_drift",
        &[("model", model), ("feature", name)],
        value,
    )
}

fn features(model: &str, names: &[&str]) -> Vec<Sample> {
    names.iter().map(|n| feature(model, n, 1.0)).collect()
}

fn share(model: &str, value: f64) -> Sample {
    sample("dataset_drift_share", &[("model", model)], value)
}

fn config(text: &str) -> EngineConfig {
    toml::from_str(text).expect("the test config parses")
}

/// One feature rule, one route to `log` with the default timings spelled out.
const FEATURES: &str = r#"
[[rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">="
threshold = 1
annotations = { summary = "{model}: {feature} drifts ({value}, {nope})" }

[[routes]]
receivers = ["log"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"
"#;

/// Ticks every 15 s from `from` to `to` (inclusive) with the same samples; returns what was
/// notified, with the tick time in seconds.
fn hold(e: &mut Engine, from: i64, to: i64, samples: &[Sample]) -> Vec<(i64, Notification)> {
    let mut out = Vec::new();
    let mut s = from;
    while s <= to {
        out.extend(e.tick(t(s), samples).into_iter().map(|n| (s, n)));
        s += 15;
    }
    out
}

fn alert_features(n: &Notification, status: Status) -> Vec<String> {
    let mut v: Vec<String> = n
        .alerts
        .iter()
        .filter(|a| a.status == status)
        .map(|a| a.labels.get("feature").cloned().unwrap_or_default())
        .collect();
    v.sort();
    v
}

/// `(rule, status)` of each alert of a notification, in order.
type RuleStatuses = Vec<(String, Status)>;

fn rules_in(n: &Notification) -> RuleStatuses {
    n.alerts
        .iter()
        .map(|a| (a.rule.clone(), a.status))
        .collect()
}

#[test]
fn five_features_drifting_together_make_one_notification() {
    let mut e = Engine::new(config(FEATURES));
    // Three features drift at t0, two more (and another model) a tick later: all within the wait.
    assert!(
        e.tick(t(0), &features("churn", &["f0", "f1", "f2"]))
            .is_empty()
    );
    let mut later = features("churn", &["f0", "f1", "f2", "f3", "f4"]);
    later.push(feature("fraud", "amount", 1.0));
    assert!(e.tick(t(15), &later).is_empty());
    let sent = e.tick(t(30), &later);
    assert_eq!(
        sent.len(),
        1,
        "churn's wait is over, not fraud's: {sent:#?}"
    );
    let churn = &sent[0];
    assert_eq!(churn.group_key, r#"{model="churn"}"#);
    assert_eq!(churn.group_labels, labels(&[("model", "churn")]));
    assert_eq!(churn.status, Status::Firing);
    assert_eq!(churn.receiver, "log");
    assert_eq!(churn.created, t(30));
    assert!(churn.actions.is_empty());
    assert_eq!(
        alert_features(churn, Status::Firing),
        ["f0", "f1", "f2", "f3", "f4"]
    );
    let fps: Vec<&str> = churn
        .alerts
        .iter()
        .map(|a| a.fingerprint.as_str())
        .collect();
    let mut sorted = fps.clone();
    sorted.sort_unstable();
    assert_eq!(fps, sorted, "alerts in fingerprint order");
    let f0 = churn
        .alerts
        .iter()
        .find(|a| a.labels["feature"] == "f0")
        .expect("f0 is listed");
    assert_eq!(f0.condition, ">= 1");
    assert_eq!(f0.starts_at, t(0));
    assert_eq!(f0.ends_at, None);
    assert_eq!(f0.annotations["summary"], "churn: f0 drifts (1, {nope})");
    assert_eq!(f0.detail["statistic"], "1");
    assert_eq!(f0.labels["alertname"], "FeatureDrift");
    assert_eq!(f0.labels["severity"], "warning");
    assert_eq!(f0.fingerprint, fingerprint(&f0.labels));
    let f3 = churn.alerts.iter().find(|a| a.labels["feature"] == "f3");
    assert_eq!(f3.map(|a| a.starts_at), Some(t(15)));
    let fraud = e.tick(t(45), &later);
    assert_eq!(fraud.len(), 1);
    assert_eq!(fraud[0].group_key, r#"{model="fraud"}"#);
    assert_eq!(alert_features(&fraud[0], Status::Firing), ["amount"]);
}

#[test]
fn late_sixth_feature_waits_for_group_interval() {
    let mut e = Engine::new(config(FEATURES));
    let five = features("churn", &["f0", "f1", "f2", "f3", "f4"]);
    let first = hold(&mut e, 0, 45, &five);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 30);
    // f5 fires at 60 s, f6 at 120 s: both wait for 30 s + 5 m, then go out together.
    let six = features("churn", &["f0", "f1", "f2", "f3", "f4", "f5"]);
    let seven = features("churn", &["f0", "f1", "f2", "f3", "f4", "f5", "f6"]);
    assert!(hold(&mut e, 60, 105, &six).is_empty());
    let sent = hold(&mut e, 120, 600, &seven);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].0, 330);
    assert_eq!(sent[0].1.alerts.len(), 7);
    assert_eq!(sent[0].1.status, Status::Firing);
}

#[test]
fn still_firing_group_is_renotified_every_repeat_interval() {
    let mut e = Engine::new(config(FEATURES));
    let two = features("churn", &["f0", "f1"]);
    let sent = hold(&mut e, 0, 3 * 14_400 + 60, &two);
    let times: Vec<i64> = sent.iter().map(|(s, _)| *s).collect();
    assert_eq!(times, [30, 30 + 14_400, 30 + 2 * 14_400, 30 + 3 * 14_400]);
    for (_, n) in &sent {
        assert_eq!(n.alerts, sent[0].1.alerts, "a repeat says the same");
    }
}

#[test]
fn resolved_alerts_are_notified_once_then_the_group_is_removed() {
    let mut e = Engine::new(config(FEATURES));
    assert_eq!(
        hold(&mut e, 0, 45, &features("churn", &["f0", "f1"])).len(),
        1
    );
    // f0 resolves at 60 s: told at 330 s with f1 still firing.
    let sent = hold(&mut e, 60, 390, &features("churn", &["f1"]));
    assert_eq!(sent.len(), 1);
    let (at, n) = &sent[0];
    assert_eq!(*at, 330);
    assert_eq!(n.status, Status::Firing);
    assert_eq!(alert_features(n, Status::Firing), ["f1"]);
    assert_eq!(alert_features(n, Status::Resolved), ["f0"]);
    assert_eq!(n.alerts[0].status, Status::Firing, "firing first");
    assert_eq!(n.alerts[1].ends_at, Some(t(60)));
    assert_eq!(n.alerts[1].starts_at, t(0));
    // f1 resolves at 405 s: one resolved notification at 630 s, then the group is gone.
    let quiet = [feature("churn", "f1", 0.0)];
    let sent = hold(&mut e, 405, 30_000, &quiet);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let (at, n) = &sent[0];
    assert_eq!(*at, 630);
    assert_eq!(n.status, Status::Resolved);
    assert_eq!(alert_features(n, Status::Resolved), ["f1"]);
    assert_eq!(n.alerts[0].value, 0.0, "the value seen when it resolved");
    assert_eq!(n.alerts[0].ends_at, Some(t(405)));
    assert_eq!(e.state().groups(), 0);
    assert_eq!(e.state().active_alerts(), 0);
}

#[test]
fn send_resolved_false_sends_no_resolved_notice() {
    let text = FEATURES.replace("[[routes]]", "[[routes]]\nsend_resolved = false");
    let mut e = Engine::new(config(&text));
    assert_eq!(
        hold(&mut e, 0, 45, &features("churn", &["f0", "f1"])).len(),
        1
    );
    // f0 resolving is not a change; f1 resolving removes the group at once.
    assert!(hold(&mut e, 60, 400, &features("churn", &["f1"])).is_empty());
    assert!(e.tick(t(415), &[]).is_empty());
    assert_eq!(e.state().groups(), 0);
    assert!(hold(&mut e, 430, 20_000, &[]).is_empty());
}

const SLOW: &str = r#"
[[rules]]
name = "AccuracyDrop"
metric = "model_performance_drop"
match = { metric = "accuracy" }
op = ">"
threshold = 0.05
for = "10m"

[[routes]]
receivers = ["log"]
"#;

fn drop(value: f64) -> Sample {
    sample(
        "model_performance_drop",
        &[("model", "churn"), ("metric", "accuracy")],
        value,
    )
}

#[test]
fn for_duration_keeps_an_alert_pending_until_it_has_elapsed() {
    let mut e = Engine::new(config(SLOW));
    assert!(hold(&mut e, 0, 585, &[drop(0.1)]).is_empty());
    let views = e.alerts();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].state, AlertState::Pending);
    assert_eq!(views[0].active_since, t(0));
    assert_eq!(views[0].firing_since, None);
    assert!(e.tick(t(600), &[drop(0.1)]).is_empty());
    assert_eq!(e.alerts()[0].state, AlertState::Firing);
    assert_eq!(e.alerts()[0].firing_since, Some(t(600)));
    let sent = hold(&mut e, 615, 700, &[drop(0.1)]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 630, "group_wait counts from firing, not pending");
    assert_eq!(sent[0].1.alerts[0].starts_at, t(600));
    assert_eq!(sent[0].1.alerts[0].condition, "> 0.05");
}

#[test]
fn for_duration_works_at_any_cadence() {
    let mut e = Engine::new(config(SLOW));
    assert!(e.tick(t(0), &[drop(0.1)]).is_empty());
    assert!(e.tick(t(599), &[drop(0.1)]).is_empty());
    assert_eq!(e.alerts()[0].state, AlertState::Pending);
    // One late tick does it all: firing, and the group's wait (0 s after firing < 30 s).
    assert!(e.tick(t(3_600), &[drop(0.1)]).is_empty());
    assert_eq!(e.alerts()[0].state, AlertState::Firing);
    assert_eq!(e.tick(t(7_200), &[drop(0.1)]).len(), 1);
    // Time going backwards neither panics nor fires anything new.
    assert!(e.tick(t(-50_000), &[drop(0.1)]).is_empty());
}

#[test]
fn a_pending_alert_that_recovers_is_silent() {
    let mut e = Engine::new(config(SLOW));
    assert!(hold(&mut e, 0, 300, &[drop(0.1)]).is_empty());
    assert_eq!(e.alerts().len(), 1);
    assert!(e.tick(t(315), &[drop(0.01)]).is_empty());
    assert!(e.alerts().is_empty());
    assert_eq!(e.state(), &EngineState::default());
    // Holding again restarts the `for` clock.
    assert!(hold(&mut e, 330, 915, &[drop(0.1)]).is_empty());
    assert_eq!(e.alerts()[0].active_since, t(330));
    assert!(hold(&mut e, 930, 5_000, &[drop(0.0)]).is_empty());
}

fn share_rule(resolve: Option<f64>) -> EngineConfig {
    let resolve = resolve.map_or(String::new(), |r| format!("resolve_threshold = {r}"));
    config(&format!(
        r#"
[[rules]]
name = "DatasetDrift"
metric = "dataset_drift_share"
op = ">"
threshold = 0.2
{resolve}

[[routes]]
receivers = ["log"]
"#
    ))
}

/// Every 15 s: 0.21, 0.19, 0.21, 0.18, 0.22, then 0.16 … 0.24 back and forth for an hour.
fn oscillation() -> Vec<f64> {
    let mut v = vec![0.21, 0.19, 0.21, 0.18, 0.22];
    let band = [0.16, 0.18, 0.2, 0.22, 0.24, 0.22, 0.2, 0.18];
    v.extend(band.iter().cycle().take(240));
    v
}

fn run_values(e: &mut Engine, from: i64, values: &[f64]) -> (i64, Vec<(i64, Notification)>) {
    let mut out = Vec::new();
    let mut s = from;
    for v in values {
        out.extend(
            e.tick(t(s), &[share("churn", *v)])
                .into_iter()
                .map(|n| (s, n)),
        );
        s += 15;
    }
    (s, out)
}

#[test]
fn hysteresis_fires_once_through_oscillation_and_resolves_below_the_resolve_threshold() {
    let mut e = Engine::new(share_rule(Some(0.15)));
    let (next, sent) = run_values(&mut e, 0, &oscillation());
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].1.status, Status::Firing);
    assert_eq!(e.alerts()[0].active_since, t(0));
    let (_, sent) = run_values(&mut e, next, &[0.1; 30]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.status, Status::Resolved);
    assert_eq!(sent[0].1.alerts[0].ends_at, Some(t(next)));
    assert_eq!(sent[0].1.alerts[0].value, 0.1);

    // Without hysteresis the same values resolve and re-fire.
    let mut plain = Engine::new(share_rule(None));
    let (_, sent) = run_values(&mut plain, 0, &oscillation());
    assert!(
        sent.iter()
            .any(|(_, n)| n.alerts.iter().any(|a| a.status == Status::Resolved)),
        "the control run must flap"
    );
}

#[test]
fn keep_firing_for_makes_a_flapping_condition_one_episode() {
    let rule = |keep: &str| {
        config(&format!(
            r#"
[[rules]]
name = "DatasetDrift"
metric = "dataset_drift_share"
op = ">"
threshold = 0.2
keep_firing_for = "{keep}"

[[routes]]
receivers = ["log"]
"#
        ))
    };
    // The oscillation's dips below the threshold last at most 45 s: within 2 min, one episode.
    let mut e = Engine::new(rule("2m"));
    let (next, sent) = run_values(&mut e, 0, &oscillation());
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].1.status, Status::Firing);
    // It keeps firing for 2 min after the condition clears for good, then resolves once, with
    // the time it resolved and the last value seen.
    let mut values = vec![0.5];
    values.extend([0.1; 30]);
    let (_, sent) = run_values(&mut e, next, &values);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].1.status, Status::Resolved);
    assert_eq!(sent[0].1.alerts[0].ends_at, Some(t(next + 15 + 120)));
    assert_eq!(sent[0].1.alerts[0].value, 0.1);
    // The condition returning within the time clears the countdown: a later dip starts anew.
    let mut e = Engine::new(rule("2m"));
    let mut values = vec![0.5; 4];
    values.extend([0.1; 6]); // 90 s below
    values.extend([0.5; 2]);
    values.extend([0.1; 6]); // 90 s below again: 180 s in all, but never 120 s in a row
    values.extend([0.5; 2]);
    let (_, sent) = run_values(&mut e, 0, &values);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(
        e.alerts()[0].active_since,
        t(0),
        "one episode since the start"
    );
    // 0s (the default) resolves at once: the control run's alert is a new episode.
    let mut plain = Engine::new(rule("0s"));
    run_values(&mut plain, 0, &values);
    assert_eq!(
        plain.alerts()[0].active_since,
        t(15 * 18),
        "the control run must flap"
    );
}

#[test]
fn an_absent_sample_resolves_its_alert() {
    let mut e = Engine::new(config(FEATURES));
    assert_eq!(hold(&mut e, 0, 45, &[feature("churn", "f0", 1.0)]).len(), 1);
    let sent = hold(&mut e, 60, 600, &[]);
    assert_eq!(sent.len(), 1);
    let (at, n) = &sent[0];
    assert_eq!(*at, 330);
    assert_eq!(n.status, Status::Resolved);
    assert_eq!(n.alerts[0].ends_at, Some(t(60)));
    assert_eq!(n.alerts[0].value, 1.0, "the last value seen");
    assert_eq!(e.state().groups(), 0);
}

#[test]
fn nan_never_fires_and_resolves_a_firing_alert() {
    let mut e = Engine::new(config(FEATURES));
    assert!(hold(&mut e, 0, 600, &[feature("churn", "f0", f64::NAN)]).is_empty());
    assert!(e.alerts().is_empty());
    assert_eq!(
        hold(&mut e, 615, 660, &[feature("churn", "f0", 1.0)]).len(),
        1
    );
    let sent = hold(&mut e, 675, 1_000, &[feature("churn", "f0", f64::NAN)]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.status, Status::Resolved);
}

fn silence(pairs: &[(&str, &str)], ends_at: i64) -> SilenceConfig {
    SilenceConfig {
        matchers: labels(pairs),
        starts_at: None,
        ends_at: t(ends_at),
        comment: "test".to_owned(),
        created_by: "tests".to_owned(),
    }
}

#[test]
fn a_config_silence_suppresses_and_its_expiry_restores() {
    let mut cfg = config(FEATURES);
    cfg.silences.push(silence(&[("feature", "f0")], 600));
    let mut e = Engine::new(cfg);
    let two = features("churn", &["f0", "f1"]);
    let sent = hold(&mut e, 0, 585, &two);
    assert_eq!(sent.len(), 1);
    assert_eq!(alert_features(&sent[0].1, Status::Firing), ["f1"]);
    let f0 = e.alerts().into_iter().find(|a| a.labels["feature"] == "f0");
    assert_eq!(f0.map(|a| (a.silenced, a.inhibited)), Some((true, false)));
    assert_eq!(e.silences(t(585)).len(), 1);
    // The silence ends at 600 s: f0 is new to the receivers, past the group interval.
    let sent = hold(&mut e, 600, 900, &two);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].0, 600);
    assert_eq!(alert_features(&sent[0].1, Status::Firing), ["f0", "f1"]);
    assert!(e.silences(t(600)).is_empty());
}

#[test]
fn silencing_a_notified_alert_renotifies_it_when_the_silence_ends() {
    let mut e = Engine::new(config(FEATURES));
    let one = [feature("churn", "f0", 1.0)];
    assert_eq!(hold(&mut e, 0, 45, &one).len(), 1);
    let id = e
        .add_silence(silence(&[("model", "churn")], 1_000), t(100))
        .expect("a valid silence");
    assert!(
        e.alerts()[0].silenced,
        "applied at once, not at the next tick"
    );
    assert!(hold(&mut e, 105, 990, &one).is_empty());
    let sent = hold(&mut e, 1_005, 1_100, &one);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 1_005);
    assert!(e.silences(t(1_005)).iter().all(|s| s.id != id));
    assert_eq!(
        e.state().silences.len(),
        0,
        "ended API silences are dropped"
    );
}

#[test]
fn api_silences_are_validated_listed_and_expired() {
    let mut e = Engine::new(config(FEATURES));
    let empty = e.add_silence(silence(&[], 1_000), t(0));
    assert!(empty.is_err_and(
        |err| matches!(err, SilenceError::Invalid { key: "match", .. })
            && err.to_string().starts_with("match: must not be empty")
    ));
    let past = e.add_silence(silence(&[("model", "churn")], 10), t(10));
    assert_eq!(past, Err(SilenceError::AlreadyEnded { ends_at: t(10) }));
    assert!(past.is_err_and(|err| err.to_string().starts_with("ends_at:")));
    let mut backwards = silence(&[("model", "churn")], 100);
    backwards.starts_at = Some(t(200));
    assert_eq!(
        e.add_silence(backwards, t(0))
            .map_err(|err| err.to_string()),
        Err("ends_at: must be after starts_at".into())
    );

    let a = e.add_silence(silence(&[("model", "churn")], 1_000), t(0));
    let mut later = silence(&[("model", "fraud")], 2_000);
    later.starts_at = Some(t(500));
    let b = e.add_silence(later, t(0));
    assert_eq!(a.as_deref(), Ok("api-0"));
    assert_eq!(b.as_deref(), Ok("api-1"));
    let listed = e.silences(t(10));
    assert_eq!(listed.len(), 2, "pending silences are listed");
    assert_eq!(
        listed[0].starts_at,
        Some(t(0)),
        "an API silence starts when created"
    );
    assert!(listed[0].is_active(t(10)) && !listed[1].is_active(t(10)));
    assert!(e.expire_silence("api-0", t(20)));
    assert!(!e.expire_silence("api-0", t(20)));
    assert!(!e.expire_silence("nope", t(20)));
    assert_eq!(e.silences(t(20)).len(), 1);

    // A config silence can be expired too, and stays expired across a reload.
    let mut cfg = config(FEATURES);
    cfg.silences.push(silence(&[("model", "churn")], 5_000));
    e.reload(cfg.clone());
    let id = e.silences(t(30))[0].id.clone();
    assert!(id.starts_with("cfg-"));
    assert!(e.expire_silence(&id, t(30)));
    e.reload(cfg);
    assert!(e.silences(t(40)).iter().all(|s| s.id != id));
    let sent = hold(&mut e, 45, 100, &[feature("churn", "f0", 1.0)]);
    assert_eq!(sent.len(), 1);
}

const INHIBITED: &str = r#"
[[rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">="
threshold = 1

[[rules]]
name = "DatasetDrift"
metric = "dataset_drift_share"
op = ">="
threshold = 0.5
severity = "critical"
FOR

[[routes]]
receivers = ["log"]

[[inhibit]]
source_match = { alertname = "DatasetDrift" }
target_match = { alertname = "FeatureDrift" }
equal = ["model"]
"#;

#[test]
fn a_firing_source_inhibits_targets_with_equal_labels() {
    let mut e = Engine::new(config(&INHIBITED.replace("FOR", "")));
    let mut all = features("churn", &["f0", "f1"]);
    all.push(share("churn", 0.6));
    all.push(feature("fraud", "amount", 1.0));
    let sent = hold(&mut e, 0, 45, &all);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].1.group_key, r#"{model="churn"}"#);
    assert_eq!(
        rules_in(&sent[0].1),
        [("DatasetDrift".to_owned(), Status::Firing)]
    );
    assert_eq!(alert_features(&sent[1].1, Status::Firing), ["amount"]);
    for a in e.alerts() {
        let expected = a.rule == "FeatureDrift" && a.labels["model"] == "churn";
        assert_eq!(a.inhibited, expected, "{a:?}");
        assert!(!a.silenced);
    }
    // The dataset recovers: the features come out, with the dataset alert resolved.
    let mut recovered = features("churn", &["f0", "f1"]);
    recovered.push(share("churn", 0.1));
    recovered.push(feature("fraud", "amount", 1.0));
    let sent = hold(&mut e, 60, 400, &recovered);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].0, 330);
    let n = &sent[0].1;
    assert_eq!(alert_features(n, Status::Firing), ["f0", "f1"]);
    assert_eq!(
        n.alerts.last().map(|a| (a.rule.as_str(), a.status)),
        Some(("DatasetDrift", Status::Resolved))
    );
}

#[test]
fn inhibition_rules_added_through_the_api_apply_survive_a_restore_and_can_be_removed() {
    // The same rules without the config's inhibition: it is added at run time instead.
    let text = INHIBITED.replace("FOR", "");
    let text = &text[..text.find("[[inhibit]]").expect("the fixture has one")];
    let mut e = Engine::new(config(text));
    let rule = InhibitConfig {
        source_match: labels(&[("alertname", "DatasetDrift")]),
        target_match: labels(&[("alertname", "FeatureDrift")]),
        equal: vec!["model".into()],
    };
    let refused = e.add_inhibit(InhibitConfig::default(), t(0)).unwrap_err();
    assert!(
        matches!(&refused, SilenceError::InvalidInhibit(p) if p.len() == 2),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .starts_with("inhibit.source_match: must not be empty"),
        "{refused}"
    );
    let id = e.add_inhibit(rule.clone(), t(0)).expect("a valid rule");
    assert_eq!(e.inhibitions(), [(id.clone(), rule)]);
    let mut all = features("churn", &["f0", "f1"]);
    all.push(share("churn", 0.6));
    let sent = hold(&mut e, 0, 45, &all);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(
        rules_in(&sent[0].1),
        [("DatasetDrift".to_owned(), Status::Firing)]
    );
    // Kept in the state: a restored engine still inhibits.
    let state: EngineState =
        serde_json::from_str(&serde_json::to_string(e.state()).unwrap()).unwrap();
    let mut restored = Engine::restore(config(text), state);
    assert!(
        restored
            .alerts()
            .iter()
            .all(|a| a.inhibited == (a.rule == "FeatureDrift"))
    );
    // Removed: the features are notified, with the still-firing dataset alert (no feature: "").
    assert!(restored.remove_inhibit(&id, t(60)));
    assert!(!restored.remove_inhibit(&id, t(60)));
    let sent = hold(&mut restored, 60, 400, &all);
    assert_eq!(
        alert_features(&sent[0].1, Status::Firing),
        ["", "f0", "f1"],
        "{sent:#?}"
    );
}

#[test]
fn a_pending_source_does_not_inhibit() {
    let mut e = Engine::new(config(&INHIBITED.replace("FOR", r#"for = "10m""#)));
    let mut all = features("churn", &["f0"]);
    all.push(share("churn", 0.6));
    let sent = hold(&mut e, 0, 45, &all);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        rules_in(&sent[0].1),
        [("FeatureDrift".to_owned(), Status::Firing)]
    );
}

#[test]
fn an_alert_never_inhibits_itself() {
    let text = format!(
        "{FEATURES}\n[[inhibit]]\nsource_match = {{ alertname = \"FeatureDrift\" }}\n\
         target_match = {{ alertname = \"FeatureDrift\" }}\nequal = [\"model\"]\n"
    );
    let mut e = Engine::new(config(&text));
    let sent = hold(&mut e, 0, 45, &[feature("churn", "f0", 1.0)]);
    assert_eq!(sent.len(), 1);
    assert!(!e.alerts()[0].inhibited);
}

#[test]
fn each_receiver_gets_its_own_notification() {
    let text = FEATURES.replace(r#"receivers = ["log"]"#, r#"receivers = ["oncall", "log"]"#);
    let mut e = Engine::new(config(&text));
    let sent = hold(&mut e, 0, 45, &features("churn", &["f0", "f1"]));
    assert_eq!(sent.len(), 2);
    let (a, b) = (&sent[0].1, &sent[1].1);
    assert_eq!(
        (a.receiver.as_str(), b.receiver.as_str()),
        ("oncall", "log")
    );
    assert_ne!(a.id, b.id);
    assert!(a.id.starts_with("oncall-") && b.id.starts_with("log-"));
    assert_eq!(
        a.id.trim_start_matches("oncall-"),
        b.id.trim_start_matches("log-")
    );
    assert_eq!(a.alerts, b.alerts);
    assert_eq!(a.group_key, b.group_key);
}

#[test]
fn routes_take_the_first_match_unless_it_continues() {
    let text = r#"
[[rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">="
threshold = 1

[[rules]]
name = "DatasetDrift"
metric = "dataset_drift_share"
op = ">="
threshold = 0.5
severity = "critical"

[[routes]]
match = { severity = "critical" }
receivers = ["oncall"]
group_wait = "0s"
continue = true

[[routes]]
match = { alertname = "!DatasetDrift" }
receivers = ["log"]
group_wait = "0s"

[[routes]]
receivers = ["archive"]
group_wait = "0s"
"#;
    let mut e = Engine::new(config(text));
    let sent = e.tick(t(0), &[share("churn", 0.7), feature("churn", "f0", 1.0)]);
    let got: Vec<(&str, RuleStatuses)> = sent
        .iter()
        .map(|n| (n.receiver.as_str(), rules_in(n)))
        .collect();
    let firing = |r: &str| vec![(r.to_owned(), Status::Firing)];
    assert_eq!(
        got,
        [
            ("oncall", firing("DatasetDrift")),
            ("log", firing("FeatureDrift")),
            ("archive", firing("DatasetDrift")),
        ]
    );
}

#[test]
fn group_by_all_labels_makes_one_group_per_alert() {
    let text = FEATURES.replace("[[routes]]", "[[routes]]\ngroup_by = [\"...\"]");
    let mut e = Engine::new(config(&text));
    let sent = hold(&mut e, 0, 45, &features("churn", &["f0", "f1"]));
    assert_eq!(sent.len(), 2);
    assert!(sent[0].1.group_key.contains(r#"feature="f0""#));
    assert_eq!(sent[0].1.group_labels["alertname"], "FeatureDrift");
}

/// Samples of a longer scenario: five features from 0 s, f0 recovers at 2,000 s, f5 drifts at
/// 3,000 s, everything recovers at 20,000 s.
fn scenario(s: i64) -> Vec<Sample> {
    let mut v: Vec<Sample> = Vec::new();
    if s < 20_000 {
        let names: &[&str] = if s < 2_000 {
            &["f0", "f1", "f2", "f3", "f4"]
        } else if s < 3_000 {
            &["f1", "f2", "f3", "f4"]
        } else {
            &["f1", "f2", "f3", "f4", "f5"]
        };
        v.extend(features("churn", names));
        v.push(share("churn", 0.25 + (s % 7) as f64 / 100.0));
    }
    v.push(feature(
        "fraud",
        "amount",
        if (s / 900) % 2 == 0 { 1.0 } else { 0.0 },
    ));
    v
}

const SCENARIO: &str = r#"
[[rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">="
threshold = 1
annotations = { summary = "{model}/{feature}: {statistic}" }

[[rules]]
name = "DatasetDrift"
metric = "dataset_drift_share"
op = ">"
threshold = 0.3
resolve_threshold = 0.2
for = "1m"

[[routes]]
receivers = ["oncall", "log"]
repeat_interval = "1h"
"#;

fn run_scenario(e: &mut Engine, from: i64, to: i64) -> Vec<Notification> {
    (from..=to)
        .step_by(15)
        .flat_map(|s| e.tick(t(s), &scenario(s)))
        .collect()
}

#[test]
fn a_restored_engine_continues_like_the_original() {
    let mut original = Engine::new(config(SCENARIO));
    let before = run_scenario(&mut original, 0, 600);
    assert!(!before.is_empty());
    let bytes = serde_json::to_string(original.state()).expect("the state serialises");
    let state: EngineState = serde_json::from_str(&bytes).expect("and reads back");
    assert_eq!(&state, original.state());
    let mut restored = Engine::restore(config(SCENARIO), state);
    // Still firing, already notified: nothing until a change (2,000 s) or the repeat.
    let quiet: Vec<Notification> = run_scenario(&mut restored.clone(), 615, 1_995)
        .into_iter()
        .filter(|n| n.group_key == r#"{model="churn"}"#)
        .collect();
    assert!(quiet.is_empty(), "{quiet:#?}");
    let a = run_scenario(&mut original, 615, 30_000);
    let b = run_scenario(&mut restored, 615, 30_000);
    assert!(a.len() > 10);
    assert_eq!(a, b);
    assert_eq!(original.state(), restored.state());
}

#[test]
fn same_inputs_give_identical_notifications() {
    let mut one = Engine::new(config(SCENARIO));
    let mut two = Engine::new(config(SCENARIO));
    let a = serde_json::to_string(&run_scenario(&mut one, 0, 30_000)).expect("serialises");
    let b = serde_json::to_string(&run_scenario(&mut two, 0, 30_000)).expect("serialises");
    assert_eq!(a, b);
    let sa = serde_json::to_string(one.state()).expect("serialises");
    let sb = serde_json::to_string(two.state()).expect("serialises");
    assert_eq!(sa, sb);
}

#[test]
fn notification_ids_are_unique_across_group_lifetimes() {
    let mut e = Engine::new(config(SCENARIO));
    let sent = run_scenario(&mut e, 0, 30_000);
    let ids: std::collections::BTreeSet<&str> = sent.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), sent.len());
    // The fraud group comes and goes every 15 minutes.
    let fraud = sent
        .iter()
        .filter(|n| n.group_key == r#"{model="fraud"}"# && n.status == Status::Resolved)
        .count();
    assert!(fraud >= 10, "{fraud}");
}

#[test]
fn fingerprints_are_fnv1a_and_stable_across_builds() {
    let l = labels(&[("alertname", "FeatureDrift"), ("model", "churn")]);
    assert_eq!(fingerprint(&l), "3ace29bcdaef9f66");
}

#[test]
fn the_state_stays_bounded_over_many_cycles() {
    let mut e = Engine::new(config(SCENARIO));
    let mut sizes = Vec::new();
    let mut sent = 0;
    for cycle in 0..100_i64 {
        let start = cycle * 3_600;
        let mut drifting = features("churn", &["f0", "f1", "f2"]);
        drifting.push(share("churn", 0.5));
        let until = start + 1_000;
        sent += hold(&mut e, start, until, &drifting).len();
        let stop = start + 1_800;
        let _ = e.add_silence(silence(&[("model", "churn")], stop), t(until));
        sent += hold(&mut e, until + 15, start + 3_585, &[]).len();
        assert_eq!(e.state().active_alerts(), 0);
        assert_eq!(e.state().groups(), 0);
        sizes.push(serde_json::to_vec(e.state()).map_or(0, |b| b.len()));
    }
    assert!(sent >= 400, "{sent}");
    let (first, last) = (sizes[0], sizes[sizes.len() - 1]);
    assert!(last <= first + 8, "state grew from {first} to {last} bytes");
}

#[test]
fn reload_keeps_the_state_of_remaining_rules() {
    let mut e = Engine::new(config(&INHIBITED.replace("FOR", "")));
    let mut all = features("churn", &["f0"]);
    all.push(share("churn", 0.6));
    all.push(feature("fraud", "amount", 1.0));
    assert_eq!(hold(&mut e, 0, 45, &all).len(), 2);
    // Drop DatasetDrift, change FeatureDrift's threshold, add a rule, slow the repeats.
    let text = r#"
[[rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">"
threshold = 0.5

[[rules]]
name = "ModelStale"
metric = "seconds_since_last_event"
op = ">"
threshold = 600

[[routes]]
receivers = ["log"]
repeat_interval = "8h"
"#;
    e.reload(config(text));
    let views = e.alerts();
    assert_eq!(views.len(), 2, "{views:#?}");
    assert!(
        views
            .iter()
            .all(|a| a.rule == "FeatureDrift" && a.active_since == t(0))
    );
    // The churn feature was inhibited and is now visible: new to the receivers, with the
    // dataset alert's resolution; the fraud group, already told, stays quiet.
    let sent = hold(&mut e, 60, 20_000, &all);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let (at, n) = &sent[0];
    assert_eq!(*at, 330);
    assert_eq!(n.group_key, r#"{model="churn"}"#);
    assert_eq!(
        rules_in(n),
        [
            ("FeatureDrift".to_owned(), Status::Firing),
            ("DatasetDrift".to_owned(), Status::Resolved)
        ]
    );
    assert_eq!(n.alerts[0].starts_at, t(0));
}

#[test]
fn annotations_render_labels_values_and_detail() {
    let text = r#"
[[rules]]
name = "AccuracyDrop"
metric = "driftd_model_performance_drop"
match = { metric = "accuracy", model = "!fraud" }
op = ">"
threshold = 0.05
labels = { team = "ml" }
annotations = { a = "{model} {metric} {quantity} {value} {threshold} {condition} {p_value}", b = "{unknown} {} { x } {team}{severity} {" }

[[routes]]
receivers = ["log"]
group_wait = "0s"
"#;
    let mut e = Engine::new(config(text));
    let mut s = drop(0.30000000000000004);
    s.detail.insert("p_value".to_owned(), "1.2e-4".to_owned());
    let mut other = drop(0.5);
    other.labels.insert("model".to_owned(), "fraud".to_owned());
    let mut f1 = drop(0.5);
    f1.labels.insert("metric".to_owned(), "macro_f1".to_owned());
    let sent = e.tick(t(0), &[s, other, f1]);
    assert_eq!(sent.len(), 1, "matchers keep churn's accuracy only");
    let a = &sent[0].alerts[0];
    assert_eq!(
        a.annotations["a"],
        "churn accuracy model_performance_drop 0.3 0.05 > 0.05 1.2e-4"
    );
    assert_eq!(a.annotations["b"], "{unknown} {} { x } mlwarning {");
    assert_eq!(a.labels["team"], "ml");
    assert_eq!(a.value, 0.30000000000000004);
}

#[test]
fn template_and_value_helpers() {
    let look = |n: &str| (n == "x").then(|| "X".to_owned());
    assert_eq!(render_template("{x}{x}}{{x}", look), "XX}{X");
    assert_eq!(render_template("é{x}ü{", look), "éXü{");
    assert_eq!(format_value(1.234_567_89e-7), "0.000000123457");
    assert_eq!(format_value(600.0), "600");
    assert_eq!(format_value(f64::INFINITY), "inf");
}

#[test]
fn duplicate_samples_collapse_to_the_most_severe_value() {
    let mut e = Engine::new(share_rule(None));
    let n = e.tick(
        t(0),
        &[
            share("churn", 0.1),
            share("churn", 0.4),
            share("churn", 0.3),
        ],
    );
    assert!(n.is_empty());
    let views = e.alerts();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].value, 0.4);
}

#[test]
fn infinite_values_survive_the_state_round_trip() {
    let mut e = Engine::new(share_rule(None));
    e.tick(t(0), &[share("churn", f64::INFINITY)]);
    let bytes = serde_json::to_string(e.state()).expect("serialises");
    let back: EngineState = serde_json::from_str(&bytes).expect("reads back");
    assert_eq!(back.alerts, e.state().alerts);
    assert_eq!(
        Engine::restore(share_rule(None), back).alerts()[0].value,
        f64::INFINITY
    );
}

#[test]
fn silences_parse_from_toml_datetimes_and_strings() {
    let text = r#"
[[silences]]
match = { model = "churn" }
ends_at = 2030-01-01T00:00:00Z
[[silences]]
match = { model = "fraud" }
starts_at = "2029-01-01T00:00:00+01:00"
ends_at = "2030-01-01T00:00:00Z"
"#;
    let cfg = config(text);
    assert_eq!(
        cfg.silences[0].ends_at.to_rfc3339(),
        "2030-01-01T00:00:00+00:00"
    );
    assert_eq!(
        cfg.silences[1].starts_at.map(|s| s.to_rfc3339()),
        Some("2028-12-31T23:00:00+00:00".to_owned())
    );
    let bad =
        toml::from_str::<EngineConfig>("[[silences]]\nmatch = { a = \"b\" }\nends_at = \"soon\"");
    assert!(bad.is_err());
    let api: SilenceConfig = serde_json::from_str(
        r#"{"match": {"model": "churn"}, "starts_at": null, "ends_at": "2030-01-01T00:00:00Z"}"#,
    )
    .expect("JSON with a null start");
    assert_eq!(api.starts_at, None);
    let json = serde_json::to_string(&cfg.silences[1]).expect("serialises");
    let back: SilenceConfig = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, cfg.silences[1]);
}

#[test]
fn configs_reject_unknown_keys() {
    assert!(toml::from_str::<EngineConfig>("[[rules]]\nname = \"x\"\nmetric = \"reject_ratio\"\nop = \">\"\nthreshold = 1\nfour = \"5m\"").is_err());
    assert!(toml::from_str::<EngineConfig>("[[routes]]\nreceiver = \"log\"").is_err());
    assert!(
        toml::from_str::<EngineConfig>(
            "[[rules]]\nname = \"x\"\nmetric = \"reject_ratio\"\nop = \"==\"\nthreshold = 1"
        )
        .is_err()
    );
    let route = &config("[[routes]]\nreceivers = [\"log\"]").routes[0];
    assert_eq!(
        route,
        &RouteConfig {
            receivers: vec!["log".to_owned()],
            ..RouteConfig::default()
        }
    );
    assert_eq!(route.group_by, ["model"]);
    assert!(route.send_resolved && !route.continue_);
}

fn paths(problems: &[(String, String)]) -> Vec<&str> {
    let mut p: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    p.sort_unstable();
    p
}

fn message<'a>(problems: &'a [(String, String)], path: &str) -> &'a str {
    problems
        .iter()
        .find(|(p, _)| p == path)
        .map_or("", |(_, m)| m.as_str())
}

#[test]
fn validate_reports_each_problem_with_its_path() {
    let text = r#"
[[rules]]
name = "Typo"
metric = "drift_pvalue"
op = "<"
threshold = 0.01

[[rules]]
name = ""
metric = "driftd_feature_drift"
op = ">="
threshold = 1
severity = "critical"

[[rules]]
name = "Twice"
metric = "dataset_drift_share"
match = { feature = "age" }
op = ">"
threshold = nan
severity = "critical"

[[rules]]
name = "Twice"
metric = "dataset_drift_share"
op = ">"
threshold = 0.2
resolve_threshold = 0.3
severity = "critical"
labels = { severity = "low", model = "x", "" = "y" }

[[rules]]
name = "Info"
metric = "label_coverage_ratio"
op = "<"
threshold = 0.1
severity = "info"

[[routes]]
match = { severity = "critical" }
receivers = ["pager", "log", "log"]

[[routes]]
match = { alertname = "Typo" }
receivers = []
group_by = [""]

[[routes]]
match = { alertname = "Typo", "" = "x" }
receivers = ["log"]
group_interval = "0s"
repeat_interval = "0s"

[[inhibit]]
target_match = { alertname = "FeatureDrift" }
equal = [""]

[[silences]]
match = {}
starts_at = 2030-01-02T00:00:00Z
ends_at = 2030-01-01T00:00:00Z
"#;
    let problems = config(text).validate(&["log"]);
    assert_eq!(
        paths(&problems),
        [
            "alerting.inhibit.0.equal.0",
            "alerting.inhibit.0.source_match",
            "alerting.routes.0.receivers.0",
            "alerting.routes.0.receivers.2",
            "alerting.routes.1.group_by.0",
            "alerting.routes.1.receivers",
            "alerting.routes.2.group_interval",
            "alerting.routes.2.match",
            "alerting.routes.2.repeat_interval",
            "alerting.rules.0.metric",
            "alerting.rules.1.name",
            "alerting.rules.2.match.feature",
            "alerting.rules.2.threshold",
            "alerting.rules.3.labels.",
            "alerting.rules.3.labels.model",
            "alerting.rules.3.labels.severity",
            "alerting.rules.3.name",
            "alerting.rules.3.resolve_threshold",
            "alerting.rules.4",
            "alerting.silences.0.ends_at",
            "alerting.silences.0.match",
        ],
        "{problems:#?}"
    );
    assert!(
        message(&problems, "alerting.rules.0.metric").starts_with(
            "unknown quantity \"drift_pvalue\"; known: drift_statistic, drift_p_value,"
        )
    );
    assert_eq!(
        message(&problems, "alerting.rules.4"),
        "no route matches this rule's alerts (alertname=Info, severity=info)"
    );
    assert!(message(&problems, "alerting.rules.3.name").contains("duplicate rule name \"Twice\""));
    assert!(message(&problems, "alerting.rules.3.resolve_threshold").contains("at most 0.2"));
    assert!(message(&problems, "alerting.rules.2.match.feature").contains("does not carry"));
    assert!(
        message(&problems, "alerting.routes.0.receivers.0")
            .starts_with("unknown receiver \"pager\"")
    );
    assert!(message(&problems, "alerting.routes.0.receivers.2").contains("twice"));
    assert_eq!(
        message(&problems, "alerting.routes.1.receivers"),
        "no receivers"
    );
}

#[test]
fn validate_checks_that_some_route_can_take_each_rule() {
    let text = r#"
[[rules]]
name = "Labelled"
metric = "reject_ratio"
op = ">"
threshold = 0.05
severity = "critical"
labels = { team = "ml" }

[[rules]]
name = "Unlabelled"
metric = "reject_ratio"
op = ">"
threshold = 0.05
severity = "critical"

[[rules]]
name = "Warning"
metric = "reject_ratio"
op = ">"
threshold = 0.05

[[rules]]
name = "Other"
metric = "reject_ratio"
op = ">"
threshold = 0.05

[[rules]]
name = "Accuracy"
metric = "model_performance_drop"
match = { metric = "accuracy" }
op = ">"
threshold = 0.05

[[routes]]
match = { severity = "critical", team = "data" }
receivers = ["log"]

[[routes]]
match = { alertname = "Other" }
receivers = ["log"]

[[routes]]
match = { metric = "!accuracy", alertname = "Accuracy" }
receivers = ["log"]
"#;
    let problems = config(text).validate(&["log"]);
    assert_eq!(
        paths(&problems),
        ["alerting.rules.0", "alerting.rules.2", "alerting.rules.4"],
        "{problems:#?}"
    );
    assert!(config("").validate(&[]).is_empty());
}

/// The shipped rule file read as the daemon reads a config's `[alerting]` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippedFile {
    alerting: crate::alert::AlertingConfig,
}

fn shipped() -> EngineConfig {
    let file: ShippedFile = toml::from_str(include_str!("../../../../config/alerting.toml"))
        .expect("config/alerting.toml parses");
    EngineConfig {
        rules: file.alerting.rules,
        routes: file.alerting.routes,
        inhibit: file.alerting.inhibit,
        silences: Vec::new(),
    }
}

#[test]
fn the_shipped_rule_set_parses_and_validates() {
    let cfg = shipped();
    assert_eq!(
        cfg.validate(&["oncall", "log"]),
        Vec::<(String, String)>::new()
    );
    let names: Vec<&str> = cfg.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "FeatureDrift",
            "DatasetDrift",
            "PredictionDrift",
            "ConceptDrift",
            "AccuracyDrop",
            "LabelDrift",
            "LabelCoverageLow",
            "ModelStale",
            "RejectRatioHigh",
            "ModelPromoted",
            "ModelRolledBack",
            "RetrainFailed"
        ]
    );
    for r in &cfg.rules {
        for key in ["summary", "description", "runbook_url"] {
            assert!(r.annotations.contains_key(key), "{} lacks {key}", r.name);
        }
    }
    let accuracy = &cfg.rules[4];
    assert_eq!(accuracy.for_, std::time::Duration::from_secs(600));
    assert_eq!(accuracy.resolve_threshold, Some(0.02));
    let rule = |name: &str| cfg.rules.iter().find(|r| r.name == name).unwrap();
    assert_eq!(rule("LabelCoverageLow").severity, Severity::Info);
    assert_eq!(rule("LabelDrift").severity, Severity::Warning);
    assert_eq!(cfg.rules[1].severity, Severity::Critical);
    // Without the oncall receiver the critical route is an error.
    assert!(!cfg.validate(&["log"]).is_empty());
}

#[test]
fn the_shipped_rule_set_pages_critical_alerts_and_inhibits_features() {
    let mut e = Engine::new(shipped());
    let mut drift = features("churn", &["age", "income"]);
    drift.push(share("churn", 0.6));
    drift.push(feature("fraud", "amount", 1.0));
    let sent = hold(&mut e, 0, 45, &drift);
    let got: Vec<(&str, &str, RuleStatuses)> = sent
        .iter()
        .map(|(_, n)| (n.receiver.as_str(), n.group_key.as_str(), rules_in(n)))
        .collect();
    let dataset = vec![("DatasetDrift".to_owned(), Status::Firing)];
    let fraud = vec![("FeatureDrift".to_owned(), Status::Firing)];
    assert_eq!(
        got,
        [
            // The shipped routes group by model and rule.
            (
                "oncall",
                r#"{alertname="DatasetDrift",model="churn"}"#,
                dataset.clone()
            ),
            (
                "log",
                r#"{alertname="DatasetDrift",model="churn"}"#,
                dataset
            ),
            ("log", r#"{alertname="FeatureDrift",model="fraud"}"#, fraud),
        ]
    );
    let summary = &sent[0].1.alerts[0].annotations["summary"];
    assert_eq!(summary, "churn: 0.6 of the features drift");
}
