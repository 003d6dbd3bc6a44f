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
//! - [`replay`] — `driftd replay`: backtests in event time.
//! - [`registry`] — the model registry: signed versions and aliases in the state store.
//! - [`learn`] — training data and shadow scoring on the intake path.
//! - [`trainer`] — the retraining loop: triggers, lease, fit, gates, promotion, watch, rollback.
//! - [`telemetry`] — logging.
//! - [`demo`] — `driftd demo`: the whole loop in one process.
//! - [`backtest`] — drift onsets scored against ground truth.
//! - [`streams`] — seeded benchmark streams with known drift.
//! - [`order`] — the event-time order the monitors see, whatever the partitioning.
//! - [`alert`] — alert rules, their lifecycle and the notification sinks.
//! - [`join`] — the late-label join store.
//! - [`cli`] — `driftd models` and other subcommands over the stages.
//!

pub mod alert;
pub mod backtest;
pub mod cli;
pub mod config;
pub mod demo;
pub mod event;
pub mod http;
pub mod join;
pub mod learn;
pub mod metrics;
pub mod monitor;
pub mod order;
pub mod pipeline;
pub mod registry;
pub mod replay;
pub mod run;
pub mod serve;
pub mod sources;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod trainer;
