//! The alert task of `driftd run`: every `evaluation_interval` it reads the monitors' samples
//! (from the [`SampleBoard`]) and the intake counters, ticks the [`Engine`], queues the
//! notifications in the [`Outbox`], stores engine state and outbox in one atomic write, and only
//! then sends — each delivery in its own task, so a slow relay never delays evaluation.
//!
//! The guarantee (see [`super::sinks`] for the details): a queued notification survives any
//! restart and is sent once it can be; alert state survives restarts, so a firing alert is not
//! notified again before its repeat interval; the only possible duplicate is a crash between a
//! relay's acknowledgment and the next store write, and it carries the same `Message-ID`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::engine::{
    AlertState, AlertView, Engine, EngineState, InhibitConfig, Silence, SilenceConfig, SilenceError,
};
use super::sinks::{DeliveryError, Dispatcher, Outbox, SinkSetupError};
use super::{AlertingConfig, Labels, Notification, Sample, Status};
use crate::contract::sample::Firing;
use crate::contract::sample::SampleBoard;
use crate::store::{AnyStore, StateStore, StoreError};
use crate::telemetry::metrics::Metrics;

/// Key of the engine's state in the state store.
pub const ENGINE_KEY: &str = "alert/engine";

/// `GET /v1/alerts`: the active alerts and where the engine stands. `evaluated_at` with
/// `undelivered == 0` is what a client (or a test) waits on to know that every notification due by
/// then has been delivered: nothing more can arrive for alerts that stay as they are before the
/// next group interval, so "exactly n emails" needs no quiet window.
#[derive(Debug, Clone, Serialize)]
pub struct AlertsNow {
    /// Every pending or firing alert.
    pub alerts: Vec<AlertView>,
    /// The last evaluation (and flush of due groups); none yet after a start.
    pub evaluated_at: Option<DateTime<Utc>>,
    /// Notifications queued or being delivered.
    pub undelivered: usize,
}

/// Requests from the admin API, answered by the task that owns the engine.
#[derive(Debug)]
pub enum Command {
    /// The active alerts, with when the engine last evaluated and what waits for delivery.
    Alerts(oneshot::Sender<AlertsNow>),
    /// The active and pending silences.
    Silences(oneshot::Sender<Vec<Silence>>),
    /// Adds a silence; answers its id, or why it was refused. Stored before the answer.
    AddSilence(SilenceConfig, oneshot::Sender<Result<String, AddError>>),
    /// Expires a silence now; answers whether it existed. Stored before the answer.
    ExpireSilence(String, oneshot::Sender<bool>),
    /// The inhibition rules, with their ids.
    Inhibitions(oneshot::Sender<Vec<(String, InhibitConfig)>>),
    /// Adds an inhibition rule; answers its id, or why it was refused. Stored before the answer.
    AddInhibit(InhibitConfig, oneshot::Sender<Result<String, AddError>>),
    /// Removes an inhibition rule added through the API; answers whether it existed.
    RemoveInhibit(String, oneshot::Sender<bool>),
    /// A new configuration (SIGHUP).
    Reload(Box<AlertingConfig>),
}

/// Why a silence or an inhibition rule was not added (the answer to [`Command::AddSilence`] and
/// [`Command::AddInhibit`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// Refused as it is; the message says which field is wrong.
    #[error(transparent)]
    Rejected(#[from] SilenceError),
    /// Valid, but the state store did not take it, so it was undone rather than kept unsaved.
    #[error("the state store is unavailable; try again")]
    StoreUnavailable,
}

/// Key of the intake baseline (counters and when they last moved) in the state store.
pub const DERIVED_KEY: &str = "alert/derived";

/// Intake counters turned into rates, staleness and the reject ratio between two ticks. Stored
/// with the engine state (wall-clock times), so a restart continues the same baseline: a model
/// silent before the restart stays stale after it, and no rate sample goes missing.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Derived {
    last: Option<(DateTime<Utc>, BTreeMap<String, u64>, u64)>,
    last_change: BTreeMap<String, DateTime<Utc>>,
}

