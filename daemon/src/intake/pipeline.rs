//! The intake pipeline: parse, validate, apply, and keep per-shard state ready for checkpoints.
//!
//! A *shard* is one replayable input stream with offsets: a Kafka topic-partition, or an events
//! file. Each shard's state — per-model counts (later: per-model monitor state) and rejection counts
//! — lives in a [`ShardState`] together with `next_offset`, the offset of the first event whose
//! effect is *not* in the state. A checkpoint writes shard states atomically to the state store.
//!
//! **The guarantee.** On (re)start, or when a shard is (re)assigned, its state is loaded from the
//! last checkpoint and every event below `next_offset` is skipped as a duplicate. Kafka offsets are
//! committed only *after* the checkpoint that covers them is written, so the broker never resumes
//! past a checkpoint. Therefore, after any crash, the effect of each event in the log is applied
//! exactly once to the state (effectively-once processing). Side outputs are at-least-once: a
//! rejected event can reach the dead-letter topic twice if the daemon crashes between producing it
//! and the next checkpoint (the rejects file is truncated back to its checkpointed length, so it is
//! exact).
//!
//! The pipeline is synchronous: one task owns it, so there are no locks on the hot path.

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::HashMap;
use yoke::Yoke;

use prometheus::IntCounter;

use crate::contract::event::{
    Event, EventKind, ParseOptions, RejectReason, Rejection, parse_event,
};
use crate::contract::sample::SampleBoard;
use crate::intake::order::{OrderKey, OrderSettings, Orderer, Release, kind_rank};
use crate::intake::policy::ModelPolicy;
use crate::intake::publish::init_onset_series;
use crate::intake::shard::{
    CHECKPOINT_VERSION, CheckpointError, HeldEvent, MONITOR_INDEX_KEY, ShardState, checkpoint_key,
    join_prefix, monitor_key,
};
use crate::monitor::reference::reference_key;
use crate::monitor::{ModelMonitor, MonitorSettings};
use crate::retraining::learn::Learner;
use crate::telemetry::metrics::Metrics;
use adapting::Adapting;
use observing::{BATCH_MAX, Watch};

/// What happened to one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted and applied.
    Accepted {
        /// Prediction or feedback.
        kind: EventKind,
    },
    /// Rejected; the caller routes it to the dead-letter sink.
    Rejected(Rejection),
    /// Already applied before the last checkpoint; skipped.
    Duplicate,
}

struct ModelHandles {
    predictions: IntCounter,
    feedback: IntCounter,
}

/// Parses, validates and applies events; owns the state of every open shard.
pub struct Pipeline {
    metrics: Arc<Metrics>,
    opts: ParseOptions,
    policy: ModelPolicy,
    shards: HashMap<Arc<str>, ShardState>,
    /// Per shard, the highest counts already added to the Prometheus counters in this process. A
    /// shard that is revoked and assigned again (or replayed from an older checkpoint) moves the
    /// counters only once it passes these marks, so counters stay monotonic and never count an
    /// event twice.
    exported: HashMap<Arc<str>, ShardState>,
    models: HashMap<String, ModelHandles>,
    rejected: Vec<IntCounter>,
    since_checkpoint: u64,
    monitoring: Option<MonitorSettings>,
    monitors: BTreeMap<String, Watch>,
    /// Released events not yet applied to the monitors and learners ([`Pipeline::flush`]).
    batch: Vec<ParsedEvent>,
    /// Where the models of a batch are monitored in parallel (`None`: this thread).
    pool: Option<Arc<rayon::ThreadPool>>,
    board: Arc<SampleBoard>,
    learners: BTreeMap<String, Learner>,
    order: Orderer,
    /// Held events kept parsed, by shard and offset (see [`Pipeline::process`]).
    parsed: HashMap<(Arc<str>, u64), ParsedEvent>,
    /// [`PUBLISH_EVERY`], settable for tests.
    publish_every: std::time::Duration,
    /// Records of other servers' formats: settings and halves waiting for their pair.
    adapter: Adapting,
}

/// An event together with the bytes it borrows from.
pub type ParsedEvent = Yoke<Event<'static>, Arc<[u8]>>;

