//! State stores: Redis (a real redis-server of the test's own) and the embedded file, across
//! restarts and outages, driven through the file source.

use std::time::Duration;

use driftd::intake::pipeline::Pipeline;
use driftd::intake::shard::checkpoint_key;
use driftd::store::StateStore as _;

use crate::harness::*;

fn redis_config(redis: &Redis, prefix: &str, events: &str) -> String {
    format!(
        r#"
[http]
listen = "{{HTTP}}"

[source]
kind = "file"
path = "{events}"
follow = true
poll_interval = "50ms"

[state]
kind = "redis"
url = "{url}"
key_prefix = "{prefix}"
timeout = "500ms"

[checkpoint]
interval = "200ms"
"#,
        url = redis.url(),
    )
}

fn total(m: &Metrics) -> f64 {
    m.sum("driftd_events_total", &[])
}

/// The model of [`end_marker`]'s event.
const MARKER: &str = "end-marker";

/// Appends one prediction of model [`MARKER`] to `events` and waits until driftd counted it: the
/// file is read in order, so every line before it has been taken by then (a duplicate included)
/// and the counts are final. Returns the metrics then.
fn end_marker(d: &Driftd, events: &std::path::Path, g: &mut EventGen) -> Metrics {
    append_lines(events, &[g.prediction(MARKER, 2)]);
    wait_for(
        "the end marker to be counted",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_events_total", &[("model", MARKER)]) == 1.0).then_some(m)
        },
    )
}

/// Every event but the end marker.
fn counted(m: &Metrics) -> f64 {
    total(m) - m.sum("driftd_events_total", &[("model", MARKER)])
}

/// Counts survive a daemon restart with Redis as the state store; with Redis stopped the daemon
/// stays up and reports not-ready, then recovers, and the counts stay exact throughout.
#[test]
fn redis_state_survives_restarts_and_outages() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut g = EventGen::new(3);
    let batch = |g: &mut EventGen, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    g.feedback("churn")
                } else {
                    g.prediction("churn", 5)
                }
            })
            .collect()
    };
    write_lines(&events, &batch(&mut g, 1_000));
    let prefix = unique("driftd-test");
    let cfg = redis_config(&redis, &prefix, &events.display().to_string());
    let mut d = Driftd::start(dir.path(), &cfg, &[]);
    // Graceful restart: the final checkpoint lands in Redis and the counts come back.
    let m = d.graceful_restart_at(1_000.0);
    assert_eq!(total(&m), 1_000.0);
    assert_eq!(m.sum("driftd_events_total", &[("kind", "feedback")]), 334.0);

    // Redis goes away: driftd keeps running and says it is not ready.
    redis.stop();
    append_lines(&events, &batch(&mut g, 500));
    wait_for(
        "not-ready while Redis is down",
        Duration::from_secs(20),
        || (!d.ready()).then_some(()),
    );
    assert!(d.alive());
    assert_eq!(d.get("/healthz").map(|r| r.0), Some(200));
    let m = d.metrics().unwrap();
    assert!(m.sum("driftd_state_store_errors_total", &[]) >= 1.0);
    assert_eq!(m.sum("driftd_state_store_up", &[]), 0.0);

    // Redis returns: driftd recovers by itself.
    redis.restart();
    wait_for("ready after Redis returns", Duration::from_secs(30), || {
        d.ready().then_some(())
    });
    let m = wait_for("1,500 events", Duration::from_secs(30), || {
        let m = d.metrics()?;
        (total(&m) >= 1_500.0).then_some(m)
    });
    assert_eq!(total(&m), 1_500.0);

    // And the state written after the outage is what the next start sees (SIGKILL this time). A
    // file source replays from an older checkpoint to the same counts, so the counts alone cannot
    // tell that the post-outage checkpoint landed: wait until Redis holds one with the whole file.
    let len = std::fs::metadata(&events).unwrap().len();
    let shard = format!("file/{}", std::fs::canonicalize(&events).unwrap().display());
    let rt = runtime();
    let store = redis_store(&rt, &redis, &prefix);
    wait_for(
        "a checkpoint of the whole file in Redis",
        Duration::from_secs(30),
        || {
            let bytes = rt.block_on(store.get(&checkpoint_key(&shard))).ok()??;
            let state = Pipeline::decode_checkpoint(&bytes).ok()?;
            (state.next_offset == len).then_some(())
        },
    );
    d.kill9();
    d.restart();
    let m = wait_for(
        "counts restored after SIGKILL",
        Duration::from_secs(30),
        || {
            let m = d.metrics()?;
            (total(&m) >= 1_500.0).then_some(m)
        },
    );
    assert_eq!(total(&m), 1_500.0);
    // Nothing of the file is read twice: an event appended after the restart is counted after
    // everything before it.
    let m = end_marker(&d, &events, &mut g);
    assert_eq!(counted(&m), 1_500.0, "{}", d.log_text());
}

/// The embedded store: SIGKILL while a file is being read, restart, exact counts, and the rejects
/// file holds each rejected line exactly once.
#[test]
fn embedded_state_is_exact_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut g = EventGen::new(5);
    let lines: Vec<String> = (0..60_000)
        .map(|i| {
            if i % 50 == 49 {
                malformed(i / 50).0
            } else {
                g.prediction("churn", 25)
            }
        })
        .collect();
    write_lines(&events, &lines);
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
[source]
kind = "file"
path = "{}"
follow = true
poll_interval = "50ms"
[checkpoint]
interval = "100ms"
max_events = 5000
"#,
        events.display()
    );
    let mut d = Driftd::start(dir.path(), &cfg, &[]);
    wait_for("some progress", Duration::from_secs(60), || {
        let m = d.metrics()?;
        (total(&m) >= 5_000.0).then_some(())
    });
    d.kill9();
    d.restart();
    let m2 = end_marker(&d, &events, &mut g);
    assert_eq!(counted(&m2), 58_800.0);
    assert_eq!(m2.sum("driftd_events_rejected_total", &[]), 1_200.0);
    assert_eq!(d.terminate(), Some(0));
    let rejects = std::fs::read_to_string(dir.path().join("events.jsonl.rejects.jsonl")).unwrap();
    assert_eq!(
        rejects.lines().count(),
        1_200,
        "each rejected line exactly once"
    );
    for l in rejects.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["reason"].is_string() && v["offset"].is_u64() && v["line"].is_string());
    }
}
