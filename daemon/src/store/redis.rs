//! The shared state store: Redis with automatic reconnection, every key under a prefix, leases as
//! keys with a time-to-live and Lua check-and-act scripts, pub/sub over a RESP3 connection.

use std::sync::LazyLock;
use std::time::Duration;

use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use super::{Lease, SUBSCRIBER_CAPACITY, StateStore, StoreError};
use crate::store::config::RedisStateConfig;

/// Redis with automatic reconnection; every key (and pub/sub channel) is `PREFIX:key`.
///
/// Leases are keys `PREFIX:lease/NAME` holding `OWNER:TOKEN` with a time-to-live; the tokens come
/// from the counter `PREFIX:lease-fence/NAME`, which is never reset.
#[derive(Clone)]
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    /// The same server and credentials, speaking RESP3, for subscriptions (each subscription
    /// gets a connection of its own).
    /// (Boxed: a client with TLS settings is large, and stores are moved around.)
    pubsub: Box<redis::Client>,
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

/// A fenced multi-set and delete: KEYS = lease, then the keys to write, then the keys to delete;
/// ARGV = `OWNER:TOKEN`, the number of keys to write, then their values. Writes and deletes (all
/// of them) only if the lease is held: 1, else 0 and nothing changed.
static PUT_FENCED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local puts = tonumber(ARGV[2])
for i = 2, #KEYS do
  if i - 1 <= puts then redis.call('SET', KEYS[i], ARGV[i + 1]) else redis.call('DEL', KEYS[i]) end
end
return 1
",
    )
});

/// Takes a lease over whoever holds it, with no expiry: KEYS = lease, fence; ARGV = owner. The
/// new token. For ownership decided elsewhere (a Kafka partition the group coordinator assigned):
/// the store only records the new owner, so the previous one's fenced writes fail.
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token)
return token
",
    )
});

/// A write if every lease is held: ARGV[1] = n, KEYS[1..n] the leases with their `OWNER:TOKEN`
/// in ARGV[2..n+1], ARGV[n+2] = the number of puts; then the puts' keys (values from ARGV[n+3])
/// and the deletes' keys. 0 when written, else the (1-based) index of the first lease not held,
/// and nothing is written.
static PUT_FENCED_ALL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[i + 1] then return i end
end
local puts = tonumber(ARGV[n + 2])
for j = n + 1, #KEYS do
  local k = j - n
  if k <= puts then redis.call('SET', KEYS[j], ARGV[n + 2 + k]) else redis.call('DEL', KEYS[j]) end
end
return 0
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

/// The CA to trust (PEM, `state.tls_ca_file`; `None`: the system's roots) and the client
/// certificate with its key, as the redis crate takes them.
fn tls_certificates(
    cfg: &RedisStateConfig,
    key: Option<&SecretString>,
) -> Result<redis::TlsCertificates, StoreError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| StoreError::Redis(format!("reading {}: {e}", p.display())))
    };
    let root_cert = cfg.tls_ca_file.as_deref().map(read).transpose()?;
    let client_tls = match (&cfg.tls_cert_file, key) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: key.expose_secret().as_bytes().to_vec(),
        }),
        (None, None) => None,
        _ => {
            return Err(StoreError::Redis(
                "a client certificate needs both state.tls_cert_file and state.tls_key".into(),
            ));
        }
    };
    Ok(redis::TlsCertificates {
        client_tls,
        root_cert,
    })
}

impl RedisStore {
    /// Connects (one attempt; the caller retries while Redis is down at start-up).
    pub async fn connect(
        cfg: &RedisStateConfig,
        password: Option<&SecretString>,
    ) -> Result<Self, StoreError> {
        Self::connect_with(cfg, password, None).await
    }

    /// [`RedisStore::connect`] with the client certificate's private key (`state.tls_key`) for a
    /// `rediss://` server that asks for one. Over TLS the server's certificate is verified against
    /// `state.tls_ca_file` (else the system's roots) and its name against the URL's host; errors
    /// say which (an unknown issuer, an expired certificate, a wrong password) and never carry a
    /// secret.
    pub async fn connect_with(
        cfg: &RedisStateConfig,
        password: Option<&SecretString>,
        tls_key: Option<&SecretString>,
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
        // Read once, for both clients.
        let certs = (url.scheme() == "rediss")
            .then(|| tls_certificates(cfg, tls_key))
            .transpose()?;
        let open = |info: redis::ConnectionInfo| match &certs {
            Some(c) => redis::Client::build_with_tls(info, c.clone()).map_err(red),
            None => redis::Client::open(info).map_err(red),
        };
        let info = redis::IntoConnectionInfo::into_connection_info(url.as_str()).map_err(red)?;
        let client = open(info.clone())?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let pubsub = open(info.set_redis_settings(resp3))?;
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
            pubsub: Box::new(pubsub),
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
        self.write_fenced(lease, entries, Vec::new()).await
    }

