//! Two `driftd run` instances in one consumer group with a shared Redis: a second instance joins
//! mid-stream (a rebalance moves partitions from the first to it), both consume, and the
//! partitions' checkpoints in Redis count every event exactly once.

use std::time::Duration;

use driftd::intake::kafka::shard_name;
use driftd::intake::pipeline::Pipeline;
use driftd::intake::shard::checkpoint_key;
use driftd::store::{RedisStore, StateStore};

use crate::harness::*;
use crate::kafka::{kafka_config_with_state, topics};

const TOKEN: &str = "group-test-token-0123456789";
const PARTITIONS: i32 = 4;

/// Produces `n` predictions keyed by id (spread over the partitions by the client's hash).
fn produce_batch(broker: &Broker, topic: &str, dir: &std::path::Path, g: &mut EventGen, n: usize) {
    let lines: Vec<String> = (0..n).map(|_| g.prediction("churn", 4)).collect();
    let file = dir.join(format!("batch-{}.jsonl", g.n));
    write_lines(&file, &lines);
    assert_eq!(
        produce_with(&broker.bootstrap(), topic, &file, &["--key-field", "id"]),
        n
    );
}

#[test]
fn two_instances_in_one_group_share_the_partitions_and_count_every_event_once() {
    let broker = Broker::start(false);
    let t = topics(&broker, PARTITIONS as u32);
    let redis = Redis::start();
    let prefix = unique("driftd-group");
    let state = format!(
        "[state]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"",
        redis.url()
    );
    let cfg = kafka_config_with_state(&broker, &t, &state, "");
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(23);
    produce_batch(&broker, &t.predictions, dir.path(), &mut g, 4_000);

    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&da).unwrap();
    std::fs::create_dir(&db).unwrap();
    let env = [("DRIFTD_TEST_TOKEN", TOKEN)];
    let mut a = Driftd::start(&da, &cfg, &env);
    wait_for(
        "the first instance to consume",
        Duration::from_secs(120),
        || (a.metrics()?.sum("driftd_events_total", &[]) >= 1_000.0).then_some(()),
    );
    // The second instance joins: the group rebalances and it gets partitions of its own.
    let mut b = Driftd::start(&db, &cfg, &env);
    wait_for(
        "the second instance to own partitions",
        Duration::from_secs(120),
        || {
            let m = b.metrics()?;
            m.has("driftd_kafka_consumer_lag").then_some(())
        },
    );
    produce_batch(&broker, &t.predictions, dir.path(), &mut g, 4_000);

    // Every partition's checkpoint in Redis reaches the end of the partition.
    let rt = runtime();
    let store = redis_store(&rt, &redis, &prefix);
    let shards = || {
        (0..PARTITIONS)
            .map(|p| {
                let key = checkpoint_key(&shard_name(&t.group, &t.predictions, p));
                rt.block_on(store.get(&key))
                    .ok()
                    .flatten()
                    .and_then(|b| Pipeline::decode_checkpoint(&b).ok())
            })
            .collect::<Option<Vec<_>>>()
    };
    let states = wait_for(
        "every partition checkpointed to its end",
        Duration::from_secs(180),
        || {
            let s = shards()?;
            let consumed: u64 = s.iter().map(|s| s.next_offset).sum();
            (consumed == 8_000).then_some(s)
        },
    );
    // Exactly once across the two instances and the rebalance.
    let predictions: u64 = states
        .iter()
        .map(|s| s.models.get("churn").map_or(0, |m| m.predictions))
        .sum();
    let rejected: u64 = states.iter().flat_map(|s| s.rejected.values()).sum();
    assert_eq!(predictions, 8_000, "{states:#?}");
    assert_eq!(rejected, 0);
    // The rebalance happened: the first instance gave partitions up, the second holds some.
    assert!(
        a.log_text().contains("partitions revoked"),
        "{}",
        a.log_text()
    );
    assert!(b.metrics().unwrap().has("driftd_kafka_consumer_lag"));
    assert!(a.alive() && b.alive());
    assert_eq!(b.terminate(), Some(0), "{}", b.log_text());
    assert_eq!(a.terminate(), Some(0), "{}", a.log_text());
}

