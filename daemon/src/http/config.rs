//! `[http]`: the HTTP server of `driftd run`, and its validation.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::tls::TlsServerSettings;
use crate::contract::settings::{ConfigError, SecretSpec, Secrets, err, resolve_tokens};

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Whether to serve HTTP at all.
    pub enabled: bool,
    /// Listen address; port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most feedback items in one batch request.
    pub max_batch_items: usize,
    /// Time limit for one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bearer tokens accepted by `POST /v1/feedback`. With none, feedback is refused (401).
    pub feedback_tokens: Vec<SecretSpec>,
    /// Bearer tokens accepted by the admin API (`/v1/alerts`, `/v1/silences`). With none, the
    /// admin API refuses every request (401).
    pub admin_tokens: Vec<SecretSpec>,
    /// HTTPS: certificate and key files (re-read on SIGHUP), optional client certificates.
    /// Unset: plain HTTP, meant for the loopback default.
    pub tls: TlsServerSettings,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: "127.0.0.1:9464".parse().expect("valid literal address"),
            max_body_bytes: 1 << 20,
            max_batch_items: 1000,
            request_timeout: Duration::from_secs(10),
            feedback_tokens: Vec::new(),
            admin_tokens: Vec::new(),
            tls: TlsServerSettings::default(),
        }
    }
}

impl HttpConfig {
    /// Checks limits and resolves the feedback and admin tokens.
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        if self.max_body_bytes < 256 {
            err(e, "http.max_body_bytes", "must be at least 256");
        }
        if self.max_batch_items == 0 {
            err(e, "http.max_batch_items", "must be at least 1");
        }
        if self.request_timeout.is_zero() {
            err(e, "http.request_timeout", "must be positive");
        }
        self.tls.validate(e, "http.tls");
        resolve_tokens(
            e,
            "http.feedback_tokens",
            &self.feedback_tokens,
            &mut secrets.feedback_tokens,
        );
        resolve_tokens(
            e,
            "http.admin_tokens",
            &self.admin_tokens,
            &mut secrets.admin_tokens,
        );
    }
}