    /// [`StateStore::write`] if `lease` is still held, checked and written atomically by one
    /// script; [`StoreError::Fenced`] otherwise.
    pub async fn write_fenced(
        &self,
        lease: &Lease,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut inv = PUT_FENCED.prepare_invoke();
        inv.key(self.lease_key(&lease.name))
            .arg(lease_value(lease))
            .arg(puts.len());
        for (k, v) in puts {
            inv.key(self.key(&k)).arg(v);
        }
        for k in deletes {
            inv.key(self.key(&k));
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

    /// Takes the lease `name` for `owner` whoever holds it, with a higher fencing token and no
    /// expiry (see [`AnyStore::claim_lease`](super::AnyStore::claim_lease)).
    pub async fn claim_lease(&self, name: &str, owner: &str) -> Result<Lease, StoreError> {
        let mut c = self.conn.clone();
        let mut inv = CLAIM.prepare_invoke();
        inv.key(self.lease_key(name))
            .key(self.key(&format!("lease-fence/{name}")))
            .arg(owner);
        let token = self
            .timed(async move { inv.invoke_async::<u64>(&mut c).await })
            .await?;
        Ok(Lease {
            name: name.to_owned(),
            owner: owner.to_owned(),
            token,
        })
    }

    /// [`StateStore::write`] if every lease is still held, checked and written atomically by one
    /// script; [`StoreError::Fenced`] with the first lease lost otherwise.
    pub async fn write_fenced_all(
        &self,
        leases: &[Lease],
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut inv = PUT_FENCED_ALL.prepare_invoke();
        inv.arg(leases.len());
        for l in leases {
            inv.key(self.lease_key(&l.name)).arg(lease_value(l));
        }
        inv.arg(puts.len());
        for (k, v) in puts {
            inv.key(self.key(&k)).arg(v);
        }
        for k in deletes {
            inv.key(self.key(&k));
        }
        let lost = self
            .timed(async move { inv.invoke_async::<usize>(&mut c).await })
            .await?;
        match lost.checked_sub(1).and_then(|i| leases.get(i)) {
            None => Ok(()),
            Some(l) => Err(StoreError::Fenced(l.name.clone())),
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
            client: (*self.pubsub).clone(),
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
                        reason = %why,
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
    ) -> Result<(), SubscriptionLost> {
        let mut health = tokio::time::interval(SUBSCRIPTION_HEALTH_CHECK);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.reset();
        loop {
            tokio::select! {
                _ = tx.closed() => return Ok(()),
                msg = push.recv() => {
                    let Some(msg) = msg else {
                        return Err(SubscriptionLost::Closed);
                    };
                    match msg.kind {
                        redis::PushKind::Disconnection => return Err(SubscriptionLost::Disconnected),
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
                        Ok(Err(e)) => return Err(SubscriptionLost::HealthCheck(e)),
                        Err(_) => return Err(SubscriptionLost::HealthCheckTimeout),
                    }
                }
            }
        }
    }
}

/// Why a subscription's connection is given up (and made again).
#[derive(Debug, thiserror::Error)]
enum SubscriptionLost {
    /// The push channel ended.
    #[error("connection closed")]
    Closed,
    /// The server or the network dropped the connection.
    #[error("disconnected")]
    Disconnected,
    /// The periodic `PING` failed.
    #[error("{0}")]
    HealthCheck(redis::RedisError),
    /// The periodic `PING` took longer than the command timeout.
    #[error("health check timed out")]
    HealthCheckTimeout,
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

    async fn write(
        &self,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if !deletes.is_empty() {
            pipe.del(deletes.iter().map(|k| self.key(k)).collect::<Vec<_>>())
                .ignore();
        }
        for (k, v) in puts {
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
