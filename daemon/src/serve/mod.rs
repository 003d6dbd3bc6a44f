//! `driftd serve`: the serving tier. Answers `POST /v1/models/{model}/predict` with the model's
//! `live` registry version and emits one prediction event (contract v1) per answer, so the same
//! daemon can monitor what it served (`driftd run --events FILE --follow`, or the Kafka source).
//!
//! ## Requests
//!
//! One object `{"id"?: "...", "features": {...}}` or an array of them (at most
//! `serve.max_batch_items`, else 413; a body above `serve.max_body_bytes` is a 413 too). Bearer
//! tokens of role `predict` (`[[serve.tokens]]`, or the older `serve.predict_tokens`; none
//! configured → every request is refused with 401, like feedback; a token of another role → 403).
//! Every route is behind [`crate::http::gate`]: the token is checked, and the rate and
//! concurrency limits of `[serve.limits]` (429 with `Retry-After`) applied, before the body is
//! read; `/metrics` needs `serve.metrics_role` when set. Validation is all-or-nothing: any
//! invalid item (unknown field, a feature that is not a number, string or `null`, an id the event
//! contract refuses) gives a 422 listing every invalid item, and nothing is emitted. An item
//! without an `id` gets one: a random per-process seed and a counter, unique across processes.
//! The answer mirrors the body: an object for an object, an array for an array, each item
//! `{"id", "model", "model_version", "prediction": {"label", "score"?} | {"value"}}`.
//!
//! ## One model per request, hot swaps
//!
//! Each served model's live version sits in an [`ArcSwapOption`]. A request loads the `Arc` once
//! and uses it from the first item to the last, so a swap never fails a request or mixes versions
//! within it. A background task reloads the registry's aliases on every promotion notice (the
//! state store's `model-updates` pub/sub channel, with Redis) and every `serve.reload_interval`; when
//! `live` names another version it loads it (verifying the HMAC signature and the record), then
//! swaps it in, counts the swap (`driftd_model_swaps_total`) and logs it. A version that fails to
//! load is logged and the current one keeps serving. Removing the `live` alias does not stop
//! serving. With the default (no `serve.models`) the served models are those with a live version
//! at start; models promoted for the first time later need a restart.
//!
//! With the **embedded store** the redb file is opened only for the duration of each poll and then
//! closed, because redb allows one process at a time and `driftd models promote` must be able to
//! open it in between (it may need a retry if it hits a poll). Redis is shared without that
//! restriction.
//!
//! ## Events and failures
//!
//! Events are emitted after the prediction and before the answer: to a file (JSON lines, one
//! write and a flush per request, under a lock so lines never interleave), or to Kafka (the
//! `[source]` connection settings; every delivery is awaited). **When emission fails the request
//! fails with 503**: an answered prediction that the monitor never sees would silently bias drift
//! and accuracy measurements, so driftd prefers the client's retry (which gets new ids unless the
//! client sent its own). A file write that fails part-way can leave a partial line, which the
//! file source rejects and counts.
//!
//! May depend on: contract, telemetry, store, kafka, registry, intake, http.

pub mod api;
pub mod config;
#[cfg(test)]
mod fuzz;

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;
use arc_swap::{ArcSwap, ArcSwapOption};

use crate::http::tls::TlsReloader;
use driftd_retrain::TrainedModel;
use tokio::io::AsyncWriteExt;

use crate::contract::access::Role;
use crate::contract::settings::Secrets;
use crate::http::limit::Limits;

use crate::intake::config::SourceConfig;

use crate::serve::config::{ServeConfig, ServeEventsConfig};

use crate::contract::event::ParseOptions;
use crate::contract::notice::Notice;
use crate::contract::notice::UPDATES_CHANNEL;
use crate::kafka::KafkaSecrets;
use crate::kafka::ProduceError;
use crate::kafka::TopicProducer;
use crate::registry::RegistryError;
use crate::registry::{Keys, Registry, registry_keys};
use crate::store::config::StateConfig;
use crate::store::open_configured;
use crate::store::{AnyStore, EmbeddedStore};
use crate::telemetry::events::{InternalEvent as _, LiveModelLoaded};
use crate::telemetry::metrics::Metrics;

/// A loaded, verified model version.
pub struct Served {
    /// Its registry version.
    pub version: u64,
    /// The model.
    pub model: TrainedModel,
}

/// One served model: its name and the live version, swapped atomically.
pub struct Slot {
    /// The model name.
    pub name: String,
    /// The live version (`None` until one is loaded).
    pub live: ArcSwapOption<Served>,
    /// The last version refused on load (logged once at error level, then retried quietly).
    pub refused: AtomicU64,
}

/// How the registry is reached.
enum Access {
    /// The embedded store's file, opened per poll (redb allows one process at a time).
    Embedded(PathBuf),
    /// A shared store (Redis), kept open.
    Shared(AnyStore),
}

/// Opens the registry for one poll.
struct Loader {
    access: Access,
    /// Verification keys are enough: serve never signs.
    keys: Keys,
}

