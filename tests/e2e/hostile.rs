//! Hostile input end to end: a stream of mutated, truncated, binary, oversized, deeply nested and
//! huge events, and thousands of new model names, through `driftd run --events` (exit 0, every
//! non-blank line accounted for as accepted or rejected, nothing counted twice on a rerun); and
//! hostile HTTP bodies against a running daemon (no 5xx, the daemon alive and still counting).
//! The generator is seeded: a failure prints its seed, and `DRIFTD_HOSTILE_SEED` replays it.

use std::io::Write as _;
use std::time::Duration;

use crate::harness::*;

fn seed() -> u64 {
    std::env::var("DRIFTD_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

/// One hostile line (without its newline; it may contain `\r` but never `\n`).
fn hostile_line(r: &mut Rng, g: &mut EventGen, i: usize) -> Vec<u8> {
    let valid = |g: &mut EventGen, r: &mut Rng| -> Vec<u8> {
        if r.below(3) == 0 {
            g.feedback("churn").into_bytes()
        } else {
            g.prediction("churn", 1 + r.below(8)).into_bytes()
        }
    };
    let mut line = match i % 16 {
        // Valid events between the hostile ones.
        0..=3 => valid(g, r),
        // Byte flips.
        4 => {
            let mut l = valid(g, r);
            for _ in 0..1 + r.below(4) {
                let at = r.below(l.len());
                l[at] = r.next() as u8;
            }
            l
        }
        // Truncated anywhere.
        5 => {
            let l = valid(g, r);
            l[..r.below(l.len())].to_vec()
        }
        // Binary.
        6 => {
            let n = 1 + r.below(300);
            r.bytes(n)
        }
        // Over max_event_bytes (set to 64 KiB below).
        7 => {
            let mut l = b"{\"kind\":\"prediction\",\"pad\":\"".to_vec();
            l.extend(std::iter::repeat_n(b'x', 70_000 + r.below(50_000)));
            l.extend(b"\"}");
            l
        }
        // Deeply nested, inside and as the whole line.
        8 => {
            let depth = 100 + r.below(5_000);
            let mut l = b"{\"kind\":\"prediction\",\"id\":\"n\",\"model\":\"churn\",\"ts\":\"2026-11-21T10:00:00Z\",\"features\":{\"x\":"
                .to_vec();
            l.extend(std::iter::repeat_n(b'[', depth));
            l.extend(std::iter::repeat_n(b']', depth));
            l.extend(b"}}");
            if r.below(2) == 0 {
                l = std::iter::repeat_n(b'{', depth).collect();
            }
            l
        }
        // A huge feature map (up to some 40 KB: under the line limit).
        9 => {
            let n = 500 + r.below(2_500);
            let features: Vec<String> = (0..n).map(|k| format!("\"h{k}\":{k}")).collect();
            format!(
                r#"{{"kind":"prediction","id":"huge-{i}","model":"churn","ts":"2026-11-21T10:00:00Z","features":{{{}}},"prediction":{{"label":"1"}}}}"#,
                features.join(",")
            )
            .into_bytes()
        }
        // A new model name every time (thousands: beyond events.max_models).
        10 | 11 => g
            .prediction(&format!("m{i}x{}", r.below(1_000_000)), 2)
            .into_bytes(),
        // Hostile values: NaN, infinities, huge exponents, lone surrogates, control characters.
        12 => {
            let v = [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e400",
                "-0",
                "\"\\ud800\"",
                "\"\\u0000\"",
                "null",
                "[]",
                "{}",
                "true",
                "123456789012345678901234567890",
            ][r.below(12)];
            format!(
                r#"{{"kind":"prediction","id":"v-{i}","model":"churn","ts":"2026-11-21T10:00:00Z","features":{{"x":{v}}},"prediction":{{"score":{v}}}}}"#
            )
            .into_bytes()
        }
        // Invalid UTF-8 inside a string, and duplicate keys.
        13 => {
            let mut l = br#"{"kind":"prediction","id":"u-"#.to_vec();
            l.extend([0xff, 0xfe, 0xc3]);
            l.extend(
                br#"","model":"churn","model":"fraud","ts":"2026-11-21T10:00:00Z","features":{}}"#,
            );
            l
        }
        // Timestamps and ids at the edges.
        14 => {
            let ts = ["", "0", "9999-99-99T99:99:99Z", "2026-11-21", "-1", "1e30"][r.below(6)];
            format!(r#"{{"kind":"feedback","id":"","model":"churn","ts":"{ts}","label":"1"}}"#)
                .into_bytes()
        }
        // A valid event with trailing garbage or a carriage return.
        _ => {
            let mut l = valid(g, r);
            if r.below(2) == 0 {
                l.extend(b" trailing");
            } else {
                l.push(b'\r');
            }
            l
        }
    };
    line.retain(|b| *b != b'\n');
    line
}

/// A line driftd counts: it holds something other than ASCII whitespace (a line of only
/// whitespace is skipped, an over-long one is rejected whatever it holds).
fn counts(line: &[u8]) -> bool {
    !line.iter().all(u8::is_ascii_whitespace)
}

/// The `accepted` and `rejected` of driftd's summary line.
fn summary(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("driftd: "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    (n[0], n[1])
}

#[test]
fn a_hostile_stream_is_accounted_for_line_by_line_and_exits_cleanly() {
    let seed = seed();
    let mut r = Rng(seed);
    let mut g = EventGen::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("hostile.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&events).unwrap());
    let mut want = 0u64;
    for i in 0..20_000 {
        let line = hostile_line(&mut r, &mut g, i);
        want += u64::from(counts(&line));
        f.write_all(&line).unwrap();
        // Blank lines and whitespace between events are skipped.
        f.write_all(if r.below(50) == 0 { b"\n \t \n" } else { b"\n" })
            .unwrap();
    }
    // The last line without its newline, truncated.
    let tail = hostile_line(&mut r, &mut g, 5);
    want += u64::from(counts(&tail));
    f.write_all(&tail).unwrap();
    f.flush().unwrap();
    drop(f);
    std::fs::write(
        dir.path().join("driftd.toml"),
        "[events]\nmax_event_bytes = 65536\n",
    )
    .unwrap();

    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_driftd"))
            .current_dir(dir.path())
            .args(["run", "--config", "driftd.toml", "--listen", "127.0.0.1:0"])
            .arg("--events")
            .arg(&events)
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "seed {seed}: exit {:?}\n{}",
        out.status,
        tail_of(&stderr)
    );
    assert!(
        !stderr.contains("panicked"),
        "seed {seed}: {}",
        tail_of(&stderr)
    );
    let (accepted, rejected) = summary(&stdout);
    assert_eq!(
        accepted + rejected,
        want,
        "seed {seed}: every non-blank line is accepted or rejected\n{stdout}"
    );
    assert!(accepted > 0 && rejected > 0, "seed {seed}: {stdout}");
    // Each rejected line is in the rejects file once.
    let rejects = std::fs::read(dir.path().join("hostile.jsonl.rejects.jsonl")).unwrap();
    assert_eq!(
        rejects
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64,
        rejected,
        "seed {seed}"
    );
    // A rerun resumes from the checkpoint: the same totals, nothing counted twice.
    let out = run();
    assert!(out.status.success(), "seed {seed}");
    assert_eq!(
        summary(&String::from_utf8_lossy(&out.stdout)),
        (accepted, rejected),
        "seed {seed}"
    );
}

fn tail_of(s: &str) -> String {
    tail(s, 40)
}

const TOKEN: &str = "hostile-feedback-token-0123456789";
/// `http.max_body_bytes` of the daemon below.
const MAX_BODY: usize = 65536;
const ADMIN: &str = "hostile-admin-token-0123456789";

/// Hostile bodies at every endpoint that takes one, with valid tokens (so they reach the
/// parsers): never a 5xx, the daemon stays up, and valid feedback sent between them is counted.
#[test]
fn hostile_http_bodies_get_no_5xx_and_the_daemon_keeps_counting() {
    let seed = seed();
    let mut r = Rng(seed);
    let mut g = EventGen::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
max_body_bytes = {MAX_BODY}
feedback_tokens = [{{ value = "{TOKEN}" }}]
admin_tokens = [{{ value = "{ADMIN}" }}]
[source]
kind = "file"
path = "{}"
follow = true
"#,
        events.display()
    );
    let mut d = Driftd::start(dir.path(), &cfg, &[]);
    wait_for("ready", Duration::from_secs(60), || d.ready().then_some(()));
    let routes = [
        ("/v1/feedback", TOKEN),
        ("/v1/silences", ADMIN),
        ("/v1/inhibitions", ADMIN),
        ("/v1/registry/churn/promote", ADMIN),
        ("/v1/registry/churn/rollback", ADMIN),
    ];
    let mut valid_feedback = 0u64;
    for i in 0..1_500 {
        let (path, token) = routes[i % routes.len()];
        let body = if path == "/v1/feedback" && i % 3 == 0 {
            valid_feedback += 1;
            g.feedback("churn").into_bytes()
        } else {
            let kind = r.below(16);
            let mut b = hostile_line(&mut r, &mut g, kind);
            if r.below(4) == 0 {
                // Batches of hostile items.
                let mut batch = b"[".to_vec();
                batch.extend(&b);
                batch.extend(b",");
                let kind = r.below(16);
                batch.extend(hostile_line(&mut r, &mut g, kind));
                batch.push(b']');
                b = batch;
            }
            b
        };
        match try_http_post(&format!("{}{path}", d.base()), Some(token), &body) {
            Ok((status, text)) => assert!(
                status < 500,
                "seed {seed}: {status} from {path} for {:?}: {text}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
            // Over max_body_bytes the daemon may answer 413 and close before the client has sent
            // it all; any other body must get an answer.
            Err(e) => assert!(
                body.len() > MAX_BODY,
                "seed {seed}: no answer from {path} for a {}-byte body: {e}",
                body.len()
            ),
        }
    }
    assert!(d.alive(), "seed {seed}: the daemon died\n{}", d.log_text());
    let m = wait_for(
        "the valid feedback to be counted",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_events_total", &[("kind", "feedback")]) >= valid_feedback as f64)
                .then_some(m)
        },
    );
    // Only the valid items and the hostile ones the endpoint accepted as feedback were taken.
    let accepted_items = m.sum(
        "driftd_feedback_http_items_total",
        &[("outcome", "accepted")],
    );
    assert!(accepted_items >= valid_feedback as f64, "seed {seed}");
    assert!(!d.log_text().contains("panicked"), "seed {seed}");
    d.terminate();
}
