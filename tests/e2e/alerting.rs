//! Alerting end to end: `driftd run` (file source in follow mode, embedded store) monitors a model
//! whose features we shift window by window, its alert rules fire, and a real SMTP server
//! (aiosmtpd, `scripts/smtp_sink.py`) receives the emails, read back with Python's `email`
//! package. Also the admin API (silences) and `check-config` on rule errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;
use crate::sinks::{Certs, SmtpServer, parse_mail};

const ADMIN: &str = "admin-token-0123456789abcdef";
const MODEL: &str = "churn";
/// Predictions per window (and in the reference).
const WINDOW: usize = 1000;
const FEATURES: usize = 7;

/// The stream of windows, numbered on from one window to the next.
struct Gen {
    rng: Rng,
    n: u64,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            n: 0,
        }
    }

    /// One window of predictions; features `f0..f{shifted}` are shifted by one standard deviation.
    fn window(&mut self, shifted: usize) -> Vec<String> {
        let lines = drift_window(&mut self.rng, MODEL, self.n + 1, WINDOW, FEATURES, shifted);
        self.n += WINDOW as u64;
        lines
    }
}

/// A driftd with one model, windows of [`WINDOW`] predictions, fast alert evaluation, and the
/// given rules / routes / receivers / SMTP sections.
struct Setup {
    dir: tempfile::TempDir,
    events: PathBuf,
    events_gen: Gen,
    windows: u64,
    /// `[monitor] detection`: "streaming" (the default) or "windows".
    detection: &'static str,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events.jsonl");
        std::fs::write(&events, "").unwrap();
        Setup {
            dir,
            events,
            events_gen: Gen::new(42),
            windows: 0,
            detection: "streaming",
        }
    }

    fn config(&self, alerting: &str) -> String {
        format!(
            r#"
[http]
listen = "{{HTTP}}"
admin_tokens = [{{ env = "DRIFTD_ADMIN_TOKEN" }}]
[source]
kind = "file"
path = "{}"
follow = true
[checkpoint]
interval = "200ms"
[monitor]
detection = "{detection}"
reference_events = {WINDOW}
window_events = {WINDOW}
[alerting]
evaluation_interval = "200ms"
default_rules = false
{alerting}
"#,
            self.events.display(),
            detection = self.detection,
        )
    }

    fn start(&self, alerting: &str) -> Driftd {
        Driftd::start(
            self.dir.path(),
            &self.config(alerting),
            &[("DRIFTD_ADMIN_TOKEN", ADMIN)],
        )
    }

    /// Appends the reference (unshifted).
    fn reference(&mut self) {
        let lines = self.events_gen.window(0);
        append_lines(&self.events, &lines);
    }

    /// Appends one window with `shifted` features shifted and waits until driftd evaluated it.
    fn window(&mut self, d: &Driftd, shifted: usize) {
        let lines = self.events_gen.window(shifted);
        append_lines(&self.events, &lines);
        self.windows += 1;
        let want = self.windows as f64;
        wait_for("the window's evaluation", Duration::from_secs(60), || {
            let m = d.metrics()?;
            (m.sum("driftd_drift_evaluations_total", &[("model", MODEL)]) >= want).then_some(())
        });
    }
}

fn smtp_section(port: u16) -> String {
    format!(
        r#"
[alerting.receivers.oncall]
kind = "email"
to = ["ml-oncall@example.com", "Data Team <data@example.com>"]
[alerting.smtp]
host = "127.0.0.1"
port = {port}
security = "plain"
from = "driftd <driftd@example.com>"
timeout = "5s"
[alerting.delivery]
initial_backoff = "200ms"
max_backoff = "1s"
"#
    )
}

