//! `driftd serve` end to end on the embedded store: two versions trained and promoted with the
//! `driftd models` CLI, predictions (single, batch, 401, 404, 413, 422), the events file checked
//! against the event contract and consumed by `driftd run`, and a hot swap under load (no failed
//! request, no mixed or backwards versions, one swap counted), then SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use driftd::contract::event::{EventKind, ParseOptions, parse_event};
use driftd_retrain::{Example, Target, Value};
use serde_json::{Value as Json, json};

use crate::harness::*;
use crate::registry::{KEY, models, ok as models_ok};

pub(crate) const TOKEN: &str = "serve-test-token-0123456789";

/// Seeded labelled examples: `y = x > 0`, plus a category that does not matter.
pub(crate) fn examples(n: i64, offset: i64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let t = i + offset;
            let x = ((t * 7919) % 200 - 100) as f64 / 50.0;
            let e = Example {
                ts_ms: 1_700_000_000_000 + t * 1000,
                features: [
                    ("x".to_owned(), Value::Number(x)),
                    (
                        "colour".to_owned(),
                        Value::from(["red", "green"][(t % 2) as usize]),
                    ),
                ]
                .into(),
                target: Target::Label(if x > 0.0 { "yes" } else { "no" }.into()),
                source: None,
            };
            serde_json::to_string(&e).unwrap()
        })
        .collect()
}

/// A running `driftd serve`, killed on drop.
pub(crate) struct Serve {
    child: Option<Child>,
    pub(crate) base: String,
    log: std::path::PathBuf,
}

impl Serve {
    pub(crate) fn start(dir: &Path, config: &Path) -> Serve {
        Self::start_with_hmac(dir, config, Some(KEY))
    }

    /// Starts it with this HMAC registry key in the environment, or none (then it has only the
    /// keys its configuration names).
    pub(crate) fn start_with_hmac(dir: &Path, config: &Path, hmac: Option<&str>) -> Serve {
        let s = Self::spawn(dir, config, hmac, free_port());
        wait_for("driftd serve to be ready", Duration::from_secs(60), || {
            matches!(http_get(&format!("{}/readyz", s.base)), Some((200, _))).then_some(())
        });
        s
    }

