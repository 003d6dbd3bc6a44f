//! One conformance suite run over every stream detector: reset semantics, determinism, serde
//! round-trip of the full state, NaN/invalid-input handling, no drift on constant streams, and the
//! settings' serde/validation contract.

use driftd_detectors::stream::{
    AnyDetector, DetectorConfig, DriftState, InputKind, StreamDetector,
};
use driftd_detectors::synth::{Dist, Segment, StreamRecipe};

/// A stream with a clear change at 2000 that every detector (numeric or binary) reacts to.
fn drifting_stream(kind: InputKind) -> Vec<f64> {
    let (a, b) = match kind {
        InputKind::Numeric => (
            Dist::Normal {
                loc: 0.0,
                scale: 1.0,
            },
            Dist::Normal {
                loc: 3.0,
                scale: 1.0,
            },
        ),
        InputKind::Binary => (Dist::Bernoulli { p: 0.1 }, Dist::Bernoulli { p: 0.6 }),
    };
    StreamRecipe {
        seed: 99,
        segments: vec![
            Segment { len: 2000, dist: a },
            Segment { len: 2000, dist: b },
        ],
    }
    .generate()
}

fn states(det: &mut dyn StreamDetector, xs: &[f64]) -> Vec<DriftState> {
    xs.iter().map(|x| det.update(*x)).collect()
}

fn each_detector() -> Vec<(DetectorConfig, AnyDetector)> {
    DetectorConfig::all_defaults()
        .into_iter()
        .map(|c| {
            let d = c.build().expect("defaults are valid");
            (c, d)
        })
        .collect()
}

#[test]
fn every_detector_detects_the_drift_and_resets_on_the_next_update() {
    for (config, mut det) in each_detector() {
        let xs = drifting_stream(det.input_kind());
        let mut drifts = Vec::new();
        let mut previous = DriftState::Stable;
        for (i, x) in xs.iter().enumerate() {
            let before = det.len();
            let s = det.update(*x);
            if previous == DriftState::Drift {
                assert_eq!(
                    det.len(),
                    1,
                    "{}: statistics must reset after a drift",
                    det.name()
                );
            } else {
                assert_eq!(det.len(), before + 1, "{}", config_json(&config));
            }
            assert_eq!(det.state(), s);
            if s == DriftState::Drift {
                drifts.push(i);
            }
            previous = s;
        }
        assert!(
            drifts.iter().any(|&i| (2000..2600).contains(&i)),
            "{} missed the change at 2000: {drifts:?}",
            det.name()
        );
    }
}

#[test]
fn explicit_reset_is_equivalent_to_a_fresh_detector() {
    for (config, mut det) in each_detector() {
        let xs = drifting_stream(det.input_kind());
        let _ = states(&mut det, &xs[..2500]);
        det.update(f64::NAN);
        det.reset();
        assert_eq!(det.len(), 0);
        assert!(det.is_empty());
        assert_eq!(det.rejected(), 0);
        assert_eq!(det.state(), DriftState::Stable);
        let fresh = config.build().expect("valid");
        assert_eq!(
            det,
            fresh,
            "{}: reset() must restore the freshly built state",
            det.name()
        );
        let mut fresh = fresh;
        assert_eq!(
            states(&mut det, &xs),
            states(&mut fresh, &xs),
            "{}",
            config_json(&config)
        );
    }
}

#[test]
fn detectors_are_deterministic() {
    for (config, mut a) in each_detector() {
        let mut b = config.build().expect("valid");
        let xs = drifting_stream(a.input_kind());
        assert_eq!(states(&mut a, &xs), states(&mut b, &xs), "{}", a.name());
    }
}

#[test]
fn serde_round_trip_resumes_exactly() {
    for (_, mut det) in each_detector() {
        let xs = drifting_stream(det.input_kind());
        // Stop at several points, including right after a drift (pending reset).
        let mut cut_points = vec![0, 1, 150, 1999];
        let mut probe = det.clone();
        if let Some(d) = xs
            .iter()
            .position(|x| probe.update(*x) == DriftState::Drift)
        {
            cut_points.push(d + 1);
        }
        for cut in cut_points {
            let mut original = det.clone();
            let _ = states(&mut original, &xs[..cut]);
            let json = serde_json::to_string(&original).expect("serialise");
            let mut restored: AnyDetector = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(
                restored,
                original,
                "{} at {cut}: state must survive a JSON round trip",
                det.name()
            );
            assert_eq!(
                states(&mut restored, &xs[cut..]),
                states(&mut original, &xs[cut..]),
                "{} resumed at {cut} diverges",
                det.name()
            );
        }
        det.reset();
    }
}

