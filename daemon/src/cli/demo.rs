//! `driftd demo`: the whole loop in one process, with no external service, in well under a minute.
//!
//! 1. A registry in a temporary embedded store gets a live model (logistic regression) trained on
//!    concept A of a synthetic stream.
//! 2. `driftd run` starts in-process on that store ([`crate::cli::run::run`] with
//!    [`RunOptions::store`]), reading a JSON-lines events file it follows, with `/metrics` and the
//!    admin API on loopback, and `[models.demo.retrain]` configured.
//! 3. A generator plays the serving side: for each synthetic request it predicts with the
//!    registry's live model (reloaded when a promotion notice arrives on the store's
//!    `model-updates` channel), appends the prediction event and its feedback to the file.
//!    A third of the way in, the concept flips (the labels follow another rule).
//! 4. The monitor's error-stream detector sees the drift; the `ConceptDrift` alert fires (logged);
//!    the trainer retrains on the buffered labels, validates, shadows the candidate on live
//!    traffic, promotes it; the generator swaps to it and accuracy recovers.
//!
//! The timeline is printed as it happens (from the admin API, as an operator would see it), and
//! the demo exits non-zero if accuracy did not recover.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use driftd_retrain::{
    AlgorithmConfig, EncoderConfig, Example, Features, Target, Task, TrainedModel, Value,
};
use secrecy::SecretString;

use crate::cli::run::RunOptions;
use crate::cli::run::run;
use crate::config::load_str;
use crate::contract::notice::Notice;
use crate::contract::notice::UPDATES_CHANNEL;
use crate::registry::{Alias, Registry};
use crate::store::{AnyStore, EmbeddedStore, StateStore as _};
use crate::telemetry::LogHandle;

/// Options of `driftd demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Prediction requests in all (the concept flips after a third of them).
    pub requests: u64,
    /// Requests per second the generator aims at.
    pub rate: u64,
    /// Where `/metrics` and the admin API listen.
    pub listen: std::net::SocketAddr,
    /// Keep the working directory (events file, state store) here instead of a temporary one.
    pub dir: Option<PathBuf>,
}

const MODEL: &str = "demo";
const ADMIN: &str = "demo-admin-token-0123456789";
/// The demo's feedback token (a token has one role: the admin token cannot post feedback).
const FEEDBACK: &str = "demo-feedback-token-0123456789";

/// A deterministic generator (xorshift64*): the demo gives the same stream every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Four numeric features and a plan; concept A labels by `x0 + x1 > 0`, concept B by
/// `x0 - x1 > 0`. The inputs do not change: only the relation to the labels does (concept drift).
fn request(rng: &mut Rng) -> Features {
    let mut f = Features::new();
    for i in 0..4 {
        f.insert(format!("x{i}"), Value::Number(rng.next() * 4.0 - 2.0));
    }
    let plan = ["free", "pro", "team"][(rng.next() * 3.0) as usize % 3];
    f.insert("plan".into(), Value::Category(plan.into()));
    f
}

fn truth(f: &Features, concept_b: bool) -> &'static str {
    let x = |k: &str| match f.get(k) {
        Some(Value::Number(v)) => *v,
        _ => 0.0,
    };
    let s = if concept_b {
        x("x0") - x("x1")
    } else {
        x("x0") + x("x1")
    };
    if s > 0.0 { "churn" } else { "stay" }
}

fn config(dir: &Path, listen: std::net::SocketAddr, key: &str) -> String {
    format!(
        r#"
[log]
level = "error"

[http]
listen = "{listen}"
feedback_tokens = [{{ value = "{FEEDBACK}" }}]
admin_tokens = [{{ value = "{ADMIN}" }}]

[source]
kind = "file"
path = "{events}"
follow = true
poll_interval = "50ms"

[state]
kind = "embedded"
path = "{state}"

[checkpoint]
interval = "2s"

[registry]
signing_key = {{ value = "{key}" }}

[monitor]
reference_events = 2000
window_events = 2000
accuracy_reference_labels = 1000
accuracy_window_labels = 1000

[alerting]
evaluation_interval = "500ms"

[models.{MODEL}]
task = "classification"
positive_label = "churn"

[models.{MODEL}.retrain]
on_alerts = ["ConceptDrift", "AccuracyDrop"]
min_interval = "30s"
min_new_labels = 1000
min_examples = 400
buffer_max_examples = 3000
validation_fraction = 0.2
shadow = {{ min_pairs = 300 }}
shadow_max_duration = "30s"
watch = "10s"
"#,
        events = dir.join("events.jsonl").display(),
        state = dir.join("state.redb").display(),
    )
}

