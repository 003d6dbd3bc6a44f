//! The join store's cold tier (`driftd replay` only, [`JoinStore::spill_to`]): the oldest entries
//! of each FIFO in a temporary redb file, with a counting Bloom filter and a cached head per FIFO
//! so that the hot path rarely touches the file.

use std::path::Path;

use redb::{ReadableTable, TableDefinition};
use serde::Serialize;

#[cfg(doc)]
use super::JoinStore;
use super::SpillError;

/// One FIFO in the cold tier: `NAME` maps id → (sequence, JSON value), `NAME_order` sequence → id.
struct Fifo {
    data: String,
    order: String,
    len: u64,
    next_seq: u64,
    /// Which ids may be in the file: most lookups of an id that is not there (every new
    /// prediction asks "already joined? already waiting?") end here, without touching the file.
    filter: CountingBloom,
    /// The oldest entry (id, JSON value), cached: eviction asks for it on every event.
    head: Option<(String, Vec<u8>)>,
}

/// A counting Bloom filter of fixed size (so memory stays flat): `K` 8-bit counters per id;
/// removal decrements them. A saturated counter is never decremented, which can only add false
/// positives (a lookup in the file), never false negatives. Hand-written: the few crates that
/// offer counting filters pull in far more than these thirty lines.
struct CountingBloom {
    counters: Vec<u8>,
}

impl CountingBloom {
    const K: u64 = 4;

    fn new(size: usize) -> CountingBloom {
        CountingBloom {
            counters: vec![0; size.max(64)],
        }
    }

    /// The counter positions of `id` (double hashing over one 64-bit FNV-1a hash).
    fn positions(&self, id: &str) -> impl Iterator<Item = usize> + use<> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let (h1, h2) = (h, h.rotate_left(31) | 1);
        let m = self.counters.len() as u64;
        (0..Self::K).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn insert(&mut self, id: &str) {
        for p in self.positions(id) {
            self.counters[p] = self.counters[p].saturating_add(1);
        }
    }

    fn remove(&mut self, id: &str) {
        for p in self.positions(id) {
            if self.counters[p] != u8::MAX {
                self.counters[p] = self.counters[p].saturating_sub(1);
            }
        }
    }

    fn may_contain(&self, id: &str) -> bool {
        self.positions(id).all(|p| self.counters[p] > 0)
    }
}

type DataTable<'a> = TableDefinition<'a, &'static str, (u64, &'static [u8])>;
type OrderTable<'a> = TableDefinition<'a, u64, &'static str>;

impl Fifo {
    fn new(name: &str) -> Fifo {
        Fifo {
            data: name.to_owned(),
            order: format!("{name}_order"),
            len: 0,
            next_seq: 0,
            filter: CountingBloom::new(1 << 20),
            head: None,
        }
    }

