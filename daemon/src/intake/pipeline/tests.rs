//! Unit tests of `intake::pipeline`.

use super::*;
use crate::config::Config;

fn pipeline(strict: bool, max_models: usize) -> Pipeline {
    let mut c = Config::default();
    c.events.strict_models = strict;
    c.events.max_models = max_models;
    c.models.insert("churn".into(), Default::default());
    Pipeline::new(
        Arc::new(Metrics::new()),
        ParseOptions::default(),
        ModelPolicy::new(&c.models, &c.events),
    )
}

fn pred(model: &str) -> Vec<u8> {
    format!(
        r#"{{"kind":"prediction","id":"1","model":"{model}","ts":"2026-01-01T00:00:00Z","features":{{"a":1}}}}"#
    )
    .into_bytes()
}

fn pred_at(id: usize, second: u32) -> Vec<u8> {
    format!(
        r#"{{"kind":"prediction","id":"p{id}","model":"churn","ts":"2026-01-01T00:00:{second:02}Z","features":{{"a":1}}}}"#
    )
    .into_bytes()
}

/// Two partitions: the monitor sees nothing until both have moved past an event; an event
/// older than what was released comes back through the late path, is applied once and counted;
/// the end of input releases the rest.
#[test]
fn the_monitor_sees_event_time_order_and_late_events_are_counted() {
    let metrics = Arc::new(Metrics::new());
    let mut c = Config::default();
    c.models.insert("churn".into(), Default::default());
    let mut p = Pipeline::new(
        metrics.clone(),
        ParseOptions::default(),
        ModelPolicy::new(&c.models, &c.events),
    )
    .with_order(OrderSettings {
        allowed_lateness_ns: 0,
        max_buffered: 100,
    })
    .with_monitoring(MonitorSettings::default());
    let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
    p.open_shard(a.clone(), None);
    p.open_shard(b.clone(), None);
    let seen = |p: &mut Pipeline| p.monitors().get("churn").map_or(0, |m| m.predictions());
    for (i, s) in [10, 11, 12].into_iter().enumerate() {
        p.process("a", i as u64, i as u64 + 1, &pred_at(i, s));
    }
    assert_eq!(seen(&mut p), 0, "b has delivered nothing: everything waits");
    assert_eq!(p.held(), 3);
    p.process("b", 0, 1, &pred_at(10, 11));
    // Watermark 11 (b's clock): the event at 10 s is released.
    assert_eq!(seen(&mut p), 1);
    p.set_idle("b", true);
    assert_eq!(seen(&mut p), 3, "b idle: a alone holds the watermark at 12");
    p.process("b", 1, 2, &pred_at(11, 5));
    assert_eq!(
        seen(&mut p),
        4,
        "older than what was released: applied at once"
    );
    assert_eq!(metrics.events_late.with_label_values(&["churn"]).get(), 1);
    p.flush_order();
    assert_eq!(seen(&mut p), 5);
    assert_eq!(p.held(), 0);
}

