//! Unit tests of `monitor`.

use super::*;
use crate::contract::event::{ParseOptions, parse_event};
use crate::contract::onset::OnsetKind;
use driftd_detectors::stream::DetectorConfig;
use driftd_detectors::synth::{Dist, Rng};

/// Windowed detection (the tests of windows); [`streaming_settings`] for the default mode.
fn settings() -> MonitorSettings {
    MonitorSettings {
        detection: Detection::Windows,
        reference_events: 2_000,
        window_events: 2_000,
        ..Default::default()
    }
}

/// A prediction event of model `m` as a JSON line.
fn prediction(id: &str, ts: &str, features: &str, output: &str) -> String {
    format!(
        r#"{{"kind":"prediction","id":"{id}","model":"m","ts":"{ts}","features":{features},"prediction":{output}}}"#
    )
}

fn ts(i: u64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(1_767_225_600_000 + i as i64 * 100).unwrap();
    fmt_ts(t)
}

/// Feeds `n` predictions; `x` shifts by `shift` from `at` on; `y` never changes.
fn feed(m: &mut ModelMonitor, s: &MonitorSettings, n: u64, at: u64, shift: f64) -> Vec<Onset> {
    let mut rng = Rng::new(7);
    let mut onsets = Vec::new();
    for i in 0..n {
        let x = Dist::Normal {
            loc: if i >= at { shift } else { 0.0 },
            scale: 1.0,
        }
        .sample(&mut rng);
        let y = Dist::Normal {
            loc: 5.0,
            scale: 2.0,
        }
        .sample(&mut rng);
        let c = ["a", "b", "c"][(rng.next_u64() % 3) as usize];
        let line = format!(
            r#"{{"kind":"prediction","id":"p{i}","model":"m","ts":"{}","features":{{"x":{x},"y":{y},"c":"{c}"}},"prediction":{{"label":"1","score":0.7}}}}"#,
            ts(i)
        );
        let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
        onsets.extend(m.observe(&ev, s));
    }
    onsets
}

#[test]
fn a_shifted_feature_is_reported_once_and_only_it() {
    let s = settings();
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut m, &s, 20_000, 11_000, 1.0);
    let data: Vec<_> = onsets
        .iter()
        .filter(|o| o.kind == OnsetKind::Data)
        .collect();
    assert_eq!(data.len(), 1, "{onsets:#?}");
    assert_eq!(data[0].feature.as_deref(), Some("x"));
    // The window ending at 12,000 is the first to hold shifted values.
    assert_eq!(data[0].event_index, 12_000);
    assert_eq!(m.evaluations, 9);
}

