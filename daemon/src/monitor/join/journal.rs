//! Incremental checkpoints of a join store: a **journal** of what changed since the last
//! checkpoint, written as one more key in the same atomic write as the offsets, instead of the
//! whole store every time.
//!
//! **Keys** (under the owner's prefix, e.g. `monitor/churn/join`): `…/base` — the live entries of
//! every FIFO, in order, as of the last snapshot; `…/log/0`, `…/log/1`, … — the changes of each
//! checkpoint since. The owner's own record carries how many log segments exist, so a restore reads
//! exactly the keys that were written together with it (no key scan), and a crash between two
//! checkpoints leaves the previous, consistent set.
//!
//! **Cost model.** A checkpoint writes the changes since the previous one: `O(events since the last
//! checkpoint)` bytes, *whatever the number of waiting predictions*. When the changes since the
//! snapshot (stored segments and this checkpoint's log) outnumber the live entries (plus
//! [`SNAPSHOT_SLACK`]), the checkpoint writes a new snapshot instead and deletes the log segments in
//! the same write — with labels joined quickly the store turns over between checkpoints and this is
//! every checkpoint, the cost of the whole store as before. Snapshots cost `O(live)` but come at
//! most once per `live` changes, so the amortised cost per change stays `O(1)`, and a restore reads
//! one snapshot and at most about as many changes as entries. A log that outgrows twice the live
//! entries is dropped at once (a snapshot is due anyway), so memory stays `O(live)` even while the
//! store is unreachable.
//!
//! **Exactness.** The journal records every operation that changes a FIFO — including the pops of
//! stale early-feedback entries that eviction makes, which matter — so replaying it rebuilds the
//! maps and the live order of the queues exactly: a restored store evicts, joins and counts exactly
//! as the original would have (tested).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Full, Id, JoinStore, Stamped};

/// Changes beyond the live entries before a snapshot replaces the log.
pub const SNAPSHOT_SLACK: u64 = 4_096;

/// One change to a join store's FIFOs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: DeserializeOwned, E: DeserializeOwned"))]
pub enum Change<P, E> {
    /// A prediction starts waiting (pushed on the pending queue).
    Pending(Id, P),
    /// A waiting prediction was taken or evicted. (Its queue entry goes stale; stale entries of
    /// the pending queue never change what the store does — each is checked against the map's
    /// event time — so their pops are not journaled and a restore drops them.)
    PendingGone(Id),
    /// Feedback starts waiting for its prediction.
    Early(Id, E),
    /// Early feedback was taken (map only).
    EarlyGone(Id),
    /// The early queue's front entry was popped (and its feedback, if still waiting, evicted).
    EarlyPop,
    /// An id was joined.
    Joined(Id),
    /// The oldest joined id was forgotten.
    JoinedPop,
}

/// The journal of a join store whose checkpoints are incremental. Its stored form is a
/// [`Position`].
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "P: DeserializeOwned, E: DeserializeOwned"))]
pub struct Journal<P, E> {
    /// Log segments stored since the last snapshot.
    pub segments: u64,
    /// Changes logged since the last snapshot (stored segments and `log`).
    #[serde(default)]
    pub since_snapshot: u64,
    /// Changes since the last checkpoint.
    #[serde(skip)]
    pub log: Vec<Change<P, E>>,
    /// The log was dropped (too long while the store was away): the next checkpoint snapshots.
    #[serde(skip)]
    pub snapshot_due: bool,
}

impl<P, E> Default for Journal<P, E> {
    fn default() -> Self {
        Journal {
            segments: 0,
            since_snapshot: 0,
            log: Vec::new(),
            snapshot_due: false,
        }
    }
}

/// Where a journal stands once a checkpoint is stored: what the store's record carries.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Position {
    /// Log segments stored since the last snapshot.
    pub segments: u64,
    /// Changes in them.
    pub since_snapshot: u64,
}

/// What the next checkpoint of a journaled store writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing changed.
    Nothing,
    /// One more log segment.
    Segment,
    /// A snapshot, deleting the segments.
    Snapshot,
}

impl<P, E> Journal<P, E> {
    /// Records a change (unless a snapshot is due anyway), dropping the log when it outgrows twice
    /// the `live` entries (plus [`SNAPSHOT_SLACK`]): the next checkpoint is then a snapshot.
    pub fn record(&mut self, c: Change<P, E>, live: usize) {
        if self.snapshot_due {
            return;
        }
        self.log.push(c);
        if self.log.len() as u64 > 2 * live as u64 + SNAPSHOT_SLACK {
            self.log = Vec::new();
            self.snapshot_due = true;
        }
    }

    /// What the next checkpoint writes for a store with `live` entries: a snapshot once the
    /// changes since the last one (stored segments and the log) outnumber the live entries (plus
    /// [`SNAPSHOT_SLACK`]), else a segment of the log, if anything changed.
    pub fn next(&self, live: usize) -> Next {
        let log = self.log.len() as u64;
        if self.snapshot_due || self.since_snapshot + log > live as u64 + SNAPSHOT_SLACK {
            Next::Snapshot
        } else if log == 0 {
            Next::Nothing
        } else {
            Next::Segment
        }
    }

    /// Where the journal stands once the next checkpoint is stored.
    pub fn position_after(&self, live: usize) -> Position {
        match self.next(live) {
            Next::Nothing => Position {
                segments: self.segments,
                since_snapshot: self.since_snapshot,
            },
            Next::Segment => Position {
                segments: self.segments + 1,
                since_snapshot: self.since_snapshot + self.log.len() as u64,
            },
            Next::Snapshot => Position {
                segments: 0,
                since_snapshot: 0,
            },
        }
    }

