//! What every stage's configuration section shares: where a secret comes from, the secrets once
//! resolved (the HTTP tokens among them, see [`crate::contract::access`]), and configuration
//! problems with their key paths. Each stage owns its section and its validation; `config`
//! composes them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::contract::access::{MIN_TOKEN_LEN, Role, Tokens, digest, valid_token_name};

/// Where a secret comes from: exactly one of `env`, `file` or `value`.
///
/// ```toml
/// password = { env = "DRIFTD_REDIS_PASSWORD" }
/// password = { file = "/run/credentials/driftd.service/redis" }
/// ```
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Name of an environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (trailing newlines are trimmed).
    pub file: Option<PathBuf>,
    /// The secret itself (discouraged outside tests: config files get copied around).
    pub value: Option<String>,
}

impl fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSpec")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SecretSpec {
    /// Reads the secret. Errors name the source, never the value.
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        match (&self.env, &self.file, &self.value) {
            (Some(var), None, None) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) => Err(SecretError::EnvEmpty(var.clone())),
                Err(_) => Err(SecretError::EnvNotSet(var.clone())),
            },
            (None, Some(path), None) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\n', '\r']).to_owned();
                    if v.is_empty() {
                        Err(SecretError::FileEmpty(path.clone()))
                    } else {
                        Ok(SecretString::from(v))
                    }
                }
                Err(source) => Err(SecretError::FileUnreadable {
                    path: path.clone(),
                    source,
                }),
            },
            (None, None, Some(v)) if !v.is_empty() => Ok(SecretString::from(v.clone())),
            (None, None, Some(_)) => Err(SecretError::ValueEmpty),
            _ => Err(SecretError::NotOneSource),
        }
    }
}

/// Why a secret could not be read. The message names the source, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `env = "VAR"` names a variable that is not set.
    #[error("environment variable {0} is not set")]
    EnvNotSet(String),
    /// `env = "VAR"` names an empty variable.
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    /// `file = "…"` names an empty file.
    #[error("secret file {} is empty", .0.display())]
    FileEmpty(PathBuf),
    /// `file = "…"` cannot be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `value = ""`.
    #[error("secret value is empty")]
    ValueEmpty,
    /// None, or more than one, of `env`, `file` and `value`.
    #[error("a secret needs exactly one of `env`, `file` or `value`")]
    NotOneSource,
}

/// One configuration problem, with the key path it concerns (e.g. `source.brokers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path; empty for whole-file problems such as a TOML syntax error.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All problems found in a configuration.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the configuration:", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Resolved secrets, read once at load (and again on SIGHUP).
#[derive(Clone, Default)]
pub struct Secrets {
    /// The named tokens of `driftd run`'s HTTP server (`[[http.tokens]]`, `http.feedback_tokens`,
    /// `http.admin_tokens`).
    pub http_tokens: Tokens,
    /// Redis password.
    pub redis_password: Option<SecretString>,
    /// The private key of the Redis client certificate (`state.tls_key`, PEM).
    pub redis_tls_key: Option<SecretString>,
    /// Kafka SASL password.
    pub kafka_sasl_password: Option<SecretString>,
    /// Secret librdkafka properties (`source.secret_properties`).
    pub kafka_properties: BTreeMap<String, SecretString>,
    /// The model registry's signing key (`registry.signing_key`).
    pub registry_key: Option<SecretString>,
    /// The registry's Ed25519 private key, PKCS#8 PEM (`registry.ed25519_signing_key`).
    pub registry_ed25519: Option<SecretString>,
    /// The registry's Ed25519 verification keys, SPKI PEM texts (`registry.verify_keys`; public,
    /// resolved here with the rest of the key material).
    pub registry_verify_keys: Vec<String>,
    /// Revoked key ids (`registry.revoked_key_ids`).
    pub registry_revoked_key_ids: Vec<String>,
    /// The named tokens of `driftd serve` (`[[serve.tokens]]`, `serve.predict_tokens`).
    pub serve_tokens: Tokens,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("http_tokens", &self.http_tokens)
            .field("serve_tokens", &self.serve_tokens)
            .finish_non_exhaustive()
    }
}

