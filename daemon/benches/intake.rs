//! Intake kernel benchmark: parse + validate + count of 25-feature events through
//! [`driftd::intake::pipeline::Pipeline`], on one thread. The end-to-end figure (file reader, checkpoints,
//! the real binary) and the Python baseline come from `scripts/bench_intake.py`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use driftd::contract::event::{ParseOptions, parse_event};
use driftd::intake::pipeline::Pipeline;
use driftd::intake::policy::ModelPolicy;
use driftd::telemetry::metrics::Metrics;

/// Events shaped like the benchmark file of `scripts/bench_intake.py`: 25 features (22 numeric,
/// 3 categorical), two models, a classification output.
fn events(n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let mut f = String::new();
            for j in 0..22 {
                f.push_str(&format!("\"num_{j}\":{:.6},", next() * 100.0 - 50.0));
            }
            for j in 0..3 {
                f.push_str(&format!("\"cat_{j}\":\"v{}\",", (next() * 8.0) as u32));
            }
            f.pop();
            let model = if i % 2 == 0 { "churn" } else { "fraud" };
            format!(
                r#"{{"kind":"prediction","id":"e{i}","model":"{model}","model_version":"3","ts":"2026-11-21T10:00:00.123Z","features":{{{f}}},"prediction":{{"label":"1","score":{:.4}}}}}"#,
                next()
            )
            .into_bytes()
        })
        .collect()
}

fn intake(c: &mut Criterion) {
    let evs = events(10_000);
    let bytes: usize = evs.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("intake");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("parse_validate", |b| {
        let opts = ParseOptions::default();
        b.iter(|| {
            for e in &evs {
                black_box(parse_event(black_box(e), &opts).is_ok());
            }
        })
    });
    g.bench_function("parse_validate_count", |b| {
        let mut p = Pipeline::new(
            Arc::new(Metrics::new()),
            ParseOptions::default(),
            ModelPolicy::new(&Default::default(), &Default::default()),
        );
        p.open_shard("bench".into(), None);
        let mut offset = 0u64;
        b.iter(|| {
            for e in &evs {
                black_box(p.process("bench", offset, offset + 1, e));
                offset += 1;
            }
        })
    });
    g.finish();
    eprintln!("mean event size: {} bytes", bytes / evs.len());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = intake
}
criterion_main!(benches);
