//! The intake stage: where events come from and how their effect is made durable.
//!
//! - [`file`](mod@file): the JSON-lines reader (a file, optionally followed as it grows, or stdin).
//! - [`embedded`]: the file source's task loop (embedded mode), with HTTP feedback as a side shard.
//! - [`kafka`]: the Kafka consumer group's task loop, with a dead-letter topic.
//! - [`checkpoint`]: the [`Checkpointer`] both loops write and load checkpoints through.
//!
//! - [`pipeline`]: parse, validate, order and apply; [`shard`]: what a checkpoint holds;
//!   [`policy`]: which models are accepted; [`order`]: the event-time order the monitors see;
//!   [`publish`]: the monitors' gauges and onset log lines; [`config`]: the stage's sections.
//!
//! Both loops own the [`Pipeline`] and take [`Control`] messages from the rest of the daemon
//! through [`dispatch`]. The learners of the retraining stage run inside the pipeline; the trainer
//! reaches them through `Control::Learn`.
//!
//! May depend on: contract, telemetry, store, kafka, monitor, report, retraining.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot, watch};

use crate::intake::pipeline::Pipeline;

use crate::intake::policy::ModelPolicy;

use crate::intake::shard::ShardState;
use crate::telemetry::metrics::Metrics;

pub mod checkpoint;
pub mod config;
pub mod embedded;
pub mod file;
pub mod kafka;
pub mod order;
pub mod pipeline;
pub mod policy;
pub mod publish;
pub mod shard;

use crate::retraining::learn::LearnControl;
pub use checkpoint::Checkpointer;

/// Liveness and readiness flags, shared by the components that know them.
#[derive(Debug, Default)]
pub struct Health {
    /// The event source is connected.
    pub source_up: AtomicBool,
    /// The state store answered its last operation.
    pub store_up: AtomicBool,
    /// Start-up finished (checkpoints loaded, source started).
    pub started: AtomicBool,
    /// Shutdown has begun.
    pub shutting_down: AtomicBool,
}

impl Health {
    /// Whether the daemon is ready to do its work.
    pub fn ready(&self) -> bool {
        self.source_up.load(Ordering::Relaxed)
            && self.store_up.load(Ordering::Relaxed)
            && self.started.load(Ordering::Relaxed)
            && !self.shutting_down.load(Ordering::Relaxed)
    }
}

/// Feedback accepted over HTTP, handed to the local pipeline (embedded mode). `ack` answers once
/// the feedback is durable in the state store.
#[derive(Debug)]
pub struct LocalFeedback {
    /// Each item as a complete feedback event (JSON object), or a record in `format`.
    pub items: Vec<Vec<u8>>,
    /// What the items are: contract v1 (feedback), or KServe CloudEvents in structured mode
    /// (`POST /v1/kserve`).
    pub format: crate::contract::adapt::Format,
    /// Answered when the items are applied and checkpointed.
    pub ack: oneshot::Sender<Result<(), FeedbackError>>,
}

/// Why accepted HTTP feedback was not made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedbackError {
    /// The source task is stopping; the items were not checkpointed.
    #[error("shutting down")]
    ShuttingDown,
}

/// Messages from the control plane (signals) to the source task.
#[derive(Debug)]
pub enum Control {
    /// A reloaded model policy.
    SetPolicy(ModelPolicy),
    /// A model's monitor, evaluated on demand (see [`Pipeline::inspect`]).
    Inspect(
        String,
        tokio::sync::oneshot::Sender<Option<serde_json::Value>>,
    ),
    /// A model's HTML report (see [`Pipeline::report`]).
    Report(String, tokio::sync::oneshot::Sender<Option<String>>),
    /// The models with a review queue and its size (see [`Pipeline::review_models`]).
    ReviewModels(tokio::sync::oneshot::Sender<Vec<(String, usize)>>),
    /// The next items of a model's review queue (see [`Pipeline::review`]).
    Review {
        /// The model.
        model: String,
        /// Ids others hold a claim on.
        exclude: Vec<String>,
        /// Most items.
        limit: usize,
        /// The answer.
        reply: tokio::sync::oneshot::Sender<Option<serde_json::Value>>,
    },
    /// A command of the trainer to the learners.
    Learn(LearnControl),
}

/// What the source task needs besides its source.
pub struct TaskCtx {
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness flags.
    pub health: Arc<Health>,
    /// Checkpoint writer.
    pub checkpointer: Checkpointer,
    /// Flips to `true` on shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Reloads.
    pub control: mpsc::Receiver<Control>,
    /// The event-time order's settings (idle timeout, buffer bound) for the source's flow control.
    pub order: config::OrderConfig,
}

/// Applies a control message to the pipeline: the one dispatch both source loops share.
pub fn dispatch(p: &mut Pipeline, c: Control) {
    match c {
        Control::SetPolicy(pol) => p.set_policy(pol),
        Control::Inspect(model, reply) => {
            let _ = reply.send(p.inspect(&model));
        }
        Control::Report(model, reply) => {
            let _ = reply.send(p.report(&model));
        }
        Control::ReviewModels(reply) => {
            let _ = reply.send(p.review_models());
        }
        Control::Review {
            model,
            exclude,
            limit,
            reply,
        } => {
            let _ = reply.send(p.review(&model, &exclude, limit));
        }
        Control::Learn(c) => p.learn_control(c),
    }
}

/// What the file source processed, printed when a one-shot run ends.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The shard's final state.
    pub state: ShardState,
    /// Where rejected lines went.
    pub rejects_path: PathBuf,
}
