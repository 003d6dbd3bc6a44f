//! The command line: `check-config`, the embedded default, SIGHUP.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;

fn driftd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_driftd"))
}

#[test]
fn check_config_prints_every_problem_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        r#"
typo_section = 1
[log]
level = "verbose=="
[http]
listen = "nowhere"
feedback_tokens = [{ env = "DRIFTD_SURELY_UNSET_VARIABLE" }]
[source]
kind = "kafka"
brokers = ""
group_id = "g"
prediction_topic = "t"
feedback_topic = "t"
dead_letter_topic = "t"
[state]
kind = "redis"
url = "redis://:secret-password@127.0.0.1:6379/0"
[checkpoint]
interval = "0s"
"#,
    )
    .unwrap();
    let out = driftd().arg("check-config").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for path in [
        "typo_section",
        "log.level",
        "http.listen",
        "http.feedback_tokens.0",
        "source.brokers",
        "source.dead_letter_topic",
        "state.url",
        "checkpoint.interval",
    ] {
        assert!(
            err.contains(&format!("  - {path}: ")),
            "{path} missing from:\n{err}"
        );
    }
    assert!(
        !err.contains("secret-password"),
        "a secret was printed:\n{err}"
    );
}

#[test]
fn every_config_file_shipped_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo_root().join("config")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        n += 1;
        let out = driftd()
            .arg("check-config")
            .arg(&p)
            .env("DRIFTD_REDIS_PASSWORD", "dummy-password-0123456789")
            .env("DRIFTD_FEEDBACK_TOKEN", "dummy-token-0123456789")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} does not validate:\n{}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        n >= 2,
        "expected config/driftd.toml and config/example.toml"
    );
}

#[test]
fn embedded_default_runs_the_sample_with_no_services_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.jsonl");
    std::fs::copy(repo_root().join("tests/data/sample-events.jsonl"), &sample).unwrap();
    let run = || {
        driftd()
            .current_dir(dir.path())
            .args(["run", "--listen", "127.0.0.1:0", "--events"])
            .arg(&sample)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("driftd: 4576 events accepted, 6 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("model churn: 2000 predictions, 1576 feedback"),
        "{stdout}"
    );
    assert!(dir.path().join("driftd-state.redb").exists());
    // A second run resumes from the checkpoint: nothing is counted twice.
    let out = run();
    let stdout2 = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout2.contains("driftd: 4576 events accepted, 6 rejected"),
        "{stdout2}"
    );
    let rejects = std::fs::read_to_string(dir.path().join("sample.jsonl.rejects.jsonl")).unwrap();
    assert_eq!(rejects.lines().count(), 6);
}

#[test]
fn stdin_is_a_source_too() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = driftd()
        .current_dir(dir.path())
        .args(["run", "--listen", "127.0.0.1:0", "--events", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut g = EventGen::new(1);
    let mut stdin = child.stdin.take().unwrap();
    for _ in 0..100 {
        writeln!(stdin, "{}", g.prediction("m", 3)).unwrap();
    }
    writeln!(stdin, "garbage").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("driftd: 100 events accepted, 1 rejected")
    );
}

#[test]
fn sighup_reloads_tokens_and_rejects_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    std::fs::write(&events, "").unwrap();
    let cfg = |token: &str| {
        format!(
            "[http]\nlisten = \"{{HTTP}}\"\nfeedback_tokens = [{{ value = \"{token}\" }}]\n[source]\nkind = \"file\"\npath = \"{}\"\nfollow = true\n",
            events.display()
        )
    };
    let mut d = Driftd::start(dir.path(), &cfg("first-token-0123456789"), &[]);
    let url = format!("{}/v1/feedback", d.base());
    let body = br#"{"id":"x","model":"m","ts":"2026-11-22T08:00:00Z","label":"1"}"#;
    assert_eq!(http_post(&url, Some("first-token-0123456789"), body).0, 202);
    let cfg_path = dir.path().join("driftd.toml");
    let port_line = format!("listen = \"127.0.0.1:{}\"", d.http_port);
    std::fs::write(
        &cfg_path,
        cfg("second-token-0123456789").replace("listen = \"{HTTP}\"", &port_line),
    )
    .unwrap();
    d.signal("HUP");
    wait_for("the new token", Duration::from_secs(10), || {
        (http_post(&url, Some("second-token-0123456789"), body).0 == 202).then_some(())
    });
    assert_eq!(http_post(&url, Some("first-token-0123456789"), body).0, 401);
    // A broken config is refused and the running one kept.
    std::fs::write(&cfg_path, "[http\n").unwrap();
    d.signal("HUP");
    wait_for("the failed reload", Duration::from_secs(10), || {
        let m = d.metrics()?;
        (m.sum("driftd_config_reloads_total", &[("outcome", "failed")]) >= 1.0).then_some(())
    });
    assert!(d.alive());
    assert_eq!(
        http_post(&url, Some("second-token-0123456789"), body).0,
        202
    );
    assert_eq!(d.terminate(), Some(0));
}

/// Under systemd: READY=1 once started, WATCHDOG=1 pings at half of WATCHDOG_USEC, STOPPING=1 on
/// SIGTERM, exit 0. A unix datagram socket stands in for systemd's notify socket.
#[test]
fn systemd_notify_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let events = dir.path().join("e.jsonl");
    std::fs::write(&events, "").unwrap();
    let mut child = driftd()
        .current_dir(dir.path())
        .args(["run", "--listen", "127.0.0.1:0", "--follow", "--events"])
        .arg(&events)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let recv = || {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notify message");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("WATCHDOG=1")) {
        seen.push(recv());
        assert!(seen.len() < 20, "{seen:?}");
    }
    assert!(seen[0].contains("READY=1"), "{seen:?}");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    loop {
        let m = recv();
        if m.contains("STOPPING=1") {
            break;
        }
        assert!(m.contains("WATCHDOG=1"), "unexpected {m}");
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
