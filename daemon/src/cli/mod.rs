//! The command line's subcommands that are more than a call into a stage: one module each.
//! `main.rs` parses the arguments and hands over to them or to the stages.
//!
//! - [`run`]: `driftd run`, the daemon's lifecycle.
//! - [`demo`]: `driftd demo`, the whole loop in one process.
//! - [`models`]: `driftd models …` over the model registry.
//!
//! May depend on: contract, telemetry, store, kafka, registry, alert, retraining, intake, http, config, offline.

pub mod demo;
pub mod models;
pub mod run;
