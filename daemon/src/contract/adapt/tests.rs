//! The adapters on payloads written from the projects' published formats. Sources:
//! - KServe: `pkg/logger/{worker,handler}.go` (the CloudEvent types, extensions, one `Ce-Id` for
//!   both halves) and the website's `basic-logger.md` (V1 bodies), `sklearn.md` (V2 bodies);
//! - CloudEvents: `bindings/kafka-protocol-binding.md` §3.2–3.3 and `formats/json-format.md`
//!   (`data`, `data_base64`);
//! - Open Inference Protocol: `specification/protocol/inference_rest.md` (the request/response
//!   example, verbatim); MLServer's `docs/user-guide/content-type.md` (pandas: one tensor per
//!   column) and `mlserver/kafka/` (headers `mlserver-model`, key = request id);
//! - Seldon Core v2: `docs-gb/examples/pipeline-examples.md` (`seldon pipeline inspect` lines,
//!   protobuf JSON with string dimensions and `contents`), topic names and `x-request-id`.

use serde_json::{Value, json};

use super::*;
use crate::contract::event::{Body, ParseOptions, parse_event};

fn cfg(format: Format) -> AdapterConfig {
    AdapterConfig {
        format,
        ..AdapterConfig::default()
    }
}

fn rec(headers: &[(&str, &str)], body: &str) -> Record {
    Record {
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: body.as_bytes().to_vec(),
        ..Record::default()
    }
}

fn events(c: &Converted) -> Vec<Value> {
    c.events
        .iter()
        .map(|e| {
            // Every event an adapter makes is valid contract v1.
            parse_event(e, &ParseOptions::default()).expect("contract v1");
            serde_json::from_slice(e).unwrap()
        })
        .collect()
}

const A1_ID: &str = "e58f1edd-43bc-42f6-a10a-d1adb5cab831";

fn kserve_headers<'a>(id: &'a str, ty: &'a str, time: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Ce-Specversion", "1.0"),
        ("Ce-Id", id),
        ("Ce-Type", ty),
        ("Ce-Source", "http://localhost:9081/"),
        ("Ce-Time", time),
        ("Ce-Inferenceservicename", "sklearn-iris"),
        ("Ce-Namespace", "default"),
        ("Ce-Component", "predictor"),
        ("Ce-Endpoint", ""),
        ("Ce-Metadata", "{}"),
        ("Content-Type", "application/json"),
    ]
}

#[test]
fn kserve_v1_request_and_response_over_http_make_one_prediction_per_instance() {
    let c = AdapterConfig {
        features: vec![
            "sepal_length".into(),
            "sepal_width".into(),
            "petal_length".into(),
            "petal_width".into(),
        ],
        classes: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
        ..cfg(Format::KserveCloudevents)
    };
    let mut p = Pairs::default();
    let req = rec(
        &kserve_headers(
            A1_ID,
            cloudevents::KSERVE_REQUEST,
            "2026-03-02T10:45:00.101234567Z",
        ),
        r#"{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}"#,
    );
    let resp = rec(
        &kserve_headers(
            A1_ID,
            cloudevents::KSERVE_RESPONSE,
            "2026-03-02T10:45:00.131876543Z",
        ),
        r#"{"predictions":[1,1]}"#,
    );
    let first = p.convert(&c, c.format, &req).unwrap();
    assert!(first.events.is_empty() && p.len() == 1, "the request waits");
    let out = p.convert(&c, c.format, &resp).unwrap();
    assert!(p.is_empty());
    let ev = events(&out);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["id"], format!("{A1_ID}-0"));
    assert_eq!(ev[1]["id"], format!("{A1_ID}-1"));
    assert_eq!(ev[0]["model"], "sklearn-iris");
    // The request's time, to the nanosecond.
    assert_eq!(ev[0]["ts"], "2026-03-02T10:45:00.101234567Z");
    assert_eq!(ev[0]["features"]["petal_width"], 1.4);
    assert_eq!(ev[1]["features"]["sepal_width"], 3.4);
    assert_eq!(ev[0]["prediction"]["label"], "versicolor");
}

