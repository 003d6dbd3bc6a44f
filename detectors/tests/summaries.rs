//! Bounded-memory summaries: constant footprint, exactness where promised, documented error bounds
//! elsewhere, mergeability and edge cases.

use driftd_detectors::summary::{
    CategoricalSummary, FeatureSummary, NumericSummary, SummarySettings,
};
use driftd_detectors::synth::{Dist, Rng};
use driftd_detectors::twosample::{
    Bins, CategoricalTest, CategoryCounts, Insufficient, NumericTest, Sample, TestOutcome, numeric,
    weighted,
};

fn normal(seed: u64, n: usize, loc: f64, scale: f64) -> Vec<f64> {
    Dist::Normal { loc, scale }.sample_n(&mut Rng::new(seed), n)
}

fn summary_of(reference: &NumericSummary, xs: &[f64]) -> NumericSummary {
    let mut w = reference.empty_window();
    for x in xs {
        w.update(*x);
    }
    w
}

fn stat(o: &TestOutcome) -> f64 {
    o.verdict()
        .unwrap_or_else(|| panic!("not computed: {o:?}"))
        .statistic
}

/// The memory requirement: a window's summary does not grow from 10³ to 10⁷ values.
#[test]
fn summary_size_is_constant_from_1e3_to_1e7_values() {
    let settings = SummarySettings::default();
    let reference = NumericSummary::reference(&normal(1, 10_000, 0.0, 1.0), &settings).unwrap();
    let mut window = reference.empty_window();
    let mut cat_ref = CategoryCounts::new();
    for i in 0..50 {
        cat_ref.add(&format!("c{i}"), 10);
    }
    let cat_profile = CategoricalSummary::reference(&cat_ref, &settings).unwrap();
    let mut cat_window = cat_profile.empty_window();

    let mut rng = Rng::new(2);
    let mut sizes = Vec::new();
    let mut serialized = Vec::new();
    let mut n = 0u64;
    for checkpoint in [1_000u64, 10_000, 100_000, 1_000_000, 10_000_000] {
        while n < checkpoint {
            window.update(rng.normal() * 3.0 + 1.0);
            // Categorical: mostly known categories, plus an unbounded stream of new names.
            let c = if n.is_multiple_of(10) {
                format!("new{n}")
            } else {
                format!("c{}", n % 50)
            };
            cat_window.update(Some(&c));
            n += 1;
        }
        assert_eq!(window.len(), checkpoint);
        sizes.push((window.heap_bytes(), cat_window.heap_bytes()));
        serialized.push(serde_json::to_string(&window).unwrap().len());
    }
    let first = sizes[0];
    assert!(
        sizes.iter().all(|s| *s == first),
        "heap bytes changed with window length: {sizes:?}"
    );
    // The numeric summary's footprint is fixed by the settings (k = 256): about 19 KB.
    assert!(first.0 < 20_000, "{first:?}");
    // The serialised form (what the daemon checkpoints) is bounded too: the retained items stay
    // within the sketch capacity (1,165 values for k = 256).
    assert!(
        serialized.iter().all(|s| *s < 1_165 * 25 + 2_000),
        "{serialized:?}"
    );
    let unseen = cat_window.unseen();
    assert_eq!(unseen.count, 1_000_000);
    assert_eq!(unseen.examples.len(), 10);
}

/// Binned distances from summaries are exactly the sample-based ones (same reference-quantile bins).
#[test]
fn binned_tests_from_summaries_are_exact() {
    let settings = SummarySettings::default();
    for (seed, shift) in [(3u64, 0.0), (4, 0.3), (5, 1.5)] {
        let r = normal(seed, 20_000, 0.0, 1.0);
        let c = normal(seed + 100, 70_000, shift, 1.2);
        let profile = NumericSummary::reference(&r, &settings).unwrap();
        let window = summary_of(&profile, &c);
        let (rs, cs) = (Sample::new(&r), Sample::new(&c));
        for test in [
            NumericTest::Psi {
                bins: 10,
                threshold: 0.1,
            },
            NumericTest::JensenShannon {
                bins: 10,
                threshold: 0.1,
            },
            NumericTest::Hellinger {
                bins: 10,
                threshold: 0.1,
            },
            NumericTest::KullbackLeibler {
                bins: 10,
                threshold: 0.1,
            },
        ] {
            let exact = stat(&test.evaluate(&rs, &cs));
            let approx = stat(&test.evaluate_summaries(&profile, &window).unwrap());
            assert_eq!(approx, exact, "{test:?}");
        }
        // Asking for another bin count than the summary has is an error, not a silent approximation.
        assert!(
            NumericTest::Psi {
                bins: 20,
                threshold: 0.1
            }
            .evaluate_summaries(&profile, &window)
            .is_err()
        );
    }
}

