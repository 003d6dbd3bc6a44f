//! driftd against a real Kafka-protocol broker (tansu), fed by a third-party client (kafka-python).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::*;

/// Fresh topics and a consumer group for one test.
pub(crate) struct Topics {
    pub(crate) predictions: String,
    pub(crate) feedback: String,
    pub(crate) dlq: String,
    pub(crate) group: String,
}

/// Creates the prediction topic with `partitions`, and one-partition feedback and dead-letter topics.
pub(crate) fn topics(broker: &Broker, partitions: u32) -> Topics {
    let t = Topics {
        predictions: unique("pred"),
        feedback: unique("fb"),
        dlq: unique("dlq"),
        group: unique("group"),
    };
    broker.create_topic(&t.predictions, partitions);
    broker.create_topic(&t.feedback, 1);
    broker.create_topic(&t.dlq, 1);
    t
}

/// A Kafka-mode configuration for `t` with the embedded store, with `extra` TOML appended.
pub(crate) fn kafka_config(broker: &Broker, t: &Topics, extra: &str) -> String {
    kafka_config_with_state(
        broker,
        t,
        "[state]\nkind = \"embedded\"\npath = \"state.redb\"",
        extra,
    )
}

/// The admin token of [`kafka_config`]'s configurations.
pub(crate) const ADMIN_TOKEN: &str = "kafka-admin-token-0123456789";

/// A Kafka-mode configuration for `t` with the given `[state]` table, with `extra` TOML appended.
pub(crate) fn kafka_config_with_state(
    broker: &Broker,
    t: &Topics,
    state: &str,
    extra: &str,
) -> String {
    format!(
        r#"
[http]
listen = "{{HTTP}}"
feedback_tokens = [{{ env = "DRIFTD_TEST_TOKEN" }}]
admin_tokens = [{{ value = "{ADMIN_TOKEN}" }}]

[source]
kind = "kafka"
brokers = "{bootstrap}"
group_id = "{group}"
prediction_topic = "{pred}"
feedback_topic = "{fb}"
dead_letter_topic = "{dlq}"
consumer_properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}

{state}

[checkpoint]
interval = "300ms"

[shutdown]
timeout = "15s"
{extra}
"#,
        bootstrap = broker.bootstrap(),
        group = t.group,
        pred = t.predictions,
        fb = t.feedback,
        dlq = t.dlq,
    )
}

const TOKEN: &str = "kafka-test-token-0123456789";

fn accepted(m: &Metrics) -> f64 {
    m.sum("driftd_events_total", &[])
}

fn rejected(m: &Metrics) -> f64 {
    m.sum("driftd_events_rejected_total", &[])
}

/// Waits until `done` holds and the consumer has caught up on every partition (lag 0 in
/// librdkafka's statistics, exported every second): every record on the topics has been taken
/// by then, duplicates included, so the counts are final. Returns the metrics then.
pub(crate) fn caught_up(d: &Driftd, within: Duration, done: impl Fn(&Metrics) -> bool) -> Metrics {
    wait_for(
        "the events to be counted and the consumer lag to be 0",
        within,
        || {
            let m = d.metrics()?;
            (done(&m)
                && m.has("driftd_kafka_consumer_lag")
                && m.sum("driftd_kafka_consumer_lag", &[]) == 0.0)
                .then_some(m)
        },
    )
}

