//! Logging with `tracing`: text or JSON lines on stderr, level from the config (or `RUST_LOG`),
//! changeable at run time (SIGHUP).
//!
//! May depend on: contract.

pub mod events;
pub mod metrics;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

use serde::Deserialize;

use crate::contract::settings::{ConfigError, err};

/// Changes the log filter of the running process.
#[derive(Clone)]
pub struct LogHandle(Option<reload::Handle<EnvFilter, Registry>>);

impl LogHandle {
    /// A handle that changes nothing (for tests and subcommands without logging).
    pub fn noop() -> Self {
        LogHandle(None)
    }

    /// Sets a new filter, e.g. `debug` or `driftd=debug,rdkafka=warn`. `RUST_LOG`, when set, wins.
    pub fn set_level(&self, level: &str) -> Result<(), LogError> {
        if std::env::var_os("RUST_LOG").is_some() {
            return Ok(());
        }
        let Some(h) = &self.0 else { return Ok(()) };
        let f = EnvFilter::try_new(level)?;
        Ok(h.reload(f)?)
    }
}

/// Why the log filter could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Not a valid `tracing` filter.
    #[error("not a valid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// The subscriber is gone.
    #[error("the log filter cannot be reloaded: {0}")]
    Reload(#[from] reload::Error),
}

/// Installs the global subscriber.
pub fn init(level: &str, format: LogFormat) -> LogHandle {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if result.is_err() {
        return LogHandle::noop();
    }
    LogHandle(Some(handle))
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `driftd=debug,rdkafka=warn`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl LogConfig {
    /// Checks the filter.
    pub fn validate(&self, e: &mut Vec<ConfigError>) {
        if let Err(msg) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            err(e, "log.level", format!("not a valid log filter: {msg}"));
        }
    }
}