    /// Starts `driftd serve` on `port` without waiting for it (e.g. to wait over HTTPS).
    pub(crate) fn spawn(dir: &Path, config: &Path, hmac: Option<&str>, port: u16) -> Serve {
        let log = dir.join("serve.log");
        let f = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
        match hmac {
            Some(k) => cmd.env("DRIFTD_REGISTRY_KEY", k),
            None => cmd.env_remove("DRIFTD_REGISTRY_KEY"),
        };
        let child = cmd
            .current_dir(dir)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "info")
            .env_remove("DRIFTD_CONFIG")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        Serve {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub(crate) fn predict(&self, model: &str, token: Option<&str>, body: &str) -> (u16, String) {
        http_post(
            &format!("{}/v1/models/{model}/predict", self.base),
            token,
            body.as_bytes(),
        )
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let (status, body) = http_get(&format!("{}/metrics", self.base)).unwrap();
        assert_eq!(status, 200);
        Metrics::parse(&body)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- driftd serve log ---\n{}", tail(&text, 60));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `driftd models promote MODEL VERSION`, retried while a running `driftd serve` holds the
/// embedded store for a poll.
pub(crate) fn promote_retrying(config: &Path, model: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = models(config, &["promote", model, version]);
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "promote kept failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A served model in `dir`: two versions of `churn` trained, v1 live, `driftd serve` running
/// (embedded store, no event sink).
pub(crate) fn serving(dir: &Path) -> (Serve, std::path::PathBuf) {
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n\n[serve]\nreload_interval = \"200ms\"\n\
             predict_tokens = [{{ value = \"{TOKEN}\" }}]\n",
            dir.join("serve-state.redb").display(),
        ),
    )
    .unwrap();
    let (ex1, ex2) = (dir.join("serve-ex1.jsonl"), dir.join("serve-ex2.jsonl"));
    write_lines(&ex1, &examples(300, 0));
    write_lines(&ex2, &examples(400, 300));
    for ex in [&ex1, &ex2] {
        models_ok(
            &config,
            &["train", "churn", "--examples", ex.to_str().unwrap()],
        );
    }
    models_ok(&config, &["promote", "churn", "1"]);
    (Serve::start(dir, &config), config)
}

/// In `dir`: an empty `events.jsonl` and an embedded store `state.redb` whose registry holds two
/// versions of `churn` (trained with the CLI, none live). Returns both paths.
pub(crate) fn two_trained_versions(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let events = dir.join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    let state = dir.join("state.redb");
    let cli_config = dir.join("models.toml");
    std::fs::write(
        &cli_config,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n",
            state.display()
        ),
    )
    .unwrap();
    for (i, ex) in [examples(300, 0), examples(400, 300)].iter().enumerate() {
        let f = dir.join(format!("ex{i}.jsonl"));
        write_lines(&f, ex);
        models_ok(
            &cli_config,
            &["train", "churn", "--examples", f.to_str().unwrap()],
        );
    }
    (events, state)
}

pub(crate) fn item(x: f64) -> Json {
    json!({"features": {"x": x, "colour": "red"}})
}

#[test]
fn serve_answers_emits_contract_events_and_hot_swaps_without_failing_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftd.toml");
    let events = dir.path().join("predictions.jsonl");
    std::fs::write(
        &config,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n\n[serve]\nreload_interval = \"200ms\"\n\
             max_batch_items = 5\nmax_body_bytes = 2048\npredict_tokens = [{{ value = \"{TOKEN}\" }}]\n\n\
             [serve.events]\nkind = \"file\"\npath = \"{}\"\n",
            dir.path().join("state.redb").display(),
            events.display()
        ),
    )
    .unwrap();
    let ex1 = dir.path().join("ex1.jsonl");
    let ex2 = dir.path().join("ex2.jsonl");
    write_lines(&ex1, &examples(300, 0));
    write_lines(&ex2, &examples(400, 300));
    models_ok(
        &config,
        &["train", "churn", "--examples", ex1.to_str().unwrap()],
    );
    models_ok(
        &config,
        &[
            "train",
            "churn",
            "--examples",
            ex2.to_str().unwrap(),
            "--algorithm",
            r#"{"algorithm": "decision_tree", "max_depth": 4}"#,
        ],
    );
    models_ok(&config, &["promote", "churn", "1"]);

    let mut serve = Serve::start(dir.path(), &config);
    let (_, ready) = http_get(&format!("{}/readyz", serve.base)).unwrap();
    assert_eq!(
        serde_json::from_str::<Json>(&ready).unwrap(),
        json!({"ready": true, "models": {"churn": 1}})
    );

    // One object → one answer, with the client's id.
    let (status, body) = serve.predict(
        "churn",
        Some(TOKEN),
        r#"{"id": "req-1", "features": {"x": 1.8, "colour": "red"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let a: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(a["id"], "req-1");
    assert_eq!(a["model"], "churn");
    assert_eq!(a["model_version"], "1");
    assert_eq!(a["prediction"]["label"], "yes", "{a}");
    let score = a["prediction"]["score"].as_f64().unwrap();
    assert!(score > 0.5 && score <= 1.0, "{a}");

    // A batch → an array in the same order; missing ids are generated and unique.
    let batch = json!([item(-1.5), {"id": "req-2", "features": {"x": 1.5}}, item(-0.9)]);
    let (status, body) = serve.predict("churn", Some(TOKEN), &batch.to_string());
    assert_eq!(status, 200, "{body}");
    let answers: Vec<Json> = serde_json::from_str(&body).unwrap();
    let labels: Vec<&str> = answers
        .iter()
        .map(|a| a["prediction"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["no", "yes", "no"]);
    assert_eq!(answers[1]["id"], "req-2");
    let (g0, g2) = (
        answers[0]["id"].as_str().unwrap(),
        answers[2]["id"].as_str().unwrap(),
    );
    assert!(!g0.is_empty() && g0 != g2 && g0 != "req-2", "{g0} {g2}");

    // Refusals: no or wrong token (401), unknown model (404), too many items or too large a
    // body (413), invalid items listed (422). None of them emits an event.
    let one = item(0.5).to_string();
    assert_eq!(serve.predict("churn", None, &one).0, 401);
    assert_eq!(
        serve
            .predict("churn", Some("wrong-token-0123456789"), &one)
            .0,
        401
    );
    assert_eq!(serve.predict("nope", Some(TOKEN), &one).0, 404);
    let six = Json::Array((0..6).map(|i| item(f64::from(i))).collect()).to_string();
    assert_eq!(serve.predict("churn", Some(TOKEN), &six).0, 413);
    let big = json!({"features": {"x": 1.0, "colour": "r".repeat(3000)}}).to_string();
    assert_eq!(serve.predict("churn", Some(TOKEN), &big).0, 413);
    let bad = json!([
        {"features": {"x": true}},
        item(1.0),
        {"feature": {"x": 1.0}},
        {"id": "i".repeat(300), "features": {"x": 1.0}}
    ]);
    let (status, body) = serve.predict("churn", Some(TOKEN), &bad.to_string());
    assert_eq!(status, 422, "{body}");
    let err: Json = serde_json::from_str(&body).unwrap();
    let indexes: Vec<u64> = err["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 2, 3], "{err}");
    assert_eq!(serve.predict("churn", Some(TOKEN), "[]").0, 400);

    // The events file: one contract-v1 prediction event per answer, nothing for refusals.
    let text = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for line in &lines {
        let ev = parse_event(line.as_bytes(), &ParseOptions::default())
            .unwrap_or_else(|r| panic!("{line}: {r:?}"));
        assert_eq!(ev.kind(), EventKind::Prediction, "{line}");
        let v: Json = serde_json::from_str(line).unwrap();
        assert_eq!(v["kind"], "prediction");
        assert_eq!(v["model"], "churn");
        assert_eq!(v["model_version"], "1");
        let ts = v["ts"].as_str().unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == "2026-11-21T10:00:00.123Z".len(),
            "{ts}"
        );
        assert!(v["features"]["x"].is_number(), "{line}");
    }
    let first: Json = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["id"], "req-1");
    assert_eq!(first["prediction"], a["prediction"]);

    // Hot swap under load: a client keeps predicting while v2 is promoted.
    let stop = Arc::new(AtomicBool::new(false));
    // Answers by version so far: the test waits on these instead of sleeping.
    let answered = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let client = {
        let stop = stop.clone();
        let answered = answered.clone();
        let url = format!("{}/v1/models/churn/predict", serve.base);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut failures = Vec::new();
            let body = json!([item(1.2), item(-1.2)]).to_string();
            while !stop.load(Ordering::Relaxed) {
                let (status, text) = http_post(&url, Some(TOKEN), body.as_bytes());
                if status != 200 {
                    failures.push(format!("{status}: {text}"));
                    continue;
                }
                let answers: Vec<Json> = serde_json::from_str(&text).unwrap();
                let versions: Vec<String> = answers
                    .iter()
                    .map(|a| a["model_version"].as_str().unwrap().to_owned())
                    .collect();
                if versions[0] != versions[1] {
                    failures.push(format!("mixed versions in one request: {versions:?}"));
                }
                if let Some(n) = ["1", "2"].iter().position(|v| *v == versions[0]) {
                    answered[n].fetch_add(1, Ordering::Relaxed);
                }
                seen.push(versions[0].clone());
            }
            (seen, failures)
        })
    };
    let answers = |v: usize, n: usize| {
        wait_for(
            &format!("{n} answers of v{}", v + 1),
            Duration::from_secs(30),
            || (answered[v].load(Ordering::Relaxed) >= n).then_some(()),
        )
    };
    answers(0, 20);
    // The embedded store is opened by serve only during a poll; retry if promote hits one.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = models(&config, &["promote", "churn", "2"]);
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "promote kept failing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_for("serve to swap to v2", Duration::from_secs(20), || {
        (serve
            .metrics()
            .sum("driftd_serving_model_version", &[("model", "churn")])
            == 2.0)
            .then_some(())
    });
    answers(1, 20);
    stop.store(true, Ordering::Relaxed);
    let (seen, failures) = client.join().unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(seen.iter().all(|v| v == "1" || v == "2"), "{seen:?}");
    let first_v2 = seen
        .iter()
        .position(|v| v == "2")
        .expect("no answer from v2");
    assert!(first_v2 > 0, "no answer from v1 during the load");
    assert!(
        seen[first_v2..].iter().all(|v| v == "2"),
        "versions went back from 2 to 1: {seen:?}"
    );
    let m = serve.metrics();
    assert_eq!(
        m.sum("driftd_model_swaps_total", &[("model", "churn")]),
        1.0
    );
    let ok_requests = m.sum(
        "driftd_predict_requests_total",
        &[("model", "churn"), ("outcome", "ok")],
    );
    assert_eq!(ok_requests, (2 + seen.len()) as f64);
    assert_eq!(
        m.sum(
            "driftd_predict_requests_total",
            &[("model", "churn"), ("outcome", "unauthorized")]
        ),
        2.0
    );
    assert!(
        std::fs::read_to_string(&serve.log)
            .unwrap()
            .contains("live model swapped"),
        "no swap logged"
    );

    // SIGTERM: a clean exit.
    let mut child = serve.child.take().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = wait_for("driftd serve to exit", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "exit status {status:?}");

    // `driftd run` accepts every event serve wrote: 4 + 2 per request under load.
    let n_events = 4 + 2 * seen.len();
    assert_eq!(
        std::fs::read_to_string(&events).unwrap().lines().count(),
        n_events
    );
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .current_dir(&run_dir)
        .args(["run", "--listen", "127.0.0.1:0", "--events"])
        .arg(&events)
        .env_remove("DRIFTD_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("driftd: {n_events} events accepted, 0 rejected")),
        "{stdout}"
    );
}