/// 10,000 valid predictions for two models plus 500 malformed events of eight kinds, produced by
/// kafka-python; driftd counts them exactly and dead-letters the 500 with reasons in headers.
/// Also: HTTP feedback in Kafka mode goes through the feedback topic and is counted once.
#[test]
fn kafka_counts_exactly_and_dead_letters_rejects() {
    let broker = Broker::start(false);
    let t = topics(&broker, 3);
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(7);
    let mut lines = Vec::new();
    let mut want_reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..10_000 {
        let model = if i % 5 < 3 { "churn" } else { "fraud" };
        lines.push(g.prediction(model, 25));
        if i % 20 == 0 {
            let (bad, reason) = malformed(i / 20);
            lines.push(bad);
            *want_reasons.entry(reason).or_default() += 1;
        }
    }
    assert_eq!(want_reasons.values().sum::<usize>(), 500);
    assert!(want_reasons.len() >= 5);
    let file = dir.path().join("events.jsonl");
    write_lines(&file, &lines);
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &file), 10_500);

    let d = Driftd::start(
        dir.path(),
        &kafka_config(&broker, &t, ""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    let m = wait_for(
        "10,500 events to be processed",
        Duration::from_secs(300),
        || {
            let m = d.metrics()?;
            (accepted(&m) + rejected(&m) >= 10_500.0).then_some(m)
        },
    );
    assert_eq!(accepted(&m), 10_000.0);
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", "churn"), ("kind", "prediction")]
        ),
        6_000.0
    );
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", "fraud"), ("kind", "prediction")]
        ),
        4_000.0
    );
    for (reason, n) in &want_reasons {
        assert_eq!(
            m.sum("driftd_events_rejected_total", &[("reason", reason)]),
            *n as f64,
            "reason {reason}"
        );
    }
    // Lag comes from librdkafka's statistics (every second); once caught up it is 0.
    wait_for(
        "the consumer lag to be exported and 0",
        Duration::from_secs(15),
        || {
            let m = d.metrics()?;
            (m.has("driftd_kafka_consumer_lag") && m.sum("driftd_kafka_consumer_lag", &[]) == 0.0)
                .then_some(())
        },
    );
    assert!(d.ready(), "{}", d.log_text());

    // The dead-letter topic holds the 500, each with its reason and origin in headers.
    let dead = consume(&broker.bootstrap(), &t.dlq, 500, Duration::from_secs(60));
    assert_eq!(dead.len(), 500);
    let mut got_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for msg in &dead {
        let h = |k: &str| msg.headers.get(k).cloned().flatten().unwrap_or_default();
        *got_reasons.entry(h("driftd-reason")).or_default() += 1;
        assert_eq!(h("driftd-topic"), t.predictions);
        assert!(h("driftd-offset").parse::<i64>().is_ok());
        assert!(h("driftd-partition").parse::<i32>().is_ok());
        assert!(!h("driftd-detail").is_empty());
        assert!(msg.value.is_some());
    }
    let want: BTreeMap<String, usize> = want_reasons
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(got_reasons, want);

    // HTTP feedback in Kafka mode is produced to the feedback topic and counted once.
    let batch: Vec<String> = (0..25).map(|_| g.feedback("churn")).collect();
    let body = format!("[{}]", batch.join(","));
    let (status, resp) = http_post(
        &format!("{}/v1/feedback", d.base()),
        Some(TOKEN),
        body.as_bytes(),
    );
    assert_eq!(status, 202, "{resp}");
    let m = caught_up(&d, Duration::from_secs(60), |m| {
        m.sum(
            "driftd_events_total",
            &[("model", "churn"), ("kind", "feedback")],
        ) >= 25.0
    });
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", "churn"), ("kind", "feedback")]
        ),
        25.0
    );
    let on_topic = consume(
        &broker.bootstrap(),
        &t.feedback,
        25,
        Duration::from_secs(30),
    );
    assert_eq!(on_topic.len(), 25);
}

