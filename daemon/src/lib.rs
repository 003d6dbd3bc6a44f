//! # driftd
//!
//! The daemon crate: the only one that talks to Kafka, Redis, SMTP, HTTP, Prometheus and the clock.
//! See `ARCHITECTURE.md` at the repository root for the map.
//!
//! - [`config`] — typed TOML configuration, validated with every error at once.
//! - [`event`] — event contract v1, parsing and validation with machine-readable reasons.
//! - [`pipeline`] — per-shard state, exactly-once effects through checkpoints.
//! - [`sources`] — the intake stage: the file/stdin and Kafka loops, control, checkpoints.
//! - [`store`] — the state store trait, embedded (redb) and Redis.
//! - [`http`] — health, readiness, metrics and the feedback endpoint.
//! - [`metrics`] — the metric catalogue.
//! - [`monitor`] — per-model drift, labels and concept drift (pure, event time).
//! - [`run`] — the lifecycle of `driftd run`.
//! - [`serve`] — `driftd serve`: predictions with the registry's live models, hot-swapped.
//! - [`offline`] — `driftd replay`, backtests and the seeded benchmark streams.
//! - [`onset`] — what a monitor reports: a quantity entering drift.
//! - [`registry`] — the model registry: signed versions and aliases in the state store.
//! - [`learn`] — training data and shadow scoring on the intake path.
//! - [`trainer`] — the retraining loop: triggers, lease, fit, gates, promotion, watch, rollback.
//! - [`telemetry`] — logging.
//! - [`demo`] — `driftd demo`: the whole loop in one process.
//! - [`order`] — the event-time order the monitors see, whatever the partitioning.
//! - [`alert`] — alert rules, their lifecycle and the notification sinks.
//! - [`join`] — the late-label join store.
//! - [`cli`] — `driftd models` and other subcommands over the stages.
//!

pub mod alert;
pub mod cli;
pub mod config;
pub mod demo;
pub mod event;
pub mod http;
pub mod join;
pub mod learn;
pub mod metrics;
pub mod monitor;
pub mod offline;
pub mod onset;
pub mod order;
pub mod pipeline;
pub mod registry;
pub mod run;
pub mod serve;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod trainer;
