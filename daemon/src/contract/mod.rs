//! The contract layer: the vocabulary every stage shares and that depends on nothing above it —
//! the event contract and the adapters that turn other servers' payloads into it, what a monitor reports, the samples alert rules read, control messages,
//! notices between processes, shared ids and errors.
//!
//! May depend on: the detector and retrain crates' plain types. Nothing in this folder does I/O
//! or reads a clock.

pub mod access;
pub mod adapt;
pub mod event;
pub mod notice;
pub mod onset;
pub mod sample;
pub mod settings;

#[cfg(test)]
pub(crate) mod fuzz;
