//! Automatic test choice per feature, multiple-testing correction and the dataset-drift rule.

use driftd_detectors::auto::{AutoPolicy, FeatureVerdict};
use driftd_detectors::dataset::{self, Correction, DatasetPolicy};
use driftd_detectors::summary::{
    CategoricalSummary, FeatureSummary, NumericSummary, SummarySettings,
};
use driftd_detectors::synth::{Dist, Rng};
use driftd_detectors::twosample::{CategoryCounts, Insufficient, Sample, TestName, TestOutcome};

fn normal(seed: u64, n: usize, loc: f64) -> Vec<f64> {
    Dist::Normal { loc, scale: 1.0 }.sample_n(&mut Rng::new(seed), n)
}

#[test]
fn evidently_rule_picks_the_documented_tests() {
    let p = AutoPolicy::default();
    let small = p.evaluate_numeric(
        &Sample::new(&normal(1, 500, 0.0)),
        &Sample::new(&normal(2, 500, 0.0)),
    );
    assert_eq!(small.outcome.test(), TestName::Ks);
    let large = p.evaluate_numeric(
        &Sample::new(&normal(1, 5_000, 0.0)),
        &Sample::new(&normal(2, 500, 0.0)),
    );
    assert_eq!(large.outcome.test(), TestName::WassersteinNormed);
    // A 0/1 numeric flag is tested as categories: Z-test when small, Jensen–Shannon when large.
    let flag = |seed, n, p| Dist::Bernoulli { p }.sample_n(&mut Rng::new(seed), n);
    let z = p.evaluate_numeric(
        &Sample::new(&flag(3, 300, 0.3)),
        &Sample::new(&flag(4, 300, 0.5)),
    );
    assert_eq!(z.outcome.test(), TestName::ZTest);
    assert!(z.drift);
    let js = p.evaluate_numeric(
        &Sample::new(&flag(3, 3_000, 0.3)),
        &Sample::new(&flag(4, 3_000, 0.3)),
    );
    assert_eq!(js.outcome.test(), TestName::JensenShannon);
    assert!(!js.drift);
    // Three categories, small sample: chi-square.
    let cats = |seed, n| {
        let xs = Dist::Categorical {
            weights: vec![1.0, 1.0, 1.0],
        }
        .sample_n(&mut Rng::new(seed), n);
        CategoryCounts::from_values(xs.iter().map(|x| Some(format!("k{x}"))))
    };
    assert_eq!(
        p.evaluate_categorical(&cats(5, 200), &cats(6, 200))
            .outcome
            .test(),
        TestName::ChiSquare
    );
}

#[test]
fn effect_floor_stops_trivial_significant_shifts_but_not_real_ones() {
    let forced = AutoPolicy {
        small_sample_max: u64::MAX,
        ..AutoPolicy::default()
    };
    let r = Sample::new(&normal(10, 100_000, 0.0));
    let tiny = forced.evaluate_numeric(&r, &Sample::new(&normal(11, 100_000, 0.03)));
    assert!(tiny.outcome.drift() && !tiny.drift, "{tiny:?}");
    assert!(tiny.effect.unwrap() < 0.1);
    let real = forced.evaluate_numeric(&r, &Sample::new(&normal(12, 100_000, 0.3)));
    assert!(real.drift && real.effect.unwrap() > 0.25);
    // Without the floor (Evidently), the tiny shift is an alert.
    let evidently = AutoPolicy {
        small_sample_max: u64::MAX,
        ..AutoPolicy::evidently()
    };
    assert!(
        evidently
            .evaluate_numeric(&r, &Sample::new(&normal(11, 100_000, 0.03)))
            .drift
    );
}

#[test]
fn summaries_give_the_same_choice_and_decision_as_samples() {
    let settings = SummarySettings::default();
    let policy = AutoPolicy::default();
    for (seed, shift) in [(20u64, 0.0), (22, 0.5)] {
        let (r, c) = (normal(seed, 20_000, 0.0), normal(seed + 1, 50_000, shift));
        let profile = NumericSummary::reference(&r, &settings).unwrap();
        let mut window = profile.empty_window();
        c.iter().for_each(|x| window.update(*x));
        let from_samples = policy.evaluate_numeric(&Sample::new(&r), &Sample::new(&c));
        let from_summaries = policy
            .evaluate_summaries(
                &FeatureSummary::Numeric(profile),
                &FeatureSummary::Numeric(window),
            )
            .unwrap();
        assert_eq!(from_samples.outcome.test(), from_summaries.outcome.test());
        assert_eq!(from_samples.drift, from_summaries.drift, "shift {shift}");
    }
    // Low-cardinality numeric: exact value counts make the summary path exact.
    let rating = |seed, n| Dist::Discrete { k: 4 }.sample_n(&mut Rng::new(seed), n);
    let (r, c) = (rating(30, 5_000), rating(31, 4_000));
    let profile = NumericSummary::reference(&r, &settings).unwrap();
    let mut window = profile.empty_window();
    c.iter().for_each(|x| window.update(*x));
    let a = policy.evaluate_numeric(&Sample::new(&r), &Sample::new(&c));
    let b = policy
        .evaluate_summaries(
            &FeatureSummary::Numeric(profile),
            &FeatureSummary::Numeric(window),
        )
        .unwrap();
    assert_eq!(a.outcome.test(), TestName::JensenShannon);
    assert_eq!(
        a.outcome.verdict().unwrap().statistic,
        b.outcome.verdict().unwrap().statistic
    );
    // Categorical summaries.
    let cats = |seed, n| {
        let xs = Dist::Categorical {
            weights: vec![3.0, 2.0, 1.0, 1.0],
        }
        .sample_n(&mut Rng::new(seed), n);
        CategoryCounts::from_values(xs.iter().map(|x| Some(format!("k{x}"))))
    };
    let (rc, cc) = (cats(40, 800), cats(41, 900));
    let profile = CategoricalSummary::reference(&rc, &settings).unwrap();
    let mut window = profile.empty_window();
    for (k, n) in cc.iter() {
        for _ in 0..n {
            window.update(Some(k));
        }
    }
    let a = policy.evaluate_categorical(&rc, &cc);
    let b = policy
        .evaluate_summaries(
            &FeatureSummary::Categorical(profile),
            &FeatureSummary::Categorical(window),
        )
        .unwrap();
    assert_eq!(a, b);
}

