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
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use driftd_retrain::{
    Decision, DecisionRecord, Example, GateDecision, ShadowDecision, Task, TrainedModel, evaluate,
    shadow_decision, split_by_time, train, validation_gate,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::contract::notice::{Notice, UPDATES_CHANNEL};
use crate::contract::sample::Sample;
use crate::registry::{Alias, DecisionEntry, Registry, RegistryError};
use crate::retraining::learn::{
    LearnControl, ReferenceRow, RetrainConfig, Schedule, ShadowKind, ShadowRun,
};
use crate::store::{AnyStore, Lease, StateStore, StoreError};
use crate::telemetry::metrics::Metrics;

/// How long a loop event (promotion, rollback, rejection…) stays visible as an alert sample.
const NOTICE_FOR: Duration = Duration::from_secs(600);

/// Most timeline entries kept per model.
const TIMELINE: usize = 200;

/// Where a model's loop stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for a trigger.
    #[default]
    Idle,
    /// Fitting and validating a candidate.
    Training {
        /// What started it.
        trigger: String,
        /// When (ms).
        started_ms: i64,
    },
    /// Shadowing a candidate on live traffic.
    Shadow {
        /// The candidate's version.
        version: u64,
        /// When the shadow run started (ms).
        started_ms: i64,
        /// What started the retrain.
        trigger: String,
    },
    /// Watching a fresh promotion (the previous model shadowed).
    Watch {
        /// The promoted (live) version.
        version: u64,
        /// The previous live version, shadowed.
        previous: u64,
        /// When the watch started (ms).
        started_ms: i64,
    },
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Training { .. } => "training",
            Phase::Shadow { .. } => "shadow",
            Phase::Watch { .. } => "watch",
        }
    }
}

/// One step of a model's loop, for humans (admin API, demo, logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When (ms).
    pub at_ms: i64,
    /// What: `triggered`, `trained`, `fit_failed`, `rejected`, `shadow_started`, `promoted`,
    /// `inconclusive`, `watch_passed`, `rolled_back`, …
    pub event: String,
    /// The version concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Details in words.
    pub detail: String,
}

/// A model's loop state, stored at `trainer/{model}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoopState {
    /// Where it stands.
    pub phase: Phase,
    /// When the last retrain started (ms).
    pub last_started_ms: Option<i64>,
    /// The learner's label counter when the last retrain started.
    pub labels_at_last: u64,
    /// The next scheduled retrain (ms).
    pub next_schedule_ms: Option<i64>,
    /// A trigger waiting to run regardless of the interval and label minimums (manual requests,
    /// and a retrain interrupted by a restart).
    pub pending: Option<String>,
    /// The triggering alert being waited on, and the label counter when it was first seen
    /// firing: a retrain after drift learns from the labels that came *after* it.
    #[serde(default)]
    pub alert_seen: Option<(String, u64)>,
    /// The alert episode (rule, firing since, ms) the last alert-triggered retrain answered: the
    /// same episode, still firing, does not trigger again.
    #[serde(default)]
    pub alert_answered: Option<(String, i64)>,
    /// The episode behind `alert_seen`.
    #[serde(default)]
    pub alert_episode: Option<(String, i64)>,
    /// The latest steps, oldest first.
    pub timeline: VecDeque<Step>,
}

impl LoopState {
    fn step(&mut self, now: DateTime<Utc>, event: &str, version: Option<u64>, detail: String) {
        self.timeline.push_back(Step {
            at_ms: now.timestamp_millis(),
            event: event.to_owned(),
            version,
            detail,
        });
        while self.timeline.len() > TIMELINE {
            self.timeline.pop_front();
        }
    }
}

/// Key of a model's loop state.
pub fn state_key(model: &str) -> String {
    format!("trainer/{model}")
}

