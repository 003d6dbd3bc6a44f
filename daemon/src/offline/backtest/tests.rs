//! Unit tests of `offline::backtest`.

use super::*;

fn onset(kind: OnsetKind, feature: Option<&str>, event_index: u64, ts: &str) -> Onset {
    Onset {
        ts: ts.to_owned(),
        model: "churn-v7".to_owned(),
        kind,
        feature: feature.map(str::to_owned),
        test: "ks".to_owned(),
        statistic: 0.5,
        p_value: Some(1e-6),
        threshold: 0.01,
        event_index,
    }
}

fn data(feature: &str, event_index: u64) -> Onset {
    onset(
        OnsetKind::Data,
        Some(feature),
        event_index,
        "2024-06-01T02:00:00.000Z",
    )
}

fn other(kind: OnsetKind, event_index: u64) -> Onset {
    onset(kind, None, event_index, "2024-06-01T02:00:00.000Z")
}

/// The shape `make_streams.py` writes (indent=1, Python key order, extra fields).
const CATEGORICAL_TRUTH: &str = r#"{
 "description": "categorical distribution shift, then an unseen category",
 "drifts": [
  {
   "onset_index": 40000,
   "type": "abrupt",
   "kind": "categorical",
   "features": {
    "cat_0": "uniform over 20 -> 60% mass on country_2, country_5, country_11"
   },
   "concept_changed": false,
   "onset_ts": "2024-06-01T00:33:20.000Z"
  },
  {
   "onset_index": 70000,
   "type": "abrupt",
   "kind": "new_category",
   "features": {
    "cat_1": "unseen value 'device_new' at 10% share"
   },
   "concept_changed": false,
   "onset_ts": "2024-06-01T00:58:20.000Z"
  }
 ],
 "segments": [
  {"start_index": 0, "end_index": 40000, "start_ts": "2024-06-01T00:00:00.000Z",
   "error_rate": 0.1123, "positive_rate": 0.5012},
  {"start_index": 40000, "end_index": 70000, "start_ts": "2024-06-01T00:33:20.000Z",
   "error_rate": 0.1109, "positive_rate": 0.4987},
  {"start_index": 70000, "end_index": 100000, "start_ts": "2024-06-01T00:58:20.000Z",
   "error_rate": 0.1131, "positive_rate": 0.5003}
 ],
 "stream": "categorical_shift",
 "model_id": "churn-v7",
 "n_events": 100000,
 "n_feedback": 95012,
 "first_ts": "2024-06-01T00:00:00.000Z",
 "last_ts": "2024-06-01T01:23:19.950Z",
 "feedback_delay": {"distribution": "lognormal", "median_s": 600.0, "sigma": 1.0,
                    "missing_fraction": 0.05},
 "files": {"predictions": "categorical_shift.predictions.jsonl",
           "feedback": "categorical_shift.feedback.jsonl"},
 "some_future_field": [1, {"x": null}]
}"#;

const GRADUAL_TRUTH: &str = r#"{"drifts": [{"onset_index": 55000, "center_index": 60000,
      "end_index": 65000, "type": "gradual", "kind": "covariate+concept",
      "mixing": "P(new concept at t) = 1/(1+exp(-4(t-center)/width))",
      "features": {"num_0": "mean +1.0 sd (new concept)", "num_5": "mean -0.5 sd (new concept)"},
      "concept_changed": true, "concept_change": "weights flipped",
      "onset_ts": "2024-06-01T00:45:50.000Z", "center_ts": "2024-06-01T00:50:00.000Z",
      "end_ts": "2024-06-01T00:54:10.000Z"}], "model_id": "churn-v7", "n_events": 100000}"#;

/// SEA-like: three concept drifts, features never change, no timestamps, no model.
const CONCEPT_TRUTH: &str = r#"{"drifts": [
      {"onset_index": 50000, "type": "abrupt", "kind": "concept", "change": "theta 8.0 -> 9.0",
       "features": {}, "concept_changed": true},
      {"onset_index": 100000, "type": "abrupt", "kind": "concept", "features": {},
       "concept_changed": true},
      {"onset_index": 150000, "type": "abrupt", "kind": "concept", "features": {},
       "concept_changed": true}]}"#;