impl Derived {
    /// Samples of `event_rate`, `seconds_since_last_event` (per model) and `reject_ratio`, from
    /// the counters now and at the previous call.
    pub fn samples(
        &mut self,
        now: DateTime<Utc>,
        totals: BTreeMap<String, u64>,
        rejected: u64,
    ) -> Vec<Sample> {
        let mut out = Vec::new();
        let sample = |metric: &str, model: Option<&str>, value: f64| {
            let mut labels = Labels::new();
            if let Some(m) = model {
                labels.insert("model".into(), m.to_owned());
            }
            Sample {
                metric: metric.to_owned(),
                labels,
                value,
                detail: BTreeMap::new(),
            }
        };
        let seconds =
            |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_milliseconds().max(0) as f64 / 1000.0;
        if let Some((then, before, rejected_before)) = &self.last {
            let secs = seconds(*then, now).max(1e-3);
            let mut accepted = 0u64;
            for (model, n) in &totals {
                let delta = n.saturating_sub(before.get(model).copied().unwrap_or(0));
                accepted += delta;
                if delta > 0 {
                    self.last_change.insert(model.clone(), now);
                }
                out.push(sample("event_rate", Some(model), delta as f64 / secs));
            }
            let rejected_delta = rejected.saturating_sub(*rejected_before);
            let all = accepted + rejected_delta;
            let ratio = if all == 0 {
                0.0
            } else {
                rejected_delta as f64 / all as f64
            };
            out.push(sample("reject_ratio", None, ratio));
        }
        for model in totals.keys() {
            // A model first seen now counts as just seen (staleness starts now).
            let since = *self.last_change.entry(model.clone()).or_insert(now);
            out.push(sample(
                "seconds_since_last_event",
                Some(model),
                seconds(since, now),
            ));
        }
        self.last = Some((now, totals, rejected));
        out
    }
}

/// The running alert task's inputs.
pub struct AlertTask {
    cfg: AlertingConfig,
    engine: Engine,
    outbox: Outbox,
    dispatcher: Arc<Dispatcher>,
    store: AnyStore,
    board: Arc<SampleBoard>,
    metrics: Arc<Metrics>,
    derived: Derived,
    /// Notifications being delivered now (not attempted again until they finish), by task.
    in_flight: BTreeSet<String>,
    tasks: HashMap<tokio::task::Id, String>,
    /// Ids of the outbox as last stored: these may be sent even while a newer state waits to be
    /// stored (a state store outage must not silence alerts already queued).
    stored: BTreeSet<String>,
    /// Engine state or outbox changed since the last successful store write.
    dirty: bool,
    /// Firing alerts after each tick, for the trainer's triggers.
    firing: Option<watch::Sender<Vec<Firing>>>,
    /// Per model, what the retraining loop does about its alerts (the notifications' "actions").
    retrained: BTreeMap<String, Vec<String>>,
    /// When the last tick evaluated the rules and flushed the due groups.
    evaluated_at: Option<DateTime<Utc>>,
}

type Delivered = (String, Result<(), DeliveryError>);

/// Why the alert task could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A receiver or the SMTP relay is misconfigured. (Not a `source`: the message already names
    /// its causes, which an error chain would print twice.)
    #[error("{0}")]
    Sinks(SinkSetupError),
    /// The state store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored state does not decode.
    #[error("the stored {what} ({key}) is unreadable: {detail}")]
    Unreadable {
        /// What (`alert state`, `outbox`).
        what: &'static str,
        /// Its key.
        key: &'static str,
        /// Why.
        detail: String,
    },
}

