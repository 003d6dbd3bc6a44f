//! The feedback endpoint over real HTTP, in embedded mode.

use std::time::Duration;

use crate::harness::*;

const TOKEN: &str = "http-test-token-0123456789";

fn start(dir: &std::path::Path) -> Driftd {
    let events = dir.join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
max_body_bytes = 65536
max_batch_items = 100
feedback_tokens = [{{ env = "DRIFTD_TEST_TOKEN" }}]
[source]
kind = "file"
path = "{}"
follow = true
[events]
strict_models = true
[models.churn]
[models.fraud]
"#,
        events.display()
    );
    Driftd::start(dir, &cfg, &[("DRIFTD_TEST_TOKEN", TOKEN)])
}

fn feedback(id: &str, model: &str) -> String {
    format!(
        r#"{{"id":"{id}","model":"{model}","ts":"2026-11-22T08:00:00Z","label":"0","source":"analyst-7"}}"#
    )
}

#[test]
fn feedback_over_http_is_authenticated_limited_validated_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let url = format!("{}/v1/feedback", d.base());

    // One object (kind may be omitted), then a batch.
    let (s, body) = http_post(&url, Some(TOKEN), feedback("a1", "churn").as_bytes());
    assert_eq!(s, 202, "{body}");
    assert_eq!(body, r#"{"accepted":1}"#);
    let batch = format!(
        "[{},{},{}]",
        feedback("a2", "churn"),
        feedback("a3", "fraud"),
        r#"{"kind":"feedback","id":"a4","model":"fraud","ts":"2026-11-22T08:00:00Z","value":3.5}"#
    );
    let (s, body) = http_post(&url, Some(TOKEN), batch.as_bytes());
    assert_eq!(s, 202, "{body}");
    assert_eq!(body, r#"{"accepted":3}"#);
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("kind", "feedback"), ("model", "churn")]
        ),
        2.0
    );
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("kind", "feedback"), ("model", "fraud")]
        ),
        2.0
    );
    assert_eq!(
        m.sum(
            "driftd_feedback_http_items_total",
            &[("outcome", "accepted")]
        ),
        4.0
    );

    // Authentication.
    let (s, body) = http_post(&url, None, feedback("b1", "churn").as_bytes());
    assert_eq!(s, 401, "{body}");
    let (s, _) = http_post(
        &url,
        Some("wrong-token-0123456789"),
        feedback("b1", "churn").as_bytes(),
    );
    assert_eq!(s, 401);
    let (s, _) = http_post(
        &url,
        Some(&TOKEN[..TOKEN.len() - 1]),
        feedback("b1", "churn").as_bytes(),
    );
    assert_eq!(s, 401);

    // Size limits: the body, and the number of items.
    let huge = format!("[{}]", vec![feedback("c", "churn"); 2000].join(","));
    assert!(huge.len() > 65536);
    let (s, _) = http_post(&url, Some(TOKEN), huge.as_bytes());
    assert_eq!(s, 413);
    let many = format!("[{}]", vec![feedback("c", "churn"); 101].join(","));
    assert!(many.len() < 65536);
    let (s, body) = http_post(&url, Some(TOKEN), many.as_bytes());
    assert_eq!(s, 413, "{body}");
    assert!(body.contains("too_many_items"));

    // Malformed items: each problem listed with its index and reason; nothing accepted.
    let bad = format!(
        "[{},{},{},{},{}]",
        feedback("ok", "churn"),
        r#"{"id":"d1","model":"churn","ts":"2026-11-22T08:00:00Z"}"#,
        r#"{"id":"d2","model":"churn","ts":"not a time","label":"1"}"#,
        feedback("d3", "unknown-model"),
        r#"{"kind":"prediction","id":"d4","model":"churn","ts":"2026-11-22T08:00:00Z","features":{}}"#
    );
    let (s, body) = http_post(&url, Some(TOKEN), bad.as_bytes());
    assert_eq!(s, 422, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = v["items"].as_array().unwrap();
    let got: Vec<(u64, &str)> = items
        .iter()
        .map(|i| (i["index"].as_u64().unwrap(), i["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "missing_field"),
            (2, "bad_timestamp"),
            (3, "unknown_model"),
            (4, "unknown_kind")
        ]
    );
    for (s, body) in [
        http_post(&url, Some(TOKEN), b"{not json"),
        http_post(&url, Some(TOKEN), b"42"),
        http_post(&url, Some(TOKEN), b"[]"),
    ] {
        assert_eq!(s, 400, "{body}");
        assert!(
            !body.contains("panicked") && !body.contains("/src/"),
            "{body}"
        );
    }
    let (s, body) = http_post(&url, Some(TOKEN), b"[1,{}]");
    assert_eq!(s, 422, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"][0]["reason"], "not_an_object");
    assert_eq!(v["items"][1]["reason"], "missing_field");

    // Nothing of the rejected requests was counted; the daemon is healthy.
    let m = d.metrics().unwrap();
    assert_eq!(m.sum("driftd_events_total", &[("kind", "feedback")]), 4.0);
    assert!(d.alive());
    assert!(d.ready());

    // Accepted feedback is durable before the 202: it survives SIGKILL.
    d.kill9();
    d.restart();
    let m = wait_for("restored feedback counts", Duration::from_secs(30), || {
        d.metrics()
    });
    assert_eq!(m.sum("driftd_events_total", &[("kind", "feedback")]), 4.0);
}

#[test]
fn health_and_readiness_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    assert_eq!(d.get("/healthz").unwrap(), (200, "ok\n".to_owned()));
    wait_for("ready", Duration::from_secs(10), || d.ready().then_some(()));
    let (s, body) = d.get("/readyz").unwrap();
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(d.get("/nope").unwrap().0, 404);
    let m = d.metrics().unwrap();
    assert!(
        m.sum(
            "driftd_http_requests_total",
            &[("route", "/healthz"), ("status", "200")]
        ) >= 1.0
    );
    assert!(m.has("process_resident_memory_bytes"));
    assert_eq!(m.sum("driftd_build_info", &[]), 1.0);
    assert_eq!(d.terminate(), Some(0));
}
