//! `driftd run`: start, wait for a signal, drain under a deadline.
//!
//! Start-up order: metrics → state store (retried until reachable) → HTTP → source task → systemd
//! `READY=1`. Shutdown (SIGTERM/SIGINT): readiness goes false, HTTP stops taking requests, the
//! source task stops consuming, drains, writes a final checkpoint and commits, and the process exits
//! 0 — or 1 if that takes longer than `shutdown.timeout`. SIGHUP re-reads the configuration and
//! applies what can change at run time: `log.level`, the HTTP tokens (`http.tokens`,
//! `http.feedback_tokens`, `http.admin_tokens`), `[alerting]` (except `enabled`), `[models]`
//! (listed models, their monitor settings, the training-buffer bounds) and
//! `events.strict_models`/`events.max_models`.
//! Everything else needs a restart (the reload logs so).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use crate::config::{self, Config};
use crate::http::tls::TlsReloader;

mod start;

use start::{
    Shared, connect_store, restore_pipeline, start_alerting, start_http, start_source,
    start_trainer,
};

use crate::intake::config::SourceConfig;

use crate::alert::task::Command;
use crate::intake::policy::ModelPolicy;
use crate::intake::{Control, Health, Summary};
use crate::store::AnyStore;
use crate::store::config::EmbeddedStateConfig;
use crate::store::config::StateConfig;
use crate::telemetry::LogHandle;
use crate::telemetry::events::{ConfigReloaded, InternalEvent as _};

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

/// Runs the daemon until its input ends (a file without `--follow`) or a signal stops it.
pub async fn run(loaded: config::Loaded, opts: RunOptions, log: LogHandle) -> anyhow::Result<()> {
    let mut cfg = loaded.config;
    apply_overrides(&mut cfg, &opts);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (control_tx, control_rx) = mpsc::channel(8);
    let shared = Shared::new(&cfg, loaded.secrets, shutdown_rx, control_tx);
    let mut signals = Signals::new()?;

    // 1. The state store, retried until it answers (a signal ends the wait).
    let store = match opts.store.clone() {
        Some(s) => s,
        None => {
            let mut sd = shared.shutdown.clone();
            let connected = tokio::select! {
                s = connect_store(&cfg, &shared, &mut sd) => s?,
                _ = terminate(&mut signals.term, &mut signals.int) => None,
            };
            let Some(s) = connected else {
                tracing::info!("stopped before the state store was reachable");
                return Ok(());
            };
            s
        }
    };
    shared.store_reachable(&store);

    // 2. The intake pipeline, its monitors and learners restored from the last checkpoint.
    let ctx = shared.task_ctx(&cfg, store.clone(), control_rx);
    let Some((pipeline, retrained)) = restore_pipeline(&cfg, &shared, &ctx).await? else {
        return Ok(());
    };

    // 3. Alerting on the monitors' samples, and the trainer on firing alerts and schedules.
    let alerting =
        start_alerting(&cfg, &shared, store.clone(), pipeline.board(), &retrained).await?;
    let trainer = start_trainer(
        &cfg,
        &opts,
        &shared,
        store.clone(),
        &pipeline,
        &alerting,
        retrained,
    )
    .await?;

    // 4. The source task, which owns the pipeline from here on, and HTTP.
    let (feedback, mut source_task) = start_source(&cfg, &shared, pipeline, ctx)?;
    let tls = cfg
        .http
        .tls
        .enabled()
        .then(|| TlsReloader::new(cfg.http.tls.clone()))
        .transpose()
        .context("loading [http.tls]")?;
    let http_task = start_http(
        &cfg,
        &shared,
        feedback,
        &alerting,
        &trainer,
        store,
        tls.clone(),
    )
    .await?;

    notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = spawn_watchdog(shared.health.clone());
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "driftd started");

    // 5. Run until the input ends or a signal; SIGHUP reloads what can change at run time.
    let finished = loop {
        tokio::select! {
            r = &mut source_task => break Some(r),
            _ = terminate(&mut signals.term, &mut signals.int) => break None,
            _ = signals.hup.recv() => {
                reload(&opts, &log, &shared, alerting.commands.as_ref()).await;
                if let Some(t) = &tls {
                    t.reload_logged("driftd run");
                }
            }
        }
    };

    // 6. Drain: readiness goes false, every task stops, the source writes a final checkpoint —
    //    all within `shutdown.timeout`.
    shared.health.shutting_down.store(true, Ordering::Relaxed);
    notify(&[sd_notify::NotifyState::Stopping]);
    let _ = shutdown_tx.send(true);
    let others = [http_task, alerting.task, trainer.task];
    let drained = tokio::time::timeout(cfg.shutdown.timeout, async {
        let source_result = match finished {
            Some(r) => r,
            None => source_task.await,
        };
        for h in others.into_iter().flatten() {
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
            let timeout = cfg.shutdown.timeout;
            tracing::error!(?timeout, "shutdown did not finish in time; exiting anyway");
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
        cfg.state = StateConfig::Embedded(EmbeddedStateConfig { path: p.clone() });
    }
    if let Some(l) = opts.listen {
        cfg.http.listen = l;
    }
}

async fn reload(
    opts: &RunOptions,
    log: &LogHandle,
    shared: &Shared,
    alerts: Option<&mpsc::Sender<Command>>,
) {
    let Shared {
        secrets,
        policy,
        control,
        metrics,
        ..
    } = shared;
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
                let cmd = Command::Reload(Box::new(l.config.alerting.clone()));
                let _ = a.send(cmd).await;
            }
            ConfigReloaded {
                path,
                result: Ok(()),
            }
            .emit(metrics);
        }
        Err(e) => ConfigReloaded {
            path,
            result: Err(&e),
        }
        .emit(metrics),
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
