//! Faults around the state store and the broker, end to end with the Kafka source: the embedded
//! store's disk filling up, Redis going away and coming back, and events and HTTP feedback sent
//! while the broker is down. Each test asserts exact counts, that no offset is committed past
//! state that is not stored, and readiness during and after the fault.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::*;
use crate::kafka::{Topics, kafka_config_with_state, topics};

const TOKEN: &str = "faults-test-token-0123456789";

/// `commit_rewind` of these tests: small enough that commits show on topics of a few thousand
/// events, larger than any record batch the producer makes (see `commit_rewind` in the config).
const REWIND: i64 = 1_000;

/// A Kafka-mode configuration with `state` as its `[state]` table, [`REWIND`], and `http` lines
/// added to `[http]`.
fn config(broker: &Broker, t: &Topics, state: &str, http: &str) -> String {
    kafka_config_with_state(broker, t, state, "")
        .replace(
            "[source]\n",
            &format!("[source]\ncommit_rewind = {REWIND}\n"),
        )
        .replace("[http]\n", &format!("[http]\n{http}\n"))
}

fn accepted(m: &Metrics) -> f64 {
    m.sum("driftd_events_total", &[])
}

fn checkpoints(m: &Metrics, outcome: &str) -> f64 {
    m.sum("driftd_checkpoints_total", &[("outcome", outcome)])
}

/// The group's committed offset of partition 0 of `topic` (None: nothing committed yet), read by
/// the third-party client.
fn committed(broker: &Broker, topic: &str, group: &str) -> Option<i64> {
    let out = Command::new(python())
        .arg(repo_root().join("tests/tools/kafka_tool.py"))
        .args(["committed", "--bootstrap", &broker.bootstrap()])
        .args(["--topic", topic, "--group", group])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reading the committed offsets of {group}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["0"].as_i64()
}

/// Waits until the group's committed offset of the prediction topic is `want`.
fn wait_committed(broker: &Broker, t: &Topics, want: i64, what: &str) {
    wait_for(what, Duration::from_secs(60), || {
        (committed(broker, &t.predictions, &t.group) == Some(want)).then_some(())
    });
}

/// `n` predictions of `model` written to `dir/name`.
fn batch(dir: &Path, name: &str, g: &mut EventGen, model: &str, n: usize) -> PathBuf {
    let lines: Vec<String> = (0..n).map(|_| g.prediction(model, 10)).collect();
    let path = dir.join(name);
    write_lines(&path, &lines);
    path
}

