//! Training and shadow-scoring benchmarks for `driftd-retrain` (issue 6).
//!
//! * `train_100k_x25/<algorithm>`: one call of [`train`] on 100,000 examples of 25 raw features
//!   (20 numeric, 5 categorical with 6 levels each), i.e. fitting the encoder (standardisation,
//!   one-hot), encoding, the Linfa fit and the final divergence check on the training data — what
//!   the daemon pays per retraining. `encode_only` is the encoder's share (fit + encode), for
//!   comparison with a baseline that times the fit alone.
//! * `shadow_score/<model>/predict`: scoring a candidate on one event's 25-feature map (what
//!   shadow mode adds per event); `.../predict_batch_1000`: the same per event in batches of 1000.
//!
//! The data come from a deterministic generator (xorshift64*, Box–Muller), the same shape as
//! `scripts/bench_train.py` generates for the scikit-learn baseline:
//! `python3 scripts/bench_train.py` runs this bench and the baseline and prints both.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use driftd_retrain::{
    AlgorithmConfig, DecisionTreeParams, ElasticNetParams, Encoder, EncoderConfig, Example,
    Features, GaussianNbParams, LinearRegressionParams, LogisticRegressionParams, Target, Task,
    TrainedModel, Value, evaluate, train,
};

/// Examples per training set.
const N: usize = 100_000;
/// Numeric features.
const N_NUM: usize = 20;
/// Categorical features.
const N_CAT: usize = 5;
/// Levels per categorical feature.
const N_LEVELS: u64 = 6;

/// xorshift64* with a Box–Muller normal; deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal.
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform(); // (0, 1]
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// What the examples' targets are.
#[derive(Clone, Copy)]
enum Kind {
    /// Two classes, "0" and "1": the sign of a noisy linear score.
    Binary,
    /// Three classes, "a", "b", "c": the largest of three noisy linear scores.
    Multiclass,
    /// A real value: a linear score plus noise.
    Regression,
}

/// `n` examples: `num_00..num_19` standard normal, `cat_0..cat_4` uniform over `v0..v5`; the
/// target depends on 6 of the numeric features and 2 of the categorical ones (the rest is noise).
fn examples(n: usize, kind: Kind, seed: u64) -> Vec<Example> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let num_names: Vec<String> = (0..N_NUM).map(|j| format!("num_{j:02}")).collect();
    let cat_names: Vec<String> = (0..N_CAT).map(|j| format!("cat_{j}")).collect();
    let levels: Vec<String> = (0..N_LEVELS).map(|l| format!("v{l}")).collect();
    (0..n)
        .map(|i| {
            let x: Vec<f64> = (0..N_NUM).map(|_| rng.normal()).collect();
            let c: Vec<usize> = (0..N_CAT)
                .map(|_| (rng.uniform() * N_LEVELS as f64) as usize)
                .collect();
            let mut features = Features::new();
            for (name, v) in num_names.iter().zip(&x) {
                features.insert(name.clone(), Value::Number(*v));
            }
            for (name, l) in cat_names.iter().zip(&c) {
                features.insert(name.clone(), Value::Category(levels[*l].clone()));
            }
            let cat_effect = |f: usize| match c[f] {
                0 => 1.0,
                1 => -1.0,
                _ => 0.0,
            };
            let s1 = 1.5 * x[0] - 1.0 * x[1] + 0.8 * x[2] + cat_effect(0);
            let target = match kind {
                Kind::Binary => {
                    let noisy = s1 + 0.5 * x[3] + rng.normal() * 0.5;
                    Target::Label(if noisy > 0.0 { "1" } else { "0" }.into())
                }
                Kind::Multiclass => {
                    let s2 = 1.2 * x[3] - 0.7 * x[4] + cat_effect(1);
                    let s3 = -0.5 * s1 - 0.5 * s2 + 0.9 * x[5];
                    let s = [
                        s1 + rng.normal() * 0.3,
                        s2 + rng.normal() * 0.3,
                        s3 + rng.normal() * 0.3,
                    ];
                    let k = (0..3).fold(0, |b, k| if s[k] > s[b] { k } else { b });
                    Target::Label(["a", "b", "c"][k].into())
                }
                Kind::Regression => Target::Value(
                    3.0 + s1 + 0.5 * x[3] - 0.25 * x[4] + 2.0 * cat_effect(1) + rng.normal(),
                ),
            };
            Example {
                ts_ms: i as i64,
                features,
                target,
                source: None,
            }
        })
        .collect()
}

