//! The input adapters end to end (issue: KServe and Seldon payloads). One seeded drift stream
//! in contract v1 is also written as other servers log it (`tests/tools/adapters.py`, from those
//! projects' published formats): Open Inference Protocol V2 records on an MLServer-style pair of
//! Kafka topics, and KServe payload-logger CloudEvents in a file and over `POST /v1/kserve`.
//! `driftd run` counts them exactly and reports the onsets `driftd replay` reports for the
//! contract-v1 files; malformed records are dead-lettered with their reason and headers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use driftd::offline::streams::StreamKind;
use serde_json::Value as Json;

use crate::harness::*;
use crate::kafka::{ADMIN_TOKEN as ADMIN, topics};
use crate::order::{
    EMBEDDED, ENV, assert_same_as_replay, produce_feedback, record, sentinel, wait_done,
};

fn adapters_py(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo_root().join("tests/tools/adapters.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "adapters.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// MLServer-style topics (requests keyed by id with `mlserver-model`, responses with MLServer's
/// headers) beside contract-v1 feedback: the onsets of contract v1, exact counts; then two
/// malformed records are dead-lettered with their reason and their own headers.
#[test]
fn open_inference_records_over_kafka_give_the_onsets_of_contract_v1() {
    let broker = Broker::start(false);
    let data = tempfile::tempdir().unwrap();
    // Two prediction sentinels: one on the (empty) contract-v1 topic, one as an OIP pair.
    let r = record(data.path(), StreamKind::CovariateShift, 45_000, 11, 2);
    assert!(!r.onsets.is_empty(), "replay finds the shift");
    let t = topics(&broker, 1);
    let (inputs, outputs) = (
        format!("{}-in", t.predictions),
        format!("{}-out", t.predictions),
    );
    broker.create_topic(&inputs, 1);
    broker.create_topic(&outputs, 1);
    let dir = tempfile::tempdir().unwrap();
    let with_sentinel = dir.path().join("predictions.jsonl");
    std::fs::copy(&r.predictions, &with_sentinel).unwrap();
    append_lines(&with_sentinel, &[sentinel("p1")]);
    let (rq, rs) = (
        dir.path().join("requests.jsonl"),
        dir.path().join("responses.jsonl"),
    );
    adapters_py(&[
        "oip",
        "--predictions",
        s(&with_sentinel),
        "--requests",
        s(&rq),
        "--responses",
        s(&rs),
    ]);
    let n = r.n_predictions + 1;
    // The responses first: their halves wait for the requests, as a topic read ahead would.
    assert_eq!(
        produce_with(&broker.bootstrap(), &outputs, &rs, &["--records"]),
        n
    );
    assert_eq!(
        produce_with(&broker.bootstrap(), &inputs, &rq, &["--records"]),
        n
    );
    produce_feedback(&broker, &t, dir.path(), &r);
    let v1_sentinel = dir.path().join("sentinel-p0.jsonl");
    write_lines(&v1_sentinel, &[sentinel("p0")]);
    assert_eq!(
        produce(&broker.bootstrap(), &t.predictions, &v1_sentinel),
        1
    );
    let adapter = format!(
        "[events.order]\nidle_timeout = \"10m\"\n\n[source.adapter]\nformat = \"open-inference-v2\"\n\
         topics = [\"{inputs}\", \"{outputs}\"]\nscore_output = \"score\"\n"
    );
    let cfg = crate::kafka::kafka_config_with_state(&broker, &t, EMBEDDED, &adapter);
    let d = Driftd::start(dir.path(), &cfg, ENV);
    let m = wait_done(&d, &r, 3);
    assert_same_as_replay(&d, &m, &r, 3, "open inference over Kafka");
    assert_eq!(m.sum("driftd_adapter_unpaired_total", &[]), 0.0);
    assert_eq!(m.sum("driftd_adapter_pending", &[]), 0.0);

    // Malformed: Seldon's protobuf (not read) and a tensor whose shape lies.
    let bad = dir.path().join("bad.jsonl");
    write_lines(
        &bad,
        &[
            r#"{"key":"pb-1","headers":["mlserver-model","covariate_shift"],"ts":1767225600000,"payload":"\u0000\u0000\u0000\u0000\u0001\n\u0003abc"}"#.to_owned(),
            r#"{"key":"shape-1","headers":["mlserver-model","covariate_shift"],"ts":1767225600000,"payload":"{\"inputs\":[{\"name\":\"num_0\",\"shape\":[3],\"datatype\":\"FP64\",\"data\":[1.0]}]}"}"#.to_owned(),
        ],
    );
    assert_eq!(
        produce_with(&broker.bootstrap(), &inputs, &bad, &["--records"]),
        2
    );
    let dead = consume(&broker.bootstrap(), &t.dlq, 2, Duration::from_secs(120));
    assert_eq!(dead.len(), 2, "{}", tail(&d.log_text(), 30));
    let reasons: Vec<_> = dead
        .iter()
        .map(|c| c.headers["driftd-reason"].clone().unwrap())
        .collect();
    assert_eq!(reasons, ["invalid_json", "invalid_field"]);
    for c in &dead {
        assert_eq!(
            c.headers["mlserver-model"].as_deref(),
            Some("covariate_shift"),
            "the record's own headers travel with it"
        );
        assert_eq!(c.headers["driftd-topic"].as_deref(), Some(inputs.as_str()));
    }
    assert!(
        dead[0].headers["driftd-detail"]
            .as_deref()
            .unwrap()
            .contains("protobuf")
    );
    assert!(
        dead[1].headers["driftd-detail"]
            .as_deref()
            .unwrap()
            .contains("needs 3 values")
    );
    let m = d.metrics().unwrap();
    assert_eq!(m.sum("driftd_events_rejected_total", &[]), 2.0);
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", "covariate_shift"), ("kind", "prediction")]
        ),
        r.n_predictions as f64,
        "nothing else counted"
    );
}

