//! The command line's subcommands that are more than a call into a stage: one module each.
//! `main.rs` parses the arguments and hands over to them or to the stages.
//!
//! - [`models`]: `driftd models …` over the model registry.

pub mod demo;
pub mod models;
pub mod run;
