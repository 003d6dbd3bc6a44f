//! The embedded state store: one redb file on local disk, opened by one process; leases and
//! pub/sub live in memory.
//!
//! **I/O failures.** After a failed write (e.g. the disk is full) redb refuses every later
//! operation until the file is opened again. The store therefore closes the file on an I/O
//! error and opens it again on the next operation (redb repairs it from its last commit, which
//! the failed one never replaced); until that succeeds every operation fails, so a full disk
//! stops the checkpoints, not the process, and they resume once space returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, TableDefinition};
use tokio::sync::{broadcast, mpsc};

use super::{BROADCAST_CAPACITY, Lease, SUBSCRIBER_CAPACITY, StateStore, StoreError};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");

/// A redb file on local disk. Operations run on tokio's blocking pool.
///
/// The file is opened exclusively by one process, so leases and pub/sub only need to work within
/// the process: they live in memory, shared by every clone of the store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<DbFile>,
    leases: Arc<tokio::sync::Mutex<HashMap<String, LeaseSlot>>>,
    channels: Arc<std::sync::Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
    /// Tests: writes fail with "no space left on device" while set.
    #[cfg(test)]
    fail_writes: Arc<std::sync::atomic::AtomicBool>,
}

/// The embedded store's record of one lease name.
#[derive(Default)]
struct LeaseSlot {
    /// The last fencing token handed out for this name.
    fence: u64,
    /// The current holder, if any (it may have expired).
    holder: Option<LeaseHolder>,
}

struct LeaseHolder {
    owner: String,
    token: u64,
    expires: Instant,
}

impl LeaseSlot {
    /// Whether `lease` is the live holder at `now`.
    fn held_by(&self, lease: &Lease, now: Instant) -> bool {
        self.holder
            .as_ref()
            .is_some_and(|h| h.owner == lease.owner && h.token == lease.token && h.expires > now)
    }
}

/// `now + ttl`, saturating far in the future instead of overflowing.
fn deadline(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

fn emb<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Embedded(e.to_string())
}

/// The redb file, closed after an I/O error and opened again by the next operation.
struct DbFile {
    path: PathBuf,
    /// `None` while closed after an I/O error.
    db: std::sync::RwLock<Option<redb::Database>>,
}

/// The embedded state store's page cache.
const STATE_CACHE_BYTES: usize = 32 << 20;

impl DbFile {
    /// Opens (or creates) the file and its table.
    fn open(path: &Path) -> Result<redb::Database, StoreError> {
        // The store is read back only at start-up and written at every checkpoint: a small page
        // cache (redb's default is 1 GiB) keeps the daemon's memory from growing with the
        // checkpoints it has written.
        let db = redb::Builder::new()
            .set_cache_size(STATE_CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Embedded(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(emb)?;
        txn.open_table(TABLE).map_err(emb)?;
        txn.commit().map_err(emb)?;
        Ok(db)
    }

    /// Runs `f` on the open database (opening it again first if an I/O error closed it). An I/O
    /// error closes it, so that the next operation starts from a freshly opened file.
    fn run<T>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        // Every update of the slot is a single assignment: it is consistent after a panic.
        if self.db.read().unwrap_or_else(|e| e.into_inner()).is_none() {
            self.reopen()?;
        }
        let r = {
            let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
            match guard.as_ref() {
                Some(db) => f(db),
                None => return Err(StoreError::Embedded("the store file is closed".into())),
            }
        };
        r.map_err(|e| {
            if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
                self.close(&e);
            }
            emb(e)
        })
    }

    /// Closes the file after an I/O error (once, however many operations saw it fail).
    fn close(&self, error: &redb::Error) {
        let mut guard = self.db.write().unwrap_or_else(|e| e.into_inner());
        if guard.take().is_some() {
            tracing::warn!(path = %self.path.display(), %error, "closed the store file after an I/O error; it is opened again by the next operation");
        }
    }

