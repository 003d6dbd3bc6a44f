//! Typed configuration: TOML, `deny_unknown_fields`, defaults for everything, and validation that
//! reports *every* problem at once, each with its key path.
//!
//! Loading works in two passes. The first deserialises the TOML into the typed [`Config`]; when a
//! key is unknown or has the wrong type, the error is recorded with its path, the offending key is
//! removed and deserialisation is retried, so one run collects all such errors. The second pass
//! ([`Config::validate`]) checks values that types cannot (ranges, non-empty lists, resolvable
//! secrets, log filters). Secrets are read from the environment or files and are never printed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use driftd_retrain::Task;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// The HTTP server (health, metrics, feedback).
    pub http: HttpConfig,
    /// Where events come from.
    pub source: SourceConfig,
    /// Where state and checkpoints live.
    pub state: StateConfig,
    /// Event validation.
    pub events: EventsConfig,
    /// Checkpointing.
    pub checkpoint: CheckpointConfig,
    /// Shutdown behaviour.
    pub shutdown: ShutdownConfig,
    /// Monitoring: windows, tests, label joins, concept detector.
    pub monitor: crate::monitor::MonitorSettings,
    /// Per-model settings, keyed by model name.
    pub models: BTreeMap<String, ModelConfig>,
    /// Alerting: rules, routes, silences, receivers.
    pub alerting: crate::alert::AlertingConfig,
    /// The model registry (`driftd models`): the artifact signing key.
    pub registry: RegistryConfig,
    /// `driftd serve`: the prediction server.
    pub serve: ServeConfig,
}

/// `[serve]`: the prediction server of `driftd serve` (`serve.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Listen address; port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// The models to serve. Empty: every model with a `live` version when the server starts.
    pub models: Vec<String>,
    /// How often the registry's aliases are polled for a new `live` version.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// Most items in one batch request (413 above it).
    pub max_batch_items: usize,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Time limit for one request (it also bounds producing events to Kafka).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bearer tokens accepted by `POST /v1/models/{model}/predict`. With none, every prediction
    /// request is refused (401), like feedback.
    pub predict_tokens: Vec<SecretSpec>,
    /// Where prediction events go.
    pub events: ServeEventsConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:9465".parse().expect("valid literal address"),
            models: Vec::new(),
            reload_interval: Duration::from_secs(5),
            max_batch_items: 1000,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(10),
            predict_tokens: Vec::new(),
            events: ServeEventsConfig::None,
        }
    }
}

/// `[serve.events]`: where `driftd serve` writes a prediction event (contract v1) per answer.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServeEventsConfig {
    /// No events.
    #[default]
    None,
    /// Appended as JSON lines to a file (flushed per request), e.g. for `driftd run --events FILE
    /// --follow`.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Produced to a Kafka topic with the `[source]` Kafka connection settings (which must be
    /// `kind = "kafka"`).
    Kafka {
        /// The topic.
        topic: String,
    },
}

/// Shortest accepted signing key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// The environment variable read for the signing key when `[registry] signing_key` is not set.
pub const KEY_ENV: &str = "DRIFTD_REGISTRY_KEY";
/// `[registry]`: the model registry kept in the state store (`registry.rs`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// The HMAC-SHA256 key that signs and verifies model artifacts, at least
    /// [`MIN_KEY_BYTES`] bytes. Without it, the environment variable
    /// `DRIFTD_REGISTRY_KEY` is used; commands that sign or verify fail when neither is set.
    pub signing_key: Option<SecretSpec>,
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

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Whether to serve HTTP at all.
    pub enabled: bool,
    /// Listen address; port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most feedback items in one batch request.
    pub max_batch_items: usize,
    /// Time limit for one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bearer tokens accepted by `POST /v1/feedback`. With none, feedback is refused (401).
    pub feedback_tokens: Vec<SecretSpec>,
    /// Bearer tokens accepted by the admin API (`/v1/alerts`, `/v1/silences`). With none, the
    /// admin API refuses every request (401).
    pub admin_tokens: Vec<SecretSpec>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: "127.0.0.1:9464".parse().expect("valid literal address"),
            max_body_bytes: 1 << 20,
            max_batch_items: 1000,
            request_timeout: Duration::from_secs(10),
            feedback_tokens: Vec::new(),
            admin_tokens: Vec::new(),
        }
    }
}

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
}

