//! The shadow gate's decisions on seeded paired outcomes, decision records, and a candidate
//! retrained after concept drift beating the pre-drift model end to end.

mod common;

use driftd_detectors::synth::Rng;
use driftd_retrain::stats::{ShadowTest, WilcoxonMethod};
use driftd_retrain::{
    AlgorithmConfig, Decision, DecisionRecord, DecisionTreeParams, EncoderConfig, Example,
    Features, ShadowDecision, ShadowPolicy, ShadowTally, Target, Task, TrainedModel, Value,
    evaluate, shadow_decision, split_by_time, train, validation_gate,
};

/// A classification tally where the live model is right with probability `p_live` and the
/// candidate with `p_cand`, independently.
fn classification_tally(seed: u64, n: usize, p_live: f64, p_cand: f64) -> ShadowTally {
    let mut rng = Rng::new(seed);
    let mut t = ShadowTally::new(Task::Classification, &ShadowPolicy::default());
    for i in 0..n {
        let live = rng.uniform() < p_live;
        let cand = rng.uniform() < p_cand;
        t.record_classification(i as i64, live, cand).unwrap();
    }
    t
}

/// A regression tally: truth ~ N(0, 1), live error sd `sd_live`, candidate error sd `sd_cand`.
fn regression_tally(seed: u64, n: usize, sd_live: f64, sd_cand: f64, cap: usize) -> ShadowTally {
    let mut rng = Rng::new(seed);
    let mut t = ShadowTally::with_capacity(Task::Regression, cap);
    for i in 0..n {
        let truth = rng.normal();
        let live = truth + sd_live * rng.normal();
        let cand = truth + sd_cand * rng.normal();
        t.record_regression(i as i64, truth, live, cand).unwrap();
    }
    t
}

#[test]
fn clearly_better_classifier_is_promoted() {
    let policy = ShadowPolicy::default();
    let d = shadow_decision(&classification_tally(1, 2000, 0.80, 0.90), &policy);
    assert_eq!(d.decision, Decision::Promote, "{}", d.record.reason);
    let r = &d.record;
    assert_eq!(r.test, Some(ShadowTest::McnemarChi2));
    assert!(r.p_value.unwrap() < policy.alpha);
    assert!(r.effect.unwrap() >= policy.min_effect);
    assert!(r.counts.c > r.counts.b);
    assert_eq!(r.counts.n, 2000);
    assert_eq!(r.window.pairs_used, 2000);
    assert_eq!((r.window.from_ms, r.window.to_ms), (Some(0), Some(1999)));
    let (live, cand) = (r.live_metric.unwrap(), r.candidate_metric.unwrap());
    assert!((cand - live - r.effect.unwrap()).abs() < 1e-12);
}

#[test]
fn few_discordant_pairs_use_the_exact_test() {
    let policy = ShadowPolicy::default();
    let mut t = ShadowTally::new(Task::Classification, &policy);
    // 300 pairs, both right on 280; candidate alone right on 18, live alone on 2.
    for i in 0..300 {
        let (live, cand) = match i {
            0..280 => (true, true),
            280..298 => (false, true),
            _ => (true, false),
        };
        t.record_classification(i, live, cand).unwrap();
    }
    let d = shadow_decision(&t, &policy);
    assert_eq!(d.record.test, Some(ShadowTest::McnemarExact));
    assert_eq!((d.record.counts.b, d.record.counts.c), (2, 18));
    // P(X >= 18 | n = 20, p = 1/2) = 211 / 2^20
    assert!((d.record.p_value.unwrap() - 211.0 / 1_048_576.0).abs() < 1e-15);
    assert_eq!(d.decision, Decision::Promote, "{}", d.record.reason);
}

