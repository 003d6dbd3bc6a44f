//! Fuzzing the HTTP bodies strangers send `driftd run` (the feedback endpoint and the admin API's
//! silences, inhibitions and promotions) with proptest, as `contract/fuzz.rs` does for events:
//! raw bytes and structure-aware hostile bodies. What must hold: nothing panics; a refusal is a
//! 4xx answer, never a 5xx; an accepted feedback batch holds only items that the pipeline will
//! take as feedback events (so an acknowledged label is never rejected later); an admin body is
//! accepted or refused with a reason by the engine's own checks.

use proptest::prelude::*;

use super::*;
use crate::alert::engine::{Engine, EngineConfig};
use crate::alert::engine::{InhibitConfig, SilenceConfig};
use crate::intake::config::EventsConfig;

fn policy() -> ModelPolicy {
    ModelPolicy::new(&Default::default(), &EventsConfig::default())
}

/// The status a refusal answers with.
fn status(e: ApiError) -> StatusCode {
    e.into_response().status()
}

/// `validate_feedback`'s contract, whatever the body.
fn check_feedback(body: &[u8], max_items: usize) {
    let opts = ParseOptions::default();
    match validate_feedback(body, &opts, &policy(), max_items, None) {
        Ok(items) => {
            assert!(!items.is_empty() && items.len() <= max_items);
            for item in &items {
                let ev = parse_event(item, &opts).unwrap_or_else(|r| {
                    panic!(
                        "an accepted item is refused later ({}): {}",
                        r.detail,
                        String::from_utf8_lossy(item)
                    )
                });
                assert_eq!(ev.kind(), EventKind::Feedback);
            }
        }
        Err(e) => {
            let s = status(e);
            assert!(
                s.is_client_error(),
                "{s} for {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

/// A JSON value that is often hostile: huge, non-finite-looking, deeply nested, wrong types.
fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("1e999".to_owned()),
        Just("-0".to_owned()),
        Just("NaN".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]".to_owned()),
        Just("{}".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        "[a-zA-Z0-9_.:-]{0,140}".prop_map(|s| format!("\"{s}\"")),
        ".{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ]
}

/// A feedback-shaped object whose fields are sometimes valid, sometimes hostile, sometimes absent.
fn feedback_object() -> impl Strategy<Value = String> {
    let field = |name: &'static str, good: &'static str| {
        prop_oneof![
            3 => Just(Some(format!("\"{name}\":{good}"))),
            1 => hostile_value().prop_map(move |v| Some(format!("\"{name}\":{v}"))),
            1 => Just(None),
        ]
    };
    (
        field("id", "\"p1\""),
        field("model", "\"churn\""),
        field("ts", "\"2026-12-01T00:00:00Z\""),
        field("label", "\"1\""),
        prop_oneof![
            3 => Just(None),
            1 => Just(Some("\"kind\":\"feedback\"".to_owned())),
            1 => Just(Some("\"kind\":\"prediction\"".to_owned())),
            1 => hostile_value().prop_map(|v| Some(format!("\"kind\":{v}"))),
        ],
        prop_oneof![3 => Just(None), 1 => hostile_value().prop_map(|v| Some(format!("\"source\":{v}")))],
    )
        .prop_map(|(a, b, c, d, e, f)| {
            let fields: Vec<String> = [a, b, c, d, e, f].into_iter().flatten().collect();
            format!("{{{}}}", fields.join(","))
        })
}

/// An admin body: a silence, an inhibition rule or a promotion, sometimes valid.
fn admin_body() -> impl Strategy<Value = String> {
    let matchers = prop_oneof![
        Just("{}".to_owned()),
        Just("{\"model\":\"churn\"}".to_owned()),
        Just("{\"\":\"x\"}".to_owned()),
        Just("{\"alertname\":\"=~(\"}".to_owned()),
        hostile_value(),
    ];
    let time = prop_oneof![
        Just("\"2030-01-01T00:00:00Z\"".to_owned()),
        Just("\"2000-01-01T00:00:00Z\"".to_owned()),
        Just("\"not a time\"".to_owned()),
        hostile_value(),
    ];
    prop_oneof![
        (
            matchers.clone(),
            proptest::option::of(time.clone()),
            time,
            hostile_value()
        )
            .prop_map(|(m, s, e, c)| match s {
                Some(s) =>
                    format!("{{\"match\":{m},\"starts_at\":{s},\"ends_at\":{e},\"comment\":{c}}}"),
                None => format!("{{\"match\":{m},\"ends_at\":{e}}}"),
            }),
        (matchers.clone(), matchers, hostile_value()).prop_map(|(s, t, e)| format!(
            "{{\"source_match\":{s},\"target_match\":{t},\"equal\":{e}}}"
        )),
        hostile_value().prop_map(|v| format!("{{\"version\":{v}}}")),
    ]
}

/// An admin body goes through what its handler does: decoding, then the engine's checks. Every
/// outcome is an id or a reason; nothing panics.
fn check_admin(body: &[u8]) {
    let now = chrono::Utc::now();
    let mut engine = Engine::new(EngineConfig::default());
    if let Ok(cfg) = serde_json::from_slice::<SilenceConfig>(body) {
        match engine.add_silence(cfg, now) {
            Ok(id) => assert!(!id.is_empty()),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    if let Ok(cfg) = serde_json::from_slice::<InhibitConfig>(body) {
        match engine.add_inhibit(cfg, now) {
            Ok(id) => assert!(!id.is_empty()),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let _ = serde_json::from_slice::<PromoteBody>(body);
}

proptest! {
    #![proptest_config(crate::contract::fuzz::config())]

    #[test]
    fn feedback_bodies_of_raw_bytes(body in proptest::collection::vec(any::<u8>(), 0..512), max in 1usize..8) {
        check_feedback(&body, max);
    }

    #[test]
    fn feedback_batches_of_hostile_objects(
        items in proptest::collection::vec(feedback_object(), 0..6),
        array in any::<bool>(),
        max in 1usize..8,
    ) {
        let body = if array || items.len() != 1 {
            format!("[{}]", items.join(","))
        } else {
            items[0].clone()
        };
        check_feedback(body.as_bytes(), max);
    }

    #[test]
    fn admin_bodies_of_raw_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_admin(&body);
    }

    #[test]
    fn hostile_admin_bodies(body in admin_body()) {
        check_admin(body.as_bytes());
    }
}

/// The generators reach acceptance too: a valid batch is accepted, so the properties above are
/// not all refusals.
#[test]
fn a_valid_feedback_batch_is_accepted() {
    let body = br#"[{"id":"p1","model":"churn","ts":"2026-12-01T00:00:00Z","label":"1"},
                   {"kind":"feedback","id":"p2","model":"churn","ts":"2026-12-01T00:00:01Z","label":"0","source":"expert"}]"#;
    let items = validate_feedback(body, &ParseOptions::default(), &policy(), 10, None).unwrap();
    assert_eq!(items.len(), 2);
    check_feedback(body, 10);
}

/// Regression (found by `feedback_batches_of_hostile_objects`): `"kind": null` is taken as
/// feedback by the endpoint, so the item it passes on must say so, or the pipeline refuses an
/// acknowledged label.
#[test]
fn a_null_kind_is_made_explicit() {
    let body =
        br#"{"id":"p1","model":"churn","ts":"2026-12-01T00:00:00Z","label":"1","kind":null}"#;
    let items = validate_feedback(body, &ParseOptions::default(), &policy(), 10, None).unwrap();
    let ev = parse_event(&items[0], &ParseOptions::default()).unwrap();
    assert_eq!(ev.kind(), EventKind::Feedback);
}