#[test]
fn kserve_halves_pair_in_either_order_and_by_service() {
    let c = cfg(Format::KserveCloudevents);
    let mut p = Pairs::default();
    let t = "2026-03-02T10:45:00Z";
    let resp = rec(
        &kserve_headers("x1", cloudevents::KSERVE_RESPONSE, t),
        r#"{"predictions":[0]}"#,
    );
    assert!(p.convert(&c, c.format, &resp).unwrap().events.is_empty());
    // Same id, another InferenceService: not its pair.
    let mut other = kserve_headers("x1", cloudevents::KSERVE_REQUEST, t);
    other[5] = ("Ce-Inferenceservicename", "other");
    assert!(
        p.convert(&c, c.format, &rec(&other, r#"{"instances":[[1.0]]}"#))
            .unwrap()
            .events
            .is_empty()
    );
    assert_eq!(p.len(), 2);
    let req = rec(
        &kserve_headers("x1", cloudevents::KSERVE_REQUEST, t),
        r#"{"instances":[{"age":41,"plan":"pro","vip":true}]}"#,
    );
    let ev = events(&p.convert(&c, c.format, &req).unwrap());
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["id"], "x1", "a batch of one keeps the inference id");
    assert_eq!(
        ev[0]["features"],
        json!({"age": 41, "plan": "pro", "vip": "true"})
    );
    assert_eq!(ev[0]["prediction"]["label"], "0");
    // A retried half is counted once.
    assert!(
        p.convert(&c, c.format, &rec(&other, r#"{"instances":[[1.0]]}"#))
            .unwrap()
            .events
            .is_empty()
    );
    assert_eq!(p.duplicates, 1);
}

#[test]
fn kserve_v2_bodies_are_read_as_tensors() {
    let c = AdapterConfig {
        features: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        ..cfg(Format::KserveCloudevents)
    };
    let mut p = Pairs::default();
    let id = "6a1f0c9e-2b7d-4e55-9d0b-3f1e8c2a7b10";
    let t = "2026-03-02T10:45:00.5Z";
    p.convert(&c, c.format,
        &rec(
            &kserve_headers(id, cloudevents::KSERVE_REQUEST, t),
            r#"{"inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP32","data":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}]}"#,
        ),
    )
    .unwrap();
    let out = p
        .convert(&c, c.format,
            &rec(
                &kserve_headers(id, cloudevents::KSERVE_RESPONSE, t),
                r#"{"id":"823248cc-d770-4a51-9606-16803395569c","model_name":"sklearn-iris","model_version":"v1.0.0","outputs":[{"data":[1,1],"datatype":"INT64","name":"predict","parameters":null,"shape":[2]}]}"#,
            ),
        )
        .unwrap();
    let ev = events(&out);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["features"]["c"], 4.5);
    assert_eq!(ev[1]["model_version"], "v1.0.0");
    assert_eq!(ev[1]["prediction"]["label"], "1");
}

#[test]
fn cloudevents_from_kafka_in_binary_and_structured_mode() {
    let c = cfg(Format::KserveCloudevents);
    let mut p = Pairs::default();
    // Binary mode: `ce_` headers, the body as is.
    let req = rec(
        &[
            ("ce_specversion", "1.0"),
            ("ce_id", A1_ID),
            ("ce_type", cloudevents::KSERVE_REQUEST),
            ("ce_source", "http://localhost:9081/"),
            ("ce_time", "2026-03-02T10:45:00.101Z"),
            ("ce_inferenceservicename", "sklearn-iris"),
            ("content-type", "application/json"),
        ],
        r#"{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}"#,
    );
    p.convert(&c, c.format, &req).unwrap();
    // Structured mode, with the data base64-encoded (a non-JSON content type upstream).
    let resp = rec(
        &[(
            "content-type",
            "application/cloudevents+json; charset=UTF-8",
        )],
        &json!({"specversion":"1.0","id":A1_ID,"type":cloudevents::KSERVE_RESPONSE,
                "source":"http://localhost:9081/","time":"2026-03-02T10:45:00.131Z",
                "inferenceservicename":"sklearn-iris","namespace":"default","component":"predictor",
                "data_base64":"eyJwcmVkaWN0aW9ucyI6WzEsMV19"})
        .to_string(),
    );
    let ev = events(&p.convert(&c, c.format, &resp).unwrap());
    assert_eq!(ev.len(), 2);
    assert_eq!(
        ev[0]["features"]["x.3"], 1.4,
        "unnamed columns are x.<column>"
    );
    assert_eq!(ev[1]["prediction"]["label"], "1");
    // Structured mode with JSON data, read from a file line (no headers at all).
    let line = json!({"specversion":"1.0","id":"s2","type":cloudevents::KSERVE_REQUEST,
        "time":"2026-03-02T10:46:00Z","inferenceservicename":"sklearn-iris",
        "data":{"instances":[[1.0,2.0,3.0,4.0]]}})
    .to_string();
    let r = Record::from_line(line.as_bytes());
    assert!(p.convert(&c, c.format, &r).unwrap().events.is_empty());
    assert_eq!(p.len(), 1);
}

#[test]
fn kcat_lines_carry_headers_key_and_timestamp() {
    let line = r#"{"topic":"seldon.default.model.iris.outputs","partition":0,"offset":7,"tstype":"create","ts":1767350700000,"broker":1,"headers":["x-request-id","d0m1k3s0qv7c73b2g4a0","pipeline","iris-pipe"],"key":"0.iris-pipe.d0m1k3s0qv7c73b2g4a0","payload":"{\"outputs\":[]}"}"#;
    let r = Record::from_line(line.as_bytes());
    assert_eq!(
        r.topic.as_deref(),
        Some("seldon.default.model.iris.outputs")
    );
    assert_eq!(r.timestamp_ms, Some(1_767_350_700_000));
    assert_eq!(r.header_str("X-Request-Id"), Some("d0m1k3s0qv7c73b2g4a0"));
    assert_eq!(
        r.key.as_deref(),
        Some(&b"0.iris-pipe.d0m1k3s0qv7c73b2g4a0"[..])
    );
    assert_eq!(r.body, br#"{"outputs":[]}"#);
    // A plain payload line stays whole.
    let plain = br#"{"inputs":[],"ts":1}"#;
    assert_eq!(Record::from_line(plain).body, plain);
}

fn kafka(topic: &str, key: Option<&str>, headers: &[(&str, &str)], ts: i64, body: &str) -> Record {
    Record {
        topic: Some(topic.into()),
        key: key.map(|k| k.as_bytes().to_vec()),
        timestamp_ms: Some(ts),
        ..rec(headers, body)
    }
}

#[test]
fn oip_spec_example_pairs_on_the_body_id() {
    // inference_rest.md's example, with input1's shape made consistent ([1]: one BOOL per row
    // of a batch of one is not the example's [3] with one value, which is rejected below).
    let c = cfg(Format::OpenInferenceV2);
    let mut p = Pairs::default();
    let req = r#"{"id":"42","inputs":[{"name":"input0","shape":[1,4],"datatype":"UINT32","data":[1,2,3,4]},{"name":"input1","shape":[1],"datatype":"BOOL","data":[true]}],"outputs":[{"name":"output0"}]}"#;
    let resp = r#"{"id":"42","model_name":"m","outputs":[{"name":"output0","shape":[1,2],"datatype":"FP32","data":[0.25,0.75]}]}"#;
    // A request names no model: MLServer's header does (or `[source.adapter] model`).
    let r = p
        .convert(&c, c.format, &kafka("requests", None, &[], 1_000, req))
        .unwrap_err();
    assert!(r.detail.contains("set [source.adapter] model"), "{r}");
    p.convert(
        &c,
        c.format,
        &kafka("requests", None, &[("mlserver-model", "m")], 1_000, req),
    )
    .unwrap();
    let ev = events(
        &p.convert(&c, c.format, &kafka("responses", None, &[], 1_005, resp))
            .unwrap(),
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["id"], "42");
    assert_eq!(ev[0]["model"], "m");
    assert_eq!(
        ev[0]["features"],
        json!({"input0.0":1,"input0.1":2,"input0.2":3,"input0.3":4,"input1":"true"})
    );
    assert_eq!(
        ev[0]["prediction"],
        json!({"probabilities":{"0":0.25,"1":0.75},"label":"1"})
    );
    // The example as published: shape [3] with one value.
    let bad =
        r#"{"id":"43","inputs":[{"name":"input1","shape":[3],"datatype":"BOOL","data":[true]}]}"#;
    let r = p
        .convert(&c, c.format, &kafka("requests", None, &[], 1_000, bad))
        .unwrap_err();
    assert_eq!(r.reason, RejectReason::InvalidField);
    assert!(
        r.detail.contains("needs 3 values, it has 1"),
        "{}",
        r.detail
    );
}

#[test]
fn mlserver_pandas_columns_are_features_and_the_key_joins() {
    let c = cfg(Format::OpenInferenceV2);
    let mut p = Pairs::default();
    let req = r#"{"id":"b1c4e0de-0000-4000-8000-000000000001","parameters":{"content_type":"pd"},"inputs":[
        {"name":"age","shape":[3,1],"datatype":"INT64","data":[34,22,51]},
        {"name":"income","shape":[3,1],"datatype":"FP64","data":[52000.0,31000.5,null]},
        {"name":"city","shape":[3,1],"datatype":"BYTES","parameters":{"content_type":"str"},"data":["Lyon","Oslo","Lima"]}]}"#;
    let resp = r#"{"model_name":"income-clf","model_version":"v1","id":"req-0001","parameters":{},"outputs":[{"name":"predict","shape":[3,1],"datatype":"INT64","parameters":{"content_type":"np"},"data":[0,1,0]}]}"#;
    p.convert(
        &c,
        c.format,
        &kafka(
            "mlserver-input",
            Some("req-0001"),
            &[("mlserver-model", "income-clf")],
            2_000,
            req,
        ),
    )
    .unwrap();
    let out = p
        .convert(
            &c,
            c.format,
            &kafka(
                "mlserver-output",
                Some("req-0001"),
                &[
                    ("Ce-Specversion", "0.3"),
                    ("Ce-Type", "io.seldon.serving.inference.response"),
                    ("Ce-Modelid", "income-clf"),
                ],
                2_003,
                resp,
            ),
        )
        .unwrap();
    let ev = events(&out);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[2]["id"], "req-0001-2");
    assert_eq!(ev[2]["model"], "income-clf");
    assert_eq!(
        ev[2]["features"],
        json!({"age":51,"income":null,"city":"Lima"})
    );
    // In the tensors' order, not sorted: the monitors see the columns as the model does.
    let raw = String::from_utf8(out.events[2].clone()).unwrap();
    assert!(
        raw.contains(r#""features":{"age":51,"income":null,"city":"Lima"}"#),
        "{raw}"
    );
    assert_eq!(ev[1]["prediction"]["label"], "1");
    assert_eq!(
        ev[0]["ts"], "1970-01-01T00:00:02Z",
        "the request's record time"
    );
}

#[test]
fn seldon_topics_name_the_model_and_x_request_id_joins() {
    let c = cfg(Format::OpenInferenceV2);
    let mut p = Pairs::default();
    // `seldon pipeline inspect`'s lines (protobuf JSON: string dimensions, `contents`), with the
    // v2.10 composite key and the request id header.
    let req = r#"{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":["1","4"],"contents":{"intContents":[1,2,3,4]}}]}"#;
    let resp = r#"{"modelName":"tfsimple1_1","modelVersion":"1","outputs":[{"name":"OUTPUT0","datatype":"INT32","shape":["1","1"],"contents":{"intContents":[2]}}]}"#;
    let h = [
        ("x-request-id", "ciep298fh5ss73dpdir0"),
        ("pipeline", "tfsimple"),
    ];
    p.convert(
        &c,
        c.format,
        &kafka(
            "seldon.default.model.tfsimple1.inputs",
            Some("0.tfsimple.ciep298fh5ss73dpdir0"),
            &h,
            5_000,
            req,
        ),
    )
    .unwrap();
    let ev = events(
        &p.convert(
            &c,
            c.format,
            &kafka(
                "seldon.default.model.tfsimple1.outputs",
                Some("0.tfsimple.ciep298fh5ss73dpdir0"),
                &h,
                5_001,
                resp,
            ),
        )
        .unwrap(),
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["model"], "tfsimple1");
    assert_eq!(ev[0]["id"], "ciep298fh5ss73dpdir0");
    assert_eq!(ev[0]["features"]["INPUT0.3"], 4);
    assert_eq!(ev[0]["prediction"]["label"], "2");
}

#[test]
fn bad_payloads_are_rejected_with_a_reason() {
    let k = cfg(Format::KserveCloudevents);
    let o = cfg(Format::OpenInferenceV2);
    let t = "2026-03-02T10:45:00Z";
    let cases: Vec<(&AdapterConfig, Record, RejectReason, &str)> = vec![
        (
            &k,
            rec(&[], "not json"),
            RejectReason::InvalidJson,
            "not JSON",
        ),
        (
            &k,
            rec(&[], r#"{"id":"1"}"#),
            RejectReason::MissingField,
            "specversion",
        ),
        (
            &k,
            rec(&kserve_headers("1", "com.example.other", t), "{}"),
            RejectReason::UnknownKind,
            "neither",
        ),
        (
            &k,
            rec(
                &kserve_headers("1", cloudevents::KSERVE_REQUEST, "yesterday"),
                r#"{"instances":[]}"#,
            ),
            RejectReason::BadTimestamp,
            "RFC 3339",
        ),
        (
            &k,
            rec(
                &kserve_headers("1", cloudevents::KSERVE_REQUEST, t),
                r#"{"nothing":1}"#,
            ),
            RejectReason::MissingField,
            "instances",
        ),
        (
            &k,
            rec(
                &kserve_headers("1", cloudevents::KSERVE_REQUEST, t),
                r#"{"instances":[[[1,2]]]}"#,
            ),
            RejectReason::InvalidField,
            "nested",
        ),
        (
            &k,
            rec(
                &kserve_headers("1", cloudevents::KSERVE_RESPONSE, t),
                r#"{"predictions":[null]}"#,
            ),
            RejectReason::InvalidPrediction,
            "not a label",
        ),
        (
            &k,
            rec(&kserve_headers("1", cloudevents::KSERVE_REQUEST, t), "[1]"),
            RejectReason::NotAnObject,
            "not a JSON object",
        ),
        (
            &o,
            kafka("in", Some("k"), &[], 1, "\0\0\0\0\x01\x0a"),
            RejectReason::InvalidJson,
            "protobuf",
        ),
        (
            &o,
            kafka(
                "in",
                Some("k"),
                &[],
                1,
                r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP99","data":[1]}]}"#,
            ),
            RejectReason::InvalidField,
            "datatype",
        ),
        (
            &o,
            kafka(
                "in",
                Some("k"),
                &[],
                1,
                r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":["x"]}]}"#,
            ),
            RejectReason::InvalidField,
            "not of datatype",
        ),
        (
            &o,
            kafka(
                "in",
                Some("k"),
                &[],
                1,
                r#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1,2]},{"name":"b","shape":[1],"datatype":"FP32","data":[1]}]}"#,
            ),
            RejectReason::InvalidField,
            "rows",
        ),
        (
            &o,
            kafka(
                "in",
                None,
                &[],
                1,
                r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}"#,
            ),
            RejectReason::MissingField,
            "inference id",
        ),
        (
            &o,
            Record {
                timestamp_ms: None,
                ..kafka(
                    "in",
                    Some("k"),
                    &[],
                    1,
                    r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}]}"#,
                )
            },
            RejectReason::BadTimestamp,
            "timestamp",
        ),
        (
            &o,
            kafka("in", Some("k"), &[], 1, r#"{"model_name":"m"}"#),
            RejectReason::MissingField,
            "neither",
        ),
    ];
    for (c, r, reason, detail) in cases {
        let mut p = Pairs::default();
        let got = p.convert(c, c.format, &r).expect_err(&format!(
            "{:?} should be rejected",
            String::from_utf8_lossy(&r.body)
        ));
        assert_eq!(got.reason, reason, "{got}");
        assert!(got.detail.contains(detail), "{got}");
        assert!(p.is_empty(), "a rejected record leaves no half");
    }
}