impl AlertTask {
    /// Builds the task, restoring the engine state and the outbox from the store.
    pub async fn load(
        cfg: AlertingConfig,
        store: AnyStore,
        board: Arc<SampleBoard>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StartError> {
        let dispatcher = Dispatcher::new(
            &cfg.receivers(),
            cfg.smtp.as_ref(),
            cfg.dashboard_url.as_deref(),
            metrics.clone(),
        )
        .map_err(StartError::Sinks)?;
        let state: Option<EngineState> = match store.get(ENGINE_KEY).await? {
            Some(b) => Some(
                serde_json::from_slice(&b).map_err(|e| StartError::Unreadable {
                    what: "alert state",
                    key: ENGINE_KEY,
                    detail: e.to_string(),
                })?,
            ),
            None => None,
        };
        let derived: Derived = match store.get(DERIVED_KEY).await? {
            // An unreadable baseline only costs one interval of rates: start afresh.
            Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
            None => Derived::default(),
        };
        let outbox = match store.get(Outbox::KEY).await? {
            Some(b) => Outbox::from_bytes(&b).map_err(|e| StartError::Unreadable {
                what: "outbox",
                key: Outbox::KEY,
                detail: e.to_string(),
            })?,
            None => Outbox::new(),
        };
        let engine = match state {
            Some(s) => Engine::restore(cfg.engine(), s),
            None => Engine::new(cfg.engine()),
        };
        if !outbox.is_empty() {
            tracing::info!(
                queued = outbox.len(),
                "notifications queued before the restart will be sent"
            );
        }
        dispatcher.record_queue(&outbox);
        let stored = outbox.iter().map(|q| q.notification.id.clone()).collect();
        Ok(AlertTask {
            cfg,
            engine,
            outbox,
            dispatcher: Arc::new(dispatcher),
            store,
            board,
            metrics,
            derived,
            in_flight: BTreeSet::new(),
            tasks: HashMap::new(),
            stored,
            dirty: false,
            firing: None,
            retrained: BTreeMap::new(),
            evaluated_at: None,
        })
    }

    /// Publishes the firing alerts after every tick (for the trainer), and names the models that
    /// are retrained with the rules that trigger it (for the notifications' "what driftd did").
    pub fn with_trainer(
        mut self,
        firing: watch::Sender<Vec<Firing>>,
        retrained: BTreeMap<String, Vec<String>>,
    ) -> Self {
        self.firing = Some(firing);
        self.retrained = retrained;
        self
    }

    /// Runs until shutdown: ticks, admin commands and delivery results, in one loop that owns
    /// the engine and the outbox.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // The first evaluation waits one interval: the source reopens its shards (restoring the
        // intake counters) first, so no sample is briefly absent, which would resolve alerts.
        let every = self.cfg.evaluation_interval;
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deliveries: JoinSet<Delivered> = JoinSet::new();
        loop {
            // Retries are due at their own time, not only at evaluation ticks.
            let next_due = self.outbox.next_due().map(|t| {
                let wait = (t - Utc::now()).to_std().unwrap_or_default();
                tokio::time::Instant::now() + wait.max(std::time::Duration::from_millis(10))
            });
            tokio::select! {
                _ = interval.tick() => {
                    self.tick(Utc::now());
                    self.persist().await;
                    self.dispatch(&mut deliveries);
                }
                Some(done) = deliveries.join_next_with_id(), if !deliveries.is_empty() => {
                    self.finished(done);
                    self.persist().await;
                    self.dispatch(&mut deliveries);
                }
                _ = tokio::time::sleep_until(next_due.unwrap_or_else(tokio::time::Instant::now)), if next_due.is_some() => {
                    self.dispatch(&mut deliveries);
                }
                Some(cmd) = commands.recv() => {
                    if let Some(new_interval) = self.command(cmd).await
                        && new_interval != interval.period()
                    {
                        interval = tokio::time::interval_at(tokio::time::Instant::now() + new_interval, new_interval);
                        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    }
                }
                _ = async { let _ = shutdown.wait_for(|v| *v).await; } => break,
            }
        }
        // Deliveries under way get a moment to finish, so an acknowledged one is not re-sent; with
        // none under way the task ends at once (a one-shot run exits when its input is done).
        let grace = tokio::time::sleep(std::time::Duration::from_secs(2));
        tokio::pin!(grace);
        while !deliveries.is_empty() {
            tokio::select! {
                Some(done) = deliveries.join_next_with_id() => self.finished(done),
                _ = &mut grace => break,
            }
        }
        deliveries.abort_all();
        self.dirty = true;
        self.persist().await;
    }

    fn tick(&mut self, now: DateTime<Utc>) {
        self.evaluated_at = Some(now);
        let mut samples = self.board.snapshot();
        let (totals, rejected) = self.metrics.event_totals();
        samples.extend(self.derived.samples(now, totals, rejected));
        let notifications = self.engine.tick(now, &samples);
        for n in notifications {
            self.queue(n, now);
        }
        self.publish_alerts();
        if let Some(tx) = &self.firing {
            let firing = self
                .engine
                .alerts()
                .into_iter()
                .filter(|a| a.state == AlertState::Firing)
                .filter_map(|a| {
                    Some(Firing {
                        model: a.labels.get("model")?.clone(),
                        since: a.firing_since?,
                        rule: a.rule,
                    })
                })
                .collect();
            tx.send_replace(firing);
        }
        // The engine's state moves with time (pending → firing, group timers) even without
        // notifications; storing it every tick keeps restarts exact.
        self.dirty = true;
    }