/// Before the sketch compacts (fewer values than its capacity) every test is exact.
#[test]
fn sketch_tests_are_exact_on_small_windows() {
    let settings = SummarySettings::default();
    // Below k = 256 values a sketch has not compacted and holds the exact sample.
    let r = normal(6, 200, 0.0, 1.0);
    let c = normal(7, 150, 0.5, 1.0);
    let profile = NumericSummary::reference(&r, &settings).unwrap();
    let window = summary_of(&profile, &c);
    assert!(profile.sketch().is_exact() && window.sketch().is_exact());
    let (rs, cs) = (Sample::new(&r), Sample::new(&c));
    for test in [
        NumericTest::Ks { alpha: 0.05 },
        NumericTest::Wasserstein { threshold: 0.1 },
        NumericTest::WassersteinNormed { threshold: 0.1 },
        NumericTest::CramerVonMises { alpha: 0.05 },
        NumericTest::AndersonDarling { alpha: 0.05 },
        NumericTest::MannWhitney { alpha: 0.05 },
    ] {
        let (e, a) = (
            test.evaluate(&rs, &cs),
            test.evaluate_summaries(&profile, &window).unwrap(),
        );
        let (e, a) = (e.verdict().unwrap(), a.verdict().unwrap());
        assert!(
            (e.statistic - a.statistic).abs() <= 1e-9 * e.statistic.abs().max(1e-3),
            "{test:?}: {e:?} vs {a:?}"
        );
        if let (Some(p), Some(q)) = (e.p_value, a.p_value) {
            assert!((p - q).abs() < 1e-9, "{test:?}: p {p} vs {q}");
        }
        assert_eq!(e.drift, a.drift, "{test:?}");
    }
}

