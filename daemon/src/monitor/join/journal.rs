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
//! checkpoint)` bytes, *whatever the number of waiting predictions*. When the changes logged since
//! the snapshot outnumber the live entries [`SNAPSHOT_FACTOR`] times (plus [`SNAPSHOT_SLACK`]), or
//! when one checkpoint's changes are as many as the live entries (labels joined quickly: the whole
//! store turns over between checkpoints, and its snapshot is the smaller write), the checkpoint
//! writes a new snapshot instead and deletes the log segments in the same write. Snapshots cost
//! `O(live)` but come at most once per `live` changes, so the amortised cost per change stays
//! `O(1)`, and a restore reads one snapshot and at most about `SNAPSHOT_FACTOR` changes per entry.
//! A log that outgrows the live entries is dropped at once (the snapshot will be written instead),
//! so memory stays `O(live)` even while the store is unreachable.
//!
//! **Exactness.** The journal records every operation that changes a FIFO — including the pops of
//! stale early-feedback entries that eviction makes, which matter — so replaying it rebuilds the
//! maps and the live order of the queues exactly: a restored store evicts, joins and counts exactly
//! as the original would have (tested).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Changes beyond the live entries before a snapshot replaces the log.
pub const SNAPSHOT_SLACK: u64 = 4_096;

/// Stored changes since the snapshot, as a multiple of the live entries, before a new snapshot
/// (bounds a restore to one snapshot and about this many changes per entry).
pub const SNAPSHOT_FACTOR: u64 = 4;

/// One change to a join store's FIFOs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "P: DeserializeOwned, E: DeserializeOwned"))]
pub enum Change<P, E> {
    /// A prediction starts waiting (pushed on the pending queue).
    Pending(String, P),
    /// A waiting prediction was taken or evicted. (Its queue entry goes stale; stale entries of
    /// the pending queue never change what the store does — each is checked against the map's
    /// event time — so their pops are not journaled and a restore drops them.)
    PendingGone(String),
    /// Feedback starts waiting for its prediction.
    Early(String, E),
    /// Early feedback was taken (map only).
    EarlyGone(String),
    /// The early queue's front entry was popped (and its feedback, if still waiting, evicted).
    EarlyPop,
    /// An id was joined.
    Joined(String),
    /// The oldest joined id was forgotten.
    JoinedPop,
}

/// The journal of a join store whose checkpoints are incremental.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// the `live` entries.
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

    /// What the next checkpoint writes for a store with `live` entries.
    pub fn next(&self, live: usize) -> Next {
        if self.snapshot_due
            || self.since_snapshot + self.log.len() as u64 > live as u64 + SNAPSHOT_SLACK
        {
            Next::Snapshot
        } else if self.log.is_empty() {
            Next::Nothing
        } else {
            Next::Segment
        }
    }

    /// The segment count once the next checkpoint is stored.
    pub fn segments_after(&self, live: usize) -> u64 {
        match self.next(live) {
            Next::Nothing => self.segments,
            Next::Segment => self.segments + 1,
            Next::Snapshot => 0,
        }
    }

    /// The next checkpoint was stored.
    pub fn committed(&mut self, live: usize) {
        match self.next(live) {
            Next::Nothing => {}
            Next::Segment => {
                self.since_snapshot += self.log.len() as u64;
                self.segments += 1;
            }
            Next::Snapshot => {
                self.since_snapshot = 0;
                self.segments = 0;
                self.snapshot_due = false;
            }
        }
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