    fn queue(&mut self, mut n: Notification, now: DateTime<Utc>) {
        for a in n.alerts.iter().filter(|a| a.status == Status::Firing) {
            let Some(model) = a.labels.get("model") else {
                continue;
            };
            if let Some(rules) = self.retrained.get(model) {
                let action = if rules.contains(&a.rule) {
                    format!(
                        "retraining: {} triggers a retrain of {model} (subject to its minimum interval and new labels)",
                        a.rule
                    )
                } else {
                    format!(
                        "retraining: configured for {model}; {} does not trigger it (on_alerts = {rules:?})",
                        a.rule
                    )
                };
                if !n.actions.contains(&action) {
                    n.actions.push(action);
                }
            }
        }
        if n.actions.is_empty() {
            n.actions
                .push("retraining: not configured for this model (driftd only alerts)".to_owned());
        }
        tracing::info!(
            id = %n.id,
            receiver = %n.receiver,
            group = %n.group_key,
            status = ?n.status,
            alerts = n.alerts.len(),
            "notification queued"
        );
        self.outbox.push(n, now);
    }

    fn publish_alerts(&self) {
        let m = &self.metrics;
        m.alerts.reset();
        let (mut silenced, mut inhibited) = (0i64, 0i64);
        for a in self.engine.alerts() {
            let state = match a.state {
                AlertState::Pending => "pending",
                AlertState::Firing => "firing",
            };
            let severity = a.labels.get("severity").map_or("", String::as_str);
            m.alerts
                .with_label_values(&[&a.rule, severity, state])
                .inc();
            silenced += i64::from(a.silenced);
            inhibited += i64::from(a.inhibited);
        }
        m.alerts_suppressed
            .with_label_values(&["silenced"])
            .set(silenced);
        m.alerts_suppressed
            .with_label_values(&["inhibited"])
            .set(inhibited);
    }