    /// Opens the file again if it is closed.
    fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let db = Self::open(&self.path)
                .map_err(|e| StoreError::Embedded(format!("reopening after an I/O error: {e}")))?;
            *guard = Some(db);
            tracing::info!(path = %self.path.display(), "store file opened again");
        }
        Ok(())
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store file, creating its parent directory if needed.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Embedded(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let db = DbFile::open(path)?;
        Ok(EmbeddedStore {
            db: Arc::new(DbFile {
                path: path.to_owned(),
                db: std::sync::RwLock::new(Some(db)),
            }),
            leases: Arc::default(),
            channels: Arc::default(),
            #[cfg(test)]
            fail_writes: Arc::default(),
        })
    }

    /// Takes the lease if nobody holds it (or the holder's expired); None if it is held.
    pub async fn acquire_lease(&self, name: &str, owner: &str, ttl: Duration) -> Option<Lease> {
        let mut leases = self.leases.lock().await;
        let slot = leases.entry(name.to_owned()).or_default();
        let now = Instant::now();
        if slot.holder.as_ref().is_some_and(|h| h.expires > now) {
            return None;
        }
        slot.fence += 1;
        slot.holder = Some(LeaseHolder {
            owner: owner.to_owned(),
            token: slot.fence,
            expires: deadline(now, ttl),
        });
        Some(Lease {
            name: name.to_owned(),
            owner: owner.to_owned(),
            token: slot.fence,
        })
    }

    /// Extends a held lease to `ttl` from now; false if it was lost (expired, taken or released).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> bool {
        let mut leases = self.leases.lock().await;
        let Some(slot) = leases.get_mut(&lease.name) else {
            return false;
        };
        let now = Instant::now();
        if !slot.held_by(lease, now) {
            return false;
        }
        if let Some(h) = slot.holder.as_mut() {
            h.expires = deadline(now, ttl);
        }
        true
    }

    /// Gives the lease up if `lease` still holds it; otherwise does nothing.
    pub async fn release_lease(&self, lease: &Lease) {
        let mut leases = self.leases.lock().await;
        if let Some(slot) = leases.get_mut(&lease.name)
            && slot.held_by(lease, Instant::now())
        {
            slot.holder = None;
        }
    }

    /// [`StateStore::put_all`] if `lease` is still held, under the lease lock so that nobody can
    /// take the lease between the check and the write; [`StoreError::Fenced`] otherwise.
    pub async fn put_all_fenced(
        &self,
        lease: &Lease,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        self.write_fenced(lease, entries, Vec::new()).await
    }

    /// [`StateStore::write`] if `lease` is still held; [`StoreError::Fenced`] otherwise.
    pub async fn write_fenced(
        &self,
        lease: &Lease,
        entries: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        let leases = self.leases.clone().lock_owned().await;
        let held = leases
            .get(&lease.name)
            .is_some_and(|slot| slot.held_by(lease, Instant::now()));
        if !held {
            return Err(StoreError::Fenced(lease.name.clone()));
        }
        // The guard moves into the blocking task, so it is held until the commit is done even if
        // this future is dropped meanwhile.
        self.blocking_write(leases, entries, deletes).await
    }

    /// Takes the lease `name` for `owner` whoever holds it, with a higher token and no expiry.
    pub async fn claim_lease(&self, name: &str, owner: &str) -> Lease {
        let mut leases = self.leases.lock().await;
        let slot = leases.entry(name.to_owned()).or_default();
        slot.fence += 1;
        slot.holder = Some(LeaseHolder {
            owner: owner.to_owned(),
            token: slot.fence,
            expires: deadline(Instant::now(), Duration::MAX),
        });
        Lease {
            name: name.to_owned(),
            owner: owner.to_owned(),
            token: slot.fence,
        }
    }

    /// [`StateStore::write`] if every lease is still held; [`StoreError::Fenced`] with the first
    /// one lost otherwise, and nothing is written.
    pub async fn write_fenced_all(
        &self,
        held: &[Lease],
        entries: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        let leases = self.leases.clone().lock_owned().await;
        let now = Instant::now();
        if let Some(lost) = held
            .iter()
            .find(|l| !leases.get(&l.name).is_some_and(|slot| slot.held_by(l, now)))
        {
            return Err(StoreError::Fenced(lost.name.clone()));
        }
        self.blocking_write(leases, entries, deletes).await
    }

    /// Tests: makes every write fail as on a full disk (an I/O error) while `fail` is set.
    #[cfg(test)]
    pub(crate) fn fail_writes(&self, fail: bool) {
        self.fail_writes
            .store(fail, std::sync::atomic::Ordering::Relaxed);
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Vec<u8>>>> {
        // The map stays consistent even if a holder panicked: every update is a single call.
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `payload` to this process' subscribers of `channel`; returns how many there are.
    pub fn publish(&self, channel: &str, payload: &[u8]) -> u64 {
        let Some(tx) = self.channels().get(channel).cloned() else {
            return 0;
        };
        tx.send(payload.to_vec()).map_or(0, |n| n as u64)
    }

    /// Subscribes to `channel` within this process (call it within a tokio runtime: a task
    /// forwards the messages, until the receiver is dropped).
    pub fn subscribe(&self, channel: &str) -> mpsc::Receiver<Vec<u8>> {
        let mut brx = self
            .channels()
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(BROADCAST_CAPACITY).0)
            .subscribe();
        let (tx, rx) = mpsc::channel(SUBSCRIBER_CAPACITY);
        let store = self.clone();
        let channel = channel.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    msg = brx.recv() => match msg {
                        Ok(m) => {
                            if tx.send(m).await.is_err() {
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(channel, skipped = n, "slow subscriber: messages skipped");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            drop(brx);
            let mut channels = store.channels();
            if channels
                .get(&channel)
                .is_some_and(|tx| tx.receiver_count() == 0)
            {
                channels.remove(&channel);
            }
        });
        rx
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.run(f))
            .await
            .map_err(|e| StoreError::Embedded(format!("store task failed: {e}")))?
    }

    /// [`write_all`] on the blocking pool, holding `guard` until the commit is done (even if
    /// this future is dropped meanwhile).
    async fn blocking_write<G: Send + 'static>(
        &self,
        guard: G,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        #[cfg(test)]
        let fail = self.fail_writes.load(std::sync::atomic::Ordering::Relaxed);
        self.blocking(move |db| {
            let _guard = guard;
            #[cfg(test)]
            if fail {
                return Err(redb::Error::Io(std::io::Error::from_raw_os_error(28)));
            }
            write_all(db, &puts, &deletes)
        })
        .await
    }
}

