//! Faults of the alerting and retraining loop and of the HTTP front doors (issue 14, item 3), end
//! to end against the real components, each with exact counts and no duplicate side effect:
//!
//! * an alert fires while the SMTP relay is down, `driftd run` is SIGKILLed with the email queued,
//!   the relay comes up and driftd restarts → the queued email arrives exactly once, then the
//!   resolved notice once (counted in the mailbox of a real aiosmtpd server after driftd exited);
//! * 32 concurrent clients on `POST /v1/feedback` of `driftd run` and on
//!   `POST /v1/models/{model}/predict` of `driftd serve`, default limits → no 5xx, every 202
//!   counted exactly once by the daemon, every prediction answered 200 with a valid body, and
//!   serve's request counter equal to the requests sent;
//! * `driftd run` SIGKILLed while its trainer fits a candidate, then again while the candidate is
//!   shadowed → the retrain runs again, the shadow run resumes with its tally, and the retrain
//!   ends in exactly one decision record (one promotion), with no orphan version.
//!
//! No sleep synchronises anything: every wait is on a metric, a log line, the admin API or the
//! mailbox, and "nothing more arrives" is settled by the sender's exit.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::harness::*;
use crate::registry::{KEY, ok as models_ok};
use crate::serve::{TOKEN as PREDICT_TOKEN, examples, serving};
use crate::sinks::{SmtpServer, parse_mail};

const MODEL: &str = "churn";
const ADMIN: &str = "faults-admin-token-0123456789";
const FEEDBACK: &str = "faults-feedback-token-0123456789";
/// Concurrent HTTP clients.
const CLIENTS: usize = 32;
/// Requests per client.
const EACH: usize = 10;

/// xorshift64 with Box–Muller: the same bytes every run, no dependency.
/// A GET with a bearer token: the JSON body of a 200 answer.
fn admin_get(d: &Driftd, path: &str) -> Option<Json> {
    http_get_json(&format!("{}{path}", d.base()), ADMIN)
}

/// The sum of a metric of `driftd run` (0 while the metrics cannot be read).
fn metric(d: &Driftd, name: &str, labels: &[(&str, &str)]) -> f64 {
    d.metrics().map_or(0.0, |m| m.sum(name, labels))
}

// ---------------------------------------------------------------------------------------------
// 1. SMTP down + SIGKILL + SMTP up → the queued email arrives exactly once.

/// Predictions per window (and in the reference).
const WINDOW: usize = 1000;

/// One window of predictions numbered from `first`, with seven features of which the first
/// `shifted` are shifted by one standard deviation.
fn window(rng: &mut Rng, first: usize, shifted: usize) -> Vec<String> {
    drift_window(rng, MODEL, first as u64, WINDOW, 7, shifted)
}