#[test]
fn equal_models_continue() {
    // Documented rule: no significant difference → Continue (the daemon's time limit then ends it
    // as inconclusive).
    let policy = ShadowPolicy::default();
    // Identical predictions: no discordant pair, p = 1.
    let mut same = ShadowTally::new(Task::Classification, &policy);
    let mut same_r = ShadowTally::new(Task::Regression, &policy);
    for i in 0..1000 {
        same.record_classification(i, i % 5 != 0, i % 5 != 0)
            .unwrap();
        same_r.record_regression(i, 1.0, 1.5, 1.5).unwrap();
    }
    for t in [&same, &same_r] {
        let d = shadow_decision(t, &policy);
        assert_eq!(d.decision, Decision::Continue, "{}", d.record.reason);
        assert_eq!(d.record.p_value, Some(1.0));
        assert_eq!(d.record.effect, Some(0.0));
    }
    // Equally good, different mistakes, perfectly balanced: b = c.
    let mut balanced = ShadowTally::new(Task::Classification, &policy);
    for i in 0..1000 {
        balanced
            .record_classification(i, i % 10 != 0, i % 10 != 1)
            .unwrap();
    }
    let d = shadow_decision(&balanced, &policy);
    assert_eq!((d.record.counts.b, d.record.counts.c), (100, 100));
    assert_eq!(d.decision, Decision::Continue, "{}", d.record.reason);

    let ended = d.clone().into_inconclusive("no decision after 7 days");
    assert_eq!(ended.decision, Decision::Inconclusive);
    assert_eq!(ended.record.counts, d.record.counts, "evidence kept");
    assert_eq!(
        ShadowDecision::inconclusive("no pairs in 7 days").decision,
        Decision::Inconclusive
    );
}

#[test]
fn equal_models_are_rarely_promoted_or_rejected() {
    // Equally accurate models with independent mistakes: each one-sided test fires at rate
    // <= alpha = 5 % on a single look (the effect floor makes promotion rarer still).
    let policy = ShadowPolicy::default();
    let runs = 200;
    let (mut promote, mut reject) = (0, 0);
    for seed in 0..runs {
        let d = shadow_decision(
            &classification_tally(1000 + seed, 2000, 0.85, 0.85),
            &policy,
        );
        match d.decision {
            Decision::Promote => promote += 1,
            Decision::Reject => reject += 1,
            _ => {}
        }
    }
    eprintln!("equal classifiers: {promote} promoted, {reject} rejected of {runs}");
    assert!(
        promote <= 16 && reject <= 16,
        "classification: {promote} promoted, {reject} rejected of {runs}"
    );
    let (mut promote, mut reject) = (0, 0);
    for seed in 0..100 {
        let d = shadow_decision(
            &regression_tally(5000 + seed, 1000, 1.0, 1.0, 5000),
            &policy,
        );
        match d.decision {
            Decision::Promote => promote += 1,
            Decision::Reject => reject += 1,
            _ => {}
        }
    }
    eprintln!("equal regressors: {promote} promoted, {reject} rejected of 100");
    assert!(
        promote <= 9 && reject <= 9,
        "regression: {promote} promoted, {reject} rejected of 100"
    );
}

#[test]
fn too_few_pairs_continue_even_with_strong_evidence() {
    let policy = ShadowPolicy::default();
    let t = classification_tally(4, 150, 0.5, 1.0);
    let d = shadow_decision(&t, &policy);
    assert_eq!(d.decision, Decision::Continue);
    assert!(
        d.record.p_value.unwrap() < 1e-6,
        "the test is still recorded"
    );
    assert!(
        d.record.reason.contains("150 of 200 pairs"),
        "{}",
        d.record.reason
    );
    let t = regression_tally(5, 150, 1.0, 0.1, 5000);
    assert_eq!(shadow_decision(&t, &policy).decision, Decision::Continue);
}

#[test]
fn clearly_worse_candidate_is_rejected() {
    let policy = ShadowPolicy::default();
    let d = shadow_decision(&classification_tally(6, 2000, 0.90, 0.80), &policy);
    assert_eq!(d.decision, Decision::Reject, "{}", d.record.reason);
    assert!(d.record.p_value_worse.unwrap() < policy.alpha);
    assert!(d.record.p_value.unwrap() > 0.5);
    let d = shadow_decision(&regression_tally(7, 2000, 1.0, 1.3, 5000), &policy);
    assert_eq!(d.decision, Decision::Reject, "{}", d.record.reason);
}