/// Whether a retrain should start now, and why (`alert:RULE`, `schedule`, or the pending trigger).
/// Advances the schedule past `now` when it fires or is skipped. Pure: the clock is an argument.
pub fn due(
    cfg: &RetrainConfig,
    schedule: Option<&Schedule>,
    st: &mut LoopState,
    model: &str,
    now: DateTime<Utc>,
    firing: &[Firing],
    labels_total: u64,
) -> Option<String> {
    let now_ms = now.timestamp_millis();
    let scheduled = match (schedule, st.next_schedule_ms) {
        (Some(s), None) => {
            st.next_schedule_ms = s.next_after(now).map(|t| t.timestamp_millis());
            false
        }
        (Some(s), Some(next)) if next <= now_ms => {
            st.next_schedule_ms = s.next_after(now).map(|t| t.timestamp_millis());
            true
        }
        (None, Some(_)) => {
            st.next_schedule_ms = None;
            false
        }
        _ => false,
    };
    if st.phase != Phase::Idle {
        // An occurrence during a retrain is skipped (it would retrain on the same data).
        return None;
    }
    if let Some(p) = st.pending.take() {
        return Some(p);
    }
    if scheduled {
        return Some("schedule".into());
    }
    let debounce = chrono::Duration::from_std(cfg.debounce).unwrap_or(chrono::Duration::MAX);
    if let Some(alert) = firing.iter().find(|f| {
        f.model == model
            && cfg.on_alerts.contains(&f.rule)
            && now - f.since >= debounce
            && st.alert_answered.as_ref() != Some(&(f.rule.clone(), f.since.timestamp_millis()))
    }) && st.alert_seen.is_none()
    {
        st.alert_seen = Some((alert.rule.clone(), labels_total));
        st.alert_episode = Some((alert.rule.clone(), alert.since.timestamp_millis()));
    }
    // A drift alert, once seen, waits for its labels even if it resolves meanwhile (a concept
    // detector's state may drop back before min_new_labels labels of the new concept arrived);
    // it is cleared when the retrain starts.
    let (rule, at_alert) = st.alert_seen.clone()?;
    let interval_ok = st
        .last_started_ms
        .is_none_or(|t| now_ms.saturating_sub(t) >= cfg.min_interval.as_millis() as i64);
    // New labels since the alert (the drift), and since the last retrain.
    let labels_ok =
        labels_total.saturating_sub(at_alert.max(st.labels_at_last)) >= cfg.min_new_labels;
    (interval_ok && labels_ok).then(|| format!("alert:{rule}"))
}

/// How many of the newest examples a retrain started by `trigger` learns from: after a drift
/// alert, the labels since the alert was first seen (at least `min_examples`); otherwise all.
pub fn recent_examples(
    cfg: &RetrainConfig,
    st: &LoopState,
    trigger: &str,
    labels_total: u64,
) -> Option<usize> {
    if !trigger.starts_with("alert:") {
        return None;
    }
    let (_, at) = st.alert_seen.as_ref()?;
    let since = usize::try_from(labels_total.saturating_sub(*at)).unwrap_or(usize::MAX);
    Some(since.max(cfg.min_examples))
}

/// A store whose writes only land while a lease is held: the registry writes of a retrain go
/// through it, so a paused or partitioned instance that lost its lease cannot promote anything.
#[derive(Clone)]
pub struct FencedStore {
    inner: AnyStore,
    lease: Lease,
}

impl StateStore for FencedStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key).await
    }
    async fn put_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.inner.put_all_fenced(&self.lease, entries).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// Requests to the trainer (admin API, CLI through the API).
#[derive(Debug)]
pub enum Command {
    /// Starts a retrain now (queued if one is under way); answers the phase it found.
    Retrain(String, String, oneshot::Sender<Result<String, String>>),
    /// The model's loop state and training data summary.
    Status(String, oneshot::Sender<Option<serde_json::Value>>),
    /// Promotes a version by hand (notices and reference switch included).
    Promote(
        String,
        u64,
        String,
        oneshot::Sender<Result<serde_json::Value, String>>,
    ),
    /// Rolls back to the previous version by hand.
    Rollback(
        String,
        String,
        oneshot::Sender<Result<serde_json::Value, String>>,
    ),
}

/// Announces promotions and rollbacks: the state store's pub/sub channel and, with a Kafka
/// source, the `model-updates` topic.
#[derive(Clone)]
pub struct Announcer {
    store: AnyStore,
    kafka: Option<crate::kafka::TopicProducer>,
    location: String,
}

impl Announcer {
    /// An announcer; `location` describes where artifacts live (e.g. `redis://host/prefix`).
    pub fn new(
        store: AnyStore,
        kafka: Option<crate::kafka::TopicProducer>,
        location: String,
    ) -> Self {
        Announcer {
            store,
            kafka,
            location,
        }
    }

