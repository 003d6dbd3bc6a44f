//! Roles, audit lines and limits on real `driftd run` and `driftd serve` processes: 401 for a
//! missing or near-miss token, 403 for a valid token of the wrong role on each role boundary,
//! audit lines with the token's name and never the token, promotion and rollback decision records
//! carrying their actor, and 429 with `Retry-After` under a flood of feedback — with exactly the
//! acknowledged labels taken.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;
use crate::registry::{KEY, ok as models_ok};
use crate::serve::{Serve, examples, two_trained_versions};

pub(crate) const FEEDBACK: &str = "feedback-token-0123456789";
const LEGACY_FEEDBACK: &str = "legacy-feedback-0123456789";
pub(crate) const READ: &str = "read-token-0123456789abc";
pub(crate) const OPERATOR: &str = "operator-token-0123456789";
pub(crate) const ADMIN: &str = "admin-token-0123456789abcd";
const PREDICT: &str = "predict-token-0123456789";

/// Every secret of these tests: none may appear in a log.
const SECRETS: [&str; 6] = [FEEDBACK, LEGACY_FEEDBACK, READ, OPERATOR, ADMIN, PREDICT];

/// A request with an optional bearer token: status, `Retry-After`, body.
fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let auth = token.map(|t| format!("Bearer {t}"));
    let r = match (method, body) {
        ("GET", _) => {
            let mut q = agent.get(url);
            if let Some(a) = &auth {
                q = q.header("authorization", a);
            }
            q.call()
        }
        ("DELETE", _) => {
            let mut q = agent.delete(url);
            if let Some(a) = &auth {
                q = q.header("authorization", a);
            }
            q.call()
        }
        (_, b) => {
            let mut q = agent.post(url).header("content-type", "application/json");
            if let Some(a) = &auth {
                q = q.header("authorization", a);
            }
            q.send(b.unwrap_or("").as_bytes())
        }
    };
    let mut r = r.expect("the server answers");
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = r.status().as_u16();
    (
        status,
        retry,
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn status(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> u16 {
    call(method, url, token, body).0
}

/// A `driftd run` on an empty events file with a registry holding two versions of `churn` and a
/// named token of every role (feedback `labeller`, read `grafana`, operator `ops-ci`, admin
/// `release-bot`); `http` is added to `[http]`, `limits` under `[http.limits]`, `rest` at the end.
/// `access.rs` and `openapi.rs` start their daemons with it.
pub(crate) fn start_with_every_role(dir: &Path, http: &str, limits: &str, rest: &str) -> Driftd {
    let (events, state) = two_trained_versions(dir);
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
{http}
[[http.tokens]]
name = "labeller"
role = "feedback"
token = {{ env = "T_FEEDBACK" }}
[[http.tokens]]
name = "grafana"
role = "read"
token = {{ env = "T_READ" }}
[[http.tokens]]
name = "ops-ci"
role = "operator"
token = {{ env = "T_OPERATOR" }}
[[http.tokens]]
name = "release-bot"
role = "admin"
token = {{ env = "T_ADMIN" }}
[http.limits]
{limits}
[state]
kind = "embedded"
path = "{}"
[source]
kind = "file"
path = "{}"
follow = true
[models.churn]
{rest}
"#,
        state.display(),
        events.display()
    );
    Driftd::start(
        dir,
        &cfg,
        &[
            ("T_FEEDBACK", FEEDBACK),
            ("T_READ", READ),
            ("T_OPERATOR", OPERATOR),
            ("T_ADMIN", ADMIN),
            ("DRIFTD_REGISTRY_KEY", KEY),
        ],
    )
}

/// [`start_with_every_role`] with `/metrics` protected (role `read`), a legacy feedback token, and
/// only the listed models accepted.
fn start_run(dir: &Path, limits: &str) -> Driftd {
    start_with_every_role(
        dir,
        &format!(
            "metrics_role = \"read\"\nfeedback_tokens = [{{ value = \"{LEGACY_FEEDBACK}\" }}]"
        ),
        limits,
        "[events]\nstrict_models = true",
    )
}

fn feedback(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","model":"churn","ts":"2026-11-22T08:00:00Z","label":"1","source":"analyst-7"}}"#
    )
}

fn silence() -> String {
    json!({
        "match": { "model": "churn" },
        "ends_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "comment": "roles test",
        "created_by": "e2e",
    })
    .to_string()
}