impl Default for FileSourceConfig {
    fn default() -> Self {
        FileSourceConfig {
            path: PathBuf::from("-"),
            follow: false,
            poll_interval: Duration::from_millis(200),
            rejects_path: None,
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

/// `[source]` with `kind = "kafka"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSourceConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Consumer group; instances in the same group share the partitions.
    pub group_id: String,
    /// Topic with prediction events.
    pub prediction_topic: String,
    /// Topic with feedback events (may equal `prediction_topic`). HTTP feedback is produced here.
    pub feedback_topic: String,
    /// Topic that receives rejected events, with the reason in headers.
    pub dead_letter_topic: String,
    /// Extra librdkafka properties for every client (e.g. `security.protocol`, `sasl.mechanisms`).
    pub properties: BTreeMap<String, String>,
    /// Extra librdkafka properties for the consumer only (e.g. `session.timeout.ms`).
    pub consumer_properties: BTreeMap<String, String>,
    /// SASL password, if the broker needs one (sets `sasl.password`).
    pub sasl_password: Option<SecretSpec>,
    /// librdkafka properties whose values are secrets (e.g. `ssl.key.password`), each read from an
    /// environment variable or a file like every other secret.
    pub secret_properties: BTreeMap<String, SecretSpec>,
    /// Where to start when the group has no committed offset: `earliest` or `latest`.
    pub auto_offset_reset: String,
    /// Commit this many offsets *before* the checkpointed position. A restart re-reads at most
    /// this many events per partition and skips them as duplicates (the checkpoint holds their
    /// effect), which guards against brokers that answer a fetch from the middle of a record batch
    /// with the *next* batch (tansu 0.6 does) and would otherwise skip events. 0 commits exactly.
    pub commit_rewind: u64,
    /// Where promotions and rollbacks are announced (JSON: model, version, checksum, artifact
    /// location), for serving stacks that reload on it. Empty: not announced on Kafka.
    pub model_updates_topic: String,
}

impl Default for KafkaSourceConfig {
    fn default() -> Self {
        KafkaSourceConfig {
            brokers: String::new(),
            group_id: "driftd".into(),
            prediction_topic: "driftd.predictions".into(),
            feedback_topic: "driftd.feedback".into(),
            dead_letter_topic: "driftd.dead-letter".into(),
            properties: BTreeMap::new(),
            consumer_properties: BTreeMap::new(),
            sasl_password: None,
            secret_properties: BTreeMap::new(),
            auto_offset_reset: "earliest".into(),
            commit_rewind: 10_000,
            model_updates_topic: "model-updates".into(),
        }
    }
}

/// `[state]`: the state store.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StateConfig {
    /// A single file on local disk (redb): the default, no service needed.
    Embedded(EmbeddedStateConfig),
    /// Redis, shared by instances.
    Redis(RedisStateConfig),
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig::Embedded(EmbeddedStateConfig::default())
    }
}

/// `[state]` with `kind = "embedded"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedStateConfig {
    /// The store file; created if absent.
    pub path: PathBuf,
}

impl Default for EmbeddedStateConfig {
    fn default() -> Self {
        EmbeddedStateConfig {
            path: PathBuf::from("driftd-state.redb"),
        }
    }
}

