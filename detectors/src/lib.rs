//! # driftd-detectors
//!
//! The statistical heart of driftd: a pure library (no async, no I/O, no clock) with two-sample
//! drift tests, stream detectors and bounded-memory window summaries. The daemon's monitors call it;
//! everything here is testable with plain data.
