//! The whole loop of issue #6, end to end on real components: `driftd serve` answers predictions
//! with the registry's live model and produces its prediction events to a real Kafka broker
//! (tansu); `driftd run` consumes them, gets the labels over HTTP (`POST /v1/feedback`, produced to
//! the feedback topic) and over Kafka directly (kafka-python), alternately; the concept flips
//! (A: `y = x > 0`, then B: `y = x < 0`); the `ConceptDrift` alert triggers a retrain; the
//! candidate is shadowed on live traffic and promoted with a recorded McNemar decision; a notice
//! goes to the Kafka `model-updates` topic and Redis pub/sub; `driftd serve` swaps to the new
//! version while a client keeps sending requests (none fails, versions never go back); accuracy on
//! the labels after the swap is within 5 points of a reference model trained in the test on
//! post-drift data. Both processes share one real Redis (registry, state, pub/sub).
//!
//! The concept flips only once `driftd run` has joined every concept-A label, so the drift starts
//! at a known point. A retrain started by an alert waits for `min_new_labels` labels after the
//! alert and learns from those (at least `min_examples` of the newest), so the candidate learns
//! concept B; `accuracy_window_labels` holds the ConceptDrift sample at 2 long enough for that.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use driftd_retrain::{
    AlgorithmConfig, EncoderConfig, Example, Features, Target, Task, Value, train,
};
use serde_json::{Value as Json, json};

use crate::harness::*;
use crate::registry::{KEY, ok as models_ok};
use crate::serve::{Serve, examples};

const MODEL: &str = "m";
const PREDICT_TOKEN: &str = "loop-predict-token-0123456789";
const FEEDBACK_TOKEN: &str = "loop-feedback-token-0123456789";
const ADMIN_TOKEN: &str = "loop-admin-token-0123456789";
/// Items per prediction request (and per feedback batch).
const BATCH: usize = 40;
/// Labelled predictions under concept A.
const CONCEPT_A: usize = 1000;
/// Answers of the new version collected after the swap, to measure the recovery on.
const AFTER_SWAP: usize = 400;
/// Shadow gate: fewest pairs.
const MIN_PAIRS: u64 = 150;

/// One configuration for both processes (`{HTTP}` is `driftd run`'s listen address).
fn config(broker: &Broker, redis: &Redis, t: &Names) -> String {
    format!(
        r#"
[http]
listen = "{{HTTP}}"
feedback_tokens = [{{ value = "{FEEDBACK_TOKEN}" }}]
admin_tokens = [{{ value = "{ADMIN_TOKEN}" }}]

[source]
kind = "kafka"
brokers = "{bootstrap}"
group_id = "{group}"
prediction_topic = "{pred}"
feedback_topic = "{fb}"
dead_letter_topic = "{dlq}"
model_updates_topic = "{updates}"
consumer_properties = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "500" }}

[state]
kind = "redis"
url = "{redis}"
key_prefix = "{prefix}"

[checkpoint]
interval = "300ms"

[shutdown]
timeout = "15s"

[monitor]
reference_events = 500
window_events = 500
accuracy_reference_labels = 500
# The ConceptDrift sample stays at 2 for this many labels after an onset.
accuracy_window_labels = 1000

[monitor.concept_detector]
type = "adwin"
delta = 0.002
clock = 16

[alerting]
evaluation_interval = "1s"

[models.{MODEL}]
positive_label = "yes"

[models.{MODEL}.retrain]
on_alerts = ["ConceptDrift", "AccuracyDrop"]
min_interval = "0s"
min_new_labels = 300
min_examples = 300
buffer_max_examples = 2000
validation_fraction = 0.2
shadow = {{ min_pairs = {MIN_PAIRS} }}
watch = "0s"

[serve]
models = ["{MODEL}"]
reload_interval = "1s"
predict_tokens = [{{ value = "{PREDICT_TOKEN}" }}]

[serve.events]
kind = "kafka"
topic = "{pred}"
"#,
        bootstrap = broker.bootstrap(),
        group = t.group,
        pred = t.predictions,
        fb = t.feedback,
        dlq = t.dlq,
        updates = t.updates,
        redis = redis.url(),
        prefix = t.prefix,
    )
}

