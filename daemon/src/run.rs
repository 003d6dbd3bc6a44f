//! `driftd run`: start, wait for a signal, drain under a deadline.
//!
//! Start-up order: metrics → state store (retried until reachable) → HTTP → source task → systemd
//! `READY=1`. Shutdown (SIGTERM/SIGINT): readiness goes false, HTTP stops taking requests, the
//! source task stops consuming, drains, writes a final checkpoint and commits, and the process exits
//! 0 — or 1 if that takes longer than `shutdown.timeout`. SIGHUP re-reads the configuration and
//! applies what can change at run time: `log.level`, `http.feedback_tokens`, `[models]` and
//! `events.strict_models`/`events.max_models`. Everything else needs a restart (the reload logs so).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use crate::config::{self, Config, SourceConfig, StateConfig};
use crate::event::ParseOptions;
use crate::http::{self, AppState, FeedbackSink, Health, LocalFeedback};
use crate::metrics::Metrics;
use crate::pipeline::{ModelPolicy, Outcome, Pipeline, ShardState, checkpoint_key};
use crate::sources::file::{self, FileMsg, Input, ReaderOptions};
use crate::sources::kafka;
use crate::store::{AnyStore, EmbeddedStore, RedisStore, StateStore, StoreError};
use crate::telemetry::LogHandle;

/// Overrides from the command line.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// `--config`: where the configuration came from (re-read on SIGHUP).
    pub config_path: Option<PathBuf>,
    /// `--events`: read this file (or `-`) instead of the configured source.
    pub events: Option<PathBuf>,
    /// `--follow`: keep reading the events file as it grows.
    pub follow: bool,
    /// `--state`: embedded store file, overriding `[state]`.
    pub state: Option<PathBuf>,
    /// `--listen`: HTTP listen address, overriding `http.listen`.
    pub listen: Option<std::net::SocketAddr>,
    /// A state store opened by the caller (`driftd demo` shares its embedded store with the
    /// in-process serving side), instead of the configured one.
    pub store: Option<AnyStore>,
    /// How often the trainer evaluates its triggers and shadow runs (default 1 s).
    pub trainer_tick: Option<Duration>,
}

/// Messages from the control plane (signals) to the source task.
#[derive(Debug)]
pub enum Control {
    /// A reloaded model policy.
    SetPolicy(ModelPolicy),
    /// A model's monitor, evaluated on demand (see [`Pipeline::inspect`]).
    Inspect(
        String,
        tokio::sync::oneshot::Sender<Option<serde_json::Value>>,
    ),
    /// A command of the trainer to the learners.
    Learn(crate::learn::LearnControl),
}

/// What the source task needs besides its source.
pub struct TaskCtx {
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub health: Arc<Health>,
    /// Checkpoint writer.
    pub checkpointer: Checkpointer,
    /// Flips to `true` on shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Reloads.
    pub control: mpsc::Receiver<Control>,
    /// The event-time order's settings (idle timeout, buffer bound) for the source's flow control.
    pub order: config::OrderConfig,
}

/// Writes and loads checkpoints, tracking the store's health.
pub struct Checkpointer {
    store: AnyStore,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    interval: Duration,
    max_events: u64,
    last: Instant,
    /// Keys never written (non-resumable shards such as stdin).
    pub volatile: Vec<String>,
}

impl Checkpointer {
    /// A checkpointer on `store`.
    pub fn new(store: AnyStore, metrics: Arc<Metrics>, health: Arc<Health>, cfg: &Config) -> Self {
        Checkpointer {
            store,
            metrics,
            health,
            interval: cfg.checkpoint.interval,
            max_events: cfg.checkpoint.max_events,
            last: Instant::now(),
            volatile: Vec::new(),
        }
    }

    /// Whether a checkpoint is due.
    pub fn due(&self, p: &Pipeline) -> bool {
        let n = p.since_checkpoint();
        n >= self.max_events || (n > 0 && self.last.elapsed() >= self.interval)
    }

