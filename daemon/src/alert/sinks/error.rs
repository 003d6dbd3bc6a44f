//! The sinks' error types, shared by every sink and the dispatcher (a leaf: it depends on nothing
//! else of the alerting code): [`DeliveryError`], the one error of a delivery attempt, and
//! [`SinkSetupError`], why a sink cannot be built from its configuration.

use std::path::PathBuf;

use crate::contract::settings::SecretError;

/// How a failed delivery should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Likely to pass later (connection refused, timeout, SMTP 4xx, HTTP 429/5xx): retried,
    /// logged at warn level.
    Transient,
    /// Refused by the receiving server in a way only an operator can fix (SMTP 5xx such as 535
    /// bad credentials, TLS failure): still retried, since the fix may come with a reload, but
    /// logged at error level.
    Rejected,
    /// Cannot succeed as it is (HTTP 4xx other than 429, an unknown receiver): dropped.
    Permanent,
}

/// A failed delivery: what kind, and a message for operators (never containing a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Retry or drop, and how loudly.
    pub kind: ErrorKind,
    /// What happened and, where known, what to fix.
    pub message: String,
}

impl DeliveryError {
    /// Whether the outbox keeps the notification for another attempt.
    pub fn is_retryable(&self) -> bool {
        self.kind != ErrorKind::Permanent
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }

    pub(crate) fn rejected(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: ErrorKind::Rejected,
            message: message.into(),
        }
    }

    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }
}

/// Why a sink (or the SMTP relay) cannot be built from its configuration. Messages quote
/// addresses, URLs and paths (none of them secret) and never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SinkSetupError {
    /// A text that should be an email address is not one.
    #[error("`{input}` is not an email address: {source}")]
    Address {
        /// The text as configured.
        input: String,
        /// What the address parser objected to.
        source: lettre::address::AddressError,
    },
    /// A webhook URL does not parse as a URL.
    #[error("`{url}` is not a URL: {source}")]
    UrlSyntax {
        /// The URL as configured.
        url: String,
        /// What the URI parser objected to.
        source: ureq::http::uri::InvalidUri,
    },
    /// A webhook URL is not `http://` or `https://`.
    #[error("`{0}` must start with http:// or https://")]
    UrlScheme(String),
    /// A webhook URL has no host.
    #[error("`{0}` has no host")]
    UrlNoHost(String),
    /// The `ca_file` cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    CaFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `ca_file` holds no `-----BEGIN CERTIFICATE-----` block.
    #[error("{} holds no PEM certificate", .0.display())]
    CaFileNoCertificate(PathBuf),
    /// The `ca_file` has a PEM block that is not a valid certificate.
    #[error("{}: {source}", path.display())]
    CaFileInvalid {
        /// The file.
        path: PathBuf,
        /// What the TLS library objected to.
        source: lettre::transport::smtp::Error,
    },
    /// The TLS parameters of the SMTP relay cannot be built.
    #[error("TLS settings: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    /// A secret (SMTP `password`, webhook `bearer_token`) cannot be resolved.
    #[error("{field}: {source}")]
    Secret {
        /// The configuration key of the secret.
        field: &'static str,
        /// Why (naming the variable or file, never the value).
        source: SecretError,
    },
    /// Only one of the SMTP `username` and `password` is set.
    #[error("`username` and `password` go together")]
    UnpairedCredentials,
    /// An email receiver has no `to` address.
    #[error("to: at least one recipient is needed")]
    NoRecipient,
    /// An email receiver is configured without the `[alerting.smtp]` section.
    #[error("an email receiver needs the [alerting.smtp] section")]
    NoSmtp,
    /// One of the above, at a configuration key (`from`, `alerting.smtp`,
    /// `alerting.receivers.NAME`, …).
    #[error("{key}: {source}")]
    At {
        /// The key, relative to the enclosing one.
        key: String,
        /// What is wrong there.
        source: Box<SinkSetupError>,
    },
}

impl SinkSetupError {
    /// This error, at the configuration key `key`.
    pub(crate) fn at(self, key: impl Into<String>) -> Self {
        SinkSetupError::At {
            key: key.into(),
            source: Box::new(self),
        }
    }
}