#[test]
fn significant_but_small_improvement_continues() {
    // 20,000 pairs, candidate better by about 0.7 points: significant, below min_effect = 0.01.
    let policy = ShadowPolicy::default();
    let mut t = ShadowTally::new(Task::Classification, &policy);
    for i in 0..20_000 {
        let (live, cand) = match i % 1000 {
            0..850 => (true, true),
            850..862 => (false, true),
            862..867 => (true, false),
            _ => (false, false),
        };
        t.record_classification(i, live, cand).unwrap();
    }
    let d = shadow_decision(&t, &policy);
    assert!(d.record.p_value.unwrap() < 0.01);
    assert!((d.record.effect.unwrap() - 0.007).abs() < 1e-12);
    assert_eq!(d.decision, Decision::Continue, "{}", d.record.reason);
    assert!(
        d.record.reason.contains("below minimum"),
        "{}",
        d.record.reason
    );
    let lenient = ShadowPolicy {
        min_effect: 0.005,
        ..policy
    };
    assert_eq!(shadow_decision(&t, &lenient).decision, Decision::Promote);
}

#[test]
fn better_regressor_is_promoted_on_the_newest_window() {
    let policy = ShadowPolicy::default();
    let t = regression_tally(8, 8000, 1.0, 0.8, 5000);
    let d = shadow_decision(&t, &policy);
    assert_eq!(d.decision, Decision::Promote, "{}", d.record.reason);
    let r = &d.record;
    assert_eq!(r.test, Some(ShadowTest::WilcoxonSignedRank));
    assert_eq!(r.method, Some(WilcoxonMethod::Asymptotic));
    assert!(r.p_value.unwrap() < 1e-10);
    assert!((r.effect.unwrap() - 0.2).abs() < 0.05, "{:?}", r.effect);
    assert_eq!(r.window.pairs_seen, 8000);
    assert_eq!(r.window.pairs_used, 5000);
    assert_eq!(r.window.from_ms, Some(3000));
    assert_eq!(r.counts.b + r.counts.c, 5000);
}

#[test]
fn decision_records_serialise() {
    let policy = ShadowPolicy::default();
    for (tally, test) in [
        (classification_tally(9, 1000, 0.7, 0.9), "mcnemar_chi2"),
        (
            regression_tally(9, 500, 1.0, 0.5, 5000),
            "wilcoxon_signed_rank",
        ),
    ] {
        let d = shadow_decision(&tally, &policy);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["decision"], "promote");
        assert_eq!(json["record"]["test"], test);
        for key in [
            "statistic",
            "p_value",
            "counts",
            "effect",
            "window",
            "reason",
            "policy",
        ] {
            assert!(!json["record"][key].is_null(), "{key} missing in {json}");
        }
        let back: ShadowDecision = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
        let record: DecisionRecord =
            serde_json::from_str(&serde_json::to_string(&d.record).unwrap()).unwrap();
        assert_eq!(record, d.record);
    }
    // The exact test's name.
    let mut t = ShadowTally::new(Task::Classification, &policy);
    t.record_classification(0, false, true).unwrap();
    let json = serde_json::to_value(shadow_decision(&t, &policy)).unwrap();
    assert_eq!(json["record"]["test"], "mcnemar_exact");
    assert_eq!(json["decision"], "continue");
}

#[test]
fn tallies_survive_a_checkpoint() {
    let policy = ShadowPolicy::default();
    let t = regression_tally(11, 700, 1.0, 0.9, 600);
    let back: ShadowTally = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
    assert_eq!(
        shadow_decision(&back, &policy),
        shadow_decision(&t, &policy)
    );
}

// ---- end to end: concept drift ----

