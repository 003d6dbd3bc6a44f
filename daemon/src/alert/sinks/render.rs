//! Rendering a [`Notification`] for humans: the subject line, a plain-text body and an HTML body.
//!
//! Pure functions of the notification (no clock, no I/O), so a redelivered notification renders
//! to the same bytes. The subject says at a glance what fired where
//! (`[driftd] FIRING 2 · churn · feature drift: age, tenure_days`); the bodies give, per alert,
//! the numbers behind it (value and condition, then the sample's `detail`: test, statistic,
//! p-value, threshold, window, reference vs current), since when, what driftd did about it, and
//! links to the dashboard and the runbook. Every value is HTML-escaped in the HTML body, and only
//! `http(s)` URLs become links.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alert::{AlertSnapshot, Notification, Status};
use crate::report::esc as escape;

/// How many affected features (or metrics, detectors) the subject names before "+N more".
const SUBJECT_TARGETS: usize = 5;

/// Detail keys shown first, in this order; the others follow alphabetically.
const DETAIL_ORDER: &[&str] = &[
    "test",
    "statistic",
    "p_value",
    "threshold",
    "window",
    "reference",
    "current",
];

/// Labels that say *what* an alert is about, in order of preference.
const TARGET_LABELS: &[&str] = &["feature", "metric", "detector"];

/// The subject line, e.g. `[driftd] FIRING 2 · churn · data drift: age, tenure_days` or
/// `[driftd] RESOLVED · churn · data drift: age`.
///
/// Made of: the prefix, the status (with the number of firing alerts), the model (of the group,
/// else of the alerts), the rules in words (from `alertname`, e.g. `DataDrift` → `data drift`)
/// and the affected features (or metrics, detectors), at most five then `+N more`. A firing
/// notification describes its firing alerts only; a resolved one all of its alerts.
pub fn subject(n: &Notification, prefix: &str) -> String {
    let alerts = described_alerts(n);
    let mut parts = Vec::new();
    let status = match n.status {
        Status::Firing => format!("FIRING {}", alerts.len()),
        Status::Resolved => "RESOLVED".to_owned(),
    };
    parts.push(if prefix.trim().is_empty() {
        status
    } else {
        format!("{} {status}", prefix.trim())
    });
    if let Some(model) = model_of(n) {
        parts.push(model);
    }
    let kinds = distinct(alerts.iter().map(|a| rule_words(a)));
    let targets = targets(&alerts);
    match (kinds.is_empty(), targets.is_empty()) {
        (false, false) => parts.push(format!("{}: {}", kinds.join(", "), targets)),
        (false, true) => parts.push(kinds.join(", ")),
        (true, false) => parts.push(targets),
        (true, true) => {}
    }
    single_line(&parts.join(" · "))
}

/// The plain-text body: a headline, each alert with its numbers, what driftd did, and links.
pub fn text_body(n: &Notification, dashboard_url: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(n));
    let _ = writeln!(
        out,
        "Group {} · receiver {}",
        single_line(&n.group_key),
        single_line(&n.receiver)
    );
    for a in &n.alerts {
        out.push('\n');
        text_alert(&mut out, a);
    }
    if !n.actions.is_empty() {
        out.push_str("\nWhat driftd did about it:\n");
        for action in &n.actions {
            let _ = writeln!(out, "  - {}", single_line(action));
        }
    }
    if let Some(link) = dashboard_for(n, dashboard_url) {
        let _ = writeln!(out, "\nDashboard: {link}");
    }
    let _ = write!(
        out,
        "\n-- \ndriftd · notification {} · {}\n",
        single_line(&n.id),
        rfc3339(n.created)
    );
    out
}

/// The HTML body: the same content as [`text_body`], every value escaped.
pub fn html_body(n: &Notification, dashboard_url: Option<&str>) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n\
         <body style=\"font-family: sans-serif; font-size: 14px;\">\n",
    );
    let color = match n.status {
        Status::Firing => "#c62828",
        Status::Resolved => "#2e7d32",
    };
    let _ = writeln!(
        out,
        "<h2 style=\"color: {color};\">{}</h2>",
        escape(&headline(n))
    );
    let _ = writeln!(
        out,
        "<p>Group <code>{}</code> · receiver <code>{}</code></p>",
        escape(&n.group_key),
        escape(&n.receiver)
    );
    for a in &n.alerts {
        html_alert(&mut out, a);
    }
    if !n.actions.is_empty() {
        out.push_str("<h3>What driftd did about it</h3>\n<ul>\n");
        for action in &n.actions {
            let _ = writeln!(out, "<li>{}</li>", escape(action));
        }
        out.push_str("</ul>\n");
    }
    if let Some(link) = dashboard_for(n, dashboard_url) {
        let _ = writeln!(out, "<p>Dashboard: {}</p>", html_link(&link));
    }
    let _ = writeln!(
        out,
        "<p style=\"color: #777; font-size: 12px;\">driftd · notification {} · {}</p>",
        escape(&n.id),
        rfc3339(n.created)
    );
    out.push_str("</body></html>\n");
    out
}

