//! The trainer: the control half of closing the loop — from "drift detected" to "a better model is
//! live", safely. One task in `driftd run`, beside the alert task.
//!
//! For every model with `[models.NAME.retrain]` it runs a small state machine, kept in the state
//! store (`trainer/{model}`) so that a restart resumes it:
//!
//! ```text
//!   idle ──trigger──▶ training ──gate fails──▶ idle   (version stored with a `reject` decision)
//!                        │ fit fails ─────────▶ idle   (recorded; the live model stays)
//!                        ▼ gate passes
//!                     shadow ──reject / inconclusive──▶ idle   (decision record stored)
//!                        │ promote
//!                        ▼
//!                     watch ──previous model significantly better──▶ rollback ▶ idle
//!                        └──watch time over, or new model not worse──▶ idle
//! ```
//!
//! * **Triggers** ([`due`]): a firing alert whose rule is in `on_alerts`, after `debounce`, at least
//!   `min_interval` after the last retrain and with `min_new_labels` new labelled examples; the
//!   cron `schedule` in its time zone; or a manual request (`POST /v1/models/{model}/retrain`,
//!   `driftd models retrain`), which skips the interval and label minimums.
//! * **One training per model, across instances**: a lease in the state store (Redis `SET NX PX`
//!   with a fencing token from `INCR`). Every registry write of the loop goes through
//!   [`FencedStore`], so an instance that lost its lease (paused, partitioned) cannot register or
//!   promote anything afterwards.
//! * **Fitting** runs on the blocking pool, never on the async runtime: intake goes on. Its duration,
//!   data size and outcome are metrics (`driftd_retrain_*`).
//! * **Validation gate** on the chronological validation split, then **shadow** on live traffic
//!   (the pipeline's [`crate::retraining::learn`] scores the challenger), then the **shadow gate**
//!   ([`driftd_retrain::shadow_decision`]: McNemar / exact binomial, or Wilcoxon, plus minimum
//!   pairs and effect), with `shadow_max_duration` making it inconclusive.
//! * **Promotion**: the registry's atomic alias swap; a notice on the `model-updates` pub/sub
//!   channel of the state store and on the Kafka `model-updates` topic; the drift reference is
//!   rebuilt from the new model's training data; the `ModelPromoted` alert sample fires.
//! * **Watch**: the previous model is shadowed beside the new live one for `watch`; if the new one
//!   is significantly worse, driftd rolls back, announces it, and `ModelRolledBack` fires.

use crate::contract::sample::Firing;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use driftd_retrain::{Task, TrainedModel};
use tokio::sync::{mpsc, oneshot, watch};

use crate::contract::sample::Sample;
use crate::registry::{Keys, Registry, RegistryError};
use crate::retraining::config::{RetrainConfig, Schedule};
use crate::retraining::learn::{LearnControl, ReferenceRow, ShadowKind};
use crate::store::{AnyStore, Lease, StateStore, StoreError};
use crate::telemetry::metrics::Metrics;

mod job;
mod promotion;
mod shadow;

use crate::contract::sample::SampleBoard;
use crate::retraining::announce::Announcer;
use crate::retraining::state::{LoopState, NOTICE_FOR, Phase, due, recent_examples, state_key};
use crate::store::fenced::FencedStore;
use job::{Job, JobCtx, JobResult, gethostname};

/// Requests to the trainer (admin API, CLI through the API).
#[derive(Debug)]
pub enum Command {
    /// Starts a retrain now (queued if one is under way); answers the phase it found.
    Retrain(
        String,
        String,
        oneshot::Sender<Result<String, TrainerError>>,
    ),
    /// The model's loop state and training data summary.
    Status(String, oneshot::Sender<Option<serde_json::Value>>),
    /// Promotes a version by hand (notices and reference switch included): the model, the
    /// version, and who asked (recorded as the decision's actor).
    Promote(
        String,
        u64,
        String,
        oneshot::Sender<Result<serde_json::Value, TrainerError>>,
    ),
    /// Rolls back to the previous version by hand: the model, and who asked.
    Rollback(
        String,
        String,
        oneshot::Sender<Result<serde_json::Value, TrainerError>>,
    ),
}

