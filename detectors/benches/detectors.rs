//! Criterion benchmarks of driftd-detectors, each mirrored by `scripts/bench_python.py` (the same
//! work in River / SciPy / NumPy / Frouros on the same seeded data) and compared by
//! `scripts/compare_bench.sh`.
//!
//! * `stream/<detector>` — 10,000 updates on a stationary stream (numeric: normal; binary: 10 %
//!   errors) — per-update cost = time / 10,000;
//! * `twosample/<test>/<n>` — from raw unsorted values to the verdict, for n = 10k, 100k, 1M per
//!   sample (reference normal(0, 1), current normal(0.05, 1)); chi-square from raw string categories;
//! * `summary_eval/<window>` — the automatic test choice on a 50-feature window (40 numeric, 10
//!   categorical) from summaries, windows of 10³, 10⁵ and 10⁶ values per feature.
//!
//! Measurement times are short on purpose (the machine is small); run with
//! `cargo bench -p driftd-detectors`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use driftd_detectors::auto::AutoPolicy;
use driftd_detectors::stream::{DetectorConfig, InputKind, StreamDetector};
use driftd_detectors::summary::{
    CategoricalSummary, FeatureSummary, NumericSummary, SummarySettings,
};
use driftd_detectors::synth::{Dist, Rng};
use driftd_detectors::twosample::{CategoricalTest, CategoryCounts, NumericTest};

/// Seeds shared with scripts/bench_python.py.
const STREAM_SEED: u64 = 2024;
const REF_SEED: u64 = 7;
const CUR_SEED: u64 = 8;

fn stream_detectors(c: &mut Criterion) {
    let numeric = Dist::Normal {
        loc: 0.0,
        scale: 1.0,
    }
    .sample_n(&mut Rng::new(STREAM_SEED), 10_000);
    let binary = Dist::Bernoulli { p: 0.1 }.sample_n(&mut Rng::new(STREAM_SEED), 10_000);
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Elements(10_000));
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for config in DetectorConfig::all_defaults() {
        let data = if config.input_kind() == InputKind::Numeric {
            &numeric
        } else {
            &binary
        };
        let name = serde_json::to_value(&config).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string();
        g.bench_function(&name, |b| {
            b.iter_batched(
                || config.build().unwrap(),
                |mut det| {
                    for x in data {
                        black_box(det.update(*x));
                    }
                    det
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn categories(seed: u64, n: usize, weights: &[f64]) -> Vec<String> {
    let d = Dist::Categorical {
        weights: weights.to_vec(),
    };
    d.sample_n(&mut Rng::new(seed), n)
        .into_iter()
        .map(|x| format!("c{}", x as u32))
        .collect()
}

fn two_sample(c: &mut Criterion) {
    let mut g = c.benchmark_group("twosample");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let r = Dist::Normal {
            loc: 0.0,
            scale: 1.0,
        }
        .sample_n(&mut Rng::new(REF_SEED), n);
        let cur = Dist::Normal {
            loc: 0.05,
            scale: 1.0,
        }
        .sample_n(&mut Rng::new(CUR_SEED), n);
        g.throughput(Throughput::Elements(2 * n as u64));
        for (name, test) in [
            ("ks", NumericTest::Ks { alpha: 0.05 }),
            ("wasserstein", NumericTest::Wasserstein { threshold: 0.1 }),
            (
                "psi",
                NumericTest::Psi {
                    bins: 10,
                    threshold: 0.1,
                },
            ),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| black_box(test.evaluate_values(black_box(&r), black_box(&cur))))
            });
        }
        let rc = categories(REF_SEED, n, &[4.0, 3.0, 2.0, 1.0, 1.0, 0.5]);
        let cc = categories(CUR_SEED, n, &[4.0, 3.0, 2.0, 1.0, 1.1, 0.5]);
        let chi = CategoricalTest::ChiSquare { alpha: 0.05 };
        g.bench_with_input(BenchmarkId::new("chi_square", n), &n, |b, _| {
            b.iter(|| {
                let r = CategoryCounts::from_values(rc.iter().map(Some));
                let c = CategoryCounts::from_values(cc.iter().map(Some));
                black_box(chi.evaluate(&r, &c))
            })
        });
    }
    g.finish();
}

fn summary_eval(c: &mut Criterion) {
    let settings = SummarySettings::default();
    let policy = AutoPolicy::default();
    let mut rng = Rng::new(99);
    let mut references = Vec::new();
    for f in 0..40 {
        let xs = Dist::Normal {
            loc: f as f64,
            scale: 1.0 + f as f64 / 10.0,
        }
        .sample_n(&mut rng, 10_000);
        references.push(FeatureSummary::Numeric(
            NumericSummary::reference(&xs, &settings).unwrap(),
        ));
    }
    for f in 0..10 {
        let mut counts = CategoryCounts::new();
        for k in 0..(5 + 3 * f) {
            counts.add(&format!("v{k}"), 100 + 37 * k as u64);
        }
        references.push(FeatureSummary::Categorical(
            CategoricalSummary::reference(&counts, &settings).unwrap(),
        ));
    }
    let mut g = c.benchmark_group("summary_eval");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for window_len in [1_000usize, 100_000, 1_000_000] {
        let windows: Vec<FeatureSummary> = references
            .iter()
            .enumerate()
            .map(|(f, r)| {
                let mut w = r.empty_window();
                match &mut w {
                    FeatureSummary::Numeric(s) => {
                        for _ in 0..window_len {
                            s.update(f as f64 + 0.02 + rng.normal() * (1.0 + f as f64 / 10.0));
                        }
                    }
                    FeatureSummary::Categorical(s) => {
                        let k = 5 + 3 * (f - 40);
                        let names: Vec<String> = (0..k + 1).map(|i| format!("v{i}")).collect();
                        for _ in 0..window_len {
                            s.update(Some(&names[(rng.next_u64() % (k as u64 + 1)) as usize]));
                        }
                    }
                }
                w
            })
            .collect();
        g.bench_with_input(
            BenchmarkId::new("50_features", window_len),
            &window_len,
            |b, _| {
                // Fresh clones each iteration: a window's cached sketch view is rebuilt, as after updates.
                b.iter_batched(
                    || windows.clone(),
                    |ws| {
                        let verdicts: Vec<_> = references
                            .iter()
                            .zip(&ws)
                            .map(|(r, w)| policy.evaluate_summaries(r, w).unwrap())
                            .collect();
                        black_box(verdicts)
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(benches, stream_detectors, two_sample, summary_eval);
criterion_main!(benches);
