//! Event-time order for the monitors, whatever the topology of the input.
//!
//! A consumer reads a multi-partition topic in large per-partition batches, and partitions lag
//! behind each other, so consumption order mixes events from across the whole timeline. The
//! monitors' reference, windows and stream detectors must not depend on that: [`Orderer`] holds
//! accepted events back and releases them in **event-time order** under a watermark.
//!
//! **Semantics.**
//! - Every *participant* shard (a Kafka partition, an events file) has a clock: the largest event
//!   time it has delivered. The **watermark** is the smallest clock of the participants that are
//!   not idle, minus `allowed_lateness`. An event is released once its time is strictly below the
//!   watermark, so every event of equal time is present before any of them is released.
//! - Released events are in the total order **(event time, predictions before feedback, the raw
//!   bytes)**: it depends only on the events, never on which partition was read first, so `driftd
//!   run` on 1 or N partitions and `driftd replay` see the same sequence.
//! - **Idle participants**: the source marks a shard idle when it has delivered nothing for
//!   `idle_timeout` (wall clock) *and* has nothing left to read (a Kafka partition whose position
//!   has reached its high watermark; a file at its end); an idle shard does not hold the watermark
//!   back. A partition that lags behind is therefore never idle, however long it takes. A
//!   participant that never delivered an event and is not yet idle holds everything back. When
//!   every participant is idle, everything buffered is released (nothing more is coming).
//! - **Late events**: an event older than the last released one (beyond `allowed_lateness`, or
//!   from a partition that was idle) is applied at once, out of order, and counted
//!   (`driftd_events_late_total`); never dropped.
//! - **Bounded memory**: beyond `max_buffered` events the oldest is released early, counted
//!   (`driftd_order_forced_total`). The Kafka source pauses partitions that are ahead of the
//!   watermark while the buffer is over half full (see `intake/kafka.rs`), so one lagging
//!   partition or catch-up after downtime stays exact within that bound.
//! - **Rebalances**: a revoked partition's held events are dropped with the rest of its
//!   uncheckpointed state; its next owner restores them from the checkpoint.
//! - **Checkpoints**: buffered events belong to their shard's checkpoint (raw bytes and offset),
//!   with the shard's clock, so a crash or a revocation restores exactly what was held back.
//!
//! Non-participant shards (HTTP feedback in embedded mode) are ordered too but never hold the
//! watermark back. The orderer is synchronous and clock-free: idleness comes in from the source.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use foldhash::HashMap;
use std::sync::Arc;

use crate::contract::event::EventKind;

/// Settings of the event-time order (`[events.order]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderSettings {
    /// Disorder tolerated within one shard, in nanoseconds of event time.
    pub allowed_lateness_ns: i64,
    /// Most events held back at once.
    pub max_buffered: usize,
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings {
            allowed_lateness_ns: 1_000_000_000,
            max_buffered: 100_000,
        }
    }
}

/// The position of an event in the total order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey {
    /// Event time, nanoseconds since the epoch.
    pub ts: i64,
    /// 0 for predictions, 1 for feedback (a label never overtakes its prediction at one instant).
    pub kind: u8,
    /// The raw event, the last tie-break (depends on content only).
    pub bytes: Arc<[u8]>,
}

/// One held-back event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    /// Its place in the order.
    pub key: OrderKey,
    /// The shard it came from.
    pub shard: Arc<str>,
    /// Its offset in that shard.
    pub offset: u64,
}

/// A held event as checkpointed: its offset and raw bytes.
pub type HeldRaw = (u64, Arc<[u8]>);

/// Kind rank in the order.
pub fn kind_rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::Prediction => 0,
        EventKind::Feedback => 1,
    }
}

#[derive(Debug, Clone, Default)]
struct Clock {
    participates: bool,
    max_ts: Option<i64>,
    idle: bool,
    held: usize,
}

/// Why an event came out of the orderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// In order, under the watermark.
    InOrder,
    /// Older than what was already released: applied at once.
    Late,
    /// Released before the watermark passed it, because the buffer was full.
    Forced,
}

/// Holds events back and releases them in event-time order (see the module doc).
#[derive(Debug, Default)]
pub struct Orderer {
    settings: OrderSettings,
    /// Held events that arrived in order, oldest first: most input is in event-time order, and
    /// a queue takes and gives such events in O(1) where a heap sifts each through ~log₂(held)
    /// levels. The rest wait in `heap`; the next event out is the smaller of the two fronts, so
    /// the release order is the heap-only one.
    run: VecDeque<Held>,
    heap: BinaryHeap<Reverse<Held>>,
    shards: HashMap<Arc<str>, Clock>,
    /// (ts, kind) of the last event released.
    frontier: Option<(i64, u8)>,
}