#[test]
fn faults_loop_email_queued_while_smtp_is_down_survives_sigkill_and_arrives_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    // Nothing listens on the relay's port until driftd has been killed.
    let smtp_port = free_port();
    let config = format!(
        r#"
[http]
listen = "{{HTTP}}"
admin_tokens = [{{ value = "{ADMIN}" }}]
[source]
kind = "file"
path = "{events}"
follow = true
[checkpoint]
interval = "200ms"
[monitor]
reference_events = {WINDOW}
window_events = {WINDOW}
[alerting]
evaluation_interval = "200ms"
default_rules = false
[[alerting.rules]]
name = "FeatureDrift"
metric = "feature_drift"
op = ">="
threshold = 1
[[alerting.routes]]
receivers = ["oncall"]
group_wait = "1s"
group_interval = "2s"
repeat_interval = "1h"
[alerting.receivers.oncall]
kind = "email"
to = ["ml-oncall@example.com"]
[alerting.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
from = "driftd <driftd@example.com>"
timeout = "5s"
[alerting.delivery]
initial_backoff = "200ms"
max_backoff = "1s"
"#,
        events = events.display()
    );
    let mut d = Driftd::start(dir.path(), &config, &[]);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    append_lines(&events, &window(&mut rng, 0, 0));
    append_lines(&events, &window(&mut rng, WINDOW, 5));

    // The grouped FIRING notification is stored before any attempt; attempts fail.
    let sent = [("receiver", "oncall"), ("outcome", "sent")];
    let failed = [("receiver", "oncall"), ("outcome", "failed")];
    let queued = [("receiver", "oncall")];
    wait_for(
        "a failed delivery attempt with one notification queued",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_notifications_total", &failed) >= 1.0
                && m.sum("driftd_notifications_queued", &queued) == 1.0)
                .then_some(())
        },
    );
    let firing = admin_get(&d, "/v1/alerts").expect("the alerts API");
    let firing = firing["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "firing")
        .count();
    assert_eq!(firing, 5, "five features drift: five firing alerts");
    assert_eq!(metric(&d, "driftd_notifications_total", &sent), 0.0);

    d.kill9();
    let server = SmtpServer::start_on(smtp_port, &[]);
    d.restart();

    // The restored outbox delivers the one notification.
    wait_for("the queued email", Duration::from_secs(60), || {
        (!server.messages().is_empty()).then_some(())
    });
    let first = parse_mail(&server.messages()[0]);
    assert!(
        first.subject.starts_with("[driftd] FIRING 5"),
        "{}",
        first.subject
    );
    wait_for(
        "the delivery to be counted",
        Duration::from_secs(30),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_notifications_total", &sent) == 1.0
                && m.sum("driftd_notifications_queued", &queued) == 0.0)
                .then_some(())
        },
    );

    // The features recover: the episode resolves, and its notice follows the firing one.
    append_lines(&events, &window(&mut rng, 2 * WINDOW, 0));
    wait_for("the resolved email", Duration::from_secs(60), || {
        (server.messages().len() >= 2).then_some(())
    });
    let m = wait_for(
        "both deliveries counted and the outbox empty",
        Duration::from_secs(30),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_notifications_total", &sent) == 2.0
                && m.sum("driftd_notifications_queued", &queued) == 0.0)
                .then_some(m)
        },
    );
    assert_eq!(
        m.sum("driftd_notifications_total", &[("outcome", "dropped")]),
        0.0
    );
    // The sender's exit ends the question whether more arrives.
    assert_eq!(d.terminate(), Some(0), "{}", tail(&d.log_text(), 40));
    let mails: Vec<_> = server.messages().iter().map(|p| parse_mail(p)).collect();
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        mails.len(),
        2,
        "exactly FIRING then RESOLVED: {subjects:#?}"
    );
    assert!(
        subjects[0].starts_with("[driftd] FIRING 5"),
        "{subjects:#?}"
    );
    assert!(
        subjects[1].starts_with("[driftd] RESOLVED"),
        "{subjects:#?}"
    );
    assert_ne!(mails[0].message_id, mails[1].message_id);
    eprintln!(
        "[faults_loop] queued email delivered once after SIGKILL in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. 32 concurrent HTTP clients on feedback (driftd run) and predict (driftd serve).

/// Runs `CLIENTS` threads that start together and each call `request(client, i)` `EACH` times;
/// returns every (status, body).
fn flood(
    request: impl Fn(usize, usize) -> (u16, String) + Send + Sync + 'static,
) -> Vec<(u16, String)> {
    let request = Arc::new(request);
    let start = Arc::new(Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (request, start) = (request.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..EACH).map(|i| request(c, i)).collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("a client thread panicked"))
        .collect()
}

/// The series of a metric whose `status` label is 5xx.
fn server_errors(m: &Metrics) -> Vec<String> {
    m.0.iter()
        .filter(|(_, l, v)| *v > 0.0 && l.get("status").is_some_and(|s| s.starts_with('5')))
        .map(|(n, l, v)| format!("{n}{l:?} {v}"))
        .collect()
}

#[test]
fn faults_loop_32_concurrent_feedback_clients_every_202_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    let config = format!(
        r#"
[http]
listen = "{{HTTP}}"
feedback_tokens = [{{ value = "{FEEDBACK}" }}]
[source]
kind = "file"
path = "{}"
follow = true
[models.{MODEL}]
"#,
        events.display()
    );
    let mut d = Driftd::start(dir.path(), &config, &[]);
    let url = format!("{}/v1/feedback", d.base());
    let answers = flood(move |c, i| {
        // Two labels per request, unique ids.
        let item = |k: &str| {
            format!(
                r#"{{"id":"c{c}-{i}-{k}","model":"{MODEL}","ts":"2026-11-22T08:00:00Z","label":"1"}}"#
            )
        };
        http_post(
            &url,
            Some(FEEDBACK),
            format!("[{},{}]", item("a"), item("b")).as_bytes(),
        )
    });
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 202).collect();
    assert!(refused.is_empty(), "not acknowledged: {refused:#?}");
    assert!(
        answers.iter().all(|(_, b)| b == r#"{"accepted":2}"#),
        "{answers:?}"
    );
    let items = (CLIENTS * EACH * 2) as f64;
    let feedback = [("model", MODEL), ("kind", "feedback")];
    let m = wait_for(
        "every acknowledged label counted",
        Duration::from_secs(30),
        || {
            d.metrics()
                .filter(|m| m.sum("driftd_events_total", &feedback) >= items)
        },
    );
    assert_eq!(m.sum("driftd_events_total", &feedback), items);
    assert_eq!(
        m.sum(
            "driftd_feedback_http_items_total",
            &[("outcome", "accepted")]
        ),
        items
    );
    assert_eq!(
        m.sum(
            "driftd_http_requests_total",
            &[("route", "/v1/feedback"), ("status", "202")]
        ),
        (CLIENTS * EACH) as f64
    );
    assert_eq!(
        m.sum("driftd_http_requests_total", &[("route", "/v1/feedback")]),
        (CLIENTS * EACH) as f64,
        "a feedback request got another status"
    );
    assert_eq!(server_errors(&m), Vec::<String>::new());
    assert_eq!(m.sum("driftd_events_rejected_total", &[]), 0.0);
    assert_eq!(d.terminate(), Some(0));
}

