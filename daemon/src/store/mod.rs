//! The state store: one trait, two implementations.
//!
//! - [`EmbeddedStore`]: a single redb file on local disk (ACID, fsync on commit). The default; needs
//!   no service.
//! - [`RedisStore`]: Redis through a [`redis::aio::ConnectionManager`] (reconnects with backoff),
//!   every key under a per-deployment prefix.
//!
//! Both give [`StateStore::put_all`] all-or-nothing semantics (a redb write transaction, a Redis
//! `MULTI`/`EXEC`), which is what checkpoints rely on: a shard's state and its offset land together
//! or not at all. Keys are plain strings such as `checkpoint/kafka/driftd/predictions/0`.
//!
//! On top of that, [`AnyStore`] offers what several driftd processes need to coordinate:
//!
//! - **Leases** ([`AnyStore::acquire_lease`], [`AnyStore::renew_lease`],
//!   [`AnyStore::release_lease`]): a named resource held by one owner until the lease expires.
//!   Every lease carries a fencing token that strictly increases per name, and
//!   [`AnyStore::put_all_fenced`] writes only while the lease is still held, so a holder that
//!   lost its lease (paused, partitioned) cannot overwrite its successor's work. In Redis the lease
//!   is a key with a time-to-live and the check-and-act steps are Lua scripts; the embedded store
//!   is opened by one process only, so there a lease is an in-process table.
//! - **Pub/sub** ([`AnyStore::publish`], [`AnyStore::subscribe`]): best-effort notifications.
//!   Redis `PUBLISH` on a prefixed channel, received over a dedicated connection that reconnects by
//!   itself; embedded, an in-process broadcast. A message published while a subscriber is
//!   disconnected is lost, so subscribers also poll.

pub mod config;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, TableDefinition};
use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};

use tokio::sync::{broadcast, mpsc};

use crate::contract::settings::Secrets;

use crate::store::config::{RedisStateConfig, StateConfig};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");

/// How many messages a subscriber's receiver buffers.
const SUBSCRIBER_CAPACITY: usize = 64;
/// How many messages an embedded channel buffers for its slowest subscriber.
const BROADCAST_CAPACITY: usize = 256;

/// A state store failure. The message never contains secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded store failed.
    #[error("embedded store: {0}")]
    Embedded(String),
    /// Redis failed or is unreachable.
    #[error("redis: {0}")]
    Redis(String),
    /// The operation did not finish in time.
    #[error("state store operation timed out")]
    Timeout,
    /// A fenced write was refused: the lease is no longer held by this owner and token.
    #[error("lease {0} is no longer held (fenced)")]
    Fenced(String),
}

/// A lease on a named resource (e.g. retraining model "churn"), held by one owner until it
/// expires. `token` is the fencing token: strictly increasing per name across all holders ever
/// (a Redis INCR counter, never reset), so a write made under an old lease can be refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The leased resource.
    pub name: String,
    /// Who holds it (e.g. a host and process id).
    pub owner: String,
    /// The fencing token.
    pub token: u64,
}

/// Key-value state with atomic multi-key writes.
pub trait StateStore: Send + Sync {
    /// Reads one key.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Writes all entries atomically: all of them or none.
    fn put_all(
        &self,
        entries: Vec<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes one key (absent keys are fine).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Checks that the store answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The store in use, chosen by configuration.
#[derive(Clone)]
pub enum AnyStore {
    /// Local file.
    Embedded(EmbeddedStore),
    /// Redis.
    Redis(RedisStore),
}

impl AnyStore {
    /// A short name for logs: `embedded` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::Embedded(_) => "embedded",
            AnyStore::Redis(_) => "redis",
        }
    }

