//! What every stage's configuration section shares: where a secret comes from, the secrets once
//! resolved (and the one constant-time token check), and configuration problems with their key
//! paths. Each stage owns its section and its validation; `config` composes them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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
    /// Tokens accepted by the feedback endpoint.
    pub feedback_tokens: Vec<SecretString>,
    /// Tokens accepted by the admin API.
    pub admin_tokens: Vec<SecretString>,
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
    /// Tokens accepted by `driftd serve`'s predict endpoint (`serve.predict_tokens`).
    pub predict_tokens: Vec<SecretString>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("feedback_tokens", &self.feedback_tokens.len())
            .field("admin_tokens", &self.admin_tokens.len())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// Whether `token` is one of the feedback tokens (constant time per token).
    pub fn feedback_token_ok(&self, token: &str) -> bool {
        token_ok(&self.feedback_tokens, token)
    }

    /// Whether `token` is one of the admin tokens (constant time per token).
    pub fn admin_token_ok(&self, token: &str) -> bool {
        token_ok(&self.admin_tokens, token)
    }

    /// Whether `token` is one of the predict tokens of `driftd serve` (constant time per token).
    pub fn predict_token_ok(&self, token: &str) -> bool {
        token_ok(&self.predict_tokens, token)
    }
}

fn token_ok(tokens: &[SecretString], token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let mut ok = subtle::Choice::from(0);
    for t in tokens {
        ok |= t.expose_secret().as_bytes().ct_eq(token.as_bytes());
    }
    bool::from(ok)
}

/// Records one problem at `path`.
pub fn err(errors: &mut Vec<ConfigError>, path: impl Into<String>, message: impl fmt::Display) {
    errors.push(ConfigError {
        path: path.into(),
        message: message.to_string(),
    });
}

/// Resolves bearer tokens of at least 16 characters from `specs` into `out`, recording a problem at
/// `path.i` for each that cannot be read or is too short.
pub fn resolve_tokens(
    e: &mut Vec<ConfigError>,
    path: &str,
    specs: &[SecretSpec],
    out: &mut Vec<SecretString>,
) {
    for (i, t) in specs.iter().enumerate() {
        match t.resolve() {
            Ok(s) if s.expose_secret().len() < 16 => err(
                e,
                format!("{path}.{i}"),
                "a token must be at least 16 characters long",
            ),
            Ok(s) => out.push(s),
            Err(m) => err(e, format!("{path}.{i}"), m),
        }
    }
}