const FEATURE_RULE: &str = r#"
[[alerting.rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">="
threshold = 1
[alerting.rules.annotations]
summary = "{model}: feature {feature} drifts"
runbook_url = "https://runbooks.example.com/feature-drift"
[[alerting.routes]]
receivers = ["oncall"]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "1h"
"#;

/// `GET /v1/alerts`: the alerts, when the engine last evaluated, and what it has not delivered.
fn alerts_now(d: &Driftd) -> Option<serde_json::Value> {
    let (status, body) = http_get_auth(&format!("{}/v1/alerts", d.base()), ADMIN);
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Waits until the alert engine has evaluated at or after `t` with nothing left to deliver:
/// every notification due by `t` is then in the SMTP server. The end marker that "exactly n
/// emails" and "no email" rest on, instead of a quiet window.
fn settled(d: &Driftd, t: chrono::DateTime<chrono::Utc>, within: Duration) {
    wait_for(
        "the alert engine to evaluate and deliver all that is due",
        within,
        || {
            let v = alerts_now(d)?;
            let at: chrono::DateTime<chrono::Utc> = v["evaluated_at"].as_str()?.parse().ok()?;
            (at >= t && v["undelivered"].as_u64()? == 0).then_some(())
        },
    );
}

/// Waits until the server holds `n` messages, then until the engine has evaluated `settle`
/// later (the route's group interval: the longest a group's next notification can wait) with
/// nothing undelivered, and checks there are exactly `n`.
fn exactly(
    d: &Driftd,
    server: &SmtpServer,
    n: usize,
    within: Duration,
    settle: Duration,
) -> Vec<PathBuf> {
    wait_for(&format!("{n} email(s)"), within, || {
        (server.messages().len() >= n).then_some(())
    });
    settled(d, chrono::Utc::now() + settle, within);
    let got = server.messages();
    assert_eq!(got.len(), n, "expected exactly {n} emails: {got:?}");
    got
}

fn subject(eml: &Path) -> String {
    parse_mail(eml).subject
}

#[test]
fn five_features_drifting_together_make_one_email_then_one_resolved_email() {
    let server = SmtpServer::start(&[]);
    let mut s = Setup::new();
    let d = s.start(&format!("{FEATURE_RULE}{}", smtp_section(server.port)));
    s.reference();
    s.window(&d, 0);
    s.window(&d, 5);
    let mails = exactly(
        &d,
        &server,
        1,
        Duration::from_secs(60),
        Duration::from_secs(4),
    );
    let mail = parse_mail(&mails[0]);
    assert!(
        mail.subject.starts_with("[driftd] FIRING 5"),
        "{}",
        mail.subject
    );
    assert!(mail.subject.contains(MODEL), "{}", mail.subject);
    let text = mail.part("text/plain");
    let html = mail.part("text/html");
    for f in 0..5 {
        let name = format!("f{f}");
        assert!(
            mail.subject.contains(&name) || text.contains(&name),
            "{name}: {text}"
        );
        assert!(text.contains(&format!("feature {name} drifts")), "{text}");
        assert!(html.contains(&format!("feature {name} drifts")), "{html}");
    }
    for f in 5..FEATURES {
        assert!(!text.contains(&format!("feature f{f} drifts")), "{text}");
    }
    // The numbers behind each alert, and the runbook.
    assert!(
        text.contains("mean"),
        "reference vs current summaries missing: {text}"
    );
    assert!(
        text.contains("https://runbooks.example.com/feature-drift"),
        "{text}"
    );
    assert!(mail.to.contains("ml-oncall@example.com") && mail.to.contains("data@example.com"));

    // The features recover: one resolved notice, nothing more.
    s.window(&d, 0);
    let mails = exactly(
        &d,
        &server,
        2,
        Duration::from_secs(60),
        Duration::from_secs(4),
    );
    let resolved = subject(&mails[1]);
    assert!(resolved.starts_with("[driftd] RESOLVED"), "{resolved}");
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum(
            "driftd_notifications_total",
            &[("receiver", "oncall"), ("outcome", "sent")]
        ),
        2.0
    );
    assert_eq!(
        m.sum("driftd_notifications_queued", &[("receiver", "oncall")]),
        0.0
    );
}

/// A webhook receiver configured in a running `driftd run` (not only the sink in process): the
/// Alertmanager-format payload of the one firing group with its five features and the bearer
/// token, a first 503 retried, then the resolved notice — each delivered exactly once.
#[test]
fn a_webhook_receiver_of_a_running_daemon_gets_one_firing_and_one_resolved_payload() {
    let rt = runtime();
    let (url, hook) = rt.block_on(crate::sinks::start_hook(vec![503, 200]));
    let mut s = Setup::new();
    let receivers = format!(
        r#"
[alerting.receivers.oncall]
kind = "webhook"
url = "{url}"
timeout = "5s"
bearer_token = {{ value = "hook-token-0123456789" }}
[alerting.delivery]
initial_backoff = "200ms"
max_backoff = "1s"
"#
    );
    let d = s.start(&format!("{FEATURE_RULE}{receivers}"));
    s.reference();
    s.window(&d, 5);
    let delivered = |n: usize| {
        wait_for(
            &format!("{n} accepted payload(s)"),
            Duration::from_secs(60),
            || (hook.lock().unwrap().requests.len() > n).then_some(()),
        );
        // Nothing further is due: the engine evaluated a group interval later, all delivered.
        settled(
            &d,
            chrono::Utc::now() + Duration::from_secs(2),
            Duration::from_secs(60),
        );
        let requests = hook.lock().unwrap().requests.clone();
        // The first attempt was answered 503 and retried; every other one was accepted.
        assert_eq!(requests.len(), n + 1, "{} requests", requests.len());
        requests
    };
    let requests = delivered(1);
    let payload =
        |i: usize| -> serde_json::Value { serde_json::from_slice(&requests[i].1).unwrap() };
    assert_eq!(
        requests[0].1, requests[1].1,
        "the retry resends the same payload"
    );
    assert_eq!(
        requests[1].0.as_deref(),
        Some("Bearer hook-token-0123456789")
    );
    let firing = payload(1);
    assert_eq!(firing["version"], "4", "{firing}");
    assert_eq!(firing["status"], "firing", "{firing}");
    let alerts = firing["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 5, "{firing}");
    assert!(
        alerts
            .iter()
            .all(|a| a["labels"]["alertname"] == "FeatureDrift" && a["status"] == "firing"),
        "{firing}"
    );
    // The features recover: one resolved payload.
    s.window(&d, 0);
    let requests = delivered(2);
    let resolved: serde_json::Value = serde_json::from_slice(&requests[2].1).unwrap();
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum(
            "driftd_notifications_total",
            &[("receiver", "oncall"), ("outcome", "sent")]
        ),
        2.0
    );
    assert_eq!(
        m.sum(
            "driftd_notifications_total",
            &[("receiver", "oncall"), ("outcome", "failed")]
        ),
        1.0
    );
}

#[test]
fn a_share_oscillating_inside_the_hysteresis_band_fires_once() {
    let server = SmtpServer::start(&[]);
    let mut s = Setup::new();
    // Fires at a share of 3/7 ≈ 0.43; stays active while the share is above 0.2 (2/7 ≈ 0.29).
    let rules = r#"
[[alerting.rules]]
name = "DatasetDrift"
metric = "dataset_drift_share"
op = ">="
threshold = 0.4
resolve_threshold = 0.2
[[alerting.routes]]
receivers = ["oncall"]
group_wait = "500ms"
group_interval = "1s"
repeat_interval = "1h"
"#;
    let d = s.start(&format!("{rules}{}", smtp_section(server.port)));
    s.reference();
    // 3, 2, 3, 2, 3 features: the share crosses the threshold five times.
    for shifted in [3, 2, 3, 2, 3, 2] {
        s.window(&d, shifted);
        // The engine has seen this window's share (the alert's last value).
        let share = shifted as f64 / FEATURES as f64;
        wait_for(
            "the engine to see the share",
            Duration::from_secs(30),
            || {
                let v = alerts_now(&d)?;
                v["alerts"]
                    .as_array()?
                    .iter()
                    .any(|a| (a["value"].as_f64().unwrap_or(-1.0) - share).abs() < 1e-9)
                    .then_some(())
            },
        );
    }
    let mails = exactly(
        &d,
        &server,
        1,
        Duration::from_secs(30),
        Duration::from_secs(2),
    );
    assert!(
        subject(&mails[0]).starts_with("[driftd] FIRING 1"),
        "{}",
        subject(&mails[0])
    );
    // Below the resolve threshold: resolved.
    s.window(&d, 0);
    let mails = exactly(
        &d,
        &server,
        2,
        Duration::from_secs(30),
        Duration::from_secs(3),
    );
    assert!(
        subject(&mails[1]).starts_with("[driftd] RESOLVED"),
        "{}",
        subject(&mails[1])
    );
}

#[test]
fn an_email_queued_while_the_relay_is_down_arrives_once_it_is_back() {
    let port = free_port();
    let mut s = Setup::new();
    let d = s.start(&format!("{FEATURE_RULE}{}", smtp_section(port)));
    s.reference();
    s.window(&d, 5);
    // The relay stays down through three failed attempts (retries back off): the notification
    // stays queued.
    let m = wait_for("three failed attempts", Duration::from_secs(60), || {
        let m = d.metrics()?;
        (m.sum("driftd_notifications_total", &[("outcome", "failed")]) >= 3.0).then_some(m)
    });
    assert_eq!(
        m.sum("driftd_notifications_queued", &[("receiver", "oncall")]),
        1.0
    );
    assert_eq!(
        m.sum("driftd_notifications_total", &[("outcome", "sent")]),
        0.0
    );
    let server = SmtpServer::start_on(port, &[]);
    let mails = exactly(
        &d,
        &server,
        1,
        Duration::from_secs(30),
        Duration::from_secs(4),
    );
    assert!(subject(&mails[0]).starts_with("[driftd] FIRING 5"));
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum("driftd_notifications_queued", &[("receiver", "oncall")]),
        0.0
    );
}

#[test]
fn a_restart_while_an_alert_fires_sends_no_second_email() {
    let server = SmtpServer::start(&[]);
    let mut s = Setup::new();
    let mut d = s.start(&format!("{FEATURE_RULE}{}", smtp_section(server.port)));
    s.reference();
    s.window(&d, 5);
    exactly(
        &d,
        &server,
        1,
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    assert_eq!(d.terminate(), Some(0), "{}", d.log_text());
    d.restart();
    wait_for("driftd ready again", Duration::from_secs(60), || {
        d.ready().then_some(())
    });
    // Past group_wait and group_interval after the restart: still the one email.
    settled(
        &d,
        chrono::Utc::now() + Duration::from_secs(3),
        Duration::from_secs(60),
    );
    assert_eq!(server.messages().len(), 1, "{}", d.log_text());
    let (status, body) = http_get_auth(&format!("{}/v1/alerts", d.base()), ADMIN);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let firing = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .count();
    assert_eq!(firing, 5, "{body}");
}

#[test]
fn bad_smtp_credentials_are_reported_and_the_daemon_keeps_running() {
    let certs = Certs::make();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let server = SmtpServer::start(&[
        "--user",
        "driftd",
        "--password",
        "right-password",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--require-starttls",
    ]);
    let mut s = Setup::new();
    let smtp = format!(
        r#"
[alerting.receivers.oncall]
kind = "email"
to = ["ml-oncall@example.com"]
[alerting.smtp]
host = "127.0.0.1"
port = {}
security = "starttls"
username = "driftd"
password = {{ env = "DRIFTD_SMTP_PASSWORD" }}
from = "driftd@example.com"
ca_file = "{}"
[alerting.delivery]
initial_backoff = "200ms"
max_backoff = "1s"
"#,
        server.port,
        certs.path("ca.pem")
    );
    let mut d = Driftd::start(
        s.dir.path(),
        &s.config(&format!("{FEATURE_RULE}{smtp}")),
        &[
            ("DRIFTD_ADMIN_TOKEN", ADMIN),
            ("DRIFTD_SMTP_PASSWORD", "wrong-password"),
        ],
    );
    s.reference();
    s.window(&d, 5);
    wait_for("failed attempts", Duration::from_secs(60), || {
        let m = d.metrics()?;
        (m.sum("driftd_notifications_total", &[("outcome", "failed")]) >= 2.0).then_some(())
    });
    let log = d.log_text();
    assert!(
        log.contains("SMTP authentication failed for user driftd"),
        "{}",
        tail(&log, 30)
    );
    assert!(
        !log.contains("wrong-password"),
        "the password leaked into the log"
    );
    assert!(server.messages().is_empty());
    assert!(d.alive());
    assert_eq!(d.get("/healthz").map(|r| r.0), Some(200));
    // Still queued, not dropped.
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum("driftd_notifications_queued", &[("receiver", "oncall")]),
        1.0
    );
    assert_eq!(
        m.sum("driftd_notifications_total", &[("outcome", "dropped")]),
        0.0
    );
}

#[test]
fn a_silence_suppresses_and_its_expiry_restores() {
    let server = SmtpServer::start(&[]);
    let mut s = Setup::new();
    let d = s.start(&format!("{FEATURE_RULE}{}", smtp_section(server.port)));
    let url = format!("{}/v1/silences", d.base());
    let ends = chrono::Utc::now() + chrono::Duration::seconds(12);
    let body = serde_json::json!({
        "match": { "model": MODEL },
        "ends_at": ends.to_rfc3339(),
        "comment": "planned migration",
        "created_by": "e2e",
    })
    .to_string();
    assert_eq!(http_post(&url, None, body.as_bytes()).0, 401);
    assert_eq!(
        http_post(&url, Some("wrong-token-0123456789"), body.as_bytes()).0,
        401
    );
    let (status, resp) = http_post(&url, Some(ADMIN), body.as_bytes());
    assert_eq!(status, 201, "{resp}");
    let (status, list) = http_get_auth(&url, ADMIN);
    assert_eq!(status, 200);
    assert!(list.contains("planned migration"), "{list}");

    // Inhibition rules over the API too: validated, listed, removed.
    let inhibit_url = format!("{}/v1/inhibitions", d.base());
    let rule = r#"{"source_match":{"alertname":"DatasetDrift"},"target_match":{"alertname":"FeatureDrift"},"equal":["model"]}"#;
    assert_eq!(http_post(&inhibit_url, None, rule.as_bytes()).0, 401);
    assert_eq!(
        http_post(&inhibit_url, Some(ADMIN), br#"{"source_match":{}}"#).0,
        422
    );
    let (status, resp) = http_post(&inhibit_url, Some(ADMIN), rule.as_bytes());
    assert_eq!(status, 201, "{resp}");
    let id: serde_json::Value = serde_json::from_str(&resp).unwrap();
    let id = id["id"].as_str().unwrap().to_owned();
    let (_, list) = http_get_auth(&inhibit_url, ADMIN);
    assert!(
        list.contains(&id) && list.contains("DatasetDrift"),
        "{list}"
    );
    let del = |url: &str| http_delete(url, ADMIN);
    assert_eq!(del(&format!("{inhibit_url}/{id}")), 204);
    assert_eq!(del(&format!("{inhibit_url}/{id}")), 404);

    s.reference();
    s.window(&d, 5);
    // Firing but silenced: no email while the silence lasts.
    wait_for("silenced alerts", Duration::from_secs(30), || {
        let m = d.metrics()?;
        (m.sum("driftd_alerts_suppressed", &[("reason", "silenced")]) == 5.0).then_some(())
    });
    // A flush was due (group_wait) while the silence held: nothing was sent.
    let due = chrono::Utc::now() + Duration::from_secs(2);
    assert!(
        due < ends,
        "the machine took most of the silence to get here"
    );
    settled(&d, due, Duration::from_secs(30));
    assert!(
        server.messages().is_empty(),
        "an email got through the silence"
    );
    // The silence ends: the alerts are notified.
    let mails = exactly(
        &d,
        &server,
        1,
        Duration::from_secs(30),
        Duration::from_secs(2),
    );
    assert!(subject(&mails[0]).starts_with("[driftd] FIRING 5"));
}

#[test]
fn on_demand_evaluation_tests_the_open_window_without_closing_it() {
    // Windows mode: the open window is what is evaluated on demand.
    let mut s = Setup {
        detection: "windows",
        ..Setup::new()
    };
    let d = s.start("");
    s.reference();
    // Half a window, with two features shifted.
    let lines = s.events_gen.window(2);
    append_lines(&s.events, &lines[..WINDOW / 2]);
    let url = format!("{}/v1/models/{MODEL}", d.base());
    assert_eq!(http_get(&url).map(|r| r.0), Some(401));
    let v = wait_for("the open window", Duration::from_secs(60), || {
        let (status, body) = http_get_auth(&url, ADMIN);
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status == 200 && v["window_events"]["current"] == WINDOW as u64 / 2).then_some(v)
    });
    assert_eq!(v["evaluations"], 0, "{v:#}");
    assert!(v["last_window"].is_null(), "{v:#}");
    let features = v["current_window"]["features"].as_array().unwrap();
    assert_eq!(features.len(), FEATURES, "{v:#}");
    for f in features {
        let shifted = f["feature"] == "f0" || f["feature"] == "f1";
        assert_eq!(f["drift"], shifted, "{f}");
    }
    // Asking changed nothing: the window is still open and unevaluated.
    let (_, body) = http_get_auth(&url, ADMIN);
    let again: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(again["evaluations"], 0);
    assert_eq!(again["window_events"]["current"], WINDOW as u64 / 2);
    let (status, _) = http_get_auth(&format!("{}/v1/models/nope", d.base()), ADMIN);
    assert_eq!(status, 404);
}

#[test]
fn check_config_reports_rule_errors_with_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        r#"
[[alerting.rules]]
name = "Typo"
metric = "drift_pvalue"
op = "<"
threshold = 0.01

[[alerting.rules]]
name = "Critical"
metric = "dataset_drift_share"
op = ">="
threshold = 0.5
severity = "critical"

[[alerting.routes]]
match = { severity = "warning" }
receivers = ["log"]
group_wait = "soon"
"#,
    )
    .unwrap();
    let text = check_config_fails(&cfg);
    assert!(text.contains("alerting.routes.0.group_wait"), "{text}");

    // With the duration fixed, the rest is reported: the unknown quantity, the rule no route takes.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("\"soon\"", "\"30s\""),
    )
    .unwrap();
    let text = check_config_fails(&cfg);
    assert!(text.contains("alerting.rules.0.metric"), "{text}");
    assert!(text.contains("drift_pvalue"), "{text}");
    assert!(text.contains("alerting.rules.1"), "{text}");
    assert!(text.contains("no route"), "{text}");
}

/// Runs `driftd check-config` on a file that must fail; returns what it printed.
fn check_config_fails(cfg: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_driftd"))
        .arg("check-config")
        .arg(cfg)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    text
}

fn http_delete(url: &str, token: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .delete(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .expect("DELETE")
        .status()
        .as_u16()
}