    /// Takes the lease if nobody holds it (or the holder's expired). None if someone else holds it
    /// (a live lease is never handed out twice, not even to the same owner).
    pub async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        match self {
            AnyStore::Embedded(s) => Ok(s.acquire_lease(name, owner, ttl).await),
            AnyStore::Redis(s) => s.acquire_lease(name, owner, ttl).await,
        }
    }

    /// Extends a held lease to `ttl` from now; Ok(false) if it was lost (expired, taken by another
    /// owner, or released).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            AnyStore::Embedded(s) => Ok(s.renew_lease(lease, ttl).await),
            AnyStore::Redis(s) => s.renew_lease(lease, ttl).await,
        }
    }

    /// Gives the lease up (only if still held by this lease; otherwise a no-op).
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => {
                s.release_lease(lease).await;
                Ok(())
            }
            AnyStore::Redis(s) => s.release_lease(lease).await,
        }
    }

    /// Like [`StateStore::put_all`], but atomically only if `lease` is still held (same owner and
    /// token); [`StoreError::Fenced`] otherwise, and nothing is written.
    pub async fn put_all_fenced(
        &self,
        lease: &Lease,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.put_all_fenced(lease, entries).await,
            AnyStore::Redis(s) => s.put_all_fenced(lease, entries).await,
        }
    }

    /// Publishes a message on a pub/sub channel (Redis: `PUBLISH` on the prefixed channel;
    /// embedded: an in-process broadcast per channel, so subscribers in the same process get it).
    /// Returns how many subscribers received it (Redis' answer; embedded: the receiver count).
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        match self {
            AnyStore::Embedded(s) => Ok(s.publish(channel, payload)),
            AnyStore::Redis(s) => s.publish(channel, payload).await,
        }
    }

    /// Subscribes to a channel; messages arrive on the returned receiver, and the subscription is
    /// active when this returns. For Redis, a background task holds a dedicated connection with
    /// the store's URL and credentials and reconnects with backoff if it drops (a message
    /// published while disconnected is lost, so callers also poll). The task ends when the
    /// receiver is dropped. Embedded: from the in-process broadcast.
    pub async fn subscribe(&self, channel: &str) -> Result<mpsc::Receiver<Vec<u8>>, StoreError> {
        match self {
            AnyStore::Embedded(s) => Ok(s.subscribe(channel)),
            AnyStore::Redis(s) => s.subscribe(channel).await,
        }
    }
}

impl StateStore for AnyStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            AnyStore::Embedded(s) => s.get(key).await,
            AnyStore::Redis(s) => s.get(key).await,
        }
    }
    async fn put_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.put_all(entries).await,
            AnyStore::Redis(s) => s.put_all(entries).await,
        }
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.delete(key).await,
            AnyStore::Redis(s) => s.delete(key).await,
        }
    }
    async fn ping(&self) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.ping().await,
            AnyStore::Redis(s) => s.ping().await,
        }
    }
}

/// A redb file on local disk. Operations run on tokio's blocking pool.
///
/// The file is opened exclusively by one process, so leases and pub/sub only need to work within
/// the process: they live in memory, shared by every clone of the store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<redb::Database>,
    leases: Arc<tokio::sync::Mutex<HashMap<String, LeaseSlot>>>,
    channels: Arc<std::sync::Mutex<HashMap<String, broadcast::Sender<Vec<u8>>>>>,
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

