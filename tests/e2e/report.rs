//! HTML reports checked in a real headless browser (Chromium from Debian's packages, installed by
//! `scripts/test.sh`): `driftd replay --html` on a stream of 25 features and the live report of
//! `driftd run` (`GET /v1/models/{model}/report`) open offline, every chart is laid out by the
//! browser (the page's own script counts them into `data-charts-drawn`), and a screenshot is
//! written to `target/e2e-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use driftd::offline::streams::{StreamKind, StreamSpec, generate};
use serde_json::Value as Json;

use crate::harness::*;

const ADMIN: &str = "report-admin-token-0123456789";

fn chromium() -> PathBuf {
    find_tool(
        "DRIFTD_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
        "install Debian's chromium package (scripts/test.sh does)",
    )
}

/// Opens `page` in headless Chromium with the network refused: the DOM once the page's script
/// has run, and a screenshot written to `shot`.
fn browse(page: &Path, shot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.display());
    let run = |extra: &[String]| {
        let out = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Nothing may be fetched: every host resolves nowhere.
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--virtual-time-budget=10000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = run(&["--dump-dom".to_owned()]);
    run(&[
        "--window-size=1400,6000".to_owned(),
        format!("--screenshot={}", shot.display()),
    ]);
    let png = std::fs::read(shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "a screenshot of a drawn page"
    );
    dom
}

/// The page's count of charts the browser laid out with shapes in them.
fn charts_drawn(dom: &str) -> usize {
    let at = dom
        .find("data-charts-drawn=\"")
        .expect("the page's script ran");
    let rest = &dom[at + "data-charts-drawn=\"".len()..];
    rest[..rest.find('"').unwrap()].parse().unwrap()
}

fn artifacts() -> PathBuf {
    let d = repo_root().join("target/e2e-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Predictions with 25 features: the stream's 13 and 12 copies of them under other names.
fn widen(line: &str) -> String {
    let mut v: Json = serde_json::from_str(line).unwrap();
    let f = v["features"].as_object_mut().unwrap();
    let copies: Vec<(String, Json)> = f
        .iter()
        .take(12)
        .map(|(k, x)| (format!("copy_{k}"), x.clone()))
        .collect();
    f.extend(copies);
    assert_eq!(f.len(), 25);
    v.to_string()
}

#[test]
fn a_replay_report_of_25_features_opens_in_chromium_with_every_chart_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&StreamSpec::new(StreamKind::CovariateShift).events(40_000)).unwrap();
    let preds: Vec<String> = s.predictions.iter().map(|l| widen(l)).collect();
    write_lines(&dir.path().join("p.jsonl"), &preds);
    write_lines(&dir.path().join("f.jsonl"), &s.feedback);
    let html = dir.path().join("report.html");
    crate::replay::exec_replay(
        dir.path(),
        &[
            "--events",
            "p.jsonl",
            "--feedback",
            "f.jsonl",
            "--alerts",
            "alerts.jsonl",
            "--html",
            "report.html",
        ],
        &dir.path().join("report.jsonl"),
    );
    let (onsets, _) = crate::replay::read_report(&dir.path().join("report.jsonl"));
    let page = std::fs::read_to_string(&html).unwrap();
    eprintln!("report of 25 features: {} bytes", page.len());
    assert!(page.len() < 1_000_000, "{} bytes", page.len());
    // The onsets and the alerts the rules would have sent are listed.
    for o in &onsets {
        assert!(page.contains(o["ts"].as_str().unwrap()));
    }
    assert!(
        page.contains("<td>FeatureDrift</td>"),
        "the alert backtest's notifications"
    );
    let dom = browse(&html, &artifacts().join("replay-report.png"));
    // The timeline, the features in drift, labels and accuracy, and 25 features + the prediction.
    assert_eq!(charts_drawn(&dom), 3 + 26);
    assert!(dom.contains("copy_num_0"));
}

#[test]
fn the_live_report_of_a_running_daemon_opens_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&StreamSpec::new(StreamKind::CovariateShift).events(20_000)).unwrap();
    let mut all: Vec<String> = s.predictions.clone();
    all.extend(s.feedback.iter().cloned());
    let events = dir.path().join("events.jsonl");
    write_lines(&events, &all);
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
admin_tokens = [{{ value = "{ADMIN}" }}]

[source]
kind = "file"
path = "{}"
follow = true
"#,
        events.display()
    );
    let d = Driftd::start(dir.path(), &cfg, &[]);
    let n = s.predictions.len() as f64;
    wait_for("every prediction applied", Duration::from_secs(300), || {
        let m = d.metrics()?;
        (m.sum("driftd_events_total", &[("kind", "prediction")]) >= n).then_some(())
    });
    let url = format!("{}/v1/models/{}/report", d.base(), s.model);
    let (code, page) = http_get_auth(&url, ADMIN);
    assert_eq!(code, 200, "{page}");
    assert!(page.starts_with("<!doctype html>"));
    let html = dir.path().join("live.html");
    std::fs::write(&html, &page).unwrap();
    let dom = browse(&html, &artifacts().join("live-report.png"));
    assert_eq!(charts_drawn(&dom), 3 + 14, "13 features and the prediction");
    let (code, _) = http_get_auth(&format!("{}/v1/models/nobody/report", d.base()), ADMIN);
    assert_eq!(code, 404);
    assert_eq!(
        http_get(&url).map(|r| r.0),
        Some(401),
        "the admin API's read role"
    );
}