#[test]
fn samples_carry_the_last_window_for_alert_rules() {
    let s = settings();
    let mut m = ModelMonitor::new("m", "1", &s);
    feed(&mut m, &s, 12_000, 10_000, 1.0);
    let samples = m.samples(&s);
    let find = |metric: &str, feature: &str| {
        samples
            .iter()
            .find(|x| {
                x.metric == metric && x.labels.get("feature").map(String::as_str) == Some(feature)
            })
            .unwrap_or_else(|| panic!("no {metric} for {feature}: {samples:#?}"))
    };
    let x = find("feature_drift", "x");
    assert_eq!(x.value, 1.0);
    assert_eq!(x.labels["model"], "m");
    assert_eq!(find("feature_drift", "y").value, 0.0);
    // The detail tells a human what moved: x's mean went from about 0 to about 1.
    let mean = |d: &str| -> f64 {
        d.strip_prefix("mean ")
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(mean(&x.detail["reference"]).abs() < 0.1, "{:?}", x.detail);
    assert!(
        (mean(&x.detail["current"]) - 1.0).abs() < 0.1,
        "{:?}",
        x.detail
    );
    let c = find("drift_statistic", "c");
    assert!(c.detail["reference"].contains("a ") && c.detail["reference"].contains('%'));
    let share = samples
        .iter()
        .find(|x| x.metric == "dataset_drift_share")
        .unwrap();
    assert!((share.value - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(share.detail["drifted"], "x");
    // Every sample names a known quantity and carries exactly its labels.
    for x in &samples {
        let (_, labels, _) = crate::contract::sample::QUANTITIES
            .iter()
            .find(|q| q.0 == x.metric)
            .unwrap_or_else(|| panic!("unknown quantity {}", x.metric));
        let keys: Vec<&str> = x.labels.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = labels.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "{x:?}");
    }
}

#[test]
fn the_score_detector_sees_a_shift_in_the_scores_before_any_label() {
    let s = MonitorSettings {
        score_detector: Some(DetectorConfig::Adwin(Default::default())),
        ..settings()
    };
    let mut m = ModelMonitor::new("m", "1", &s);
    let mut rng = Rng::new(3);
    let mut onsets = Vec::new();
    for i in 0..6_000u64 {
        let level = if i < 4_000 { 0.3 } else { 0.6 };
        let score = (level + 0.1 * (rng.next_u64() % 1000) as f64 / 1000.0).min(1.0);
        let line = prediction(
            &format!("p{i}"),
            &ts(i),
            r#"{"x":1.0}"#,
            &format!(r#"{{"score":{score}}}"#),
        );
        let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
        onsets.extend(m.observe(&ev, &s));
    }
    let score: Vec<_> = onsets.iter().filter(|o| o.test == "adwin_score").collect();
    assert!(!score.is_empty(), "{onsets:#?}");
    assert!(score.iter().all(|o| o.kind == OnsetKind::Prediction));
    // Detected after the shift, within a few hundred scores, and never before it.
    assert!(
        score[0].event_index > 4_000 && score[0].event_index < 4_500,
        "{score:#?}"
    );
    // Without the setting, nothing watches the scores.
    let mut plain = ModelMonitor::new("m", "1", &settings());
    let line = prediction("q", &ts(0), r#"{"x":1.0}"#, r#"{"score":0.5}"#);
    let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
    assert!(plain.observe(&ev, &settings()).is_empty());
    assert!(plain.score_detector.is_none());
}

#[test]
fn sliding_windows_detect_earlier_and_stay_quiet_on_stable_data() {
    let s = MonitorSettings {
        detection: Detection::Windows,
        window_slides: 4,
        ..settings()
    };
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut m, &s, 20_000, 11_000, 1.0);
    let data: Vec<_> = onsets
        .iter()
        .filter(|o| o.kind == OnsetKind::Data)
        .collect();
    assert_eq!(data.len(), 1, "{onsets:#?}");
    assert_eq!(data[0].feature.as_deref(), Some("x"));
    // Tumbling windows of 2,000 see the shift at 12,000 (see above); windows of 2,000 sliding by
    // 500 see it at the end of the first pane holding shifted values.
    assert_eq!(data[0].event_index, 11_500);
    // 18,000 predictions after the reference: 36 panes, the first full window after 4.
    assert_eq!(m.evaluations, 33);
    // Memory stays bounded: at most `window_slides - 1` closed panes between evaluations.
    assert!(m.panes.len() < 4);

    let mut quiet = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut quiet, &s, 60_000, u64::MAX, 0.0);
    assert!(onsets.is_empty(), "{onsets:#?}");
    assert_eq!(quiet.evaluations, 113);

    // The open window evaluated on demand covers the closed panes and the open one.
    let mut m = ModelMonitor::new("m", "1", &s);
    feed(&mut m, &s, 2_000 + 2_000 + 250, u64::MAX, 0.0);
    let (_, current) = m.window_len();
    assert_eq!(current, 1_750);
    assert!(m.peek(&s).is_some());
    assert!(
        MonitorSettings {
            window_slides: 0,
            ..settings()
        }
        .validate()
        .iter()
        .any(|(k, _)| k == "window_slides")
    );
}

#[test]
fn time_based_panes_from_before_a_quiet_stretch_leave_the_window() {
    let s = MonitorSettings {
        detection: Detection::Windows,
        window_seconds: Some(60),
        window_slides: 3,
        ..settings()
    };
    let mut m = ModelMonitor::new("m", "1", &s);
    let at = |m: &mut ModelMonitor, from: u64, n: u64| {
        for i in from..from + n {
            let line = prediction(
                &format!("p{i}"),
                &ts(i),
                &format!(r#"{{"x":{}}}"#, (i % 17) as f64),
                r#"{"label":"1"}"#,
            );
            m.observe(
                &parse_event(line.as_bytes(), &ParseOptions::default()).unwrap(),
                &s,
            );
        }
    };
    // Reference (2,000 predictions = 200 s), then 80 s of traffic: panes of 20 s close at
    // 220, 240 and 260 s, where the first full window of three panes is evaluated.
    at(&mut m, 0, 2_000 + 800);
    let before = m.evaluations;
    assert_eq!(before, 1, "{:?}", m.window_len());
    // An hour of silence, then 30 s of traffic: one pane closes, alone in the last minute:
    // no window yet.
    at(&mut m, 2_800 + 36_000, 300);
    assert_eq!(m.evaluations, before);
    // Two more panes: a full window of recent data again.
    at(&mut m, 2_800 + 36_000 + 300, 400);
    assert_eq!(m.evaluations, before + 1);
}

#[test]
fn a_stable_stream_raises_nothing_over_many_windows() {
    let s = settings();
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut m, &s, 60_000, u64::MAX, 0.0);
    assert!(onsets.is_empty(), "{onsets:#?}");
    assert_eq!(m.evaluations, 29);
}

#[test]
fn labels_join_late_early_and_twice_and_feed_the_error_stream() {
    let s = settings();
    let mut m = ModelMonitor::new("m", "1", &s);
    let mut rng = Rng::new(3);
    let mut concept = Vec::new();
    let mut i = 0u64;
    let emit = |m: &mut ModelMonitor, line: String| {
        let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
        m.observe(&ev, &s)
    };
    for k in 0..6_000u64 {
        // Error rate 10% before 3,000 labels, 40% after: only the labels change.
        let wrong = rng.uniform() < if k < 3_000 { 0.1 } else { 0.4 };
        let label = if wrong { "0" } else { "1" };
        let pred = format!(
            r#"{{"kind":"prediction","id":"p{k}","model":"m","ts":"{}","features":{{"x":1.0}},"prediction":{{"label":"1"}}}}"#,
            ts(i)
        );
        let fb = format!(
            r#"{{"kind":"feedback","id":"p{k}","model":"m","ts":"{}","label":"{label}"}}"#,
            ts(i + 1)
        );
        i += 2;
        if k % 7 == 0 {
            // feedback before its prediction
            concept.extend(emit(&mut m, fb.clone()));
            concept.extend(emit(&mut m, pred));
        } else {
            concept.extend(emit(&mut m, pred));
            concept.extend(emit(&mut m, fb.clone()));
        }
        if k % 11 == 0 {
            concept.extend(emit(&mut m, fb)); // twice: counted once
        }
    }
    assert_eq!(m.labels().0, 6_000);
    assert_eq!(m.join().duplicate_feedback, 546);
    assert!(m.join().is_empty());
    let c: Vec<_> = concept
        .iter()
        .filter(|o| o.kind == OnsetKind::Concept)
        .collect();
    assert!(!c.is_empty(), "no concept drift detected");
    assert!(
        c[0].event_index > 3_000 && c[0].event_index < 3_600,
        "{c:#?}"
    );
    assert!(concept.iter().all(|o| o.kind != OnsetKind::Data));
    // Accuracy: reference = the first 2,000 labels (90 % right); the window of labels
    // 2,000..4,000 is half at 60 %: a significant drop when it closes, reported once.
    let acc: Vec<_> = concept
        .iter()
        .filter(|o| o.kind == OnsetKind::Accuracy)
        .collect();
    assert_eq!(acc.len(), 1, "{acc:#?}");
    assert_eq!(acc[0].feature.as_deref(), Some("accuracy"));
    assert!(
        acc[0].event_index >= 3_990 && acc[0].event_index <= 4_010,
        "{acc:#?}"
    );
    assert!(acc[0].p_value.unwrap() < 0.01);
    let last = m.performance().last.as_ref().unwrap();
    assert!((last.accuracy - 0.6).abs() < 0.05, "{last:?}");
}

#[test]
fn a_checkpointed_monitor_continues_exactly_like_the_original() {
    let s = settings();
    let mut a = ModelMonitor::new("m", "1", &s);
    let mut rng = Rng::new(11);
    let line = |k: u64, rng: &mut Rng| {
        let x = Dist::Normal {
            loc: if k > 9_000 { 1.5 } else { 0.0 },
            scale: 1.0,
        }
        .sample(rng);
        (
            format!(
                r#"{{"kind":"prediction","id":"p{k}","model":"m","ts":"{}","features":{{"x":{x},"c":"v{}"}},"prediction":{{"label":"1","score":0.8}}}}"#,
                ts(2 * k),
                k % 4
            ),
            format!(
                r#"{{"kind":"feedback","id":"p{k}","model":"m","ts":"{}","label":"{}"}}"#,
                ts(2 * k + 1),
                if rng.uniform() < if k > 9_000 { 0.5 } else { 0.1 } {
                    "0"
                } else {
                    "1"
                }
            ),
        )
    };
    for k in 0..5_000 {
        let (p, f) = line(k, &mut rng);
        a.observe(
            &parse_event(p.as_bytes(), &ParseOptions::default()).unwrap(),
            &s,
        );
        a.observe(
            &parse_event(f.as_bytes(), &ParseOptions::default()).unwrap(),
            &s,
        );
    }
    let json = serde_json::to_vec(&a).unwrap();
    let mut b: ModelMonitor = serde_json::from_slice(&json).unwrap();
    let (mut oa, mut ob) = (Vec::new(), Vec::new());
    for k in 5_000..14_000 {
        let (p, f) = line(k, &mut rng);
        for l in [p, f] {
            let ev = parse_event(l.as_bytes(), &ParseOptions::default()).unwrap();
            oa.extend(a.observe(&ev, &s));
            ob.extend(b.observe(&ev, &s));
        }
    }
    assert!(!oa.is_empty(), "the shift should be detected");
    assert_eq!(oa, ob);
    // Same state (as JSON values: the join store's hash maps serialise in arbitrary order).
    let (va, vb) = (
        serde_json::to_value(&a).unwrap(),
        serde_json::to_value(&b).unwrap(),
    );
    fn first_diff(a: &serde_json::Value, b: &serde_json::Value, path: String) -> Option<String> {
        use serde_json::Value::*;
        match (a, b) {
            (Object(x), Object(y)) => x
                .iter()
                .find_map(|(k, v)| first_diff(v, y.get(k).unwrap_or(&Null), format!("{path}/{k}"))),
            (Array(x), Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_diff(v, w, format!("{path}/{i}"))),
            _ => (a != b).then(|| format!("{path}: {a} != {b}")),
        }
    }
    assert!(
        va == vb,
        "restored monitor diverged: {:?}",
        first_diff(&va, &vb, String::new())
    );
}

#[test]
fn windows_by_event_time() {
    // One prediction every 100 ms; reference = the first 60 s (600 predictions), then windows
    // of 30 s (300 predictions); `x` shifts at prediction 1,500.
    let s = MonitorSettings {
        detection: Detection::Windows,
        reference_events: 5_000,
        reference_seconds: Some(60),
        window_seconds: Some(30),
        ..settings()
    };
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut m, &s, 3_000, 1_500, 1.0);
    assert!(m.has_reference());
    // The reference closes at prediction 600 (60 s); windows close at predictions 900, 1200,
    // …, 2700: 7 evaluations.
    assert_eq!(m.evaluations, 7);
    let data: Vec<_> = onsets
        .iter()
        .filter(|o| o.kind == OnsetKind::Data)
        .collect();
    assert_eq!(data.len(), 1, "{onsets:#?}");
    assert_eq!(data[0].feature.as_deref(), Some("x"));
    // The window [1500, 1800) holds only shifted values; it closes at prediction 1,801.
    assert_eq!(data[0].event_index, 1_801);
}

#[test]
fn a_reference_from_recorded_events() {
    let s = settings();
    // Reference recorded elsewhere: x around 1.0. Live traffic: x around 0.0, which must be
    // reported at the first window because it differs from the recorded reference.
    let mut rng = Rng::new(5);
    let lines: Vec<String> = (0..1_000u64)
        .map(|i| {
            let x = Dist::Normal { loc: 1.0, scale: 1.0 }.sample(&mut rng);
            format!(
                r#"{{"kind":"prediction","id":"r{i}","model":"m","ts":"{}","features":{{"x":{x},"y":5.0,"c":"a"}}}}"#,
                ts(i)
            )
        })
        .collect();
    let events = lines
        .iter()
        .map(|l| parse_event(l.as_bytes(), &ParseOptions::default()).unwrap());
    let mut m = ModelMonitor::new("m", "1", &s);
    assert_eq!(m.set_reference(events, &s), 1_000);
    assert!(m.has_reference());
    let onsets = feed(&mut m, &s, 2_000, u64::MAX, 0.0);
    assert!(
        onsets
            .iter()
            .any(|o| o.kind == OnsetKind::Data && o.feature.as_deref() == Some("x")),
        "{onsets:#?}"
    );
    assert_eq!(m.evaluations, 1);
}

#[test]
fn the_join_store_is_bounded() {
    let s = MonitorSettings {
        join_max_entries: 100,
        ..settings()
    };
    let mut m = ModelMonitor::new("m", "1", &s);
    for k in 0..1_000u64 {
        let pred = format!(
            r#"{{"kind":"prediction","id":"p{k}","model":"m","ts":"{}","features":{{"x":1.0}},"prediction":{{"label":"1"}}}}"#,
            ts(k)
        );
        m.observe(
            &parse_event(pred.as_bytes(), &ParseOptions::default()).unwrap(),
            &s,
        );
    }
    assert_eq!(m.join().len(), 100);
    assert_eq!(m.join().evicted, 900);
}

/// A seeded mix of predictions and feedback: late, early, repeated, never, and ids reused
/// after the dedupe memory forgot them.
fn join_traffic(n: u64, jitter: u64) -> Vec<String> {
    let mut rng = Rng::new(11);
    let mut lines = Vec::new();
    let mut waiting: Vec<u64> = Vec::new();
    for k in 0..n {
        // Event times out of order by up to `jitter` steps.
        let t = ts(k.saturating_sub(rng.next_u64() % (jitter + 1)));
        let r = rng.next_u64() % 100;
        if r < 55 {
            let id = if r < 2 { rng.next_u64() % (k + 1) } else { k };
            let label = rng.next_u64() % 2;
            lines.push(prediction(
                &format!("p{id}"),
                &t,
                r#"{"x":1.0}"#,
                &format!(r#"{{"label":"{label}","score":0.6}}"#),
            ));
            if rng.next_u64() % 10 < 8 {
                waiting.push(id);
            }
        } else if r < 90 && !waiting.is_empty() {
            // Late feedback for a random waiting prediction (sometimes twice).
            let i = (rng.next_u64() % waiting.len() as u64) as usize;
            let id = if rng.next_u64().is_multiple_of(10) {
                waiting[i]
            } else {
                waiting.swap_remove(i)
            };
            lines.push(format!(
                r#"{{"kind":"feedback","id":"p{id}","model":"m","ts":"{t}","label":"{}"}}"#,
                rng.next_u64() % 2
            ));
        } else {
            // Early feedback for a prediction still to come (or never).
            lines.push(format!(
                r#"{{"kind":"feedback","id":"p{}","model":"m","ts":"{t}","label":"1"}}"#,
                k + 1 + rng.next_u64() % 50
            ));
        }
    }
    lines
}

#[test]
fn a_cold_tier_changes_no_join_eviction_or_count() {
    for jitter in [0, 3_000] {
        cold_tier_matches(jitter);
    }
}

fn cold_tier_matches(jitter: u64) {
    let s = MonitorSettings {
        join_max_entries: 3_000,
        join_dedupe_entries: 2_000,
        join_ttl_seconds: 600,
        accuracy_reference_labels: 500,
        accuracy_window_labels: 500,
        ..settings()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut hot = ModelMonitor::new("m", "1", &s);
    let mut tiered = ModelMonitor::new("m", "1", &s);
    tiered.spill_joins_to(dir.path(), 50).unwrap();
    let mut onsets = (Vec::new(), Vec::new());
    for (i, line) in join_traffic(40_000, jitter).iter().enumerate() {
        let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
        onsets.0.extend(hot.observe(&ev, &s));
        onsets.1.extend(tiered.observe(&ev, &s));
        if i % 997 == 0 {
            assert_eq!(hot.join().len(), tiered.join().len(), "at line {i}");
            assert_eq!(hot.labels(), tiered.labels(), "at line {i}");
        }
    }
    let (a, b) = (hot.join(), tiered.join());
    assert_eq!(
        (
            a.len(),
            a.evicted,
            a.duplicate_feedback,
            a.unmatched_feedback
        ),
        (
            b.len(),
            b.evicted,
            b.duplicate_feedback,
            b.unmatched_feedback
        )
    );
    // The traffic exercised every path: evictions, duplicates, unmatched early feedback.
    assert!(
        a.evicted > 0 && a.duplicate_feedback > 0 && a.unmatched_feedback > 0,
        "{a:?}"
    );
    assert!(hot.labels().0 > 10_000);
    assert_eq!(hot.labels(), tiered.labels());
    assert_eq!(onsets.0, onsets.1);
    assert_eq!(
        serde_json::to_string(hot.performance()).unwrap(),
        serde_json::to_string(tiered.performance()).unwrap()
    );
    assert!(b.spill_error().is_none());
    // Most of it was in the file: the hot tier held at most 50 per kind.
    assert!(b.len() > 50);
    drop(tiered);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the file is removed"
    );
}

/// Predictions with unchanging features, each labelled at once; the share of positive labels is
/// `before` until prediction `at`, then `after`. The model always predicts `1`, so a change of
/// the class balance also moves accuracy — but the label test must see it as label drift. The
/// labels are `[0, 1]` strings for classification, or values around 10 or 13 for regression.
fn labelled(
    m: &mut ModelMonitor,
    s: &MonitorSettings,
    n: u64,
    at: u64,
    before: f64,
    after: f64,
    regression: bool,
) -> Vec<Onset> {
    let mut rng = Rng::new(11);
    let mut onsets = Vec::new();
    for i in 0..n {
        let x = Dist::Normal {
            loc: 0.0,
            scale: 1.0,
        }
        .sample(&mut rng);
        let share = if i >= at { after } else { before };
        let positive = (rng.next_u64() % 10_000) as f64 / 10_000.0 < share;
        let (output, target) = if regression {
            let v = if positive { 13.0 } else { 10.0 } + x.abs() * 0.1;
            (r#"{"value":11.0}"#.to_owned(), format!(r#""value":{v}"#))
        } else {
            (
                r#"{"label":"1","score":0.7}"#.to_owned(),
                format!(r#""label":"{}""#, u8::from(positive)),
            )
        };
        for line in [
            prediction(
                &format!("p{i}"),
                &ts(i),
                &format!(r#"{{"x":{x}}}"#),
                &output,
            ),
            format!(
                r#"{{"kind":"feedback","id":"p{i}","model":"m","ts":"{}",{target}}}"#,
                ts(i)
            ),
        ] {
            let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
            onsets.extend(m.observe(&ev, s));
        }
    }
    onsets
}

#[test]
fn a_change_of_the_class_balance_is_label_drift_and_a_stable_one_is_not() {
    let s = settings();
    // Stable: 30 % positive throughout, 15 accuracy windows of 2,000 labels.
    let mut m = ModelMonitor::new("m", "1", &s);
    let stable = labelled(&mut m, &s, 32_000, u64::MAX, 0.3, 0.3, false);
    assert!(
        stable.iter().all(|o| o.kind != OnsetKind::Label),
        "{stable:?}"
    );
    let (test, _, _, drift) = m.perf.last_label_test.clone().expect("labels were tested");
    assert!(!drift, "{test}");
    // 30 % → 60 % positive at prediction 20,000: one label onset, in the first window after it.
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = labelled(&mut m, &s, 32_000, 20_000, 0.3, 0.6, false);
    let label: Vec<&Onset> = onsets
        .iter()
        .filter(|o| o.kind == OnsetKind::Label)
        .collect();
    assert_eq!(label.len(), 1, "{onsets:?}");
    assert!(
        (20_001..=22_000).contains(&label[0].event_index),
        "{:?}",
        label[0]
    );
    assert_eq!(label[0].feature, None);
    let samples = m.samples(&s);
    let sample = samples.iter().find(|x| x.metric == "label_drift").unwrap();
    assert_eq!(sample.value, 1.0);
}

#[test]
fn regression_targets_that_move_are_label_drift() {
    let s = settings();
    let mut m = ModelMonitor::new("m", "1", &s);
    let stable = labelled(&mut m, &s, 24_000, u64::MAX, 0.3, 0.3, true);
    assert!(
        stable.iter().all(|o| o.kind != OnsetKind::Label),
        "{stable:?}"
    );
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = labelled(&mut m, &s, 24_000, 12_000, 0.2, 0.8, true);
    let label: Vec<&Onset> = onsets
        .iter()
        .filter(|o| o.kind == OnsetKind::Label)
        .collect();
    assert_eq!(label.len(), 1, "{onsets:?}");
    assert!(label[0].event_index > 12_000, "{:?}", label[0]);
}

/// The default detection (streaming), on a 2,000-prediction reference.
fn streaming_settings() -> MonitorSettings {
    MonitorSettings {
        reference_events: 2_000,
        ..Default::default()
    }
}

#[test]
fn streaming_finds_a_shift_within_a_window_and_only_on_its_feature() {
    let s = streaming_settings();
    assert_eq!(s.detection, Detection::Streaming);
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut m, &s, 20_000, 11_000, 1.0);
    let data: Vec<_> = onsets
        .iter()
        .filter(|o| o.kind == OnsetKind::Data)
        .collect();
    assert_eq!(data.len(), 1, "{onsets:#?}");
    let o = data[0];
    assert_eq!(o.feature.as_deref(), Some("x"));
    assert_eq!(o.test, streaming::TEST);
    assert!(
        (11_000..11_000 + 1_000).contains(&o.event_index),
        "found at {}",
        o.event_index
    );
    // Looks every 100 predictions once the first window (of 1,000) is full.
    assert_eq!(m.evaluations, (20_000 - 2_000 - 1_000) / 100 + 1);
    // A third of the features: no dataset drift at the default share of one half.
    assert!(!onsets.iter().any(|o| o.kind == OnsetKind::Dataset));
    let w = m.last_window.as_ref().unwrap();
    let x = w.features.iter().find(|f| f.feature == "x").unwrap();
    assert!(x.drift && x.p_value.unwrap() < x.threshold);
    assert!(x.current.contains("(reference"), "{}", x.current);
    assert!(
        m.peek(&s)
            .unwrap()
            .features
            .iter()
            .any(|f| f.feature == "x" && f.drift)
    );
    assert_eq!(m.window_len(), (2_000, 1_000));
}

#[test]
fn streaming_raises_nothing_on_a_long_stable_stream() {
    let s = streaming_settings();
    let mut m = ModelMonitor::new("m", "1", &s);
    let onsets = feed(&mut m, &s, 100_000, u64::MAX, 0.0);
    assert!(onsets.is_empty(), "{onsets:#?}");
    assert!(m.evaluations > 960);
    let w = m.last_window.as_ref().unwrap();
    assert_eq!(w.features.len(), 3);
    assert!(w.features.iter().all(|f| !f.drift));
}

#[test]
fn a_restored_streaming_monitor_continues_bit_for_bit() {
    let s = streaming_settings();
    let mut a = ModelMonitor::new("m", "1", &s);
    feed(&mut a, &s, 3_550, u64::MAX, 0.0);
    let json = serde_json::to_string(&a).unwrap();
    let mut b: ModelMonitor = serde_json::from_str(&json).unwrap();
    let oa = feed(&mut a, &s, 9_000, 2_000, 0.7);
    let ob = feed(&mut b, &s, 9_000, 2_000, 0.7);
    assert_eq!(oa, ob);
    assert!(!oa.is_empty());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn switching_between_streaming_and_windows_keeps_monitoring() {
    let st = streaming_settings();
    let win = settings();
    let mut m = ModelMonitor::new("m", "1", &st);
    feed(&mut m, &st, 4_000, u64::MAX, 0.0);
    assert!(m.window_len().1 > 0);
    // To windows: the next window of 2,000 is evaluated.
    let before = m.evaluations;
    feed(&mut m, &win, 2_000, u64::MAX, 0.0);
    assert_eq!(m.evaluations, before + 1);
    // Back to streaming: the sliding window starts again.
    feed(&mut m, &st, 999, u64::MAX, 0.0);
    assert_eq!(m.window_len().1, 999);
    assert_eq!(m.evaluations, before + 1);
}

/// 25 features of awkward shapes — heavy tails, ties, a handful of integers, skewed categories with
/// rare values — and a score, all stable: 100,000 predictions after the default reference of
/// 10,000 raise no onset at the default settings (about 900 looks at 26 quantities).
#[test]
fn streaming_is_quiet_on_100k_stable_predictions_of_25_features() {
    let s = MonitorSettings::default();
    let mut m = ModelMonitor::new("m", "1", &s);
    let mut rng = Rng::new(2026);
    let zipf: Vec<f64> = (1..=50).map(|k| 1.0 / k as f64).collect();
    let skewed = Dist::Categorical { weights: zipf };
    let mut onsets = Vec::new();
    let mut line = String::new();
    for i in 0..110_000u64 {
        use std::fmt::Write;
        line.clear();
        line.push_str(r#"{"kind":"prediction","id":"p"#);
        write!(line, r#"{i}","model":"m","ts":"{}","features":{{"#, ts(i)).unwrap();
        for j in 0..15 {
            let x = match j % 5 {
                0 => rng.normal() * (1.0 + j as f64),
                1 => (rng.normal() * 1.5).exp(),
                2 => (rng.uniform() * 5.0).floor(),
                3 => rng.normal() / rng.normal().abs().max(1e-3),
                _ => (rng.normal() * 4.0).round() / 4.0,
            };
            write!(line, r#""n{j}":{x},"#).unwrap();
        }
        for j in 0..10 {
            let c = match j % 3 {
                0 => skewed.sample(&mut rng) as usize,
                1 => (rng.uniform() * 3.0) as usize,
                _ => usize::from(rng.uniform() < 0.02),
            };
            write!(line, r#""c{j}":"v{c}","#).unwrap();
        }
        line.pop();
        let score = 1.0 / (1.0 + (-rng.normal()).exp());
        write!(line, r#"}},"prediction":{{"score":{score}}}}}"#).unwrap();
        let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
        onsets.extend(m.observe(&ev, &s));
    }
    assert!(onsets.is_empty(), "{onsets:#?}");
    let w = m.last_window.as_ref().expect("looked");
    assert_eq!(w.features.len(), 25);
    assert!(w.prediction.is_some());
    assert_eq!(m.evaluations, 991);
}
