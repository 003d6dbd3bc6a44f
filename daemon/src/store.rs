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

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{ReadableDatabase, TableDefinition};
use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};

use crate::config::RedisStateConfig;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");

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
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<redb::Database>,
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
        Ok(EmbeddedStore { db: Arc::new(db) })
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
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(emb)?;
            {
                let mut table = txn.open_table(TABLE).map_err(emb)?;
                for (k, v) in &entries {
                    table.insert(k.as_str(), v.as_slice()).map_err(emb)?;
                }
            }
            txn.commit().map_err(emb)
        })
        .await
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

/// Redis with automatic reconnection; every key is `PREFIX:key`.
#[derive(Clone)]
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    timeout: Duration,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn embedded_store_round_trips_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.redb");
        {
            let s = EmbeddedStore::open(&path).unwrap();
            assert_eq!(s.get("a").await.unwrap(), None);
            s.put_all(vec![
                ("a".into(), b"1".to_vec()),
                ("b".into(), b"2".to_vec()),
            ])
            .await
            .unwrap();
            s.delete("b").await.unwrap();
        }
        let s = EmbeddedStore::open(&path).unwrap();
        assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get("b").await.unwrap(), None);
    }
}
