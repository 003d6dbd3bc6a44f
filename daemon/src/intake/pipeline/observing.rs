//! Feeding released events to the monitors: in batches, the models of a batch on a pool of
//! threads.
//!
//! **Why batches.** Events come out of the event-time order one by one, but nothing reads a
//! monitor between two of them: the monitors are read only by checkpoints, the HTTP API, the
//! sources' ticks (stale publications) and the learners' control messages. So released events
//! queue up (at most [`BATCH_MAX`]), and every reader flushes the queue first
//! ([`Pipeline::flush`]): each monitor sees exactly the sequence it saw when events were applied
//! one at a time, so its state, its onsets and its checkpoint are the same, bit for bit.
//!
//! **Why by model.** A model's monitor depends only on that model's events, in their order. A
//! batch is split by model, and the models' shares run in parallel on the pipeline's monitor pool
//! (`[monitor] threads`; a dedicated rayon pool, so a retraining job on rayon's global pool never
//! delays intake). With one model in a batch, or one thread, the share runs on the pipeline's own
//! thread. Alert samples and gauges are published from the share's thread at the same points as
//! before (an onset or a drift state entered or left at once; looks and every 1,000 events at most
//! every [`super::publishing::PUBLISH_EVERY`]), so the samples the alert engine reads are those of
//! the monitor right after the event that changed it. Learners see the batch afterwards, in its
//! order, on the pipeline's thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::{ParsedEvent, Pipeline};
use crate::contract::event::{Event, ParseOptions, parse_event};
use crate::contract::sample::SampleBoard;
use crate::intake::order::{Held, Release};
use crate::intake::publish::{init_onset_series, publish};
use crate::monitor::{ModelMonitor, MonitorSettings};
use crate::telemetry::events::{DriftOnset, InternalEvent as _};
use crate::telemetry::metrics::Metrics;

/// Most released events queued before they are applied: about a millisecond of monitoring, so a
/// batch's fork and join cost little beside it, and a reader never waits long.
pub const BATCH_MAX: usize = 1024;

/// A model's monitor and when its gauges and alert samples were last published.
#[derive(Debug)]
pub(super) struct Watch {
    pub(super) monitor: ModelMonitor,
    /// When the model's gauges and alert samples were last published.
    published: Option<Instant>,
    /// Whether the monitor changed since (a publication was skipped as too soon).
    pub(super) stale: bool,
    /// The reference profiles stored apart by the last checkpoint, and by the one being written
    /// ([`crate::monitor::reference`]).
    pub(super) reference_written: Option<u64>,
    pub(super) reference_pending: Option<u64>,
}

impl Watch {
    /// `monitor`, its checkpoints keeping the reference profiles apart (written once).
    pub(super) fn new(mut monitor: ModelMonitor) -> Self {
        monitor.store_reference_apart();
        Watch {
            monitor,
            published: None,
            stale: false,
            reference_written: None,
            reference_pending: None,
        }
    }

    /// Records a publication at `now` (nothing is stale any more).
    pub(super) fn mark_published(&mut self, now: Instant) {
        self.published = Some(now);
        self.stale = false;
    }
}

/// What every model's share of a batch reads.
struct Shared<'a> {
    metrics: &'a Metrics,
    board: &'a SampleBoard,
    publish_every: Duration,
}

/// The pool that runs the models' shares of a batch (`[monitor] threads`).
pub fn monitor_pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        threads
    };
    if n < 2 {
        return None;
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("driftd-monitor-{i}"))
        .build()
    {
        Ok(pool) => Some(Arc::new(pool)),
        Err(e) => {
            tracing::warn!(error = %e, "no monitor threads; monitoring on the pipeline's thread");
            None
        }
    }
}

impl Pipeline {
    /// Spreads the models' monitoring over `pool` (see [the module](self)); `None`: on the
    /// pipeline's thread.
    pub fn with_monitor_pool(mut self, pool: Option<Arc<rayon::ThreadPool>>) -> Self {
        self.pool = pool;
        self
    }

    /// Queues a released event for the monitors and learners, counting why it came out.
    pub(super) fn apply_released(&mut self, ev: ParsedEvent, why: Release) {
        match why {
            Release::Late => self
                .metrics
                .events_late
                .with_label_values(&[ev.get().model.as_ref()])
                .inc(),
            Release::Forced => self.metrics.order_forced.inc(),
            Release::InOrder => {}
        }
        self.batch.push(ev);
    }

    /// Queues a held event the order released: parsed already, or parsed again from its bytes
    /// (without copying them).
    pub(super) fn apply_held(&mut self, h: Held, why: Release) {
        // The events of one adapted record share its offset: the parse kept for an offset is
        // this event's only if it holds these very bytes.
        let at = (h.shard, h.offset);
        if let Some(parsed) = self.parsed.remove(&at) {
            if std::sync::Arc::ptr_eq(parsed.backing_cart(), &h.key.bytes) {
                return self.apply_released(parsed, why);
            }
            self.parsed.insert(at, parsed);
        }
        let opts: ParseOptions = self.opts;
        match yoke::Yoke::try_attach_to_cart(h.key.bytes, |b: &[u8]| parse_event(b, &opts)) {
            Ok(ev) => self.apply_released(ev, why),
            // It parsed when it was accepted; parsing is deterministic.
            Err(r) => {
                tracing::error!(reason = %r.reason, detail = %r.detail, "a held event no longer parses")
            }
        }
    }