    fn data(&self) -> DataTable<'_> {
        TableDefinition::new(&self.data)
    }

    fn order_table(&self) -> OrderTable<'_> {
        TableDefinition::new(&self.order)
    }

    fn push<V: Serialize>(
        &mut self,
        txn: &redb::WriteTransaction,
        items: Vec<(String, V)>,
    ) -> Result<(), redb::Error> {
        if items.is_empty() {
            return Ok(());
        }
        let mut data = txn.open_table(self.data())?;
        let mut order = txn.open_table(self.order_table())?;
        for (id, v) in &items {
            let bytes = serde_json::to_vec(v).unwrap_or_default();
            let seq = self.next_seq;
            data.insert(id.as_str(), (seq, bytes.as_slice()))?;
            order.insert(seq, id.as_str())?;
            self.filter.insert(id);
            self.next_seq += 1;
            self.len += 1;
        }
        Ok(())
    }

    fn contains(&self, txn: &redb::WriteTransaction, id: &str) -> Result<bool, redb::Error> {
        if self.len == 0 || !self.filter.may_contain(id) {
            return Ok(false);
        }
        let table = txn.open_table(self.data())?;
        Ok(table.get(id)?.is_some())
    }

    fn take<V: serde::de::DeserializeOwned>(
        &mut self,
        txn: &redb::WriteTransaction,
        id: &str,
    ) -> Result<Option<V>, redb::Error> {
        if self.len == 0 || !self.filter.may_contain(id) {
            return Ok(None);
        }
        let mut data = txn.open_table(self.data())?;
        let removed = data.remove(id)?.map(|g| {
            let (seq, bytes) = g.value();
            (seq, serde_json::from_slice::<V>(bytes).ok())
        });
        let Some((seq, v)) = removed else {
            return Ok(None);
        };
        let mut order = txn.open_table(self.order_table())?;
        order.remove(seq)?;
        self.filter.remove(id);
        if self.head.as_ref().is_some_and(|(h, _)| h == id) {
            self.head = None;
        }
        self.len -= 1;
        Ok(v)
    }

    fn peek_oldest<V: serde::de::DeserializeOwned>(
        &mut self,
        txn: &redb::WriteTransaction,
    ) -> Result<Option<(String, V)>, redb::Error> {
        if self.len == 0 {
            return Ok(None);
        }
        if self.head.is_none() {
            let order = txn.open_table(self.order_table())?;
            let Some((_, id)) = order.first()? else {
                return Ok(None);
            };
            let id = id.value().to_owned();
            let data = txn.open_table(self.data())?;
            let bytes = data.get(id.as_str())?.map(|g| g.value().1.to_vec());
            self.head = bytes.map(|b| (id, b));
        }
        Ok(self
            .head
            .as_ref()
            .and_then(|(id, b)| serde_json::from_slice::<V>(b).ok().map(|v| (id.clone(), v))))
    }

    /// Removes the oldest entry; returns its id.
    fn pop_oldest(&mut self, txn: &redb::WriteTransaction) -> Result<Option<String>, redb::Error> {
        if self.len == 0 {
            return Ok(None);
        }
        let mut order = txn.open_table(self.order_table())?;
        let Some(id) = order.pop_first()?.map(|(_, id)| id.value().to_owned()) else {
            return Ok(None);
        };
        let mut data = txn.open_table(self.data())?;
        self.head = None;
        if data.remove(id.as_str())?.is_some() {
            self.filter.remove(&id);
            self.len -= 1;
        }
        Ok(Some(id))
    }
}

/// The three FIFOs of the cold tier.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which {
    Pending,
    Early,
    Joined,
}

/// The cold tier: a temporary redb file with a small cache (its pages are the OS's file cache,
/// not the process's memory).
pub(super) struct Cold {
    /// Declared before `path`: the database closes before its file is deleted.
    db: redb::Database,
    /// One write transaction serves every operation (reads included) and is committed every
    /// [`Cold::OPS_PER_COMMIT`] operations: nothing here needs durability, only memory relief.
    txn: Option<redb::WriteTransaction>,
    /// The file, created exclusively (never an older run's leftover); deleted on drop.
    path: tempfile::TempPath,
    pub(super) hot: usize,
    pending: Fifo,
    early: Fifo,
    joined: Fifo,
    writes: u64,
    /// The first failure of the file; the replay stops with it (see [`JoinStore::spill_error`]).
    pub(super) error: Option<String>,
}

impl std::fmt::Debug for Cold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cold")
            .field("path", &self.path)
            .field("pending", &self.pending.len)
            .field("early", &self.early.len)
            .field("joined", &self.joined.len)
            .finish()
    }
}