#[test]
fn unpaired_halves_become_events_after_the_timeout_or_the_cap_and_at_the_end() {
    let c = AdapterConfig {
        model: Some("m".into()),
        max_pending: 2,
        pair_timeout: Duration::from_secs(10),
        ..cfg(Format::OpenInferenceV2)
    };
    let req = |id: &str, ts: i64| {
        kafka(
            "in",
            Some(id),
            &[],
            ts,
            r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1.5]}]}"#,
        )
    };
    let resp = |id: &str, ts: i64| {
        kafka(
            "out",
            Some(id),
            &[],
            ts,
            r#"{"outputs":[{"name":"p","shape":[1],"datatype":"INT64","data":[1]}]}"#,
        )
    };
    let mut p = Pairs::default();
    p.convert(&c, c.format, &req("a", 1_000)).unwrap();
    p.convert(&c, c.format, &resp("b", 2_000)).unwrap();
    // The cap: a third half pushes the oldest out, as a prediction without output.
    let out = p.convert(&c, c.format, &req("c", 3_000)).unwrap();
    assert_eq!(out.unpaired, vec![Side::Request]);
    let ev = events(&out);
    assert_eq!(ev[0]["id"], "a");
    assert_eq!(ev[0]["features"]["a"], 1.5);
    assert!(ev[0].get("prediction").is_none());
    // The timeout: requests 10 s past `b` (a response) push it out, without features; `c`, a
    // request, stays: the responses have not come that far.
    let out = p.convert(&c, c.format, &req("d", 12_500)).unwrap();
    assert_eq!(out.unpaired, vec![Side::Response]);
    assert_eq!(events(&out)[0]["features"], json!({}));
    assert_eq!(p.len(), 2);
    // A checkpoint restores exactly what waits.
    let restored = Pairs::restore(&p.checkpoint()).unwrap();
    assert_eq!(restored, p);
    // The end of the input: everything left, oldest first.
    let mut q = restored;
    let out = q.drain(&c);
    assert_eq!(
        events(&out)
            .iter()
            .map(|e| e["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!("c"), json!("d")]
    );
    assert!(q.is_empty());
}

#[test]
fn a_side_read_ahead_of_the_other_does_not_push_its_own_halves_out() {
    let c = AdapterConfig {
        model: Some("m".into()),
        pair_timeout: Duration::from_secs(10),
        ..cfg(Format::OpenInferenceV2)
    };
    let body = r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1.5]}]}"#;
    let mut p = Pairs::default();
    // An hour of requests before the first response (their topic was read first).
    for i in 0..360 {
        let out = p
            .convert(
                &c,
                c.format,
                &kafka("in", Some(&format!("r{i}")), &[], i * 10_000, body),
            )
            .unwrap();
        assert!(out.unpaired.is_empty());
    }
    let resp = r#"{"outputs":[{"name":"p","shape":[1],"datatype":"INT64","data":[1]}]}"#;
    let out = p
        .convert(&c, c.format, &kafka("out", Some("r0"), &[], 5, resp))
        .unwrap();
    assert_eq!(events(&out).len(), 1);
    assert!(out.unpaired.is_empty());
    // Responses 10 s past a request whose response never came: it goes, alone.
    let out = p
        .convert(&c, c.format, &kafka("out", Some("r2"), &[], 20_005, resp))
        .unwrap();
    assert_eq!(out.unpaired, vec![Side::Request]);
    assert_eq!(events(&out)[0]["id"], "r1");
}

