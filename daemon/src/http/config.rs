//! `[http]`: the HTTP server of `driftd run`, and its validation.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::tls::TlsServerSettings;
use crate::contract::access::Role;
use crate::contract::settings::{
    ConfigError, Legacy, SecretSpec, Secrets, TokenConfig, err, resolve_tokens,
};
use crate::http::limit::LimitsConfig;

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
    /// Named bearer tokens with their roles (`[[http.tokens]]`: `name`, `role` — `feedback`,
    /// `read`, `operator` or `admin` — and `token`, a secret). See `contract::access`.
    pub tokens: Vec<TokenConfig>,
    /// Older form, kept working: unnamed tokens of role `feedback`, named `feedback_tokens.0`, …
    /// With no token granting `feedback`, `POST /v1/feedback` refuses every request (401).
    pub feedback_tokens: Vec<SecretSpec>,
    /// Older form, kept working: unnamed tokens of role `admin`, named `admin_tokens.0`, …
    pub admin_tokens: Vec<SecretSpec>,
    /// HTTPS: certificate and key files (re-read on SIGHUP), optional client certificates.
    /// Unset: plain HTTP, meant for the loopback default.
    pub tls: TlsServerSettings,
    /// The role `/metrics` needs; none (the default) leaves it open, as Prometheus scrapes it.
    pub metrics_role: Option<Role>,
    /// Rate and concurrency limits (`[http.limits]`).
    pub limits: LimitsConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: "127.0.0.1:9464".parse().expect("valid literal address"),
            max_body_bytes: 1 << 20,
            max_batch_items: 1000,
            request_timeout: Duration::from_secs(10),
            tokens: Vec::new(),
            feedback_tokens: Vec::new(),
            admin_tokens: Vec::new(),
            tls: TlsServerSettings::default(),
            metrics_role: None,
            limits: LimitsConfig::default(),
        }
    }
}

impl HttpConfig {
    /// Checks limits and resolves the tokens (named ones and the older lists).
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
        self.limits.validate(e, "http.limits");
        if self.metrics_role == Some(Role::Predict) {
            err(
                e,
                "http.metrics_role",
                "`predict` is a role of driftd serve",
            );
        }
        resolve_tokens(
            e,
            "http",
            &self.tokens,
            &[
                Legacy {
                    key: "feedback_tokens",
                    role: Role::Feedback,
                    specs: &self.feedback_tokens,
                },
                Legacy {
                    key: "admin_tokens",
                    role: Role::Admin,
                    specs: &self.admin_tokens,
                },
            ],
            &[Role::Feedback, Role::Read, Role::Operator, Role::Admin],
            &mut secrets.http_tokens,
        );
    }
}