/// Records one problem at `path`.
pub fn err(errors: &mut Vec<ConfigError>, path: impl Into<String>, message: impl fmt::Display) {
    errors.push(ConfigError {
        path: path.into(),
        message: message.to_string(),
    });
}

/// One named token in the config (`[[http.tokens]]`, `[[serve.tokens]]`).
///
/// ```toml
/// [[http.tokens]]
/// name = "ci"
/// role = "operator"
/// token = { env = "DRIFTD_CI_TOKEN" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Shown in audit lines and decision records: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// The secret (at least 16 characters).
    pub token: SecretSpec,
}

/// A legacy list of unnamed tokens (`http.feedback_tokens`, …): each becomes a token of `role`
/// named `KEY.i` (e.g. `feedback_tokens.0`).
pub struct Legacy<'a> {
    /// The list's key inside its section, e.g. `feedback_tokens`.
    pub key: &'a str,
    /// The role its tokens get.
    pub role: Role,
    /// The secrets.
    pub specs: &'a [SecretSpec],
}

/// Resolves a section's named tokens and its legacy lists into `out`. Records, with the key path
/// (`section.tokens.i.name`, …): unreadable secrets, tokens shorter than [`MIN_TOKEN_LEN`],
/// invalid or duplicate names, roles not in `allowed`, and one secret configured twice.
pub fn resolve_tokens(
    e: &mut Vec<ConfigError>,
    section: &str,
    named: &[TokenConfig],
    legacy: &[Legacy<'_>],
    allowed: &[Role],
    out: &mut Tokens,
) {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut digests: BTreeMap<[u8; 32], String> = BTreeMap::new();
    let mut add = |e: &mut Vec<ConfigError>, path: String, name: &str, role, spec: &SecretSpec| {
        let secret = match spec.resolve() {
            Ok(s) if s.expose_secret().chars().count() < MIN_TOKEN_LEN => {
                return err(
                    e,
                    path,
                    format!("a token must be at least {MIN_TOKEN_LEN} characters long"),
                );
            }
            Ok(s) => s,
            Err(m) => return err(e, path, m),
        };
        let digest = digest(secret.expose_secret());
        if let Some(first) = digests.get(&digest) {
            return err(e, path, format!("the same secret as {first}"));
        }
        digests.insert(digest, path);
        out.push(name, role, secret);
    };
    for (i, t) in named.iter().enumerate() {
        let at = format!("{section}.tokens.{i}");
        let mut ok = true;
        if !valid_token_name(&t.name) {
            ok = false;
            err(
                e,
                format!("{at}.name"),
                format!(
                    "invalid token name {:?}: 1 to 64 characters of [A-Za-z0-9_.:-]",
                    t.name
                ),
            );
        } else if let Some(first) = names.get(&t.name) {
            ok = false;
            err(
                e,
                format!("{at}.name"),
                format!("{:?} is already the name of {first}", t.name),
            );
        } else {
            names.insert(t.name.clone(), at.clone());
        }
        if !allowed.contains(&t.role) {
            ok = false;
            let allowed: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            err(
                e,
                format!("{at}.role"),
                format!(
                    "role {:?} has no use here (allowed: {})",
                    t.role.as_str(),
                    allowed.join(", ")
                ),
            );
        }
        if ok {
            add(e, format!("{at}.token"), &t.name, t.role, &t.token);
        }
    }
    for l in legacy {
        for (i, spec) in l.specs.iter().enumerate() {
            let name = format!("{}.{i}", l.key);
            let path = format!("{section}.{name}");
            if let Some(first) = names.get(&name) {
                err(e, &path, format!("{name:?} is already the name of {first}"));
                continue;
            }
            names.insert(name.clone(), path.clone());
            add(e, path, &name, l.role, spec);
        }
    }
}