    /// Applies an event at once (it borrows from the caller): what is queued first, then this one.
    pub(super) fn apply_borrowed(&mut self, ev: &Event<'_>) {
        self.flush();
        if self.monitoring.is_some() {
            let model = ev.model.as_ref();
            self.ensure_monitor(model);
            let (Some(global), Some(w)) = (self.monitoring.as_ref(), self.monitors.get_mut(model))
            else {
                return;
            };
            let shared = Shared {
                metrics: &self.metrics,
                board: &self.board,
                publish_every: self.publish_every,
            };
            observe(
                &shared,
                model,
                w,
                self.policy.monitor_settings(model, global),
                ev,
            );
        }
        self.learn(ev);
    }

    /// Applies every queued event: the monitors by model (in parallel on the monitor pool when
    /// the batch holds several models), then the learners in the batch's order. Every reader of
    /// the monitors calls this first.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if self.monitoring.is_some() {
            let mut by_model: BTreeMap<&str, Vec<&Event<'_>>> = BTreeMap::new();
            for ev in &batch {
                let ev = ev.get();
                by_model.entry(ev.model.as_ref()).or_default().push(ev);
            }
            for model in by_model.keys() {
                self.ensure_monitor(model);
            }
            self.observe_batch(by_model);
        }
        for ev in &batch {
            self.learn(ev.get());
        }
    }

    /// Feeds each model's events of a batch to its monitor (every model has one).
    fn observe_batch(&mut self, mut by_model: BTreeMap<&str, Vec<&Event<'_>>>) {
        let Some(global) = self.monitoring.as_ref() else {
            return;
        };
        let policy = &self.policy;
        let mut shares: Vec<_> = self
            .monitors
            .iter_mut()
            .filter_map(|(model, w)| {
                let events = by_model.remove(model.as_str())?;
                Some((
                    model.as_str(),
                    w,
                    policy.monitor_settings(model, global),
                    events,
                ))
            })
            .collect();
        let shared = Shared {
            metrics: &self.metrics,
            board: &self.board,
            publish_every: self.publish_every,
        };
        let run =
            |(model, w, s, events): &mut (&str, &mut Watch, &MonitorSettings, Vec<&Event<'_>>)| {
                for ev in events.iter() {
                    observe(&shared, model, w, s, ev);
                }
            };
        match &self.pool {
            Some(pool) if shares.len() > 1 => pool.install(|| shares.par_iter_mut().for_each(run)),
            _ => shares.iter_mut().for_each(run),
        }
    }

    /// Creates `model`'s monitor if it has none yet.
    fn ensure_monitor(&mut self, model: &str) {
        if self.monitors.contains_key(model) {
            return;
        }
        let Some(global) = self.monitoring.as_ref() else {
            return;
        };
        let settings = self.policy.monitor_settings(model, global);
        let positive = self.policy.positive.get(model).map_or("1", String::as_str);
        let mut m = ModelMonitor::new(model, positive, settings);
        // The daemon checkpoints its monitors: their join stores as journals.
        m.join_mut().journaled();
        self.monitors.insert(model.to_owned(), Watch::new(m));
        init_onset_series(&self.metrics, model);
    }
}

/// Feeds one event to its model's monitor and publishes what changed.
fn observe(sh: &Shared<'_>, model: &str, w: &mut Watch, s: &MonitorSettings, ev: &Event<'_>) {
    let m = &mut w.monitor;
    let evaluations = m.evaluations;
    let changes = m.drift_changes();
    let seen = m.predictions() + m.labels().0;
    let started = Instant::now();
    let onsets = m.observe(ev, s);
    m.record_onsets(&onsets);
    let delays = m.take_label_delays();
    let evaluated = m.evaluations != evaluations;
    if evaluated {
        sh.metrics
            .drift_evaluation_duration
            .observe(started.elapsed().as_secs_f64());
    }
    if !delays.is_empty() {
        let h = sh.metrics.label_delay.with_label_values(&[model]);
        for d in delays {
            h.observe(d as f64 / 1000.0);
        }
    }
    // Every 1,000 predictions or joined labels (a feedback that joins nothing changes nothing).
    let now_seen = m.predictions() + m.labels().0;
    let periodic = now_seen != seen && now_seen.is_multiple_of(1000);
    let urgent = !onsets.is_empty() || m.drift_changes() != changes;
    if urgent || evaluated || periodic {
        let due = urgent
            || w.published
                .is_none_or(|t| started.duration_since(t) >= sh.publish_every);
        w.stale = !due;
        if due {
            w.published = Some(started);
            publish_watch(sh.metrics, sh.board, model, &w.monitor, s);
        }
    } else if matches!(ev.body, crate::contract::event::Body::Feedback { .. }) {
        // A label moves coverage, the review queue and the sources' counts: published on the
        // sources' next tick (labels come by hand too, a few at a time).
        w.stale = true;
    }
    for o in &onsets {
        DriftOnset(o).emit(sh.metrics);
    }
}

/// Publishes one model's gauges and alert samples.
pub(super) fn publish_watch(
    metrics: &Metrics,
    board: &SampleBoard,
    model: &str,
    m: &ModelMonitor,
    s: &MonitorSettings,
) {
    publish(metrics, model, m);
    board.set(model, m.samples(s));
}
