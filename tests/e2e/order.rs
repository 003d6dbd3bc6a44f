//! The monitors see events in event time, whatever the topology (issue: drift missed on
//! multi-partition topics). One seeded drift stream, produced by a third-party client keyed by
//! prediction id to topics of 1, 3 and 6 partitions, with one partition held back and produced
//! later, and with a SIGKILL mid-stream: `driftd run` reports exactly the onsets `driftd replay`
//! reports for the same files, and counts every event exactly.
//!
//! The streams end with one *sentinel* event per partition (a prediction of model `eos`, a week
//! after the stream): a partition's clock then passes every real event, so the watermark releases
//! all of them without waiting for idle timeouts. Replay sees the same sentinels.

use std::path::Path;
use std::time::Duration;

use driftd::offline::streams::{StreamKind, StreamSpec, generate, write_to_dir};
use serde_json::Value as Json;

use crate::harness::*;
use crate::kafka::{ADMIN_TOKEN as ADMIN, Topics, kafka_config_with_state, topics};

/// A generated stream on disk: its files, counts and the onsets `driftd replay` reports.
pub(crate) struct Recorded {
    pub(crate) model: String,
    pub(crate) predictions: std::path::PathBuf,
    pub(crate) feedback: std::path::PathBuf,
    pub(crate) n_predictions: usize,
    pub(crate) n_feedback: usize,
    pub(crate) onsets: Vec<Json>,
}

/// The sentinel event for one partition (`tag` makes it unique).
pub(crate) fn sentinel(tag: &str) -> String {
    format!(
        r#"{{"kind":"prediction","id":"eos-{tag}","model":"eos","ts":"2026-03-01T00:00:00Z","features":{{"x":1.0}},"prediction":{{"label":"1","score":0.9}}}}"#
    )
}

/// Writes the stream and replays it (with the sentinels of `partitions` + 1 feedback partition).
pub(crate) fn record(
    dir: &Path,
    kind: StreamKind,
    n: usize,
    seed: u64,
    partitions: u32,
) -> Recorded {
    let name = kind.name();
    let stream = generate(&StreamSpec::new(kind).events(n).seed(seed)).unwrap();
    write_to_dir(&stream, dir, name).unwrap();
    let predictions = dir.join(format!("{name}.predictions.jsonl"));
    let feedback = dir.join(format!("{name}.feedback.jsonl"));
    let lines = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    };
    let (n_predictions, n_feedback) = (lines(&predictions), lines(&feedback));
    // Replay's input: the same events and the same sentinels.
    let rp = dir.join("replay.predictions.jsonl");
    let rf = dir.join("replay.feedback.jsonl");
    std::fs::copy(&predictions, &rp).unwrap();
    std::fs::copy(&feedback, &rf).unwrap();
    append_lines(
        &rp,
        &(0..partitions)
            .map(|p| sentinel(&format!("p{p}")))
            .collect::<Vec<_>>(),
    );
    append_lines(&rf, &[sentinel("fb")]);
    let report = dir.join("replay.report.jsonl");
    let (onsets, summary) = {
        let args = [
            "--events",
            "replay.predictions.jsonl",
            "--feedback",
            "replay.feedback.jsonl",
        ];
        crate::replay::exec_replay(dir, &args, &report);
        crate::replay::read_report(&report)
    };
    assert_eq!(summary.get("late_events"), None, "{summary}");
    Recorded {
        model: name.to_owned(),
        predictions,
        feedback,
        n_predictions,
        n_feedback,
        onsets,
    }
}

/// A Kafka configuration with the given `[state]` table and `[events.order]` settings.
fn config(broker: &Broker, t: &Topics, state: &str, order: &str) -> String {
    kafka_config_with_state(broker, t, state, &format!("[events.order]\n{order}"))
}

/// The feedback token the Kafka configurations read from the environment.
pub(crate) const ENV: &[(&str, &str)] = &[("DRIFTD_TEST_TOKEN", "order-feedback-token-0123456789")];

pub(crate) const EMBEDDED: &str = "[state]\nkind = \"embedded\"\npath = \"state.redb\"";

/// Produces the predictions keyed by id (with more `kafka_tool.py produce` options) and returns
/// the count.
fn produce_predictions_with(broker: &Broker, t: &Topics, r: &Recorded, extra: &[&str]) -> usize {
    let mut args = vec!["--key-field", "id"];
    args.extend(extra);
    produce_with(&broker.bootstrap(), &t.predictions, &r.predictions, &args)
}

