//! `[state]`: which state store, and its validation.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::contract::settings::{ConfigError, SecretSpec, Secrets, err};

/// `[state]`: the state store.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StateConfig {
    /// A single file on local disk (redb): the default, no service needed.
    Embedded(EmbeddedStateConfig),
    /// Redis, shared by instances.
    Redis(RedisStateConfig),
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig::Embedded(EmbeddedStateConfig::default())
    }
}

/// `[state]` with `kind = "embedded"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedStateConfig {
    /// The store file; created if absent.
    pub path: PathBuf,
}

impl Default for EmbeddedStateConfig {
    fn default() -> Self {
        EmbeddedStateConfig {
            path: PathBuf::from("driftd-state.redb"),
        }
    }
}

/// `[state]` with `kind = "redis"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisStateConfig {
    /// `redis://host:port/db` (or `rediss://` for TLS). Put no password here: use `password`.
    pub url: String,
    /// Password (and `username`, if ACLs are used).
    pub password: Option<SecretSpec>,
    /// ACL user name.
    pub username: Option<String>,
    /// Prefix of every key, so deployments can share a Redis.
    pub key_prefix: String,
    /// Time limit for one Redis command.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for RedisStateConfig {
    fn default() -> Self {
        RedisStateConfig {
            url: "redis://127.0.0.1:6379/0".into(),
            password: None,
            username: None,
            key_prefix: "driftd".into(),
            timeout: Duration::from_secs(2),
        }
    }
}

impl StateConfig {
    /// Checks the path or URL and prefix; resolves the Redis password.
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        match self {
            StateConfig::Embedded(s) => {
                if s.path.as_os_str().is_empty() {
                    err(e, "state.path", "must not be empty");
                }
            }
            StateConfig::Redis(r) => {
                match redis::parse_redis_url(&r.url) {
                    None => err(e, "state.url", "not a redis:// or rediss:// URL"),
                    Some(u) if u.password().is_some() => err(
                        e,
                        "state.url",
                        "must not contain a password: use `state.password`",
                    ),
                    Some(_) => {}
                }
                if r.key_prefix.is_empty() || r.key_prefix.contains(char::is_whitespace) {
                    err(e, "state.key_prefix", "must be non-empty without spaces");
                }
                if r.timeout.is_zero() {
                    err(e, "state.timeout", "must be positive");
                }
                if let Some(s) = &r.password {
                    match s.resolve() {
                        Ok(s) => secrets.redis_password = Some(s),
                        Err(m) => err(e, "state.password", m),
                    }
                }
            }
        }
    }
}