/// What the parse stage hands the pipeline for one input: the event, or why it was rejected.
pub type Parsed = Result<ParsedEvent, Rejection>;

/// Parses an event into a copy of its bytes that the event borrows from: what an event needs to
/// wait for the event-time order, and what a parse stage on another thread produces (see
/// [`Pipeline::process_parsed`]). Pure: the same bytes give the same result on any thread.
pub fn parse_owned(input: &[u8], opts: &ParseOptions) -> Parsed {
    Yoke::try_attach_to_cart(Arc::from(input), |b: &[u8]| parse_event(b, opts))
}

/// Most held events kept parsed: about 1.5 KB each with 25 features, so the parsed copies stay
/// within some 15 MB while the order holds up to `max_buffered` events (a lagging partition, a
/// catch-up); the rest are parsed again when released.
pub const PARSED_HELD_MAX: usize = 10_000;

impl Pipeline {
    /// A pipeline with no open shard.
    pub fn new(metrics: Arc<Metrics>, opts: ParseOptions, policy: ModelPolicy) -> Self {
        let rejected = RejectReason::ALL
            .iter()
            .map(|r| metrics.rejected.with_label_values(&[r.as_str()]))
            .collect();
        Pipeline {
            metrics,
            opts,
            policy,
            shards: HashMap::default(),
            exported: HashMap::default(),
            models: HashMap::default(),
            rejected,
            since_checkpoint: 0,
            monitoring: None,
            monitors: BTreeMap::new(),
            batch: Vec::new(),
            pool: None,
            board: Arc::default(),
            learners: BTreeMap::new(),
            order: Orderer::new(OrderSettings::default()),
            publish_every: PUBLISH_EVERY,
            parsed: HashMap::default(),
            adapter: Adapting::default(),
        }
    }

    /// Sets how often, at most, a model's gauges and samples are republished for a look alone
    /// (default [`PUBLISH_EVERY`]).
    pub fn with_publish_every(mut self, every: std::time::Duration) -> Self {
        self.publish_every = every;
        self
    }

    /// Sets the event-time order's settings (before any shard is opened).
    pub fn with_order(mut self, settings: OrderSettings) -> Self {
        self.order = Orderer::new(settings);
        self
    }

    /// Whether events are held back for the event-time order: only when something depends on
    /// their order (monitors or learners).
    fn ordered(&self) -> bool {
        self.monitoring.is_some() || !self.policy.learn.is_empty()
    }

    /// Marks a shard idle (nothing delivered for the idle timeout) or active, and releases what
    /// that makes due.
    pub fn set_idle(&mut self, shard: &str, idle: bool) {
        if self.order.is_idle(shard) != idle {
            self.order.set_idle(shard, idle);
            if idle {
                tracing::debug!(
                    shard,
                    "shard idle: it no longer holds the event-time watermark back"
                );
            }
        }
        self.release();
    }

    /// Events of `shard` held back for the watermark.
    pub fn held_of(&self, shard: &str) -> usize {
        self.order.held_of(shard)
    }

    /// Events held back for the watermark, all shards.
    pub fn held(&self) -> usize {
        self.order.len()
    }

    /// Whether `shard` is ahead of the watermark (another shard holds it back).
    pub fn is_ahead(&self, shard: &str) -> bool {
        let w = self.order.watermark();
        w != i64::MAX
            && self
                .order
                .max_ts(shard)
                .is_some_and(|t| t > w.saturating_add(self.order.lateness_ns()))
    }

    /// Applies every held event that the watermark has passed.
    pub fn release(&mut self) {
        let w = self.order.watermark();
        if !self.order.is_empty() {
            while let Some((h, why)) = self.order.pop_ready(w) {
                self.apply_held(h, why);
            }
        }
        self.publish_order(w);
    }

    /// Applies every held event, whatever the watermark: the end of a one-shot input.
    pub fn flush_order(&mut self) {
        while let Some(h) = self.order.pop_any() {
            self.apply_held(h, Release::InOrder);
        }
        self.flush();
        self.publish_order(self.order.watermark());
    }