#[test]
fn reads_the_shared_generator_truth_format() {
    let t: Truth = serde_json::from_str(CATEGORICAL_TRUTH).unwrap();
    assert_eq!(t.drifts.len(), 2);
    assert_eq!(t.model_id.as_deref(), Some("churn-v7"));
    assert_eq!(t.n_events, Some(100_000));
    assert_eq!(t.n_feedback, Some(95_012));
    assert_eq!(t.drifts[1].onset_index, 70_000);
    assert_eq!(t.drifts[1].drift_type, DriftType::Abrupt);
    assert_eq!(t.drifts[1].kind, "new_category");
    assert_eq!(
        t.drifts[1].features.keys().collect::<Vec<_>>(),
        vec!["cat_1"]
    );
    assert!(!t.drifts[0].concept_changed);
    assert_eq!(t.segments.len(), 3);
    assert_eq!(t.segments[2].error_rate, Some(0.1131));
    assert_eq!(t.feedback_delay.as_ref().unwrap().median_s, 600.0);
    assert_eq!(
        t.files.as_ref().unwrap().feedback,
        "categorical_shift.feedback.jsonl"
    );

    let g: Truth = serde_json::from_str(GRADUAL_TRUTH).unwrap();
    let d = &g.drifts[0];
    assert_eq!(d.drift_type, DriftType::Gradual);
    assert_eq!(
        (d.onset_index, d.center_index, d.end_index),
        (55_000, Some(60_000), Some(65_000))
    );
    assert!(d.concept_changed);
    assert_eq!(d.end_ts.as_deref(), Some("2024-06-01T00:54:10.000Z"));
    assert!(d.mixing.is_some());

    let c: Truth = serde_json::from_str(CONCEPT_TRUTH).unwrap();
    assert!(c.model_id.is_none());
    assert!(c.drifts.iter().all(|d| d.features.is_empty()));
    assert_eq!(c.drifts[0].change.as_deref(), Some("theta 8.0 -> 9.0"));
}