/// KS, Mann–Whitney and Wasserstein from compacted sketches stay within the documented bounds.
#[test]
fn sketch_tests_stay_within_documented_bounds() {
    let settings = SummarySettings::default();
    let cases: Vec<(Dist, usize, Dist, usize)> = vec![
        (
            Dist::Normal {
                loc: 0.0,
                scale: 1.0,
            },
            50_000,
            Dist::Normal {
                loc: 0.0,
                scale: 1.0,
            },
            200_000,
        ),
        (
            Dist::Normal {
                loc: 0.0,
                scale: 1.0,
            },
            100_000,
            Dist::Normal {
                loc: 0.1,
                scale: 1.0,
            },
            1_000_000,
        ),
        (
            Dist::Normal {
                loc: 5.0,
                scale: 2.0,
            },
            20_000,
            Dist::Normal {
                loc: 5.0,
                scale: 3.0,
            },
            300_000,
        ),
        (
            Dist::Cauchy {
                loc: 0.0,
                scale: 1.0,
            },
            30_000,
            Dist::Cauchy {
                loc: 0.5,
                scale: 1.0,
            },
            100_000,
        ),
        (
            Dist::Pareto { scale: 1.0 },
            50_000,
            Dist::Pareto { scale: 1.2 },
            50_000,
        ),
        (
            Dist::Uniform {
                low: 0.0,
                high: 1.0,
            },
            200_000,
            Dist::Uniform {
                low: 0.02,
                high: 1.02,
            },
            200_000,
        ),
    ];
    for (i, (dr, nr, dc, nc)) in cases.into_iter().enumerate() {
        let seed = 40 + 2 * i as u64;
        let (r, c) = (
            dr.sample_n(&mut Rng::new(seed), nr),
            dc.sample_n(&mut Rng::new(seed + 1), nc),
        );
        let profile = NumericSummary::reference(&r, &settings).unwrap();
        let window = summary_of(&profile, &c);
        let eps = profile.sketch().rank_error_bound() + window.sketch().rank_error_bound();
        let (rs, cs) = (Sample::new(&r), Sample::new(&c));
        let (rv, cv) = (profile.sorted_view(), window.sorted_view());

        let (d, d_hat) = (
            numeric::ks(&rs, &cs).statistic,
            weighted::ks(rv, cv, 0.0).statistic,
        );
        assert!(
            (d - d_hat).abs() <= eps,
            "case {i}: KS {d} vs sketch {d_hat} (bound {eps})"
        );

        let nm = nr as f64 * nc as f64;
        let (u, u_hat) = (
            numeric::mann_whitney(&rs, &cs).statistic,
            weighted::mann_whitney(rv, cv, 0.0).statistic,
        );
        assert!(
            ((u - u_hat) / nm).abs() <= eps,
            "case {i}: U/nm {} vs {}",
            u / nm,
            u_hat / nm
        );

        let (w, w_hat) = (
            numeric::wasserstein(&rs, &cs),
            weighted::wasserstein(rv, cv),
        );
        let range = rs.values()[rs.len() - 1].max(cs.values()[cs.len() - 1])
            - rs.values()[0].min(cs.values()[0]);
        assert!(
            (w - w_hat).abs() <= eps * range,
            "case {i}: W {w} vs {w_hat}"
        );
        if matches!(dr, Dist::Normal { .. } | Dist::Uniform { .. }) {
            // Far inside the worst-case bound on light tails: within 0.01 reference sd.
            assert!(
                (w - w_hat).abs() <= 0.01 * rs.std(),
                "case {i}: W {w} vs {w_hat}"
            );
        }
    }
}

/// Cramér–von Mises and Anderson–Darling have no worst-case bound from sketches; their decisions
/// must agree with the exact tests on clearly stable and clearly drifting data.
#[test]
fn cvm_and_ad_decisions_agree_with_exact_tests() {
    let settings = SummarySettings::default();
    for (seed, shift, drift) in [
        (60u64, 0.0, false),
        (62, 0.0, false),
        (64, 0.15, true),
        (66, 0.5, true),
    ] {
        let r = normal(seed, 30_000, 0.0, 1.0);
        let c = normal(seed + 1, 100_000, shift, 1.0);
        let profile = NumericSummary::reference(&r, &settings).unwrap();
        let window = summary_of(&profile, &c);
        let (rs, cs) = (Sample::new(&r), Sample::new(&c));
        for test in [
            NumericTest::CramerVonMises { alpha: 0.01 },
            NumericTest::AndersonDarling { alpha: 0.01 },
        ] {
            let exact = test.evaluate(&rs, &cs);
            let approx = test.evaluate_summaries(&profile, &window).unwrap();
            assert_eq!(exact.drift(), drift, "{test:?} exact, seed {seed}");
            assert_eq!(
                approx.drift(),
                drift,
                "{test:?} from sketches, seed {seed}: {approx:?}"
            );
        }
    }
}