impl Loader {
    async fn registry(&self) -> anyhow::Result<Registry<AnyStore>> {
        let store = match &self.access {
            Access::Embedded(path) => {
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&path))
                    .await
                    .context("opening the embedded store")??;
                AnyStore::Embedded(store)
            }
            Access::Shared(s) => s.clone(),
        };
        Ok(Registry::with_keys(store, self.keys.clone()))
    }
}

/// Unique prediction ids: a random per-process seed and a counter.
struct IdGen {
    seed: u64,
    next: AtomicU64,
}

impl IdGen {
    fn new() -> Self {
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        IdGen {
            seed: h.finish(),
            next: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:012x}", self.seed)
    }
}

/// Where prediction events go.
enum Sink {
    None,
    File(tokio::sync::Mutex<tokio::fs::File>),
    Kafka(TopicProducer),
}

impl Sink {
    /// Emits every line (complete events); returns once they are written and flushed, or
    /// acknowledged by the broker.
    async fn emit(&self, lines: Vec<Vec<u8>>) -> Result<(), EmitError> {
        match self {
            Sink::None => Ok(()),
            Sink::File(f) => {
                let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
                for l in &lines {
                    buf.extend_from_slice(l);
                    buf.push(b'\n');
                }
                let mut f = f.lock().await;
                f.write_all(&buf).await.map_err(EmitError::Write)?;
                f.flush().await.map_err(EmitError::Write)
            }
            Sink::Kafka(p) => Ok(p.send_all(lines).await?),
        }
    }
}

/// Why prediction events could not be written.
#[derive(Debug, thiserror::Error)]
enum EmitError {
    /// Writing or flushing the events file.
    #[error("writing prediction events: {0}")]
    Write(std::io::Error),
    /// Producing to the events topic.
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// What the handlers share.
pub struct ServeState {
    slots: Vec<Slot>,
    metrics: Arc<Metrics>,
    /// The tokens (and the rest of the secrets; not swapped: serve does not reload).
    secrets: Arc<ArcSwap<Secrets>>,
    limits: Limits,
    metrics_role: Option<Role>,
    sink: Sink,
    ids: IdGen,
    parse: ParseOptions,
    max_batch_items: usize,
    shutting_down: AtomicBool,
}

impl ServeState {
    fn slot(&self, model: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == model)
    }

    /// Ready when every served model has a live version loaded (and not shutting down).
    fn ready(&self) -> bool {
        !self.shutting_down.load(Ordering::Relaxed)
            && self.slots.iter().all(|s| s.live.load().is_some())
    }

    fn count(&self, model: &str, outcome: &str) {
        if self.slot(model).is_some() {
            self.metrics
                .predict_requests
                .with_label_values(&[model, outcome])
                .inc();
        }
    }
}

/// Polls the aliases once and swaps in every changed live version.
async fn poll(loader: &Loader, state: &ServeState) {
    let reg = match loader.registry().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "cannot open the model registry");
            return;
        }
    };
    for slot in &state.slots {
        let aliases = match reg.aliases(&slot.name).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(model = %slot.name, error = %e, "cannot read the model's aliases");
                continue;
            }
        };
        let current = slot.live.load().as_ref().map(|s| s.version);
        let Some(version) = aliases.live else {
            continue;
        };
        if current == Some(version) {
            continue;
        }
        match reg.load(&slot.name, version).await {
            Ok((model, _)) => {
                slot.live.store(Some(Arc::new(Served { version, model })));
                LiveModelLoaded {
                    model: &slot.name,
                    from: current,
                    to: version,
                }
                .emit(&state.metrics);
            }
            Err(e) if slot.refused.swap(version, Ordering::Relaxed) != version => tracing::error!(
                model = %slot.name,
                version,
                error = %e,
                "cannot load the live version; the current one keeps serving"
            ),
            Err(e) => tracing::debug!(
                model = %slot.name,
                version,
                error = %e,
                "the live version is still refused"
            ),
        }
    }
}

/// What `driftd serve` reads of the configuration (see `config::Loaded::serve_setup`).
#[derive(Debug, Clone)]
pub struct Setup {
    /// `[serve]`.
    pub serve: ServeConfig,
    /// `[state]`: where the registry is.
    pub state: StateConfig,
    /// `[source]`: the Kafka connection, when prediction events go to Kafka.
    pub source: SourceConfig,
    /// `[events] max_event_bytes`: the largest prediction event written.
    pub max_event_bytes: usize,
    /// `[shutdown] timeout`.
    pub shutdown_timeout: std::time::Duration,
    /// The resolved secrets.
    pub secrets: Secrets,
}