fn event_ts(i: u64) -> String {
    chrono::DateTime::from_timestamp_millis(1_800_000_000_000 + i as i64 * 10)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn features_json(f: &Features) -> String {
    serde_json::to_string(f).unwrap_or_else(|_| "{}".into())
}

/// Prints a timeline line, `[  12.3s] …`.
fn say(start: Instant, what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[{:>6.1}s] {what}", start.elapsed().as_secs_f64());
    let _ = out.flush();
}

/// Runs the demo. Returns whether accuracy recovered after the promotion.
pub async fn demo(opts: DemoOptions, log: LogHandle) -> anyhow::Result<bool> {
    let start = Instant::now();
    let tmp = tempfile::tempdir().context("creating a working directory")?;
    let dir = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => tmp.path().to_owned(),
    };
    let key = format!(
        "demo-signing-key-{:032x}",
        start.elapsed().as_nanos() ^ 0x5eed
    );
    let events_path = dir.join("events.jsonl");
    std::fs::write(&events_path, b"").context("creating the events file")?;
    let store = AnyStore::Embedded(
        EmbeddedStore::open(&dir.join("state.redb")).context("opening the state store")?,
    );
    let registry = Registry::new(store.clone(), Some(SecretString::from(key.clone())))?;

    // 1. The initial live model, trained on concept A.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let initial: Vec<Example> = (0..2000)
        .map(|i| {
            let f = request(&mut rng);
            let y = truth(&f, false);
            Example {
                ts_ms: i,
                features: f,
                target: Target::Label(y.into()),
                source: None,
            }
        })
        .collect();
    let live = tokio::task::spawn_blocking(move || {
        driftd_retrain::train(
            Task::Classification,
            &AlgorithmConfig::default_for(Task::Classification),
            &EncoderConfig::default(),
            &initial,
        )
    })
    .await??;
    let v1 = registry.register(MODEL, &live, None, "import").await?;
    registry
        .promote(MODEL, v1.version, "initial model", None, None)
        .await?;
    say(
        start,
        &format!(
            "model {MODEL} v{} (logistic regression, trained on concept A) is live",
            v1.version
        ),
    );

    // 2. driftd run, in-process, on the same store.
    let loaded = load_str(&config(&dir, opts.listen, &key))
        .map_err(|e| anyhow::anyhow!("demo configuration: {e}"))?;
    let run_opts = RunOptions {
        store: Some(store.clone()),
        trainer_tick: Some(Duration::from_millis(200)),
        ..RunOptions::default()
    };
    let daemon = tokio::spawn(run(loaded, run_opts, log));
    let base = format!("http://{}", opts.listen);
    say(
        start,
        &format!(
            "driftd run is watching it: {base}/metrics (Prometheus), {base}/v1/models/{MODEL}/retrain (admin token {ADMIN})"
        ),
    );

    // 3. The serving side: the live model, swapped on promotion notices.
    let current: Arc<arc_swap::ArcSwap<(u64, TrainedModel)>> =
        Arc::new(arc_swap::ArcSwap::from_pointee((v1.version, live)));
    let mut notices = store.subscribe(UPDATES_CHANNEL).await?;
    {
        let (current, store, key) = (current.clone(), store.clone(), key.clone());
        tokio::spawn(async move {
            while let Some(msg) = notices.recv().await {
                let Ok(n) = serde_json::from_slice::<Notice>(&msg) else {
                    continue;
                };
                let Ok(r) = Registry::new(store.clone(), Some(SecretString::from(key.clone())))
                else {
                    continue;
                };
                if let Ok((m, _)) = r.load_alias(&n.model, Alias::Live).await {
                    current.store(Arc::new((n.version, m)));
                }
            }
        });
    }
    let done = Arc::new(AtomicBool::new(false));
    // Predictions the daemon has processed: the generator never runs more than a few thousand
    // ahead, so the demo tells the same story on a slow machine (or a debug build).
    let seen = Arc::new(AtomicU64::new(0));
    let watcher = tokio::spawn(watch_timeline(
        base.clone(),
        start,
        done.clone(),
        seen.clone(),
    ));

    let drift_at = opts.requests / 3;
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&events_path)
        .await?;
    let block = 2000u64;
    let (mut right, mut n) = (0u64, 0u64);
    let mut versions = std::collections::BTreeSet::new();
    // Per block: (served only by this version, or 0 if mixed; accuracy; after the drift).
    let mut accuracy: Vec<(u64, f64, bool)> = Vec::new();
    let tick = Duration::from_millis(20);
    let per_tick = (opts.rate * tick.as_millis() as u64 / 1000).max(1);
    let mut next = tokio::time::Instant::now();
    let mut i = 0u64;
    use tokio::io::AsyncWriteExt as _;
    // At least `requests`; then on until three blocks were served by a promoted model (the
    // recovery), or 55 s have passed.
    let deadline = start + Duration::from_secs(55);
    let promoted_blocks =
        |acc: &[(u64, f64, bool)]| acc.iter().filter(|a| a.0 > v1.version).count();
    while i < opts.requests || (promoted_blocks(&accuracy) < 3 && Instant::now() < deadline) {
        let mut buf = String::new();
        for _ in 0..per_tick {
            let concept_b = i >= drift_at;
            if i == drift_at {
                say(
                    start,
                    &format!(
                        "concept drift injected at request {i}: the labels now follow another rule"
                    ),
                );
            }
            let f = request(&mut rng);
            let served = current.load_full();
            let p = served.1.predict(&f);
            let label = p.target.label().unwrap_or_default().to_owned();
            let y = truth(&f, concept_b);
            right += u64::from(label == y);
            n += 1;
            versions.insert(served.0);
            let ts = event_ts(i);
            buf.push_str(&format!(
                r#"{{"kind":"prediction","id":"r{i}","model":"{MODEL}","model_version":"{}","ts":"{ts}","features":{},"prediction":{{"label":"{label}"{}}}}}"#,
                served.0,
                features_json(&f),
                p.score.map(|s| format!(",\"score\":{s:.6}")).unwrap_or_default(),
            ));
            buf.push('\n');
            buf.push_str(&format!(
                r#"{{"kind":"feedback","id":"r{i}","model":"{MODEL}","ts":"{ts}","label":"{y}"}}"#
            ));
            buf.push('\n');
            i += 1;
            if i.is_multiple_of(block) {
                let acc = right as f64 / n as f64;
                let vs: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
                say(
                    start,
                    &format!(
                        "requests {:>6}-{:<6} served by {:<7} accuracy {:>5.1}%{}",
                        i - block,
                        i,
                        vs.join("+"),
                        acc * 100.0,
                        if concept_b {
                            ""
                        } else {
                            "  (before the drift)"
                        }
                    ),
                );
                let only = if versions.len() == 1 {
                    versions.first().copied().unwrap_or(0)
                } else {
                    0
                };
                accuracy.push((only, acc, concept_b));
                (right, n) = (0, 0);
                versions.clear();
            }
        }
        file.write_all(buf.as_bytes()).await?;
        file.flush().await?;
        next += tick;
        tokio::time::sleep_until(next).await;
        while i > seen.load(Ordering::Relaxed) + 4 * per_tick.max(100) && Instant::now() < deadline
        {
            tokio::time::sleep(tick).await;
            next = tokio::time::Instant::now();
        }
    }
    // Let the daemon read the tail, then stop it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    done.store(true, Ordering::Relaxed);
    let _ = watcher.await;
    let before = mean(accuracy.iter().filter(|a| !a.2).map(|a| a.1));
    let final_version = current.load().0;
    let after_drift_old = mean(
        accuracy
            .iter()
            .filter(|a| a.2 && a.0 == v1.version)
            .map(|a| a.1),
    );
    // Blocks served by one promoted version only (a block during a swap mixes two).
    let recovered = mean(
        accuracy
            .iter()
            .filter(|a| a.2 && a.0 > v1.version)
            .map(|a| a.1),
    );
    say(start, "summary:");
    say(
        start,
        &format!(
            "  accuracy before the drift (v{}): {:.1}%",
            v1.version,
            before * 100.0
        ),
    );
    say(
        start,
        &format!(
            "  accuracy after the drift, old model: {:.1}%",
            after_drift_old * 100.0
        ),
    );
    let ok = final_version != v1.version && recovered >= before - 0.05;
    if final_version != v1.version {
        say(
            start,
            &format!(
                "  accuracy after the promotion (v{final_version} live at the end): {:.1}%  → {}",
                recovered * 100.0,
                if ok { "recovered" } else { "NOT recovered" }
            ),
        );
    } else {
        say(start, "  no promotion happened: accuracy did not recover");
    }
    // SIGTERM-equivalent: the daemon runs until its task is dropped with the runtime; a file
    // source that follows never ends on its own, so the demo just stops here.
    daemon.abort();
    let _ = store.ping().await;
    if let Some(d) = &opts.dir {
        say(start, &format!("events and state kept in {}", d.display()));
    }
    Ok(ok)
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { s / f64::from(n) }
}