#[test]
fn counts_and_skips_duplicates_below_the_checkpoint() {
    let mut p = pipeline(false, 10);
    let shard: Arc<str> = "s".into();
    p.open_shard(shard.clone(), None);
    assert!(matches!(
        p.process("s", 0, 1, &pred("churn")),
        Outcome::Accepted { .. }
    ));
    assert!(matches!(
        p.process("s", 1, 2, b"{bad"),
        Outcome::Rejected(_)
    ));
    let entries = p.checkpoint_entries();
    p.mark_checkpointed();
    assert_eq!(p.since_checkpoint(), 0);
    let saved = Pipeline::decode_checkpoint(&entries[0].1).unwrap();
    assert_eq!(saved.next_offset, 2);
    assert_eq!(saved.accepted(), 1);
    assert_eq!(saved.rejected_total(), 1);

    // A new process restores the checkpoint and is redelivered events 0..3.
    let mut q = pipeline(false, 10);
    q.open_shard(shard, Some(saved));
    assert_eq!(q.process("s", 0, 1, &pred("churn")), Outcome::Duplicate);
    assert_eq!(q.process("s", 1, 2, b"{bad"), Outcome::Duplicate);
    assert!(matches!(
        q.process("s", 2, 3, &pred("churn")),
        Outcome::Accepted { .. }
    ));
    assert_eq!(q.shard("s").unwrap().models["churn"].predictions, 2);
    let text = q.metrics.render();
    assert!(
        text.contains(r#"driftd_events_total{kind="prediction",model="churn"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"driftd_events_rejected_total{reason="invalid_json"} 1"#));
    assert!(text.contains("driftd_events_duplicate_total 2"));
}

#[test]
fn reassigning_a_shard_in_the_same_process_does_not_double_count_metrics() {
    let mut p = pipeline(false, 10);
    p.open_shard("s".into(), None);
    for i in 0..5 {
        p.process("s", i, i + 1, &pred("churn"));
    }
    p.process("s", 5, 6, b"{bad");
    let saved = Pipeline::decode_checkpoint(&p.checkpoint_entries()[0].1).unwrap();
    for i in 6..8 {
        p.process("s", i, i + 1, &pred("churn"));
    }
    // Revoked (uncheckpointed events 6 and 7 are dropped), then assigned again.
    p.close_shard("s");
    p.open_shard("s".into(), Some(saved));
    let text = p.metrics.render();
    assert!(
        text.contains(r#"driftd_events_total{kind="prediction",model="churn"} 7"#),
        "{text}"
    );
    // Replaying 6 and 7 does not move the counter; event 8 does.
    for i in 6..9 {
        p.process("s", i, i + 1, &pred("churn"));
    }
    let text = p.metrics.render();
    assert!(
        text.contains(r#"driftd_events_total{kind="prediction",model="churn"} 8"#),
        "{text}"
    );
    assert!(text.contains(r#"driftd_events_rejected_total{reason="invalid_json"} 1"#));
    assert_eq!(p.shard("s").unwrap().models["churn"].predictions, 8);
}

#[test]
fn strict_models_and_the_discovery_cap() {
    let mut p = pipeline(true, 10);
    p.open_shard("s".into(), None);
    assert!(matches!(
        p.process("s", 0, 1, &pred("churn")),
        Outcome::Accepted { .. }
    ));
    match p.process("s", 1, 2, &pred("fraud")) {
        Outcome::Rejected(r) => assert_eq!(r.reason, RejectReason::UnknownModel),
        o => panic!("{o:?}"),
    }
    let mut p = pipeline(false, 2);
    p.open_shard("s".into(), None);
    assert!(matches!(
        p.process("s", 0, 1, &pred("a")),
        Outcome::Accepted { .. }
    ));
    assert!(matches!(
        p.process("s", 1, 2, &pred("b")),
        Outcome::Accepted { .. }
    ));
    match p.process("s", 2, 3, &pred("c")) {
        Outcome::Rejected(r) => assert_eq!(r.reason, RejectReason::TooManyModels),
        o => panic!("{o:?}"),
    }
    // a configured model is always accepted
    assert!(matches!(
        p.process("s", 3, 4, &pred("churn")),
        Outcome::Accepted { .. }
    ));
}

#[test]
fn newer_checkpoint_versions_are_refused() {
    let s = ShardState {
        version: CHECKPOINT_VERSION + 1,
        ..Default::default()
    };
    assert!(Pipeline::decode_checkpoint(&serde_json::to_vec(&s).unwrap()).is_err());
    assert!(Pipeline::decode_checkpoint(b"garbage").is_err());
}

/// The parse stage changes nothing: events parsed elsewhere ([`parse_owned`], as the file
/// reader's thread does) and handed to `process_parsed` leave the pipeline in exactly the state
/// `process` does (outcomes, monitors, checkpoint bytes), with and without the event-time order,
/// bad events included.
#[test]
fn process_parsed_is_process() {
    let events: Vec<Vec<u8>> = (0..3_000usize)
        .map(|i| {
            if i % 97 == 5 {
                return b"{\"kind\":\"prediction\",\"id\":".to_vec();
            }
            let second = (i / 10) % 60;
            let minute = i / 600;
            let ts = format!("2026-01-01T00:{minute:02}:{second:02}.{:03}Z", i % 10);
            let line = if i % 3 == 2 {
                format!(
                    r#"{{"kind":"feedback","id":"p{}","model":"churn","ts":"{ts}","label":"{}"}}"#,
                    i - 1,
                    i % 2
                )
            } else {
                format!(
                    r#"{{"kind":"prediction","id":"p{i}","model":"churn","ts":"{ts}","features":{{"a":{},"c":"v{}"}},"prediction":{{"label":"{}","score":0.{}}}}}"#,
                    (i * 7919) % 1000,
                    i % 5,
                    (i / 7) % 2,
                    i % 10
                )
            };
            line.into_bytes()
        })
        .collect();
    for monitoring in [true, false] {
        let make = || {
            let mut c = Config::default();
            c.models.insert("churn".into(), Default::default());
            let p = Pipeline::new(
                Arc::new(Metrics::new()),
                ParseOptions::default(),
                ModelPolicy::new(&c.models, &c.events),
            );
            let mut p = if monitoring {
                p.with_monitoring(MonitorSettings::default())
            } else {
                p
            };
            p.open_shard("s".into(), None);
            p
        };
        let (mut a, mut b) = (make(), make());
        for (i, e) in events.iter().enumerate() {
            let i = i as u64;
            let oa = a.process("s", i, i + 1, e);
            let ob = b.process_parsed("s", i, i + 1, parse_owned(e, &b.parse_options()));
            assert_eq!(oa, ob, "event {i}");
        }
        // A duplicate is one either way.
        assert_eq!(
            b.process_parsed("s", 0, 1, parse_owned(&events[0], &b.parse_options())),
            Outcome::Duplicate
        );
        a.flush_order();
        b.flush_order();
        assert_eq!(a.checkpoint_entries(), b.checkpoint_entries());
        assert_eq!(a.monitors().len(), usize::from(monitoring));
        if monitoring {
            let m = &a.monitors()["churn"];
            assert!(
                m.predictions() > 1_000 && m.labels().0 > 500,
                "{:?}",
                m.labels()
            );
        }
    }
}

/// Gauges and samples are republished at most every `publish_every` for periodic updates alone; a
/// skipped publication is made good by `publish_stale` (the sources' ticks), so a stream that stops
/// leaves its last state published.
#[test]
fn a_skipped_publication_is_made_good_on_the_next_tick() {
    let metrics = Arc::new(Metrics::new());
    let mut c = Config::default();
    c.models.insert("churn".into(), Default::default());
    let mut p = Pipeline::new(
        metrics.clone(),
        ParseOptions::default(),
        ModelPolicy::new(&c.models, &c.events),
    )
    .with_monitoring(MonitorSettings::default())
    .with_publish_every(std::time::Duration::from_secs(3600));
    p.open_shard("s".into(), None);
    let waiting = || metrics.join_entries.with_label_values(&["churn"]).get();
    for i in 0..2_500u64 {
        let e = format!(
            r#"{{"kind":"prediction","id":"p{i}","model":"churn","ts":"2026-01-01T00:00:00.{:03}Z","features":{{"a":{i}}},"prediction":{{"label":"1"}}}}"#,
            i % 1000
        );
        p.process("s", i, i + 1, e.as_bytes());
    }
    p.flush_order();
    assert_eq!(
        waiting(),
        1_000,
        "published at the first 1,000, then too soon"
    );
    p.publish_stale();
    assert_eq!(waiting(), 2_500, "the tick publishes the rest");
    p.publish_stale();
    assert_eq!(waiting(), 2_500);
}

/// Monitoring the models of each batch in parallel on a pool of threads changes nothing: the same
/// events give the same monitors, onsets and checkpoints, bit for bit, as on the pipeline's own
/// thread — at checkpoints taken mid-stream too.
#[test]
fn a_pool_of_monitor_threads_gives_the_same_monitors_bit_for_bit() {
    let mut settings = MonitorSettings {
        reference_events: 300,
        ..Default::default()
    };
    settings.streaming.window_events = 200;
    settings.streaming.look_every = 20;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut normal = move || {
        // Box-Muller over a xorshift: deterministic, no dependency.
        let mut u = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (a, b) = (u().max(1e-12), u());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    };
    let events: Vec<Vec<u8>> = (0..9_000)
        .map(|i| {
            let model = ["m0", "m1", "m2"][i % 3];
            let ms = i * 10;
            let ts = format!("2026-01-01T00:{:02}:{:02}.{:03}Z", ms / 60_000, ms / 1000 % 60, ms % 1000);
            if i % 5 == 4 {
                let id = i - 3;
                let label = if normal() > 0.0 { "1" } else { "0" };
                return format!(
                    r#"{{"kind":"feedback","id":"e{id}","model":"{model}","ts":"{ts}","label":"{label}"}}"#
                )
                .into_bytes();
            }
            // m1's x moves by 2 sd after the first third of the stream.
            let shift = if model == "m1" && i > 3_000 { 2.0 } else { 0.0 };
            let (x, score) = (normal() + shift, normal().abs().min(1.0));
            format!(
                r#"{{"kind":"prediction","id":"e{i}","model":"{model}","ts":"{ts}","features":{{"x":{x},"c":"v{}"}},"prediction":{{"score":{score}}}}}"#,
                i % 4
            )
            .into_bytes()
        })
        .collect();
    let make = |pool: Option<Arc<rayon::ThreadPool>>| {
        let c = Config::default();
        let mut p = Pipeline::new(
            Arc::new(Metrics::new()),
            ParseOptions::default(),
            ModelPolicy::new(&c.models, &c.events),
        )
        .with_monitoring(settings.clone())
        .with_monitor_pool(pool);
        p.open_shard("s".into(), None);
        p
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (mut one, mut many) = (make(None), make(Some(Arc::new(pool))));
    for (i, e) in events.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            one.process("s", i, i + 1, e),
            many.process_parsed("s", i, i + 1, parse_owned(e, &many.parse_options()))
        );
        if i.is_multiple_of(2_500) {
            assert_eq!(
                one.checkpoint_entries(),
                many.checkpoint_entries(),
                "at {i}"
            );
            one.mark_checkpointed();
            many.mark_checkpointed();
        }
    }
    one.flush_order();
    many.flush_order();
    assert_eq!(one.checkpoint_entries(), many.checkpoint_entries());
    let (a, b) = (one.monitors(), many.monitors());
    assert_eq!(a.len(), 3);
    assert!(
        !b["m1"].recent_onsets().is_empty(),
        "the shifted model has onsets"
    );
    for model in ["m0", "m1", "m2"] {
        assert_eq!(
            a[model].recent_onsets(),
            b[model].recent_onsets(),
            "{model}"
        );
    }
}