/// Why the trainer could not start, or a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    /// A model's `schedule` or `timezone` (checked at load already; kept for direct callers).
    #[error(transparent)]
    Schedule(#[from] crate::retraining::config::ScheduleError),
    /// A model's stored loop state does not decode.
    #[error("the stored retraining state of {model} is unreadable: {source}")]
    Unreadable {
        /// The model.
        model: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The model has no `[models.NAME.retrain]` section here.
    #[error("model {0:?} is not retrained here (no [models.{0}.retrain] section)")]
    NotRetrained(String),
    /// Another instance holds the model's lease.
    #[error("another instance is retraining this model; try again later")]
    Busy,
    /// The state store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry refused (unknown version, no key, a bad signature…).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The answer could not be encoded.
    #[error("encoding the answer: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Per model: settings, schedule, state, and the lease while one is held.
struct Loop {
    cfg: RetrainConfig,
    task: Task,
    schedule: Option<Schedule>,
    state: LoopState,
    lease: Option<Lease>,
    /// Training rows of the candidate being shadowed (the drift reference if it is promoted).
    reference: Vec<ReferenceRow>,
    /// The last loop events, as alert samples: (event, version, when).
    notices: Vec<(String, u64, DateTime<Utc>)>,
}

/// The clock the trainer reads (tests drive it by hand).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What the trainer works with, handed over by `driftd run`.
pub struct TrainerDeps {
    /// The state store (loop states, leases, the registry, notices).
    pub store: AnyStore,
    /// The registry's keys (what signs new versions and verifies stored ones).
    pub keys: Keys,
    /// The source task, which owns the learners.
    pub learn: mpsc::Sender<LearnControl>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Firing alerts, from the alert task.
    pub firing: watch::Receiver<Vec<Firing>>,
    /// Where the loop's alert samples go.
    pub board: Arc<SampleBoard>,
    /// Promotion and rollback notices.
    pub announcer: Announcer,
    /// The clock (tests drive it by hand).
    pub clock: Clock,
}

/// The trainer task. See the [module documentation](self).
pub struct Trainer {
    loops: BTreeMap<String, Loop>,
    store: AnyStore,
    keys: Keys,
    learn: mpsc::Sender<LearnControl>,
    metrics: Arc<Metrics>,
    firing: watch::Receiver<Vec<Firing>>,
    board: Arc<SampleBoard>,
    announcer: Announcer,
    owner: String,
    clock: Clock,
    jobs: Vec<Job>,
}

impl Trainer {
    /// Builds the trainer for the retrained `models`, restoring their loop states.
    pub async fn load(
        models: Vec<(String, RetrainConfig, Task)>,
        deps: TrainerDeps,
    ) -> Result<Trainer, TrainerError> {
        let TrainerDeps {
            store,
            keys,
            learn,
            metrics,
            firing,
            board,
            announcer,
            clock,
        } = deps;
        let mut loops = BTreeMap::new();
        for (model, cfg, task) in models {
            let schedule = Schedule::parse(cfg.schedule.as_deref(), &cfg.timezone)?;
            let mut state: LoopState = match store.get(&state_key(&model)).await? {
                Some(b) => {
                    serde_json::from_slice(&b).map_err(|source| TrainerError::Unreadable {
                        model: model.clone(),
                        source,
                    })?
                }
                None => LoopState::default(),
            };
            if let Phase::Training { trigger, .. } = &state.phase {
                tracing::warn!(
                    model,
                    trigger,
                    "a retrain was interrupted by a restart; it runs again"
                );
                state.pending = Some(trigger.clone());
                state.phase = Phase::Idle;
            }
            // Every series exists from the start (a first increase is then one Prometheus sees).
            metrics.retrain_phase.with_label_values(&[&model]).set(0);
            metrics.retrain_examples.with_label_values(&[&model]).set(0);
            for kind in ["candidate", "watch"] {
                metrics
                    .shadow_pairs
                    .with_label_values(&[&model, kind])
                    .set(0);
            }
            for outcome in ["candidate", "rejected", "failed"] {
                metrics.retrains.with_label_values(&[&model, outcome]);
            }
            loops.insert(
                model,
                Loop {
                    cfg,
                    task,
                    schedule,
                    state,
                    lease: None,
                    reference: Vec::new(),
                    notices: Vec::new(),
                },
            );
        }
        let owner = format!(
            "{}:{}:{:08x}",
            gethostname(),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        Ok(Trainer {
            loops,
            store,
            keys,
            learn,
            metrics,
            firing,
            board,
            announcer,
            owner,
            clock,
            jobs: Vec::new(),
        })
    }

    /// Runs until shutdown: a tick every `every`, commands in between.
    pub async fn run(
        mut self,
        every: Duration,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => self.tick().await,
                Some(c) = commands.recv() => self.command(c).await,
                _ = async { let _ = shutdown.wait_for(|v| *v).await; } => break,
            }
        }
        for job in self.jobs.drain(..) {
            job.handle.abort();
            let _ = self.store.release_lease(&job.lease).await;
        }
        for l in self.loops.values() {
            if let Some(lease) = &l.lease {
                let _ = self.store.release_lease(lease).await;
            }
        }
    }

    fn registry(&self) -> Result<Registry<AnyStore>, RegistryError> {
        Ok(Registry::with_keys(self.store.clone(), self.keys.clone()))
    }

    /// A version's model, its signature verified.
    async fn load_version(&self, model: &str, version: u64) -> Result<TrainedModel, RegistryError> {
        let (m, _) = self.registry()?.load(model, version).await?;
        Ok(m)
    }

    fn fenced(&self, lease: &Lease) -> Result<Registry<FencedStore>, RegistryError> {
        let store = FencedStore::new(self.store.clone(), lease.clone());
        Ok(Registry::with_keys(store, self.keys.clone()))
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> LearnControl) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.learn.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    async fn save(&self, model: &str) {
        let Some(l) = self.loops.get(model) else {
            return;
        };
        let bytes = match serde_json::to_vec(&l.state) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(model, error = %e, "cannot serialise the retraining state");
                return;
            }
        };
        if let Err(e) = self.store.put_all(vec![(state_key(model), bytes)]).await {
            // The next change writes it again; a restart in between resumes an older phase,
            // which the loop tolerates (aliases are the source of truth for what is live).
            tracing::warn!(model, error = %e, "cannot store the retraining state");
        }
    }

    fn note(&mut self, model: &str, event: &str, version: Option<u64>, detail: String) {
        let now = (self.clock)();
        tracing::info!(target: "driftd::timeline", model, event, version, %detail, "retraining");
        self.metrics
            .retrain_events
            .with_label_values(&[model, event])
            .inc();
        if let Some(l) = self.loops.get_mut(model) {
            l.state.step(now, event, version, detail);
            if matches!(
                event,
                "promoted" | "rolled_back" | "rejected" | "inconclusive" | "fit_failed"
            ) {
                l.notices.retain(|(e, _, _)| e != event);
                l.notices
                    .push((event.to_owned(), version.unwrap_or(0), now));
            }
        }
    }

    fn set_phase(&mut self, model: &str, phase: Phase) {
        let code = match &phase {
            Phase::Idle => 0,
            Phase::Training { .. } => 1,
            Phase::Shadow { .. } => 2,
            Phase::Watch { .. } => 3,
        };
        self.metrics
            .retrain_phase
            .with_label_values(&[model])
            .set(code);
        if let Some(l) = self.loops.get_mut(model) {
            l.state.phase = phase;
        }
    }

    /// One evaluation of every loop.
    pub async fn tick(&mut self) {
        self.finish_jobs().await;
        let now = (self.clock)();
        let firing = self.firing.borrow().clone();
        let models: Vec<String> = self.loops.keys().cloned().collect();
        for model in models {
            let labels_total = self
                .ask(|tx| LearnControl::Labels(model.clone(), tx))
                .await
                .flatten()
                .unwrap_or(0);
            let l = self.loops.get_mut(&model).expect("listed above");
            let before = l.state.next_schedule_ms;
            let trigger = due(
                &l.cfg,
                l.schedule.as_ref(),
                &mut l.state,
                &model,
                now,
                &firing,
                labels_total,
            );
            let changed = before != l.state.next_schedule_ms;
            match (&l.state.phase, trigger) {
                (Phase::Idle, Some(trigger)) => self.start(&model, trigger, labels_total).await,
                (Phase::Shadow { .. } | Phase::Watch { .. }, _) => self.shadow_tick(&model).await,
                _ => {
                    if changed {
                        self.save(&model).await;
                    }
                }
            }
        }
        self.publish_samples(now);
    }

    /// Alert samples of recent loop events (`model_loop_event{model,event}` = 1 for a while).
    fn publish_samples(&mut self, now: DateTime<Utc>) {
        let horizon = chrono::Duration::from_std(NOTICE_FOR).unwrap_or_default();
        for (model, l) in &mut self.loops {
            l.notices.retain(|(_, _, at)| now - *at < horizon);
            let samples: Vec<Sample> = l
                .notices
                .iter()
                .map(|(event, version, at)| Sample {
                    metric: "model_loop_event".into(),
                    labels: [
                        ("model".to_owned(), model.clone()),
                        ("event".to_owned(), event.clone()),
                    ]
                    .into(),
                    value: 1.0,
                    detail: [
                        ("version".to_owned(), version.to_string()),
                        ("at".to_owned(), at.to_rfc3339()),
                        (
                            "detail".to_owned(),
                            l.state
                                .timeline
                                .iter()
                                .rev()
                                .find(|s| &s.event == event)
                                .map(|s| s.detail.clone())
                                .unwrap_or_default(),
                        ),
                    ]
                    .into(),
                })
                .collect();
            self.board.set(&format!("trainer/{model}"), samples);
        }
    }

    async fn start(&mut self, model: &str, trigger: String, labels_total: u64) {
        let l = &self.loops[model];
        if self.jobs.iter().any(|j| j.model == model) {
            return;
        }
        let lease = match self
            .store
            .acquire_lease(&format!("retrain/{model}"), &self.owner, l.cfg.lease_ttl)
            .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                tracing::info!(model, "another instance is retraining this model; waiting");
                if let Some(l) = self.loops.get_mut(model) {
                    l.state.pending.get_or_insert(trigger);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(model, error = %e, "cannot take the retraining lease; retrying");
                if let Some(l) = self.loops.get_mut(model) {
                    l.state.pending.get_or_insert(trigger);
                }
                return;
            }
        };
        let now = (self.clock)();
        let l = self.loops.get_mut(model).expect("exists");
        let recent = recent_examples(&l.cfg, &l.state, &trigger, labels_total);
        if trigger.starts_with("alert:") {
            l.state.alert_seen = None;
            l.state.alert_answered = l.state.alert_episode.take();
        }
        l.state.last_started_ms = Some(now.timestamp_millis());
        l.state.labels_at_last = labels_total;
        let (cfg, task) = (l.cfg.clone(), l.task);
        self.set_phase(
            model,
            Phase::Training {
                trigger: trigger.clone(),
                started_ms: now.timestamp_millis(),
            },
        );
        self.note(
            model,
            "triggered",
            None,
            format!(
                "retraining started by {trigger} (fencing token {})",
                lease.token
            ),
        );
        self.save(model).await;
        let registry = match self.fenced(&lease) {
            Ok(r) => r,
            Err(e) => {
                self.fail(model, &lease, e.to_string()).await;
                return;
            }
        };
        let ctx = JobCtx {
            model: model.to_owned(),
            trigger: trigger.clone(),
            recent,
            cfg,
            task,
            registry,
            learn: self.learn.clone(),
            metrics: self.metrics.clone(),
        };
        let handle = tokio::spawn(ctx.run());
        self.jobs.push(Job {
            model: model.to_owned(),
            trigger,
            lease,
            handle,
        });
    }

    async fn fail(&mut self, model: &str, lease: &Lease, why: String) {
        self.note(model, "fit_failed", None, why);
        self.set_phase(model, Phase::Idle);
        let _ = self.store.release_lease(lease).await;
        self.save(model).await;
    }

    /// Collects finished training jobs and renews the leases of running ones.
    async fn finish_jobs(&mut self) {
        let mut running = Vec::new();
        for job in std::mem::take(&mut self.jobs) {
            if !job.handle.is_finished() {
                let ttl = self.loops[&job.model].cfg.lease_ttl;
                match self.store.renew_lease(&job.lease, ttl).await {
                    Ok(true) => running.push(job),
                    Ok(false) => {
                        // Another instance took over; whatever this job writes is fenced off.
                        job.handle.abort();
                        let (model, lease) = (job.model.clone(), job.lease.clone());
                        self.fail(
                            &model,
                            &lease,
                            "the retraining lease was lost (another instance took over)".into(),
                        )
                        .await;
                    }
                    Err(e) => {
                        tracing::warn!(model = %job.model, error = %e, "cannot renew the retraining lease");
                        running.push(job);
                    }
                }
                continue;
            }
            let Job {
                model,
                trigger,
                lease,
                handle,
            } = job;
            let result = match handle.await {
                Ok(r) => r,
                Err(e) => JobResult::Failed(format!("the training task failed: {e}")),
            };
            match result {
                JobResult::Failed(why) => self.fail(&model, &lease, why).await,
                JobResult::Rejected { version, gate } => {
                    self.note(
                        &model,
                        "rejected",
                        Some(version),
                        format!("validation gate: {}", gate.reason),
                    );
                    self.set_phase(&model, Phase::Idle);
                    let _ = self.store.release_lease(&lease).await;
                    self.save(&model).await;
                }
                JobResult::Candidate {
                    version,
                    model: challenger,
                    reference,
                    gate,
                    examples,
                } => {
                    self.note(
                        &model,
                        "trained",
                        Some(version),
                        format!(
                            "{examples} labelled examples; validation gate: {}",
                            gate.reason
                        ),
                    );
                    let now = (self.clock)();
                    let l = self.loops.get_mut(&model).expect("exists");
                    l.reference = reference;
                    l.lease = Some(lease);
                    let policy = l.cfg.shadow.clone();
                    self.ask_set_shadow(&model, ShadowKind::Candidate, version, challenger, policy)
                        .await;
                    self.set_phase(
                        &model,
                        Phase::Shadow {
                            version,
                            started_ms: now.timestamp_millis(),
                            trigger,
                        },
                    );
                    self.note(
                        &model,
                        "shadow_started",
                        Some(version),
                        "the candidate is scored on every prediction; its answers are never served"
                            .into(),
                    );
                    self.save(&model).await;
                }
            }
        }
        self.jobs = running;
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Retrain(model, by, reply) => {
                let r = match self.loops.get_mut(&model) {
                    None => Err(TrainerError::NotRetrained(model.clone())),
                    Some(l) => {
                        let phase = l.state.phase.name().to_owned();
                        l.state.pending = Some(format!("manual:{by}"));
                        Ok(phase)
                    }
                };
                if r.is_ok() {
                    self.note(
                        &model,
                        "requested",
                        None,
                        format!("manual retrain requested by {by}"),
                    );
                    self.save(&model).await;
                }
                let _ = reply.send(r);
            }
            Command::Status(model, reply) => {
                let data = self
                    .ask(|tx| LearnControl::Status(model.clone(), tx))
                    .await
                    .flatten();
                let aliases = match self.registry() {
                    Ok(r) => r.aliases(&model).await.ok(),
                    Err(_) => None,
                };
                let v = self.loops.get(&model).map(|l| {
                    serde_json::json!({
                        "model": model,
                        "phase": l.state.phase,
                        "last_started_ms": l.state.last_started_ms,
                        "next_schedule": l.state.next_schedule_ms.and_then(DateTime::from_timestamp_millis),
                        "pending": l.state.pending,
                        "aliases": aliases,
                        "training_data": data,
                        "timeline": l.state.timeline,
                    })
                });
                let _ = reply.send(v);
            }
            Command::Promote(model, version, by, reply) => {
                let r = self.manual_swap(&model, Some(version), &by).await;
                let _ = reply.send(r);
            }
            Command::Rollback(model, by, reply) => {
                let r = self.manual_swap(&model, None, &by).await;
                let _ = reply.send(r);
            }
        }
    }

    /// A promotion (`Some(version)`) or rollback (`None`) by hand, under the model's lease; `by`
    /// (the HTTP token's name) is recorded as the decision's actor.
    async fn manual_swap(
        &mut self,
        model: &str,
        version: Option<u64>,
        by: &str,
    ) -> Result<serde_json::Value, TrainerError> {
        let ttl = self
            .loops
            .get(model)
            .map_or(Duration::from_secs(60), |l| l.cfg.lease_ttl);
        // A loop in shadow or watch holds the lease itself; a manual swap ends that run.
        let held = self.loops.get_mut(model).and_then(|l| l.lease.take());
        let lease = match held {
            Some(l) => l,
            None => self
                .store
                .acquire_lease(&format!("retrain/{model}"), &self.owner, ttl)
                .await?
                .ok_or(TrainerError::Busy)?,
        };
        let registry = self.fenced(&lease)?;
        let note = "by hand (admin API)".to_owned();
        let r = match version {
            Some(v) => registry.promote(model, v, &note, None, Some(by)).await,
            None => registry.rollback(model, &note, Some(by)).await,
        };
        let aliases = match r {
            Ok(a) => a,
            Err(e) => {
                let _ = self.store.release_lease(&lease).await;
                return Err(e.into());
            }
        };
        let live = aliases.live.unwrap_or_default();
        let action = if version.is_some() {
            "promoted"
        } else {
            "rolled_back"
        };
        self.after_swap(model, action, live, aliases.previous, &note)
            .await;
        if self.loops.contains_key(model) {
            let rows = self.buffer_reference(model, live).await;
            self.switch_reference(model, rows).await;
            self.end_shadow(model, Some(lease)).await;
        } else {
            let _ = self.store.release_lease(&lease).await;
        }
        Ok(serde_json::to_value(aliases)?)
    }
}

#[cfg(test)]
mod tests;