    /// Sends a notice; failures are logged (serving also polls the registry, so a lost notice
    /// delays a swap by one poll interval at most).
    pub async fn announce(&self, notice: &Notice) {
        let bytes = match serde_json::to_vec(notice) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a model-update notice");
                return;
            }
        };
        match self.store.publish(UPDATES_CHANNEL, &bytes).await {
            Ok(n) => {
                tracing::info!(model = %notice.model, version = notice.version, subscribers = n, "model update published")
            }
            Err(e) => {
                tracing::warn!(model = %notice.model, error = %e, "cannot publish the model update")
            }
        }
        if let Some(k) = &self.kafka
            && let Err(e) = k.send_all(vec![bytes]).await
        {
            tracing::warn!(model = %notice.model, error = %e, "cannot produce the model update to Kafka");
        }
    }
}

/// What a training job produced.
enum JobResult {
    /// A candidate that passed the validation gate (registered, aliased `candidate`).
    Candidate {
        version: u64,
        model: Arc<TrainedModel>,
        reference: Vec<ReferenceRow>,
        gate: GateDecision,
        examples: usize,
    },
    /// A candidate that failed the gate (registered with a `reject` decision).
    Rejected { version: u64, gate: GateDecision },
    /// Nothing to register: too little data, a fit error, a store error, a lost lease.
    Failed(String),
}

struct Job {
    model: String,
    trigger: String,
    lease: Lease,
    handle: tokio::task::JoinHandle<JobResult>,
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
    /// The registry's signing key.
    pub key: Option<SecretString>,
    /// The source task, which owns the learners.
    pub learn: mpsc::Sender<LearnControl>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Firing alerts, from the alert task.
    pub firing: watch::Receiver<Vec<Firing>>,
    /// Where the loop's alert samples go.
    pub board: Arc<crate::contract::sample::SampleBoard>,
    /// Promotion and rollback notices.
    pub announcer: Announcer,
    /// The clock (tests drive it by hand).
    pub clock: Clock,
}

/// The trainer task. See the [module documentation](self).
pub struct Trainer {
    loops: BTreeMap<String, Loop>,
    store: AnyStore,
    key: Option<SecretString>,
    learn: mpsc::Sender<LearnControl>,
    metrics: Arc<Metrics>,
    firing: watch::Receiver<Vec<Firing>>,
    board: Arc<crate::contract::sample::SampleBoard>,
    announcer: Announcer,
    owner: String,
    clock: Clock,
    jobs: Vec<Job>,
}