/// A small tmpfs of the test's own: a filesystem that can be filled up and given space back.
/// Mounting needs root (or CAP_SYS_ADMIN); it is unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "driftd-test"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs at {} failed; this test makes a small filesystem and needs \
             root or CAP_SYS_ADMIN: {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Writes a file until the filesystem is full (ENOSPC); returns its size.
    fn fill(&self) -> u64 {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let _ = f.sync_all();
        std::fs::metadata(self.filler()).unwrap().len()
    }

    /// Gives the space back.
    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, so that a process still holding a file cannot leave the mount behind.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits until `n` more checkpoints have failed than `from`, checking at every look that the
/// daemon says it is not ready: readiness must not flicker while state cannot be stored.
fn stays_not_ready(d: &Driftd, from: f64, n: f64, what: &str) {
    wait_for(what, Duration::from_secs(30), || {
        let (status, body) = d.get("/readyz")?;
        assert_eq!(
            status,
            503,
            "ready while checkpoints fail ({what}): {body}\n{}",
            tail(&d.log_text(), 40)
        );
        (checkpoints(&d.metrics()?, "failed") >= from + n).then_some(())
    });
}

/// The embedded store on a small filesystem that fills up, with the Kafka source: driftd keeps
/// consuming into memory, says it is not ready (and stays so), commits no offset past the last
/// stored checkpoint; once space returns it stores, commits and is ready again by itself. A
/// second fill ends with SIGKILL: after space returns a restart counts every event exactly once.
#[test]
fn embedded_store_disk_full_holds_offsets_and_recovers() {
    let broker = Broker::start(false);
    let t = topics(&broker, 1);
    let fs = Tmpfs::mount("8m");
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(21);
    let a = batch(dir.path(), "a.jsonl", &mut g, "churn", 2_000);
    let b = batch(dir.path(), "b.jsonl", &mut g, "fraud", 2_000);
    let c = batch(dir.path(), "c.jsonl", &mut g, "churn", 1_000);
    let state = format!(
        "[state]\nkind = \"embedded\"\npath = \"{}\"",
        fs.path().join("state.redb").display()
    );
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &a), 2_000);
    let mut d = Driftd::start(
        dir.path(),
        &config(&broker, &t, &state, ""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    wait_for("the first 2,000", Duration::from_secs(60), || {
        (accepted(&d.metrics()?) >= 2_000.0).then_some(())
    });
    wait_committed(&broker, &t, 2_000 - REWIND, "the first commit");
    wait_for("ready", Duration::from_secs(30), || d.ready().then_some(()));

    // The disk fills up; 2,000 more events arrive.
    let filled = fs.fill();
    let failed0 = checkpoints(&d.metrics().unwrap(), "failed");
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &b), 2_000);
    wait_for(
        "not ready with the disk full",
        Duration::from_secs(30),
        || (!d.ready()).then_some(()),
    );
    stays_not_ready(&d, failed0, 3.0, "three failed checkpoints on a full disk");
    let m = wait_for(
        "the 2,000 new events in memory",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            (accepted(&m) >= 4_000.0).then_some(m)
        },
    );
    assert_eq!(accepted(&m), 4_000.0);
    assert_eq!(m.sum("driftd_state_store_up", &[]), 0.0);
    stays_not_ready(
        &d,
        checkpoints(&m, "failed"),
        2.0,
        "more failed checkpoints",
    );
    assert_eq!(
        committed(&broker, &t.predictions, &t.group),
        Some(2_000 - REWIND),
        "an offset was committed past the stored checkpoint (disk filled with {filled} bytes)"
    );
    assert!(d.alive(), "driftd died on a full disk:\n{}", d.log_text());

    // Space returns: the checkpoint lands, the offsets follow, ready again, nothing counted twice.
    fs.free();
    wait_for("ready after space returns", Duration::from_secs(30), || {
        d.ready().then_some(())
    });
    wait_committed(&broker, &t, 4_000 - REWIND, "the commit after recovery");
    let m = d.metrics().unwrap();
    assert_eq!(accepted(&m), 4_000.0);
    assert_eq!(m.sum("driftd_events_total", &[("model", "fraud")]), 2_000.0);

    // Full again, 1,000 more events, and a crash before space returns.
    fs.fill();
    let failed1 = checkpoints(&d.metrics().unwrap(), "failed");
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &c), 1_000);
    wait_for("the last 1,000 in memory", Duration::from_secs(60), || {
        (accepted(&d.metrics()?) >= 5_000.0).then_some(())
    });
    stays_not_ready(&d, failed1, 2.0, "failed checkpoints on the second fill");
    assert_eq!(
        committed(&broker, &t.predictions, &t.group),
        Some(4_000 - REWIND)
    );
    d.kill9();
    fs.free();
    d.restart();
    // A commit of 4,000 means the restarted daemon stored a checkpoint with next offset 5,000:
    // every event has been applied by then, so a duplicate would show in the counts.
    wait_committed(&broker, &t, 5_000 - REWIND, "the commit after the restart");
    let m = d.metrics().unwrap();
    assert_eq!(accepted(&m), 5_000.0, "{}", d.log_text());
    assert_eq!(m.sum("driftd_events_total", &[("model", "churn")]), 3_000.0);
    assert_eq!(m.sum("driftd_events_total", &[("model", "fraud")]), 2_000.0);
    wait_for("ready after the restart", Duration::from_secs(30), || {
        d.ready().then_some(())
    });
    assert!(d.log_text().contains("resuming from checkpoint"));
}

/// A `[state]` table for `redis` under a fresh key prefix.
fn redis_state(redis: &Redis) -> String {
    format!(
        "[state]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{}\"\ntimeout = \"500ms\"",
        redis.url(),
        unique("faults")
    )
}

