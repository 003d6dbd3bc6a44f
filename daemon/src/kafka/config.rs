//! `[source]` with `kind = "kafka"`: the connection every Kafka client of driftd shares (the
//! consumer group of the intake, the topic producer of feedback, notices and serve events), and
//! its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::contract::settings::{ConfigError, SecretSpec, Secrets, err};

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

impl KafkaSourceConfig {
    /// Checks brokers, topics and properties; resolves the SASL password and secret properties.
    pub fn validate(&self, e: &mut Vec<ConfigError>, secrets: &mut Secrets) {
        let k = self;
        if k.brokers.trim().is_empty() {
            err(
                e,
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
                err(e, key, "must not be empty");
            }
        }
        if k.dead_letter_topic == k.prediction_topic || k.dead_letter_topic == k.feedback_topic {
            err(
                e,
                "source.dead_letter_topic",
                "must differ from the topics driftd consumes",
            );
        }
        if !matches!(k.auto_offset_reset.as_str(), "earliest" | "latest") {
            err(
                e,
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
                        e,
                        format!("source.{section}.{key}"),
                        "set by driftd itself; it cannot be overridden",
                    );
                } else if key == "partition.assignment.strategy" && map[key].contains("cooperative")
                {
                    err(
                        e,
                        format!("source.{section}.{key}"),
                        "cooperative rebalancing is not supported: driftd rolls back to its checkpoint when partitions are revoked, which needs the eager protocol",
                    );
                } else if key == "sasl.password" {
                    err(
                        e,
                        format!("source.{section}.{key}"),
                        "a secret: use `source.sasl_password = { env = \"...\" }`",
                    );
                }
            }
        }
        if let Some(s) = &k.sasl_password {
            match s.resolve() {
                Ok(s) => secrets.kafka_sasl_password = Some(s),
                Err(m) => err(e, "source.sasl_password", m),
            }
        }
        for (key, spec) in &k.secret_properties {
            let path = format!("source.secret_properties.{key}");
            if DRIFTD_KAFKA_PROPERTIES.contains(&key.as_str()) {
                err(e, path, "set by driftd itself; it cannot be overridden");
                continue;
            }
            match spec.resolve() {
                Ok(s) => {
                    secrets.kafka_properties.insert(key.clone(), s);
                }
                Err(m) => err(e, path, m),
            }
        }
    }
}