impl EmbeddedStore {
    /// Opens (or creates) the store file, creating its parent directory if needed.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Embedded(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let db = redb::Database::create(path)
            .map_err(|e| StoreError::Embedded(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(emb)?;
        txn.open_table(TABLE).map_err(emb)?;
        txn.commit().map_err(emb)?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            leases: Arc::default(),
            channels: Arc::default(),
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
        let leases = self.leases.clone().lock_owned().await;
        let held = leases
            .get(&lease.name)
            .is_some_and(|slot| slot.held_by(lease, Instant::now()));
        if !held {
            return Err(StoreError::Fenced(lease.name.clone()));
        }
        // The guard moves into the blocking task, so it is held until the commit is done even if
        // this future is dropped meanwhile.
        self.blocking(move |db| {
            let _leases = leases;
            write_all(db, &entries)
        })
        .await
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
        f: impl FnOnce(&redb::Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Embedded(format!("store task failed: {e}")))?
    }
}

/// Writes all entries in one redb transaction.
fn write_all(db: &redb::Database, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(emb)?;
    {
        let mut table = txn.open_table(TABLE).map_err(emb)?;
        for (k, v) in entries {
            table.insert(k.as_str(), v.as_slice()).map_err(emb)?;
        }
    }
    txn.commit().map_err(emb)
}

impl StateStore for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(emb)?;
            let table = txn.open_table(TABLE).map_err(emb)?;
            Ok(table
                .get(key.as_str())
                .map_err(emb)?
                .map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn put_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.blocking(move |db| write_all(db, &entries)).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(emb)?;
            {
                let mut table = txn.open_table(TABLE).map_err(emb)?;
                table.remove(key.as_str()).map_err(emb)?;
            }
            txn.commit().map_err(emb)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Redis with automatic reconnection; every key (and pub/sub channel) is `PREFIX:key`.
///
/// Leases are keys `PREFIX:lease/NAME` holding `OWNER:TOKEN` with a time-to-live; the tokens come
/// from the counter `PREFIX:lease-fence/NAME`, which is never reset.
#[derive(Clone)]
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    /// The same server and credentials, speaking RESP3, for subscriptions (each subscription
    /// gets a connection of its own).
    pubsub: redis::Client,
    prefix: String,
    timeout: Duration,
}

/// Takes a free lease: KEYS = lease, fence counter; ARGV = owner, ttl in ms. Returns the new
/// token, or nil if the lease is held. (Counting only successful takes keeps the tokens dense.)
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
",
    )
});

/// Extends a lease: KEYS = lease; ARGV = `OWNER:TOKEN`, ttl in ms. 1 if held, else 0.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// Releases a lease: KEYS = lease; ARGV = `OWNER:TOKEN`. 1 if it was held, else 0.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// A fenced multi-set: KEYS = lease, then the keys to write; ARGV = `OWNER:TOKEN`, then the
/// values. Writes (all of them) only if the lease is held: 1, else 0 and nothing written.
static PUT_FENCED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
return 1
",
    )
});

/// A lease's time-to-live in whole milliseconds (at least 1; Redis refuses 0).
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The value stored under a lease key.
fn lease_value(lease: &Lease) -> String {
    format!("{}:{}", lease.owner, lease.token)
}

fn red(e: redis::RedisError) -> StoreError {
    StoreError::Redis(e.to_string())
}