impl Cold {
    pub(super) fn create(dir: &Path, hot: usize) -> Result<Cold, SpillError> {
        let file = tempfile::Builder::new()
            .prefix("driftd-join-")
            .suffix(".redb")
            .tempfile_in(dir)
            .map_err(|source| SpillError::TempFile {
                dir: dir.to_owned(),
                source,
            })?;
        let (file, path) = file.into_parts();
        let backend = redb::backends::FileBackend::new(file).map_err(|e| SpillError::Open {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let db = redb::Database::builder()
            .set_cache_size(256 << 10)
            .create_with_backend(backend)
            .map_err(|e| SpillError::Open {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        Ok(Cold {
            db,
            txn: None,
            path,
            hot,
            pending: Fifo::new("pending"),
            early: Fifo::new("early"),
            joined: Fifo::new("joined"),
            writes: 0,
            error: None,
        })
    }

    const OPS_PER_COMMIT: u64 = 4096;

    /// Counts an operation; commits the open transaction now and then. Non-durable commits keep
    /// their freed pages until a durable one, so every 64th commit is durable (the file would
    /// otherwise grow with the number of transactions).
    fn tick(&mut self) {
        self.writes += 1;
        if !self.writes.is_multiple_of(Self::OPS_PER_COMMIT) {
            return;
        }
        if let Some(mut txn) = self.txn.take() {
            let durable = (self.writes / Self::OPS_PER_COMMIT).is_multiple_of(64);
            let r = if durable {
                txn.set_durability(redb::Durability::Immediate)
                    .map_err(redb::Error::from)
                    .and_then(|()| txn.commit().map_err(redb::Error::from))
            } else {
                txn.commit().map_err(redb::Error::from)
            };
            self.ok(r, ());
        }
    }

    /// Keeps a result, recording the first error (and answering the fallback).
    fn ok<T>(&mut self, r: Result<T, redb::Error>, fallback: T) -> T {
        match r {
            Ok(v) => v,
            Err(e) => {
                self.error
                    .get_or_insert_with(|| format!("{}: {e}", self.path.display()));
                fallback
            }
        }
    }

    /// Runs `f` on one FIFO inside the open write transaction (begun when needed).
    fn with<T>(
        &mut self,
        which: Which,
        fallback: T,
        f: impl FnOnce(&mut Fifo, &redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> T {
        if self.txn.is_none() {
            let begun = self
                .db
                .begin_write()
                .map_err(redb::Error::from)
                .and_then(|mut t| {
                    t.set_durability(redb::Durability::None)?;
                    Ok(t)
                });
            match begun {
                Ok(t) => self.txn = Some(t),
                Err(e) => return self.ok(Err(e), fallback),
            }
        }
        let Some(txn) = self.txn.as_ref() else {
            return fallback;
        };
        let fifo = match which {
            Which::Pending => &mut self.pending,
            Which::Early => &mut self.early,
            Which::Joined => &mut self.joined,
        };
        let r = f(fifo, txn);
        let v = match r {
            Ok(v) => v,
            Err(e) => {
                self.error
                    .get_or_insert_with(|| format!("{}: {e}", self.path.display()));
                fallback
            }
        };
        self.tick();
        v
    }

    pub(super) fn push<V: Serialize>(&mut self, which: Which, batch: Vec<(String, V)>) {
        self.with(which, (), |f, t| f.push(t, batch));
    }

    pub(super) fn contains(&mut self, which: Which, id: &str) -> bool {
        self.with(which, false, |f, t| f.contains(t, id))
    }

    pub(super) fn take<V: serde::de::DeserializeOwned>(
        &mut self,
        which: Which,
        id: &str,
    ) -> Option<V> {
        self.with(which, None, |f, t| f.take(t, id))
    }

    pub(super) fn peek_oldest<V: serde::de::DeserializeOwned>(
        &mut self,
        which: Which,
    ) -> Option<(String, V)> {
        self.with(which, None, |f, t| f.peek_oldest(t))
    }

    pub(super) fn pop_oldest(&mut self, which: Which) -> Option<String> {
        self.with(which, None, |f, t| f.pop_oldest(t))
    }

    pub(super) fn len(&self, which: Which) -> usize {
        (match which {
            Which::Pending => self.pending.len,
            Which::Early => self.early.len,
            Which::Joined => self.joined.len,
        }) as usize
    }
}

impl Drop for Cold {
    fn drop(&mut self) {
        // Abort the open transaction before the file goes (the `TempPath` deletes it).
        drop(self.txn.take());
    }
}