/// The checkpoints of every partition, once each exists: (next offset, predictions).
fn checkpoints(
    rt: &tokio::runtime::Runtime,
    store: &RedisStore,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Option<Vec<(u64, u64)>> {
    (0..partitions)
        .map(|p| {
            let key = checkpoint_key(&shard_name(group, topic, p));
            let b = rt.block_on(store.get(&key)).ok()??;
            let s = Pipeline::decode_checkpoint(&b).ok()?;
            Some((
                s.next_offset,
                s.models.get("churn").map_or(0, |m| m.predictions),
            ))
        })
        .collect()
}

/// An instance paused with unstored state (SIGSTOP) loses its partitions when its session times
/// out; the other instance claims them, resumes from their checkpoints and moves on. Resumed
/// (SIGCONT), the old owner may try to checkpoint before it sees the revocation: that write is
/// refused (the partitions' leases are the new owner's), so the new owner's checkpoints never go
/// back, and after the group settles every event is counted exactly once.
#[test]
fn a_paused_instance_that_lost_its_partitions_cannot_overwrite_the_new_owners_checkpoints() {
    let broker = Broker::start(false);
    let t = topics(&broker, 2);
    let redis = Redis::start();
    let prefix = unique("driftd-zombie");
    let state = format!(
        "[state]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"",
        redis.url()
    );
    let cfg = kafka_config_with_state(&broker, &t, &state, "");
    // The instance to be paused checkpoints rarely, so it holds unstored state when it stops.
    let slow = cfg.replace("interval = \"300ms\"", "interval = \"4s\"");
    assert_ne!(slow, cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(29);
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&da).unwrap();
    std::fs::create_dir(&db).unwrap();
    let env = [("DRIFTD_TEST_TOKEN", TOKEN)];
    let rt = runtime();
    let store = redis_store(&rt, &redis, &prefix);
    let cps = || checkpoints(&rt, &store, &t.group, &t.predictions, 2);
    let checkpointed = |total: u64| {
        wait_for(
            &format!("the partitions checkpointed to {total}"),
            Duration::from_secs(180),
            || {
                let c = cps()?;
                (c.iter().map(|(o, _)| o).sum::<u64>() == total).then_some(c)
            },
        )
    };

    produce_batch(&broker, &t.predictions, dir.path(), &mut g, 2_000);
    let mut a = Driftd::start(&da, &slow, &env);
    checkpointed(2_000);
    produce_batch(&broker, &t.predictions, dir.path(), &mut g, 1_000);
    wait_for(
        "the first instance to take 1,000 more",
        Duration::from_secs(60),
        || (a.metrics()?.sum("driftd_events_total", &[]) >= 3_000.0).then_some(()),
    );
    a.signal("STOP");

    // The other instance takes both partitions once the paused one's session times out.
    let mut b = Driftd::start(&db, &cfg, &env);
    produce_batch(&broker, &t.predictions, dir.path(), &mut g, 1_000);
    let before = checkpointed(4_000);
    a.signal("CONT");
    // The resumed instance sees the revocation and rejoins: the group settles with both.
    wait_for(
        "the resumed instance to give its partitions up",
        Duration::from_secs(120),
        || a.log_text().contains("partitions revoked").then_some(()),
    );
    produce_batch(&broker, &t.predictions, dir.path(), &mut g, 1_000);
    // Meanwhile the checkpoints never go back: no write of the old owner lands.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut last = before;
    let after = loop {
        if let Some(c) = cps() {
            for (p, ((o0, n0), (o1, n1))) in last.iter().zip(&c).enumerate() {
                assert!(
                    o1 >= o0 && n1 >= n0,
                    "partition {p}'s checkpoint went back from {o0}/{n0} to {o1}/{n1}:\n{}",
                    a.log_text()
                );
            }
            if c.iter().map(|(o, _)| o).sum::<u64>() == 5_000 {
                break c;
            }
            last = c;
        }
        assert!(std::time::Instant::now() < deadline, "not all checkpointed");
        std::thread::sleep(Duration::from_millis(20));
    };
    let predictions: u64 = after.iter().map(|(_, n)| n).sum();
    assert_eq!(predictions, 5_000, "{after:?}");
    if a.log_text().contains("checkpoint refused") {
        eprintln!("the resumed instance tried to checkpoint before the revocation: refused");
    }
    assert!(a.alive() && b.alive());
    assert_eq!(b.terminate(), Some(0), "{}", b.log_text());
    assert_eq!(a.terminate(), Some(0), "{}", a.log_text());
}
