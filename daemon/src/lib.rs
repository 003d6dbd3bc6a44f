//! # driftd
//!
//! The daemon crate: the only one that talks to Kafka, Redis, SMTP, HTTP, Prometheus and the clock.
//! See `ARCHITECTURE.md` at the repository root for the map.
//!
//! One folder per stage of the loop, listed here from the bottom layer up; a module may import
//! only from the layers listed before it (the tidy test `layers_only_import_downwards` reads the
//! `pub mod` lines below in order and keeps it so; a blank line between them stops rustfmt from
//! sorting them):
//!
//! - [`contract`] — the shared vocabulary: event contract v1, onsets, samples, control messages,
//!   notices, secrets and config errors.
//! - [`telemetry`] — logging and the metric catalogue.
//! - [`store`] — the state store: one trait, embedded (redb) and Redis, leases and pub/sub.
//! - [`kafka`] — the Kafka client settings every stage shares and the one topic producer.
//! - [`registry`] — the model registry: signed versions and aliases in the state store.
//! - [`monitor`] — per-model drift, the late-label join store, labels and concept drift (pure,
//!   event time).
//! - [`report`] — HTML reports with SVG charts of a model's monitor (replay and the admin API).
//! - [`alert`] — alert rules, their lifecycle and the notification sinks.
//! - [`retraining`] — training data and shadow scoring on the intake path; the trainer task.
//! - [`intake`] — the pipeline, event-time order, checkpoints, the file and Kafka sources.
//! - [`http`] — health, readiness, metrics, feedback, admin and registry routes.
//! - [`serve`] — `driftd serve`: predictions with the registry's live models, hot-swapped.
//! - [`config`] — the configuration file: composes each stage's section, validates it all at once.
//! - [`offline`] — `driftd replay`, backtests and the seeded benchmark streams.
//! - [`cli`] — the subcommands: `run` (the lifecycle), `demo`, `models`.

pub mod contract;

pub mod telemetry;

pub mod store;

pub mod kafka;

pub mod registry;

pub mod monitor;

pub mod report;

pub mod alert;

pub mod retraining;

pub mod intake;

pub mod http;

pub mod serve;

pub mod config;

pub mod offline;

pub mod cli;