impl RedisStore {
    /// Connects (one attempt; the caller retries while Redis is down at start-up).
    pub async fn connect(
        cfg: &RedisStateConfig,
        password: Option<&SecretString>,
    ) -> Result<Self, StoreError> {
        let mut url = redis::parse_redis_url(&cfg.url)
            .ok_or_else(|| StoreError::Redis("invalid redis URL".into()))?;
        if let Some(user) = &cfg.username {
            url.set_username(user)
                .map_err(|_| StoreError::Redis("cannot set the user name".into()))?;
        }
        if let Some(p) = password {
            url.set_password(Some(p.expose_secret()))
                .map_err(|_| StoreError::Redis("cannot set the password".into()))?;
        }
        let client = redis::Client::open(url.as_str()).map_err(red)?;
        let info = client.get_connection_info().clone();
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let pubsub = redis::Client::open(info.set_redis_settings(resp3)).map_err(red)?;
        let mgr_cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.timeout))
            .set_response_timeout(Some(cfg.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = tokio::time::timeout(
            cfg.timeout * 2,
            redis::aio::ConnectionManager::new_with_config(client, mgr_cfg),
        )
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(red)?;
        Ok(RedisStore {
            conn,
            pubsub,
            prefix: cfg.key_prefix.clone(),
            timeout: cfg.timeout,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    async fn timed<T>(
        &self,
        f: impl Future<Output = Result<T, redis::RedisError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(red)
    }

    fn lease_key(&self, name: &str) -> String {
        self.key(&format!("lease/{name}"))
    }

    /// Takes the lease if nobody holds it (or the holder's expired); None if it is held.
    pub async fn acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let mut c = self.conn.clone();
        let mut inv = ACQUIRE.prepare_invoke();
        inv.key(self.lease_key(name))
            .key(self.key(&format!("lease-fence/{name}")))
            .arg(owner)
            .arg(ttl_millis(ttl));
        let token = self
            .timed(async move { inv.invoke_async::<Option<u64>>(&mut c).await })
            .await?;
        Ok(token.map(|token| Lease {
            name: name.to_owned(),
            owner: owner.to_owned(),
            token,
        }))
    }

    /// Extends a held lease to `ttl` from now; false if it was lost (expired, taken or released).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let mut inv = RENEW.prepare_invoke();
        inv.key(self.lease_key(&lease.name))
            .arg(lease_value(lease))
            .arg(ttl_millis(ttl));
        let held = self
            .timed(async move { inv.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease up if `lease` still holds it; otherwise does nothing.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut inv = RELEASE.prepare_invoke();
        inv.key(self.lease_key(&lease.name)).arg(lease_value(lease));
        self.timed(async move { inv.invoke_async::<i64>(&mut c).await })
            .await
            .map(|_| ())
    }

    /// [`StateStore::put_all`] if `lease` is still held, checked and written atomically by one
    /// script; [`StoreError::Fenced`] otherwise.
    pub async fn put_all_fenced(
        &self,
        lease: &Lease,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut inv = PUT_FENCED.prepare_invoke();
        inv.key(self.lease_key(&lease.name)).arg(lease_value(lease));
        for (k, v) in entries {
            inv.key(self.key(&k)).arg(v);
        }
        let written = self
            .timed(async move { inv.invoke_async::<i64>(&mut c).await })
            .await?;
        if written == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced(lease.name.clone()))
        }
    }

    /// `PUBLISH` on `PREFIX:channel`; returns how many subscribers received it.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let ch = self.key(channel);
        self.timed(async move { c.publish::<_, _, u64>(ch, payload).await })
            .await
    }

    /// Subscribes to `PREFIX:channel` on a connection of its own (the subscription is active when
    /// this returns). A background task forwards the messages, reconnects with backoff when the
    /// connection drops (messages published meanwhile are lost), and ends when the receiver is
    /// dropped.
    pub async fn subscribe(&self, channel: &str) -> Result<mpsc::Receiver<Vec<u8>>, StoreError> {
        let sub = Subscription {
            client: self.pubsub.clone(),
            channel: self.key(channel),
            timeout: self.timeout,
        };
        let (conn, push) = sub.connect().await?;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_CAPACITY);
        tokio::spawn(sub.run(conn, push, tx));
        Ok(rx)
    }
}

/// One Redis subscription's background state.
///
/// It uses a RESP3 connection, where messages arrive as push frames beside ordinary replies (the
/// classic async `PubSub` of the redis crate can only be read as a `futures` stream).
struct Subscription {
    client: redis::Client,
    /// The prefixed channel.
    channel: String,
    timeout: Duration,
}

/// How often an idle subscription checks that its connection is alive.
const SUBSCRIPTION_HEALTH_CHECK: Duration = Duration::from_secs(5);
/// The longest wait between reconnection attempts.
const SUBSCRIPTION_MAX_BACKOFF: Duration = Duration::from_secs(5);

type PushReceiver = mpsc::UnboundedReceiver<redis::PushInfo>;