/// Runs `redis-cli` against `redis` (e.g. `CONFIG SET maxmemory 1`) and asserts it answered OK.
fn redis_cli(redis: &Redis, args: &[&str]) {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .args(args)
        .output()
        .expect("running redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == "OK",
        "redis-cli {args:?}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Redis stops answering while the Kafka source keeps delivering: driftd applies the events in
/// memory, is not ready (and stays so), commits nothing past the last checkpoint in Redis; when
/// Redis returns it stores, commits and is ready by itself. A SIGKILL after recovery and a
/// restart from Redis count every event exactly once.
#[test]
fn redis_down_and_up_under_the_kafka_source_counts_exactly_once() {
    let broker = Broker::start(false);
    let t = topics(&broker, 1);
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(22);
    let a = batch(dir.path(), "a.jsonl", &mut g, "churn", 3_000);
    let b = batch(dir.path(), "b.jsonl", &mut g, "fraud", 3_000);
    let c = batch(dir.path(), "c.jsonl", &mut g, "churn", 1_000);
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &a), 3_000);
    let mut d = Driftd::start(
        dir.path(),
        &config(&broker, &t, &redis_state(&redis), ""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    wait_for("the first 3,000", Duration::from_secs(60), || {
        (accepted(&d.metrics()?) >= 3_000.0).then_some(())
    });
    wait_committed(&broker, &t, 3_000 - REWIND, "the first commit");
    wait_for("ready", Duration::from_secs(30), || d.ready().then_some(()));

    // Redis goes away; 3,000 more events are produced while it is down.
    redis.stop();
    let producer = {
        let (bootstrap, topic) = (broker.bootstrap(), t.predictions.clone());
        std::thread::spawn(move || produce(&bootstrap, &topic, &b))
    };
    wait_for(
        "events applied while Redis is down",
        Duration::from_secs(60),
        || (accepted(&d.metrics()?) > 3_000.0).then_some(()),
    );
    wait_for("not ready without Redis", Duration::from_secs(30), || {
        (!d.ready()).then_some(())
    });
    let failed = checkpoints(&d.metrics().unwrap(), "failed");
    stays_not_ready(&d, failed, 3.0, "failed checkpoints without Redis");
    assert_eq!(producer.join().unwrap(), 3_000);
    let m = wait_for(
        "all 6,000 applied in memory",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            (accepted(&m) >= 6_000.0).then_some(m)
        },
    );
    assert_eq!(accepted(&m), 6_000.0);
    stays_not_ready(&d, checkpoints(&m, "failed"), 2.0, "still without Redis");
    assert_eq!(
        committed(&broker, &t.predictions, &t.group),
        Some(3_000 - REWIND),
        "an offset was committed past the checkpoint in Redis"
    );
    assert_eq!(d.metrics().unwrap().sum("driftd_state_store_up", &[]), 0.0);
    assert!(d.alive(), "driftd died without Redis:\n{}", d.log_text());

    // Redis returns: stored, committed, ready; nothing counted twice.
    redis.restart();
    wait_for("ready after Redis returns", Duration::from_secs(30), || {
        d.ready().then_some(())
    });
    wait_committed(
        &broker,
        &t,
        6_000 - REWIND,
        "the commit after Redis returns",
    );
    let m = d.metrics().unwrap();
    assert_eq!(accepted(&m), 6_000.0);
    assert_eq!(m.sum("driftd_events_total", &[("model", "fraud")]), 3_000.0);

    // The state in Redis is what a restart continues from.
    d.kill9();
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &c), 1_000);
    d.restart();
    wait_committed(&broker, &t, 7_000 - REWIND, "the commit after the restart");
    let m = d.metrics().unwrap();
    assert_eq!(accepted(&m), 7_000.0, "{}", d.log_text());
    assert_eq!(m.sum("driftd_events_total", &[("model", "churn")]), 4_000.0);
    assert_eq!(m.sum("driftd_events_total", &[("model", "fraud")]), 3_000.0);
    let log = d.log_text();
    let down = log
        .find("state store is unreachable")
        .unwrap_or_else(|| panic!("the outage was not logged:\n{log}"));
    assert!(
        log[down..].contains("state store is reachable"),
        "the recovery was not logged:\n{log}"
    );
}