/// Runs `driftd serve` until SIGTERM or SIGINT. `listen` overrides `serve.listen`.
pub async fn serve(setup: Setup, listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let Setup {
        serve: cfg,
        state,
        source,
        max_event_bytes,
        shutdown_timeout,
        secrets,
    } = setup;
    let (cfg, state, source) = (&cfg, &state, &source);
    let keys = registry_keys(&secrets)?;
    if keys.verifier.is_empty() {
        return Err(RegistryError::NoKey.into());
    }
    let access = match state {
        StateConfig::Embedded(e) => Access::Embedded(e.path.clone()),
        StateConfig::Redis(_) => Access::Shared(
            open_configured(state, &secrets)
                .await
                .context("connecting to the state store")?,
        ),
    };
    let loader = Loader { access, keys };
    let names = if cfg.models.is_empty() {
        let reg = loader.registry().await?;
        let mut names = Vec::new();
        for m in reg.list_models().await? {
            if reg.aliases(&m).await?.live.is_some() {
                names.push(m);
            }
        }
        anyhow::ensure!(
            !names.is_empty(),
            "no model has a live version in the registry: promote one, or list models in `serve.models`"
        );
        names
    } else {
        cfg.models.clone()
    };
    if !secrets.serve_tokens.any_grants(Role::Predict) {
        tracing::warn!(
            "no serve token of role predict configured: every prediction request is refused (401)"
        );
    }
    let sink = match &cfg.events {
        ServeEventsConfig::None => {
            tracing::warn!("serve.events is none: predictions are not monitored");
            Sink::None
        }
        ServeEventsConfig::File { path } => {
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .with_context(|| format!("opening the events file {}", path.display()))?;
            Sink::File(tokio::sync::Mutex::new(f))
        }
        ServeEventsConfig::Kafka { topic } => {
            let SourceConfig::Kafka(k) = source else {
                anyhow::bail!("serve.events kind = \"kafka\" needs [source] kind = \"kafka\"");
            };
            Sink::Kafka(
                TopicProducer::new(k, &KafkaSecrets::from(&secrets), topic, cfg.request_timeout)
                    .context("creating the Kafka producer for prediction events")?,
            )
        }
    };
    let state = Arc::new(ServeState {
        slots: names
            .into_iter()
            .map(|name| Slot {
                name,
                live: ArcSwapOption::empty(),
                refused: AtomicU64::new(0),
            })
            .collect(),
        metrics: Arc::new(Metrics::new()),
        secrets: Arc::new(ArcSwap::from_pointee(secrets)),
        limits: cfg.limits.resolve(Limits::SERVE),
        metrics_role: cfg.metrics_role,
        sink,
        ids: IdGen::new(),
        parse: ParseOptions {
            max_event_bytes,
            default_kind: None,
        },
        max_batch_items: cfg.max_batch_items,
        shutting_down: AtomicBool::new(false),
    });
    poll(&loader, &state).await;
    let interval = cfg.reload_interval;
    // With a shared store (Redis), promotion notices on the `model-updates` channel make the
    // swap immediate; the poll stays as the fallback for a notice lost while disconnected.
    let mut notices = match &loader.access {
        Access::Shared(store) => match store.subscribe(UPDATES_CHANNEL).await {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to model updates; polling only");
                None
            }
        },
        Access::Embedded(_) => None,
    };
    let poller = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    Some(msg) = async { notices.as_mut()?.recv().await }, if notices.is_some() => {
                        match serde_json::from_slice::<Notice>(&msg) {
                            Ok(n) => tracing::info!(model = %n.model, version = n.version, action = %n.action, "model update notice"),
                            Err(e) => tracing::warn!(error = %e, "unreadable model update notice; reloading anyway"),
                        }
                    }
                }
                poll(&loader, &state).await;
            }
        })
    };

    let addr = listen.unwrap_or(cfg.listen);
    let tls = cfg
        .tls
        .enabled()
        .then(|| TlsReloader::new(cfg.tls.clone()))
        .transpose()
        .context("loading [serve.tls]")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(
        listen = %local,
        scheme = if tls.is_some() { "https" } else { "http" },
        models = ?state.slots.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        "driftd serve listening"
    );
    crate::http::tls::warn_if_plain_beyond_loopback(local, tls.is_some(), "serve");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let router = api::app(state.clone(), cfg.max_body_bytes, cfg.request_timeout);
    let server_tls = tls.clone();
    let mut server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        crate::http::tls::serve(
            listener,
            server_tls.as_ref(),
            router,
            "driftd serve",
            shutdown,
        )
        .await
    });
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            r = &mut server => {
                poller.abort();
                r.context("the HTTP server task failed")?.context("the HTTP server failed")?;
                anyhow::bail!("the HTTP server stopped unexpectedly");
            }
            _ = term.recv() => {
                tracing::info!(signal = "TERM", "shutting down");
                break;
            }
            _ = int.recv() => {
                tracing::info!(signal = "INT", "shutting down");
                break;
            }
            // SIGHUP re-reads the TLS files; the rest of [serve] needs a restart.
            _ = hup.recv() => match &tls {
                Some(t) => t.reload_logged("driftd serve"),
                None => tracing::info!("SIGHUP: nothing to reload without [serve.tls]; other changes need a restart"),
            },
        }
    }
    state.shutting_down.store(true, Ordering::Relaxed);
    poller.abort();
    let _ = stop_tx.send(());
    match tokio::time::timeout(shutdown_timeout, server).await {
        Ok(r) => {
            r.context("the HTTP server task failed")?
                .context("the HTTP server failed")?;
            tracing::info!("driftd serve stopped");
            Ok(())
        }
        Err(_) => anyhow::bail!(
            "requests still running after shutdown.timeout ({:?})",
            shutdown_timeout
        ),
    }
}