    fn store_result<T>(&self, op: &str, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match &r {
            Ok(_) => {
                if !self.health.store_up.swap(true, Ordering::Relaxed) {
                    tracing::info!(store = self.store.kind(), "state store is reachable");
                }
                self.metrics.store_up.set(1);
            }
            Err(e) => {
                self.metrics.store_errors.with_label_values(&[op]).inc();
                self.metrics.store_up.set(0);
                if self.health.store_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(store = self.store.kind(), error = %e, "state store is unreachable; keeping state in memory and retrying");
                }
            }
        }
        r
    }

    /// Writes every open shard atomically. On failure the state stays in memory and the next
    /// attempt comes after `interval`.
    pub async fn write(&mut self, p: &mut Pipeline) -> bool {
        self.last = Instant::now();
        let entries: Vec<_> = p
            .checkpoint_entries()
            .into_iter()
            .filter(|(k, _)| !self.volatile.contains(k))
            .collect();
        if entries.is_empty() {
            p.mark_checkpointed();
            return true;
        }
        let started = Instant::now();
        let r = self.store.put_all(entries).await;
        // The interval runs from the end of a checkpoint: a slow one never leaves the pipeline
        // without time to process events.
        self.last = Instant::now();
        let ok = self.store_result("put", r).is_ok();
        if ok {
            p.mark_checkpointed();
            self.metrics
                .checkpoint_duration
                .observe(started.elapsed().as_secs_f64());
            self.metrics.checkpoints.with_label_values(&["ok"]).inc();
        } else {
            self.metrics
                .checkpoints
                .with_label_values(&["failed"])
                .inc();
        }
        ok
    }

    /// Records a checkpoint that could not be attempted (e.g. side outputs not yet durable).
    pub fn defer(&mut self) {
        self.last = Instant::now();
        self.metrics
            .checkpoints
            .with_label_values(&["deferred"])
            .inc();
    }

    /// Loads every checkpointed monitor, retrying while the store is unreachable. `None` on
    /// shutdown.
    pub async fn load_monitors(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<std::collections::BTreeMap<String, crate::monitor::ModelMonitor>> {
        retrying("the monitors' checkpoint", shutdown, || {
            self.try_load_monitors()
        })
        .await
    }

    async fn try_load_monitors(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::monitor::ModelMonitor>, String> {
        let mut out = std::collections::BTreeMap::new();
        let r = self.store.get(crate::pipeline::MONITOR_INDEX_KEY).await;
        let Some(index) = self.store_result("get", r).map_err(|e| e.to_string())? else {
            return Ok(out);
        };
        let names: Vec<String> = serde_json::from_slice(&index).map_err(|e| e.to_string())?;
        for name in names {
            let r = self.store.get(&crate::pipeline::monitor_key(&name)).await;
            if let Some(bytes) = self.store_result("get", r).map_err(|e| e.to_string())? {
                let m = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("monitor of model {name}: {e}"))?;
                out.insert(name, m);
            }
        }
        if !out.is_empty() {
            tracing::info!(models = out.len(), "monitors restored from checkpoint");
        }
        Ok(out)
    }

    /// Loads the learners (training buffers, waiting features, shadow tallies) of the retrained
    /// models, retrying while the store is unreachable. `None` on shutdown.
    pub async fn load_learners(
        &self,
        policy: &ModelPolicy,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<std::collections::BTreeMap<String, crate::learn::Learner>> {
        retrying("the training data checkpoint", shutdown, || {
            self.try_load_learners(policy)
        })
        .await
    }

    async fn try_load_learners(
        &self,
        policy: &ModelPolicy,
    ) -> Result<std::collections::BTreeMap<String, crate::learn::Learner>, String> {
        use crate::learn::{Learner, head_key};
        let mut out = std::collections::BTreeMap::new();
        for (model, (cfg, task)) in policy.retrained() {
            let r = self.store.get(&head_key(model)).await;
            let Some(head) = self.store_result("get", r).map_err(|e| e.to_string())? else {
                continue;
            };
            let mut chunks = std::collections::HashMap::new();
            for slot in Learner::stored_slots(&head).map_err(|e| format!("{model}: {e}"))? {
                let key = format!("learn/{model}/chunk/{slot}");
                let r = self.store.get(&key).await;
                if let Some(b) = self.store_result("get", r).map_err(|e| e.to_string())? {
                    chunks.insert(slot, b);
                }
            }
            let mut l = Learner::new(cfg.clone(), *task, policy.positive_label(model));
            match l.restore(&head, |slot| chunks.remove(&slot)) {
                Ok(()) => {
                    tracing::info!(
                        model,
                        examples = l.len(),
                        waiting = l.waiting(),
                        "training data restored from checkpoint"
                    );
                    out.insert(model.clone(), l);
                }
                // Training data is a cache of the labelled stream: a damaged one is logged and
                // rebuilt from new events rather than blocking intake.
                Err(e) => {
                    tracing::error!(model, error = %e, "stored training data is unreadable; starting it afresh")
                }
            }
        }
        Ok(out)
    }

    /// Pings the store when it was last seen down, so readiness recovers without traffic.
    pub async fn probe(&self) {
        if !self.health.store_up.load(Ordering::Relaxed) {
            let r = self.store.ping().await;
            let _ = self.store_result("ping", r);
        }
    }

    /// Loads a shard's checkpoint, retrying while the store is unreachable. `None` on shutdown.
    pub async fn load(
        &self,
        shard: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Option<ShardState>> {
        let key = checkpoint_key(shard);
        let mut backoff = Duration::from_millis(100);
        loop {
            let r = self.store.get(&key).await;
            match self.store_result("get", r) {
                Ok(None) => return Some(None),
                Ok(Some(bytes)) => match Pipeline::decode_checkpoint(&bytes) {
                    Ok(s) => {
                        tracing::info!(
                            shard,
                            next_offset = s.next_offset,
                            accepted = s.accepted(),
                            rejected = s.rejected_total(),
                            "resuming from checkpoint"
                        );
                        return Some(Some(s));
                    }
                    Err(e) => {
                        // Refuse to guess: starting empty would double-count, skipping would lose.
                        tracing::error!(shard, error = %e, "checkpoint is unreadable; fix or delete key {key} in the state store");
                    }
                },
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Runs `attempt` until it succeeds, logging each failure and backing off from 100 ms to 5 s.
/// `None` on shutdown.
async fn retrying<T, F, Fut>(
    what: &str,
    shutdown: &mut watch::Receiver<bool>,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => tracing::error!(error = %e, "cannot load {what}; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return None,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Connects the configured state store, retrying until it answers or shutdown is requested.
async fn connect_store(
    cfg: &Config,
    secrets: &config::Secrets,
    metrics: &Metrics,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<AnyStore>> {
    match &cfg.state {
        StateConfig::Embedded(e) => {
            let s = EmbeddedStore::open(&e.path).with_context(|| {
                format!("opening the embedded state store {}", e.path.display())
            })?;
            tracing::info!(path = %e.path.display(), "embedded state store open");
            Ok(Some(AnyStore::Embedded(s)))
        }
        StateConfig::Redis(r) => {
            let mut backoff = Duration::from_millis(200);
            loop {
                match RedisStore::connect(r, secrets.redis_password.as_ref()).await {
                    Ok(s) => {
                        tracing::info!(prefix = %r.key_prefix, "connected to Redis");
                        return Ok(Some(AnyStore::Redis(s)));
                    }
                    Err(e) => {
                        metrics.store_errors.with_label_values(&["ping"]).inc();
                        tracing::warn!(error = %e, retry_in = ?backoff, "Redis is unreachable; not ready until it answers");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return Ok(None),
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Runs the daemon until its input ends (a file without `--follow`) or a signal stops it.
pub async fn run(loaded: config::Loaded, opts: RunOptions, log: LogHandle) -> anyhow::Result<()> {
    let mut cfg = loaded.config;
    apply_overrides(&mut cfg, &opts);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let secrets = Arc::new(ArcSwap::from_pointee(loaded.secrets));
    let policy = Arc::new(ArcSwap::from_pointee(ModelPolicy::from_config(&cfg)));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (control_tx, control_rx) = mpsc::channel(8);

    let mut signals = Signals::new()?;
    let mut sd = shutdown_rx.clone();
    let initial_secrets = secrets.load_full();
    let store = match opts.store.clone() {
        Some(s) => Some(s),
        None => tokio::select! {
            s = connect_store(&cfg, &initial_secrets, &metrics, &mut sd) => s?,
            _ = terminate(&mut signals.term, &mut signals.int) => None,
        },
    };
    let Some(store) = store else {
        tracing::info!("stopped before the state store was reachable");
        return Ok(());
    };
    health.store_up.store(true, Ordering::Relaxed);
    metrics.store_up.set(1);

    let parse = ParseOptions {
        max_event_bytes: cfg.events.max_event_bytes,
        default_kind: None,
    };
    let alert_store = store.clone();
    let trainer_store = store.clone();
    let registry_store = store.clone();
    let checkpointer = Checkpointer::new(store, metrics.clone(), health.clone(), &cfg);
    let ctx = TaskCtx {
        metrics: metrics.clone(),
        health: health.clone(),
        checkpointer,
        shutdown: shutdown_rx.clone(),
        control: control_rx,
        order: cfg.events.order.clone(),
    };
    let mut pipeline = Pipeline::new(metrics.clone(), parse, ModelPolicy::from_config(&cfg))
        .with_order(cfg.events.order.settings());
    if cfg.monitor.enabled {
        let mut sd = shutdown_rx.clone();
        let Some(mut monitors) = ctx.checkpointer.load_monitors(&mut sd).await else {
            return Ok(());
        };
        // Models with a reference file start from it, unless a checkpoint already holds them.
        let c = cfg.clone();
        let from_files = tokio::task::spawn_blocking(move || crate::replay::reference_monitors(&c))
            .await
            .context("loading reference files")??;
        for (model, m) in from_files {
            monitors.entry(model).or_insert(m);
        }
        pipeline = pipeline.with_monitoring(cfg.monitor.clone());
        pipeline.restore_monitors(monitors);
    }
    let retrained: Vec<(String, crate::learn::RetrainConfig, driftd_retrain::Task)> = {
        let p = ModelPolicy::from_config(&cfg);
        let mut sd = shutdown_rx.clone();
        let Some(learners) = ctx.checkpointer.load_learners(&p, &mut sd).await else {
            return Ok(());
        };
        pipeline.restore_learners(learners);
        p.retrained()
            .map(|(m, (c, t))| (m.clone(), c.clone(), *t))
            .collect()
    };
    let (firing_tx, firing_rx) = watch::channel(Vec::new());

    // Alerting: its own task, owning the engine and the outbox.
    let (alerts, alert_task) = if cfg.alerting.enabled {
        let task = crate::alert::task::AlertTask::load(
            cfg.alerting.clone(),
            alert_store,
            pipeline.board(),
            metrics.clone(),
        )
        .await
        .context("starting alerting")?
        .with_trainer(
            firing_tx,
            retrained
                .iter()
                .map(|(m, c, _)| (m.clone(), c.on_alerts.clone()))
                .collect(),
        );
        let (tx, rx) = mpsc::channel(16);
        let handle = tokio::spawn(task.run(rx, shutdown_rx.clone()));
        (Some(tx), Some(handle))
    } else {
        (None, None)
    };

    // The trainer: retraining, shadow tests, promotion, for models with [models.NAME.retrain].
    let (trainer, trainer_task) = if retrained.is_empty() {
        (None, None)
    } else {
        let key = crate::registry::signing_key(&secrets.load())
            .context("the registry signing key (retraining signs its models)")?;
        if key.is_none() {
            anyhow::bail!(
                "[models.*.retrain] needs a registry signing key: set [registry] signing_key or {}",
                crate::registry::KEY_ENV
            );
        }
        let kafka_updates = match &cfg.source {
            SourceConfig::Kafka(k) if !k.model_updates_topic.is_empty() => {
                let ks = kafka::KafkaSecrets::from(&secrets.load());
                let p = kafka::FeedbackProducer::new(k, &ks, Duration::from_secs(10))
                    .context("creating the Kafka producer for model updates")?
                    .with_topic(&k.model_updates_topic);
                Some(p)
            }
            _ => None,
        };
        let location = match &cfg.state {
            StateConfig::Redis(r) => format!("{}/{}", r.url, r.key_prefix),
            StateConfig::Embedded(e) => format!("file://{}", e.path.display()),
        };
        let announcer =
            crate::trainer::Announcer::new(trainer_store.clone(), kafka_updates, location);
        let deps = crate::trainer::TrainerDeps {
            store: trainer_store,
            key,
            control: control_tx.clone(),
            metrics: metrics.clone(),
            firing: firing_rx,
            board: pipeline.board(),
            announcer,
            clock: Arc::new(chrono::Utc::now),
        };
        let t = crate::trainer::Trainer::load(retrained.clone(), deps)
            .await
            .context("starting the trainer")?;
        let (tx, rx) = mpsc::channel(16);
        let every = opts.trainer_tick.unwrap_or(Duration::from_secs(1));
        let handle = tokio::spawn(t.run(every, rx, shutdown_rx.clone()));
        tracing::info!(models = retrained.len(), "retraining enabled");
        (Some(tx), Some(handle))
    };

    // The source task, and where HTTP feedback goes.
    let (feedback, source_task) = match &cfg.source {
        SourceConfig::File(f) => {
            let (tx, rx) = mpsc::channel::<LocalFeedback>(64);
            let f = f.clone();
            let max_line = cfg.events.max_event_bytes;
            let task = tokio::spawn(async move { run_file(f, max_line, pipeline, ctx, rx).await });
            (FeedbackSink::Local(tx), task)
        }
        SourceConfig::Kafka(k) => {
            let k = (**k).clone();
            let ks = kafka::KafkaSecrets::from(&secrets.load());
            let producer = kafka::FeedbackProducer::new(&k, &ks, cfg.http.request_timeout)
                .context("creating the Kafka producer for HTTP feedback")?;
            let task = tokio::spawn(async move { kafka::run_kafka(k, ks, pipeline, ctx).await });
            (FeedbackSink::Kafka(producer), task)
        }
    };

    // HTTP.
    let http_task = if cfg.http.enabled {
        let state = AppState {
            metrics: metrics.clone(),
            health: health.clone(),
            secrets: secrets.clone(),
            policy: policy.clone(),
            feedback,
            parse,
            max_batch_items: cfg.http.max_batch_items,
            max_body_bytes: cfg.http.max_body_bytes,
            request_timeout: cfg.http.request_timeout,
            alerts: alerts.clone(),
            control: Some(control_tx.clone()),
            trainer: trainer.clone(),
            registry: Some((
                registry_store,
                crate::registry::signing_key(&secrets.load()).ok().flatten(),
            )),
        };
        if secrets.load().feedback_tokens.is_empty() {
            tracing::warn!(
                "no http.feedback_tokens configured: POST /v1/feedback refuses every request (401)"
            );
        }
        let listener = tokio::net::TcpListener::bind(cfg.http.listen)
            .await
            .with_context(|| format!("binding HTTP to {}", cfg.http.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "HTTP listening");
        let mut sd = shutdown_rx.clone();
        Some(tokio::spawn(async move {
            let r = axum::serve(listener, http::app(state))
                .with_graceful_shutdown(async move {
                    let _ = sd.wait_for(|v| *v).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }))
    } else {
        None
    };

    notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = spawn_watchdog(health.clone());
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "driftd started");

    // Wait for the end of input or a signal; reload on SIGHUP.
    let mut source_task = source_task;
    let finished = loop {
        tokio::select! {
            r = &mut source_task => break Some(r),
            _ = terminate(&mut signals.term, &mut signals.int) => break None,
            _ = signals.hup.recv() => {
                reload(&opts, &log, &secrets, &policy, &control_tx, &metrics, alerts.as_ref()).await;
            }
        }
    };

    health.shutting_down.store(true, Ordering::Relaxed);
    notify(&[sd_notify::NotifyState::Stopping]);
    let _ = shutdown_tx.send(true);
    let deadline = cfg.shutdown.timeout;
    let drained = tokio::time::timeout(deadline, async {
        let source_result = match finished {
            Some(r) => r,
            None => source_task.await,
        };
        if let Some(h) = http_task {
            let _ = h.await;
        }
        if let Some(h) = alert_task {
            let _ = h.await;
        }
        if let Some(h) = trainer_task {
            let _ = h.await;
        }
        source_result
    })
    .await;
    if let Some(w) = watchdog {
        w.abort();
    }
    match drained {
        Ok(Ok(Ok(summary))) => {
            tracing::info!("driftd stopped cleanly");
            if let Some(s) = summary {
                print_summary(&s);
            }
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(join)) => Err(anyhow::anyhow!("source task failed: {join}")),
        Err(_) => {
            tracing::error!(timeout = ?deadline, "shutdown did not finish in time; exiting anyway");
            std::process::exit(1);
        }
    }
}

fn apply_overrides(cfg: &mut Config, opts: &RunOptions) {
    if let Some(ev) = &opts.events {
        let mut f = match &cfg.source {
            SourceConfig::File(f) => f.clone(),
            SourceConfig::Kafka(_) => Default::default(),
        };
        f.path = ev.clone();
        f.follow = opts.follow;
        cfg.source = SourceConfig::File(f);
    } else if opts.follow
        && let SourceConfig::File(f) = &mut cfg.source
    {
        f.follow = true;
    }
    if let Some(p) = &opts.state {
        cfg.state = StateConfig::Embedded(config::EmbeddedStateConfig { path: p.clone() });
    }
    if let Some(l) = opts.listen {
        cfg.http.listen = l;
    }
}

async fn reload(
    opts: &RunOptions,
    log: &LogHandle,
    secrets: &Arc<ArcSwap<config::Secrets>>,
    policy: &Arc<ArcSwap<ModelPolicy>>,
    control: &mpsc::Sender<Control>,
    metrics: &Metrics,
    alerts: Option<&mpsc::Sender<crate::alert::task::Command>>,
) {
    let Some(path) = &opts.config_path else {
        tracing::info!("SIGHUP: no --config file to reload");
        return;
    };
    match config::load_file(path) {
        Ok(l) => {
            if let Err(e) = log.set_level(&l.config.log.level) {
                tracing::warn!(error = %e, "SIGHUP: log level not changed");
            }
            secrets.store(Arc::new(l.secrets));
            let p = ModelPolicy::from_config(&l.config);
            policy.store(Arc::new(p.clone()));
            let _ = control.send(Control::SetPolicy(p)).await;
            if let Some(a) = alerts {
                let cmd = crate::alert::task::Command::Reload(Box::new(l.config.alerting.clone()));
                let _ = a.send(cmd).await;
            }
            metrics.config_reloads.with_label_values(&["ok"]).inc();
            tracing::info!(path = %path.display(), "SIGHUP: reloaded log.level, http tokens, [models] and [events] model rules, [alerting]; other changes need a restart");
        }
        Err(e) => {
            metrics.config_reloads.with_label_values(&["failed"]).inc();
            tracing::error!(path = %path.display(), errors = %e, "SIGHUP: configuration is invalid; keeping the running one");
        }
    }
}

/// Unix signals the daemon reacts to.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }
}

async fn terminate(term: &mut tokio::signal::unix::Signal, int: &mut tokio::signal::unix::Signal) {
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(states)
    {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// Pings the systemd watchdog at half its interval, while the process is healthy enough to run
/// its runtime (a wedged runtime stops the pings and systemd restarts the service).
fn spawn_watchdog(health: Arc<Health>) -> Option<tokio::task::JoinHandle<()>> {
    let every = sd_notify::watchdog_enabled()? / 2;
    if every.is_zero() {
        return None;
    }
    tracing::info!(interval = ?every, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut t = tokio::time::interval(every);
        loop {
            t.tick().await;
            if health.shutting_down.load(Ordering::Relaxed) {
                break;
            }
            notify(&[sd_notify::NotifyState::Watchdog]);
        }
    }))
}

/// What the file source processed, printed when a one-shot run ends.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The shard's final state.
    pub state: ShardState,
    /// Where rejected lines went.
    pub rejects_path: PathBuf,
}

fn print_summary(s: &Summary) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "driftd: {} events accepted, {} rejected",
        s.state.accepted(),
        s.state.rejected_total()
    );
    for (model, m) in &s.state.models {
        let _ = writeln!(
            out,
            "  model {model}: {} predictions, {} feedback",
            m.predictions, m.feedback
        );
    }
    for (reason, n) in &s.state.rejected {
        let _ = writeln!(out, "  rejected {reason}: {n}");
    }
    if s.state.rejected_total() > 0 {
        let _ = writeln!(out, "  rejected lines are in {}", s.rejects_path.display());
    }
}

/// The shard name of a file source.
fn file_shard(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    format!("file/{}", abs.display())
}

/// Writes rejected lines as JSON, one per line.
struct RejectsWriter {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    len: u64,
}

impl RejectsWriter {
    /// Opens the rejects file, truncated back to `len` (its length at the last checkpoint; 0 when
    /// there is no checkpoint), so a restart never writes a rejected line twice.
    fn open(path: &Path, len: Option<u64>) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the rejects file {}", path.display()))?;
        let cur = file.metadata()?.len();
        // No checkpoint: the shard starts from offset 0 and writes every reject again.
        let len = len.unwrap_or(0);
        let len = if len < cur {
            file.set_len(len)?;
            len
        } else {
            cur
        };
        Ok(RejectsWriter {
            path: path.to_owned(),
            file: std::io::BufWriter::new(file),
            len,
        })
    }

    fn write(&mut self, r: &crate::event::Rejection, offset: u64, next: u64, raw: Option<&[u8]>) {
        #[derive(serde::Serialize)]
        struct Rec<'a> {
            reason: &'a str,
            detail: &'a str,
            offset: u64,
            length: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            line: Option<std::borrow::Cow<'a, str>>,
        }
        let rec = Rec {
            reason: r.reason.as_str(),
            detail: &r.detail,
            offset,
            length: next - offset,
            line: raw.map(String::from_utf8_lossy),
        };
        let mut line = serde_json::to_vec(&rec).expect("reject record serialises");
        line.push(b'\n');
        match self.file.write_all(&line) {
            Ok(()) => self.len += line.len() as u64,
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the rejects file")
            }
        }
    }

    /// Makes the written records durable; returns the file length to checkpoint.
    fn sync(&mut self) -> std::io::Result<u64> {
        self.file.flush()?;
        self.file.get_ref().sync_data()?;
        Ok(self.len)
    }
}

/// The file source loop (embedded mode). Returns a summary when the input ends.
async fn run_file(
    cfg: config::FileSourceConfig,
    max_line: usize,
    mut p: Pipeline,
    mut ctx: TaskCtx,
    mut feedback: mpsc::Receiver<LocalFeedback>,
) -> anyhow::Result<Option<Summary>> {
    let stdin = cfg.path == Path::new("-");
    let shard: Arc<str> = if stdin {
        "stdin".into()
    } else {
        file_shard(&cfg.path).into()
    };
    // HTTP feedback in embedded mode: its own shard, offset = item sequence number; acknowledged
    // only once checkpointed.
    let http_shard: Arc<str> = "http-feedback".into();
    let mut shutdown = ctx.shutdown.clone();
    let restored = if stdin {
        ctx.checkpointer.volatile.push(checkpoint_key(&shard));
        Some(None)
    } else {
        ctx.checkpointer.load(&shard, &mut shutdown).await
    };
    let Some(restored) = restored else {
        return Ok(None);
    };
    let Some(http_restored) = ctx.checkpointer.load(&http_shard, &mut shutdown).await else {
        return Ok(None);
    };
    let rejects_path = cfg.effective_rejects_path();
    let mut rejects =
        RejectsWriter::open(&rejects_path, restored.as_ref().and_then(|s| s.rejects_len))?;
    let start = restored.as_ref().map_or(0, |s| s.next_offset);
    p.open_shard(shard.clone(), restored);
    // HTTP feedback has no clock worth waiting for: it never holds the watermark back.
    p.open_side_shard(http_shard.clone(), http_restored);
    let mut rx = file::spawn_reader(ReaderOptions {
        input: if stdin {
            Input::Stdin
        } else {
            Input::Path(cfg.path.clone())
        },
        start,
        follow: cfg.follow,
        poll_interval: cfg.poll_interval,
        max_line,
    });
    ctx.health.source_up.store(true, Ordering::Relaxed);
    ctx.metrics.source_up.set(1);
    ctx.health.started.store(true, Ordering::Relaxed);
    tracing::info!(shard = %shard, start, follow = cfg.follow, rejects = %rejects_path.display(), "reading events");

    let mut pending_acks: Vec<tokio::sync::oneshot::Sender<Result<(), String>>> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut eof = false;
    // When the file last delivered a line: in follow mode, a file quiet for the idle timeout no
    // longer holds the event-time watermark back.
    let mut last_line = std::time::Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(c) = ctx.control.recv() => match c {
                Control::SetPolicy(pol) => p.set_policy(pol),
                Control::Inspect(model, reply) => { let _ = reply.send(p.inspect(&model)); }
                Control::Learn(c) => p.learn_control(c),
            },
            Some(fb) = feedback.recv() => {
                let state = p.shard(&http_shard).expect("http shard is open");
                let mut seq = state.next_offset;
                for item in &fb.items {
                    // Validated by the handler; a rejection here (e.g. the model cap) is counted.
                    if let Outcome::Rejected(r) = p.process(&http_shard, seq, seq + 1, item) {
                        tracing::warn!(reason = %r.reason, detail = %r.detail, "HTTP feedback rejected by the pipeline");
                    }
                    seq += 1;
                }
                pending_acks.push(fb.ack);
                // Group commit: everything queued so far becomes durable in one checkpoint.
                while let Ok(more) = feedback.try_recv() {
                    for item in &more.items {
                        let _ = p.process(&http_shard, seq, seq + 1, item);
                        seq += 1;
                    }
                    pending_acks.push(more.ack);
                }
                checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
            }
            _ = tick.tick() => {
                ctx.checkpointer.probe().await;
                p.set_idle(&shard, last_line.elapsed() >= ctx.order.idle_timeout);
                if ctx.checkpointer.due(&p) {
                    checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
                }
            }
            msg = rx.recv(), if !eof => match msg {
                Some(FileMsg::Batch(b)) => {
                    last_line = std::time::Instant::now();
                    for l in &b.lines {
                        let input = &b.data[l.start..l.end];
                        let outcome = if l.oversized {
                            // Never buffered whole: reported without its content.
                            p.process_oversized(&shard, l.offset, l.next, max_line)
                        } else {
                            p.process(&shard, l.offset, l.next, input)
                        };
                        if let Outcome::Rejected(r) = outcome {
                            rejects.write(&r, l.offset, l.next, (!l.oversized).then_some(input));
                            ctx.metrics.dead_letter.with_label_values(&["written"]).inc();
                        }
                    }
                    if ctx.checkpointer.due(&p) {
                        checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
                    }
                }
                Some(FileMsg::Reset) => {
                    if let Some(s) = p.shard_mut(&shard) {
                        s.next_offset = 0;
                    }
                }
                Some(FileMsg::Error(e)) => {
                    tracing::error!(error = %e, "events source error");
                    if !cfg.follow {
                        ctx.health.source_up.store(false, Ordering::Relaxed);
                        ctx.metrics.source_up.set(0);
                        checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await;
                        anyhow::bail!("reading events: {e}");
                    }
                }
                Some(FileMsg::Eof) | None => {
                    eof = true;
                    tracing::info!(shard = %shard, "end of input");
                    if !cfg.follow {
                        // Nothing more is coming: every held event is due.
                        p.flush_order();
                        break;
                    }
                }
            },
        }
    }
    // Drain: everything read has been applied; make it durable.
    let mut tries = 0;
    while !checkpoint_file(&mut p, &mut ctx, &shard, &mut rejects, &mut pending_acks).await {
        tries += 1;
        if tries >= 3 {
            tracing::error!(
                "final checkpoint failed; the next start resumes from the last successful one"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for ack in pending_acks.drain(..) {
        let _ = ack.send(Err("shutting down".into()));
    }
    Ok(p.shard(&shard).cloned().map(|state| Summary {
        state,
        rejects_path,
    }))
}

async fn checkpoint_file(
    p: &mut Pipeline,
    ctx: &mut TaskCtx,
    shard: &str,
    rejects: &mut RejectsWriter,
    acks: &mut Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
) -> bool {
    match rejects.sync() {
        Ok(len) => {
            if let Some(s) = p.shard_mut(shard) {
                s.rejects_len = Some(len);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot sync the rejects file; checkpoint deferred");
            ctx.checkpointer.defer();
            return false;
        }
    }
    let ok = ctx.checkpointer.write(p).await;
    if ok {
        for ack in acks.drain(..) {
            let _ = ack.send(Ok(()));
        }
    }
    ok
}
