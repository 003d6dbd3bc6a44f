//! Fuzzing the event parser — what strangers send the intake, the feedback endpoint and the
//! reject path — with proptest: raw bytes, event-shaped JSON with hostile values, mutations
//! (truncation, byte flips) of valid events, and valid events that must come back unchanged.
//!
//! Engine: proptest (stable Rust; libFuzzer and `cargo fuzz` need a nightly compiler, which this
//! project does not use). It is not coverage-guided: its strength here is structure — generated
//! events close enough to valid ones to reach every branch of the validation. Each property runs
//! `DRIFTD_FUZZ_CASES` cases (1,000 by default, as in CI); `scripts/fuzz.sh --minutes N` runs a
//! long campaign with fresh seeds. Every finding becomes a fixed regression test below.

use proptest::prelude::*;

use super::event::{Body, EventKind, FeatureValue, ParseOptions, PredictionOutput, parse_event};

/// The cases and settings of every fuzz property (also `config/fuzz.rs`).
pub(crate) fn config() -> ProptestConfig {
    let cases = std::env::var("DRIFTD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    ProptestConfig {
        cases,
        // A failure is reported with its minimal input, which becomes a regression test; no
        // persistence file is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a parsed event must satisfy, whatever the input.
fn check_invariants(input: &[u8], opts: &ParseOptions) {
    match parse_event(input, opts) {
        Ok(ev) => {
            assert!(input.len() <= opts.max_event_bytes);
            assert!(super::event::valid_model_name(&ev.model), "{:?}", ev.model);
            match &ev.body {
                Body::Prediction { features, output } => {
                    for (_, v) in &features.0 {
                        if let FeatureValue::Number(x) = v {
                            assert!(x.is_finite());
                        }
                    }
                    match output {
                        Some(PredictionOutput::Class {
                            score,
                            probabilities,
                            ..
                        }) => {
                            assert!(score.is_none_or(|s| (0.0..=1.0).contains(&s)));
                            assert!(probabilities.iter().all(|(_, p)| (0.0..=1.0).contains(p)));
                        }
                        Some(PredictionOutput::Value(v)) => assert!(v.is_finite()),
                        None => {}
                    }
                }
                Body::Feedback { target, .. } => {
                    if let super::event::Target::Value(v) = target {
                        assert!(v.is_finite());
                    }
                }
            }
        }
        // Every rejection says what is wrong (its reason is a type: always present).
        Err(r) => assert!(!r.detail.is_empty()),
    }
}

/// A JSON value with the shapes and edge values events carry.
fn hostile_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("NaN".to_owned()),
        Just("-Infinity".to_owned()),
        Just("1e999".to_owned()),
        Just("-0".to_owned()),
        Just("0.5".to_owned()),
        Just("1.5".to_owned()),
        Just("\"\\u0000\\ud800\"".to_owned()),
        any::<f64>().prop_map(|x| format!("{x:?}").replace("inf", "1e999")),
        any::<i64>().prop_map(|x| x.to_string()),
        "[ -~é漢]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..4).prop_map(|kv| {
                let fields: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// An event-shaped object: the contract's keys, each present or not, each with a hostile value or
/// a plausible one.
fn event_like() -> impl Strategy<Value = String> {
    let key_value = |key: &'static str, plausible: BoxedStrategy<String>| {
        prop_oneof![
            3 => plausible.prop_map(move |v| Some(format!("\"{key}\":{v}"))),
            1 => hostile_value().prop_map(move |v| Some(format!("\"{key}\":{v}"))),
            1 => Just(None),
        ]
    };
    (
        key_value(
            "kind",
            prop_oneof![
                Just("\"prediction\"".to_owned()),
                Just("\"feedback\"".to_owned())
            ]
            .boxed(),
        ),
        key_value("id", "\"[a-z0-9-]{0,10}\"".boxed()),
        key_value("model", "\"[A-Za-z0-9_.:-]{0,8}\"".boxed()),
        key_value(
            "ts",
            prop_oneof![
                Just("\"2026-01-01T00:00:00Z\"".to_owned()),
                Just("\"2026-13-01T00:00:00Z\"".to_owned()),
                Just("\"1970-01-01T00:00:00.000+14:00\"".to_owned()),
            ]
            .boxed(),
        ),
        key_value(
            "features",
            prop::collection::vec(("[a-z]{1,3}", hostile_value()), 0..5)
                .prop_map(|kv| {
                    let f: Vec<String> = kv
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{{}}}", f.join(","))
                })
                .boxed(),
        ),
        key_value(
            "prediction",
            prop_oneof![
                hostile_value().prop_map(|v| format!("{{\"score\":{v}}}")),
                hostile_value().prop_map(|v| format!("{{\"label\":{v}}}")),
                hostile_value().prop_map(|v| format!("{{\"value\":{v}}}")),
                hostile_value().prop_map(|v| format!("{{\"probabilities\":{{\"a\":{v}}}}}")),
            ]
            .boxed(),
        ),
        key_value("label", hostile_value().boxed()),
        key_value("value", hostile_value().boxed()),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| {
            let fields: Vec<String> = [a, b, c, d, e, f, g, h].into_iter().flatten().collect();
            format!("{{{}}}", fields.join(","))
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn raw_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_invariants(&bytes, &ParseOptions::default());
    }

    #[test]
    fn event_shaped_input_is_parsed_or_rejected_with_its_reason(text in event_like()) {
        check_invariants(text.as_bytes(), &ParseOptions::default());
        // The feedback endpoint's options: `kind` may be absent.
        let feedback = ParseOptions { default_kind: Some(EventKind::Feedback), ..ParseOptions::default() };
        check_invariants(text.as_bytes(), &feedback);
        // A limit below the size: always `oversized`, never parsed.
        let small = ParseOptions { max_event_bytes: text.len() - 1, ..ParseOptions::default() };
        prop_assert_eq!(parse_event(text.as_bytes(), &small).unwrap_err().reason.as_str(), "oversized");
    }

    #[test]
    fn mutated_events_never_panic(
        text in event_like(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = text.into_bytes();
        for (at, b) in flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
        }
        let keep = cut.index(bytes.len() + 1);
        check_invariants(&bytes[..keep], &ParseOptions::default());
        check_invariants(&bytes, &ParseOptions::default());
    }

    #[test]
    fn valid_predictions_come_back_unchanged(
        id in "[a-z0-9-]{1,12}",
        model in "[A-Za-z0-9_.:-]{1,16}",
        numbers in prop::collection::vec(("[a-z]{1,4}", -1e300f64..1e300), 0..6),
        cats in prop::collection::vec(("[A-Z]{1,4}", "[ -~é漢]{0,8}"), 0..4),
        score in 0.0f64..=1.0,
    ) {
        let mut features = serde_json::Map::new();
        for (k, v) in &numbers {
            features.insert(k.clone(), serde_json::json!(v));
        }
        for (k, v) in &cats {
            features.insert(k.clone(), serde_json::json!(v));
        }
        let text = serde_json::json!({
            "kind": "prediction", "id": id, "model": model, "ts": "2026-01-01T00:00:00.250Z",
            "features": features, "prediction": {"score": score},
        })
        .to_string();
        let ev = parse_event(text.as_bytes(), &ParseOptions::default()).unwrap();
        prop_assert_eq!(ev.id.as_ref(), id.as_str());
        prop_assert_eq!(ev.model.as_ref(), model.as_str());
        let Body::Prediction { features: got, output } = ev.body else {
            panic!("a prediction");
        };
        prop_assert_eq!(got.0.len(), features.len());
        for (k, v) in &got.0 {
            match (v, &features[k.as_ref()]) {
                (FeatureValue::Number(x), serde_json::Value::Number(n)) => {
                    prop_assert_eq!(Some(*x), n.as_f64())
                }
                (FeatureValue::Category(c), serde_json::Value::String(s)) => {
                    prop_assert_eq!(c.as_ref(), s.as_str())
                }
                (a, b) => prop_assert!(false, "{k}: {a:?} from {b}"),
            }
        }
        let Some(PredictionOutput::Class { score: Some(s), .. }) = output else {
            panic!("a score");
        };
        prop_assert_eq!(s, score);
    }
}