#[test]
fn non_finite_and_out_of_contract_inputs_are_rejected_without_side_effects() {
    for (_, mut det) in each_detector() {
        let xs = drifting_stream(det.input_kind());
        let _ = states(&mut det, &xs[..300]);
        let snapshot = det.clone();
        let mut bad = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        if det.input_kind() == InputKind::Binary {
            bad.extend([0.5, 2.0, -1.0]);
        }
        for (k, x) in bad.iter().enumerate() {
            assert!(det.try_update(*x).is_err(), "{} accepted {x}", det.name());
            assert_eq!(det.update(*x), DriftState::Stable);
            assert_eq!(det.rejected(), 2 * (k as u64 + 1));
        }
        assert_eq!(det.len(), snapshot.len());
        // Apart from the rejected counter, nothing changed: both continue identically.
        let mut snap = snapshot;
        assert_eq!(
            states(&mut det, &xs[300..]),
            states(&mut snap, &xs[300..]),
            "{}",
            det.name()
        );
    }
}

#[test]
fn no_drift_on_constant_streams() {
    for (_, mut det) in each_detector() {
        let constants: &[f64] = match det.input_kind() {
            InputKind::Numeric => &[0.0, 3.5, -1e6],
            InputKind::Binary => &[0.0, 1.0],
        };
        for &c in constants {
            det.reset();
            for i in 0..20_000 {
                let s = det.update(c);
                assert_ne!(
                    s,
                    DriftState::Drift,
                    "{} drifted on constant {c} at {i}",
                    det.name()
                );
            }
        }
    }
}

#[test]
fn binary_detectors_accept_booleans() {
    for (config, mut det) in each_detector() {
        if det.input_kind() != InputKind::Binary {
            continue;
        }
        let mut twin = config.build().expect("valid");
        let xs = drifting_stream(InputKind::Binary);
        for x in &xs {
            assert_eq!(det.update_bool(*x == 1.0), twin.update(*x));
        }
    }
}

#[test]
fn settings_round_trip_and_fill_defaults() {
    for config in DetectorConfig::all_defaults() {
        let json = config_json(&config);
        let back: DetectorConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, config);
        // Only the tag: every field takes its default.
        let tag = serde_json::json!({ "type": serde_json::from_str::<serde_json::Value>(&json).unwrap()["type"] });
        let minimal: DetectorConfig = serde_json::from_value(tag).expect("defaults");
        assert_eq!(minimal, config);
        assert_eq!(minimal.input_kind(), minimal.build().unwrap().input_kind());
    }
}

#[test]
fn unknown_fields_and_invalid_values_are_refused_with_every_problem_listed() {
    let unknown = serde_json::from_str::<DetectorConfig>(r#"{"type": "adwin", "delat": 0.1}"#);
    assert!(unknown.is_err(), "a typo must not be silently ignored");
    let config: DetectorConfig = serde_json::from_str(
        r#"{"type": "kswin", "alpha": 1.5, "window_size": 10, "stat_size": 30}"#,
    )
    .unwrap();
    let err = config.build().unwrap_err();
    assert_eq!(err.component, "kswin");
    let fields: Vec<&str> = err.problems.iter().map(|p| p.field).collect();
    assert_eq!(fields, vec!["alpha", "window_size"]);
    for bad in [
        r#"{"type": "adwin", "delta": 0.0}"#,
        r#"{"type": "page_hinkley", "threshold": -1}"#,
        r#"{"type": "ddm", "warning_threshold": 3, "drift_threshold": 2}"#,
        r#"{"type": "eddm", "alpha": 0.8, "beta": 0.9}"#,
        r#"{"type": "hddm_a", "drift_confidence": 1.0}"#,
        r#"{"type": "hddm_w", "lambda": 0.0}"#,
        r#"{"type": "cusum", "lambda": 0.0}"#,
    ] {
        let c: DetectorConfig = serde_json::from_str(bad).expect("shape is valid");
        assert!(c.validate().is_err(), "{bad} should be refused");
        assert!(c.build().is_err());
    }
}

fn config_json(c: &DetectorConfig) -> String {
    serde_json::to_string(c).expect("serialise")
}

#[test]
fn corrupted_checkpoints_are_errors_not_panics() {
    let mut det = DetectorConfig::Kswin(Default::default()).build().unwrap();
    for i in 0..150 {
        det.update(f64::from(i % 7));
    }
    let mut v: serde_json::Value = serde_json::to_value(&det).unwrap();
    v["config"]["window_size"] = serde_json::json!(50);
    assert!(
        serde_json::from_value::<AnyDetector>(v.clone()).is_err(),
        "window longer than window_size"
    );
    let mut v2: serde_json::Value = serde_json::to_value(&det).unwrap();
    v2["rng"]["mt"] = serde_json::json!([1, 2, 3]);
    assert!(
        serde_json::from_value::<AnyDetector>(v2).is_err(),
        "truncated generator state"
    );

    let mut adwin = DetectorConfig::Adwin(Default::default()).build().unwrap();
    for i in 0..500 {
        adwin.update(f64::from(i % 3));
    }
    let mut v: serde_json::Value = serde_json::to_value(&adwin).unwrap();
    v["rows"] = serde_json::json!([]);
    assert!(
        serde_json::from_value::<AnyDetector>(v).is_err(),
        "no bucket rows"
    );
}