/// The dashboard link for a model: `base` plus `?var-model=<model>` (or `&var-model=` when `base`
/// already has a query), the model percent-encoded.
pub fn dashboard_link(base: &str, model: Option<&str>) -> String {
    let base = base.trim();
    match model {
        None => base.to_owned(),
        Some(m) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}var-model={}", percent_encode(m))
        }
    }
}

/// The model the notification is about: the group's `model` label, else the one model of its
/// described alerts, else `N models`.
pub(crate) fn model_of(n: &Notification) -> Option<String> {
    if let Some(m) = single_model(n) {
        return Some(m);
    }
    match models(n).len() {
        0 | 1 => None,
        k => Some(format!("{k} models")),
    }
}

/// The group's `model` label, else the model of the described alerts if they share one.
fn single_model(n: &Notification) -> Option<String> {
    if let Some(m) = n.group_labels.get("model") {
        return Some(m.clone());
    }
    let models = models(n);
    match (models.first(), models.len()) {
        (Some(m), 1) => Some((*m).to_owned()),
        _ => None,
    }
}

/// The distinct `model` labels of the described alerts.
fn models(n: &Notification) -> BTreeSet<&str> {
    described_alerts(n)
        .into_iter()
        .filter_map(|a| a.labels.get("model").map(String::as_str))
        .collect()
}

/// RFC 3339 in UTC with whole seconds (`2026-11-21T10:00:00Z`), as shown to humans.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A number for humans: six significant digits, no trailing zeros, exponent for tiny/huge values.
pub(crate) fn number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor();
    if !(-4.0..9.0).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    // `magnitude` is in -4..9 here, so the cast is exact and `decimals` in 0..=9.
    let decimals = (5 - magnitude as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The alerts a notification is about: the firing ones if it fires, else all.
fn described_alerts(n: &Notification) -> Vec<&AlertSnapshot> {
    match n.status {
        Status::Firing => n
            .alerts
            .iter()
            .filter(|a| a.status == Status::Firing)
            .collect(),
        Status::Resolved => n.alerts.iter().collect(),
    }
}

fn headline(n: &Notification) -> String {
    let firing = n
        .alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .count();
    let resolved = n.alerts.len() - firing;
    let about = model_of(n).map_or_else(String::new, |m| format!(" for model {m}"));
    let plural = |k: usize| if k == 1 { "alert" } else { "alerts" };
    match (n.status, resolved) {
        (Status::Firing, 0) => format!("FIRING: {firing} {}{about}", plural(firing)),
        (Status::Firing, r) => format!("FIRING: {firing} {}{about} ({r} resolved)", plural(firing)),
        (Status::Resolved, r) => format!("RESOLVED: {r} {}{about}", plural(r)),
    }
}

fn text_alert(out: &mut String, a: &AlertSnapshot) {
    let _ = writeln!(out, "{}", alert_title(a));
    for key in ["summary", "description"] {
        if let Some(v) = a.annotations.get(key) {
            let _ = writeln!(out, "  {}", single_line(v));
        }
    }
    for (k, v) in alert_rows(a) {
        let _ = writeln!(out, "  {k:<12} {v}");
    }
}

fn html_alert(out: &mut String, a: &AlertSnapshot) {
    let _ = writeln!(out, "<h3>{}</h3>", escape(&alert_title(a)));
    for key in ["summary", "description"] {
        if let Some(v) = a.annotations.get(key) {
            let _ = writeln!(out, "<p>{}</p>", escape(v));
        }
    }
    out.push_str("<table style=\"border-collapse: collapse;\">\n");
    for (k, v) in alert_rows(a) {
        let value = if k == "runbook" {
            html_link(&v)
        } else {
            escape(&v)
        };
        let _ = writeln!(
            out,
            "<tr><th style=\"text-align: left; padding: 2px 12px 2px 0;\">{}</th><td>{value}</td></tr>",
            escape(&k)
        );
    }
    out.push_str("</table>\n");
}

/// `[FIRING] FeatureDrift (warning) · feature age`.
fn alert_title(a: &AlertSnapshot) -> String {
    let status = match a.status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    };
    let name = a.labels.get("alertname").unwrap_or(&a.rule);
    let mut title = format!("[{status}] {name}");
    if let Some(sev) = a.labels.get("severity") {
        let _ = write!(title, " ({sev})");
    }
    if let Some((label, value)) = target_of(a) {
        let _ = write!(title, " · {label} {value}");
    }
    single_line(&title)
}