/// Fresh topic, group and key names.
struct Names {
    predictions: String,
    feedback: String,
    dlq: String,
    updates: String,
    group: String,
    prefix: String,
}

/// One answered prediction, with the truth the client knows.
#[derive(Debug, Clone)]
struct Answered {
    features: Features,
    truth: &'static str,
    served: String,
    version: String,
    concept_b: bool,
}

/// What the main thread watches while the client runs.
#[derive(Default)]
struct Progress {
    stop: AtomicBool,
    requests: AtomicUsize,
    v2_answers: AtomicUsize,
    /// Failed requests (non-200 predictions, feedback not accepted, transport errors), in order.
    failures: Mutex<Vec<String>>,
}

impl Progress {
    fn fail(&self, what: String) {
        eprintln!("[loop_e2e] client: {what}");
        self.failures.lock().unwrap().push(what);
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }
}

/// Stops the client when dropped.
struct StopClient(Arc<Progress>);

impl Drop for StopClient {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// A POST with a bearer token; transport errors are returned, not panicked on.
fn post(url: &str, token: &str, body: &str) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut r = agent
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", &format!("Bearer {token}"))
        .send(body.as_bytes())
        .map_err(|e| format!("POST {url}: {e}"))?;
    Ok((
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    ))
}

/// The users' side: sends prediction requests to `driftd serve`, and the labels to `driftd run`
/// (even batches over HTTP, odd ones straight to the feedback topic with kafka-python).
struct Client {
    predict_url: String,
    feedback_url: String,
    bootstrap: String,
    feedback_topic: String,
    dir: PathBuf,
    rng: u64,
    next_id: u64,
    batches: u64,
    records: Vec<Answered>,
    via_http: usize,
    via_kafka: usize,
    progress: Arc<Progress>,
}

impl Client {
    fn unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// x uniform in [-2, 2] (three decimals), away from the boundary at 0.
    fn x(&mut self) -> f64 {
        loop {
            let x = ((self.unit() * 4.0 - 2.0) * 1000.0).round() / 1000.0;
            if x.abs() >= 0.01 {
                return x;
            }
        }
    }

    /// One request of [`BATCH`] items under concept A or B, then their labels.
    fn batch(&mut self, concept_b: bool) {
        let mut items = Vec::with_capacity(BATCH);
        let mut sent = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            self.next_id += 1;
            let id = format!("loop-{}", self.next_id);
            let x = self.x();
            let colour = if self.unit() < 0.5 { "red" } else { "green" };
            let positive = if concept_b { x < 0.0 } else { x > 0.0 };
            let truth = if positive { "yes" } else { "no" };
            items.push(json!({"id": id, "features": {"x": x, "colour": colour}}));
            let features: Features = [
                ("x".to_owned(), Value::Number(x)),
                ("colour".to_owned(), Value::from(colour)),
            ]
            .into();
            sent.push((id, features, truth));
        }
        let body = Json::Array(items).to_string();
        let answer = post(&self.predict_url, PREDICT_TOKEN, &body);
        self.progress.requests.fetch_add(1, Ordering::Relaxed);
        let text = match answer {
            Ok((200, text)) => text,
            Ok((status, text)) => return self.progress.fail(format!("predict: {status}: {text}")),
            Err(e) => return self.progress.fail(format!("predict: {e}")),
        };
        let answers: Vec<Json> = match serde_json::from_str(&text) {
            Ok(a) => a,
            Err(e) => {
                return self
                    .progress
                    .fail(format!("predict: unreadable answer ({e}): {text}"));
            }
        };
        assert_eq!(answers.len(), BATCH, "{text}");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut feedback = Vec::with_capacity(BATCH);
        for ((id, features, truth), a) in sent.into_iter().zip(&answers) {
            assert_eq!(a["id"].as_str(), Some(id.as_str()), "{a}");
            let version = a["model_version"].as_str().unwrap_or_default().to_owned();
            if version == "2" {
                self.progress.v2_answers.fetch_add(1, Ordering::Relaxed);
            }
            self.records.push(Answered {
                features,
                truth,
                served: a["prediction"]["label"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                version,
                concept_b,
            });
            feedback.push(
                json!({"kind": "feedback", "id": id, "model": MODEL, "ts": now, "label": truth})
                    .to_string(),
            );
        }
        if self.batches.is_multiple_of(2) {
            let body = format!("[{}]", feedback.join(","));
            match post(&self.feedback_url, FEEDBACK_TOKEN, &body) {
                Ok((202, _)) => self.via_http += feedback.len(),
                Ok((status, text)) => self.progress.fail(format!("feedback: {status}: {text}")),
                Err(e) => self.progress.fail(format!("feedback: {e}")),
            }
        } else {
            let file = self.dir.join(format!("feedback-{}.jsonl", self.batches));
            write_lines(&file, &feedback);
            let n = produce(&self.bootstrap, &self.feedback_topic, &file);
            assert_eq!(n, feedback.len());
            self.via_kafka += n;
        }
        self.batches += 1;
    }
}

