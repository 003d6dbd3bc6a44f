//! The stages `driftd run` starts, in order: the state store, the pipeline restored from its
//! checkpoint, alerting, the trainer, the source task and HTTP. Each function wires one stage to
//! what the others share ([`Shared`]); `run` reads them as a script.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::contract::access::Role;
use crate::contract::event::ParseOptions;
use crate::contract::sample::{Firing, SampleBoard};
use crate::contract::settings::Secrets;
use crate::http::limit::Limits;
use crate::http::tls::TlsReloader;
use crate::http::{self, AppState, FeedbackSink};
use crate::intake::config::SourceConfig;
use crate::intake::embedded::run_file;
use crate::intake::pipeline::Pipeline;
use crate::intake::policy::ModelPolicy;
use crate::intake::{Checkpointer, Control, Health, LocalFeedback, Summary, TaskCtx, kafka};
use crate::kafka::{KafkaSecrets, TopicProducer};
use crate::retraining::config::RetrainConfig;
use crate::store::config::StateConfig;
use crate::store::{AnyStore, EmbeddedStore, RedisStore};
use crate::telemetry::events::{InternalEvent as _, StoreAnswered, StoreConnectFailed};
use crate::telemetry::metrics::Metrics;

use super::RunOptions;
use crate::alert::task::AlertTask;
use crate::alert::task::Command as AlertCommand;
use crate::intake::pipeline::observing::monitor_pool;
use crate::offline::replay::reference_monitors;
use crate::registry::config::KEY_ENV;
use crate::registry::registry_keys;
use crate::retraining::announce::Announcer;
use crate::retraining::trainer::Command as TrainerCommand;
use crate::retraining::trainer::Trainer;
use crate::retraining::trainer::TrainerDeps;

/// What every stage of `driftd run` shares: metrics, readiness, the secrets and model policy
/// (swapped on SIGHUP), the shutdown flag and the source task's control channel.
pub(super) struct Shared {
    pub(super) metrics: Arc<Metrics>,
    pub(super) health: Arc<Health>,
    pub(super) secrets: Arc<ArcSwap<Secrets>>,
    pub(super) policy: Arc<ArcSwap<ModelPolicy>>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) control: mpsc::Sender<Control>,
    parse: ParseOptions,
}

impl Shared {
    pub(super) fn new(
        cfg: &Config,
        secrets: Secrets,
        shutdown: watch::Receiver<bool>,
        control: mpsc::Sender<Control>,
    ) -> Self {
        Shared {
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Health::default()),
            secrets: Arc::new(ArcSwap::from_pointee(secrets)),
            policy: Arc::new(ArcSwap::from_pointee(ModelPolicy::new(
                &cfg.models,
                &cfg.events,
            ))),
            shutdown,
            control,
            parse: ParseOptions {
                max_event_bytes: cfg.events.max_event_bytes,
                default_kind: None,
            },
        }
    }

    /// Readiness and the gauge, once the store answered (the checkpointer's event).
    pub(super) fn store_reachable(&self, store: &AnyStore) {
        StoreAnswered {
            store: store.kind(),
            was_up: self.health.store_up.swap(true, Ordering::Relaxed),
        }
        .emit(&self.metrics);
    }

    /// What the source task needs besides its source.
    pub(super) fn task_ctx(
        &self,
        cfg: &Config,
        store: AnyStore,
        control: mpsc::Receiver<Control>,
    ) -> TaskCtx {
        TaskCtx {
            metrics: self.metrics.clone(),
            health: self.health.clone(),
            checkpointer: Checkpointer::new(
                store,
                self.metrics.clone(),
                self.health.clone(),
                &cfg.checkpoint,
            ),
            shutdown: self.shutdown.clone(),
            control,
            order: cfg.events.order.clone(),
        }
    }
}

