//! Streaming detection: the G-test against SciPy (`fixtures/gtest.json`, made by
//! `detectors/scripts/make_fixtures.py gtest`), the false-alarm budget on long stable streams of
//! awkward shapes, and detection delays on abrupt shifts.

use driftd_detectors::sequential::{SequentialSettings, SlidingTest, g_test};
use driftd_detectors::summary::{NumericSummary, SummarySettings};
use driftd_detectors::synth::{Dist, Rng};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    reference: Vec<u64>,
    current: Vec<u64>,
    g: f64,
    p: f64,
    dof: usize,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[test]
fn g_test_matches_scipy() {
    let path = format!("{}/tests/fixtures/gtest.json", env!("CARGO_MANIFEST_DIR"));
    let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(fx.cases.len() >= 10);
    for c in &fx.cases {
        let (g, p, dof) = g_test(&c.reference, &c.current);
        assert_eq!(dof, c.dof, "{:?} / {:?}", c.reference, c.current);
        assert!(
            (g - c.g).abs() <= 1e-9 * c.g.abs().max(1.0),
            "G {g} vs SciPy {}",
            c.g
        );
        // Relative: the tail p-values (down to 1e-280) matter at the levels the looks use.
        assert!(
            (p - c.p).abs() <= 1e-6 * c.p,
            "p {p} vs SciPy {} (G {g}, dof {dof})",
            c.p
        );
    }
}

/// Reference counts per bin and a mapper, as the daemon builds them from a reference profile.
fn numeric(reference: &[f64]) -> (NumericSummary, Vec<u64>) {
    let p = NumericSummary::reference(reference, &SummarySettings::default()).unwrap();
    let counts = p.counts().to_vec();
    (p, counts)
}

/// Runs `stream` through a sliding test on `reference`; returns the index of the first rejection
/// and the number of looks.
fn first_rejection(
    reference: &[f64],
    stream: impl Iterator<Item = f64>,
    s: &SequentialSettings,
    tests: usize,
) -> (Option<usize>, usize) {
    let (p, counts) = numeric(reference);
    let mut t = SlidingTest::new(&counts, s);
    let alpha = s.alpha_look(tests);
    let (mut looks, mut since_look) = (0, 0);
    for (i, x) in stream.enumerate() {
        if !x.is_finite() {
            continue;
        }
        t.push(p.bins().index(x));
        since_look += 1;
        if t.is_full() && since_look >= s.look_every {
            since_look = 0;
            looks += 1;
            let (_, entered) = t.update_state(alpha);
            if entered {
                return (Some(i), looks);
            }
        }
    }
    (None, looks)
}

#[test]
fn no_false_alarm_on_long_stable_streams_of_awkward_shapes() {
    let s = SequentialSettings::default();
    let shapes = [
        Dist::Normal {
            loc: 3.0,
            scale: 2.0,
        },
        Dist::Cauchy {
            loc: 0.0,
            scale: 1.0,
        },
        Dist::Pareto { scale: 1.0 },
        Dist::Discrete { k: 3 },
        Dist::Rounded {
            loc: 0.0,
            scale: 1.0,
            step: 0.5,
        },
    ];
    let mut looks = 0;
    for (i, d) in shapes.iter().enumerate() {
        let mut rng = Rng::new(100 + i as u64);
        let reference = d.sample_n(&mut rng, 10_000);
        let stream = (0..400_000).map(|_| d.sample(&mut rng));
        // One test per model: the budget of a single quantity, the least strict level.
        let (hit, n) = first_rejection(&reference, stream, &s, 1);
        assert_eq!(hit, None, "{d:?}: a false alarm");
        looks += n;
    }
    assert!(looks > 19_000, "{looks} looks");
}

#[test]
fn abrupt_half_sd_shifts_are_found_within_a_thousand_values() {
    let s = SequentialSettings::default();
    let mut delays = Vec::new();
    for seed in 0..9 {
        let mut rng = Rng::new(seed);
        let reference = Dist::Normal {
            loc: 0.0,
            scale: 1.0,
        }
        .sample_n(&mut rng, 10_000);
        let before = Dist::Normal {
            loc: 0.0,
            scale: 1.0,
        };
        let after = Dist::Normal {
            loc: 0.5,
            scale: 1.0,
        };
        let stream = (0..5_000)
            .map(|i| {
                if i < 2_000 {
                    before.sample(&mut rng)
                } else {
                    after.sample(&mut rng)
                }
            })
            .collect::<Vec<_>>();
        // 26 quantities: the level a model with 25 features and a prediction uses.
        let (hit, _) = first_rejection(&reference, stream.into_iter(), &s, 26);
        let hit = hit.expect("the shift is found");
        assert!(hit >= 2_000, "found before the shift at {hit}");
        delays.push(hit - 2_000);
    }
    delays.sort_unstable();
    assert!(delays[4] <= 1_000, "median delay {delays:?}");
}

#[test]
fn a_scale_change_with_the_same_mean_is_found() {
    let s = SequentialSettings::default();
    let mut rng = Rng::new(7);
    let d = Dist::Normal {
        loc: 0.0,
        scale: 1.0,
    };
    let reference = d.sample_n(&mut rng, 10_000);
    let wide = Dist::Normal {
        loc: 0.0,
        scale: 2.0,
    };
    let stream: Vec<f64> = (0..3_000)
        .map(|i| {
            if i < 1_000 {
                d.sample(&mut rng)
            } else {
                wide.sample(&mut rng)
            }
        })
        .collect();
    let (hit, _) = first_rejection(&reference, stream.into_iter(), &s, 26);
    let hit = hit.expect("found");
    assert!((1_000..2_000).contains(&hit), "{hit}");
}

#[test]
fn a_restored_test_continues_bit_for_bit() {
    let s = SequentialSettings::default();
    let mut a = SlidingTest::new(&[3, 500, 2_000, 4_000, 2_000, 500, 3], &s);
    let mut rng = Rng::new(4);
    for _ in 0..1_500 {
        a.push((rng.uniform() * 7.0) as usize);
    }
    let mut b: SlidingTest = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    for _ in 0..777 {
        let x = (rng.uniform() * 7.0) as usize;
        a.push(x);
        b.push(x);
    }
    assert_eq!(a, b);
    assert_eq!(a.look(1e-8), b.look(1e-8));
}