/// Deletes `deletes`, then writes `entries`, in one transaction.
fn write_all(
    db: &redb::Database,
    entries: &[(String, Vec<u8>)],
    deletes: &[String],
) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(TABLE)?;
        for k in deletes {
            table.remove(k.as_str())?;
        }
        for (k, v) in entries {
            table.insert(k.as_str(), v.as_slice())?;
        }
    }
    Ok(txn.commit()?)
}

impl StateStore for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(TABLE)?;
            Ok(table.get(key.as_str())?.map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn put_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.blocking_write((), entries, Vec::new()).await
    }

    async fn write(
        &self,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        self.blocking_write((), puts, deletes).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(TABLE)?;
                table.remove(key.as_str())?;
            }
            Ok(txn.commit()?)
        })
        .await
    }

    /// Whether the file is open (opening it again after an I/O error) and readable.
    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            db.begin_read()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(s: &EmbeddedStore) -> bool {
        s.db.db.read().unwrap().is_none()
    }

    /// Regression: redb refuses every operation after an I/O error ("previous I/O error") until
    /// the file is opened again, so a full disk stopped the checkpoints for good. The store
    /// closes the file on the error and the next operation opens it again with the last commit.
    #[tokio::test]
    async fn an_io_error_closes_the_file_and_the_next_operation_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
        s.put_all(vec![("k".into(), b"1".to_vec())]).await.unwrap();

        s.fail_writes(true);
        let e = s.put_all(vec![("k".into(), b"2".to_vec())]).await;
        assert!(
            e.unwrap_err().to_string().contains("os error 28"),
            "the disk error is reported"
        );
        assert!(closed(&s), "the file is closed after the I/O error");

        s.fail_writes(false);
        assert_eq!(s.get("k").await.unwrap(), Some(b"1".to_vec()));
        assert!(!closed(&s), "a read opened it again");
        s.put_all(vec![("k".into(), b"3".to_vec())]).await.unwrap();
        assert_eq!(s.get("k").await.unwrap(), Some(b"3".to_vec()));

        // A ping opens it too (readiness recovers without traffic once writes work).
        s.fail_writes(true);
        assert!(s.put_all(vec![("k".into(), vec![])]).await.is_err());
        assert!(closed(&s));
        s.ping().await.unwrap();
        assert!(!closed(&s));
    }
}