/// Predictions of a stream, without labels, and their `driftd replay` onsets.
fn replayed(dir: &Path, n: usize, seed: u64) -> (PathBuf, usize, Vec<Json>) {
    let r = record(dir, StreamKind::CovariateShift, n, seed, 0);
    let report = dir.join("predictions-only.report.jsonl");
    crate::replay::exec_replay(dir, &["--events", s(&r.predictions)], &report);
    let (onsets, _) = crate::replay::read_report(&report);
    (r.predictions, r.n_predictions, onsets)
}

/// KServe's logger in a file (structured mode) through `driftd run`: the onsets of contract v1;
/// then the same logger over HTTP (binary mode): every half taken once it is durable, each pair
/// one prediction; a CloudEvent of another type is refused with the reason.
#[test]
fn kserve_cloudevents_in_a_file_and_over_http_give_the_onsets_of_contract_v1() {
    let data = tempfile::tempdir().unwrap();
    let (predictions, n, onsets) = replayed(data.path(), 45_000, 11);
    assert!(!onsets.is_empty(), "replay finds the shift");
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("kserve.jsonl");
    adapters_py(&[
        "kserve",
        "--predictions",
        s(&predictions),
        "--out",
        s(&events),
    ]);
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
feedback_tokens = [{{ env = "DRIFTD_TEST_TOKEN" }}]
admin_tokens = [{{ value = "{ADMIN}" }}]

[source]
kind = "file"
path = "{}"
follow = true
poll_interval = "50ms"

[source.adapter]
format = "kserve-cloudevents"
score_output = "score"
"#,
        events.display()
    );
    let token = ENV[0].1;
    let d = Driftd::start(dir.path(), &cfg, ENV);
    let model = "covariate_shift";
    let count = |m: &Metrics| {
        m.sum(
            "driftd_events_total",
            &[("model", model), ("kind", "prediction")],
        )
    };
    let m = wait_for(
        "every logged pair applied",
        Duration::from_secs(600),
        || {
            let m = d.metrics()?;
            (count(&m) >= n as f64 && m.sum("driftd_order_buffered_events", &[]) == 0.0)
                .then_some(m)
        },
    );
    assert_eq!(count(&m), n as f64);
    assert_eq!(m.sum("driftd_events_rejected_total", &[]), 0.0);
    assert_eq!(m.sum("driftd_adapter_unpaired_total", &[]), 0.0);
    let status = http_get_json(&format!("{}/v1/models/{model}", d.base()), ADMIN).unwrap();
    assert_eq!(
        status["recent_onsets"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        onsets,
        "onsets differ from replay's\n{}",
        tail(&d.log_text(), 30)
    );

    // Over HTTP, binary mode: 20 more pairs of the same stream (new ids: `http-` prefix).
    let http_preds = dir.path().join("http.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .take(20)
        .map(|l| l.replacen("\"id\":\"", "\"id\":\"http-", 1))
        .collect();
    write_lines(&http_preds, &lines);
    let url = format!("{}/v1/kserve", d.base());
    let taken = adapters_py(&[
        "kserve-http",
        "--predictions",
        s(&http_preds),
        "--url",
        &url,
        "--token",
        token,
    ]);
    assert_eq!(taken, "40", "every half is acknowledged with 202");
    let m = d.metrics().unwrap();
    assert_eq!(
        count(&m),
        (n + 20) as f64,
        "each pair is one prediction, counted once durable"
    );
    // Without a token: refused; another event type: refused with the reason.
    let (code, _) = http_post(&url, None, b"{}");
    assert_eq!(code, 401);
    let other = ureq_post(
        &url,
        token,
        &[
            ("Ce-Id", "x"),
            ("Ce-Type", "com.example.other"),
            ("Ce-Specversion", "1.0"),
        ],
        b"{}",
    );
    assert_eq!(other.0, 422, "{}", other.1);
    assert!(other.1.contains("neither"), "{}", other.1);
}

/// A POST with extra headers: (status, body).
fn ureq_post(url: &str, token: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut req = agent
        .post(url)
        .header("authorization", &format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send(body).expect("POST");
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}