/// An authenticated GET on the admin API.
fn admin_get(d: &Driftd, path: &str) -> Option<Json> {
    http_get_json(&format!("{}{path}", d.base()), ADMIN_TOKEN)
}

/// The loop's state: phase, aliases, training data, timeline.
fn loop_status(d: &Driftd) -> Option<Json> {
    admin_get(d, &format!("/v1/models/{MODEL}/retrain"))
}

fn timeline(st: &Json) -> Vec<Json> {
    st["timeline"].as_array().cloned().unwrap_or_default()
}

fn step<'a>(steps: &'a [Json], event: &str) -> Option<&'a Json> {
    steps.iter().find(|s| s["event"] == event)
}

/// Fails at once if the loop ended somewhere other than a promotion, or the client died.
fn no_dead_end(st: &Json, client: &JoinHandle<Client>, progress: &Progress) {
    assert!(
        !client.is_finished(),
        "the client thread stopped (see its panic above)"
    );
    let failures = progress.failures();
    assert!(failures.is_empty(), "requests failed: {failures:#?}");
    for bad in [
        "rejected",
        "inconclusive",
        "fit_failed",
        "rolled_back",
        "watch_started",
    ] {
        assert!(
            step(&timeline(st), bad).is_none(),
            "the loop went to {bad:?}: {:#}",
            st["timeline"]
        );
    }
}

fn accuracy<'a>(rows: impl IntoIterator<Item = &'a Answered>) -> (f64, usize) {
    let (mut right, mut n) = (0usize, 0usize);
    for r in rows {
        n += 1;
        right += usize::from(r.served == r.truth);
    }
    (right as f64 / n.max(1) as f64, n)
}

fn write_config(path: &Path, text: &str) {
    std::fs::write(path, text.replace("{HTTP}", "127.0.0.1:0")).unwrap();
}

