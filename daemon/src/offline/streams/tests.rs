//! Unit tests of `offline::streams`.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::contract::event::{
    Body, FeatureValue, ParseOptions, PredictionOutput, Target, parse_event,
};
use crate::contract::onset::{Onset, OnsetKind};
use crate::offline::backtest::score;

/// What the tests read back from the generated lines, through the real event parser.
struct Parsed {
    ids: Vec<String>,
    ts_ms: Vec<i64>,
    num: Vec<[f64; NUMERIC_FEATURES]>,
    cat: Vec<[String; CATEGORICAL_FEATURES]>,
    predicted: Vec<bool>,
    score: Vec<f64>,
    /// Label by prediction index, for the labels that arrive.
    label: Vec<Option<bool>>,
    /// Arrival time of each feedback line, in file order.
    feedback_ts_ms: Vec<i64>,
}

fn parse(g: &GeneratedStream) -> Parsed {
    let opts = ParseOptions::default();
    let mut p = Parsed {
        ids: Vec::new(),
        ts_ms: Vec::new(),
        num: Vec::new(),
        cat: Vec::new(),
        predicted: Vec::new(),
        score: Vec::new(),
        label: Vec::new(),
        feedback_ts_ms: Vec::new(),
    };
    for line in &g.predictions {
        let ev = parse_event(line.as_bytes(), &opts).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(ev.model, g.model);
        let Body::Prediction { features, output } = ev.body else {
            panic!("not a prediction: {line}")
        };
        let mut num = [f64::NAN; NUMERIC_FEATURES];
        let mut cat: [String; CATEGORICAL_FEATURES] = Default::default();
        assert_eq!(features.0.len(), NUMERIC_FEATURES + CATEGORICAL_FEATURES);
        for (name, v) in &features.0 {
            match v {
                FeatureValue::Number(x) => {
                    num[name.strip_prefix("num_").unwrap().parse::<usize>().unwrap()] = *x
                }
                FeatureValue::Category(c) => {
                    cat[name.strip_prefix("cat_").unwrap().parse::<usize>().unwrap()] =
                        c.to_string()
                }
                FeatureValue::Missing => panic!("missing value in {line}"),
            }
        }
        assert!(num.iter().all(|x| x.is_finite()));
        assert!(cat.iter().all(|c| !c.is_empty()));
        let Some(PredictionOutput::Class {
            label: Some(label),
            score: Some(score),
            ..
        }) = output
        else {
            panic!("no label and score: {line}")
        };
        assert!(label == "0" || label == "1", "{line}");
        p.ids.push(ev.id.to_string());
        p.ts_ms.push(ev.ts.timestamp_millis());
        p.num.push(num);
        p.cat.push(cat);
        p.predicted.push(label == "1");
        p.score.push(score);
    }
    let index: HashMap<&str, usize> = p
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    assert_eq!(index.len(), p.ids.len(), "ids are not unique");
    let mut label = vec![None; p.ids.len()];
    for line in &g.feedback {
        let ev = parse_event(line.as_bytes(), &opts).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(ev.model, g.model);
        let Body::Feedback {
            target: Target::Label(l),
            ..
        } = ev.body
        else {
            panic!("not a labelled feedback: {line}")
        };
        let i = index[ev.id.as_ref()];
        assert!(label[i].is_none(), "two labels for {}", ev.id);
        assert!(l == "0" || l == "1");
        label[i] = Some(l == "1");
        p.feedback_ts_ms.push(ev.ts.timestamp_millis());
        assert!(
            ev.ts.timestamp_millis() >= p.ts_ms[i],
            "label before prediction"
        );
    }
    p.label = label;
    p
}