/// `text` without ANSI escape sequences (the log's text format colours field names).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The metrics, read with the `read` token (`/metrics` is protected here).
fn metrics(d: &Driftd) -> Option<Metrics> {
    let (s, _, body) = call("GET", &format!("{}/metrics", d.base()), Some(READ), None);
    (s == 200).then(|| Metrics::parse(&body))
}

#[test]
fn every_role_boundary_is_403_near_miss_tokens_are_401_and_mutations_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start_run(dir.path(), "");
    let b = d.base();
    let (fb, alerts, silences) = (
        format!("{b}/v1/feedback"),
        format!("{b}/v1/alerts"),
        format!("{b}/v1/silences"),
    );
    let (promote, rollback, version) = (
        format!("{b}/v1/registry/churn/promote"),
        format!("{b}/v1/registry/churn/rollback"),
        format!("{b}/v1/registry/churn/versions/2"),
    );
    let retrain = format!("{b}/v1/models/churn/retrain");
    let metrics_url = format!("{b}/metrics");
    let v1 = r#"{"version": 1}"#;
    let v2 = r#"{"version": 2}"#;

    // No token, and tokens near a real one: 401 everywhere a role is needed.
    for t in [
        None,
        Some("admin-token-0123456789abcD"),  // one character off
        Some("admin-token-0123456789abc"),   // one shorter
        Some("admin-token-0123456789abcde"), // one longer
    ] {
        assert_eq!(status("POST", &promote, t, Some(v1)), 401, "{t:?}");
        assert_eq!(status("GET", &alerts, t, None), 401, "{t:?}");
        assert_eq!(status("POST", &fb, t, Some(&feedback("x"))), 401, "{t:?}");
        assert_eq!(status("GET", &metrics_url, t, None), 401, "{t:?}");
    }
    let (s, _, body) = call("GET", &alerts, Some("feedback-token-0123456788"), None);
    assert_eq!((s, body.contains("unauthorized")), (401, true), "{body}");

    // feedback: feedback only.
    for t in [FEEDBACK, LEGACY_FEEDBACK] {
        assert_eq!(status("GET", &alerts, Some(t), None), 403);
        assert_eq!(status("GET", &metrics_url, Some(t), None), 403);
        assert_eq!(status("POST", &silences, Some(t), Some(&silence())), 403);
        assert_eq!(status("POST", &promote, Some(t), Some(v1)), 403);
    }
    assert_eq!(
        status("POST", &fb, Some(FEEDBACK), Some(&feedback("f1"))),
        202
    );
    assert_eq!(
        status("POST", &fb, Some(LEGACY_FEEDBACK), Some(&feedback("f2"))),
        202
    );
    // read: the admin API's reads and /metrics; no writes, no feedback.
    assert_eq!(status("GET", &alerts, Some(READ), None), 200);
    assert_eq!(status("GET", &version, Some(READ), None), 200);
    assert_eq!(status("GET", &metrics_url, Some(READ), None), 200);
    let (s, _, body) = call("POST", &silences, Some(READ), Some(&silence()));
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("\\\"read\\\"") && body.contains("\\\"operator\\\""),
        "the 403 says what the token has and what is needed: {body}"
    );
    assert_eq!(status("POST", &retrain, Some(READ), None), 403);
    assert_eq!(status("POST", &fb, Some(READ), Some(&feedback("r1"))), 403);
    // operator: reads and silences; no promotion, no feedback.
    assert_eq!(status("GET", &alerts, Some(OPERATOR), None), 200);
    let (s, _, body) = call("POST", &silences, Some(OPERATOR), Some(&silence()));
    assert_eq!(s, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status("POST", &promote, Some(OPERATOR), Some(v1)), 403);
    assert_eq!(status("POST", &rollback, Some(OPERATOR), None), 403);
    assert_eq!(
        status("POST", &fb, Some(OPERATOR), Some(&feedback("o1"))),
        403
    );
    // admin: operator's rights and promotion and rollback; no feedback.
    assert_eq!(status("GET", &alerts, Some(ADMIN), None), 200);
    assert_eq!(
        status("DELETE", &format!("{silences}/{id}"), Some(ADMIN), None),
        204
    );
    assert_eq!(status("POST", &fb, Some(ADMIN), Some(&feedback("a1"))), 403);
    assert_eq!(status("POST", &promote, Some(ADMIN), Some(v1)), 200);
    assert_eq!(status("POST", &promote, Some(ADMIN), Some(v2)), 200);
    let (s, _, body) = call("POST", &rollback, Some(ADMIN), None);
    assert_eq!(s, 200, "{body}");

    // The decision records carry the actor.
    let (s, _, body) = call("GET", &version, Some(READ), None);
    assert_eq!(s, 200, "{body}");
    let rec: serde_json::Value = serde_json::from_str(&body).unwrap();
    let promoted = rec["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["action"] == "promote")
        .unwrap_or_else(|| panic!("no promote decision: {rec:#}"));
    assert_eq!(promoted["actor"], "release-bot", "{rec:#}");
    let (_, _, body) = call(
        "GET",
        &format!("{b}/v1/registry/churn/versions/1"),
        Some(READ),
        None,
    );
    let rec: serde_json::Value = serde_json::from_str(&body).unwrap();
    let decisions = rec["decisions"].as_array().unwrap();
    let last = decisions.last().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("rollback"), Some("release-bot")),
        "{rec:#}"
    );

    // Only accepted feedback was taken.
    let m = metrics(&d).unwrap();
    assert_eq!(m.sum("driftd_events_total", &[("kind", "feedback")]), 2.0);

    // Audit lines: mutating requests with the token's name (403s too), never a secret; reads
    // leave none.
    let log = wait_for("the rollback's audit line", Duration::from_secs(10), || {
        let log = plain(&d.log_text());
        log.lines()
            .any(|l| l.contains("driftd::audit") && l.contains("/v1/registry/churn/rollback"))
            .then_some(log)
    });
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("driftd::audit"))
        .collect();
    let has = |name: &str, method: &str, path: &str, status: u16| {
        audit.iter().any(|l| {
            l.contains(&format!("token={name}"))
                && l.contains(&format!("method={method}"))
                && l.contains(&format!("path={path}"))
                && l.contains(&format!("status={status}"))
        })
    };
    assert!(has("ops-ci", "POST", "/v1/silences", 201), "{audit:#?}");
    assert!(has("grafana", "POST", "/v1/silences", 403), "{audit:#?}");
    assert!(
        has("release-bot", "DELETE", &format!("/v1/silences/{id}"), 204),
        "{audit:#?}"
    );
    assert!(
        has("release-bot", "POST", "/v1/registry/churn/promote", 200),
        "{audit:#?}"
    );
    assert!(has("labeller", "POST", "/v1/feedback", 202), "{audit:#?}");
    assert!(
        has("feedback_tokens.0", "POST", "/v1/feedback", 202),
        "{audit:#?}"
    );
    assert!(
        !audit.iter().any(|l| l.contains("method=GET")),
        "{audit:#?}"
    );
    for secret in SECRETS {
        assert!(!log.contains(secret), "a token is in the log");
    }
    assert_eq!(d.terminate(), Some(0));
}