/// Prints new timeline steps and newly firing alerts, polling the admin API as an operator would.
async fn watch_timeline(base: String, start: Instant, done: Arc<AtomicBool>, seen: Arc<AtomicU64>) {
    let mut seen_steps = 0usize;
    let mut seen_alerts = std::collections::BTreeSet::new();
    // One agent (its connection pool) for the whole run.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (b, agent) = (base.clone(), agent.clone());
        let got = tokio::task::spawn_blocking(move || {
            let get = |path: &str| -> Option<serde_json::Value> {
                let r = agent
                    .get(&format!("{b}{path}"))
                    .header("Authorization", &format!("Bearer {ADMIN}"))
                    .call()
                    .ok()?;
                serde_json::from_str(&r.into_body().read_to_string().ok()?).ok()
            };
            (
                get(&format!("/v1/models/{MODEL}/retrain")),
                get("/v1/alerts"),
                get(&format!("/v1/models/{MODEL}")),
            )
        })
        .await;
        let Ok((status, alerts, monitor)) = got else {
            continue;
        };
        if let Some(n) = monitor.as_ref().and_then(|m| m["predictions"].as_u64()) {
            seen.store(n, Ordering::Relaxed);
        }
        if let Some(alerts) = alerts.as_ref().and_then(|a| a["alerts"].as_array()) {
            for a in alerts {
                if a["state"] != "firing" {
                    continue;
                }
                let rule = a["rule"].as_str().unwrap_or("?").to_owned();
                if seen_alerts.insert(rule.clone()) {
                    say(
                        start,
                        &format!(
                            "ALERT {rule} firing for {} (value {}), notified to the log receiver",
                            a["labels"]["model"].as_str().unwrap_or("?"),
                            a["value"]
                        ),
                    );
                }
            }
        }
        if let Some(steps) = status.as_ref().and_then(|s| s["timeline"].as_array()) {
            for s in steps.iter().skip(seen_steps) {
                let v = s["version"]
                    .as_u64()
                    .map(|v| format!(" v{v}"))
                    .unwrap_or_default();
                say(
                    start,
                    &format!(
                        "retrain: {}{v} — {}",
                        s["event"].as_str().unwrap_or("?"),
                        s["detail"].as_str().unwrap_or("")
                    ),
                );
            }
            seen_steps = steps.len();
        }
    }
}