/// The benchmarked algorithms: name, task, data kind, configuration (all default settings).
fn algorithms() -> Vec<(&'static str, Task, Kind, AlgorithmConfig)> {
    use AlgorithmConfig as A;
    vec![
        (
            "logistic_binary",
            Task::Classification,
            Kind::Binary,
            A::LogisticRegression(LogisticRegressionParams::default()),
        ),
        (
            "logistic_multinomial_3",
            Task::Classification,
            Kind::Multiclass,
            A::LogisticRegression(LogisticRegressionParams::default()),
        ),
        (
            "decision_tree",
            Task::Classification,
            Kind::Binary,
            A::DecisionTree(DecisionTreeParams::default()),
        ),
        (
            "gaussian_nb",
            Task::Classification,
            Kind::Binary,
            A::GaussianNb(GaussianNbParams::default()),
        ),
        (
            "linear_regression",
            Task::Regression,
            Kind::Regression,
            A::LinearRegression(LinearRegressionParams::default()),
        ),
        (
            "elastic_net",
            Task::Regression,
            Kind::Regression,
            A::ElasticNet(ElasticNetParams::default()),
        ),
    ]
}

/// The quality of the last benchmarked fit on 10,000 held-out examples (printed once, to show the
/// rule is learnt and that a change in speed does not hide a broken fit).
fn report(name: &str, kind: Kind, model: &TrainedModel) {
    let holdout = examples(10_000, kind, 99);
    let m = evaluate(model, &holdout).expect("evaluate");
    eprintln!(
        "{name}: {} encoded columns; held out: {}",
        model.columns().len(),
        serde_json::to_string(&m).unwrap_or_default()
    );
}

fn train_100k(c: &mut Criterion) {
    let binary = examples(N, Kind::Binary, 1);
    let multi = examples(N, Kind::Multiclass, 2);
    let regression = examples(N, Kind::Regression, 3);
    let data = |k: Kind| match k {
        Kind::Binary => &binary,
        Kind::Multiclass => &multi,
        Kind::Regression => &regression,
    };
    let mut g = c.benchmark_group("train_100k_x25");
    // Each iteration is a whole fit (up to seconds): flat sampling, 10 samples of one fit each.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function("encode_only", |b| {
        b.iter(|| {
            let enc = Encoder::fit(&binary, &EncoderConfig::default()).expect("encoder");
            black_box(enc.encode_batch(binary.iter().map(|e| &e.features)))
        })
    });
    for (name, task, kind, algo) in algorithms() {
        let d = data(kind);
        let mut last = None;
        // A fit can take tens of seconds: each one is timed alone (and dropped outside the
        // timing); criterion's warm-up is a single fit.
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let m = train(task, &algo, &EncoderConfig::default(), black_box(d));
                    total += t.elapsed();
                    last = Some(m.expect("training"));
                }
                total
            })
        });
        if let Some(m) = &last {
            report(name, kind, m);
        }
    }
    g.finish();
}

fn shadow_score(c: &mut Criterion) {
    let training = examples(N, Kind::Binary, 1);
    let events: Vec<Features> = examples(1000, Kind::Binary, 7)
        .into_iter()
        .map(|e| e.features)
        .collect();
    let models: Vec<(&str, TrainedModel)> = [
        (
            "logistic",
            AlgorithmConfig::LogisticRegression(LogisticRegressionParams::default()),
        ),
        (
            "decision_tree",
            AlgorithmConfig::DecisionTree(DecisionTreeParams::default()),
        ),
    ]
    .into_iter()
    .map(|(name, algo)| {
        let m = train(
            Task::Classification,
            &algo,
            &EncoderConfig::default(),
            &training,
        )
        .expect("training");
        (name, m)
    })
    .collect();
    drop(training);
    let mut g = c.benchmark_group("shadow_score");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for (name, model) in &models {
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}/predict"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % events.len();
                black_box(model.predict(black_box(&events[i])))
            })
        });
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(format!("{name}/predict_batch_1000"), |b| {
            b.iter(|| black_box(model.predict_batch(black_box(&events))))
        });
    }
    g.finish();
}

criterion_group!(benches, train_100k, shadow_score);
criterion_main!(benches);
