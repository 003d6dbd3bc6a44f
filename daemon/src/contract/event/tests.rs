//! Unit tests of `contract::event`.

use super::*;

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn reject(input: &str) -> RejectReason {
    parse_event(input.as_bytes(), &opts()).unwrap_err().reason
}

#[test]
fn parses_the_contract_examples() {
    let p = r#"{"kind": "prediction", "id": "b7e1c2", "model": "churn", "model_version": "3",
"ts": "2026-11-21T10:00:00.123Z",
"features": {"age": 41.0, "tenure_days": 380, "plan": "pro", "gone": null},
"prediction": {"label": "1", "score": 0.83}}"#;
    let e = parse_event(p.as_bytes(), &opts()).unwrap();
    assert_eq!(e.kind(), EventKind::Prediction);
    assert_eq!(e.model, "churn");
    assert_eq!(e.model_version.as_deref(), Some("3"));
    assert_eq!(e.ts.timestamp_millis(), 1_795_255_200_123);
    let Body::Prediction { features, output } = &e.body else {
        panic!("not a prediction")
    };
    assert_eq!(features.0.len(), 4);
    // Nothing without escapes is copied: keys, values and top-level strings borrow the input.
    assert!(matches!(e.id, Cow::Borrowed(_)));
    assert!(matches!(e.model, Cow::Borrowed(_)));
    assert!(
        features
            .0
            .iter()
            .all(|(k, _)| matches!(k, Cow::Borrowed(_)))
    );
    assert!(matches!(
        features.0[2].1,
        FeatureValue::Category(Cow::Borrowed(_))
    ));
    assert_eq!(
        features.0[0],
        (Cow::Borrowed("age"), FeatureValue::Number(41.0))
    );
    assert_eq!(
        features.0[2],
        (
            Cow::Borrowed("plan"),
            FeatureValue::Category(Cow::Borrowed("pro"))
        )
    );
    assert_eq!(features.0[3].1, FeatureValue::Missing);
    assert_eq!(
        output,
        &Some(PredictionOutput::Class {
            label: Some(Cow::Borrowed("1")),
            score: Some(0.83),
            probabilities: vec![]
        })
    );

    let f = r#"{"kind": "feedback", "id": "b7e1c2", "model": "churn", "ts": "2026-11-22T08:00:00Z",
"label": "0", "source": "analyst-7"}"#;
    let e = parse_event(f.as_bytes(), &opts()).unwrap();
    assert_eq!(e.kind(), EventKind::Feedback);
    assert!(matches!(e.body, Body::Feedback { target: Target::Label(ref l), .. } if l == "0"));
}

#[test]
fn labels_are_normalised_to_strings() {
    for (raw, want) in [("1", "1"), ("1.0", "1"), ("true", "true"), ("2.5", "2.5")] {
        let f = format!(
            r#"{{"kind":"feedback","id":"a","model":"m","ts":"2026-01-01T00:00:00Z","label":{raw}}}"#
        );
        let e = parse_event(f.as_bytes(), &opts()).unwrap();
        assert!(
            matches!(e.body, Body::Feedback { target: Target::Label(ref l), .. } if l == want),
            "{raw}"
        );
    }
}