/// Categorical tests from summaries equal the sample-based ones while the reference has at most
/// `max_categories` categories; new categories are counted in the bucket and named.
#[test]
fn categorical_summaries_are_exact_and_report_new_categories() {
    let settings = SummarySettings::default();
    let mut rng = Rng::new(70);
    let wr = Dist::Categorical {
        weights: vec![5.0, 3.0, 2.0, 1.0, 0.5],
    };
    let wc = Dist::Categorical {
        weights: vec![4.0, 3.0, 2.0, 1.0, 0.5, 0.7, 0.2],
    };
    let names = |xs: Vec<f64>| {
        xs.into_iter()
            .map(|x| format!("cat{}", x as u32))
            .collect::<Vec<_>>()
    };
    let r = names(wr.sample_n(&mut rng, 5_000));
    let c = names(wc.sample_n(&mut rng, 8_000));
    let rc = CategoryCounts::from_values(r.iter().map(Some));
    let cc = CategoryCounts::from_values(c.iter().map(Some).chain([None, None]));
    let profile = CategoricalSummary::reference(&rc, &settings).unwrap();
    let mut window = profile.empty_window();
    for v in c.iter().map(|s| Some(s.as_str())).chain([None, None]) {
        window.update(v);
    }
    for test in [
        CategoricalTest::ChiSquare { alpha: 0.05 },
        CategoricalTest::Psi { threshold: 0.1 },
        CategoricalTest::JensenShannon { threshold: 0.1 },
        CategoricalTest::Hellinger { threshold: 0.1 },
        CategoricalTest::KullbackLeibler { threshold: 0.1 },
        CategoricalTest::LInfinity { threshold: 0.1 },
    ] {
        let exact = test.evaluate(&rc, &cc);
        let approx = test.evaluate_summaries(&profile, &window).unwrap();
        assert_eq!(exact, approx, "{test:?}");
        let v = approx.verdict().unwrap();
        let unseen = v.unseen.as_ref().unwrap();
        assert_eq!(unseen.distinct, 2);
        assert_eq!(
            unseen
                .examples
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            vec!["cat5", "cat6"]
        );
        assert_eq!(v.ignored_current, 2);
    }
}

/// Summaries built on parts and merged equal the summary of the whole where exact (counts,
/// moments) and stay accurate where approximate (sketch).
#[test]
fn merged_summaries_match_the_whole() {
    let settings = SummarySettings::default();
    let profile = NumericSummary::reference(&normal(80, 10_000, 0.0, 1.0), &settings).unwrap();
    let data = normal(81, 300_000, 0.2, 1.0);
    let whole = summary_of(&profile, &data);
    let mut merged = profile.empty_window();
    for chunk in data.chunks(70_000) {
        merged.merge(&summary_of(&profile, chunk)).unwrap();
    }
    assert_eq!(merged.counts(), whole.counts());
    assert_eq!(merged.len(), whole.len());
    assert!((merged.moments().mean - whole.moments().mean).abs() < 1e-12);
    assert!((merged.moments().std() - whole.moments().std()).abs() < 1e-12);
    let psi = NumericTest::Psi {
        bins: 10,
        threshold: 0.1,
    };
    assert_eq!(
        psi.evaluate_summaries(&profile, &merged).unwrap(),
        psi.evaluate_summaries(&profile, &whole).unwrap()
    );
    let ks = NumericTest::Ks { alpha: 0.05 };
    let (a, b) = (
        stat(&ks.evaluate_summaries(&profile, &merged).unwrap()),
        stat(&ks.evaluate_summaries(&profile, &whole).unwrap()),
    );
    assert!(
        (a - b).abs() <= 2.0 * profile.sketch().rank_error_bound(),
        "{a} vs {b}"
    );
    // Summaries on other bins cannot be merged.
    let other = NumericSummary::with_bins(Bins::from_edges(vec![0.0]).unwrap(), &settings).unwrap();
    assert!(merged.merge(&other).is_err());
    let mut f = FeatureSummary::Numeric(merged);
    assert!(
        f.merge(&FeatureSummary::Categorical(
            CategoricalSummary::reference(&CategoryCounts::new(), &settings).unwrap()
        ))
        .is_err()
    );
}

