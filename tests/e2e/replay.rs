//! `driftd replay` on the project's own seeded streams with known drift (see
//! `daemon/src/offline/streams.rs`): detection on the right features only, within a stated delay,
//! no false alarm on a long stable stream, and byte-identical reports.

use std::path::Path;
use std::process::Command;

use driftd::offline::streams::{StreamKind, StreamSpec, generate, write_to_dir};

/// Generates a stream, replays it with its feedback and truth, returns (onset lines, summary).
fn replay(dir: &Path, kind: StreamKind, n: usize) -> (Vec<serde_json::Value>, serde_json::Value) {
    let name = kind.name();
    let stream = generate(&StreamSpec::new(kind).events(n)).unwrap();
    write_to_dir(&stream, dir, name).unwrap();
    let report = dir.join(format!("{name}.report.jsonl"));
    run(dir, name, &report);
    read_report(&report)
}

/// Replays the stream `name` in `dir` with its feedback and truth into `report`.
fn run(dir: &Path, name: &str, report: &Path) {
    exec_replay(
        dir,
        &[
            "--events",
            &format!("{name}.predictions.jsonl"),
            "--feedback",
            &format!("{name}.feedback.jsonl"),
            "--truth",
            &format!("{name}.truth.json"),
        ],
        report,
    );
}

