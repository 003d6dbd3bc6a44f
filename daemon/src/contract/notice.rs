//! Notices between processes: what `driftd run` announces when it promotes or rolls back a model,
//! and what `driftd serve` listens for to swap it without waiting for its next poll.

use serde::{Deserialize, Serialize};

/// The pub/sub channel (and default Kafka topic) of promotion and rollback notices.
pub const UPDATES_CHANNEL: &str = "model-updates";

/// A promotion or rollback notice (JSON on the `model-updates` channel and topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `promoted` or `rolled_back`.
    pub action: String,
    /// The model.
    pub model: String,
    /// The version now live.
    pub version: u64,
    /// The version live before.
    pub replaced: Option<u64>,
    /// SHA-256 of the live version's signed artifact.
    pub checksum: String,
    /// Where the artifact is: the state store and key.
    pub artifact: String,
    /// When (RFC 3339).
    pub at: chrono::DateTime<chrono::Utc>,
}