/// The rows shown for one alert: the numbers first, then times, labels and the runbook.
fn alert_rows(a: &AlertSnapshot) -> Vec<(String, String)> {
    let mut rows = vec![(
        "value".to_owned(),
        if a.condition.is_empty() {
            number(a.value)
        } else {
            format!(
                "{} (condition {})",
                number(a.value),
                single_line(&a.condition)
            )
        },
    )];
    for (key, value) in ordered_detail(&a.detail) {
        rows.push((detail_label(key), single_line(value)));
    }
    rows.push(("since".to_owned(), rfc3339(a.starts_at)));
    if let Some(end) = a.ends_at {
        rows.push(("resolved at".to_owned(), rfc3339(end)));
    }
    let labels: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !labels.is_empty() {
        rows.push(("labels".to_owned(), single_line(&labels.join(", "))));
    }
    if let Some(url) = a.annotations.get("runbook_url") {
        rows.push(("runbook".to_owned(), single_line(url)));
    }
    rows
}

fn ordered_detail(detail: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    let mut rows: Vec<(&str, &str)> = DETAIL_ORDER
        .iter()
        .filter_map(|k| detail.get(*k).map(|v| (*k, v.as_str())))
        .collect();
    rows.extend(
        detail
            .iter()
            .filter(|(k, _)| !DETAIL_ORDER.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    rows
}

/// A detail key as a row label: `p_value` → `p-value`, other underscores → spaces.
fn detail_label(key: &str) -> String {
    match key {
        "p_value" => "p-value".to_owned(),
        _ => key.replace('_', " "),
    }
}

/// The label saying what an alert is about, e.g. `("feature", "age")`.
fn target_of(a: &AlertSnapshot) -> Option<(&'static str, &str)> {
    TARGET_LABELS
        .iter()
        .find_map(|l| a.labels.get(*l).map(|v| (*l, v.as_str())))
}

/// The affected features (or, without any, metrics, then detectors): `age, tenure_days +3 more`.
fn targets(alerts: &[&AlertSnapshot]) -> String {
    for label in TARGET_LABELS {
        let values: BTreeSet<&str> = alerts
            .iter()
            .filter_map(|a| a.labels.get(*label).map(String::as_str))
            .collect();
        if values.is_empty() {
            continue;
        }
        let shown: Vec<&str> = values.iter().take(SUBJECT_TARGETS).copied().collect();
        let mut s = shown.join(", ");
        if values.len() > SUBJECT_TARGETS {
            let _ = write!(s, " +{} more", values.len() - SUBJECT_TARGETS);
        }
        return s;
    }
    String::new()
}

/// The rule in words: `alertname` (else the rule name) split into lower-case words, acronyms
/// kept: `DataDrift` → `data drift`, `PSIHigh` → `PSI high`, `label_coverage` → `label coverage`.
fn rule_words(a: &AlertSnapshot) -> String {
    let name = a.labels.get("alertname").unwrap_or(&a.rule);
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c.is_whitespace() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j));
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && !cur.is_empty()
            && (prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || next.is_some_and(|n| n.is_lowercase()));
        if boundary {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let words: Vec<String> = words
        .into_iter()
        .map(|w| {
            let acronym = w.chars().count() > 1 && w.chars().all(|c| !c.is_lowercase());
            if acronym { w } else { w.to_lowercase() }
        })
        .collect();
    words.join(" ")
}

fn distinct<I: IntoIterator<Item = String>>(items: I) -> Vec<String> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

/// The dashboard link for the notification's model, if a dashboard URL is configured.
pub(crate) fn dashboard_for(n: &Notification, base: Option<&str>) -> Option<String> {
    let base = base.filter(|b| !b.trim().is_empty())?;
    Some(dashboard_link(base, single_model(n).as_deref()))
}

/// A link for `http(s)` URLs; anything else (a `javascript:` URL in an annotation) stays text.
fn html_link(url: &str) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        format!("<a href=\"{0}\">{0}</a>", escape(url.trim()))
    } else {
        escape(url)
    }
}

