//! The late-label join store — one generic store, used by a model's monitor (what each prediction
//! said) and by its learner (each prediction's features): predictions waiting for their feedback,
//! feedback waiting for its prediction (it may come first), and the ids already joined (so a
//! repeated feedback counts once). All three are bounded FIFOs: by `join_max_entries` and
//! `join_ttl_seconds` (predictions), a tenth of that (early feedback) and `join_dedupe_entries`
//! (joined ids); what falls out is counted.
//!
//! **Two tiers.** The store lives in memory and is checkpointed with the monitor (the state store
//! holds it with the offsets it covers) — in the daemon incrementally, as a [`journal`] of what
//! changed since the last checkpoint, so a checkpoint's size follows the traffic, not the number
//! of predictions waiting. `driftd replay` can also give it a *cold tier*
//! ([`JoinStore::spill_to`]): past `hot` entries per FIFO the oldest move to a redb file (a
//! temporary one, deleted at the end), so a replay's memory stays flat however many predictions
//! wait. The cold entries are always older than the hot ones, so the FIFO order — and every join,
//! eviction and count — is exactly that of the one-tier store (tested).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use foldhash::{HashMap, HashSet};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::contract::event::Target;

mod cold;
pub mod journal;
mod pending;
mod record;
use cold::{Cold, Which};
use journal::{Change, Journal};
use pending::PendingMap;
use record::Full;

/// An event id as the store keeps it: up to 23 bytes inline, longer ones shared, so the map key,
/// the FIFO entry and the journal's record of one prediction cost at most one allocation (a
/// `String` each cost three per prediction, a tenth of a monitoring run's time).
pub type Id = smol_str::SmolStr;

/// What a prediction said, kept until its label arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predicted {
    /// A class label (from `label`, or from `score` against the positive label); short labels
    /// are kept inline, without an allocation per prediction.
    Label(Id),
    /// A regression value.
    Value(f64),
}

/// A prediction waiting for its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// What it predicted.
    pub predicted: Predicted,
    /// Its positive-class score, if any.
    pub score: Option<f64>,
    /// Event time, milliseconds.
    pub ts_ms: i64,
}

/// Feedback that arrived before its prediction: the target and its event time.
pub type Early = (Target<'static>, i64);

/// What waits in a join store for its label: anything with an event time.
pub trait Stamped: Clone + Serialize + DeserializeOwned {
    /// Event time, milliseconds.
    fn ts_ms(&self) -> i64;
}

impl Stamped for Pending {
    fn ts_ms(&self) -> i64 {
        self.ts_ms
    }
}

/// A bounded store of predictions waiting for labels (`P`: what is kept of a prediction), and
/// labels waiting for predictions (`E`: what is kept of early feedback).
///
/// Serialised (see its `Serialize` impl) with every map and set in its FIFO's order, so that equal
/// states give equal bytes without sorting a million keys at each checkpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    default,
    bound(deserialize = "P: DeserializeOwned, E: DeserializeOwned")
)]
pub struct JoinStore<P = Pending, E = Early> {
    pending: PendingMap<P>,
    /// Insertion order of `pending` (entries whose prediction was joined stay until they reach
    /// the front or the deque is compacted; an entry is live only if its time matches).
    order: VecDeque<(Id, i64)>,
    early: HashMap<Id, E>,
    early_order: VecDeque<Id>,
    joined_ids: VecDeque<Id>,
    joined: HashSet<Id>,
    /// Predictions evicted without a label (capacity or TTL).
    pub evicted: u64,
    /// Feedback that matched a prediction already labelled (counted once).
    pub duplicate_feedback: u64,
    /// Feedback still waiting, evicted because the store was full.
    pub unmatched_feedback: u64,
    /// The cold tier (replay only; never checkpointed).
    #[serde(skip)]
    cold: Option<Arc<Mutex<Cold>>>,
    /// Incremental checkpoints ([`journal`]): when set, the store's own record holds only its
    /// counters and the journal's position, and its entries live in the journal's keys.
    journal: Option<Journal<P, E>>,
}

/// The store's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Most predictions waiting.
    pub max: usize,
    /// Most joined ids remembered.
    pub dedupe: usize,
    /// Predictions older than this (event time) are evicted.
    pub ttl_ms: i64,
}

/// Why the join store's cold tier cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// The temporary file cannot be created.
    #[error("creating a temporary file in {}: {source}", dir.display())]
    TempFile {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// redb cannot open or create its database in it.
    #[error("creating {}: {detail}", path.display())]
    Open {
        /// The file.
        path: std::path::PathBuf,
        /// redb's message.
        detail: String,
    },
}

impl<P, E> Default for JoinStore<P, E> {
    fn default() -> Self {
        JoinStore {
            pending: PendingMap::default(),
            order: VecDeque::new(),
            early: HashMap::default(),
            early_order: VecDeque::new(),
            joined_ids: VecDeque::new(),
            joined: HashSet::default(),
            evicted: 0,
            duplicate_feedback: 0,
            unmatched_feedback: 0,
            cold: None,
            journal: None,
        }
    }
}