#[test]
fn loop_e2e_serve_kafka_feedback_drift_retrain_shadow_promote_swap_recover() {
    let started = Instant::now();
    let broker = Broker::start(false);
    let redis = Redis::start();
    let t = Names {
        predictions: unique("loop-pred"),
        feedback: unique("loop-fb"),
        dlq: unique("loop-dlq"),
        updates: unique("loop-updates"),
        group: unique("loop-group"),
        prefix: unique("loop"),
    };
    for topic in [&t.predictions, &t.feedback, &t.dlq, &t.updates] {
        broker.create_topic(topic, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let text = config(&broker, &redis, &t);
    let serve_config = dir.path().join("serve.toml");
    write_config(&serve_config, &text);

    // The initial model: trained on concept A with the CLI, promoted to live (Redis registry).
    let ex = dir.path().join("concept-a.jsonl");
    write_lines(&ex, &examples(300, 0));
    models_ok(
        &serve_config,
        &["train", MODEL, "--examples", ex.to_str().unwrap()],
    );
    models_ok(&serve_config, &["promote", MODEL, "1"]);

    let mut d = Driftd::start(dir.path(), &text, &[("DRIFTD_REGISTRY_KEY", KEY)]);
    let serve = Serve::start(dir.path(), &serve_config);
    let st = wait_for("the retrain API", Duration::from_secs(30), || {
        loop_status(&d)
    });
    assert_eq!(st["phase"]["phase"], "idle", "{st:#}");
    assert_eq!(st["aliases"]["live"], 1, "{st:#}");

    let progress = Arc::new(Progress::default());
    // Dropped before `serve` and `d` when the test fails: the client stops instead of hammering
    // processes that are being killed.
    let _stop_client = StopClient(progress.clone());
    let mut client = Client {
        predict_url: format!("{}/v1/models/{MODEL}/predict", serve.base),
        feedback_url: format!("{}/v1/feedback", d.base()),
        bootstrap: broker.bootstrap(),
        feedback_topic: t.feedback.clone(),
        dir: dir.path().to_owned(),
        rng: 0x9e37_79b9_7f4a_7c15,
        next_id: 0,
        batches: 0,
        records: Vec::new(),
        via_http: 0,
        via_kafka: 0,
        progress: progress.clone(),
    };

    // Concept A: 1,000 labelled predictions, all answered by v1.
    for _ in 0..CONCEPT_A / BATCH {
        client.batch(false);
    }
    assert!(progress.failures().is_empty(), "{:#?}", progress.failures());
    assert!(client.via_http > 0 && client.via_kafka > 0);
    assert!(client.records.iter().all(|r| r.version == "1"));
    let (acc_a, n_a) = accuracy(&client.records);
    assert_eq!(n_a, CONCEPT_A);
    assert!(acc_a > 0.95, "v1 on concept A: accuracy {acc_a}");
    // Served events went through Kafka to `driftd run` and met their labels there.
    let st = wait_for(
        "the 1,000 concept-A labels to be joined by driftd run",
        Duration::from_secs(90),
        || {
            assert!(d.alive(), "driftd run exited");
            let st = loop_status(&d)?;
            (st["training_data"]["labels_total"].as_u64()? >= CONCEPT_A as u64).then_some(st)
        },
    );
    assert_eq!(
        st["training_data"]["labels_total"], CONCEPT_A as u64,
        "{st:#}"
    );
    assert_eq!(st["phase"]["phase"], "idle", "{st:#}");
    assert!(step(&timeline(&st), "triggered").is_none(), "{st:#}");
    eprintln!(
        "[loop_e2e] concept A done after {:.1}s: v1 accuracy {acc_a:.3}",
        started.elapsed().as_secs_f64()
    );

    // Concept B from now on: a client thread keeps sending until told to stop.
    let client_thread = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            while !progress.stop.load(Ordering::Relaxed) {
                client.batch(true);
            }
            client
        })
    };

    // The alert triggers a retrain …
    let st = wait_for(
        "the concept drift to trigger a retrain",
        Duration::from_secs(90),
        || {
            assert!(d.alive(), "driftd run exited");
            let st = loop_status(&d)?;
            no_dead_end(&st, &client_thread, &progress);
            step(&timeline(&st), "triggered").is_some().then_some(st)
        },
    );
    let steps = timeline(&st);
    let triggered = step(&steps, "triggered").unwrap();
    let detail = triggered["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("alert:ConceptDrift") || detail.contains("alert:AccuracyDrop"),
        "{triggered}"
    );
    eprintln!(
        "[loop_e2e] triggered after {:.1}s: {detail}",
        started.elapsed().as_secs_f64()
    );

    // … the candidate is shadowed and promoted.
    let st = wait_for(
        "the candidate to be shadowed and promoted",
        Duration::from_secs(90),
        || {
            assert!(d.alive(), "driftd run exited");
            let st = loop_status(&d)?;
            no_dead_end(&st, &client_thread, &progress);
            step(&timeline(&st), "promoted").is_some().then_some(st)
        },
    );
    let steps = timeline(&st);
    let events: Vec<&str> = steps
        .iter()
        .map(|s| s["event"].as_str().unwrap_or_default())
        .collect();
    // With watch = "0s" the loop goes back to idle at once.
    assert_eq!(st["phase"]["phase"], "idle", "{st:#}");
    assert_eq!(
        events,
        ["triggered", "trained", "shadow_started", "promoted"],
        "{:#}",
        st["timeline"]
    );
    let promoted = step(&steps, "promoted").unwrap();
    assert_eq!(promoted["version"], 2, "{promoted}");
    assert_eq!(step(&steps, "trained").unwrap()["version"], 2);
    assert_eq!(step(&steps, "shadow_started").unwrap()["version"], 2);
    let promoted_at_ms = promoted["at_ms"].as_i64().unwrap();
    assert_eq!(
        st["aliases"],
        json!({"live": 2, "candidate": null, "previous": 1}),
        "{st:#}"
    );
    eprintln!(
        "[loop_e2e] promoted after {:.1}s: trained: {}; promoted: {}",
        started.elapsed().as_secs_f64(),
        step(&steps, "trained").unwrap()["detail"],
        promoted["detail"]
    );

    // The registry: live moved to 2; version 2 carries the shadow gate's evidence.
    let reg = admin_get(&d, &format!("/v1/registry/{MODEL}")).expect("registry API");
    assert_eq!(reg["aliases"]["live"], 2, "{reg:#}");
    assert_eq!(reg["aliases"]["previous"], 1, "{reg:#}");
    let v2 = admin_get(&d, &format!("/v1/registry/{MODEL}/versions/2")).expect("version 2");
    assert_eq!(v2["status"], "live", "{v2:#}");
    let decision = v2["decisions"]
        .as_array()
        .and_then(|ds| ds.iter().find(|e| e["action"] == "promote"))
        .unwrap_or_else(|| panic!("no promote decision on version 2: {v2:#}"));
    assert_eq!(decision["replaced"], 1, "{decision:#}");
    let record = &decision["record"];
    let test = record["test"].as_str().unwrap_or_default();
    assert!(test.starts_with("mcnemar"), "{decision:#}");
    let alpha = record["policy"]["alpha"].as_f64().unwrap();
    let p = record["p_value"].as_f64().unwrap();
    assert!(
        p < alpha,
        "p-value {p} not below alpha {alpha}: {decision:#}"
    );
    let (b, c, n) = (
        record["counts"]["b"].as_u64().unwrap(),
        record["counts"]["c"].as_u64().unwrap(),
        record["counts"]["n"].as_u64().unwrap(),
    );
    assert!(n >= MIN_PAIRS && c > b, "counts b={b} c={c} n={n}");
    assert_eq!(record["policy"]["min_pairs"], MIN_PAIRS);

    // `driftd serve` switches while the client keeps going; then enough answers of v2 to measure.
    wait_for(
        "driftd serve to answer with version 2",
        Duration::from_secs(30),
        || {
            assert!(!client_thread.is_finished(), "the client thread stopped");
            (progress.v2_answers.load(Ordering::Relaxed) > 0).then_some(())
        },
    );
    let swap_delay_ms = chrono::Utc::now().timestamp_millis() - promoted_at_ms;
    wait_for(
        "answers of version 2 after the swap",
        Duration::from_secs(90),
        || {
            assert!(!client_thread.is_finished(), "the client thread stopped");
            (progress.v2_answers.load(Ordering::Relaxed) >= AFTER_SWAP).then_some(())
        },
    );
    progress.stop.store(true, Ordering::Relaxed);
    let client = client_thread.join().expect("the client thread panicked");

    // No request failed; versions moved 1 → 2 once and never back.
    assert!(progress.failures().is_empty(), "{:#?}", progress.failures());
    assert!(client.via_http > 0 && client.via_kafka > 0);
    let versions: Vec<&str> = client.records.iter().map(|r| r.version.as_str()).collect();
    assert!(
        versions.iter().all(|v| *v == "1" || *v == "2"),
        "{versions:?}"
    );
    let first_v2 = versions.iter().position(|v| *v == "2").unwrap();
    assert!(first_v2 > CONCEPT_A, "no answer of v1 under concept B");
    assert!(
        versions[first_v2..].iter().all(|v| *v == "2"),
        "the served version went back from 2 to 1"
    );
    let sm = serve.metrics();
    assert_eq!(sm.sum("driftd_model_swaps_total", &[("model", MODEL)]), 1.0);
    assert_eq!(
        sm.sum("driftd_serving_model_version", &[("model", MODEL)]),
        2.0
    );

    // Accuracy: v1 collapsed under concept B; v2 recovered to within 5 points of a model trained
    // here on the post-drift examples the client generated before the swap.
    let before: Vec<&Answered> = client.records[CONCEPT_A..first_v2].iter().collect();
    let after: Vec<&Answered> = client.records[first_v2..].iter().collect();
    assert!(before.iter().all(|r| r.concept_b && r.version == "1"));
    let (acc_v1_b, n_before) = accuracy(before.iter().copied());
    assert!(acc_v1_b < 0.1, "v1 on concept B: accuracy {acc_v1_b}");
    let (acc_served, n_after) = accuracy(after.iter().copied());
    let train_set: Vec<Example> = before
        .iter()
        .enumerate()
        .map(|(i, r)| Example {
            ts_ms: 1_800_000_000_000 + i as i64,
            features: r.features.clone(),
            target: Target::Label(r.truth.into()),
            source: None,
        })
        .collect();
    let task = Task::Classification;
    let reference = train(
        task,
        &AlgorithmConfig::default_for(task),
        &EncoderConfig::default(),
        &train_set,
    )
    .expect("training the reference model");
    let right = after
        .iter()
        .filter(|r| reference.predict(&r.features).target == Target::Label(r.truth.into()))
        .count();
    let acc_reference = right as f64 / n_after as f64;
    eprintln!(
        "[loop_e2e] swap seen {swap_delay_ms} ms after the promotion; v1 on B {acc_v1_b:.3} \
         ({n_before} answers); served after the swap {acc_served:.3} ({n_after} answers); \
         reference trained on {n_before} post-drift examples {acc_reference:.3}"
    );
    assert!(
        acc_served >= acc_reference - 0.05,
        "served accuracy after the swap {acc_served:.3} is more than 5 points below the \
         reference's {acc_reference:.3}"
    );

    // The promotion notice on the Kafka model-updates topic.
    let notices = consume(&broker.bootstrap(), &t.updates, 1, Duration::from_secs(30));
    let notice: Json = notices
        .iter()
        .filter_map(|m| serde_json::from_str::<Json>(m.value.as_deref()?).ok())
        .find(|n| n["action"] == "promoted" && n["version"] == 2)
        .unwrap_or_else(|| panic!("no promotion notice on {}: {notices:?}", t.updates));
    assert_eq!(notice["model"], MODEL, "{notice}");
    assert_eq!(notice["replaced"], 1, "{notice}");
    assert_eq!(notice["checksum"], v2["checksum"], "{notice}");
    assert_eq!(notice["checksum"].as_str().unwrap().len(), 64, "{notice}");
    let artifact = notice["artifact"].as_str().unwrap_or_default();
    assert!(
        artifact.ends_with(&format!("#registry/{MODEL}/v/2/artifact")),
        "{notice}"
    );

    // Every served prediction and every label (HTTP and Kafka) reached `driftd run` once.
    let n_pred = client.records.len() as f64;
    let n_fb = (client.via_http + client.via_kafka) as f64;
    assert_eq!(n_fb, n_pred);
    let m = wait_for(
        "every event to reach driftd run",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            let p = m.sum(
                "driftd_events_total",
                &[("model", MODEL), ("kind", "prediction")],
            );
            let f = m.sum(
                "driftd_events_total",
                &[("model", MODEL), ("kind", "feedback")],
            );
            (p >= n_pred && f >= n_fb).then_some(m)
        },
    );
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", MODEL), ("kind", "prediction")]
        ),
        n_pred
    );
    assert_eq!(
        m.sum(
            "driftd_events_total",
            &[("model", MODEL), ("kind", "feedback")]
        ),
        n_fb
    );
    assert_eq!(m.sum("driftd_events_rejected_total", &[]), 0.0);
    eprintln!(
        "[loop_e2e] {} predictions, {} labels over HTTP, {} over Kafka; done in {:.1}s",
        client.records.len(),
        client.via_http,
        client.via_kafka,
        started.elapsed().as_secs_f64()
    );
}