#[test]
fn every_reason_is_reachable() {
    let base = r#""id":"a","model":"m","ts":"2026-01-01T00:00:00Z""#;
    assert_eq!(reject("{not json"), RejectReason::InvalidJson);
    assert_eq!(reject(""), RejectReason::InvalidJson);
    assert_eq!(reject("[1,2]"), RejectReason::NotAnObject);
    assert_eq!(reject("42"), RejectReason::NotAnObject);
    assert_eq!(
        reject(&format!(r#"{{"kind":"prediction",{base},"features":[1]}}"#)),
        RejectReason::InvalidField
    );
    assert_eq!(
        reject(&format!(r#"{{"kind":"prediction",{base}}}"#)),
        RejectReason::MissingField
    );
    assert_eq!(
        reject(&format!(r#"{{{base},"features":{{}}}}"#)),
        RejectReason::MissingField
    );
    assert_eq!(
        reject(&format!(r#"{{"kind":"click",{base}}}"#)),
        RejectReason::UnknownKind
    );
    assert_eq!(
        reject(r#"{"kind":"feedback","id":"a","model":"m","ts":"yesterday","label":"1"}"#),
        RejectReason::BadTimestamp
    );
    assert_eq!(
        reject(&format!(
            r#"{{"kind":"prediction",{base},"features":{{"x":NaN}}}}"#
        )),
        RejectReason::NonFiniteFeature
    );
    assert_eq!(
        reject(&format!(
            r#"{{"kind":"prediction",{base},"features":{{"x":1e999}}}}"#
        )),
        RejectReason::NonFiniteFeature
    );
    assert_eq!(
        reject(&format!(
            r#"{{"kind":"prediction",{base},"features":{{"x":-Infinity}}}}"#
        )),
        RejectReason::NonFiniteFeature
    );
    assert_eq!(
        reject(
            r#"{"kind":"feedback","id":"a","model":"bad name!","ts":"2026-01-01T00:00:00Z","label":"1"}"#
        ),
        RejectReason::InvalidModelName
    );
    assert_eq!(
        reject(&format!(
            r#"{{"kind":"prediction",{base},"features":{{}},"prediction":{{"score":1.5}}}}"#
        )),
        RejectReason::InvalidPrediction
    );
    let big = format!(
        r#"{{"kind":"feedback",{base},"label":"{}"}}"#,
        "x".repeat(100)
    );
    let small = ParseOptions {
        max_event_bytes: 64,
        default_kind: None,
    };
    assert_eq!(
        parse_event(big.as_bytes(), &small).unwrap_err().reason,
        RejectReason::Oversized
    );
}

#[test]
fn nan_inside_a_string_is_a_category_not_an_error() {
    let e = r#"{"kind":"prediction","id":"a","model":"m","ts":"2026-01-01T00:00:00Z","features":{"x":"NaN"}}"#;
    assert!(parse_event(e.as_bytes(), &opts()).is_ok());
}

#[test]
fn default_kind_applies_only_when_absent() {
    let o = ParseOptions {
        default_kind: Some(EventKind::Feedback),
        ..opts()
    };
    let e = r#"{"id":"a","model":"m","ts":"2026-01-01T00:00:00Z","label":"1"}"#;
    assert_eq!(
        parse_event(e.as_bytes(), &o).unwrap().kind(),
        EventKind::Feedback
    );
}

#[test]
fn escaped_strings_are_owned_and_correct() {
    let e = r#"{"kind":"prediction","id":"a\"b","model":"m","ts":"2026-01-01T00:00:00+02:00","features":{"n\u00e9":"x\ny"}}"#;
    let e = parse_event(e.as_bytes(), &opts()).unwrap();
    assert_eq!(e.id, "a\"b");
    let Body::Prediction { features, .. } = &e.body else {
        panic!()
    };
    assert_eq!(features.0[0].0, "né");
    assert_eq!(
        features.0[0].1,
        FeatureValue::Category(Cow::Borrowed("x\ny"))
    );
    assert_eq!(e.ts.to_rfc3339(), "2025-12-31T22:00:00+00:00");
}

#[test]
fn garbage_never_panics() {
    for s in [
        "{",
        "}",
        "{\"kind\":",
        "\u{0}",
        "{\"features\":{\"a\":{}}}",
        "null",
        "\"str\"",
        "{\"kind\":\"prediction\",\"id\":\"\",\"model\":\"m\",\"ts\":\"2026-01-01T00:00:00Z\",\"features\":{}}",
    ] {
        assert!(parse_event(s.as_bytes(), &opts()).is_err(), "{s}");
    }
    assert!(parse_event(&[0xff, 0xfe, b'{'], &opts()).is_err());
    assert!(parse_event(b"{\"id\":\"\xff\"}", &opts()).is_err());
}