/// `[state]` with `kind = "redis"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisStateConfig {
    /// `redis://host:port/db` (or `rediss://` for TLS). Put no password here: use `password`.
    pub url: String,
    /// Password (and `username`, if ACLs are used).
    pub password: Option<SecretSpec>,
    /// ACL user name.
    pub username: Option<String>,
    /// Prefix of every key, so deployments can share a Redis.
    pub key_prefix: String,
    /// Time limit for one Redis command.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for RedisStateConfig {
    fn default() -> Self {
        RedisStateConfig {
            url: "redis://127.0.0.1:6379/0".into(),
            password: None,
            username: None,
            key_prefix: "driftd".into(),
            timeout: Duration::from_secs(2),
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
    pub fn settings(&self) -> crate::order::OrderSettings {
        crate::order::OrderSettings {
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
    pub monitor: Option<crate::monitor::MonitorSettings>,
    /// A JSON-lines file of prediction events that forms the model's drift reference (e.g. its
    /// training data), instead of its first live predictions.
    pub reference_file: Option<PathBuf>,
    /// Retraining, shadow testing and promotion (see [`crate::learn::RetrainConfig`] and
    /// the trainer (`trainer.rs`)). Absent: driftd only monitors and alerts.
    pub retrain: Option<crate::learn::RetrainConfig>,
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

/// Where a secret comes from: exactly one of `env`, `file` or `value`.
///
/// ```toml
/// password = { env = "DRIFTD_REDIS_PASSWORD" }
/// password = { file = "/run/credentials/driftd.service/redis" }
/// ```
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Name of an environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (trailing newlines are trimmed).
    pub file: Option<PathBuf>,
    /// The secret itself (discouraged outside tests: config files get copied around).
    pub value: Option<String>,
}

impl fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSpec")
            .field("env", &self.env)
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SecretSpec {
    /// Reads the secret. Errors name the source, never the value.
    pub fn resolve(&self) -> Result<SecretString, String> {
        match (&self.env, &self.file, &self.value) {
            (Some(var), None, None) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(_) => Err(format!("environment variable {var} is not set")),
            },
            (None, Some(path), None) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\n', '\r']).to_owned();
                    if v.is_empty() {
                        Err(format!("secret file {} is empty", path.display()))
                    } else {
                        Ok(SecretString::from(v))
                    }
                }
                Err(e) => Err(format!("cannot read secret file {}: {e}", path.display())),
            },
            (None, None, Some(v)) if !v.is_empty() => Ok(SecretString::from(v.clone())),
            (None, None, Some(_)) => Err("secret value is empty".into()),
            _ => Err("a secret needs exactly one of `env`, `file` or `value`".into()),
        }
    }
}

/// librdkafka properties driftd sets itself (its delivery guarantees depend on them).
pub const DRIFTD_KAFKA_PROPERTIES: &[&str] = &[
    "group.id",
    "bootstrap.servers",
    "enable.auto.offset.store",
    "enable.auto.commit",
    "auto.offset.reset",
    "statistics.interval.ms",
    "enable.partition.eof",
    "message.timeout.ms",
    "enable.idempotence",
];

/// One configuration problem, with the key path it concerns (e.g. `source.brokers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path; empty for whole-file problems such as a TOML syntax error.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All problems found in a configuration.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the configuration:", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Resolved secrets, read once at load (and again on SIGHUP).
#[derive(Clone, Default)]
pub struct Secrets {
    /// Tokens accepted by the feedback endpoint.
    pub feedback_tokens: Vec<SecretString>,
    /// Tokens accepted by the admin API.
    pub admin_tokens: Vec<SecretString>,
    /// Redis password.
    pub redis_password: Option<SecretString>,
    /// Kafka SASL password.
    pub kafka_sasl_password: Option<SecretString>,
    /// Secret librdkafka properties (`source.secret_properties`).
    pub kafka_properties: BTreeMap<String, SecretString>,
    /// The model registry's signing key (`registry.signing_key`).
    pub registry_key: Option<SecretString>,
    /// Tokens accepted by `driftd serve`'s predict endpoint (`serve.predict_tokens`).
    pub predict_tokens: Vec<SecretString>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("feedback_tokens", &self.feedback_tokens.len())
            .field("admin_tokens", &self.admin_tokens.len())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// Whether `token` is one of the feedback tokens (constant time per token).
    pub fn feedback_token_ok(&self, token: &str) -> bool {
        token_ok(&self.feedback_tokens, token)
    }

    /// Whether `token` is one of the admin tokens (constant time per token).
    pub fn admin_token_ok(&self, token: &str) -> bool {
        token_ok(&self.admin_tokens, token)
    }

    /// Whether `token` is one of the predict tokens of `driftd serve` (constant time per token).
    pub fn predict_token_ok(&self, token: &str) -> bool {
        token_ok(&self.predict_tokens, token)
    }
}

fn token_ok(tokens: &[SecretString], token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let mut ok = subtle::Choice::from(0);
    for t in tokens {
        ok |= t.expose_secret().as_bytes().ct_eq(token.as_bytes());
    }
    bool::from(ok)
}

/// A loaded, validated configuration with its secrets resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Its secrets.
    pub secrets: Secrets,
}

/// Reads, parses and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    load_str(&text)
}