#[test]
fn a_pair_whose_rows_differ_keeps_the_request_and_rejects_the_response() {
    let c = AdapterConfig {
        model: Some("m".into()),
        ..cfg(Format::OpenInferenceV2)
    };
    let mut p = Pairs::default();
    p.convert(
        &c,
        c.format,
        &kafka(
            "in",
            Some("z"),
            &[],
            1,
            r#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","data":[1,2]}]}"#,
        ),
    )
    .unwrap();
    let out = p
        .convert(
            &c,
            c.format,
            &kafka(
                "out",
                Some("z"),
                &[],
                2,
                r#"{"outputs":[{"name":"p","shape":[1],"datatype":"INT64","data":[1]}]}"#,
            ),
        )
        .unwrap();
    assert_eq!(
        events(&out).len(),
        2,
        "the request's two rows, without outputs"
    );
    assert_eq!(
        out.rejection.unwrap().reason,
        RejectReason::InvalidPrediction
    );
}

#[test]
fn outputs_are_chosen_by_name_and_configured_as_value_or_score() {
    let mut c = AdapterConfig {
        model: Some("m".into()),
        classes: vec!["no".into(), "yes".into()],
        ..cfg(Format::OpenInferenceV2)
    };
    let body = r#"{"outputs":[{"name":"predict_proba","shape":[1,2],"datatype":"FP64","data":[0.2,0.8]},{"name":"predict","shape":[1],"datatype":"INT64","data":[1]}]}"#;
    let (rows, _, _) = oip::response(&c, &serde_json::from_str(body).unwrap()).unwrap();
    assert_eq!(
        Value::Object(rows[0].iter().cloned().collect()),
        json!({"label":"yes","probabilities":{"no":0.2,"yes":0.8}})
    );
    c.output = OutputKind::Score;
    c.classes.clear();
    let body = r#"{"outputs":[{"name":"out","shape":[2],"datatype":"FP32","data":[0.25,0.5]}]}"#;
    let (rows, _, _) = oip::response(&c, &serde_json::from_str(body).unwrap()).unwrap();
    assert_eq!(
        Value::Object(rows[1].iter().cloned().collect()),
        json!({"score":0.5})
    );
    c.output = OutputKind::Value;
    let (rows, _, _) = oip::response(&c, &serde_json::from_str(body).unwrap()).unwrap();
    assert_eq!(
        Value::Object(rows[0].iter().cloned().collect()),
        json!({"value":0.25})
    );
    // A score beside a label: the label is the other output.
    c.output = OutputKind::Label;
    c.score_output = Some("s".into());
    let body2 = r#"{"outputs":[{"name":"s","shape":[1],"datatype":"FP32","data":[0.75]},{"name":"y","shape":[1],"datatype":"BYTES","data":["1"]}]}"#;
    let (rows2, _, _) = oip::response(&c, &serde_json::from_str(body2).unwrap()).unwrap();
    assert_eq!(
        Value::Object(rows2[0].iter().cloned().collect()),
        json!({"label":"1","score":0.75})
    );
    c.score_output = None;
    c.output = OutputKind::Value;
    c.label_output = Some("missing".into());
    let r = oip::response(&c, &serde_json::from_str(body).unwrap()).unwrap_err();
    assert!(r.detail.contains("no output `missing`"));
    // The contract parses what the adapter made.
    let ev = event("i".into(), "m", None, 0, &[], Some(&rows[0]));
    assert!(matches!(
        parse_event(&ev, &ParseOptions::default()).unwrap().body,
        Body::Prediction { .. }
    ));
}

