//! The one error type of a delivery attempt, shared by every sink and the dispatcher (a leaf:
//! it depends on nothing else of the alerting code).

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
