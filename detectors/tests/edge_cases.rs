//! Edge cases of the sample-based tests have defined results: empty and tiny samples, all-missing
//! and all-NaN input, constant columns, a single category, unseen categories only.

mod common;

use driftd_detectors::auto::AutoPolicy;
use driftd_detectors::twosample::{
    CategoricalTest, CategoryCounts, Insufficient, MIN_SAMPLES, NumericTest, Sample, TestOutcome,
};

fn categorical_tests() -> Vec<CategoricalTest> {
    vec![
        CategoricalTest::ChiSquare { alpha: 0.05 },
        CategoricalTest::ZTest { alpha: 0.05 },
        CategoricalTest::Psi { threshold: 0.1 },
        CategoricalTest::JensenShannon { threshold: 0.1 },
        CategoricalTest::Hellinger { threshold: 0.1 },
        CategoricalTest::KullbackLeibler { threshold: 0.1 },
        CategoricalTest::LInfinity { threshold: 0.1 },
    ]
}

fn all_finite(o: &TestOutcome) -> bool {
    match o {
        TestOutcome::Computed(v) => {
            v.statistic.is_finite() && v.p_value.is_none_or(|p| (0.0..=1.0).contains(&p))
        }
        TestOutcome::NotEnoughData { .. } => true,
    }
}

#[test]
fn empty_tiny_and_all_nan_samples_are_not_enough_data() {
    let normal: Vec<f64> = (0..100).map(|i| (f64::from(i) * 0.37).sin()).collect();
    let reference = Sample::new(&normal);
    let nan = Sample::new(&[f64::NAN; 50]);
    for current in [
        Sample::new(&[]),
        Sample::new(&[1.0, 2.0, 3.0, 4.0]),
        nan.clone(),
    ] {
        for t in common::numeric_tests() {
            for out in [
                t.evaluate(&reference, &current),
                t.evaluate(&current, &reference),
            ] {
                assert!(
                    matches!(
                        out,
                        TestOutcome::NotEnoughData {
                            reason: Insufficient::TooFewObservations {
                                needed: MIN_SAMPLES
                            },
                            ..
                        }
                    ),
                    "{t:?}: {out:?}"
                );
            }
        }
    }
    assert_eq!(nan.non_finite(), 50);
    // The raw-values path agrees.
    for t in common::numeric_tests() {
        assert!(matches!(
            t.evaluate_values(&normal, &[f64::INFINITY; 9]),
            TestOutcome::NotEnoughData { .. }
        ));
    }
}

#[test]
fn non_finite_values_are_dropped_and_counted_never_propagated() {
    let mut xs: Vec<f64> = (0..200).map(|i| f64::from(i % 17)).collect();
    let clean = Sample::new(&xs);
    xs.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    let dirty = Sample::new(&xs);
    for t in common::numeric_tests() {
        let (a, b) = (t.evaluate(&clean, &clean), t.evaluate(&clean, &dirty));
        let (va, vb) = (a.verdict().unwrap(), b.verdict().unwrap());
        assert_eq!(va.statistic, vb.statistic, "{t:?}");
        assert_eq!(vb.ignored_current, 3);
        assert!(all_finite(&b));
    }
}

#[test]
fn constant_columns_have_defined_results() {
    let c4 = Sample::new(&[4.0; 100]);
    let c5 = Sample::new(&[5.0; 100]);
    for t in common::numeric_tests() {
        let same = t.evaluate(&c4, &c4);
        assert!(!same.drift() && all_finite(&same), "{t:?}: {same:?}");
        let moved = t.evaluate(&c4, &c5);
        assert!(all_finite(&moved), "{t:?}: {moved:?}");
        match t {
            NumericTest::AndersonDarling { .. } => {
                assert!(matches!(
                    same,
                    TestOutcome::NotEnoughData {
                        reason: Insufficient::NoVariation,
                        ..
                    }
                ));
                assert!(moved.drift());
            }
            NumericTest::WassersteinNormed { .. } => {
                assert!(matches!(
                    moved,
                    TestOutcome::NotEnoughData {
                        reason: Insufficient::ConstantReference,
                        ..
                    }
                ));
            }
            _ => assert!(
                moved.drift(),
                "{t:?}: a moved constant must drift: {moved:?}"
            ),
        }
    }
    // The automatic policy treats a constant column as a category and flags the move.
    let v = AutoPolicy::default().evaluate_numeric(&c4, &c5);
    assert!(v.drift, "{v:?}");
}

#[test]
fn categorical_edge_cases() {
    let single = CategoryCounts::from_values(std::iter::repeat_n(Some("a"), 40));
    let missing = CategoryCounts::from_values(std::iter::repeat_n(None::<&str>, 40));
    let only_new = CategoryCounts::from_values(std::iter::repeat_n(Some("zzz"), 40));
    for t in categorical_tests() {
        let same = t.evaluate(&single, &single);
        assert!(!same.drift() && all_finite(&same), "{t:?}: {same:?}");
        let none = t.evaluate(&single, &missing);
        assert!(
            matches!(none, TestOutcome::NotEnoughData { .. }),
            "{t:?}: {none:?}"
        );
        let new = t.evaluate(&single, &only_new);
        assert!(all_finite(&new), "{t:?}: {new:?}");
        assert!(
            new.drift(),
            "{t:?}: a window made only of unseen categories must drift: {new:?}"
        );
        let unseen = new.verdict().unwrap().unseen.clone().unwrap();
        assert_eq!((unseen.count, unseen.share), (40, 1.0));
        assert_eq!(unseen.examples, vec![("zzz".to_string(), 40)]);
    }
    assert_eq!(missing.missing(), 40);
}