#[test]
fn the_section_is_checked() {
    let mut e = Vec::new();
    AdapterConfig {
        model: Some("bad name".into()),
        max_pending: 0,
        ..cfg(Format::OpenInferenceV2)
    }
    .validate(true, &mut e);
    let keys: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        keys,
        [
            "source.adapter.model",
            "source.adapter.max_pending",
            "source.adapter.topics"
        ]
    );
    let mut e = Vec::new();
    AdapterConfig {
        topics: vec!["t".into()],
        ..cfg(Format::KserveCloudevents)
    }
    .validate(false, &mut e);
    assert_eq!(e.len(), 1, "a file source has no topics");
}

#[test]
fn seldon_protobuf_records_are_read_typed_raw_and_framed() {
    let c = cfg(Format::OpenInferenceV2);
    let mut p = Pairs::default();
    let h = [
        ("x-request-id", "d0m1k3s0qv7c73b2g4a0"),
        ("pipeline", "iris"),
    ];
    // A request in raw contents behind the schema-registry frame (Seldon 2.10 with a registry).
    let req = protobuf::encode::message(
        true,
        &[
            ("sepal_length", "FP32", vec![1, 1], vec![5.5]),
            ("petal", "FP64", vec![1, 2], vec![1.4, 0.2]),
        ],
        true,
        true,
    );
    let mut r = kafka(
        "seldon.seldon-mesh.model.iris.inputs",
        Some("0.iris.d0m1k3s0qv7c73b2g4a0"),
        &h,
        9_000,
        "",
    );
    r.body = req;
    assert!(p.convert(&c, c.format, &r).unwrap().events.is_empty());
    // The response with typed contents, unframed.
    let resp = protobuf::encode::message(
        false,
        &[("predict", "INT64", vec![1], vec![2.0])],
        false,
        false,
    );
    let mut r = kafka(
        "seldon.seldon-mesh.model.iris.outputs",
        Some("0.iris.d0m1k3s0qv7c73b2g4a0"),
        &h,
        9_004,
        "",
    );
    r.body = resp;
    let ev = events(&p.convert(&c, c.format, &r).unwrap());
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["model"], "iris",
        "the topic's model, not the versioned model_name"
    );
    assert_eq!(ev[0]["model_version"], "1");
    assert_eq!(ev[0]["id"], "d0m1k3s0qv7c73b2g4a0");
    assert_eq!(
        ev[0]["features"],
        json!({"sepal_length": 5.5, "petal.0": 1.4, "petal.1": 0.2})
    );
    assert_eq!(ev[0]["prediction"]["label"], "2");
    // Bytes that are neither JSON nor a V2 message.
    let mut r = kafka(
        "seldon.seldon-mesh.model.iris.inputs",
        Some("k"),
        &h,
        9_000,
        "",
    );
    r.body = vec![0xff, 0xff, 0xff, 0x01];
    let e = p.convert(&c, c.format, &r).unwrap_err();
    assert_eq!(e.reason, RejectReason::InvalidJson);
    assert!(e.detail.contains("protobuf"), "{e}");
}