    /// Stores engine state and outbox in one atomic write. On failure nothing is sent that is
    /// not already stored (the next tick tries again).
    async fn persist(&mut self) -> bool {
        if !self.dirty {
            return true;
        }
        let engine = match serde_json::to_vec(self.engine.state()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise the alert state");
                return false;
            }
        };
        let outbox = match self.outbox.to_bytes() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise the outbox");
                return false;
            }
        };
        let derived = serde_json::to_vec(&self.derived).unwrap_or_default();
        let entries = vec![
            (ENGINE_KEY.to_owned(), engine),
            (Outbox::KEY.to_owned(), outbox),
            (DERIVED_KEY.to_owned(), derived),
        ];
        match self.store.put_all(entries).await {
            Ok(()) => {
                self.dirty = false;
                self.stored = self
                    .outbox
                    .iter()
                    .map(|q| q.notification.id.clone())
                    .collect();
                true
            }
            Err(e) => {
                self.metrics.store_errors.with_label_values(&["put"]).inc();
                tracing::warn!(error = %e, "cannot store the alert state; notifications wait until it is stored");
                false
            }
        }
    }

    /// Starts a delivery for every due notification — only when everything queued is stored.
    fn dispatch(&mut self, deliveries: &mut JoinSet<Delivered>) {
        for n in self.outbox.due(Utc::now()) {
            // Only what is stored is sent (while a newer state waits to be stored, what the last
            // stored outbox holds still goes out).
            if (self.dirty && !self.stored.contains(&n.id)) || !self.in_flight.insert(n.id.clone())
            {
                continue;
            }
            let d = self.dispatcher.clone();
            let id = n.id.clone();
            let handle = deliveries.spawn(async move {
                let r = d.deliver(&n).await;
                (n.id, r)
            });
            self.tasks.insert(handle.id(), id);
        }
    }

    /// A delivery task ended: its result, or — if the task itself failed — a retryable error,
    /// so the notification is attempted again rather than stuck "in flight".
    fn finished(&mut self, done: Result<(tokio::task::Id, Delivered), tokio::task::JoinError>) {
        let (task, id, result) = match done {
            Ok((task, (id, result))) => (task, id, result),
            Err(e) => {
                let Some(id) = self.tasks.get(&e.id()).cloned() else {
                    return;
                };
                let err = DeliveryError::transient(format!("the delivery task failed: {e}"));
                (e.id(), id, Err(err))
            }
        };
        self.tasks.remove(&task);
        self.delivered(&id, result, Utc::now());
    }

    fn delivered(&mut self, id: &str, result: Result<(), DeliveryError>, now: DateTime<Utc>) {
        self.in_flight.remove(id);
        self.dirty = true;
        // Records the outcome in the outbox (removed, rescheduled, or given up: logged and
        // counted there) and updates the queue gauge.
        self.dispatcher
            .settle(&mut self.outbox, id, result, now, &self.cfg.delivery);
    }

    /// Handles an admin command; returns a new evaluation interval after a reload.
    async fn command(&mut self, cmd: Command) -> Option<std::time::Duration> {
        let now = Utc::now();
        match cmd {
            Command::Alerts(reply) => {
                let _ = reply.send(AlertsNow {
                    alerts: self.engine.alerts(),
                    evaluated_at: self.evaluated_at,
                    undelivered: self.outbox.len(),
                });
            }
            Command::Silences(reply) => {
                let _ = reply.send(self.engine.silences(now));
            }
            Command::AddSilence(s, reply) => {
                let r = self.engine.add_silence(s, now);
                if let Ok(id) = &r {
                    self.dirty = true;
                    if !self.persist().await {
                        // Not stored: undone, so a retry does not make a second silence.
                        self.engine.expire_silence(id, now);
                        let _ = reply.send(Err(AddError::StoreUnavailable));
                        return None;
                    }
                }
                let _ = reply.send(r.map_err(AddError::from));
            }
            Command::Inhibitions(reply) => {
                let _ = reply.send(self.engine.inhibitions());
            }
            Command::AddInhibit(cfg, reply) => {
                let r = self.engine.add_inhibit(cfg, now);
                if let Ok(id) = &r {
                    self.dirty = true;
                    if !self.persist().await {
                        self.engine.remove_inhibit(id, now);
                        let _ = reply.send(Err(AddError::StoreUnavailable));
                        return None;
                    }
                }
                let _ = reply.send(r.map_err(AddError::from));
            }
            Command::RemoveInhibit(id, reply) => {
                let found = self.engine.remove_inhibit(&id, now);
                if found {
                    self.dirty = true;
                    self.persist().await;
                }
                let _ = reply.send(found);
            }
            Command::ExpireSilence(id, reply) => {
                let found = self.engine.expire_silence(&id, now);
                if found {
                    self.dirty = true;
                    self.persist().await;
                }
                let _ = reply.send(found);
            }
            Command::Reload(cfg) => {
                match Dispatcher::new(
                    &cfg.receivers(),
                    cfg.smtp.as_ref(),
                    cfg.dashboard_url.as_deref(),
                    self.metrics.clone(),
                ) {
                    Ok(d) => {
                        self.dispatcher = Arc::new(d);
                        self.engine.reload(cfg.engine());
                        let interval = cfg.evaluation_interval;
                        self.cfg = *cfg;
                        self.dirty = true;
                        tracing::info!("alerting configuration reloaded");
                        return Some(interval);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "alerting configuration not reloaded");
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EmbeddedStore;

    /// With no delivery under way, the task ends as soon as shutdown is asked for: no grace
    /// period (virtual time, so this measures the task's own waits, not the machine).
    #[tokio::test(start_paused = true)]
    async fn shutdown_with_nothing_in_flight_ends_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = AnyStore::Embedded(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
        let task = AlertTask::load(
            AlertingConfig::default(),
            store,
            Arc::default(),
            Arc::new(Metrics::new()),
        )
        .await
        .unwrap();
        let (_tx, commands) = mpsc::channel(1);
        let (stop, shutdown) = watch::channel(false);
        let run = tokio::spawn(task.run(commands, shutdown));
        tokio::task::yield_now().await;
        let asked = tokio::time::Instant::now();
        stop.send(true).unwrap();
        run.await.unwrap();
        assert!(
            asked.elapsed() < std::time::Duration::from_millis(100),
            "the task waited {:?} after shutdown",
            asked.elapsed()
        );
    }
}
