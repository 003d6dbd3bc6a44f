//! Seeded synthetic problems shared by the integration tests (`driftd_detectors::synth::Rng`,
//! SplitMix64, so every run sees the same data).

#![allow(dead_code)]

use driftd_detectors::synth::Rng;
use driftd_retrain::{
    AlgorithmConfig, DecisionTreeParams, ElasticNetParams, Example, Features, GaussianNbParams,
    LinearRegressionParams, LogisticRegressionParams, Target, Value,
};

pub const COLORS: [&str; 3] = ["red", "green", "blue"];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[(rng.uniform() * items.len() as f64) as usize % items.len()]
}

/// Gaussian blobs, one per class, well separated on `x1`/`x2`; plus a noise number that is
/// missing 10 % of the time and a noise category. Timestamps 0, 1000, 2000, ...
pub fn blobs(seed: u64, n: usize, centres: &[(&str, f64, f64)]) -> Vec<Example> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let (label, cx, cy) = centres[i % centres.len()];
            let mut f = Features::new();
            f.insert("x1".into(), Value::Number(cx + rng.normal()));
            f.insert("x2".into(), Value::Number(cy + rng.normal()));
            let noise = rng.normal();
            if rng.uniform() < 0.1 {
                f.insert("noise".into(), Value::Missing);
            } else {
                f.insert("noise".into(), Value::Number(noise));
            }
            f.insert("color".into(), Value::from(pick(&mut rng, &COLORS)));
            Example {
                ts_ms: i as i64 * 1000,
                features: f,
                target: Target::Label(label.into()),
                source: None,
            }
        })
        .collect()
}

pub fn binary_blobs(seed: u64, n: usize) -> Vec<Example> {
    blobs(seed, n, &[("neg", -2.5, -1.0), ("pos", 2.5, 1.0)])
}

pub fn three_blobs(seed: u64, n: usize) -> Vec<Example> {
    blobs(
        seed,
        n,
        &[("a", -4.0, 0.0), ("b", 4.0, 0.0), ("c", 0.0, 5.0)],
    )
}

/// `y = 3·x1 − 2·x2 + 1.5·[color = red] + 0.3·ε`, with x1, x2 ~ N(0, 1), a categorical color and
/// a missing-sometimes noise number.
pub fn linear_problem(seed: u64, n: usize) -> Vec<Example> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let x1 = rng.normal();
            let x2 = rng.normal();
            let color = pick(&mut rng, &COLORS);
            let noise = rng.normal();
            let y =
                3.0 * x1 - 2.0 * x2 + if color == "red" { 1.5 } else { 0.0 } + 0.3 * rng.normal();
            let mut f = Features::new();
            f.insert("x1".into(), Value::Number(x1));
            f.insert("x2".into(), Value::Number(x2));
            f.insert("color".into(), Value::from(color));
            if i % 7 != 0 {
                f.insert("noise".into(), Value::Number(noise));
            }
            Example {
                ts_ms: i as i64 * 1000,
                features: f,
                target: Target::Value(y),
                source: None,
            }
        })
        .collect()
}

pub fn classifiers() -> Vec<AlgorithmConfig> {
    vec![
        AlgorithmConfig::LogisticRegression(LogisticRegressionParams::default()),
        AlgorithmConfig::DecisionTree(DecisionTreeParams::default()),
        AlgorithmConfig::GaussianNb(GaussianNbParams::default()),
    ]
}

pub fn regressors() -> Vec<AlgorithmConfig> {
    vec![
        AlgorithmConfig::LinearRegression(LinearRegressionParams::default()),
        AlgorithmConfig::ElasticNet(ElasticNetParams::default()),
    ]
}

pub fn features_of(examples: &[Example]) -> Vec<Features> {
    examples.iter().map(|e| e.features.clone()).collect()
}