#[test]
fn truth_round_trips_and_accepts_a_list_of_features_and_a_missing_type() {
    let t: Truth = serde_json::from_str(CATEGORICAL_TRUTH).unwrap();
    let back: Truth = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);

    let hand: Truth = serde_json::from_str(
        r#"{"drifts": [{"onset_index": 10, "features": ["a", "b"], "concept_changed": true}]}"#,
    )
    .unwrap();
    let d = &hand.drifts[0];
    assert_eq!(d.drift_type, DriftType::Abrupt);
    assert_eq!(d.features.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    assert!(serde_json::from_str::<Truth>(r#"{"model_id": "m"}"#).is_err());
    assert!(
        serde_json::from_str::<Truth>(r#"{"drifts": [{"onset_index": 1, "type": "weird"}]}"#)
            .is_err()
    );
}

#[test]
fn categorical_scenario_counts_matches_false_alarms_and_delays() {
    let truth: Truth = serde_json::from_str(CATEGORICAL_TRUTH).unwrap();
    let mut stranger = data("cat_0", 40_001);
    stranger.model = "someone-else".to_owned();
    // Deliberately not in event order: the late repeat of cat_0 comes first.
    let onsets = vec![
        data("cat_0", 75_000), // late repeat for drift 0 (drift 1 cannot explain cat_0)
        data("cat_0", 39_000), // before drift 0: false alarm
        data("cat_0", 40_000), // has seen no drifted event yet: false alarm
        onset(
            OnsetKind::Data,
            Some("cat_0"),
            40_500,
            "2024-06-01T00:33:45.500Z",
        ), // drift 0, 500 events, 25.5 s
        other(OnsetKind::Dataset, 41_000), // drift 0
        data("cat_1", 45_000), // before drift 1: false alarm
        data("num_3", 50_000), // never affected: false alarm
        onset(
            OnsetKind::Data,
            Some("cat_1"),
            71_200,
            "2024-06-01T01:00:00.000Z",
        ), // drift 1, 1200 events, 100 s
        other(OnsetKind::Concept, 80_000), // concept never changes: false alarm
        other(OnsetKind::Prediction, 72_000), // drift 1 (the latest feature drift)
        stranger,              // other model: ignored
    ];
    let r = score(&onsets, &truth);
    let s = &r.summary;
    assert_eq!(r.model.as_deref(), Some("churn-v7"));
    assert_eq!((s.drifts, s.detected, s.missed), (2, 2, 0));
    assert_eq!((s.onsets, s.onsets_matched, s.onsets_ignored), (10, 5, 1));
    assert_eq!(s.false_alarms, 5);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Data], 4);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Concept], 1);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Dataset], 0);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Prediction], 0);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Accuracy], 0);
    let by_stream: Vec<(&str, u64)> = s
        .false_alarms_by_stream
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        by_stream,
        vec![
            ("concept", 1),
            ("data:cat_0", 2),
            ("data:cat_1", 1),
            ("data:num_3", 1)
        ]
    );
    assert_eq!(s.mean_delay_events, Some(850.0));
    assert_eq!(s.max_delay_events, Some(1_200));
    assert_eq!(s.mean_delay_seconds, Some(62.75));
    assert_eq!(s.max_delay_seconds, Some(100.0));

    let d0 = &r.drifts[0];
    assert!(d0.detected);
    let first = d0.first.as_ref().unwrap();
    assert_eq!(first.onset.event_index, 40_500);
    assert_eq!(first.delay_events, 500);
    assert_eq!(first.delay_seconds, Some(25.5));
    assert_eq!(first.delay_from_center_events, None);
    assert_eq!(
        d0.streams.keys().collect::<Vec<_>>(),
        vec!["data:cat_0", "dataset"]
    );
    assert_eq!(d0.streams["data:cat_0"].onsets, 2);
    assert_eq!(d0.streams["data:cat_0"].first.onset.event_index, 40_500);
    assert_eq!(d0.streams["dataset"].first.delay_events, 1_000);
    assert!(d0.missed_features.is_empty());

    let d1 = &r.drifts[1];
    assert_eq!(d1.first.as_ref().unwrap().delay_events, 1_200);
    assert_eq!(
        d1.streams.keys().collect::<Vec<_>>(),
        vec!["data:cat_1", "prediction"]
    );
    assert_eq!(d1.streams["prediction"].first.delay_events, 2_000);

    let fa: Vec<(u64, &str, FalseAlarmReason)> = r
        .false_alarms
        .iter()
        .map(|f| (f.onset.event_index, f.stream.as_str(), f.reason))
        .collect();
    assert_eq!(
        fa,
        vec![
            (39_000, "data:cat_0", FalseAlarmReason::BeforeDrift),
            (40_000, "data:cat_0", FalseAlarmReason::BeforeDrift),
            (45_000, "data:cat_1", FalseAlarmReason::BeforeDrift),
            (50_000, "data:num_3", FalseAlarmReason::Unaffected),
            (80_000, "concept", FalseAlarmReason::Unaffected),
        ]
    );
}

#[test]
fn concept_only_drifts_match_label_streams_only_and_report_misses() {
    let truth: Truth = serde_json::from_str(CONCEPT_TRUTH).unwrap();
    let mut onsets = vec![
        other(OnsetKind::Concept, 48_000),     // before: false alarm
        other(OnsetKind::Concept, 53_000),     // drift 0, 3000
        other(OnsetKind::Accuracy, 60_000),    // drift 0
        other(OnsetKind::Dataset, 55_000),     // no feature changes: false alarm
        other(OnsetKind::Prediction, 120_000), // predictions cannot move: false alarm
        other(OnsetKind::Concept, 160_000),    // drift 2, 10000
    ];
    // No model in the truth: every model's onsets are scored.
    onsets[5].model = "sea-v1".to_owned();
    let r = score(&onsets, &truth);
    let s = &r.summary;
    assert_eq!(r.model, None);
    assert_eq!((s.drifts, s.detected, s.missed), (3, 2, 1));
    assert_eq!((s.onsets, s.onsets_matched, s.onsets_ignored), (6, 3, 0));
    assert_eq!(s.false_alarms, 3);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Concept], 1);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Dataset], 1);
    assert_eq!(s.false_alarms_by_kind[&OnsetKind::Prediction], 1);
    assert_eq!(s.mean_delay_events, Some(6_500.0));
    assert_eq!(s.max_delay_events, Some(10_000));
    // The truth has no timestamps: no delay in seconds anywhere.
    assert_eq!(s.mean_delay_seconds, None);
    assert_eq!(r.drifts[0].first.as_ref().unwrap().delay_seconds, None);
    assert!(!r.drifts[1].detected);
    assert!(r.drifts[1].first.is_none());
    assert!(r.drifts[1].streams.is_empty());
    assert_eq!(r.drifts[0].streams["accuracy"].first.delay_events, 10_000);
    assert_eq!(r.drifts[2].first.as_ref().unwrap().delay_events, 10_000);
    let reasons: Vec<FalseAlarmReason> = r.false_alarms.iter().map(|f| f.reason).collect();
    assert_eq!(
        reasons,
        vec![
            FalseAlarmReason::BeforeDrift,
            FalseAlarmReason::Unaffected,
            FalseAlarmReason::Unaffected
        ]
    );
}