#[test]
fn faults_loop_32_concurrent_predict_clients_all_answered_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    // `churn` v1 live (y = x > 0), default limits.
    let (serve, _config) = serving(dir.path());
    let url = format!("{}/v1/models/{MODEL}/predict", serve.base);
    let answers = flood(move |c, i| {
        // Three items per request; x is known, so the answer is too.
        let items: Vec<Json> = (0..3)
            .map(|k| {
                let x = if (c + i + k) % 2 == 0 { 1.5 } else { -1.5 };
                json!({"id": format!("c{c}-{i}-{k}"), "features": {"x": x, "colour": "red"}})
            })
            .collect();
        let (status, body) = http_post(
            &url,
            Some(PREDICT_TOKEN),
            Json::Array(items).to_string().as_bytes(),
        );
        (status, format!("c{c}-{i}\n{body}"))
    });
    for (status, text) in &answers {
        assert_eq!(*status, 200, "{text}");
        let (request, body) = text.split_once('\n').unwrap();
        let v: Vec<Json> = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v.len(), 3, "{body}");
        for (k, a) in v.iter().enumerate() {
            assert_eq!(a["id"], format!("{request}-{k}"), "{body}");
            assert_eq!(a["model"], MODEL, "{body}");
            assert_eq!(a["model_version"], "1", "{body}");
            let (c, i) = request[1..].split_once('-').unwrap();
            let (c, i): (usize, usize) = (c.parse().unwrap(), i.parse().unwrap());
            let want = if (c + i + k) % 2 == 0 { "yes" } else { "no" };
            assert_eq!(a["prediction"]["label"], want, "{body}");
        }
    }
    let m = serve.metrics();
    let requests = (CLIENTS * EACH) as f64;
    assert_eq!(
        m.sum(
            "driftd_predict_requests_total",
            &[("model", MODEL), ("outcome", "ok")]
        ),
        requests
    );
    assert_eq!(
        m.sum("driftd_predict_requests_total", &[("model", MODEL)]),
        requests,
        "a predict request had another outcome"
    );
    assert_eq!(server_errors(&m), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// 3. The trainer SIGKILLed during a fit and during a shadow run.

/// Labelled predictions in the training buffer: enough that the fit below takes seconds.
const TRAIN: usize = 10_000;
/// The shadow gate's fewest pairs; half arrive before the SIGKILL, half after.
const MIN_PAIRS: usize = 200;

/// Traffic after the concept flipped: the live v1 serves `x > 0`, the truth is `x < 0`, with a
/// tenth of the labels flipped (so the tree below grows deep and its fit takes seconds).
struct Traffic {
    rng: Rng,
    n: i64,
}

impl Traffic {
    /// The event time of the current prediction, plus `ms`.
    fn ts(&self, ms: u32) -> String {
        chrono::DateTime::from_timestamp(1_795_000_000 + self.n, ms * 1_000_000)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// The next prediction, as v1 served it, and its x.
    fn prediction(&mut self) -> (String, f64) {
        self.n += 1;
        let x = ((self.rng.uniform() * 4.0 - 2.0) * 1000.0).round() / 1000.0;
        let colour = if self.rng.uniform() < 0.5 {
            "red"
        } else {
            "green"
        };
        let served = if x > 0.0 { "yes" } else { "no" };
        let line = format!(
            r#"{{"kind":"prediction","id":"e{}","model":"{MODEL}","ts":"{}","features":{{"x":{x},"colour":"{colour}"}},"prediction":{{"label":"{served}"}}}}"#,
            self.n,
            self.ts(0)
        );
        (line, x)
    }

    /// `count` predictions, each followed by its label, one second apart in event time.
    fn labelled(&mut self, count: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(2 * count);
        for _ in 0..count {
            let (line, x) = self.prediction();
            out.push(line);
            let truth = (x < 0.0) != (self.rng.uniform() < 0.1);
            out.push(format!(
                r#"{{"kind":"feedback","id":"e{}","model":"{MODEL}","ts":"{}","label":"{}"}}"#,
                self.n,
                self.ts(500),
                if truth { "yes" } else { "no" }
            ));
        }
        out
    }
}

/// The model's loop as the admin API shows it.
fn loop_status(d: &Driftd) -> Option<Json> {
    admin_get(d, &format!("/v1/models/{MODEL}/retrain"))
}

/// The loop's timeline, event names only.
fn timeline(st: &Json) -> Vec<String> {
    st["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|s| s["event"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the loop is in `phase`; fails at once on a dead end.
fn wait_phase(d: &mut Driftd, phase: &str, what: &str) -> Json {
    wait_for(what, Duration::from_secs(120), || {
        assert!(d.alive(), "driftd run exited:\n{}", tail(&d.log_text(), 40));
        let st = loop_status(d)?;
        for bad in ["fit_failed", "rejected", "inconclusive"] {
            assert!(
                !timeline(&st).iter().any(|e| e == bad),
                "the loop went to {bad}: {st:#}"
            );
        }
        (st["phase"]["phase"] == phase).then_some(st)
    })
}

#[test]
fn faults_loop_trainer_killed_during_fit_and_during_shadow_ends_in_one_decision() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let events = dir.path().join("events.jsonl");
    // v1, trained on the old concept (y = x > 0) with the CLI, is live.
    let cli = dir.path().join("models.toml");
    std::fs::write(
        &cli,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n",
            state.display()
        ),
    )
    .unwrap();
    let v1 = dir.path().join("v1.jsonl");
    write_lines(&v1, &examples(300, 0));
    models_ok(&cli, &["train", MODEL, "--examples", v1.to_str().unwrap()]);
    models_ok(&cli, &["promote", MODEL, "1"]);

    let mut traffic = Traffic {
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        n: 0,
    };
    write_lines(&events, &traffic.labelled(TRAIN));
    let config = format!(
        r#"
[http]
listen = "{{HTTP}}"
admin_tokens = [{{ value = "{ADMIN}" }}]
[state]
kind = "embedded"
path = "{state}"
[source]
kind = "file"
path = "{events}"
follow = true
[checkpoint]
interval = "200ms"
[events.order]
allowed_lateness = "0s"
[alerting]
default_rules = false
[models.{MODEL}]
positive_label = "yes"
[models.{MODEL}.retrain]
algorithm = {{ algorithm = "decision_tree", max_depth = 64 }}
on_alerts = []
min_examples = 500
shadow = {{ min_pairs = {MIN_PAIRS} }}
watch = "0s"
"#,
        state = state.display(),
        events = events.display(),
    );
    let mut d = Driftd::start(dir.path(), &config, &[("DRIFTD_REGISTRY_KEY", KEY)]);
    wait_for("the training buffer", Duration::from_secs(60), || {
        let st = loop_status(&d)?;
        (st["training_data"]["labels_total"] == TRAIN as u64).then_some(())
    });

    // A retrain by hand; SIGKILL once the fit has its examples and runs.
    let (status, body) = http_post(
        &format!("{}/v1/models/{MODEL}/retrain", d.base()),
        Some(ADMIN),
        b"",
    );
    assert_eq!(status, 202, "{body}");
    let phase = [("model", MODEL)];
    wait_for("the fit to start", Duration::from_secs(30), || {
        let m = d.metrics()?;
        (m.sum("driftd_retrain_phase", &phase) == 1.0
            && m.sum("driftd_retrain_examples", &phase) == TRAIN as f64)
            .then_some(())
    });
    d.kill9();
    let log = d.log_text();
    assert!(
        log.contains("retraining started by manual:admin API"),
        "{}",
        tail(&log, 30)
    );
    assert!(
        !log.contains("candidate fitted"),
        "the fit ended before the SIGKILL (it takes seconds in a debug build): {}",
        tail(&log, 30)
    );

    // The retrain runs again after the restart, and its candidate goes to shadow.
    d.restart();
    let st = wait_phase(&mut d, "shadow", "the rerun's candidate in shadow");
    assert!(
        d.log_text()
            .contains("a retrain was interrupted by a restart; it runs again"),
        "{}",
        tail(&d.log_text(), 30)
    );
    assert_eq!(
        timeline(&st),
        [
            "requested",
            "triggered",
            "triggered",
            "trained",
            "shadow_started"
        ],
        "{st:#}"
    );
    assert_eq!(st["phase"]["version"], 2, "{st:#}");
    let reg = admin_get(&d, &format!("/v1/registry/{MODEL}")).expect("the registry API");
    assert_eq!(
        reg["versions"].as_array().map(Vec::len),
        Some(2),
        "the killed fit left a version behind: {reg:#}"
    );
    assert_eq!(
        reg["aliases"],
        json!({"live": 1, "candidate": 2, "previous": null})
    );

    // Half the pairs the gate needs; then one more (unlabelled) event so that a checkpoint
    // written after the tally was seen can be waited for.
    append_lines(&events, &traffic.labelled(MIN_PAIRS / 2));
    let pairs = [("model", MODEL), ("kind", "candidate")];
    let half = (MIN_PAIRS / 2) as f64;
    wait_for("half the shadow pairs", Duration::from_secs(30), || {
        (metric(&d, "driftd_shadow_pairs", &pairs) == half).then_some(())
    });
    let ok = [("outcome", "ok")];
    let checkpoints = d
        .metrics()
        .expect("driftd's metrics")
        .sum("driftd_checkpoints_total", &ok);
    append_lines(&events, &[traffic.prediction().0]);
    wait_for(
        "a checkpoint holding the tally",
        Duration::from_secs(30),
        || (metric(&d, "driftd_checkpoints_total", &ok) > checkpoints).then_some(()),
    );
    assert_eq!(loop_status(&d).unwrap()["phase"]["phase"], "shadow");
    d.kill9();

    // The shadow run resumes with its tally; the other half of the pairs decides.
    d.restart();
    wait_for("the restored tally", Duration::from_secs(30), || {
        (metric(&d, "driftd_shadow_pairs", &pairs) == half).then_some(())
    });
    append_lines(&events, &traffic.labelled(MIN_PAIRS / 2));
    let st = wait_phase(&mut d, "idle", "the shadow gate's decision");
    assert_eq!(
        timeline(&st),
        [
            "requested",
            "triggered",
            "triggered",
            "trained",
            "shadow_started",
            "promoted"
        ],
        "{st:#}"
    );
    assert_eq!(
        st["aliases"],
        json!({"live": 2, "candidate": null, "previous": 1})
    );

    // One decision record for the retrain: v2's promotion, on exactly the pairs sent.
    let reg = admin_get(&d, &format!("/v1/registry/{MODEL}")).expect("the registry API");
    let versions = reg["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{reg:#}");
    // (Alias moves are logged as decisions too; a decision *record* is the shadow gate's.)
    let with_record: Vec<(u64, &Json)> = versions
        .iter()
        .flat_map(|v| {
            let version = v["meta"]["version"].as_u64().unwrap();
            let decisions = v["decisions"].as_array().unwrap();
            decisions.iter().map(move |e| (version, e))
        })
        .filter(|(_, e)| !e["record"].is_null())
        .collect();
    assert_eq!(with_record.len(), 1, "{reg:#}");
    let (version, decision) = with_record[0];
    assert_eq!(version, 2, "{decision:#}");
    assert_eq!(decision["action"], "promote", "{decision:#}");
    assert_eq!(decision["replaced"], 1, "{decision:#}");
    let record = &decision["record"];
    let counts = &record["counts"];
    assert_eq!(counts["n"], MIN_PAIRS as u64, "{decision:#}");
    assert!(counts["c"].as_u64() > counts["b"].as_u64(), "{decision:#}");
    assert!(
        record["p_value"].as_f64().unwrap() < record["policy"]["alpha"].as_f64().unwrap(),
        "{decision:#}"
    );
    let promotions: Vec<u64> = versions
        .iter()
        .flat_map(|v| {
            let version = v["meta"]["version"].as_u64().unwrap();
            let decisions = v["decisions"].as_array().unwrap();
            decisions
                .iter()
                .filter(|e| e["action"] == "promote")
                .map(move |_| version)
        })
        .collect();
    // v1's by hand (the CLI, before driftd started), then v2's once.
    assert_eq!(promotions, [1, 2], "{reg:#}");
    assert!(
        d.log_text().contains("drift reference switched"),
        "the promotion after a restart did not rebuild the drift reference: {}",
        tail(&d.log_text(), 30)
    );
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum(
            "driftd_retrain_events_total",
            &[("model", MODEL), ("event", "promoted")]
        ),
        1.0
    );

    // Nothing moves after the daemon is gone: the registry as the CLI reads it.
    assert_eq!(d.terminate(), Some(0));
    assert_eq!(
        models_ok(&cli, &["list"]),
        format!("{MODEL}: 2 version(s), live=2 candidate=- previous=1\n")
    );
    eprintln!(
        "[faults_loop] fit and shadow survived SIGKILL, one promotion, in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
