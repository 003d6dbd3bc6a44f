//! The state store: one trait, two implementations.
//!
//! - [`EmbeddedStore`]: a single redb file on local disk (ACID, fsync on commit). The default; needs
//!   no service.
//! - [`RedisStore`]: Redis through a [`::redis::aio::ConnectionManager`] (reconnects with backoff),
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
//!
//! May depend on: contract.

pub mod config;
mod embedded;
pub mod fenced;
mod redis;

pub use embedded::EmbeddedStore;
pub use redis::RedisStore;

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::contract::settings::Secrets;

use crate::store::config::StateConfig;

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
    /// Writes `puts` and deletes `deletes` (absent keys are fine) atomically: all or nothing. A
    /// key in both is written.
    fn write(
        &self,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
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

    /// Like [`StateStore::write`], but atomically only if `lease` is still held (same owner and
    /// token); [`StoreError::Fenced`] otherwise, and nothing is written or deleted.
    pub async fn write_fenced(
        &self,
        lease: &Lease,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.write_fenced(lease, puts, deletes).await,
            AnyStore::Redis(s) => s.write_fenced(lease, puts, deletes).await,
        }
    }

    /// Takes the lease `name` for `owner` whoever holds it now, with a higher fencing token and no
    /// expiry: for ownership decided elsewhere, e.g. a Kafka partition the group coordinator just
    /// assigned. The previous holder's fenced writes fail from then on, so an instance that lost a
    /// partition (a "zombie" that has not yet seen the revocation) cannot overwrite the new
    /// owner's checkpoint.
    pub async fn claim_lease(&self, name: &str, owner: &str) -> Result<Lease, StoreError> {
        match self {
            AnyStore::Embedded(s) => Ok(s.claim_lease(name, owner).await),
            AnyStore::Redis(s) => s.claim_lease(name, owner).await,
        }
    }

    /// Like [`StateStore::write`], but atomically only if every lease of `leases` is still held;
    /// [`StoreError::Fenced`] naming the first one lost otherwise, and nothing is written.
    pub async fn write_fenced_all(
        &self,
        leases: &[Lease],
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.write_fenced_all(leases, puts, deletes).await,
            AnyStore::Redis(s) => s.write_fenced_all(leases, puts, deletes).await,
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
    async fn write(
        &self,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::Embedded(s) => s.write(puts, deletes).await,
            AnyStore::Redis(s) => s.write(puts, deletes).await,
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

/// Opens the configured state store (embedded file, or one connection attempt to Redis), for the
/// commands that use it once (`driftd models`, `driftd serve`); `driftd run` retries instead.
pub async fn open_configured(
    state: &StateConfig,
    secrets: &Secrets,
) -> Result<AnyStore, StoreError> {
    match state {
        StateConfig::Embedded(e) => Ok(AnyStore::Embedded(EmbeddedStore::open(&e.path)?)),
        StateConfig::Redis(r) => {
            let s = RedisStore::connect_with(
                r,
                secrets.redis_password.as_ref(),
                secrets.redis_tls_key.as_ref(),
            )
            .await?;
            s.ping().await?;
            Ok(AnyStore::Redis(s))
        }
    }
}

#[cfg(test)]
mod tests;