/// Produces sentinel `p` to partition `to` of the prediction topic.
fn produce_sentinel(broker: &Broker, t: &Topics, dir: &Path, p: u32, to: u32) {
    let f = dir.join(format!("sentinel-{p}.jsonl"));
    write_lines(&f, &[sentinel(&format!("p{p}"))]);
    let n = produce_with(
        &broker.bootstrap(),
        &t.predictions,
        &f,
        &["--partition", &to.to_string()],
    );
    assert_eq!(n, 1);
}

/// Produces every label, then the feedback partition's sentinel.
pub(crate) fn produce_feedback(broker: &Broker, t: &Topics, dir: &Path, r: &Recorded) {
    let n = produce_with(&broker.bootstrap(), &t.feedback, &r.feedback, &[]);
    assert_eq!(n, r.n_feedback);
    let f = dir.join("sentinel-fb.jsonl");
    write_lines(&f, &[sentinel("fb")]);
    assert_eq!(produce(&broker.bootstrap(), &t.feedback, &f), 1);
}

pub(crate) fn events(m: &Metrics, model: &str, kind: &str) -> f64 {
    m.sum("driftd_events_total", &[("model", model), ("kind", kind)])
}

/// Waits until every event is counted and only the sentinels are held back; returns the metrics.
pub(crate) fn wait_done(d: &Driftd, r: &Recorded, sentinels: usize) -> Metrics {
    wait_for(
        "every event applied up to the sentinels",
        Duration::from_secs(600),
        || {
            let m = d.metrics()?;
            let done = events(&m, &r.model, "prediction") >= r.n_predictions as f64
                && events(&m, &r.model, "feedback") >= r.n_feedback as f64
                && events(&m, "eos", "prediction") >= sentinels as f64
                && m.sum("driftd_order_buffered_events", &[]) <= sentinels as f64;
            done.then_some(m)
        },
    )
}

/// The counts are exact, nothing was applied out of order or forced out, and the onsets are
/// replay's, field for field.
pub(crate) fn assert_same_as_replay(
    d: &Driftd,
    m: &Metrics,
    r: &Recorded,
    sentinels: usize,
    what: &str,
) {
    assert_eq!(
        events(m, &r.model, "prediction"),
        r.n_predictions as f64,
        "{what}"
    );
    assert_eq!(
        events(m, &r.model, "feedback"),
        r.n_feedback as f64,
        "{what}"
    );
    assert_eq!(events(m, "eos", "prediction"), sentinels as f64, "{what}");
    assert_eq!(m.sum("driftd_events_rejected_total", &[]), 0.0, "{what}");
    assert_eq!(m.sum("driftd_events_late_total", &[]), 0.0, "{what}");
    assert_eq!(m.sum("driftd_order_forced_total", &[]), 0.0, "{what}");
    assert_eq!(
        m.sum("driftd_order_buffered_events", &[]),
        sentinels as f64,
        "{what}: the sentinels stay held (nothing passed them)"
    );
    let url = format!("{}/v1/models/{}", d.base(), r.model);
    let status = http_get_json(&url, ADMIN).expect("the model's status");
    let got = status["recent_onsets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        got,
        r.onsets,
        "{what}: onsets differ from replay's\nlog tail:\n{}",
        tail(&d.log_text(), 40)
    );
    assert_eq!(
        m.sum(
            "driftd_drift_onsets_total",
            &[("model", &r.model), ("kind", "data")]
        ),
        r.onsets.iter().filter(|o| o["kind"] == "data").count() as f64,
        "{what}"
    );
}

/// The onsets replay must report on the covariate-shift stream: the shifted features.
fn assert_replay_finds_the_shift(r: &Recorded) {
    let mut features: Vec<&str> = r
        .onsets
        .iter()
        .filter(|o| o["kind"] == "data")
        .filter_map(|o| o["feature"].as_str())
        .collect();
    features.sort();
    assert_eq!(
        features,
        ["num_0", "num_1", "num_2", "num_3"],
        "{:#?}",
        r.onsets
    );
}

