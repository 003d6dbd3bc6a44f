//! `[state]`: which state store, and its validation.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use secrecy::ExposeSecret as _;

use crate::contract::settings::{ConfigError, SecretSpec, Secrets, err};

/// Checks that `path` is a readable PEM file holding at least one `what` block.
fn check_pem(e: &mut Vec<ConfigError>, key: &str, path: &std::path::Path, what: &str) {
    match std::fs::read_to_string(path) {
        Ok(text) if text.contains(&format!("-----BEGIN {what}-----")) => {}
        Ok(_) => err(e, key, format!("{} holds no PEM {what}", path.display())),
        Err(x) => err(e, key, format!("cannot read {}: {x}", path.display())),
    }
}

/// `[state]`: the state store.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
// One value per configuration: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
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
    /// With `rediss://`: a PEM file of the CA certificates to trust instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// With `rediss://`: a PEM file of the client certificate (chain), for servers that require
    /// one (`tls-auth-clients yes`). Needs `tls_key`.
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM), a secret (`{ file = "..." }` or
    /// `{ env = "..." }`).
    pub tls_key: Option<SecretSpec>,
}

impl Default for RedisStateConfig {
    fn default() -> Self {
        RedisStateConfig {
            url: "redis://127.0.0.1:6379/0".into(),
            password: None,
            username: None,
            key_prefix: "driftd".into(),
            timeout: Duration::from_secs(2),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key: None,
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
                let tls = match redis::parse_redis_url(&r.url) {
                    None => {
                        err(e, "state.url", "not a redis:// or rediss:// URL");
                        None
                    }
                    Some(u) if u.password().is_some() => {
                        err(
                            e,
                            "state.url",
                            "must not contain a password: use `state.password`",
                        );
                        None
                    }
                    Some(u) if u.fragment() == Some("insecure") => {
                        err(
                            e,
                            "state.url",
                            "`#insecure` (no certificate verification) is not supported: trust the \
                             server's CA with `state.tls_ca_file`",
                        );
                        None
                    }
                    Some(u) => Some(u.scheme() == "rediss"),
                };
                if tls == Some(false) {
                    for (set, key) in [
                        (r.tls_ca_file.is_some(), "state.tls_ca_file"),
                        (r.tls_cert_file.is_some(), "state.tls_cert_file"),
                        (r.tls_key.is_some(), "state.tls_key"),
                    ] {
                        if set {
                            err(e, key, "needs a rediss:// URL (TLS)");
                        }
                    }
                }
                if let Some(p) = &r.tls_ca_file {
                    check_pem(e, "state.tls_ca_file", p, "CERTIFICATE");
                }
                if let Some(p) = &r.tls_cert_file {
                    check_pem(e, "state.tls_cert_file", p, "CERTIFICATE");
                }
                match (&r.tls_cert_file, &r.tls_key) {
                    (Some(_), None) => err(e, "state.tls_key", "needed with `state.tls_cert_file`"),
                    (None, Some(_)) => err(e, "state.tls_cert_file", "needed with `state.tls_key`"),
                    _ => {}
                }
                if let Some(s) = &r.tls_key {
                    match s.resolve() {
                        Ok(k) if k.expose_secret().contains("PRIVATE KEY-----") => {
                            secrets.redis_tls_key = Some(k);
                        }
                        Ok(_) => err(e, "state.tls_key", "is not a PEM private key"),
                        Err(m) => err(e, "state.tls_key", m),
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(r: RedisStateConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        StateConfig::Redis(r).validate(&mut e, &mut Secrets::default());
        e.into_iter().map(|c| (c.path, c.message)).collect()
    }

    fn paths(r: RedisStateConfig) -> Vec<String> {
        problems(r).into_iter().map(|(p, _)| p).collect()
    }

    /// TLS settings are refused, each with its key path, where they cannot work: without
    /// `rediss://`, unreadable or not PEM, a certificate without its key and the reverse, a key
    /// that is not one, and the `#insecure` URL that would skip verification.
    #[test]
    fn redis_tls_settings_are_checked_with_their_key_paths() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let tls = |url: &str| RedisStateConfig {
            url: url.into(),
            ..Default::default()
        };
        let good = RedisStateConfig {
            tls_ca_file: Some(ca.clone()),
            ..tls("rediss://127.0.0.1:6380/0")
        };
        assert!(
            problems(good.clone()).is_empty(),
            "{:?}",
            problems(good.clone())
        );
        assert_eq!(
            paths(RedisStateConfig {
                url: "redis://127.0.0.1:6379/0".into(),
                ..good.clone()
            }),
            ["state.tls_ca_file"]
        );
        assert_eq!(
            paths(RedisStateConfig {
                tls_ca_file: Some(junk.clone()),
                ..good.clone()
            }),
            ["state.tls_ca_file"]
        );
        assert_eq!(
            paths(RedisStateConfig {
                tls_ca_file: Some(dir.path().join("absent.pem")),
                ..good.clone()
            }),
            ["state.tls_ca_file"]
        );
        assert_eq!(
            paths(RedisStateConfig {
                tls_cert_file: Some(ca.clone()),
                ..good.clone()
            }),
            ["state.tls_key"]
        );
        assert_eq!(
            paths(RedisStateConfig {
                tls_key: Some(SecretSpec {
                    value: Some("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----".into()),
                    ..Default::default()
                }),
                ..good.clone()
            }),
            ["state.tls_cert_file"]
        );
        assert_eq!(
            paths(RedisStateConfig {
                tls_cert_file: Some(ca.clone()),
                tls_key: Some(SecretSpec {
                    value: Some("a password, not a key".into()),
                    ..Default::default()
                }),
                ..good.clone()
            }),
            ["state.tls_key"]
        );
        let insecure = problems(tls("rediss://127.0.0.1:6380/0#insecure"));
        assert_eq!(insecure.len(), 1);
        assert_eq!(insecure[0].0, "state.url");
        assert!(insecure[0].1.contains("tls_ca_file"), "{insecure:?}");
    }
}
