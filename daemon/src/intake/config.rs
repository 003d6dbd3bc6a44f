//! The intake stage's sections — `[source]`, `[events]` (with `[events.order]`), `[checkpoint]`,
//! `[shutdown]` and the per-model `[models.NAME]` — and their validation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use driftd_retrain::Task;

use crate::contract::event::valid_model_name;
use crate::contract::settings::{ConfigError, Secrets, err};
use crate::intake::order::OrderSettings;
use crate::kafka::KafkaSourceConfig;
use crate::monitor::MonitorSettings;
use crate::retraining::config::RetrainConfig;

/// `[source]`: where events come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// JSON lines from a file or stdin (the embedded default).
    File(FileSourceConfig),
    /// A Kafka consumer group.
    Kafka(Box<KafkaSourceConfig>),
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig::File(FileSourceConfig::default())
    }
}

/// `[source]` with `kind = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSourceConfig {
    /// The events file, or `-` for stdin.
    pub path: PathBuf,
    /// Keep reading as the file grows (like `tail -f`), instead of stopping at its end.
    pub follow: bool,
    /// How often to look for new data when following.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Where rejected lines go (JSON lines with reason, detail, offset and the raw line).
    /// Default: the events path with `.rejects.jsonl` appended (`driftd-rejects.jsonl` for stdin).
    pub rejects_path: Option<PathBuf>,
    /// `[source.adapter]`: the file's lines in another server's format (KServe CloudEvents,
    /// Open Inference Protocol records as `kcat -J` prints them).
    pub adapter: Box<crate::contract::adapt::AdapterConfig>,
}

impl Default for FileSourceConfig {
    fn default() -> Self {
        FileSourceConfig {
            path: PathBuf::from("-"),
            follow: false,
            poll_interval: Duration::from_millis(200),
            rejects_path: None,
            adapter: Default::default(),
        }
    }
}

impl FileSourceConfig {
    /// The rejects file actually used.
    pub fn effective_rejects_path(&self) -> PathBuf {
        match &self.rejects_path {
            Some(p) => p.clone(),
            None if self.path == Path::new("-") => PathBuf::from("driftd-rejects.jsonl"),
            None => {
                let mut s = self.path.clone().into_os_string();
                s.push(".rejects.jsonl");
                PathBuf::from(s)
            }
        }
    }
}

/// `[events]`: validation of incoming events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Largest accepted event, in bytes.
    pub max_event_bytes: usize,
    /// Reject events of models not listed under `[models]` (`unknown_model`).
    pub strict_models: bool,
    /// With non-strict models, the most models discovered from traffic (`too_many_models` above).
    pub max_models: usize,
    /// The event-time order the monitors see.
    pub order: OrderConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_event_bytes: 1 << 20,
            strict_models: false,
            max_models: 1000,
            order: OrderConfig::default(),
        }
    }
}

/// `[events.order]`: the monitors see events in event time, merged across partitions under a
/// watermark (semantics in `order.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrderConfig {
    /// Disorder of event times tolerated within one partition (or file).
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// A partition that delivered nothing for this long no longer holds the watermark back.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most events held back at once; beyond it the oldest is released early (counted).
    pub max_buffered: usize,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            allowed_lateness: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(30),
            max_buffered: 100_000,
        }
    }
}

impl OrderConfig {
    /// The orderer's settings.
    pub fn settings(&self) -> OrderSettings {
        OrderSettings {
            allowed_lateness_ns: i64::try_from(self.allowed_lateness.as_nanos())
                .unwrap_or(i64::MAX),
            max_buffered: self.max_buffered,
        }
    }
}

/// `[checkpoint]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Write a checkpoint at least this often while events flow.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// ... and after at most this many events.
    pub max_events: u64,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            interval: Duration::from_secs(5),
            max_events: 100_000,
        }
    }
}

/// `[shutdown]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM, the time allowed to drain, checkpoint and commit before exiting anyway.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            timeout: Duration::from_secs(20),
        }
    }
}

/// `[models.NAME]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `classification` or `regression`.
    pub task: Task,
    /// For binary classification: the label whose probability `score` is.
    pub positive_label: String,
    /// This model's monitoring settings: keys set here override the global `[monitor]`, the others
    /// are inherited from it.
    pub monitor: Option<MonitorSettings>,
    /// A JSON-lines file of prediction events that forms the model's drift reference (e.g. its
    /// training data), instead of its first live predictions.
    pub reference_file: Option<PathBuf>,
    /// Retraining, shadow testing and promotion (see [`crate::retraining::config::RetrainConfig`] and
    /// the trainer (`trainer.rs`)). Absent: driftd only monitors and alerts.
    pub retrain: Option<RetrainConfig>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            task: Task::Classification,
            positive_label: "1".into(),
            monitor: None,
            reference_file: None,
            retrain: None,
        }
    }
}

impl SourceConfig {
    /// `[source.adapter]`: how records in another server's format become events.
    pub fn adapter(&self) -> &crate::contract::adapt::AdapterConfig {
        match self {
            SourceConfig::File(f) => &f.adapter,
            SourceConfig::Kafka(k) => &k.adapter,
        }
    }

    /// Checks the file source's settings, or the Kafka connection's.
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        match self {
            SourceConfig::File(f) => {
                if f.path.as_os_str().is_empty() {
                    err(e, "source.path", "must not be empty (use \"-\" for stdin)");
                }
                if f.follow && f.path == Path::new("-") {
                    err(e, "source.follow", "cannot follow stdin");
                }
                if f.poll_interval.is_zero() {
                    err(e, "source.poll_interval", "must be positive");
                }
                f.adapter.validate(false, e);
            }
            SourceConfig::Kafka(k) => k.validate(e, secrets),
        }
    }
}

/// Checks `[events]`, `[checkpoint]` and `[shutdown]`.
pub fn validate_flow(
    events: &EventsConfig,
    checkpoint: &CheckpointConfig,
    shutdown: &ShutdownConfig,
    e: &mut Vec<ConfigError>,
) {
    if events.max_event_bytes < 64 {
        err(e, "events.max_event_bytes", "must be at least 64");
    }
    if events.order.max_buffered == 0 {
        err(e, "events.order.max_buffered", "must be at least 1");
    }
    if events.order.idle_timeout.is_zero() {
        err(e, "events.order.idle_timeout", "must be longer than 0s");
    }
    if events.max_models == 0 {
        err(e, "events.max_models", "must be at least 1");
    }
    if checkpoint.interval.is_zero() {
        err(e, "checkpoint.interval", "must be positive");
    }
    if checkpoint.max_events == 0 {
        err(e, "checkpoint.max_events", "must be at least 1");
    }
    if shutdown.timeout.is_zero() {
        err(e, "shutdown.timeout", "must be positive");
    }
}

impl ModelConfig {
    /// Checks one `[models.NAME]` section (its name too).
    pub fn validate(&self, name: &str, e: &mut Vec<ConfigError>) {
        if !valid_model_name(name) {
            err(
                e,
                format!("models.{name}"),
                "a model name must be 1 to 128 characters of [A-Za-z0-9_.:-]",
            );
        }
        if self.positive_label.is_empty() {
            err(
                e,
                format!("models.{name}.positive_label"),
                "must not be empty",
            );
        }
        if let Some(ms) = &self.monitor {
            for (key, msg) in ms.validate() {
                err(e, format!("models.{name}.monitor.{key}"), msg);
            }
        }
        if let Some(f) = &self.reference_file
            && !f.is_file()
        {
            err(
                e,
                format!("models.{name}.reference_file"),
                format!("{} is not a readable file", f.display()),
            );
        }
    }
}