/// 1, 3 and 6 partitions, keyed by prediction id: the same onsets as replay, exact counts.
#[test]
fn onsets_do_not_depend_on_the_partitioning() {
    let broker = Broker::start(false);
    let data = tempfile::tempdir().unwrap();
    let r = record(data.path(), StreamKind::CovariateShift, 45_000, 11, 6);
    assert_replay_finds_the_shift(&r);
    for partitions in [1u32, 3, 6] {
        let t = topics(&broker, partitions);
        // Replay holds six prediction sentinels; a smaller topic gets them spread over its
        // partitions.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            produce_predictions_with(&broker, &t, &r, &[]),
            r.n_predictions
        );
        produce_feedback(&broker, &t, dir.path(), &r);
        for p in 0..6u32 {
            produce_sentinel(&broker, &t, dir.path(), p, p % partitions);
        }
        let d = Driftd::start(
            dir.path(),
            &config(&broker, &t, EMBEDDED, "idle_timeout = \"10m\""),
            ENV,
        );
        let m = wait_done(&d, &r, 7);
        assert_same_as_replay(&d, &m, &r, 7, &format!("{partitions} partitions"));
    }
}

/// Six partitions with Redis state: partition 5 is held back, so the watermark holds everything
/// (the others are paused once the buffer is half full) and nothing is reported; half of it is
/// produced while driftd runs, driftd is SIGKILLed mid-stream, the rest is produced while it is
/// down, and after the restart (catch-up) the onsets are replay's and the counts exact.
#[test]
fn a_lagging_partition_and_a_crash_change_nothing() {
    let broker = Broker::start(false);
    let redis = Redis::start();
    let data = tempfile::tempdir().unwrap();
    let r = record(data.path(), StreamKind::CovariateShift, 45_000, 12, 6);
    assert_replay_finds_the_shift(&r);
    let t = topics(&broker, 6);
    let dir = tempfile::tempdir().unwrap();
    let state = format!(
        "[state]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{}\"",
        redis.url(),
        unique("order")
    );
    let cfg = config(
        &broker,
        &t,
        &state,
        "idle_timeout = \"10m\"\nmax_buffered = 20000",
    );
    let early = produce_predictions_with(&broker, &t, &r, &["--only-partitions", "0,1,2,3,4"]);
    assert!(early > 30_000 && early < r.n_predictions, "{early}");
    for p in 0..5 {
        produce_sentinel(&broker, &t, dir.path(), p, p);
    }
    produce_feedback(&broker, &t, dir.path(), &r);
    let mut d = Driftd::start(dir.path(), &cfg, ENV);
    // Partition 5 has delivered nothing: the others fill the buffer to half of max_buffered and
    // are paused; nothing reaches the monitors.
    let m = wait_for(
        "the partitions ahead to be paused",
        Duration::from_secs(300),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_order_paused_partitions", &[]) >= 1.0
                && m.sum("driftd_order_buffered_events", &[]) >= 10_000.0)
                .then_some(m)
        },
    );
    assert_eq!(m.sum("driftd_drift_onsets_total", &[]), 0.0);
    assert_eq!(m.sum("driftd_order_forced_total", &[]), 0.0);
    assert!(
        m.sum("driftd_order_buffered_events", &[]) <= 20_000.0,
        "bounded: {}",
        m.sum("driftd_order_buffered_events", &[])
    );

    // Partition 5 resumes: its first half, produced while driftd runs, is applied together with
    // what the others held back.
    let p5 = r.n_predictions - early;
    let half = (p5 / 2).to_string();
    let n = produce_predictions_with(
        &broker,
        &t,
        &r,
        &["--only-partitions", "5", "--limit", &half],
    );
    assert_eq!(n, p5 / 2);
    let url = format!("{}/v1/models/{}", d.base(), r.model);
    wait_for(
        "the first half of partition 5 to reach the monitor",
        Duration::from_secs(300),
        || {
            let s = http_get_json(&url, ADMIN)?;
            (s["predictions"].as_f64()? >= 0.4 * r.n_predictions as f64).then_some(())
        },
    );
    let m = d.metrics().unwrap();
    assert_eq!(m.sum("driftd_order_forced_total", &[]), 0.0);
    assert_eq!(m.sum("driftd_events_late_total", &[]), 0.0);
    d.kill9();

    // The rest is produced while driftd is down; it catches up after the restart.
    let n = produce_predictions_with(
        &broker,
        &t,
        &r,
        &["--only-partitions", "5", "--skip", &half],
    );
    assert_eq!(n, p5 - p5 / 2);
    produce_sentinel(&broker, &t, dir.path(), 5, 5);
    d.restart();
    let m = wait_done(&d, &r, 7);
    assert_same_as_replay(&d, &m, &r, 7, "lagging partition, SIGKILL, catch-up");
}
