//! `[serve]`: the prediction server of `driftd serve`, and its validation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::contract::access::Role;
use crate::contract::event::valid_model_name;
use crate::contract::settings::{
    ConfigError, Legacy, SecretSpec, Secrets, TokenConfig, err, resolve_tokens,
};
use crate::http::limit::LimitsConfig;
use crate::http::tls::TlsServerSettings;

/// `[serve]`: the prediction server of `driftd serve` (`serve/mod.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Listen address; port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// The models to serve. Empty: every model with a `live` version when the server starts.
    pub models: Vec<String>,
    /// How often the registry's aliases are polled for a new `live` version.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// Most items in one batch request (413 above it).
    pub max_batch_items: usize,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Time limit for one request (it also bounds producing events to Kafka).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Named bearer tokens (`[[serve.tokens]]`: `name`, `role` — `predict`, or `read` for a
    /// protected `/metrics` — and `token`). With no `predict` token, every prediction request is
    /// refused (401), like feedback.
    pub tokens: Vec<TokenConfig>,
    /// Older form, kept working: unnamed tokens of role `predict`, named `predict_tokens.0`, …
    pub predict_tokens: Vec<SecretSpec>,
    /// The role `/metrics` needs; none (the default) leaves it open.
    pub metrics_role: Option<Role>,
    /// Rate and concurrency limits (`[serve.limits]`).
    pub limits: LimitsConfig,
    /// Where prediction events go.
    pub events: ServeEventsConfig,
    /// HTTPS: certificate and key files (re-read on SIGHUP), optional client certificates.
    /// Unset: plain HTTP, meant for the loopback default.
    pub tls: TlsServerSettings,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:9465".parse().expect("valid literal address"),
            models: Vec::new(),
            reload_interval: Duration::from_secs(5),
            max_batch_items: 1000,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(10),
            tokens: Vec::new(),
            predict_tokens: Vec::new(),
            metrics_role: None,
            limits: LimitsConfig::default(),
            events: ServeEventsConfig::None,
            tls: TlsServerSettings::default(),
        }
    }
}

/// `[serve.events]`: where `driftd serve` writes a prediction event (contract v1) per answer.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServeEventsConfig {
    /// No events.
    #[default]
    None,
    /// Appended as JSON lines to a file (flushed per request), e.g. for `driftd run --events FILE
    /// --follow`.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Produced to a Kafka topic with the `[source]` Kafka connection settings (which must be
    /// `kind = "kafka"`).
    Kafka {
        /// The topic.
        topic: String,
    },
}

impl ServeConfig {
    /// Checks values, model names and the events sink; resolves the predict tokens. `kafka` says
    /// whether `[source]` holds Kafka connection settings (`events.kind = "kafka"` needs them).
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets, kafka: bool) {
        let s = self;
        if s.reload_interval.is_zero() {
            err(e, "serve.reload_interval", "must be positive");
        }
        if s.max_batch_items == 0 {
            err(e, "serve.max_batch_items", "must be at least 1");
        }
        if s.max_body_bytes < 256 {
            err(e, "serve.max_body_bytes", "must be at least 256");
        }
        if s.request_timeout.is_zero() {
            err(e, "serve.request_timeout", "must be positive");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in s.models.iter().enumerate() {
            if !valid_model_name(m) {
                err(
                    e,
                    format!("serve.models.{i}"),
                    format!("invalid model name {m:?}: 1 to 128 characters of [A-Za-z0-9_.:-]"),
                );
            } else if !seen.insert(m) {
                err(
                    e,
                    format!("serve.models.{i}"),
                    format!("{m:?} is listed twice"),
                );
            }
        }
        match &s.events {
            ServeEventsConfig::None => {}
            ServeEventsConfig::File { path } => {
                if path.as_os_str().is_empty() {
                    err(e, "serve.events.path", "must not be empty");
                }
            }
            ServeEventsConfig::Kafka { topic } => {
                if topic.trim().is_empty() {
                    err(e, "serve.events.topic", "must not be empty");
                }
                if !kafka {
                    err(
                        e,
                        "serve.events.kind",
                        "`kafka` needs the Kafka connection settings of `[source] kind = \"kafka\"`",
                    );
                }
            }
        }
        s.tls.validate(e, "serve.tls");
        s.limits.validate(e, "serve.limits");
        if !matches!(s.metrics_role, None | Some(Role::Read | Role::Predict)) {
            err(
                e,
                "serve.metrics_role",
                "driftd serve has tokens of role `read` and `predict` only",
            );
        }
        resolve_tokens(
            e,
            "serve",
            &s.tokens,
            &[Legacy {
                key: "predict_tokens",
                role: Role::Predict,
                specs: &s.predict_tokens,
            }],
            &[Role::Predict, Role::Read],
            &mut secrets.serve_tokens,
        );
    }
}