    /// Publishes the buffer size and the watermark `w` (the frontier while no watermark holds).
    fn publish_order(&self, w: i64) {
        self.metrics.order_buffered.set(self.order.len() as i64);
        let secs = if w == i64::MIN || w == i64::MAX {
            self.order.frontier().map_or(0.0, |(t, _)| t as f64 / 1e9)
        } else {
            w as f64 / 1e9
        };
        self.metrics.order_watermark.set(secs);
    }

    /// Where the monitors' quantities are published for alerting.
    pub fn board(&self) -> Arc<SampleBoard> {
        self.board.clone()
    }

    /// Turns on per-model monitoring (drift, labels, performance) with these settings.
    pub fn with_monitoring(mut self, settings: MonitorSettings) -> Self {
        self.monitoring = Some(settings);
        self
    }

    /// Replaces every monitor with checkpointed ones (start-up, or rolling back to the last
    /// checkpoint when partitions are revoked).
    pub fn restore_monitors(&mut self, monitors: BTreeMap<String, ModelMonitor>) {
        // What was released before is applied first, as it was when events were applied at once.
        self.flush();
        let mut all = BTreeMap::new();
        for (model, m) in &monitors {
            init_onset_series(&self.metrics, model);
            if let Some(global) = self.monitoring.as_ref() {
                let settings = self.policy.monitor_settings(model, global);
                all.insert(model.clone(), m.samples(settings));
            }
        }
        self.board.replace(all);
        self.monitors = monitors
            .into_iter()
            .map(|(model, mut m)| {
                // A checkpoint from before journals: its next checkpoint is a snapshot.
                m.join_mut().journaled();
                (model, Watch::new(m))
            })
            .collect();
    }

    /// The monitors, by model (what was released is applied first).
    pub fn monitors(&mut self) -> BTreeMap<&str, &ModelMonitor> {
        self.flush();
        self.monitors
            .iter()
            .map(|(model, w)| (model.as_str(), &w.monitor))
            .collect()
    }

    /// A model's monitor as JSON, with the open window evaluated now (on demand, nothing
    /// changed): what `GET /v1/models/{model}` answers. `None` for a model never seen.
    pub fn inspect(&mut self, model: &str) -> Option<serde_json::Value> {
        self.flush();
        let m = &self.monitors.get(model)?.monitor;
        let global = self.monitoring.as_ref()?;
        let s = self.policy.monitor_settings(model, global);
        let (reference, current) = m.window_len();
        let (labelled, errors) = m.labels();
        let (detector, state) = m.concept_state();
        let perf = m.performance();
        let join = m.join();
        Some(serde_json::json!({
            "model": model,
            "predictions": m.predictions(),
            "labelled": labelled,
            "errors": errors,
            "reference_complete": m.has_reference(),
            "window_events": { "reference": reference, "current": current },
            "evaluations": m.evaluations,
            "last_window": m.last_window,
            "current_window": m.peek(s),
            "concept": { "detector": detector, "state": format!("{state:?}").to_lowercase() },
            "performance": {
                "last": perf.last,
                "last_regression": perf.last_reg,
                "last_drop_test": perf.last_test,
            },
            "join_store": {
                "pending": join.len(),
                "evicted": join.evicted,
                "duplicate_feedback": join.duplicate_feedback,
                "unmatched_feedback": join.unmatched_feedback,
            },
            "training_data": self.learners.get(model).map(Learner::status),
            "recent_onsets": m.recent_onsets(),
        }))
    }