/// Redis answers but refuses every write (`maxmemory` reached with `noeviction`), the way a full
/// disk refuses them: pings succeed, so readiness must come from the checkpoints. driftd is not
/// ready throughout, commits nothing past the stored checkpoint, and recovers when memory is
/// raised again, with exact counts.
#[test]
fn redis_refusing_writes_holds_offsets_and_recovers() {
    let broker = Broker::start(false);
    let t = topics(&broker, 1);
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(23);
    let a = batch(dir.path(), "a.jsonl", &mut g, "churn", 2_000);
    let b = batch(dir.path(), "b.jsonl", &mut g, "fraud", 2_000);
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &a), 2_000);
    let d = Driftd::start(
        dir.path(),
        &config(&broker, &t, &redis_state(&redis), ""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    wait_for("the first 2,000", Duration::from_secs(60), || {
        (accepted(&d.metrics()?) >= 2_000.0).then_some(())
    });
    wait_committed(&broker, &t, 2_000 - REWIND, "the first commit");
    wait_for("ready", Duration::from_secs(30), || d.ready().then_some(()));

    redis_cli(&redis, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis_cli(&redis, &["CONFIG", "SET", "maxmemory", "1"]);
    let failed = checkpoints(&d.metrics().unwrap(), "failed");
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &b), 2_000);
    wait_for(
        "the 2,000 new events in memory",
        Duration::from_secs(60),
        || (accepted(&d.metrics()?) >= 4_000.0).then_some(()),
    );
    stays_not_ready(
        &d,
        failed,
        4.0,
        "failed checkpoints while Redis refuses writes",
    );
    let m = d.metrics().unwrap();
    assert_eq!(accepted(&m), 4_000.0);
    assert!(
        d.log_text().contains("OOM"),
        "the refusal is logged with Redis' reason:\n{}",
        d.log_text()
    );
    assert_eq!(
        committed(&broker, &t.predictions, &t.group),
        Some(2_000 - REWIND),
        "an offset was committed past the checkpoint Redis refused"
    );

    redis_cli(&redis, &["CONFIG", "SET", "maxmemory", "0"]);
    wait_for(
        "ready once Redis takes writes",
        Duration::from_secs(30),
        || d.ready().then_some(()),
    );
    wait_committed(&broker, &t, 4_000 - REWIND, "the commit after recovery");
    let m = d.metrics().unwrap();
    assert_eq!(accepted(&m), 4_000.0);
    assert_eq!(m.sum("driftd_events_total", &[("model", "fraud")]), 2_000.0);
}