fn err_text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Trainer {
    /// Builds the trainer for the retrained `models`, restoring their loop states.
    pub async fn load(
        models: Vec<(String, RetrainConfig, Task)>,
        deps: TrainerDeps,
    ) -> anyhow::Result<Trainer> {
        let TrainerDeps {
            store,
            key,
            learn,
            metrics,
            firing,
            board,
            announcer,
            clock,
        } = deps;
        let mut loops = BTreeMap::new();
        for (model, cfg, task) in models {
            let schedule = Schedule::parse(cfg.schedule.as_deref(), &cfg.timezone)
                .map_err(anyhow::Error::msg)?;
            let mut state: LoopState = match store.get(&state_key(&model)).await? {
                Some(b) => serde_json::from_slice(&b).map_err(|e| {
                    anyhow::anyhow!("the stored retraining state of {model} is unreadable: {e}")
                })?,
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
            key,
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

    fn registry(&self) -> Result<Registry<AnyStore>, String> {
        Registry::new(self.store.clone(), self.key.clone()).map_err(err_text)
    }

    /// A version's model, its signature verified.
    async fn load_version(&self, model: &str, version: u64) -> Result<TrainedModel, String> {
        let (m, _) = self
            .registry()?
            .load(model, version)
            .await
            .map_err(err_text)?;
        Ok(m)
    }

    fn fenced(&self, lease: &Lease) -> Result<Registry<FencedStore>, String> {
        let store = FencedStore {
            inner: self.store.clone(),
            lease: lease.clone(),
        };
        Registry::new(store, self.key.clone()).map_err(err_text)
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
                self.fail(model, &lease, e).await;
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

    async fn ask_set_shadow(
        &self,
        model: &str,
        kind: ShadowKind,
        version: u64,
        challenger: Arc<TrainedModel>,
        policy: driftd_retrain::ShadowPolicy,
    ) {
        let c = LearnControl::SetShadow {
            model: model.to_owned(),
            kind,
            version,
            challenger,
            policy,
        };
        if self.learn.send(c).await.is_err() {
            tracing::warn!(
                model,
                "the event source has stopped; the shadow run cannot start"
            );
        }
    }

    /// Holds (or takes back after a restart) the lease of a model in shadow or watch.
    async fn hold_lease(&mut self, model: &str) -> Option<Lease> {
        let ttl = self.loops[model].cfg.lease_ttl;
        if let Some(lease) = self.loops[model].lease.clone() {
            match self.store.renew_lease(&lease, ttl).await {
                Ok(true) => return Some(lease),
                Ok(false) => {
                    tracing::warn!(model, "the retraining lease was lost; taking it again");
                }
                Err(e) => {
                    tracing::warn!(model, error = %e, "cannot renew the retraining lease");
                    return None;
                }
            }
        }
        let lease = self
            .store
            .acquire_lease(&format!("retrain/{model}"), &self.owner, ttl)
            .await
            .ok()
            .flatten()?;
        // After a restart (or a lost lease) the shadow needs its challenger again; the learner
        // kept the tally (checkpointed) and only gets the model back.
        let (kind, version) = match self.loops[model].state.phase {
            Phase::Shadow { version, .. } => (ShadowKind::Candidate, version),
            Phase::Watch { previous, .. } => (ShadowKind::Watch, previous),
            _ => return Some(lease),
        };
        match self.load_version(model, version).await {
            Ok(m) => {
                let l = &self.loops[model];
                let policy = match kind {
                    ShadowKind::Candidate => l.cfg.shadow.clone(),
                    ShadowKind::Watch => l.cfg.watch_policy.clone(),
                };
                self.ask_set_shadow(model, kind, version, Arc::new(m), policy)
                    .await;
            }
            Err(e) => {
                tracing::error!(model, version, error = %e, "cannot load the shadowed model; ending the shadow run");
                self.note(
                    model,
                    "inconclusive",
                    Some(version),
                    format!("the shadowed version cannot be loaded: {e}"),
                );
                self.end_shadow(model, Some(lease)).await;
                return None;
            }
        }
        self.loops.get_mut(model).expect("exists").lease = Some(lease.clone());
        Some(lease)
    }

    async fn end_shadow(&mut self, model: &str, lease: Option<Lease>) {
        let _ = self
            .learn
            .send(LearnControl::ClearShadow(model.to_owned()))
            .await;
        if let Some(lease) = lease.or_else(|| self.loops.get_mut(model)?.lease.take()) {
            let _ = self.store.release_lease(&lease).await;
        }
        if let Some(l) = self.loops.get_mut(model) {
            l.lease = None;
            l.reference.clear();
        }
        self.set_phase(model, Phase::Idle);
        self.save(model).await;
    }

    async fn shadow_tick(&mut self, model: &str) {
        let Some(lease) = self.hold_lease(model).await else {
            return;
        };
        let Some(run) = self
            .ask(|tx| LearnControl::Shadow(model.to_owned(), tx))
            .await
            .flatten()
        else {
            return;
        };
        let now = (self.clock)();
        let l = &self.loops[model];
        match l.state.phase.clone() {
            Phase::Shadow {
                version,
                started_ms,
                ..
            } => {
                if run.kind != ShadowKind::Candidate || run.version != version {
                    return;
                }
                let d = shadow_decision(&run.tally, &l.cfg.shadow);
                self.metrics
                    .shadow_pairs
                    .with_label_values(&[model, "candidate"])
                    .set(run.paired as i64);
                let over = now.timestamp_millis() - started_ms
                    >= l.cfg.shadow_max_duration.as_millis() as i64;
                match d.decision {
                    Decision::Promote if l.cfg.auto_promote => {
                        self.promote(model, version, &lease, d, &run).await;
                    }
                    Decision::Reject => {
                        self.record(model, version, "reject", &d.record, &lease)
                            .await;
                        self.note(model, "rejected", Some(version), d.record.reason.clone());
                        self.end_shadow(model, Some(lease)).await;
                    }
                    _ if over => {
                        let d = d.into_inconclusive(format!(
                            "no decision within shadow_max_duration ({}); the live model stays",
                            humantime_serde::re::humantime::format_duration(
                                l.cfg.shadow_max_duration
                            )
                        ));
                        self.record(model, version, "inconclusive", &d.record, &lease)
                            .await;
                        self.note(
                            model,
                            "inconclusive",
                            Some(version),
                            d.record.reason.clone(),
                        );
                        self.end_shadow(model, Some(lease)).await;
                    }
                    _ => {}
                }
            }
            Phase::Watch {
                version,
                previous,
                started_ms,
            } => {
                if run.kind != ShadowKind::Watch || run.version != previous {
                    return;
                }
                self.metrics
                    .shadow_pairs
                    .with_label_values(&[model, "watch"])
                    .set(run.paired as i64);
                // The previous model plays the candidate: "Promote" means it is significantly
                // better than the new live model.
                let d = shadow_decision(&run.tally, &l.cfg.watch_policy);
                let over = now.timestamp_millis() - started_ms >= l.cfg.watch.as_millis() as i64;
                if d.decision == Decision::Promote {
                    self.rollback(model, version, previous, &lease, d).await;
                } else if over || d.decision == Decision::Reject {
                    self.note(
                        model,
                        "watch_passed",
                        Some(version),
                        format!(
                            "the new live version held up against the previous one (the challenger): {}",
                            d.record.reason
                        ),
                    );
                    self.end_shadow(model, Some(lease)).await;
                }
            }
            _ => {}
        }
    }

    async fn record(
        &self,
        model: &str,
        version: u64,
        action: &str,
        record: &DecisionRecord,
        lease: &Lease,
    ) {
        let entry = DecisionEntry {
            at_ms: (self.clock)().timestamp_millis(),
            action: action.to_owned(),
            note: record.reason.clone(),
            replaced: None,
            record: Some(record.clone()),
        };
        match self.fenced(lease) {
            Ok(r) => {
                if let Err(e) = r.add_decision(model, version, entry).await {
                    tracing::error!(model, version, error = %e, "cannot store the decision record");
                }
            }
            Err(e) => tracing::error!(model, error = %e, "no registry"),
        }
        tracing::info!(
            model,
            version,
            action,
            test = ?record.test,
            statistic = ?record.statistic,
            p_value = ?record.p_value,
            b = record.counts.b,
            c = record.counts.c,
            n = record.counts.n,
            reason = %record.reason,
            "shadow decision"
        );
    }

    async fn promote(
        &mut self,
        model: &str,
        version: u64,
        lease: &Lease,
        d: ShadowDecision,
        run: &ShadowRun,
    ) {
        let registry = match self.fenced(lease) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(model, error = %e, "no registry");
                return;
            }
        };
        let note = format!("shadow gate: {}", d.record.reason);
        let aliases = match registry
            .promote(model, version, &note, Some(d.record.clone()))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(model, version, error = %e, "promotion failed; the live model stays");
                return;
            }
        };
        tracing::info!(model, version, pairs = run.paired, "candidate promoted");
        self.after_swap(model, "promoted", version, aliases.previous, &note)
            .await;
        let l = self.loops.get_mut(model).expect("exists");
        let reference = std::mem::take(&mut l.reference);
        let (watch, policy) = (l.cfg.watch, l.cfg.watch_policy.clone());
        self.switch_reference(model, reference).await;
        match (aliases.previous, watch.is_zero()) {
            (Some(previous), false) => match self.load_version(model, previous).await {
                Ok(m) => {
                    self.ask_set_shadow(model, ShadowKind::Watch, previous, Arc::new(m), policy)
                        .await;
                    self.set_phase(
                        model,
                        Phase::Watch {
                            version,
                            previous,
                            started_ms: (self.clock)().timestamp_millis(),
                        },
                    );
                    let watch = humantime_serde::re::humantime::format_duration(watch);
                    self.note(
                        model,
                        "watch_started",
                        Some(version),
                        format!(
                            "version {previous} is shadowed beside the new live version for {watch}"
                        ),
                    );
                    self.save(model).await;
                }
                Err(e) => {
                    tracing::error!(model, error = %e, "cannot load the previous version; no watch");
                    self.end_shadow(model, None).await;
                }
            },
            _ => self.end_shadow(model, None).await,
        }
    }

    async fn rollback(
        &mut self,
        model: &str,
        version: u64,
        previous: u64,
        lease: &Lease,
        d: ShadowDecision,
    ) {
        let note = format!(
            "watch after promotion: version {version} is significantly worse than {previous}: {}",
            d.record.reason
        );
        let registry = match self.fenced(lease) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(model, error = %e, "no registry");
                return;
            }
        };
        if let Err(e) = registry.rollback(model, &note).await {
            tracing::error!(model, error = %e, "automatic rollback failed");
            return;
        }
        self.record(model, version, "rollback", &d.record, lease)
            .await;
        self.after_swap(model, "rolled_back", previous, Some(version), &note)
            .await;
        // The reference of the restored model: the newest labelled data.
        let rows = self.buffer_reference(model, previous).await;
        self.switch_reference(model, rows).await;
        self.end_shadow(model, None).await;
    }

    /// Announces an alias swap and records it.
    async fn after_swap(
        &mut self,
        model: &str,
        action: &str,
        live: u64,
        replaced: Option<u64>,
        note: &str,
    ) {
        let checksum = match self.registry() {
            Ok(r) => r
                .show(model, live)
                .await
                .map(|v| v.checksum)
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let notice = Notice {
            action: action.to_owned(),
            model: model.to_owned(),
            version: live,
            replaced,
            checksum,
            artifact: format!(
                "{}#registry/{model}/v/{live}/artifact",
                self.announcer.location
            ),
            at: (self.clock)(),
        };
        self.announcer.announce(&notice).await;
        self.note(model, action, Some(live), note.to_owned());
    }

    /// The newest labelled examples (up to the training buffer) as reference rows of `version`.
    async fn buffer_reference(&self, model: &str, version: u64) -> Vec<ReferenceRow> {
        let Some(Some((examples, _))) = self
            .ask(|tx| LearnControl::Examples(model.to_owned(), tx))
            .await
        else {
            return Vec::new();
        };
        match self.load_version(model, version).await {
            Ok(m) => reference_rows(&m, &examples),
            Err(_) => Vec::new(),
        }
    }

    async fn switch_reference(&self, model: &str, rows: Vec<ReferenceRow>) {
        if rows.is_empty() {
            return;
        }
        if let Some(n) = self
            .ask(|tx| LearnControl::SetReference(model.to_owned(), rows, tx))
            .await
        {
            tracing::info!(
                model,
                rows = n,
                "drift reference switched to the live model's training data"
            );
        }
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Retrain(model, by, reply) => {
                let r = match self.loops.get_mut(&model) {
                    None => Err(format!(
                        "model {model:?} is not retrained here (no [models.{model}.retrain] section)"
                    )),
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

    /// A promotion (`Some(version)`) or rollback (`None`) by hand, under the model's lease.
    async fn manual_swap(
        &mut self,
        model: &str,
        version: Option<u64>,
        by: &str,
    ) -> Result<serde_json::Value, String> {
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
                .await
                .map_err(err_text)?
                .ok_or("another instance is retraining this model; try again later")?,
        };
        let registry = self.fenced(&lease)?;
        let note = format!("by hand ({by})");
        let r = match version {
            Some(v) => registry.promote(model, v, &note, None).await,
            None => registry.rollback(model, &note).await,
        };
        let aliases = match r {
            Ok(a) => a,
            Err(e) => {
                let _ = self.store.release_lease(&lease).await;
                return Err(e.to_string());
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
        serde_json::to_value(aliases).map_err(err_text)
    }
}

/// Reference rows: the examples' features and what `model` predicts on them.
pub fn reference_rows(model: &TrainedModel, examples: &[Example]) -> Vec<ReferenceRow> {
    examples
        .iter()
        .map(|e| ReferenceRow {
            prediction: Some(model.predict(&e.features)),
            features: e.features.clone(),
        })
        .collect()
}

fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "driftd".into())
}

/// What a training job needs; it runs as its own task.
struct JobCtx {
    model: String,
    trigger: String,
    /// Learn from the newest this many examples only (after a drift alert).
    recent: Option<usize>,
    cfg: RetrainConfig,
    task: Task,
    registry: Registry<FencedStore>,
    learn: mpsc::Sender<LearnControl>,
    metrics: Arc<Metrics>,
}

/// The fit and the validation, off the async runtime.
struct Fitted {
    candidate: TrainedModel,
    metrics: driftd_retrain::ValidationMetrics,
    gate: GateDecision,
    reference: Vec<ReferenceRow>,
    train_len: usize,
    valid_len: usize,
}

impl JobCtx {
    async fn run(self) -> JobResult {
        let started = std::time::Instant::now();
        let r = self.run_inner().await;
        let outcome = match &r {
            JobResult::Candidate { .. } => "candidate",
            JobResult::Rejected { .. } => "rejected",
            JobResult::Failed(_) => "failed",
        };
        self.metrics
            .retrain_duration
            .with_label_values(&[&self.model, outcome])
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .retrains
            .with_label_values(&[&self.model, outcome])
            .inc();
        r
    }

    async fn run_inner(&self) -> JobResult {
        let model = self.model.as_str();
        let (tx, rx) = oneshot::channel();
        if self
            .learn
            .send(LearnControl::Examples(model.to_owned(), tx))
            .await
            .is_err()
        {
            return JobResult::Failed("the event source has stopped".into());
        }
        let Ok(Some((mut examples, _))) = rx.await else {
            return JobResult::Failed("no training data for this model".into());
        };
        if let Some(n) = self.recent
            && n < examples.len()
        {
            examples.drain(..examples.len() - n);
        }
        if examples.len() < self.cfg.min_examples {
            return JobResult::Failed(format!(
                "only {} labelled examples; a retrain needs min_examples = {}",
                examples.len(),
                self.cfg.min_examples
            ));
        }
        let live = match self.registry.load_alias(model, Alias::Live).await {
            Ok((m, _)) => Some(m),
            Err(RegistryError::NoAlias { .. } | RegistryError::UnknownModel(_)) => None,
            Err(e) => {
                // A live model that fails verification is not compared against: that would let a
                // tampered artifact decide. Stop and say so.
                return JobResult::Failed(format!(
                    "cannot load the live model to compare with: {e}"
                ));
            }
        };
        let (cfg, task) = (self.cfg.clone(), self.task);
        let n = examples.len();
        self.metrics
            .retrain_examples
            .with_label_values(&[model])
            .set(n as i64);
        let fitted = tokio::task::spawn_blocking(move || -> Result<Fitted, String> {
            let (train_set, valid) = split_by_time(examples, cfg.validation_fraction);
            let algo = cfg.algorithm_for(task);
            let candidate = train(task, &algo, &cfg.encoder, &train_set).map_err(err_text)?;
            let metrics = evaluate(&candidate, &valid).map_err(err_text)?;
            let live_metrics = match &live {
                Some(l) => Some(evaluate(l, &valid).map_err(err_text)?),
                None => None,
            };
            let gate = validation_gate(&metrics, live_metrics.as_ref(), cfg.validation_margin);
            let reference = reference_rows(&candidate, &train_set);
            Ok(Fitted {
                candidate,
                metrics,
                gate,
                reference,
                train_len: train_set.len(),
                valid_len: valid.len(),
            })
        })
        .await;
        let f = match fitted {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return JobResult::Failed(format!("fit failed: {e}")),
            Err(e) => return JobResult::Failed(format!("fit task failed: {e}")),
        };
        tracing::info!(
            model,
            train = f.train_len,
            validation = f.valid_len,
            pass = f.gate.pass,
            reason = %f.gate.reason,
            "candidate fitted"
        );
        let reg = match self
            .registry
            .register(model, &f.candidate, Some(f.metrics), &self.trigger)
            .await
        {
            Ok(r) => r,
            Err(e) => return JobResult::Failed(format!("cannot register the candidate: {e}")),
        };
        if !f.gate.pass {
            let entry = DecisionEntry {
                at_ms: Utc::now().timestamp_millis(),
                action: "reject".into(),
                note: format!("validation gate: {}", f.gate.reason),
                replaced: None,
                record: None,
            };
            if let Err(e) = self.registry.add_decision(model, reg.version, entry).await {
                tracing::error!(model, error = %e, "cannot store the rejection");
            }
            return JobResult::Rejected {
                version: reg.version,
                gate: f.gate,
            };
        }
        if let Err(e) = self
            .registry
            .set_alias(model, Alias::Candidate, Some(reg.version))
            .await
        {
            return JobResult::Failed(format!("cannot mark the candidate: {e}"));
        }
        tracing::info!(model, version = reg.version, checksum = %reg.checksum, "candidate registered");
        JobResult::Candidate {
            version: reg.version,
            model: Arc::new(f.candidate),
            reference: f.reference,
            gate: f.gate,
            examples: n,
        }
    }
}

#[cfg(test)]
mod tests;