/// Connects the configured state store, retrying until it answers or shutdown is requested.
pub(super) async fn connect_store(
    cfg: &Config,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<AnyStore>> {
    let secrets = shared.secrets.load_full();
    let metrics = &shared.metrics;
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
                match RedisStore::connect_with(
                    r,
                    secrets.redis_password.as_ref(),
                    secrets.redis_tls_key.as_ref(),
                )
                .await
                {
                    Ok(s) => {
                        tracing::info!(prefix = %r.key_prefix, "connected to Redis");
                        return Ok(Some(AnyStore::Redis(s)));
                    }
                    Err(error) => StoreConnectFailed {
                        error: &error,
                        retry_in: backoff,
                    }
                    .emit(metrics),
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

/// A retrained model: its name, settings and task.
pub(super) type Retrained = (String, RetrainConfig, driftd_retrain::Task);

/// The pipeline with the monitors and learners of the last checkpoint (and the reference files of
/// models no checkpoint holds yet), and the retrained models. `None` on shutdown.
pub(super) async fn restore_pipeline(
    cfg: &Config,
    shared: &Shared,
    ctx: &TaskCtx,
) -> anyhow::Result<Option<(Pipeline, Vec<Retrained>)>> {
    let policy = ModelPolicy::clone(&shared.policy.load());
    let mut pipeline = Pipeline::new(shared.metrics.clone(), shared.parse, policy.clone())
        .with_order(cfg.events.order.settings())
        .with_adapter(cfg.source.adapter().clone());
    if cfg.monitor.enabled {
        let mut sd = shared.shutdown.clone();
        let Some(mut monitors) = ctx.checkpointer.load_monitors(&mut sd).await else {
            return Ok(None);
        };
        let c = cfg.clone();
        let from_files = tokio::task::spawn_blocking(move || reference_monitors(&c))
            .await
            .context("loading reference files")??;
        for (model, m) in from_files {
            monitors.entry(model).or_insert(m);
        }
        pipeline = pipeline
            .with_monitoring(cfg.monitor.clone())
            .with_monitor_pool(monitor_pool(cfg.monitor.threads));
        pipeline.restore_monitors(monitors);
    }
    let mut sd = shared.shutdown.clone();
    let Some(learners) = ctx.checkpointer.load_learners(&policy, &mut sd).await else {
        return Ok(None);
    };
    pipeline.restore_learners(learners);
    let mut sd = shared.shutdown.clone();
    let Some(pairs) = ctx.checkpointer.load_pairs(&mut sd).await else {
        return Ok(None);
    };
    pipeline.restore_pairs(pairs);
    let retrained = policy
        .retrained()
        .map(|(m, (c, t))| (m.clone(), c.clone(), *t))
        .collect();
    Ok(Some((pipeline, retrained)))
}

/// The alert task, if alerting is enabled, and the firing alerts the trainer reads.
pub(super) struct Alerting {
    /// Commands to the alert task (admin API, SIGHUP).
    pub(super) commands: Option<mpsc::Sender<AlertCommand>>,
    pub(super) task: Option<JoinHandle<()>>,
    pub(super) firing: watch::Receiver<Vec<Firing>>,
    /// Kept for the process's life, so the trainer's receiver stays open without alerting.
    _firing_tx: Option<watch::Sender<Vec<Firing>>>,
}

pub(super) async fn start_alerting(
    cfg: &Config,
    shared: &Shared,
    store: AnyStore,
    board: Arc<SampleBoard>,
    retrained: &[Retrained],
) -> anyhow::Result<Alerting> {
    let (firing_tx, firing) = watch::channel(Vec::new());
    if !cfg.alerting.enabled {
        return Ok(Alerting {
            commands: None,
            task: None,
            firing,
            _firing_tx: Some(firing_tx),
        });
    }
    let task = AlertTask::load(cfg.alerting.clone(), store, board, shared.metrics.clone())
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
    let handle = tokio::spawn(task.run(rx, shared.shutdown.clone()));
    Ok(Alerting {
        commands: Some(tx),
        task: Some(handle),
        firing,
        _firing_tx: None,
    })
}

/// The trainer task, for models with `[models.NAME.retrain]`.
pub(super) struct Training {
    /// Commands to the trainer (admin API).
    pub(super) commands: Option<mpsc::Sender<TrainerCommand>>,
    pub(super) task: Option<JoinHandle<()>>,
}

pub(super) async fn start_trainer(
    cfg: &Config,
    opts: &RunOptions,
    shared: &Shared,
    store: AnyStore,
    pipeline: &Pipeline,
    alerting: &Alerting,
    retrained: Vec<Retrained>,
) -> anyhow::Result<Training> {
    if retrained.is_empty() {
        return Ok(Training {
            commands: None,
            task: None,
        });
    }
    let secrets = shared.secrets.load();
    let keys =
        registry_keys(&secrets).context("the registry keys (retraining signs its models)")?;
    if keys.signer.is_none() {
        anyhow::bail!(
            "[models.*.retrain] needs a registry signing key: set [registry] ed25519_signing_key, [registry] signing_key or {}",
            KEY_ENV
        );
    }
    let kafka_updates = match &cfg.source {
        SourceConfig::Kafka(k) if !k.model_updates_topic.is_empty() => {
            let ks = KafkaSecrets::from(&secrets);
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
    let announcer = Announcer::new(store.clone(), kafka_updates, location);
    // The trainer speaks to the learners inside the source task through its control channel.
    let (learn_tx, mut learn_rx) = mpsc::channel(16);
    let forward = shared.control.clone();
    tokio::spawn(async move {
        while let Some(c) = learn_rx.recv().await {
            if forward.send(Control::Learn(c)).await.is_err() {
                break;
            }
        }
    });
    let deps = TrainerDeps {
        store,
        keys,
        learn: learn_tx,
        metrics: shared.metrics.clone(),
        firing: alerting.firing.clone(),
        board: pipeline.board(),
        announcer,
        clock: Arc::new(chrono::Utc::now),
    };
    let models = retrained.len();
    let t = Trainer::load(retrained, deps)
        .await
        .context("starting the trainer")?;
    let (tx, rx) = mpsc::channel(16);
    let every = opts.trainer_tick.unwrap_or(Duration::from_secs(1));
    let handle = tokio::spawn(t.run(every, rx, shared.shutdown.clone()));
    tracing::info!(models, "retraining enabled");
    Ok(Training {
        commands: Some(tx),
        task: Some(handle),
    })
}

/// The source task (it owns the pipeline from here on) and where HTTP feedback goes.
pub(super) fn start_source(
    cfg: &Config,
    shared: &Shared,
    pipeline: Pipeline,
    ctx: TaskCtx,
) -> anyhow::Result<(FeedbackSink, JoinHandle<anyhow::Result<Option<Summary>>>)> {
    Ok(match &cfg.source {
        SourceConfig::File(f) => {
            let (tx, rx) = mpsc::channel::<LocalFeedback>(64);
            let f = f.clone();
            let max_line = cfg.events.max_event_bytes;
            let task = tokio::spawn(async move { run_file(f, max_line, pipeline, ctx, rx).await });
            (FeedbackSink::Local(tx), task)
        }
        SourceConfig::Kafka(k) => {
            let k = (**k).clone();
            let ks = KafkaSecrets::from(&shared.secrets.load());
            let producer = TopicProducer::new(
                &k,
                &ks,
                &k.feedback_topic,
                cfg.http.feedback_delivery_timeout(),
            )
            .context("creating the Kafka producer for HTTP feedback")?;
            let task = tokio::spawn(async move { kafka::run_kafka(k, ks, pipeline, ctx).await });
            (FeedbackSink::Kafka(producer), task)
        }
    })
}

/// Where `POST /v1/kserve` sends KServe's logged inferences: the local pipeline beside the
/// feedback (file source), or the first `[source.adapter]` topic when it holds KServe
/// CloudEvents (Kafka source; else none).
fn kserve_sink(
    cfg: &Config,
    shared: &Shared,
    feedback: &FeedbackSink,
) -> anyhow::Result<Option<FeedbackSink>> {
    use crate::contract::adapt::Format;
    Ok(match (&cfg.source, feedback) {
        (SourceConfig::File(_), FeedbackSink::Local(tx)) => Some(FeedbackSink::Local(tx.clone())),
        (SourceConfig::Kafka(k), _) if k.adapter.format == Format::KserveCloudevents => {
            let ks = KafkaSecrets::from(&shared.secrets.load());
            let topic = k
                .adapter
                .topics
                .first()
                .context("[source.adapter] topics is empty")?;
            let producer = TopicProducer::new(k, &ks, topic, cfg.http.feedback_delivery_timeout())
                .context("creating the Kafka producer for KServe logs")?;
            Some(FeedbackSink::Kafka(producer))
        }
        _ => None,
    })
}

/// The HTTP server (health, metrics, feedback, admin, registry), if enabled.
pub(super) async fn start_http(
    cfg: &Config,
    shared: &Shared,
    feedback: FeedbackSink,
    alerting: &Alerting,
    trainer: &Training,
    store: AnyStore,
    tls: Option<TlsReloader>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if !cfg.http.enabled {
        return Ok(None);
    }
    let secrets = shared.secrets.load();
    let state = AppState {
        metrics: shared.metrics.clone(),
        health: shared.health.clone(),
        secrets: shared.secrets.clone(),
        policy: shared.policy.clone(),
        kserve: kserve_sink(cfg, shared, &feedback)?,
        kserve_open: cfg.http.kserve_open,
        claims: Default::default(),
        review_claim: std::time::Duration::from_secs(cfg.monitor.review.claim_seconds),
        feedback,
        parse: shared.parse,
        max_batch_items: cfg.http.max_batch_items,
        max_body_bytes: cfg.http.max_body_bytes,
        request_timeout: cfg.http.request_timeout,
        alerts: alerting.commands.clone(),
        control: Some(shared.control.clone()),
        trainer: trainer.commands.clone(),
        registry: Some((store, registry_keys(&secrets).unwrap_or_default())),
        limits: cfg.http.limits.resolve(Limits::RUN),
        metrics_role: cfg.http.metrics_role,
    };
    if !secrets.http_tokens.any_grants(Role::Feedback) {
        tracing::warn!(
            "no HTTP token of role feedback configured: POST /v1/feedback refuses every request (401)"
        );
    }
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("binding HTTP to {}", cfg.http.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, "HTTP listening");
    http::tls::warn_if_plain_beyond_loopback(addr, tls.is_some(), "http");
    let mut sd = shared.shutdown.clone();
    Ok(Some(tokio::spawn(async move {
        let shutdown = async move {
            let _ = sd.wait_for(|v| *v).await;
        };
        let r = http::tls::serve(
            listener,
            tls.as_ref(),
            http::app(state),
            "driftd run",
            shutdown,
        )
        .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    })))
}