impl Subscription {
    /// Opens a connection and subscribes on it.
    async fn connect(
        &self,
    ) -> Result<(redis::aio::MultiplexedConnection, PushReceiver), StoreError> {
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_push_sender(push_tx);
        let client = self.client.clone();
        let channel = self.channel.clone();
        let attempt = async move {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            conn.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        let conn = tokio::time::timeout(self.timeout * 2, attempt)
            .await
            .map_err(|_| StoreError::Timeout)?
            .map_err(red)?;
        Ok((conn, push_rx))
    }

    /// Forwards messages until `tx`'s receiver is dropped, reconnecting whenever needed.
    async fn run(
        self,
        conn: redis::aio::MultiplexedConnection,
        push: PushReceiver,
        tx: mpsc::Sender<Vec<u8>>,
    ) {
        let mut current = Some((conn, push));
        let mut backoff = Duration::from_millis(100);
        loop {
            let (conn, push) = match current.take() {
                Some(c) => c,
                None => {
                    tokio::select! {
                        _ = tx.closed() => return,
                        r = self.connect() => match r {
                            Ok(c) => {
                                tracing::info!(channel = self.channel, "redis subscription restored");
                                backoff = Duration::from_millis(100);
                                c
                            }
                            Err(e) => {
                                tracing::warn!(
                                    channel = self.channel,
                                    error = %e,
                                    retry_in = ?backoff,
                                    "cannot restore the redis subscription"
                                );
                                tokio::select! {
                                    _ = tx.closed() => return,
                                    _ = tokio::time::sleep(backoff) => {}
                                }
                                backoff = (backoff * 2).min(SUBSCRIPTION_MAX_BACKOFF);
                                continue;
                            }
                        },
                    }
                }
            };
            match self.forward(conn, push, &tx).await {
                Ok(()) => return,
                Err(why) => {
                    tracing::warn!(
                        channel = self.channel,
                        reason = why,
                        "redis subscription lost; reconnecting (messages published meanwhile are lost)"
                    );
                }
            }
        }
    }

    /// Forwards messages from one connection. Ok when the receiver is gone (stop), Err with a
    /// reason when the connection is lost (reconnect).
    async fn forward(
        &self,
        mut conn: redis::aio::MultiplexedConnection,
        mut push: PushReceiver,
        tx: &mpsc::Sender<Vec<u8>>,
    ) -> Result<(), String> {
        let mut health = tokio::time::interval(SUBSCRIPTION_HEALTH_CHECK);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.reset();
        loop {
            tokio::select! {
                _ = tx.closed() => return Ok(()),
                msg = push.recv() => {
                    let Some(msg) = msg else {
                        return Err("connection closed".into());
                    };
                    match msg.kind {
                        redis::PushKind::Disconnection => return Err("disconnected".into()),
                        redis::PushKind::Message => {
                            if let Some(payload) = message_payload(msg.data)
                                && tx.send(payload).await.is_err()
                            {
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
                _ = health.tick() => {
                    let cmd = redis::cmd("PING");
                    let ping = cmd.query_async::<redis::Value>(&mut conn);
                    match tokio::time::timeout(self.timeout, ping).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("health check timed out".into()),
                    }
                }
            }
        }
    }
}

/// The payload of a `message` push (`[channel, payload]`).
fn message_payload(data: Vec<redis::Value>) -> Option<Vec<u8>> {
    match data.into_iter().nth(1)? {
        redis::Value::BulkString(b) => Some(b),
        redis::Value::SimpleString(s) => Some(s.into_bytes()),
        redis::Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

impl StateStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        self.timed(async move { c.get::<_, Option<Vec<u8>>>(k).await })
            .await
    }

    async fn put_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (k, v) in entries {
            pipe.set(self.key(&k), v).ignore();
        }
        self.timed(async move { pipe.query_async::<()>(&mut c).await })
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        self.timed(async move { c.del::<_, ()>(k).await }).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        self.timed(async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(|_| ())
    }
}

/// Opens the configured state store (embedded file, or one connection attempt to Redis), for the
/// commands that use it once (`driftd models`, `driftd serve`); `driftd run` retries instead.
pub async fn open_configured(state: &StateConfig, secrets: &Secrets) -> anyhow::Result<AnyStore> {
    use anyhow::Context as _;
    match state {
        StateConfig::Embedded(e) => Ok(AnyStore::Embedded(
            EmbeddedStore::open(&e.path).with_context(|| {
                format!("opening the embedded state store {}", e.path.display())
            })?,
        )),
        StateConfig::Redis(r) => {
            let s = RedisStore::connect(r, secrets.redis_password.as_ref())
                .await
                .context("connecting to Redis")?;
            s.ping().await.context("Redis does not answer")?;
            Ok(AnyStore::Redis(s))
        }
    }
}

#[cfg(test)]
mod tests;