/// Parses and validates a configuration from TOML text.
pub fn load_str(text: &str) -> Result<Loaded, ConfigErrors> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message: format!("TOML syntax: {}", e.to_string().trim()),
        }])
    })?;
    inherit_monitor_settings(&mut table);
    let mut errors = Vec::new();
    let config = deserialize_collecting(&mut table, &mut errors);
    let Some(config) = config else {
        return Err(ConfigErrors(errors));
    };
    let (secrets, mut semantic) = config.validate();
    // A key whose type was wrong was removed and then defaulted; do not report it twice.
    semantic.retain(|s| !errors.iter().any(|e| e.path == s.path));
    errors.extend(semantic);
    if errors.is_empty() {
        Ok(Loaded { config, secrets })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Lays each `[models.NAME.monitor]` over the global `[monitor]` table, so per-model settings
/// inherit every key they do not set.
fn inherit_monitor_settings(table: &mut toml::Table) {
    let Some(toml::Value::Table(global)) = table.get("monitor").cloned() else {
        return;
    };
    let Some(toml::Value::Table(models)) = table.get_mut("models") else {
        return;
    };
    for (_, model) in models.iter_mut() {
        if let toml::Value::Table(m) = model
            && let Some(toml::Value::Table(own)) = m.get("monitor")
        {
            let merged = overlay(&global, own);
            m.insert("monitor".into(), toml::Value::Table(merged));
        }
    }
}

/// `over` laid on `base`, recursively. A table whose `type` differs (a different detector) replaces
/// the base table instead of merging with it.
fn overlay(base: &toml::Table, over: &toml::Table) -> toml::Table {
    let mut out = base.clone();
    for (k, v) in over {
        let merged = match (out.get(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if b.get("type").is_none()
                    || o.get("type").is_none()
                    || b.get("type") == o.get("type") =>
            {
                toml::Value::Table(overlay(b, o))
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    out
}

/// Deserialises, and on each error records it, removes the offending key and tries again.
fn deserialize_collecting(
    table: &mut toml::Table,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    for _ in 0..256 {
        let value = toml::Value::Table(table.clone());
        match serde_path_to_error::deserialize::<_, Config>(value) {
            Ok(c) => return Some(c),
            Err(e) => {
                let mut path: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|seg| match seg {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                        _ => None,
                    })
                    .collect();
                // The TOML deserializer appends "in `section`" lines; the key path says that already.
                let message = e
                    .inner()
                    .to_string()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("in `") && !l.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(field) = unknown_field_name(&message)
                    && path.last().map(String::as_str) != Some(field)
                {
                    path.push(field.to_owned());
                }
                let removed = remove_path(table, &path);
                errors.push(ConfigError {
                    path: path.join("."),
                    message,
                });
                if !removed {
                    return None;
                }
            }
        }
    }
    None
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn remove_path(table: &mut toml::Table, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = table;
    for p in parents {
        match cur.get_mut(p) {
            Some(toml::Value::Table(t)) => cur = t,
            _ => return false,
        }
    }
    cur.remove(last).is_some()
}

fn err(errors: &mut Vec<ConfigError>, path: impl Into<String>, message: impl Into<String>) {
    errors.push(ConfigError {
        path: path.into(),
        message: message.into(),
    });
}

impl Config {
    /// `[serve]`: values, model names, the events sink and the predict tokens.
    fn validate_serve(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        let s = &self.serve;
        if s.reload_interval.is_zero() {
            err(e, "serve.reload_interval", "must be positive");
        }
        if s.max_batch_items == 0 {
            err(e, "serve.max_batch_items", "must be at least 1");
        }
        if s.max_body_bytes < 256 {
            err(e, "serve.max_body_bytes", "must be at least 256");
        }
        if s.request_timeout.is_zero() {
            err(e, "serve.request_timeout", "must be positive");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in s.models.iter().enumerate() {
            if !crate::event::valid_model_name(m) {
                err(
                    e,
                    format!("serve.models.{i}"),
                    format!("invalid model name {m:?}: 1 to 128 characters of [A-Za-z0-9_.:-]"),
                );
            } else if !seen.insert(m) {
                err(
                    e,
                    format!("serve.models.{i}"),
                    format!("{m:?} is listed twice"),
                );
            }
        }
        match &s.events {
            ServeEventsConfig::None => {}
            ServeEventsConfig::File { path } => {
                if path.as_os_str().is_empty() {
                    err(e, "serve.events.path", "must not be empty");
                }
            }
            ServeEventsConfig::Kafka { topic } => {
                if topic.trim().is_empty() {
                    err(e, "serve.events.topic", "must not be empty");
                }
                if !matches!(self.source, SourceConfig::Kafka(_)) {
                    err(
                        e,
                        "serve.events.kind",
                        "`kafka` needs the Kafka connection settings of `[source] kind = \"kafka\"`",
                    );
                }
            }
        }
        for (i, t) in s.predict_tokens.iter().enumerate() {
            match t.resolve() {
                Ok(tok) if tok.expose_secret().len() < 16 => err(
                    e,
                    format!("serve.predict_tokens.{i}"),
                    "a token must be at least 16 characters long",
                ),
                Ok(tok) => secrets.predict_tokens.push(tok),
                Err(m) => err(e, format!("serve.predict_tokens.{i}"), m),
            }
        }
    }

    /// Checks what types cannot and resolves secrets. Returns the secrets and every problem found.
    pub fn validate(&self) -> (Secrets, Vec<ConfigError>) {
        let mut e = Vec::new();
        let mut secrets = Secrets::default();
        if let Err(msg) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            err(
                &mut e,
                "log.level",
                format!("not a valid log filter: {msg}"),
            );
        }
        if self.http.max_body_bytes < 256 {
            err(&mut e, "http.max_body_bytes", "must be at least 256");
        }
        if self.http.max_batch_items == 0 {
            err(&mut e, "http.max_batch_items", "must be at least 1");
        }
        if self.http.request_timeout.is_zero() {
            err(&mut e, "http.request_timeout", "must be positive");
        }
        for (name, specs, out) in [
            (
                "feedback_tokens",
                &self.http.feedback_tokens,
                &mut secrets.feedback_tokens,
            ),
            (
                "admin_tokens",
                &self.http.admin_tokens,
                &mut secrets.admin_tokens,
            ),
        ] {
            for (i, t) in specs.iter().enumerate() {
                match t.resolve() {
                    Ok(s) if s.expose_secret().len() < 16 => err(
                        &mut e,
                        format!("http.{name}.{i}"),
                        "a token must be at least 16 characters long",
                    ),
                    Ok(s) => out.push(s),
                    Err(m) => err(&mut e, format!("http.{name}.{i}"), m),
                }
            }
        }
        self.validate_serve(&mut e, &mut secrets);
        for (name, m) in &self.models {
            if let Some(r) = &m.retrain {
                for (key, msg) in r.validate(m.task) {
                    err(&mut e, format!("models.{name}.retrain.{key}"), msg);
                }
            }
        }
        if let Some(name) = self
            .models
            .iter()
            .find(|(_, m)| m.retrain.as_ref().is_some_and(|r| r.enabled))
            .map(|(n, _)| n)
            && self.registry.signing_key.is_none()
            && std::env::var_os(KEY_ENV).is_none()
        {
            err(
                &mut e,
                "registry.signing_key",
                format!(
                    "models.{name}.retrain signs the models it trains: set registry.signing_key or {}",
                    KEY_ENV
                ),
            );
        }
        match &self.source {
            SourceConfig::File(f) => {
                if f.path.as_os_str().is_empty() {
                    err(
                        &mut e,
                        "source.path",
                        "must not be empty (use \"-\" for stdin)",
                    );
                }
                if f.follow && f.path == Path::new("-") {
                    err(&mut e, "source.follow", "cannot follow stdin");
                }
                if f.poll_interval.is_zero() {
                    err(&mut e, "source.poll_interval", "must be positive");
                }
            }
            SourceConfig::Kafka(k) => {
                if k.brokers.trim().is_empty() {
                    err(
                        &mut e,
                        "source.brokers",
                        "must list at least one broker (host:port)",
                    );
                }
                for (key, v) in [
                    ("source.group_id", &k.group_id),
                    ("source.prediction_topic", &k.prediction_topic),
                    ("source.feedback_topic", &k.feedback_topic),
                    ("source.dead_letter_topic", &k.dead_letter_topic),
                ] {
                    if v.trim().is_empty() {
                        err(&mut e, key, "must not be empty");
                    }
                }
                if k.dead_letter_topic == k.prediction_topic
                    || k.dead_letter_topic == k.feedback_topic
                {
                    err(
                        &mut e,
                        "source.dead_letter_topic",
                        "must differ from the topics driftd consumes",
                    );
                }
                if !matches!(k.auto_offset_reset.as_str(), "earliest" | "latest") {
                    err(
                        &mut e,
                        "source.auto_offset_reset",
                        "must be `earliest` or `latest`",
                    );
                }
                for (section, map) in [
                    ("properties", &k.properties),
                    ("consumer_properties", &k.consumer_properties),
                ] {
                    for key in map.keys() {
                        if DRIFTD_KAFKA_PROPERTIES.contains(&key.as_str()) {
                            err(
                                &mut e,
                                format!("source.{section}.{key}"),
                                "set by driftd itself; it cannot be overridden",
                            );
                        } else if key == "partition.assignment.strategy"
                            && map[key].contains("cooperative")
                        {
                            err(
                                &mut e,
                                format!("source.{section}.{key}"),
                                "cooperative rebalancing is not supported: driftd rolls back to its checkpoint when partitions are revoked, which needs the eager protocol",
                            );
                        } else if key == "sasl.password" {
                            err(
                                &mut e,
                                format!("source.{section}.{key}"),
                                "a secret: use `source.sasl_password = { env = \"...\" }`",
                            );
                        }
                    }
                }
                if let Some(s) = &k.sasl_password {
                    match s.resolve() {
                        Ok(s) => secrets.kafka_sasl_password = Some(s),
                        Err(m) => err(&mut e, "source.sasl_password", m),
                    }
                }
                for (key, spec) in &k.secret_properties {
                    let path = format!("source.secret_properties.{key}");
                    if DRIFTD_KAFKA_PROPERTIES.contains(&key.as_str()) {
                        err(
                            &mut e,
                            path,
                            "set by driftd itself; it cannot be overridden",
                        );
                        continue;
                    }
                    match spec.resolve() {
                        Ok(s) => {
                            secrets.kafka_properties.insert(key.clone(), s);
                        }
                        Err(m) => err(&mut e, path, m),
                    }
                }
            }
        }
        match &self.state {
            StateConfig::Embedded(s) => {
                if s.path.as_os_str().is_empty() {
                    err(&mut e, "state.path", "must not be empty");
                }
            }
            StateConfig::Redis(r) => {
                match redis::parse_redis_url(&r.url) {
                    None => err(&mut e, "state.url", "not a redis:// or rediss:// URL"),
                    Some(u) if u.password().is_some() => err(
                        &mut e,
                        "state.url",
                        "must not contain a password: use `state.password`",
                    ),
                    Some(_) => {}
                }
                if r.key_prefix.is_empty() || r.key_prefix.contains(char::is_whitespace) {
                    err(
                        &mut e,
                        "state.key_prefix",
                        "must be non-empty without spaces",
                    );
                }
                if r.timeout.is_zero() {
                    err(&mut e, "state.timeout", "must be positive");
                }
                if let Some(s) = &r.password {
                    match s.resolve() {
                        Ok(s) => secrets.redis_password = Some(s),
                        Err(m) => err(&mut e, "state.password", m),
                    }
                }
            }
        }
        if self.events.max_event_bytes < 64 {
            err(&mut e, "events.max_event_bytes", "must be at least 64");
        }
        if self.events.order.max_buffered == 0 {
            err(&mut e, "events.order.max_buffered", "must be at least 1");
        }
        if self.events.order.idle_timeout.is_zero() {
            err(
                &mut e,
                "events.order.idle_timeout",
                "must be longer than 0s",
            );
        }
        if self.events.max_models == 0 {
            err(&mut e, "events.max_models", "must be at least 1");
        }
        if self.checkpoint.interval.is_zero() {
            err(&mut e, "checkpoint.interval", "must be positive");
        }
        if self.checkpoint.max_events == 0 {
            err(&mut e, "checkpoint.max_events", "must be at least 1");
        }
        if self.shutdown.timeout.is_zero() {
            err(&mut e, "shutdown.timeout", "must be positive");
        }
        if self.alerting.enabled {
            for (key, msg) in self.alerting.validate() {
                err(&mut e, key, msg);
            }
        }
        for (key, msg) in self.monitor.validate() {
            err(&mut e, format!("monitor.{key}"), msg);
        }
        if let Some(spec) = &self.registry.signing_key {
            match spec.resolve() {
                Ok(k) if k.expose_secret().len() < MIN_KEY_BYTES => err(
                    &mut e,
                    "registry.signing_key",
                    format!(
                        "the signing key must be at least {} bytes long",
                        MIN_KEY_BYTES
                    ),
                ),
                Ok(k) => secrets.registry_key = Some(k),
                Err(m) => err(&mut e, "registry.signing_key", m),
            }
        }
        for (name, m) in &self.models {
            let valid = !name.is_empty()
                && name.len() <= crate::event::MAX_MODEL_NAME_BYTES
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
            if !valid {
                err(
                    &mut e,
                    format!("models.{name}"),
                    "a model name must be 1 to 128 characters of [A-Za-z0-9_.:-]",
                );
            }
            if m.positive_label.is_empty() {
                err(
                    &mut e,
                    format!("models.{name}.positive_label"),
                    "must not be empty",
                );
            }
            if let Some(ms) = &m.monitor {
                for (key, msg) in ms.validate() {
                    err(&mut e, format!("models.{name}.monitor.{key}"), msg);
                }
            }
            if let Some(f) = &m.reference_file
                && !f.is_file()
            {
                err(
                    &mut e,
                    format!("models.{name}.reference_file"),
                    format!("{} is not a readable file", f.display()),
                );
            }
        }
        (secrets, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_valid_and_embedded() {
        let l = load_str("").unwrap();
        assert!(matches!(l.config.source, SourceConfig::File(_)));
        assert!(matches!(l.config.state, StateConfig::Embedded(_)));
    }

    #[test]
    fn reports_every_error_with_its_path() {
        let text = r#"
bogus = 1
[log]
level = "info,,,=bad["
colour = "red"
[http]
listen = "not an address"
max_batch_items = 0
[source]
kind = "kafka"
brokers = ""
prediction_topic = "p"
feedback_topic = "p"
dead_letter_topic = "p"
[checkpoint]
interval = "soon"
[models.churn]
task = "clustering"
"#;
        let errs = load_str(text).unwrap_err().0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "bogus",
            "log.colour",
            "log.level",
            "http.listen",
            "http.max_batch_items",
            "source.brokers",
            "source.dead_letter_topic",
            "checkpoint.interval",
            "models.churn.task",
        ] {
            assert!(paths.contains(&want), "missing {want} in {errs:#?}");
        }
        // each path once
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), paths.len(), "{errs:#?}");
    }

    #[test]
    fn secrets_come_from_env_and_files_and_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "file-token-0123456789\n").unwrap();
        let text = format!(
            "[http]\nfeedback_tokens = [{{ file = {:?} }}, {{ value = \"inline-token-0123456789\" }}]\n",
            file
        );
        let l = load_str(&text).unwrap();
        assert!(l.secrets.feedback_token_ok("file-token-0123456789"));
        assert!(l.secrets.feedback_token_ok("inline-token-0123456789"));
        assert!(!l.secrets.feedback_token_ok("file-token-012345678"));
        assert!(!l.secrets.feedback_token_ok(""));
        let dbg = format!("{:?} {:?}", l.config, l.secrets);
        assert!(!dbg.contains("inline-token"), "{dbg}");

        let errs =
            load_str("[http]\nfeedback_tokens = [{ env = \"DRIFTD_TEST_SURELY_UNSET_VAR\" }]\n")
                .unwrap_err()
                .0;
        assert_eq!(errs[0].path, "http.feedback_tokens.0");
        assert!(errs[0].message.contains("not set"));
    }

    #[test]
    fn redis_url_with_password_is_refused() {
        let errs = load_str("[state]\nkind = \"redis\"\nurl = \"redis://:hunter2@127.0.0.1/0\"\n")
            .unwrap_err()
            .0;
        assert_eq!(errs[0].path, "state.url");
        assert!(!errs[0].message.contains("hunter2"));
    }

    #[test]
    fn the_reference_config_documents_the_monitor_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/driftd.toml");
        let l = load_file(&path).unwrap();
        assert_eq!(l.config.monitor, crate::monitor::MonitorSettings::default());
    }

    #[test]
    fn monitor_settings_are_validated_with_their_paths() {
        let errs = load_str("[monitor]\nwindow_events = 1\naccuracy_alpha = 2.0\n[monitor.concept_detector]\ntype = \"adwin\"\ndelta = 5.0\n")
            .unwrap_err()
            .0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "monitor.window_events",
            "monitor.accuracy_alpha",
            "monitor.concept_detector",
        ] {
            assert!(paths.contains(&want), "{want} missing: {errs:#?}");
        }
    }

    #[test]
    fn per_model_monitor_settings_inherit_the_global_ones() {
        let l = load_str(
            r#"
[monitor]
window_events = 5000
accuracy_alpha = 0.01
[monitor.concept_detector]
type = "adwin"
delta = 0.01
[models.churn.monitor]
window_events = 2000
[models.fraud.monitor.concept_detector]
type = "ddm"
"#,
        )
        .unwrap();
        let churn = l.config.models["churn"].monitor.as_ref().unwrap();
        assert_eq!(churn.window_events, 2000);
        assert_eq!(churn.accuracy_alpha, 0.01); // inherited
        assert_eq!(churn.concept_detector, l.config.monitor.concept_detector); // inherited
        let fraud = l.config.models["fraud"].monitor.as_ref().unwrap();
        assert_eq!(fraud.window_events, 5000); // inherited
        assert!(matches!(
            fraud.concept_detector,
            driftd_detectors::stream::DetectorConfig::Ddm(_)
        ));
        let errs = load_str("[models.m.monitor]\nwindow_events = 0\n")
            .unwrap_err()
            .0;
        assert_eq!(errs[0].path, "models.m.monitor.window_events");
    }

    #[test]
    fn retrain_sections_are_validated_with_key_paths() {
        let errs = load_str(
            "[models.m.retrain]\nschedule = \"0 3 * *\"\ntimezone = \"Mars/Olympus\"\n\
             validation_fraction = 2.0\nalgorithm = { algorithm = \"elastic_net\" }\n\
             shadow = { alpha = 0.0 }\n",
        )
        .unwrap_err()
        .0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "models.m.retrain.timezone",
            "models.m.retrain.validation_fraction",
            "models.m.retrain.shadow.alpha",
            "registry.signing_key",
        ] {
            assert!(paths.contains(&p), "{p} missing from {errs:?}");
        }
        // elastic_net is a regression algorithm; the model is a classifier.
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("models.m.retrain.algorithm")),
            "{errs:?}"
        );
        // A bad cron with a good time zone is reported on `schedule`.
        let errs = load_str(
            "[registry]\nsigning_key = { value = \"0123456789abcdef0123456789abcdef\" }\n\
             [models.m.retrain]\nschedule = \"0 3 * *\"\n",
        )
        .unwrap_err()
        .0;
        assert_eq!(errs[0].path, "models.m.retrain.schedule", "{errs:?}");
        let ok = load_str(
            "[registry]\nsigning_key = { value = \"0123456789abcdef0123456789abcdef\" }\n\
             [models.m.retrain]\nschedule = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n",
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn syntax_errors_are_reported() {
        let errs = load_str("[log\nlevel=").unwrap_err().0;
        assert!(errs[0].message.starts_with("TOML syntax"), "{errs:?}");
    }

    #[test]
    fn serve_section_defaults_sinks_and_errors() {
        let l = load_str("").unwrap();
        assert_eq!(l.config.serve.reload_interval, Duration::from_secs(5));
        assert_eq!(l.config.serve.events, ServeEventsConfig::None);
        assert!(!l.secrets.predict_token_ok("anything-at-all-0123"));

        let l = load_str(
            "[serve]\nmodels = [\"churn\"]\npredict_tokens = [{ value = \"predict-token-0123456789\" }]\n\
             [serve.events]\nkind = \"file\"\npath = \"p.jsonl\"\n",
        )
        .unwrap();
        assert_eq!(
            l.config.serve.events,
            ServeEventsConfig::File {
                path: "p.jsonl".into()
            }
        );
        assert!(l.secrets.predict_token_ok("predict-token-0123456789"));
        assert!(!l.secrets.feedback_token_ok("predict-token-0123456789"));

        let errs = load_str(
            "[serve]\nmodels = [\"a/b\", \"x\", \"x\"]\nreload_interval = \"0s\"\n\
             predict_tokens = [{ value = \"short\" }]\n[serve.events]\nkind = \"kafka\"\ntopic = \"t\"\n",
        )
        .unwrap_err()
        .0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "serve.reload_interval",
                "serve.models.0",
                "serve.models.2",
                "serve.events.kind",
                "serve.predict_tokens.0"
            ],
            "{errs:?}"
        );
    }
}