impl Orderer {
    /// An empty orderer.
    pub fn new(settings: OrderSettings) -> Self {
        Orderer {
            settings,
            ..Default::default()
        }
    }

    /// Opens a shard. `participates`: whether it holds the watermark back; `max_ts` its restored
    /// clock; `frontier` the restored last released position.
    pub fn open(
        &mut self,
        shard: Arc<str>,
        participates: bool,
        max_ts: Option<i64>,
        frontier: Option<(i64, u8)>,
    ) {
        self.shards.insert(
            shard,
            Clock {
                participates,
                max_ts,
                idle: false,
                held: 0,
            },
        );
        if frontier > self.frontier {
            self.frontier = frontier;
        }
    }

    /// Closes a shard, dropping the events it holds (they are in its checkpoint). When no shard is
    /// left open the frontier is forgotten too (the next checkpoint restores it).
    pub fn close(&mut self, shard: &str) {
        if self.shards.remove(shard).is_none() {
            return;
        }
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap
            .into_iter()
            .filter(|Reverse(h)| h.shard.as_ref() != shard)
            .collect();
        self.run.retain(|h| h.shard.as_ref() != shard);
        if self.shards.is_empty() {
            self.frontier = None;
        }
    }

    /// Marks a shard idle (it has delivered nothing for the idle timeout) or active.
    pub fn set_idle(&mut self, shard: &str, idle: bool) {
        if let Some(c) = self.shards.get_mut(shard) {
            c.idle = idle;
        }
    }

    /// Whether a shard is currently idle.
    pub fn is_idle(&self, shard: &str) -> bool {
        self.shards.get(shard).is_some_and(|c| c.idle)
    }

    /// Moves a shard's clock to `ts` (ns) without an event: a record that only left half of an
    /// inference waiting for its pair (see `pipeline/adapting.rs`) still says how far its shard
    /// has come, so a topic of requests alone does not hold the watermark back.
    pub fn advance(&mut self, shard: &str, ts: i64) {
        if let Some(c) = self.shards.get_mut(shard) {
            c.idle = false;
            c.max_ts = Some(c.max_ts.map_or(ts, |m| m.max(ts)));
        }
    }

    /// Takes an accepted event. Returns it back when it is late (apply it now); otherwise holds it.
    pub fn push(&mut self, shard: &Arc<str>, offset: u64, key: OrderKey) -> Option<Held> {
        let held = Held {
            key,
            shard: shard.clone(),
            offset,
        };
        if let Some(c) = self.shards.get_mut(shard.as_ref()) {
            c.idle = false;
            c.max_ts = Some(c.max_ts.map_or(held.key.ts, |m| m.max(held.key.ts)));
        }
        if self
            .frontier
            .is_some_and(|f| (held.key.ts, held.key.kind) < f)
        {
            return Some(held);
        }
        if let Some(c) = self.shards.get_mut(shard.as_ref()) {
            c.held += 1;
        }
        if self.run.back().is_none_or(|last| *last <= held) {
            self.run.push_back(held);
        } else {
            self.heap.push(Reverse(held));
        }
        None
    }

    /// The next event out: the smaller of the in-order queue's front and the heap's top.
    fn peek_next(&self) -> Option<&Held> {
        match (self.run.front(), self.heap.peek()) {
            (Some(r), Some(Reverse(h))) => Some(if r <= h { r } else { h }),
            (Some(r), None) => Some(r),
            (None, Some(Reverse(h))) => Some(h),
            (None, None) => None,
        }
    }

    /// Takes the next event out ([`Orderer::peek_next`]).
    fn take_next(&mut self) -> Option<Held> {
        let from_run = match (self.run.front(), self.heap.peek()) {
            (Some(r), Some(Reverse(h))) => r <= h,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_run {
            self.run.pop_front()
        } else {
            self.heap.pop().map(|Reverse(h)| h)
        }
    }

    /// The watermark: events strictly older are released. `i64::MAX` when every participant is
    /// idle (or there is none); `i64::MIN` while an active participant has delivered nothing.
    pub fn watermark(&self) -> i64 {
        let mut w: Option<i64> = None;
        for c in self.shards.values().filter(|c| c.participates && !c.idle) {
            match c.max_ts {
                None => return i64::MIN,
                Some(t) => w = Some(w.map_or(t, |w: i64| w.min(t))),
            }
        }
        w.map_or(i64::MAX, |w| {
            w.saturating_sub(self.settings.allowed_lateness_ns)
        })
    }

    /// The next event to apply, if any is due: under the watermark, or forced out by the bound.
    pub fn pop_ready(&mut self, watermark: i64) -> Option<(Held, Release)> {
        let top = self.peek_next()?;
        let why = if top.key.ts < watermark {
            Release::InOrder
        } else if self.len() > self.settings.max_buffered {
            Release::Forced
        } else {
            return None;
        };
        let h = self.take_next().expect("peeked");
        self.released(&h);
        Some((h, why))
    }

    /// The next held event whatever the watermark (end of a one-shot input).
    pub fn pop_any(&mut self) -> Option<Held> {
        let h = self.take_next()?;
        self.released(&h);
        Some(h)
    }

    fn released(&mut self, h: &Held) {
        let k = (h.key.ts, h.key.kind);
        if self.frontier.is_none_or(|f| k > f) {
            self.frontier = Some(k);
        }
        if let Some(c) = self.shards.get_mut(h.shard.as_ref()) {
            c.held = c.held.saturating_sub(1);
        }
    }

    /// The allowed lateness, ns.
    pub fn lateness_ns(&self) -> i64 {
        self.settings.allowed_lateness_ns
    }

    /// The last released position (event time ns, kind rank).
    pub fn frontier(&self) -> Option<(i64, u8)> {
        self.frontier
    }

    /// Events held back.
    pub fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }

    /// Whether nothing is held back.
    pub fn is_empty(&self) -> bool {
        self.run.is_empty() && self.heap.is_empty()
    }

    /// Events held back from one shard.
    pub fn held_of(&self, shard: &str) -> usize {
        self.shards.get(shard).map_or(0, |c| c.held)
    }

    /// A shard's clock (largest event time delivered).
    pub fn max_ts(&self, shard: &str) -> Option<i64> {
        self.shards.get(shard).and_then(|c| c.max_ts)
    }

    /// The events held back per shard, as (offset, raw bytes), for checkpoints.
    pub fn held_by_shard(&self) -> HashMap<Arc<str>, Vec<HeldRaw>> {
        let mut out: HashMap<Arc<str>, Vec<HeldRaw>> = HashMap::default();
        for h in self.run.iter().chain(self.heap.iter().map(|Reverse(h)| h)) {
            out.entry(h.shard.clone())
                .or_default()
                .push((h.offset, h.key.bytes.clone()));
        }
        for v in out.values_mut() {
            v.sort_by_key(|(o, _)| *o);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ts: i64, kind: u8, tag: &str) -> OrderKey {
        OrderKey {
            ts,
            kind,
            bytes: tag.as_bytes().into(),
        }
    }

    fn drain(o: &mut Orderer) -> Vec<String> {
        let w = o.watermark();
        let mut out = Vec::new();
        while let Some((h, _)) = o.pop_ready(w) {
            out.push(String::from_utf8(h.key.bytes.to_vec()).unwrap());
        }
        out
    }

    fn orderer(lateness: i64) -> Orderer {
        Orderer::new(OrderSettings {
            allowed_lateness_ns: lateness,
            max_buffered: 100,
        })
    }

    /// Mostly ordered input with runs of disorder, released while more arrives and at the end:
    /// every event comes out once, in the total order (the in-order queue and the heap together
    /// give what a heap alone gives).
    #[test]
    fn mostly_ordered_input_comes_out_in_the_total_order() {
        let mut o = Orderer::new(OrderSettings {
            allowed_lateness_ns: 100,
            max_buffered: 1_000_000,
        });
        let s: Arc<str> = "s".into();
        o.open(s.clone(), true, None, None);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut pushed = Vec::new();
        let mut out = Vec::new();
        for i in 0..5_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // One event in eight is up to 40 ns early or late: within the lateness, never late.
            let ts = 100
                + i
                + if x.is_multiple_of(8) {
                    (x >> 8) as i64 % 80 - 40
                } else {
                    0
                };
            let k = key(ts, (x >> 20) as u8 % 2, &format!("e{i}"));
            pushed.push((k.ts, k.kind, k.bytes.clone()));
            assert!(o.push(&s, i as u64, k).is_none());
            if i % 97 == 0 {
                let w = o.watermark();
                while let Some((h, why)) = o.pop_ready(w) {
                    assert_eq!(why, Release::InOrder);
                    out.push((h.key.ts, h.key.kind, h.key.bytes));
                }
            }
        }
        while let Some(h) = o.pop_any() {
            out.push((h.key.ts, h.key.kind, h.key.bytes));
        }
        pushed.sort();
        assert_eq!(out, pushed);
        assert!(o.is_empty());
    }