/// SIGKILL in the middle of a 50,000-event stream, then restart: nothing lost, nothing counted
/// twice (the checkpoint holds state and offsets together).
#[test]
fn kafka_sigkill_mid_stream_loses_nothing_and_counts_exactly() {
    let broker = Broker::start(false);
    let t = topics(&broker, 2);
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(11);
    let lines: Vec<String> = (0..50_000)
        .map(|i| {
            if i % 100 == 99 {
                malformed(i / 100).0
            } else if i % 2 == 0 {
                g.prediction("churn", 10)
            } else {
                g.prediction("fraud", 10)
            }
        })
        .collect();
    let file = dir.path().join("events.jsonl");
    write_lines(&file, &lines);
    // Malformed lines sit at odd indices (i % 100 == 99), which would otherwise be `fraud`.
    let (want_rejected, want_churn, want_fraud) = (500.0, 25_000.0, 24_500.0);
    // Half before driftd starts, half while it runs.
    let (first, second) = lines.split_at(25_000);
    let f1 = dir.path().join("a.jsonl");
    let f2 = dir.path().join("b.jsonl");
    write_lines(&f1, first);
    write_lines(&f2, second);
    produce(&broker.bootstrap(), &t.predictions, &f1);

    let mut d = Driftd::start(
        dir.path(),
        &kafka_config(&broker, &t, ""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    let producer = {
        let (b, topic, f2) = (broker.bootstrap(), t.predictions.clone(), f2.clone());
        std::thread::spawn(move || produce(&b, &topic, &f2))
    };
    wait_for(
        "some progress before the crash",
        Duration::from_secs(120),
        || {
            let m = d.metrics()?;
            (accepted(&m) >= 8_000.0).then_some(())
        },
    );
    d.kill9();
    assert_eq!(producer.join().unwrap(), 25_000);
    d.restart();
    // Caught up: every record has been taken, so a duplicate would be counted by now.
    let m2 = caught_up(&d, Duration::from_secs(400), |m| {
        accepted(m) + rejected(m) >= 50_000.0
    });
    assert_eq!(accepted(&m2), 49_500.0, "{}", d.log_text());
    assert_eq!(rejected(&m2), want_rejected);
    assert_eq!(
        m2.sum("driftd_events_total", &[("model", "churn")]),
        want_churn
    );
    assert_eq!(
        m2.sum("driftd_events_total", &[("model", "fraud")]),
        want_fraud
    );
    assert!(d.log_text().contains("resuming from checkpoint"));
}

/// The broker (durable storage) is stopped for 10 s mid-stream: driftd stays up, reports
/// not-ready, recovers by itself, and counts every event exactly once.
#[test]
fn kafka_broker_outage_recovers_and_counts_exactly_once() {
    let mut broker = Broker::start(true);
    let t = topics(&broker, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(13);
    let a: Vec<String> = (0..3_000).map(|_| g.prediction("churn", 10)).collect();
    let b: Vec<String> = (0..3_000).map(|_| g.prediction("fraud", 10)).collect();
    let fa = dir.path().join("a.jsonl");
    let fb = dir.path().join("b.jsonl");
    write_lines(&fa, &a);
    write_lines(&fb, &b);
    produce(&broker.bootstrap(), &t.predictions, &fa);
    let mut d = Driftd::start(
        dir.path(),
        &kafka_config(&broker, &t, ""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    wait_for("the first 3,000", Duration::from_secs(120), || {
        (accepted(&d.metrics()?) >= 3_000.0).then_some(())
    });
    wait_for("ready", Duration::from_secs(30), || d.ready().then_some(()));

    broker.stop();
    let down = std::time::Instant::now();
    wait_for(
        "not-ready during the outage",
        Duration::from_secs(10),
        || (!d.ready()).then_some(()),
    );
    assert!(
        d.alive(),
        "driftd died during the outage:\n{}",
        d.log_text()
    );
    // The outage's length is the scenario (librdkafka backs off and retries through it), not a
    // wait for driftd: what driftd does meanwhile is checked above and after.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down.elapsed()));
    broker.restart();
    produce(&broker.bootstrap(), &t.predictions, &fb);

    let m2 = caught_up(&d, Duration::from_secs(400), |m| accepted(m) >= 6_000.0);
    wait_for("ready again", Duration::from_secs(60), || {
        d.ready().then_some(())
    });
    assert_eq!(accepted(&m2), 6_000.0, "{}\n{}", d.log_text(), broker.log());
    assert_eq!(
        m2.sum("driftd_events_total", &[("model", "fraud")]),
        3_000.0
    );
    let log = d.log_text();
    let down_at = log
        .find("Kafka brokers unreachable")
        .unwrap_or_else(|| panic!("the outage was not logged:\n{log}"));
    assert!(
        log[down_at..].contains("Kafka brokers reachable"),
        "the recovery was not logged:\n{log}"
    );
}