/// Control characters (newlines in a label value) become spaces: one value, one line.
fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::sample::Labels;
    use chrono::TimeZone;

    pub(crate) fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap()
    }

    pub(crate) fn alert(name: &str, feature: &str, status: Status, value: f64) -> AlertSnapshot {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("severity".into(), "warning".into());
        labels.insert("model".into(), "churn".into());
        labels.insert("feature".into(), feature.into());
        labels.insert("test".into(), "psi".into());
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "summary".into(),
            format!("Feature {feature} of churn drifted"),
        );
        annotations.insert(
            "runbook_url".into(),
            "https://runbooks.example.com/drift".into(),
        );
        let mut detail = BTreeMap::new();
        detail.insert("test".into(), "psi".into());
        detail.insert("statistic".into(), number(value));
        detail.insert("p_value".into(), "0.0001".into());
        detail.insert("threshold".into(), "0.2".into());
        detail.insert(
            "window".into(),
            "2026-11-21T09:00:00Z/1h (5000 events)".into(),
        );
        detail.insert("reference".into(), "mean 41.2, sd 9.8".into());
        detail.insert("current".into(), "mean 48.9, sd 10.1".into());
        AlertSnapshot {
            rule: name.into(),
            status,
            labels,
            annotations,
            value,
            condition: "> 0.2".into(),
            starts_at: t(10, 0),
            ends_at: (status == Status::Resolved).then(|| t(11, 30)),
            fingerprint: format!("{:016x}", feature.len() * 7919 + name.len()),
            detail,
        }
    }

    pub(crate) fn notification(status: Status, alerts: Vec<AlertSnapshot>) -> Notification {
        let mut group_labels = Labels::new();
        group_labels.insert("model".into(), "churn".into());
        Notification {
            id: "3f2a9c0d1e4b5a69-7".into(),
            receiver: "oncall".into(),
            group_key: "{model=\"churn\"}".into(),
            group_labels,
            status,
            alerts,
            created: t(10, 5),
            actions: vec!["retraining not configured".into()],
        }
    }

    #[test]
    fn subject_of_a_firing_group() {
        let n = notification(
            Status::Firing,
            vec![
                alert("FeatureDrift", "tenure_days", Status::Firing, 0.31),
                alert("FeatureDrift", "age", Status::Firing, 0.27),
                alert("FeatureDrift", "plan", Status::Resolved, 0.1),
            ],
        );
        assert_eq!(
            subject(&n, "[driftd]"),
            "[driftd] FIRING 2 · churn · feature drift: age, tenure_days"
        );
        assert_eq!(
            subject(&n, ""),
            "FIRING 2 · churn · feature drift: age, tenure_days"
        );
    }

    #[test]
    fn subject_lists_five_features_then_counts_the_rest() {
        let alerts = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|f| alert("DataDrift", f, Status::Firing, 0.5))
            .collect();
        let n = notification(Status::Firing, alerts);
        assert_eq!(
            subject(&n, "[driftd]"),
            "[driftd] FIRING 7 · churn · data drift: a, b, c, d, e +2 more"
        );
    }

    #[test]
    fn subject_of_a_resolved_group_and_other_targets() {
        let mut a = alert("AccuracyDrop", "x", Status::Resolved, 0.05);
        a.labels.remove("feature");
        a.labels.insert("metric".into(), "accuracy".into());
        let n = notification(Status::Resolved, vec![a]);
        assert_eq!(
            subject(&n, "[ml]"),
            "[ml] RESOLVED · churn · accuracy drop: accuracy"
        );
    }

    #[test]
    fn rule_names_become_words() {
        let mut a = alert("PSIHigh", "x", Status::Firing, 1.0);
        assert_eq!(rule_words(&a), "PSI high");
        a.labels
            .insert("alertname".into(), "label_coverage-low".into());
        assert_eq!(rule_words(&a), "label coverage low");
        a.labels.remove("alertname");
        a.rule = "ConceptDrift2".into();
        assert_eq!(rule_words(&a), "concept drift2");
    }

    #[test]
    fn subject_is_one_line_even_with_newlines_in_labels() {
        let n = notification(
            Status::Firing,
            vec![alert(
                "FeatureDrift",
                "evil\r\nBcc: x@y",
                Status::Firing,
                1.0,
            )],
        );
        let s = subject(&n, "[driftd]");
        assert!(!s.contains(['\r', '\n']), "{s}");
    }

    #[test]
    fn text_body_has_the_numbers_times_actions_and_links() {
        let n = notification(
            Status::Firing,
            vec![
                alert("FeatureDrift", "age", Status::Firing, 0.3123456789),
                alert("FeatureDrift", "plan", Status::Resolved, 0.1),
            ],
        );
        let body = text_body(&n, Some("https://grafana.example.com/d/driftd"));
        for want in [
            "FIRING: 1 alert for model churn (1 resolved)",
            "[FIRING] FeatureDrift (warning) · feature age",
            "Feature age of churn drifted",
            "value        0.312346 (condition > 0.2)",
            "p-value      0.0001",
            "threshold    0.2",
            "reference    mean 41.2, sd 9.8",
            "current      mean 48.9, sd 10.1",
            "since        2026-11-21T10:00:00Z",
            "[RESOLVED] FeatureDrift (warning) · feature plan",
            "resolved at  2026-11-21T11:30:00Z",
            "runbook      https://runbooks.example.com/drift",
            "What driftd did about it:\n  - retraining not configured",
            "Dashboard: https://grafana.example.com/d/driftd?var-model=churn",
            "notification 3f2a9c0d1e4b5a69-7",
        ] {
            assert!(body.contains(want), "missing {want:?} in:\n{body}");
        }
        // Detail rows in the documented order.
        let pos = |s: &str| body.find(s).unwrap();
        assert!(pos("test ") < pos("statistic") && pos("statistic") < pos("p-value"));
        assert!(!text_body(&n, None).contains("Dashboard"));
    }

    #[test]
    fn html_body_escapes_every_value() {
        let mut a = alert(
            "FeatureDrift",
            "<script>alert(1)</script>",
            Status::Firing,
            0.5,
        );
        a.detail
            .insert("reference".into(), "a & b \"quoted\" 'single'".into());
        a.annotations
            .insert("runbook_url".into(), "javascript:alert(1)".into());
        let mut n = notification(Status::Firing, vec![a]);
        n.actions = vec!["<b>retrain</b>".into()];
        n.group_labels.insert("model".into(), "ch<u>rn".into());
        let html = html_body(&n, Some("https://g.example.com/d/x?orgId=1"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a &amp; b &quot;quoted&quot; &#39;single&#39;"));
        assert!(html.contains("&lt;b&gt;retrain&lt;/b&gt;"));
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://g.example.com/d/x?orgId=1&amp;var-model=ch%3Cu%3Ern\">"
            )
        );
    }

    #[test]
    fn html_body_links_the_runbook_and_shows_numbers() {
        let n = notification(
            Status::Resolved,
            vec![alert("FeatureDrift", "age", Status::Resolved, 0.25)],
        );
        let html = html_body(&n, None);
        assert!(html.contains(
            "<a href=\"https://runbooks.example.com/drift\">https://runbooks.example.com/drift</a>"
        ));
        assert!(html.contains("RESOLVED: 1 alert for model churn"));
        assert!(html.contains("<td>0.25 (condition &gt; 0.2)</td>"));
        assert!(html.contains("<td>2026-11-21T11:30:00Z</td>"));
    }

    #[test]
    fn numbers_for_humans() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(123.456789), "123.457");
        assert_eq!(number(-2.0), "-2");
        assert_eq!(number(1.5e-7), "1.500e-7");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
        assert_eq!(number(4.0e12), "4.000e12");
    }

    #[test]
    fn dashboard_links() {
        assert_eq!(
            dashboard_link("http://g/d/x", Some("churn v2")),
            "http://g/d/x?var-model=churn%20v2"
        );
        assert_eq!(
            dashboard_link("http://g/d/x?a=1", Some("m")),
            "http://g/d/x?a=1&var-model=m"
        );
        assert_eq!(dashboard_link("http://g/d/x", None), "http://g/d/x");
    }
}
