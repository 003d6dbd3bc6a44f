//! Event sources: where events come from.
//!
//! - [`file`](mod@file): JSON lines from a file (optionally followed as it grows) or stdin.
//! - [`kafka`]: a Kafka consumer group with a dead-letter topic.

pub mod file;
pub mod kafka;