    /// Drops the pipeline on a thread of its own, once its last checkpoint is written: freeing a
    /// million waiting predictions takes a tenth of a second or more, which a one-shot run need not
    /// wait for (the process may exit first; its memory goes back to the system either way).
    pub fn dispose(self) {
        let spawned = std::thread::Builder::new()
            .name("driftd-dispose".into())
            .spawn(move || drop(self));
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no thread to drop the pipeline on; dropping it here");
        }
    }

    /// Replaces the model policy (SIGHUP).
    pub fn set_policy(&mut self, policy: ModelPolicy) {
        self.flush();
        for (model, (cfg, _)) in &policy.learn {
            if let Some(l) = self.learners.get_mut(model) {
                l.set_config(cfg.clone());
            }
        }
        self.policy = policy;
    }

    /// Whether the shard is open.
    pub fn is_open(&self, shard: &str) -> bool {
        self.shards.contains_key(shard)
    }

    /// Opens a shard with its checkpointed state (or empty). Restored counts are added to the
    /// metrics (beyond what this process already exported for the shard), so counters continue
    /// where the checkpoint left them.
    pub fn open_shard(&mut self, shard: Arc<str>, restored: Option<ShardState>) {
        self.open_shard_as(shard, restored, true);
    }

    /// Opens a shard that never holds the event-time watermark back (HTTP feedback in embedded
    /// mode: it has no clock of its own worth waiting for).
    pub fn open_side_shard(&mut self, shard: Arc<str>, restored: Option<ShardState>) {
        self.open_shard_as(shard, restored, false);
    }

    fn open_shard_as(&mut self, shard: Arc<str>, restored: Option<ShardState>, participates: bool) {
        let mut state = restored.unwrap_or_default();
        state.version = CHECKPOINT_VERSION;
        self.order
            .open(shard.clone(), participates, state.max_ts_ns, state.frontier);
        for h in std::mem::take(&mut state.held) {
            match parse_event(h.event.as_bytes(), &self.opts) {
                Ok(ev) => {
                    let key = OrderKey {
                        ts: ts_ns(&ev),
                        kind: kind_rank(ev.kind()),
                        bytes: Arc::from(h.event.as_bytes()),
                    };
                    drop(ev);
                    if let Some(late) = self.order.push(&shard, h.offset, key) {
                        self.apply_held(late, Release::Late);
                    }
                }
                Err(r) => {
                    tracing::error!(shard = %shard, offset = h.offset, reason = %r.reason, "a checkpointed held event does not parse; skipped")
                }
            }
        }
        state.max_ts_ns = None;
        state.frontier = None;
        let mut exported = self.exported.remove(&shard).unwrap_or_default();
        for (model, m) in &state.models {
            let h = self.handles(model);
            let e = exported.models.entry(model.clone()).or_default();
            h.predictions
                .inc_by(m.predictions.saturating_sub(e.predictions));
            h.feedback.inc_by(m.feedback.saturating_sub(e.feedback));
            e.predictions = e.predictions.max(m.predictions);
            e.feedback = e.feedback.max(m.feedback);
        }
        for (reason, n) in &state.rejected {
            let e = exported.rejected.entry(*reason).or_default();
            self.rejected[reason_index(*reason)].inc_by(n.saturating_sub(*e));
            *e = (*e).max(*n);
        }
        self.exported.insert(shard.clone(), exported);
        self.shards.insert(shard, state);
        self.metrics.models.set(self.models.len() as i64);
    }

    /// Closes a shard (partition revoked), dropping its uncheckpointed state: the next owner
    /// resumes from the last checkpoint.
    pub fn close_shard(&mut self, shard: &str) -> Option<ShardState> {
        self.order.close(shard);
        self.parsed.retain(|(s, _), _| s.as_ref() != shard);
        self.shards.remove(shard)
    }

    /// The state of an open shard.
    pub fn shard(&self, shard: &str) -> Option<&ShardState> {
        self.shards.get(shard)
    }

    /// Mutable access to an open shard's state (sources record side-output positions).
    pub fn shard_mut(&mut self, shard: &str) -> Option<&mut ShardState> {
        self.shards.get_mut(shard)
    }

    /// Events applied since the last [`Pipeline::checkpoint_entries`].
    pub fn since_checkpoint(&self) -> u64 {
        self.since_checkpoint
    }

    fn handles(&mut self, model: &str) -> &ModelHandles {
        if !self.models.contains_key(model) {
            let h = ModelHandles {
                predictions: self.metrics.events_for(model, EventKind::Prediction),
                feedback: self.metrics.events_for(model, EventKind::Feedback),
            };
            self.models.insert(model.to_owned(), h);
        }
        &self.models[model]
    }

    /// The parse options: what a parse stage feeding [`Pipeline::process_parsed`] must use.
    pub fn parse_options(&self) -> ParseOptions {
        self.opts
    }

    /// Whether the event at `offset` of `shard` was applied before (counted as a duplicate).
    fn is_duplicate(&self, shard: &str, offset: u64) -> bool {
        let Some(state) = self.shards.get(shard) else {
            debug_assert!(false, "process() on a closed shard");
            return true;
        };
        if offset < state.next_offset {
            self.metrics.duplicates.inc();
            return true;
        }
        false
    }

    /// [`Pipeline::process`] for an event a parse stage has already parsed (with
    /// [`parse_owned`] and this pipeline's [`Pipeline::parse_options`]), e.g. on the source's
    /// reader thread, so that parsing and monitoring run on two cores. Same outcome, same state.
    pub fn process_parsed(
        &mut self,
        shard: &str,
        offset: u64,
        next: u64,
        parsed: Parsed,
    ) -> Outcome {
        if self.is_duplicate(shard, offset) {
            return Outcome::Duplicate;
        }
        let outcome = match parsed {
            Ok(p) if self.ordered() => self.hold(shard, offset, p),
            Ok(p) => {
                let ev = p.get();
                let r = self.apply(shard, &ev.model, ev.kind());
                if r.is_ok() {
                    self.apply_released(p, Release::InOrder);
                }
                r
            }
            Err(r) => Err(r),
        };
        self.conclude(shard, next, outcome)
    }

    /// Processes the event at `offset` of `shard`; `next` is the offset after it. The shard must
    /// be open. Never panics on input.
    pub fn process(&mut self, shard: &str, offset: u64, next: u64, input: &[u8]) -> Outcome {
        if self.is_duplicate(shard, offset) {
            return Outcome::Duplicate;
        }
        let outcome = if self.ordered() {
            parse_owned(input, &self.opts).and_then(|p| self.hold(shard, offset, p))
        } else {
            parse_event(input, &self.opts).and_then(|ev| self.apply_now(shard, &ev))
        };
        self.conclude(shard, next, outcome)
    }

    /// Counts an event and feeds it to the monitors and learners at once (no event-time order).
    fn apply_now(&mut self, shard: &str, ev: &Event<'_>) -> Result<EventKind, Rejection> {
        let r = self.apply(shard, &ev.model, ev.kind());
        if r.is_ok() {
            self.apply_borrowed(ev);
        }
        r
    }

    /// Records the outcome and releases what the order made due.
    fn conclude(
        &mut self,
        shard: &str,
        next: u64,
        outcome: Result<EventKind, Rejection>,
    ) -> Outcome {
        let outcome = self.finish(shard, next, outcome);
        if self.ordered() {
            self.release();
        }
        if self.batch.len() >= BATCH_MAX {
            self.flush();
        }
        outcome
    }

    /// Accepts a parsed event into the event-time order: it waits for the watermark parsed (up to
    /// [`PARSED_HELD_MAX`] of them; the rest are parsed again when released, as are events
    /// restored from a checkpoint).
    fn hold(
        &mut self,
        shard: &str,
        offset: u64,
        parsed: ParsedEvent,
    ) -> Result<EventKind, Rejection> {
        let ev = parsed.get();
        let kind = self.apply(shard, &ev.model, ev.kind())?;
        let key = OrderKey {
            ts: ts_ns(ev),
            kind: kind_rank(kind),
            bytes: parsed.backing_cart().clone(),
        };
        let name = self
            .shards
            .get_key_value(shard)
            .map(|(k, _)| k.clone())
            .expect("the caller checked the shard is open");
        if self.order.push(&name, offset, key).is_some() {
            // A late event is applied now, with the parse already at hand.
            self.apply_released(parsed, Release::Late);
        } else if self.parsed.len() < PARSED_HELD_MAX {
            self.parsed.entry((name, offset)).or_insert(parsed);
        }
        Ok(kind)
    }

    /// Records an event that was too large to be read whole (`next - offset` bytes).
    pub fn process_oversized(
        &mut self,
        shard: &str,
        offset: u64,
        next: u64,
        limit: usize,
    ) -> Outcome {
        match self.shards.get(shard) {
            Some(state) if offset >= state.next_offset => {}
            _ => {
                self.metrics.duplicates.inc();
                return Outcome::Duplicate;
            }
        }
        let r = Rejection::new(
            RejectReason::Oversized,
            format!("event is {} bytes, the limit is {limit}", next - offset),
        );
        self.finish(shard, next, Err(r))
    }

    fn finish(&mut self, shard: &str, next: u64, outcome: Result<EventKind, Rejection>) -> Outcome {
        let state = self.shards.get_mut(shard).expect("checked by the caller");
        state.next_offset = next;
        self.since_checkpoint += 1;
        match outcome {
            Ok(kind) => Outcome::Accepted { kind },
            Err(r) => {
                let n = state.rejected.entry(r.reason).or_default();
                *n += 1;
                let e = self
                    .exported
                    .get_mut(shard)
                    .expect("open shards have an export mark")
                    .rejected
                    .entry(r.reason)
                    .or_default();
                if *n > *e {
                    *e = *n;
                    self.rejected[reason_index(r.reason)].inc();
                }
                Outcome::Rejected(r)
            }
        }
    }

    fn apply(&mut self, shard: &str, model: &str, kind: EventKind) -> Result<EventKind, Rejection> {
        self.policy.check(model)?;
        if !self.models.contains_key(model) {
            let configured = self.policy.configured.contains(model);
            let discovered = self
                .models
                .keys()
                .filter(|m| !self.policy.configured.contains(*m))
                .count();
            if !configured && discovered >= self.policy.max_models {
                return Err(Rejection::new(
                    RejectReason::TooManyModels,
                    format!(
                        "model `{model}` would exceed the cap of {} discovered models",
                        self.policy.max_models
                    ),
                ));
            }
            self.handles(model);
            self.metrics.models.set(self.models.len() as i64);
        }
        let h = &self.models[model];
        let state = self.shards.get_mut(shard).expect("shard is open");
        let m = match state.models.get_mut(model) {
            Some(m) => m,
            None => state.models.entry(model.to_owned()).or_default(),
        };
        let exported = self
            .exported
            .get_mut(shard)
            .expect("open shards have an export mark");
        let e = match exported.models.get_mut(model) {
            Some(e) => e,
            None => exported.models.entry(model.to_owned()).or_default(),
        };
        match kind {
            EventKind::Prediction => {
                m.predictions += 1;
                if m.predictions > e.predictions {
                    e.predictions = m.predictions;
                    h.predictions.inc();
                }
            }
            EventKind::Feedback => {
                m.feedback += 1;
                if m.feedback > e.feedback {
                    e.feedback = m.feedback;
                    h.feedback.inc();
                }
            }
        }
        Ok(kind)
    }

    /// Records that a checkpoint of the current state was written.
    pub fn mark_checkpointed(&mut self) {
        // The checkpoint applied the queue before it serialised; applying anything now would
        // journal changes that the commit below forgets.
        debug_assert!(self.batch.is_empty(), "events queued since the checkpoint");
        self.since_checkpoint = 0;
        self.publish_stale_queued();
        for w in self.monitors.values_mut() {
            w.monitor.join_mut().checkpoint_committed();
            w.reference_written = w.reference_pending;
        }
        for l in self.learners.values_mut() {
            l.mark_clean();
        }
        self.extras_committed();
    }

    /// The keys the checkpoint of [`Pipeline::checkpoint_entries`] deletes in the same atomic
    /// write (join-store log segments replaced by a snapshot).
    pub fn checkpoint_deletes(&self) -> Vec<String> {
        self.monitors
            .iter()
            .flat_map(|(model, w)| w.monitor.join().checkpoint_deletes(&join_prefix(model)))
            .chain(
                self.learners
                    .iter()
                    .flat_map(|(model, l)| l.checkpoint_deletes(model)),
            )
            .collect()
    }

    /// Serialises every open shard, every monitor (its join store as a journal of changes) and
    /// what changed in the learners, for one atomic checkpoint write.
    pub fn checkpoint_entries(&mut self) -> Vec<(String, Vec<u8>)> {
        self.flush();
        let mut held = self.order.held_by_shard();
        let frontier = self.order.frontier();
        let mut entries: Vec<(String, Vec<u8>)> = self
            .shards
            .iter()
            .map(|(shard, state)| {
                let mut state = state.clone();
                state.held = held
                    .remove(shard)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(offset, b)| HeldEvent {
                        offset,
                        event: String::from_utf8_lossy(&b).into_owned(),
                    })
                    .collect();
                state.max_ts_ns = self.order.max_ts(shard);
                state.frontier = frontier;
                (
                    checkpoint_key(shard),
                    serde_json::to_vec(&state).expect("shard state serialises"),
                )
            })
            .collect();
        if self.monitoring.is_some() && !self.monitors.is_empty() {
            // Each model's entries are serialised on the monitor pool, in parallel (a join store
            // that turned over since the last checkpoint is a snapshot: the largest write).
            let one = |(model, w): (&String, &Watch)| {
                let m = &w.monitor;
                // The join store's journal: what changed since the last checkpoint.
                let mut out = m.join().checkpoint_puts(&join_prefix(model));
                // The reference profiles, when new since the last checkpoint.
                if let Some(bytes) = m.reference_entry(w.reference_written) {
                    out.push((reference_key(&monitor_key(model)), bytes));
                }
                match serde_json::to_vec(m) {
                    Ok(bytes) => out.push((monitor_key(model), bytes)),
                    // Never expected; a monitor that cannot be saved must not stop intake. Its
                    // last checkpointed state stays in the store.
                    Err(e) => tracing::error!(model, error = %e, "cannot serialise the monitor"),
                }
                out
            };
            let per_model: Vec<Vec<(String, Vec<u8>)>> = match &self.pool {
                Some(pool) if self.monitors.len() > 1 => {
                    use rayon::prelude::*;
                    let all: Vec<(&String, &Watch)> = self.monitors.iter().collect();
                    pool.install(|| all.into_par_iter().map(one).collect())
                }
                _ => self.monitors.iter().map(one).collect(),
            };
            entries.extend(per_model.into_iter().flatten());
            for w in self.monitors.values_mut() {
                w.reference_pending = if w.monitor.has_reference() {
                    Some(w.monitor.reference_id())
                } else {
                    w.reference_written
                };
            }
            let names: Vec<&String> = self.monitors.keys().collect();
            entries.push((
                MONITOR_INDEX_KEY.to_owned(),
                serde_json::to_vec(&names).expect("names serialise"),
            ));
        }
        for (model, l) in &self.learners {
            entries.extend(l.checkpoint(model));
        }
        entries.extend(self.extra_entries());
        entries
    }

    /// Decodes a stored checkpoint.
    pub fn decode_checkpoint(bytes: &[u8]) -> Result<ShardState, CheckpointError> {
        let s: ShardState =
            serde_json::from_slice(bytes).map_err(|source| CheckpointError::Decode {
                what: "shard checkpoint".into(),
                source,
            })?;
        if s.version > CHECKPOINT_VERSION {
            return Err(CheckpointError::TooNew(s.version));
        }
        Ok(s)
    }

    /// Names of the open shards.
    pub fn open_shards(&self) -> Vec<Arc<str>> {
        self.shards.keys().cloned().collect()
    }
}

/// An event's time in nanoseconds since the epoch (saturating outside ±292 years).
pub fn ts_ns(ev: &Event<'_>) -> i64 {
    ev.ts
        .timestamp_nanos_opt()
        .unwrap_or(if ev.ts.timestamp() < 0 {
            i64::MIN + 1
        } else {
            i64::MAX - 1
        })
}

fn reason_index(r: RejectReason) -> usize {
    RejectReason::ALL
        .iter()
        .position(|x| *x == r)
        .expect("ALL lists every reason")
}

mod adapting;
mod learning;
mod reviewing;
pub use reviewing::{review_key, wilson};
pub mod observing;
mod publishing;

pub use publishing::PUBLISH_EVERY;
#[cfg(test)]
mod tests;