/// x1, x2 uniform in [-1, 1], a noise category. Before `drift_at` the label is `x1 > 0`; from it on
/// the rule flips where `x2 > 0` (half the space). 2 % label noise.
fn drift_stream(seed: u64, from: i64, to: i64, drift_at: i64) -> Vec<Example> {
    let mut rng = Rng::new(seed);
    (from..to)
        .map(|t| {
            let x1 = 2.0 * rng.uniform() - 1.0;
            let x2 = 2.0 * rng.uniform() - 1.0;
            let shop = ["web", "app", "store"][(rng.uniform() * 3.0) as usize % 3];
            let mut y = x1 > 0.0;
            if t >= drift_at && x2 > 0.0 {
                y = !y;
            }
            if rng.uniform() < 0.02 {
                y = !y;
            }
            let mut f = Features::new();
            f.insert("x1".into(), Value::Number(x1));
            f.insert("x2".into(), Value::Number(x2));
            f.insert("shop".into(), Value::from(shop));
            Example {
                ts_ms: t * 1000,
                features: f,
                target: Target::Label(if y { "fraud" } else { "ok" }.into()),
                source: None,
            }
        })
        .collect()
}

fn shadow(live: &TrainedModel, candidate: &TrainedModel, traffic: &[Example]) -> ShadowTally {
    let mut tally = ShadowTally::new(Task::Classification, &ShadowPolicy::default());
    let rows: Vec<Features> = traffic.iter().map(|e| e.features.clone()).collect();
    let (l, c) = (live.predict_batch(&rows), candidate.predict_batch(&rows));
    for ((e, l), c) in traffic.iter().zip(l).zip(c) {
        let truth = e.target.label().unwrap();
        tally
            .record_labels(
                e.ts_ms,
                truth,
                l.target.label().unwrap(),
                c.target.label().unwrap(),
            )
            .unwrap();
    }
    tally
}

#[test]
fn candidate_retrained_after_concept_drift_is_promoted() {
    const DRIFT: i64 = 3000;
    let stream = drift_stream(42, 0, 5000, DRIFT);
    let algo = AlgorithmConfig::DecisionTree(DecisionTreeParams {
        max_depth: Some(6),
        ..Default::default()
    });
    let enc = EncoderConfig::default();
    let (pre, post): (Vec<Example>, Vec<Example>) =
        stream.into_iter().partition(|e| e.ts_ms < DRIFT * 1000);

    // The live model learned the old rule.
    let live = train(Task::Classification, &algo, &enc, &pre).unwrap();

    // After the drift alarm: retrain on the first 1,000 post-drift examples, validate on the
    // most recent 20 % of them against the live model on the same examples.
    let (train_ex, validation) = split_by_time(post[..1000].to_vec(), 0.2);
    let candidate = train(Task::Classification, &algo, &enc, &train_ex).unwrap();
    let cand_m = evaluate(&candidate, &validation).unwrap();
    let live_m = evaluate(&live, &validation).unwrap();
    let gate = validation_gate(&cand_m, Some(&live_m), 0.01);
    assert!(gate.pass, "{}", gate.reason);

    // Shadow on the following post-drift traffic.
    let tally = shadow(&live, &candidate, &post[1000..]);
    let d = shadow_decision(&tally, &ShadowPolicy::default());
    assert_eq!(d.decision, Decision::Promote, "{}", d.record.reason);
    assert!(d.record.p_value.unwrap() < 0.05);
    // The live model is right on about half the post-drift space, the candidate on nearly all.
    let (l, c) = (
        d.record.live_metric.unwrap(),
        d.record.candidate_metric.unwrap(),
    );
    eprintln!(
        "after drift: live accuracy {l:.3}, candidate {c:.3}, {}",
        d.record.reason
    );
    assert!(l < 0.65 && c > 0.9, "live {l}, candidate {c}");
}

#[test]
fn candidate_retrained_without_drift_is_not_promoted() {
    // Control: no drift, a candidate trained on more recent data of the same concept.
    let stream = drift_stream(43, 0, 5000, i64::MAX);
    let algo = AlgorithmConfig::DecisionTree(DecisionTreeParams {
        max_depth: Some(6),
        ..Default::default()
    });
    let enc = EncoderConfig::default();
    let live = train(Task::Classification, &algo, &enc, &stream[..3000]).unwrap();
    let candidate = train(Task::Classification, &algo, &enc, &stream[3000..4000]).unwrap();
    let tally = shadow(&live, &candidate, &stream[4000..]);
    let d = shadow_decision(&tally, &ShadowPolicy::default());
    assert_ne!(d.decision, Decision::Promote, "{}", d.record.reason);
}