#[test]
fn serve_produces_prediction_events_to_kafka() {
    let broker = Broker::start(false);
    let topic = unique("served");
    broker.create_topic(&topic, 1);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftd.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"kafka\"\nbrokers = \"{}\"\n\n[state]\nkind = \"embedded\"\npath = \"{}\"\n\n\
             [serve]\npredict_tokens = [{{ value = \"{TOKEN}\" }}]\n\n\
             [serve.events]\nkind = \"kafka\"\ntopic = \"{topic}\"\n",
            broker.bootstrap(),
            dir.path().join("state.redb").display(),
        ),
    )
    .unwrap();
    let ex = dir.path().join("ex.jsonl");
    write_lines(&ex, &examples(300, 0));
    models_ok(
        &config,
        &["train", "churn", "--examples", ex.to_str().unwrap()],
    );
    models_ok(&config, &["promote", "churn", "1"]);
    let serve = Serve::start(dir.path(), &config);

    let batch = json!([item(1.5), item(-1.5), {"id": "k-3", "features": {"x": 0.7}}]);
    let (status, body) = serve.predict("churn", Some(TOKEN), &batch.to_string());
    assert_eq!(status, 200, "{body}");
    let answers: Vec<Json> = serde_json::from_str(&body).unwrap();

    // The answer comes after the broker acknowledged every event.
    let got = consume(&broker.bootstrap(), &topic, 3, Duration::from_secs(30));
    assert_eq!(got.len(), 3, "{got:?}");
    for (msg, answer) in got.iter().zip(&answers) {
        let value = msg.value.as_deref().unwrap();
        let ev = parse_event(value.as_bytes(), &ParseOptions::default())
            .unwrap_or_else(|r| panic!("{value}: {r:?}"));
        assert_eq!(ev.kind(), EventKind::Prediction);
        let v: Json = serde_json::from_str(value).unwrap();
        assert_eq!(v["id"], answer["id"]);
        assert_eq!(v["prediction"], answer["prediction"]);
        assert_eq!(v["model_version"], "1");
    }
    assert_eq!(
        got[2].value.as_deref().map(|v| v.contains("\"k-3\"")),
        Some(true)
    );
}