/// Edge cases with defined results: empty and tiny windows, all-missing, constant columns, a single
/// category, NaN/inf input.
#[test]
fn edge_cases_have_defined_results() {
    let settings = SummarySettings::default();
    let profile = NumericSummary::reference(&normal(90, 1_000, 0.0, 1.0), &settings).unwrap();
    let mut window = profile.empty_window();
    let ks = NumericTest::Ks { alpha: 0.05 };
    // Empty window.
    assert!(matches!(
        ks.evaluate_summaries(&profile, &window).unwrap(),
        TestOutcome::NotEnoughData {
            reason: Insufficient::TooFewObservations { needed: 5 },
            n_current: 0,
            ..
        }
    ));
    // Only non-finite values: still empty, but counted.
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        window.update(x);
    }
    assert_eq!(window.non_finite(), 3);
    assert!(matches!(
        ks.evaluate_summaries(&profile, &window).unwrap(),
        TestOutcome::NotEnoughData { .. }
    ));
    for x in normal(91, 20, 0.0, 1.0) {
        window.update(x);
    }
    let v = ks.evaluate_summaries(&profile, &window).unwrap();
    assert_eq!(v.verdict().unwrap().ignored_current, 3);

    // Constant columns: identical constants give zero distance and no drift; a moved constant drifts.
    let constant = NumericSummary::reference(&[4.0; 500], &settings).unwrap();
    let same = summary_of(&constant, &[4.0; 300]);
    let moved = summary_of(&constant, &[5.0; 300]);
    for test in [
        NumericTest::Ks { alpha: 0.05 },
        NumericTest::WassersteinNormed { threshold: 0.1 },
        NumericTest::Psi {
            bins: 10,
            threshold: 0.1,
        },
    ] {
        let o = test.evaluate_summaries(&constant, &same).unwrap();
        assert!(!o.drift() && stat(&o) == 0.0, "{test:?}: {o:?}");
    }
    assert!(
        NumericTest::Ks { alpha: 0.05 }
            .evaluate_summaries(&constant, &moved)
            .unwrap()
            .drift()
    );
    assert!(matches!(
        NumericTest::AndersonDarling { alpha: 0.05 }
            .evaluate_summaries(&constant, &same)
            .unwrap(),
        TestOutcome::NotEnoughData {
            reason: Insufficient::NoVariation,
            ..
        }
    ));

    // All-missing categorical window and a single-category feature.
    let mut one = CategoryCounts::new();
    one.add("only", 100);
    let cprofile = CategoricalSummary::reference(&one, &settings).unwrap();
    let mut missing = cprofile.empty_window();
    for _ in 0..50 {
        missing.update(None);
    }
    let chi = CategoricalTest::ChiSquare { alpha: 0.05 };
    assert!(matches!(
        chi.evaluate_summaries(&cprofile, &missing).unwrap(),
        TestOutcome::NotEnoughData { .. }
    ));
    let mut single = cprofile.empty_window();
    for _ in 0..80 {
        single.update(Some("only"));
    }
    let o = chi.evaluate_summaries(&cprofile, &single).unwrap();
    let v = o.verdict().unwrap();
    assert_eq!((v.statistic, v.p_value, v.drift), (0.0, Some(1.0), false));
}

#[test]
fn corrupted_summaries_are_errors_not_panics() {
    let settings = SummarySettings::default();
    let profile = NumericSummary::reference(&normal(95, 2_000, 0.0, 1.0), &settings).unwrap();
    let mut v = serde_json::to_value(&profile).unwrap();
    v["counts"] = serde_json::json!([1, 2]);
    assert!(serde_json::from_value::<NumericSummary>(v).is_err());
    let mut v = serde_json::to_value(&profile).unwrap();
    v["sketch"]["n"] = serde_json::json!(12);
    assert!(
        serde_json::from_value::<NumericSummary>(v).is_err(),
        "sketch weights must add up to n"
    );
    let back: NumericSummary =
        serde_json::from_value(serde_json::to_value(&profile).unwrap()).unwrap();
    assert_eq!(back, profile);

    let mut counts = CategoryCounts::new();
    counts.add("a", 3);
    counts.add("b", 4);
    let cat = CategoricalSummary::reference(&counts, &settings).unwrap();
    let mut v = serde_json::to_value(&cat).unwrap();
    v["categories"] = serde_json::json!(["b", "a"]);
    assert!(serde_json::from_value::<CategoricalSummary>(v).is_err());
    let back: CategoricalSummary =
        serde_json::from_value(serde_json::to_value(&cat).unwrap()).unwrap();
    assert_eq!(back, cat);
}