#[test]
fn gradual_drift_counts_from_its_onset_and_reports_centre_delay_and_missed_features() {
    let truth: Truth = serde_json::from_str(GRADUAL_TRUTH).unwrap();
    let onsets = vec![
        data("num_0", 50_000), // before the onset index: false alarm
        onset(
            OnsetKind::Data,
            Some("num_0"),
            58_000,
            "2024-06-01T00:48:20.000Z",
        ),
        other(OnsetKind::Concept, 66_000),
        data("num_1", 70_000), // unaffected feature
    ];
    let r = score(&onsets, &truth);
    let d = &r.drifts[0];
    let first = d.first.as_ref().unwrap();
    assert_eq!(first.delay_events, 3_000);
    assert_eq!(first.delay_from_center_events, Some(-2_000));
    assert_eq!(first.delay_seconds, Some(150.0));
    assert_eq!(d.streams["concept"].first.delay_events, 11_000);
    assert_eq!(
        d.streams["concept"].first.delay_from_center_events,
        Some(6_000)
    );
    assert_eq!(d.missed_features, vec!["num_5".to_owned()]);
    assert_eq!(r.summary.false_alarms, 2);
    assert_eq!(r.false_alarms[0].reason, FalseAlarmReason::BeforeDrift);
    assert_eq!(r.false_alarms[1].reason, FalseAlarmReason::Unaffected);
}

#[test]
fn first_detection_is_the_earliest_and_ties_keep_input_order() {
    let truth: Truth = serde_json::from_str(GRADUAL_TRUTH).unwrap();
    let mut a = other(OnsetKind::Concept, 56_000);
    a.test = "adwin".to_owned();
    let mut b = other(OnsetKind::Concept, 56_000);
    b.test = "ddm".to_owned();
    let r = score(&[data("num_5", 57_000), a, b], &truth);
    let d = &r.drifts[0];
    assert_eq!(d.first.as_ref().unwrap().onset.test, "adwin");
    assert_eq!(d.streams["concept"].onsets, 2);
    assert_eq!(d.missed_features, vec!["num_0".to_owned()]);
}

#[test]
fn stable_truth_makes_every_onset_a_false_alarm_and_serialises() {
    let truth: Truth = serde_json::from_str(r#"{"drifts": [], "model_id": "churn-v7"}"#).unwrap();
    let onsets = vec![
        data("num_0", 10_000),
        other(OnsetKind::Accuracy, 20_000),
        other(OnsetKind::Dataset, 30_000),
    ];
    let r = score(&onsets, &truth);
    assert_eq!(r.summary.drifts, 0);
    assert_eq!(r.summary.false_alarms, 3);
    assert!(
        r.false_alarms
            .iter()
            .all(|f| f.reason == FalseAlarmReason::Unaffected)
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["summary"]["false_alarms_by_kind"]["accuracy"], 1);
    assert_eq!(v["summary"]["false_alarms_by_kind"]["prediction"], 0);
    assert!(v["summary"].get("mean_delay_events").is_none());
    assert_eq!(v["false_alarms"][0]["reason"], "unaffected");
    let back: BacktestReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);

    let none = score(&[], &truth);
    assert_eq!(none.summary.false_alarms, 0);
    assert_eq!(none.summary.onsets, 0);
}
