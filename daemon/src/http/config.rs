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
    /// Time limit for one request. In Kafka mode feedback waits for the broker's
    /// acknowledgement at most [`HttpConfig::feedback_delivery_timeout`] of it.
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
    /// Leave `POST /v1/kserve` open: KServe's payload logger sends no credentials. Off (the
    /// default): the route takes a `feedback` token like `/v1/feedback`.
    pub kserve_open: bool,
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
            kserve_open: false,
            limits: LimitsConfig::default(),
        }
    }
}

/// How late librdkafka may report a record whose delivery timed out: it scans for expired
/// records about once a second.
const DELIVERY_REPORT_SLACK: Duration = Duration::from_millis(1500);

/// How long `POST /v1/feedback` waits for the broker (Kafka mode) before answering 503 itself:
/// half a second before the request's own limit (`request_timeout`), so that the client gets a
/// clear refusal rather than a bare 408 even when the producer reports late (e.g. while it waits
/// to reconnect after an outage).
pub fn feedback_answer_deadline(request_timeout: Duration) -> Duration {
    request_timeout
        .saturating_sub(Duration::from_millis(500))
        .max(request_timeout / 2)
}

impl HttpConfig {
    /// How long feedback produced to the feedback topic (Kafka mode) may wait for the broker:
    /// 1.5 s less than `request_timeout` (at least 1 s), so that while the broker is down the
    /// record's own failure answers 503 before the request times out. A request timeout (408)
    /// would leave the record queued in the producer, delivered if the broker came back soon
    /// after the client was told nothing, and counted twice when the client sends it again.
    /// With `request_timeout` of 2.5 s or more, a refused record is never delivered.
    pub fn feedback_delivery_timeout(&self) -> Duration {
        self.request_timeout
            .saturating_sub(DELIVERY_REPORT_SLACK)
            .max(Duration::from_secs(1))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: in Kafka mode feedback waited for the broker as long as the request could
    /// last, so during a broker outage the request timed out first (408, no body) and the record
    /// stayed queued, to be delivered if the broker came back soon after.
    #[test]
    fn feedback_delivery_fails_before_the_request_times_out() {
        let at = |ms| {
            HttpConfig {
                request_timeout: Duration::from_millis(ms),
                ..Default::default()
            }
            .feedback_delivery_timeout()
        };
        assert_eq!(at(10_000), Duration::from_millis(8_500));
        assert_eq!(at(3_000), Duration::from_millis(1_500));
        assert_eq!(at(500), Duration::from_secs(1), "at least a second");
        for ms in [2_500, 3_000, 10_000, 60_000] {
            assert!(at(ms) + DELIVERY_REPORT_SLACK <= Duration::from_millis(ms));
        }
        let answer = |ms| feedback_answer_deadline(Duration::from_millis(ms));
        assert_eq!(answer(3_000), Duration::from_millis(2_500));
        assert_eq!(answer(600), Duration::from_millis(300));
    }
}