/// Runs `driftd replay ARGS --report REPORT` in `dir` and asserts it succeeded.
pub(crate) fn exec_replay(dir: &Path, args: &[&str], report: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .current_dir(dir)
        .arg("replay")
        .args(args)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A report's onset lines and its summary object.
pub(crate) fn read_report(report: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut lines: Vec<serde_json::Value> = std::fs::read_to_string(report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().unwrap()["summary"].clone();
    (lines, summary)
}

fn score(summary: &serde_json::Value) -> &serde_json::Value {
    &summary["backtest"]["summary"]
}

fn features(onsets: &[serde_json::Value], kind: &str) -> Vec<String> {
    let mut f: Vec<String> = onsets
        .iter()
        .filter(|o| o["kind"] == kind)
        .map(|o| o["feature"].as_str().unwrap_or("").to_owned())
        .collect();
    f.sort();
    f
}

fn count(onsets: &[serde_json::Value], kind: &str) -> usize {
    onsets.iter().filter(|o| o["kind"] == kind).count()
}

/// Data drift is tested on a sliding window of the last 1,000 predictions every 100 (the default,
/// streaming detection): an abrupt feature shift is reported within one such window of its onset.
const WINDOW: u64 = 1_000;

#[test]
fn a_stable_stream_of_100k_events_raises_no_alarm_over_891_looks() {
    let dir = tempfile::tempdir().unwrap();
    let (onsets, summary) = replay(dir.path(), StreamKind::Stable, 100_000);
    assert!(onsets.is_empty(), "false alarms: {onsets:#?}");
    // 90,000 predictions after the reference: the first look when 1,000 fill the window, then
    // one every 100.
    assert_eq!(summary["models"]["stable"]["windows"], 891);
    assert_eq!(score(&summary)["false_alarms"], 0);
    // Labels were joined and the performance tested window after window, too.
    assert!(summary["models"]["stable"]["labelled"].as_u64().unwrap() > 90_000);
}

#[test]
fn a_covariate_shift_is_found_on_the_shifted_features_only_within_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let (onsets, summary) = replay(dir.path(), StreamKind::CovariateShift, 100_000);
    assert_eq!(
        features(&onsets, "data"),
        ["num_0", "num_1", "num_2", "num_3"]
    );
    let s = score(&summary);
    assert_eq!(
        (s["missed"].as_u64(), s["false_alarms"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert!(s["max_delay_events"].as_u64().unwrap() <= WINDOW, "{s}");
    assert_eq!(count(&onsets, "concept") + count(&onsets, "accuracy"), 0);
}

#[test]
fn a_categorical_shift_and_a_new_category_are_found_on_their_features() {
    let dir = tempfile::tempdir().unwrap();
    let (onsets, summary) = replay(dir.path(), StreamKind::CategoricalShift, 100_000);
    assert_eq!(features(&onsets, "data"), ["cat_0", "cat_1"]);
    let s = score(&summary);
    assert_eq!(
        (s["detected"].as_u64(), s["false_alarms"].as_u64()),
        (Some(2), Some(0)),
        "{s}"
    );
    assert!(s["max_delay_events"].as_u64().unwrap() <= WINDOW, "{s}");
}

/// Only the labels change: found by the error-stream detector and the accuracy test, never by a
/// feature or prediction test. Labels arrive ~10 minutes late (~12,000 events), so the bound is
/// looser than for feature drift.
#[test]
fn a_concept_drift_visible_only_through_labels_is_found_from_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (onsets, summary) = replay(dir.path(), StreamKind::Concept, 100_000);
    assert_eq!(
        count(&onsets, "data") + count(&onsets, "dataset") + count(&onsets, "prediction"),
        0
    );
    assert!(count(&onsets, "concept") >= 1);
    assert!(count(&onsets, "accuracy") >= 1);
    let s = score(&summary);
    assert_eq!(
        (s["missed"].as_u64(), s["false_alarms"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert!(s["max_delay_events"].as_u64().unwrap() <= 15_000, "{s}");
}

#[test]
fn a_gradual_drift_is_found_on_its_features_and_in_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (onsets, summary) = replay(dir.path(), StreamKind::Gradual, 100_000);
    assert_eq!(features(&onsets, "data"), ["num_0", "num_5"]);
    assert!(count(&onsets, "concept") >= 1);
    let s = score(&summary);
    assert_eq!(
        (s["missed"].as_u64(), s["false_alarms"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    // Found within 5,000 predictions of the transition's start.
    assert!(s["max_delay_events"].as_u64().unwrap() <= 5_000, "{s}");
}

#[test]
fn two_replays_of_the_same_files_give_byte_identical_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (onsets, _) = replay(dir.path(), StreamKind::Gradual, 40_000);
    assert!(!onsets.is_empty());
    let first = std::fs::read(dir.path().join("gradual.report.jsonl")).unwrap();
    let again = dir.path().join("again.jsonl");
    run(dir.path(), "gradual", &again);
    assert_eq!(std::fs::read(&again).unwrap(), first);
}

/// A reference file replaces the first live predictions: replaying the stable stream against a
/// reference taken from the shifted half of the covariate stream flags exactly the shifted
/// features at the first look (once 1,000 predictions fill the window), and no reference phase is
/// spent on live traffic.
#[test]
fn a_reference_file_is_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let shifted = generate(&StreamSpec::new(StreamKind::CovariateShift).events(40_000)).unwrap();
    let reference: Vec<String> = shifted.predictions[30_000..]
        .iter()
        .map(|l| l.replace("\"model\":\"covariate_shift\"", "\"model\":\"stable\""))
        .collect();
    let ref_path = dir.path().join("reference.jsonl");
    std::fs::write(&ref_path, reference.join("\n")).unwrap();
    let stable = generate(&StreamSpec::new(StreamKind::Stable).events(30_000)).unwrap();
    write_to_dir(&stable, dir.path(), "stable").unwrap();
    let cfg = dir.path().join("driftd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[models.stable]\nreference_file = {:?}\n",
            ref_path.display().to_string()
        ),
    )
    .unwrap();
    let report = dir.path().join("report.jsonl");
    let cfg = cfg.display().to_string();
    exec_replay(
        dir.path(),
        &["--events", "stable.predictions.jsonl", "--config", &cfg],
        &report,
    );
    let (onsets, summary) = read_report(&report);
    let onsets = &onsets[..];
    assert_eq!(
        features(onsets, "data"),
        ["num_0", "num_1", "num_2", "num_3"]
    );
    assert!(
        onsets
            .iter()
            .filter(|o| o["kind"] == "data")
            .all(|o| o["event_index"] == 1_000)
    );
    assert_eq!(summary["models"]["stable"]["windows"], 291);
}

#[test]
fn the_alert_backtest_names_what_the_default_rules_would_have_sent_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let kind = StreamKind::CovariateShift;
    let name = kind.name();
    let stream = generate(&StreamSpec::new(kind).events(50_000)).unwrap();
    write_to_dir(&stream, dir.path(), name).unwrap();
    let alerts = |file: &str| -> Vec<serde_json::Value> {
        exec_replay(
            dir.path(),
            &[
                "--events",
                &format!("{name}.predictions.jsonl"),
                "--feedback",
                &format!("{name}.feedback.jsonl"),
                "--alerts",
                file,
            ],
            &dir.path().join("report.jsonl"),
        );
        std::fs::read_to_string(dir.path().join(file))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut lines = alerts("a.jsonl");
    let summary = lines.pop().unwrap()["summary"].clone();
    // The shifted features fire FeatureDrift, grouped into notifications of their model; nothing
    // else drifts in the data (the label-delay tail makes the model go quiet: ModelStale may fire).
    let mut features: Vec<String> = lines
        .iter()
        .flat_map(|n| n["alerts"].as_array().unwrap().clone())
        .filter(|a| a["rule"] == "FeatureDrift" && a["status"] == "firing")
        .map(|a| a["labels"]["feature"].as_str().unwrap().to_owned())
        .collect();
    features.sort();
    features.dedup();
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("{name}.truth.json"))).unwrap(),
    )
    .unwrap();
    // The truth names the changed features (name → description), in name order.
    let want: Vec<String> = truth["drifts"][0]["features"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(features, want, "{summary}");
    assert_eq!(summary["fired"]["FeatureDrift"], want.len(), "{summary}");
    // Quiet: the sparse labels of the tail make at most one ModelStale episode (keep_firing_for),
    // and each rule's episode on the model is its own group (the shipped routes group by model
    // and rule): notified when it starts, again only at the repeat interval — at most two firing
    // notifications per group in the stream's hours, and one resolved (it was 11 notifications
    // in all, the model's group re-sent at every change, before).
    assert!(
        summary["fired"]["ModelStale"].as_u64().unwrap_or(0) <= 1,
        "{summary}"
    );
    let mut per_group: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for n in &lines {
        let key = (
            n["group_key"].as_str().unwrap().to_owned(),
            n["status"].as_str().unwrap().to_owned(),
        );
        *per_group.entry(key).or_default() += 1;
    }
    for ((group, status), count) in &per_group {
        let most = if status == "firing" { 2 } else { 1 };
        assert!(
            *count <= most,
            "{count} {status} notifications of {group}: {lines:#?}"
        );
    }
    // Every notification carries event time, not the wall clock: before the stream's end.
    for n in &lines {
        assert!(
            n["created"].as_str().unwrap().starts_with("2026-01-01"),
            "{n}"
        );
    }
    // Byte for byte the same on a second run.
    alerts("b.jsonl");
    assert_eq!(
        std::fs::read(dir.path().join("a.jsonl")).unwrap(),
        std::fs::read(dir.path().join("b.jsonl")).unwrap()
    );
}