    /// The same events, split over partitions and consumed in any interleaving, come out in one
    /// order.
    #[test]
    fn release_order_does_not_depend_on_the_partitioning() {
        let events: Vec<(i64, u8, String)> = (0..60)
            .map(|i| (i / 2, (i % 3 == 0) as u8, format!("e{i:02}")))
            .collect();
        let mut reference: Vec<_> = events.clone();
        reference.sort();
        let reference: Vec<String> = reference.into_iter().map(|e| e.2).collect();
        for parts in [1usize, 3, 6] {
            let mut o = orderer(0);
            let names: Vec<Arc<str>> = (0..parts).map(|p| format!("p{p}").into()).collect();
            for n in &names {
                o.open(n.clone(), true, None, None);
            }
            // Each partition's events in order; partitions consumed in whole batches, the last
            // partition first (the worst case for consumption order).
            let mut out = Vec::new();
            let mut queues: Vec<Vec<&(i64, u8, String)>> = vec![Vec::new(); parts];
            for (i, e) in events.iter().enumerate() {
                queues[i % parts].push(e);
            }
            let mut pos = vec![0usize; parts];
            let batch = 4;
            while pos.iter().zip(&queues).any(|(p, q)| *p < q.len()) {
                for p in (0..parts).rev() {
                    for e in queues[p].iter().skip(pos[p]).take(batch) {
                        assert!(o.push(&names[p], 0, key(e.0, e.1, &e.2)).is_none());
                    }
                    pos[p] = (pos[p] + batch).min(queues[p].len());
                    out.extend(drain(&mut o));
                }
            }
            for n in &names {
                o.set_idle(n, true);
            }
            out.extend(drain(&mut o));
            assert_eq!(out, reference, "{parts} partitions");
        }
    }

    #[test]
    fn a_silent_partition_holds_until_idle_and_late_events_come_back() {
        let mut o = orderer(0);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        o.open(a.clone(), true, None, None);
        o.open(b.clone(), true, None, None);
        for t in 0..5 {
            o.push(&a, t as u64, key(t, 0, &format!("a{t}")));
        }
        assert_eq!(o.watermark(), i64::MIN, "b has delivered nothing");
        assert!(drain(&mut o).is_empty());
        o.set_idle(&b, true);
        assert_eq!(drain(&mut o), ["a0", "a1", "a2", "a3"]);
        // b wakes up with an old event: late, handed back, not held.
        let late = o.push(&b, 0, key(1, 0, "b1")).expect("late");
        assert_eq!(&*late.key.bytes, b"b1");
        assert!(!o.is_idle(&b));
        // b's clock (1) now holds the watermark: a4 waits.
        assert!(drain(&mut o).is_empty());
        o.push(&b, 1, key(9, 0, "b9"));
        // Now a's clock (4) holds it: a4 waits for an event after it.
        assert!(drain(&mut o).is_empty());
        o.push(&a, 5, key(6, 0, "a6"));
        assert_eq!(drain(&mut o), ["a4"]);
        assert_eq!(o.len(), 2);
        assert_eq!(o.held_of("b"), 1);
    }

    #[test]
    fn lateness_tolerates_disorder_within_a_partition() {
        let mut o = orderer(2);
        let a: Arc<str> = "a".into();
        o.open(a.clone(), true, None, None);
        for (t, n) in [
            (0, "x0"),
            (3, "x3"),
            (1, "x1"),
            (5, "x5"),
            (4, "x4"),
            (8, "x8"),
        ] {
            assert!(o.push(&a, 0, key(t, 0, n)).is_none(), "{n}");
        }
        // watermark 8 - 2 = 6
        assert_eq!(drain(&mut o), ["x0", "x1", "x3", "x4", "x5"]);
    }

    #[test]
    fn the_bound_forces_the_oldest_out() {
        let mut o = Orderer::new(OrderSettings {
            allowed_lateness_ns: 0,
            max_buffered: 3,
        });
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        o.open(a.clone(), true, None, None);
        o.open(b, true, None, None);
        for t in 0..5 {
            o.push(&a, t as u64, key(t, 0, &format!("a{t}")));
        }
        let w = o.watermark();
        let mut forced = Vec::new();
        while let Some((h, why)) = o.pop_ready(w) {
            assert_eq!(why, Release::Forced);
            forced.push(h.key.ts);
        }
        assert_eq!(forced, [0, 1]);
        assert_eq!(o.len(), 3);
    }

    #[test]
    fn closing_a_shard_drops_its_events_and_checkpoints_group_by_shard() {
        let mut o = orderer(0);
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        o.open(a.clone(), true, None, None);
        o.open(b.clone(), false, None, None);
        o.push(&a, 7, key(5, 0, "a5"));
        o.push(&a, 6, key(4, 0, "a4"));
        o.push(&b, 1, key(3, 1, "b3"));
        let by = o.held_by_shard();
        assert_eq!(by[&a].iter().map(|x| x.0).collect::<Vec<_>>(), [6, 7]);
        assert_eq!(by[&b].len(), 1);
        o.close("a");
        assert_eq!(o.len(), 1);
        // b does not participate: with a gone, nothing holds the watermark.
        assert_eq!(o.watermark(), i64::MAX);
        assert_eq!(drain(&mut o), ["b3"]);
    }
}
