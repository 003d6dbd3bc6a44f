//! `[registry]`: the artifact signing key, and its validation.

use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::contract::settings::{ConfigError, SecretSpec, Secrets, err};

/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// The environment variable read for the signing key when `[registry] signing_key` is not set.
pub const KEY_ENV: &str = "DRIFTD_REGISTRY_KEY";
/// `[registry]`: the model registry kept in the state store (`registry/mod.rs`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// The HMAC-SHA256 key that signs and verifies model artifacts, at least
    /// [`MIN_KEY_BYTES`] bytes. Without it, the environment variable
    /// `DRIFTD_REGISTRY_KEY` is used; commands that sign or verify fail when neither is set.
    pub signing_key: Option<SecretSpec>,
}

impl RegistryConfig {
    /// Resolves the signing key and checks its length.
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        if let Some(spec) = &self.signing_key {
            match spec.resolve() {
                Ok(k) if k.expose_secret().len() < MIN_KEY_BYTES => err(
                    e,
                    "registry.signing_key",
                    format!(
                        "the signing key must be at least {} bytes long",
                        MIN_KEY_BYTES
                    ),
                ),
                Ok(k) => secrets.registry_key = Some(k),
                Err(m) => err(e, "registry.signing_key", m),
            }
        }
    }
}