fn verdicts(n_features: usize, drifting: usize, seed: u64) -> Vec<(String, FeatureVerdict)> {
    let policy = AutoPolicy::default();
    (0..n_features)
        .map(|i| {
            let shift = if i < drifting { 0.6 } else { 0.0 };
            let r = Sample::new(&normal(seed + 2 * i as u64, 300, 0.0));
            let c = Sample::new(&normal(seed + 2 * i as u64 + 1, 300, shift));
            (format!("f{i}"), policy.evaluate_numeric(&r, &c))
        })
        .collect()
}

#[test]
fn correction_reduces_false_alarms_on_a_stable_dataset() {
    // 400 stable features tested with KS at alpha 0.05: without correction about 5 % flag.
    let features = verdicts(400, 0, 1_000);
    let raw = dataset::evaluate(
        features.clone(),
        &DatasetPolicy {
            correction: Correction::None,
            effect_floor: None,
            drift_share: 0.5,
        },
    );
    let bh = dataset::evaluate(
        features.clone(),
        &DatasetPolicy {
            correction: Correction::BenjaminiHochberg,
            effect_floor: None,
            drift_share: 0.5,
        },
    );
    let bonf = dataset::evaluate(
        features,
        &DatasetPolicy {
            correction: Correction::Bonferroni,
            effect_floor: None,
            drift_share: 0.5,
        },
    );
    // (Measured: 23 of 400 flagged, the nominal 5 %; 0 after either correction.)
    assert!(
        raw.drifted >= 5,
        "expected chance alarms without correction, got {}",
        raw.drifted
    );
    assert!(
        bh.drifted <= 2 && bonf.drifted <= 2,
        "bh {} bonferroni {}",
        bh.drifted,
        bonf.drifted
    );
    assert!(!raw.dataset_drift && !bh.dataset_drift);
    assert_eq!(raw.features.len(), 400);
    assert!(raw.features.iter().all(|f| f.adjusted_p_value.is_some()));
}

#[test]
fn dataset_drift_rule_counts_the_share_of_drifted_features() {
    let policy = DatasetPolicy::default();
    let mostly = dataset::evaluate(verdicts(10, 6, 2_000), &policy);
    assert_eq!(mostly.evaluated, 10);
    assert!(mostly.drifted >= 5, "{}", mostly.drifted);
    assert_eq!(mostly.dataset_drift, mostly.share >= 0.5);
    let few = dataset::evaluate(verdicts(10, 2, 3_000), &policy);
    assert!(few.drifted <= 3 && !few.dataset_drift);
    // Every feature's detail is kept: the two shifted features are found by name; a stable one may
    // still be flagged by chance (BH bounds the expected share of such alarms, not their number).
    let flagged: Vec<&str> = few
        .features
        .iter()
        .filter(|f| f.drift)
        .map(|f| f.name.as_str())
        .collect();
    assert!(
        flagged.contains(&"f0") && flagged.contains(&"f1"),
        "{flagged:?}"
    );

    // Features without enough data are reported but not counted.
    let mut with_tiny = verdicts(2, 2, 4_000);
    let tiny =
        AutoPolicy::default().evaluate_numeric(&Sample::new(&[1.0, 2.0]), &Sample::new(&[3.0]));
    assert!(matches!(
        tiny.outcome,
        TestOutcome::NotEnoughData {
            reason: Insufficient::TooFewObservations { .. },
            ..
        }
    ));
    with_tiny.push(("tiny".into(), tiny));
    let r = dataset::evaluate(with_tiny, &policy);
    assert_eq!((r.features.len(), r.evaluated, r.drifted), (3, 2, 2));
    assert!(r.dataset_drift);
    // Nothing evaluable: no dataset drift.
    let none = dataset::evaluate(Vec::new(), &policy);
    assert!(!none.dataset_drift && none.share == 0.0);
}