    /// The next checkpoint was stored.
    pub fn committed(&mut self, live: usize) {
        let p = self.position_after(live);
        self.segments = p.segments;
        self.since_snapshot = p.since_snapshot;
        self.snapshot_due = false;
        self.log.clear();
    }
}
/// The key of the snapshot under `prefix`.
pub fn base_key(prefix: &str) -> String {
    format!("{prefix}/base")
}

/// The key of log segment `n` under `prefix`.
pub fn log_key(prefix: &str, n: u64) -> String {
    format!("{prefix}/log/{n}")
}

/// The journal side of a join store: turning it on, the checkpoint's keys, the restore.
impl<P: Stamped, E: Clone + Serialize + DeserializeOwned> JoinStore<P, E> {
    /// Makes checkpoints incremental ([the module](self)): from now on the store's record holds only its
    /// counters and the journal's position, and [`JoinStore::checkpoint_writes`] gives the keys to
    /// write with it. The first checkpoint is a snapshot of what the store holds. Not with a cold
    /// tier (replays never checkpoint).
    pub fn journaled(&mut self) {
        if self.journal.is_none() && self.cold.is_none() {
            self.journal = Some(Journal {
                snapshot_due: true,
                ..Journal::default()
            });
        }
    }

    /// Back to whole-store checkpoints (the journal is dropped; the record holds every entry again).
    pub fn unjournaled(&mut self) {
        self.journal = None;
    }

    /// Whether checkpoints are incremental.
    pub fn is_journaled(&self) -> bool {
        self.journal.is_some()
    }

    /// The keys to write (and delete) under `prefix` in the same atomic write as the store's own
    /// record, for an incremental checkpoint; nothing when the store is not journaled or nothing
    /// changed. Call [`JoinStore::checkpoint_committed`] once that write is stored.
    pub fn checkpoint_writes(&self, prefix: &str) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
        (
            self.checkpoint_puts(prefix),
            self.checkpoint_deletes(prefix),
        )
    }

    /// The keys [`JoinStore::checkpoint_writes`] writes.
    pub fn checkpoint_puts(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let Some(j) = &self.journal else {
            return Vec::new();
        };
        match j.next(self.live()) {
            Next::Nothing => Vec::new(),
            Next::Segment => vec![(
                log_key(prefix, j.segments),
                serde_json::to_vec(&j.log).expect("journal entries serialise"),
            )],
            Next::Snapshot => vec![(
                base_key(prefix),
                serde_json::to_vec(&Full(self)).expect("join store serialises"),
            )],
        }
    }

    /// The keys [`JoinStore::checkpoint_writes`] deletes (without serialising anything).
    pub fn checkpoint_deletes(&self, prefix: &str) -> Vec<String> {
        match &self.journal {
            Some(j) if j.next(self.live()) == Next::Snapshot => {
                (0..j.segments).map(|n| log_key(prefix, n)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The write of [`JoinStore::checkpoint_writes`] was stored.
    pub fn checkpoint_committed(&mut self) {
        let live = self.live();
        if let Some(j) = self.journal.as_mut() {
            j.committed(live);
        }
    }

    /// The keys a restore reads under `prefix`: the snapshot, then the log segments in order
    /// (empty when the store is not journaled).
    pub fn journal_keys(&self, prefix: &str) -> Vec<String> {
        match &self.journal {
            None => Vec::new(),
            Some(j) => std::iter::once(base_key(prefix))
                .chain((0..j.segments).map(|n| log_key(prefix, n)))
                .collect(),
        }
    }

    /// Rebuilds a journaled store's entries from the values of [`JoinStore::journal_keys`] (a
    /// missing snapshot is an empty one), in order.
    pub fn restore_journal(
        &mut self,
        values: impl IntoIterator<Item = Option<Vec<u8>>>,
    ) -> Result<(), serde_json::Error> {
        let mut values = values.into_iter();
        if let Some(Some(base)) = values.next() {
            let full: JoinStore<P, E> = serde_json::from_slice(&base)?;
            self.pending = full.pending;
            self.order = full.order;
            self.early = full.early;
            self.early_order = full.early_order;
            self.joined_ids = full.joined_ids;
            self.joined = full.joined;
        }
        for bytes in values.flatten() {
            let changes: Vec<Change<P, E>> = serde_json::from_slice(&bytes)?;
            for c in changes {
                self.apply(c);
            }
        }
        // Stale pending entries are not journaled: drop them all.
        let pending = &self.pending;
        self.order
            .retain(|(id, ts)| pending.get(id).is_some_and(|p| p.ts_ms() == *ts));
        Ok(())
    }

    fn apply(&mut self, c: Change<P, E>) {
        match c {
            Change::Pending(id, p) => {
                self.order.push_back((id.clone(), p.ts_ms()));
                self.pending.insert(id, p);
            }
            Change::PendingGone(id) => {
                self.pending.remove(&id);
            }
            Change::Early(id, e) => {
                self.early.insert(id.clone(), e);
                self.early_order.push_back(id);
            }
            Change::EarlyGone(id) => {
                self.early.remove(&id);
            }
            Change::EarlyPop => {
                if let Some(id) = self.early_order.pop_front() {
                    self.early.remove(&id);
                }
            }
            Change::Joined(id) => {
                self.joined.insert(id.clone());
                self.joined_ids.push_back(id);
            }
            Change::JoinedPop => {
                if let Some(id) = self.joined_ids.pop_front() {
                    self.joined.remove(&id);
                }
            }
        }
    }
}
