//! A shard's state as checkpointed — per-model counts, rejections, the events held for the
//! watermark, the next offset — and the keys checkpoints are stored under.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::event::RejectReason;
use crate::retraining::learn::RestoreError;
use crate::store::StoreError;

/// Version of the checkpoint format; bumped when [`ShardState`] changes incompatibly.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Per-model state held in a shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelState {
    /// Accepted prediction events.
    pub predictions: u64,
    /// Accepted feedback events.
    pub feedback: u64,
}

/// The state of one shard, as checkpointed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardState {
    /// Checkpoint format version.
    pub version: u32,
    /// Offset of the first event whose effect is not in this state.
    pub next_offset: u64,
    /// Per-model state.
    pub models: BTreeMap<String, ModelState>,
    /// Rejections by reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// For file sources: length of the rejects file when this state was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects_len: Option<u64>,
    /// Accepted events of this shard still held back for the event-time watermark (their
    /// effect is not yet in the monitors): restored into the order on load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldEvent>,
    /// The shard's event-time clock (largest event time delivered, ns since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ts_ns: Option<i64>,
    /// The order's last released position (event time ns, kind rank) when this state was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<(i64, u8)>,
}

/// An event held back for the watermark, as checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldEvent {
    /// Its offset in the shard.
    pub offset: u64,
    /// The raw event (it was accepted, so it is UTF-8 JSON).
    pub event: String,
}

impl ShardState {
    /// Total accepted events.
    pub fn accepted(&self) -> u64 {
        self.models
            .values()
            .map(|m| m.predictions + m.feedback)
            .sum()
    }
    /// Total rejected events.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// The key under which a shard's checkpoint is stored.
pub fn checkpoint_key(shard: &str) -> String {
    format!("checkpoint/{shard}")
}

/// Key of the list of checkpointed monitors.
pub const MONITOR_INDEX_KEY: &str = "monitors";

/// Key of one model's checkpointed monitor.
pub fn monitor_key(model: &str) -> String {
    format!("monitor/{model}")
}

/// The prefix of a model's join-store journal keys (see [`crate::monitor::join::journal`]).
pub fn join_prefix(model: &str) -> String {
    format!("monitor/{model}/join")
}

/// Why a checkpoint cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The state store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not decode.
    #[error("{what}: {source}")]
    Decode {
        /// What was being read (e.g. `monitor of model churn`).
        what: String,
        /// Why.
        source: serde_json::Error,
    },
    /// Written by a newer driftd.
    #[error("checkpoint version {0} is newer than this driftd understands ({CHECKPOINT_VERSION})")]
    TooNew(u32),
    /// A retrained model's stored training data.
    #[error("{model}: {source}")]
    Learner {
        /// The model.
        model: String,
        /// Why.
        source: RestoreError,
    },
}