impl<P: Stamped, E: Clone + Serialize + DeserializeOwned> JoinStore<P, E> {
    /// The predictions waiting in memory, oldest first (the cold tier is left out: it exists only
    /// in replays, which never checkpoint).
    pub fn pending_in_order(&self) -> impl Iterator<Item = (&str, &P)> {
        self.order.iter().filter_map(|(id, ts)| {
            let p = self.pending.get(id)?;
            (p.ts_ms() == *ts).then_some((id.as_str(), p))
        })
    }

    /// The early feedback waiting in memory, oldest first.
    pub fn early_in_order(&self) -> impl Iterator<Item = (&str, &E)> {
        self.early_order
            .iter()
            .filter_map(|id| self.early.get(id).map(|e| (id.as_str(), e)))
    }

    /// Early feedback waiting (both tiers).
    pub fn early_len(&self) -> usize {
        self.early.len() + self.cold_len(Which::Early)
    }

    /// Moves the oldest entries past `hot` per FIFO to a redb file created in `dir` (deleted when
    /// the store is dropped). Call on an empty store.
    pub fn spill_to(&mut self, dir: &Path, hot: usize) -> Result<(), SpillError> {
        self.cold = Some(Arc::new(Mutex::new(Cold::create(dir, hot.max(16))?)));
        Ok(())
    }

    /// The first failure of the cold tier's file, if any: its results are then incomplete.
    pub fn spill_error(&self) -> Option<String> {
        self.with_cold(|c| c.error.clone()).flatten()
    }

    /// Predictions waiting for a label (both tiers).
    pub fn len(&self) -> usize {
        self.pending.len() + self.cold_len(Which::Pending)
    }