#[test]
fn flooded_feedback_gets_429_with_retry_after_and_exactly_the_acknowledged_labels_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start_run(
        dir.path(),
        "per_token_rate = 20\nper_token_burst = 10\nper_token_concurrent = 4\n",
    );
    let url = format!("{}/v1/feedback", d.base());
    const CLIENTS: usize = 32;
    const EACH: usize = 10;
    let (accepted, limited) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, accepted, limited) = (url.clone(), accepted.clone(), limited.clone());
            std::thread::spawn(move || {
                for i in 0..EACH {
                    // Two items per request, unique ids.
                    let body = format!(
                        "[{},{}]",
                        feedback(&format!("c{c}-{i}-a")),
                        feedback(&format!("c{c}-{i}-b"))
                    );
                    let (s, retry, text) = call("POST", &url, Some(FEEDBACK), Some(&body));
                    match s {
                        202 => {
                            assert_eq!(text, r#"{"accepted":2}"#);
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        429 => {
                            let secs: u64 = retry
                                .as_deref()
                                .expect("a 429 carries Retry-After")
                                .parse()
                                .expect("Retry-After in whole seconds");
                            assert!((1..=60).contains(&secs), "Retry-After: {secs}");
                            assert!(text.contains("too_many_requests"), "{text}");
                            limited.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("unexpected status {other}: {text}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (accepted, limited) = (
        accepted.load(Ordering::SeqCst),
        limited.load(Ordering::SeqCst),
    );
    assert_eq!(accepted + limited, CLIENTS * EACH);
    assert!(
        accepted > 0 && limited > 0,
        "{accepted} accepted, {limited} limited"
    );
    eprintln!("[access] {accepted} requests acknowledged, {limited} refused with 429");

    // Another token is not starved by the flooding one.
    assert_eq!(
        status(
            "POST",
            &url,
            Some(LEGACY_FEEDBACK),
            Some(&feedback("other"))
        ),
        202
    );
    let expected = (accepted * 2 + 1) as f64;
    let m = wait_for("the acknowledged labels", Duration::from_secs(20), || {
        metrics(&d).filter(|m| m.sum("driftd_events_total", &[("kind", "feedback")]) >= expected)
    });
    assert_eq!(
        m.sum("driftd_events_total", &[("kind", "feedback")]),
        expected
    );
    assert_eq!(
        m.sum(
            "driftd_feedback_http_items_total",
            &[("outcome", "accepted")]
        ),
        expected
    );
    assert_eq!(
        m.sum(
            "driftd_http_requests_total",
            &[("route", "/v1/feedback"), ("status", "429")]
        ),
        limited as f64
    );
    // And they are durable: the same count after SIGKILL and a restart.
    d.kill9();
    d.restart();
    let m = wait_for("restored counts", Duration::from_secs(30), || metrics(&d));
    assert_eq!(
        m.sum("driftd_events_total", &[("kind", "feedback")]),
        expected
    );
}

#[test]
fn serve_predicts_only_for_predict_tokens_protects_metrics_and_limits_with_429() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n\n[serve]\nreload_interval = \"200ms\"\n\
             metrics_role = \"read\"\n\
             [[serve.tokens]]\nname = \"web\"\nrole = \"predict\"\ntoken = {{ value = \"{PREDICT}\" }}\n\
             [[serve.tokens]]\nname = \"scraper\"\nrole = \"read\"\ntoken = {{ value = \"{READ}\" }}\n\
             [serve.limits]\nper_token_rate = 1\nper_token_burst = 3\n",
            dir.path().join("state.redb").display(),
        ),
    )
    .unwrap();
    let ex = dir.path().join("ex.jsonl");
    write_lines(&ex, &examples(300, 0));
    models_ok(
        &config,
        &["train", "churn", "--examples", ex.to_str().unwrap()],
    );
    models_ok(&config, &["promote", "churn", "1"]);
    let serve = Serve::start(dir.path(), &config);
    let url = format!("{}/v1/models/churn/predict", serve.base);
    let body = r#"{"features": {"x": 1.5, "colour": "red"}}"#;
    let metrics_url = format!("{}/metrics", serve.base);

    for t in [
        None,
        Some("predict-token-0123456788"),
        Some("predict-token-012345678"),
        Some("predict-token-01234567890"),
    ] {
        assert_eq!(status("POST", &url, t, Some(body)), 401, "{t:?}");
        assert_eq!(status("GET", &metrics_url, t, None), 401, "{t:?}");
    }
    assert_eq!(status("POST", &url, Some(READ), Some(body)), 403);
    assert_eq!(status("GET", &metrics_url, Some(PREDICT), None), 403);
    // The predict token: what is left of its burst of 3 (the 403 above took one), then 429 with
    // Retry-After (1 request per second).
    let answers: Vec<(u16, Option<String>, String)> = (0..5)
        .map(|_| call("POST", &url, Some(PREDICT), Some(body)))
        .collect();
    assert_eq!((answers[0].0, answers[1].0), (200, 200), "{answers:?}");
    let limited: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
    assert!(!limited.is_empty(), "{answers:?}");
    for (_, retry, _) in &limited {
        assert_eq!(retry.as_deref(), Some("1"));
    }
    let (s, _, text) = call("GET", &metrics_url, Some(READ), None);
    assert_eq!(s, 200);
    let m = Metrics::parse(&text);
    let outcome = |o: &str| {
        m.sum(
            "driftd_predict_requests_total",
            &[("model", "churn"), ("outcome", o)],
        )
    };
    assert_eq!(outcome("unauthorized"), 4.0);
    assert_eq!(outcome("forbidden"), 1.0);
    assert_eq!(outcome("limited"), limited.len() as f64);
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(ok + limited.len(), 5, "{answers:?}");
    assert_eq!(outcome("ok"), ok as f64);
    let log = plain(&std::fs::read_to_string(dir.path().join("serve.log")).unwrap());
    assert!(
        log.contains("driftd::audit") && log.contains("token=web"),
        "predictions are audited by token name:\n{}",
        tail(&log, 20)
    );
    for secret in SECRETS {
        assert!(!log.contains(secret), "a token is in the log");
    }
}