/// A child process killed on drop (a test that fails leaves no producer behind).
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    /// Waits for it to exit and collects its output.
    fn wait(mut self) -> std::process::Output {
        let mut out = std::process::Output {
            status: self.0.wait().unwrap(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        if let Some(mut s) = self.0.stdout.take() {
            std::io::Read::read_to_end(&mut s, &mut out.stdout).unwrap();
        }
        out
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `n` feedback events for `model`, as an HTTP body (a JSON array).
fn feedback_body(g: &mut EventGen, model: &str, n: usize) -> String {
    let items: Vec<String> = (0..n).map(|_| g.feedback(model)).collect();
    format!("[{}]", items.join(","))
}

/// The broker is down while a producer sends events (it waits and retries until the broker is
/// back) and while HTTP feedback is posted. Feedback is refused with 503 during the outage, never
/// acknowledged; sent again after the outage it is acknowledged and counted once. Every event
/// produced around the outage is counted once, and the feedback topic holds exactly the
/// acknowledged feedback (an end marker produced after it proves that nothing refused arrives
/// later).
#[test]
fn events_and_feedback_sent_during_a_broker_outage_are_counted_once() {
    let mut broker = Broker::start(true);
    let t = topics(&broker, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut g = EventGen::new(24);
    let a = batch(dir.path(), "a.jsonl", &mut g, "churn", 2_000);
    let b = batch(dir.path(), "b.jsonl", &mut g, "fraud", 2_000);
    let marker = dir.path().join("marker.jsonl");
    write_lines(&marker, &[g.feedback("endmarker")]);
    assert_eq!(produce(&broker.bootstrap(), &t.predictions, &a), 2_000);
    let state = "[state]\nkind = \"embedded\"\npath = \"state.redb\"";
    let d = Driftd::start(
        dir.path(),
        &config(&broker, &t, state, "request_timeout = \"3s\""),
        &[("DRIFTD_TEST_TOKEN", TOKEN)],
    );
    wait_for("the first 2,000", Duration::from_secs(60), || {
        (accepted(&d.metrics()?) >= 2_000.0).then_some(())
    });
    wait_committed(&broker, &t, 2_000 - REWIND, "the first commit");
    wait_for("ready", Duration::from_secs(30), || d.ready().then_some(()));

    broker.stop();
    wait_for(
        "not ready without the broker",
        Duration::from_secs(30),
        || (!d.ready()).then_some(()),
    );

    // Feedback posted during the outage is refused, clearly, and not acknowledged.
    let feedback = feedback_body(&mut g, "churn", 20);
    let url = format!("{}/v1/feedback", d.base());
    let (status, body) = http_post(&url, Some(TOKEN), feedback.as_bytes());
    assert_eq!(status, 503, "feedback during the broker outage: {body}");
    assert!(body.contains("unavailable"), "{body}");

    // A producer started during the outage: the client waits for a broker, holding the events.
    let err_path = dir.path().join("producer.err");
    let mut producer = KillOnDrop(
        Command::new(python())
            .arg(repo_root().join("tests/tools/kafka_tool.py"))
            .args(["produce", "--bootstrap", &broker.bootstrap()])
            .args([
                "--topic",
                &t.predictions,
                "--retry-seconds",
                "120",
                "--file",
            ])
            .arg(&b)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    wait_for(
        "the producer to connect during the outage",
        Duration::from_secs(30),
        || stderr().contains("connecting").then_some(()),
    );
    assert!(
        !stderr().contains("connected") && producer.0.try_wait().unwrap().is_none(),
        "the producer got through while the broker was down: {}",
        stderr()
    );
    broker.restart();
    let out = producer.wait();
    assert!(out.status.success(), "the producer failed: {}", stderr());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2000");

    // The refused feedback, sent again once the broker is back, is acknowledged (503s meanwhile,
    // while the producer reconnects, are refusals too, each resent; never a bare 408).
    wait_for(
        "the feedback to be acknowledged after the outage",
        Duration::from_secs(60),
        || {
            let (status, body) = http_post(&url, Some(TOKEN), feedback.as_bytes());
            match status {
                202 => Some(()),
                503 => None,
                _ => panic!(
                    "feedback after the outage: {status} {body}\n{}",
                    d.log_text()
                ),
            }
        },
    );
    assert_eq!(produce(&broker.bootstrap(), &t.feedback, &marker), 1);
    let m = wait_for(
        "the end marker on the feedback topic",
        Duration::from_secs(120),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_events_total", &[("model", "endmarker")]) >= 1.0).then_some(m)
        },
    );
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", "churn"), ("kind", "feedback")]
        ),
        20.0,
        "feedback refused during the outage was counted after all"
    );
    let on_topic = consume(
        &broker.bootstrap(),
        &t.feedback,
        21,
        Duration::from_secs(30),
    );
    assert_eq!(on_topic.len(), 21);
    assert!(on_topic[20].value.as_deref().unwrap().contains("endmarker"));
    wait_committed(
        &broker,
        &t,
        4_000 - REWIND,
        "the commit of every prediction",
    );
    let m = d.metrics().unwrap();
    assert_eq!(
        m.sum("driftd_events_total", &[("kind", "prediction")]),
        4_000.0
    );
    assert_eq!(m.sum("driftd_events_total", &[("model", "fraud")]), 2_000.0);
    assert_eq!(
        m.sum(
            "driftd_feedback_http_items_total",
            &[("outcome", "accepted")]
        ),
        20.0
    );
    wait_for("ready after the outage", Duration::from_secs(30), || {
        d.ready().then_some(())
    });
}