    /// Whether no prediction waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with_cold<T>(&self, f: impl FnOnce(&mut Cold) -> T) -> Option<T> {
        let cold = self.cold.as_ref()?;
        let mut guard = cold
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(f(&mut guard))
    }

    fn cold_len(&self, which: Which) -> usize {
        self.with_cold(|c| c.len(which)).unwrap_or(0)
    }

    /// The early feedback for `id`, removed.
    pub fn take_early(&mut self, id: &str) -> Option<E> {
        if let Some(e) = self.early.remove(id) {
            self.note(|| Change::EarlyGone(Id::new(id)));
            return Some(e);
        }
        self.with_cold(|c| c.take(Which::Early, id)).flatten()
    }

    /// Whether feedback for `id` already waits.
    pub fn has_early(&self, id: &str) -> bool {
        self.early.contains_key(id)
            || self.with_cold(|c| c.contains(Which::Early, id)) == Some(true)
    }

    /// Whether `id` was joined (within the dedupe memory).
    pub fn is_joined(&self, id: &str) -> bool {
        self.joined.contains(id) || self.with_cold(|c| c.contains(Which::Joined, id)) == Some(true)
    }

    /// Whether a prediction `id` waits.
    pub fn is_pending(&self, id: &str) -> bool {
        self.pending.contains_key(id)
            || self.with_cold(|c| c.contains(Which::Pending, id)) == Some(true)
    }

    /// The waiting prediction `id`, removed.
    pub fn take_pending(&mut self, id: &str) -> Option<P> {
        if let Some(p) = self.pending.remove(id) {
            self.note(|| Change::PendingGone(Id::new(id)));
            return Some(p);
        }
        self.with_cold(|c| c.take(Which::Pending, id)).flatten()
    }

    /// Adds a waiting prediction.
    pub fn add_pending(&mut self, id: &str, p: P) {
        let id = Id::new(id);
        self.note(|| Change::Pending(id.clone(), p.clone()));
        self.order.push_back((id.clone(), p.ts_ms()));
        self.pending.insert(id, p);
        self.compact_order();
    }

    /// Adds a waiting prediction unless one with this id already waits (in either tier): one
    /// lookup where [`JoinStore::is_pending`] then [`JoinStore::add_pending`] make two, which
    /// matters when a million predictions wait. Returns whether it was added.
    pub fn add_pending_if_absent(&mut self, id: &str, p: P) -> bool {
        if self.with_cold(|c| c.contains(Which::Pending, id)) == Some(true) {
            return false;
        }
        let live = self.live();
        let id = Id::new(id);
        let ts = p.ts_ms();
        let logged = self.journal.is_some().then(|| p.clone());
        if !self.pending.insert_new(id.clone(), p) {
            return false;
        }
        if let (Some(j), Some(p)) = (self.journal.as_mut(), logged) {
            j.record(Change::Pending(id.clone(), p), live);
        }
        self.order.push_back((id, ts));
        self.compact_order();
        true
    }

    /// Adds feedback that came before its prediction.
    pub fn add_early(&mut self, id: &str, e: E) {
        let id = Id::new(id);
        self.note(|| Change::Early(id.clone(), e.clone()));
        self.early.insert(id.clone(), e);
        self.early_order.push_back(id);
    }

    /// Remembers a joined id.
    pub fn mark_joined(&mut self, id: &str) {
        let id = Id::new(id);
        self.note(|| Change::Joined(id.clone()));
        self.joined.insert(id.clone());
        self.joined_ids.push_back(id);
    }

    /// Entries held in memory, all FIFOs.
    fn live(&self) -> usize {
        self.pending.len() + self.early.len() + self.joined.len()
    }

    /// Records a change in the journal, if the store keeps one.
    fn note(&mut self, change: impl FnOnce() -> Change<P, E>) {
        let live = self.live();
        if let Some(j) = self.journal.as_mut() {
            j.record(change(), live);
        }
    }

    /// Drops `order` entries of predictions no longer waiting once they outnumber the live ones
    /// (amortised O(1)): joined predictions would otherwise stay in it until their TTL.
    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.pending.len() + 1024 {
            let pending = &self.pending;
            self.order
                .retain(|(id, ts)| pending.get(id).is_some_and(|p| p.ts_ms() == *ts));
        }
    }

    /// Applies the bounds at `now_ms`, oldest first, counting what is evicted; then moves what
    /// exceeds the hot tier to the cold one.
    pub fn enforce(&mut self, b: Bounds, now_ms: i64) {
        self.enforce_pending(b, now_ms);
        let early_max = b.max / 10 + 1;
        while self.early.len() + self.cold_len(Which::Early) > early_max {
            // The cold tier holds the oldest entries.
            let popped = match self.with_cold(|c| c.pop_oldest(Which::Early)).flatten() {
                Some(_) => true,
                None => match self.early_order.pop_front() {
                    Some(id) => {
                        self.note(|| Change::EarlyPop);
                        self.early.remove(&id).is_some()
                    }
                    None => break,
                },
            };
            if popped {
                self.unmatched_feedback += 1;
            }
        }
        while self.joined.len() + self.cold_len(Which::Joined) > b.dedupe {
            if self
                .with_cold(|c| c.pop_oldest(Which::Joined))
                .flatten()
                .is_none()
            {
                match self.joined_ids.pop_front() {
                    Some(id) => {
                        self.note(|| Change::JoinedPop);
                        self.joined.remove(&id);
                    }
                    None => break,
                }
            }
        }
        self.spill();
    }

    fn enforce_pending(&mut self, b: Bounds, now_ms: i64) {
        loop {
            // Entries of predictions already joined never hold eviction back (in either tier
            // layout), so the oldest *waiting* prediction decides.
            while let Some((id, ts)) = self.order.front()
                && self.pending.get(id).is_none_or(|p| p.ts_ms() != *ts)
            {
                self.order.pop_front();
            }
            if self.spill_error().is_some() {
                return;
            }
            let total = self.len();
            // The cold tier holds the oldest predictions.
            if let Some((_, p)) = self
                .with_cold(|c| c.peek_oldest::<P>(Which::Pending))
                .flatten()
            {
                if total <= b.max && now_ms - p.ts_ms() <= b.ttl_ms {
                    return;
                }
                if self
                    .with_cold(|c| c.pop_oldest(Which::Pending))
                    .flatten()
                    .is_none()
                {
                    return; // an error was recorded: the replay stops with it
                }
                self.evicted += 1;
                continue;
            }
            let Some((id, ts)) = self.order.front() else {
                return;
            };
            let expired = now_ms - *ts > b.ttl_ms;
            if total <= b.max && !expired {
                return;
            }
            if self.pending.get(id).is_some_and(|p| p.ts_ms() == *ts) {
                let id = id.clone();
                self.pending.remove(&id);
                self.evicted += 1;
                self.note(|| Change::PendingGone(id));
            }
            self.order.pop_front();
        }
    }

    /// Moves the oldest hot entries of each FIFO past the hot size to the cold tier, a quarter of
    /// the hot size at a time (one write transaction per batch).
    fn spill(&mut self) {
        let Some(cold) = self.cold.clone() else {
            return;
        };
        let mut c = cold
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hot = c.hot;
        if self.pending.len() > hot {
            let mut batch = Vec::new();
            while self.pending.len() > hot * 3 / 4 {
                let Some((id, ts)) = self.order.pop_front() else {
                    break;
                };
                if self.pending.get(&id).is_some_and(|p| p.ts_ms() == ts)
                    && let Some(p) = self.pending.remove(&id)
                {
                    batch.push((id.to_string(), p));
                }
            }
            c.push(Which::Pending, batch);
        }
        if self.early.len() > hot {
            let mut batch = Vec::new();
            while self.early.len() > hot * 3 / 4 {
                let Some(id) = self.early_order.pop_front() else {
                    break;
                };
                if let Some(e) = self.early.remove(&id) {
                    batch.push((id.to_string(), e));
                }
            }
            c.push(Which::Early, batch);
        }
        if self.joined.len() > hot {
            let mut batch = Vec::new();
            while self.joined.len() > hot * 3 / 4 {
                let Some(id) = self.joined_ids.pop_front() else {
                    break;
                };
                if self.joined.remove(&id) {
                    batch.push((id.to_string(), ()));
                }
            }
            c.push(Which::Joined, batch);
        }
    }
}

#[cfg(test)]
mod journal_tests;
