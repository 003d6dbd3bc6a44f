//! `driftd run`: start, wait for a signal, drain under a deadline.
//!
//! Start-up order: metrics → state store (retried until reachable) → HTTP → source task → systemd
//! `READY=1`. Shutdown (SIGTERM/SIGINT): readiness goes false, HTTP stops taking requests, the
//! source task stops consuming, drains, writes a final checkpoint and commits, and the process exits
//! 0 — or 1 if that takes longer than `shutdown.timeout`. SIGHUP re-reads the configuration and
//! applies what can change at run time: `log.level`, `http.feedback_tokens` and
//! `http.admin_tokens`, `[alerting]` (except `enabled`), `[models]` (listed models, their monitor
//! settings, the training-buffer bounds) and `events.strict_models`/`events.max_models`.
//! Everything else needs a restart (the reload logs so).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use crate::config::{self, Config};

use crate::intake::config::SourceConfig;

use crate::contract::event::ParseOptions;
use crate::contract::settings::Secrets;
use crate::http::{self, AppState, FeedbackSink};
use crate::intake::embedded::run_file;
use crate::intake::pipeline::Pipeline;
use crate::intake::policy::ModelPolicy;
use crate::intake::{Checkpointer, Control, Health, LocalFeedback, Summary, TaskCtx, kafka};
use crate::kafka::TopicProducer;
use crate::store::config::StateConfig;
use crate::store::{AnyStore, EmbeddedStore, RedisStore};
use crate::telemetry::LogHandle;
use crate::telemetry::metrics::Metrics;

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

/// Connects the configured state store, retrying until it answers or shutdown is requested.
async fn connect_store(
    cfg: &Config,
    secrets: &Secrets,
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
    let policy = Arc::new(ArcSwap::from_pointee(ModelPolicy::new(
        &cfg.models,
        &cfg.events,
    )));
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
    let checkpointer = Checkpointer::new(store, metrics.clone(), health.clone(), &cfg.checkpoint);
    let ctx = TaskCtx {
        metrics: metrics.clone(),
        health: health.clone(),
        checkpointer,
        shutdown: shutdown_rx.clone(),
        control: control_rx,
        order: cfg.events.order.clone(),
    };
    let mut pipeline = Pipeline::new(
        metrics.clone(),
        parse,
        ModelPolicy::new(&cfg.models, &cfg.events),
    )
    .with_order(cfg.events.order.settings());
    if cfg.monitor.enabled {
        let mut sd = shutdown_rx.clone();
        let Some(mut monitors) = ctx.checkpointer.load_monitors(&mut sd).await else {
            return Ok(());
        };
        // Models with a reference file start from it, unless a checkpoint already holds them.
        let c = cfg.clone();
        let from_files =
            tokio::task::spawn_blocking(move || crate::offline::replay::reference_monitors(&c))
                .await
                .context("loading reference files")??;
        for (model, m) in from_files {
            monitors.entry(model).or_insert(m);
        }
        pipeline = pipeline.with_monitoring(cfg.monitor.clone());
        pipeline.restore_monitors(monitors);
    }
    let retrained: Vec<(
        String,
        crate::retraining::config::RetrainConfig,
        driftd_retrain::Task,
    )> = {
        let p = ModelPolicy::new(&cfg.models, &cfg.events);
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
                crate::registry::config::KEY_ENV
            );
        }
        let kafka_updates = match &cfg.source {
            SourceConfig::Kafka(k) if !k.model_updates_topic.is_empty() => {
                let ks = crate::kafka::KafkaSecrets::from(&secrets.load());
                let p = TopicProducer::new(k, &ks, &k.model_updates_topic, Duration::from_secs(10))
                    .context("creating the Kafka producer for model updates")?;
                Some(p)
            }
            _ => None,
        };
        let location = match &cfg.state {
            StateConfig::Redis(r) => format!("{}/{}", r.url, r.key_prefix),
            StateConfig::Embedded(e) => format!("file://{}", e.path.display()),
        };
        let announcer = crate::retraining::announce::Announcer::new(
            trainer_store.clone(),
            kafka_updates,
            location,
        );
        // The trainer speaks to the learners inside the source task through its control channel.
        let (learn_tx, mut learn_rx) = mpsc::channel(16);
        let forward = control_tx.clone();
        tokio::spawn(async move {
            while let Some(c) = learn_rx.recv().await {
                if forward.send(Control::Learn(c)).await.is_err() {
                    break;
                }
            }
        });
        let deps = crate::retraining::trainer::TrainerDeps {
            store: trainer_store,
            key,
            learn: learn_tx,
            metrics: metrics.clone(),
            firing: firing_rx,
            board: pipeline.board(),
            announcer,
            clock: Arc::new(chrono::Utc::now),
        };
        let t = crate::retraining::trainer::Trainer::load(retrained.clone(), deps)
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
            let ks = crate::kafka::KafkaSecrets::from(&secrets.load());
            let producer = TopicProducer::new(&k, &ks, &k.feedback_topic, cfg.http.request_timeout)
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
        cfg.state =
            StateConfig::Embedded(crate::store::config::EmbeddedStateConfig { path: p.clone() });
    }
    if let Some(l) = opts.listen {
        cfg.http.listen = l;
    }
}

async fn reload(
    opts: &RunOptions,
    log: &LogHandle,
    secrets: &Arc<ArcSwap<Secrets>>,
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
            let p = ModelPolicy::new(&l.config.models, &l.config.events);
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
