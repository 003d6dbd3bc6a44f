//! Property tests (proptest) of the tests' invariants: identical samples show no drift, symmetric
//! statistics are symmetric, results do not depend on input order, the weighted (summary) kernels
//! equal the exact ones on unit weights, and stream detectors resume exactly after a checkpoint.

mod common;

use driftd_detectors::dataset::{Correction, adjust};
use driftd_detectors::stream::{AnyDetector, DetectorConfig, InputKind, StreamDetector};
use driftd_detectors::summary::SortedView;
use driftd_detectors::twosample::{
    Bins, CategoricalTest, CategoryCounts, Sample, binned, categorical, numeric, weighted,
};
use proptest::prelude::*;

/// Samples with ties (values on a coarse grid) or continuous values, 5..120 long.
fn sample() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec(-1e3f64..1e3, 5..120),
        prop::collection::vec((-5i32..5).prop_map(f64::from), 5..120),
    ]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn identical_samples_never_drift(xs in sample()) {
        let s = Sample::new(&xs);
        for t in common::numeric_tests() {
            let o = t.evaluate(&s, &s);
            prop_assert!(!o.drift(), "{t:?} flags identical samples: {o:?}");
            if let Some(v) = o.verdict() {
                prop_assert!(v.statistic.is_finite());
                if !t.name().has_p_value() {
                    prop_assert_eq!(v.statistic, 0.0, "{:?}", t);
                }
            }
        }
        prop_assert_eq!(numeric::ks(&s, &s).p_value, 1.0);
        let u = numeric::mann_whitney(&s, &s);
        prop_assert_eq!(u.statistic, (s.len() * s.len()) as f64 / 2.0);
    }

    #[test]
    fn symmetric_statistics_are_symmetric(a in sample(), b in sample()) {
        let (sa, sb) = (Sample::new(&a), Sample::new(&b));
        let (k1, k2) = (numeric::ks(&sa, &sb), numeric::ks(&sb, &sa));
        prop_assert_eq!(k1.statistic, k2.statistic);
        prop_assert!(close(k1.p_value, k2.p_value));
        prop_assert!(close(numeric::wasserstein(&sa, &sb), numeric::wasserstein(&sb, &sa)));
        let (c1, c2) = (numeric::cramer_von_mises(&sa, &sb), numeric::cramer_von_mises(&sb, &sa));
        prop_assert!(close(c1.statistic, c2.statistic) && close(c1.p_value, c2.p_value));
        if let (Some(d1), Some(d2)) = (numeric::anderson_darling(&[&sa, &sb]), numeric::anderson_darling(&[&sb, &sa])) {
            prop_assert!(close(d1.statistic, d2.statistic) && close(d1.p_value, d2.p_value));
        }
        let (u1, u2) = (numeric::mann_whitney(&sa, &sb), numeric::mann_whitney(&sb, &sa));
        prop_assert!(close(u1.statistic + u2.statistic, (sa.len() * sb.len()) as f64));
        prop_assert!(close(u1.p_value, u2.p_value));
        // Binned distances on common bins.
        let bins = Bins::from_reference_quantiles(&sa, 10);
        let (ca, cb) = (bins.counts(&sa), bins.counts(&sb));
        prop_assert!(close(binned::psi(&ca, &cb), binned::psi(&cb, &ca)));
        prop_assert!(close(binned::jensen_shannon(&ca, &cb), binned::jensen_shannon(&cb, &ca)));
        prop_assert!(close(binned::hellinger(&ca, &cb), binned::hellinger(&cb, &ca)));
        prop_assert_eq!(binned::l_infinity(&ca, &cb), binned::l_infinity(&cb, &ca));
        let (x1, p1, _) = categorical::chi_square(&ca, &cb);
        let (x2, p2, _) = categorical::chi_square(&cb, &ca);
        prop_assert!(close(x1, x2) && close(p1, p2));
    }

    #[test]
    fn results_do_not_depend_on_input_order(a in sample(), b in sample(), seed in any::<u64>()) {
        let shuffle = |v: &[f64]| {
            let mut v = v.to_vec();
            let mut rng = driftd_detectors::synth::Rng::new(seed);
            for i in (1..v.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                v.swap(i, j);
            }
            v
        };
        let (s1, t1) = (Sample::new(&a), Sample::new(&b));
        let (s2, t2) = (Sample::new(&shuffle(&a)), Sample::new(&shuffle(&b)));
        for t in common::numeric_tests() {
            prop_assert_eq!(t.evaluate(&s1, &t1), t.evaluate(&s2, &t2), "{:?}", t);
        }
        let cats = |v: &[f64]| CategoryCounts::from_values(v.iter().map(|x| Some(format!("{}", x.round()))));
        let chi = CategoricalTest::ChiSquare { alpha: 0.05 };
        prop_assert_eq!(chi.evaluate(&cats(&a), &cats(&b)), chi.evaluate(&cats(&shuffle(&a)), &cats(&shuffle(&b))));
    }

    #[test]
    fn weighted_kernels_equal_exact_ones_on_unit_weights(a in sample(), b in sample()) {
        let (sa, sb) = (Sample::new(&a), Sample::new(&b));
        let (va, vb) = (SortedView::from_sorted_values(sa.values()), SortedView::from_sorted_values(sb.values()));
        let (e, w) = (numeric::ks(&sa, &sb), weighted::ks(&va, &vb, 0.0));
        prop_assert!(close(e.statistic, w.statistic) && close(e.p_value, w.p_value));
        prop_assert!(close(numeric::wasserstein(&sa, &sb), weighted::wasserstein(&va, &vb)));
        let (e, w) = (numeric::cramer_von_mises(&sa, &sb), weighted::cramer_von_mises(&va, &vb, 0.0));
        prop_assert!(close(e.statistic, w.statistic) && close(e.p_value, w.p_value), "{e:?} {w:?}");
        let (e, w) = (numeric::mann_whitney(&sa, &sb), weighted::mann_whitney(&va, &vb, 0.0));
        prop_assert!(close(e.statistic, w.statistic) && close(e.p_value, w.p_value));
        match (numeric::anderson_darling(&[&sa, &sb]), weighted::anderson_darling(&va, &vb, 0.0)) {
            (Some(e), Some(w)) => prop_assert!(close(e.statistic, w.statistic) && close(e.p_value, w.p_value), "{e:?} {w:?}"),
            (e, w) => prop_assert_eq!(e.is_some(), w.is_some()),
        }
        // Slack only ever makes p-values larger (more conservative).
        prop_assert!(weighted::ks(&va, &vb, 0.02).p_value >= weighted::ks(&va, &vb, 0.0).p_value - 1e-12);
        prop_assert!(weighted::mann_whitney(&va, &vb, 0.02).p_value >= weighted::mann_whitney(&va, &vb, 0.0).p_value - 1e-12);
    }

    #[test]
    fn unsorted_fast_path_equals_the_sample_path(a in sample(), b in sample()) {
        for t in common::numeric_tests() {
            prop_assert_eq!(t.evaluate_values(&a, &b), t.evaluate(&Sample::new(&a), &Sample::new(&b)), "{:?}", t);
        }
    }

    #[test]
    fn corrections_are_monotone_and_bounded(ps in prop::collection::vec(0.0f64..1.0, 1..60)) {
        let bh = adjust(&ps, Correction::BenjaminiHochberg);
        let bf = adjust(&ps, Correction::Bonferroni);
        for i in 0..ps.len() {
            prop_assert!(bh[i] >= ps[i] - 1e-15 && bh[i] <= bf[i] + 1e-15 && bf[i] <= 1.0);
            for j in 0..ps.len() {
                if ps[i] <= ps[j] {
                    prop_assert!(bh[i] <= bh[j] + 1e-15);
                }
            }
        }
    }

    #[test]
    fn stream_detectors_resume_exactly_after_a_checkpoint(
        xs in prop::collection::vec(0.0f64..1.0, 50..600),
        cut in 0usize..600,
        which in 0usize..8,
    ) {
        let config = DetectorConfig::all_defaults().swap_remove(which);
        let mut det = config.build().unwrap();
        let xs: Vec<f64> = if det.input_kind() == InputKind::Binary {
            xs.iter().map(|x| if *x < 0.3 { 1.0 } else { 0.0 }).collect()
        } else {
            xs
        };
        let cut = cut.min(xs.len());
        for x in &xs[..cut] {
            det.update(*x);
        }
        let mut restored: AnyDetector = serde_json::from_str(&serde_json::to_string(&det).unwrap()).unwrap();
        for x in &xs[cut..] {
            prop_assert_eq!(det.update(*x), restored.update(*x));
        }
        prop_assert_eq!(det, restored);
    }
}

#[test]
fn benjamini_hochberg_matches_scipy() {
    #[derive(serde::Deserialize)]
    struct Case {
        p: Vec<f64>,
        bh: Vec<f64>,
    }
    #[derive(serde::Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/corrections.json"
    );
    let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(fx.cases.len() >= 5);
    for c in &fx.cases {
        let got = adjust(&c.p, Correction::BenjaminiHochberg);
        for (g, w) in got.iter().zip(&c.bh) {
            assert!((g - w).abs() <= 1e-12, "{got:?} vs SciPy {:?}", c.bh);
        }
    }
}