fn gen_kind(kind: StreamKind, n: usize) -> (GeneratedStream, Parsed) {
    let g = generate(&StreamSpec::new(kind).events(n)).unwrap();
    let p = parse(&g);
    (g, p)
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

fn num_mean(p: &Parsed, j: usize, r: std::ops::Range<usize>) -> f64 {
    mean(p.num[r].iter().map(|x| x[j]))
}

fn num_sd(p: &Parsed, j: usize, r: std::ops::Range<usize>) -> f64 {
    let m = num_mean(p, j, r.clone());
    mean(p.num[r].iter().map(|x| (x[j] - m) * (x[j] - m))).sqrt()
}

/// Error rate over the labelled events of `r` (measured from the files, not the truth).
fn error_rate(p: &Parsed, r: std::ops::Range<usize>) -> f64 {
    mean(r.filter_map(|i| p.label[i].map(|y| f64::from(u8::from(y != p.predicted[i])))))
}

fn shares(p: &Parsed, j: usize, r: std::ops::Range<usize>) -> BTreeMap<String, f64> {
    let len = r.len() as f64;
    let mut out = BTreeMap::new();
    for c in &p.cat[r] {
        *out.entry(c[j].clone()).or_insert(0.0) += 1.0 / len;
    }
    out
}

/// Total variation distance between two categorical distributions.
fn tv(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> f64 {
    let keys: HashSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| (a.get(k).unwrap_or(&0.0) - b.get(k).unwrap_or(&0.0)).abs())
        .sum::<f64>()
        / 2.0
}

/// The features whose distribution differs between `before` and `after`, by measurement:
/// numeric mean moved by more than 0.1 sd or sd ratio off by more than 10 %, categorical total
/// variation above 0.05.
fn moved_features(
    p: &Parsed,
    before: std::ops::Range<usize>,
    after: std::ops::Range<usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    for j in 0..NUMERIC_FEATURES {
        let dm = num_mean(p, j, after.clone()) - num_mean(p, j, before.clone());
        let ratio = num_sd(p, j, after.clone()) / num_sd(p, j, before.clone());
        if dm.abs() > 0.1 || (ratio - 1.0).abs() > 0.1 {
            out.push(format!("num_{j}"));
        }
    }
    for j in 0..CATEGORICAL_FEATURES {
        if tv(&shares(p, j, before.clone()), &shares(p, j, after.clone())) > 0.05 {
            out.push(format!("cat_{j}"));
        }
    }
    out
}

fn truth_features(g: &GeneratedStream, drift: usize) -> Vec<String> {
    g.truth.drifts[drift].features.keys().cloned().collect()
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() {
    for kind in StreamKind::ALL {
        let spec = StreamSpec::new(kind).events(3_000);
        let a = generate(&spec).unwrap();
        let b = generate(&spec).unwrap();
        assert_eq!(a, b, "{kind}");
        let c = generate(&spec.clone().seed(spec.seed + 1)).unwrap();
        assert_ne!(a.predictions, c.predictions, "{kind}");
        assert_ne!(a.feedback, c.feedback, "{kind}");

        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_to_dir(&a, d1.path(), "s").unwrap();
        write_to_dir(&b, d2.path(), "s").unwrap();
        for f in file_names("s") {
            let x = std::fs::read(d1.path().join(&f)).unwrap();
            let y = std::fs::read(d2.path().join(&f)).unwrap();
            assert!(!x.is_empty());
            assert_eq!(x, y, "{kind} {f}");
        }
    }
    // Different kinds of one seed are independent draws, not shifted copies of one stream.
    let s = generate(&StreamSpec::new(StreamKind::Stable).events(1_000)).unwrap();
    let c = generate(&StreamSpec::new(StreamKind::Concept).events(1_000)).unwrap();
    let feats = |l: &str| l[l.find("\"features\"").unwrap()..].to_owned();
    assert_ne!(feats(&s.predictions[0]), feats(&c.predictions[0]));
}

#[test]
fn every_line_is_a_valid_event_with_monotonic_time_and_late_labels() {
    for kind in StreamKind::ALL {
        let n = 5_000;
        let (g, p) = gen_kind(kind, n);
        assert_eq!(g.predictions.len(), n);
        assert_eq!(g.model, kind.name());
        assert_eq!(g.truth.model_id.as_deref(), Some(kind.name()));
        assert_eq!(g.truth.n_events, Some(n as u64));
        assert_eq!(g.truth.n_feedback, Some(g.feedback.len() as u64));
        assert_eq!(
            g.truth.first_ts.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert!(g.predictions[0].contains(r#""ts":"2026-01-01T00:00:00.000Z""#));
        assert!(
            p.ts_ms.windows(2).all(|w| w[0] < w[1]),
            "{kind}: time not increasing"
        );
        assert_eq!(
            g.truth.last_ts.as_deref(),
            Some(fmt_ms(p.ts_ms[n - 1]).as_str())
        );
        let mean_gap = (p.ts_ms[n - 1] - p.ts_ms[0]) as f64 / (n - 1) as f64;
        assert!(
            (45.0..55.0).contains(&mean_gap),
            "{kind}: mean gap {mean_gap}"
        );
        assert!(
            p.feedback_ts_ms.windows(2).all(|w| w[0] <= w[1]),
            "{kind}: feedback order"
        );
        let labelled = p.label.iter().filter(|l| l.is_some()).count() as f64 / n as f64;
        assert!(
            (0.93..0.97).contains(&labelled),
            "{kind}: {labelled} labelled"
        );
        for i in 0..n {
            assert!((0.0..=1.0).contains(&p.score[i]));
            if p.predicted[i] {
                assert!(
                    p.score[i] >= 0.5,
                    "{kind}: label 1 with score {}",
                    p.score[i]
                );
            } else {
                assert!(
                    p.score[i] <= 0.5,
                    "{kind}: label 0 with score {}",
                    p.score[i]
                );
            }
        }
        // Median label delay ~ 10 minutes.
        let mut delays: Vec<i64> = Vec::new();
        let at: HashMap<&str, i64> = p
            .ids
            .iter()
            .map(String::as_str)
            .zip(p.ts_ms.iter().copied())
            .collect();
        for line in &g.feedback {
            let ev = parse_event(line.as_bytes(), &ParseOptions::default()).unwrap();
            delays.push(ev.ts.timestamp_millis() - at[ev.id.as_ref()]);
        }
        delays.sort_unstable();
        let median = delays[delays.len() / 2] as f64 / 1000.0;
        assert!(
            (540.0..660.0).contains(&median),
            "{kind}: median delay {median} s"
        );
        // Every drift's timestamps are those of the events at its indices.
        for d in &g.truth.drifts {
            assert_eq!(
                d.onset_ts.as_deref(),
                Some(fmt_ms(p.ts_ms[d.onset_index as usize]).as_str())
            );
            if let Some(c) = d.center_index {
                assert_eq!(
                    d.center_ts.as_deref(),
                    Some(fmt_ms(p.ts_ms[c as usize]).as_str())
                );
            }
        }
        // Segment error rates (all events) agree with what the labels that arrive show.
        for s in &g.truth.segments {
            let measured = error_rate(&p, s.start_index as usize..s.end_index as usize);
            let stated = s.error_rate.unwrap();
            assert!(
                (measured - stated).abs() < 0.015,
                "{kind}: segment {s:?} measured {measured}"
            );
        }
    }
}

#[test]
fn stable_stream_has_no_drift_in_its_data() {
    let n = 40_000;
    let (g, p) = gen_kind(StreamKind::Stable, n);
    assert!(g.truth.drifts.is_empty());
    assert_eq!(g.truth.segments.len(), 1);
    for (a, b) in [(0..n / 2, n / 2..n), (0..n / 4, 3 * n / 4..n)] {
        assert!(moved_features(&p, a.clone(), b.clone()).is_empty());
        let (ea, eb) = (error_rate(&p, a), error_rate(&p, b));
        assert!(
            (0.08..0.12).contains(&ea) && (0.08..0.12).contains(&eb),
            "{ea} {eb}"
        );
    }
    for j in 0..NUMERIC_FEATURES {
        assert!(num_mean(&p, j, 0..n).abs() < 0.03);
        assert!((num_sd(&p, j, 0..n) - 1.0).abs() < 0.03);
    }
    let c0 = shares(&p, 0, 0..n);
    assert_eq!(c0.len(), 10);
    assert!(c0.values().all(|s| (s - 0.1).abs() < 0.015), "{c0:?}");
}

#[test]
fn covariate_shift_moves_exactly_the_stated_features_by_the_stated_amounts() {
    let n = 40_000;
    let (g, p) = gen_kind(StreamKind::CovariateShift, n);
    let c = g.truth.drifts[0].onset_index as usize;
    assert_eq!(c, n / 2);
    assert!(!g.truth.drifts[0].concept_changed);
    let (before, after) = (0..c, c..n);
    assert_eq!(
        moved_features(&p, before.clone(), after.clone()),
        truth_features(&g, 0)
    );
    for j in 0..3 {
        let dm = num_mean(&p, j, after.clone()) - num_mean(&p, j, before.clone());
        assert!((dm - 0.5).abs() < 0.05, "num_{j} moved {dm}");
    }
    let ratio = num_sd(&p, 3, after.clone()) / num_sd(&p, 3, before.clone());
    assert!((ratio - 1.5).abs() < 0.05, "num_3 sd ratio {ratio}");
    let dm3 = num_mean(&p, 3, after.clone()) - num_mean(&p, 3, before.clone());
    assert!(dm3.abs() < 0.05, "num_3 mean moved {dm3}");
    // The concept is unchanged: the error rate stays at the label noise.
    let (eb, ea) = (
        error_rate(&p, before.clone()),
        error_rate(&p, after.clone()),
    );
    assert!(
        (eb - 0.10).abs() < 0.015 && (ea - 0.10).abs() < 0.015,
        "{eb} {ea}"
    );
    // ... while the predictions move (num_0..num_2 carry weight): prediction drift is real.
    let pb = mean(p.score[before].iter().copied());
    let pa = mean(p.score[after].iter().copied());
    assert!((pa - pb).abs() > 0.03, "score mean {pb} -> {pa}");
    // Nothing moves within a segment.
    assert!(moved_features(&p, 0..c / 2, c / 2..c).is_empty());
}

#[test]
fn categorical_shift_concentrates_then_adds_an_unseen_category() {
    let n = 40_000;
    let (g, p) = gen_kind(StreamKind::CategoricalShift, n);
    let c1 = g.truth.drifts[0].onset_index as usize;
    let c2 = g.truth.drifts[1].onset_index as usize;
    assert_eq!((c1, c2), (16_000, 28_000));
    assert_eq!(moved_features(&p, 0..c1, c1..c2), truth_features(&g, 0));
    assert_eq!(moved_features(&p, c1..c2, c2..n), truth_features(&g, 1));
    let hot = |r: std::ops::Range<usize>| {
        let s = shares(&p, 0, r);
        ["country_2", "country_5", "country_8"]
            .iter()
            .map(|c| s.get(*c).copied().unwrap_or(0.0))
            .sum::<f64>()
    };
    let (h0, h1) = (hot(0..c1), hot(c1..n));
    assert!((h0 - 0.3).abs() < 0.02, "hot share before {h0}");
    assert!((h1 - 0.6).abs() < 0.02, "hot share after {h1}");
    let new_share =
        |r: std::ops::Range<usize>| shares(&p, 1, r).get(NEW_DEVICE).copied().unwrap_or(0.0);
    assert_eq!(new_share(0..c2), 0.0, "device_new before its onset");
    let s = new_share(c2..n);
    assert!((s - 0.10).abs() < 0.015, "device_new share {s}");
    assert!(p.cat[c2..].iter().take(200).any(|c| c[1] == NEW_DEVICE));
    for r in [0..c1, c1..c2, c2..n] {
        let e = error_rate(&p, r);
        assert!((e - 0.10).abs() < 0.015, "error rate {e}");
    }
}

#[test]
fn concept_drift_changes_only_the_labels() {
    let n = 40_000;
    let (g, p) = gen_kind(StreamKind::Concept, n);
    let d = &g.truth.drifts[0];
    assert!(d.concept_changed && d.features.is_empty());
    let c = d.onset_index as usize;
    let (before, after) = (0..c, c..n);
    assert!(moved_features(&p, before.clone(), after.clone()).is_empty());
    let rate = |r: std::ops::Range<usize>| mean(r.map(|i| f64::from(u8::from(p.predicted[i]))));
    let (rb, ra) = (rate(before.clone()), rate(after.clone()));
    assert!(
        (rb - ra).abs() < 0.02,
        "predicted positive rate {rb} -> {ra}"
    );
    let (eb, ea) = (
        error_rate(&p, before.clone()),
        error_rate(&p, after.clone()),
    );
    assert!((eb - 0.10).abs() < 0.015, "error before {eb}");
    assert!((ea - 0.30).abs() < 0.03, "error after {ea}");
    // The jump is at the onset, not somewhere near it.
    let (e1, e2) = (error_rate(&p, c - 4_000..c), error_rate(&p, c..c + 4_000));
    assert!(e1 < 0.14 && e2 > 0.24, "{e1} {e2}");
}

#[test]
fn gradual_drift_follows_its_sigmoid() {
    let n = 40_000;
    let (g, p) = gen_kind(StreamKind::Gradual, n);
    let d = &g.truth.drifts[0];
    assert_eq!(d.drift_type, DriftType::Gradual);
    assert!(d.concept_changed);
    let (onset, center, end) = (
        d.onset_index as usize,
        d.center_index.unwrap() as usize,
        d.end_index.unwrap() as usize,
    );
    assert_eq!((onset, center, end), (22_000, 24_000, 26_000));
    assert_eq!(moved_features(&p, 0..onset, end..n), truth_features(&g, 0));
    // Share of new-regime events: ~0 well before, ~1/2 around the centre, ~1 after the end.
    let m0 = |r: std::ops::Range<usize>| num_mean(&p, 0, r);
    let (early, mid, late) = (
        m0(0..onset - 2_000),
        m0(center - 500..center + 500),
        m0(end + 2_000..n),
    );
    assert!(early.abs() < 0.03, "num_0 early {early}");
    assert!((mid - 0.5).abs() < 0.1, "num_0 at the centre {mid}");
    assert!((late - 1.0).abs() < 0.04, "num_0 late {late}");
    let m5 = num_mean(&p, 5, end + 2_000..n);
    assert!((m5 + 0.5).abs() < 0.04, "num_5 late {m5}");
    // Monotone transition: means of consecutive 2,000-event blocks across the window rise
    // (expected shares of the new regime ~0.05, 0.27, 0.73, 0.95).
    let blocks: Vec<f64> = [onset - 2_000, onset, center, end]
        .iter()
        .map(|&s| m0(s..s + 2_000))
        .collect();
    assert!(blocks.windows(2).all(|w| w[0] < w[1]), "{blocks:?}");
    let (eb, ea) = (error_rate(&p, 0..onset), error_rate(&p, end..n));
    assert!((eb - 0.10).abs() < 0.015, "error before {eb}");
    assert!(ea > eb + 0.08, "error {eb} -> {ea}");
}

#[test]
fn written_files_have_the_shared_names_and_the_truth_reads_back() {
    let g = generate(&StreamSpec::new(StreamKind::CategoricalShift).events(500)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_to_dir(&g, &dir.path().join("sub"), "cs").unwrap();
    let base = dir.path().join("sub");
    let preds = std::fs::read_to_string(base.join("cs.predictions.jsonl")).unwrap();
    assert_eq!(preds.lines().collect::<Vec<_>>(), g.predictions);
    assert!(preds.ends_with('\n'));
    let fb = std::fs::read_to_string(base.join("cs.feedback.jsonl")).unwrap();
    assert_eq!(fb.lines().count(), g.feedback.len());
    let truth: Truth =
        serde_json::from_str(&std::fs::read_to_string(base.join("cs.truth.json")).unwrap())
            .unwrap();
    assert_eq!(truth.stream.as_deref(), Some("cs"));
    assert_eq!(
        truth.files.as_ref().unwrap().predictions,
        "cs.predictions.jsonl"
    );
    // Everything else reads back exactly.
    let mut expected = g.truth.clone();
    expected.stream = truth.stream.clone();
    expected.files = truth.files.clone();
    assert_eq!(truth, expected);
}

#[test]
fn generated_truth_scores_an_oracle_as_perfect_and_a_wrong_feature_as_false() {
    let g = generate(&StreamSpec::new(StreamKind::CategoricalShift).events(10_000)).unwrap();
    let mut onsets = Vec::new();
    for d in &g.truth.drifts {
        for f in d.features.keys() {
            onsets.push(Onset {
                ts: d.onset_ts.clone().unwrap(),
                model: g.model.clone(),
                kind: OnsetKind::Data,
                feature: Some(f.clone()),
                test: "chi2".to_owned(),
                statistic: 1.0,
                p_value: None,
                threshold: 0.5,
                event_index: d.onset_index + 100,
            });
        }
    }
    let mut wrong = onsets[0].clone();
    wrong.feature = Some("cat_2".to_owned());
    onsets.push(wrong);
    let r = score(&onsets, &g.truth);
    assert_eq!((r.summary.detected, r.summary.missed), (2, 0));
    assert_eq!(r.summary.false_alarms, 1);
    assert_eq!(r.summary.false_alarms_by_stream["data:cat_2"], 1);
    assert_eq!(r.summary.max_delay_events, Some(100));
    assert_eq!(r.summary.mean_delay_seconds, Some(0.0));
}

#[test]
fn exp_det_matches_the_platform_exp() {
    let mut x = -40.0;
    while x < 40.0 {
        let (a, b) = (exp_det(x), x.exp());
        assert!(((a - b) / b).abs() < 1e-14, "exp({x}): {a} vs {b}");
        x += 0.0137;
    }
    assert_eq!(exp_det(0.0), 1.0);
    assert!(exp_det(-1e9) > 0.0 && exp_det(1e9).is_finite());
    assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
}

#[test]
fn specs_and_names_are_validated() {
    assert_eq!(
        generate(&StreamSpec::new(StreamKind::Stable).events(99)),
        Err(StreamError::TooFewEvents(99))
    );
    assert!(generate(&StreamSpec::new(StreamKind::Gradual).events(MIN_EVENTS)).is_ok());
    for k in StreamKind::ALL {
        assert_eq!(k.name().parse::<StreamKind>(), Ok(k));
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            serde_json::Value::from(k.name())
        );
    }
    assert!("sea".parse::<StreamKind>().is_err());
    let all = generate_all(200, 1).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(fmt_ms(START_MS), "2026-01-01T00:00:00.000Z");
}
