//! The Kafka connection every stage shares: the `[source] kind = "kafka"` section, the secrets
//! its clients need, the client settings built from them, and the one topic producer (feedback,
//! model-update notices and serve's prediction events all go through it). The intake's consumer
//! group and dead-letter producer build on [`client_config`] too.
//!
//! May depend on: contract.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use secrecy::{ExposeSecret, SecretString};

use crate::contract::settings::Secrets;

pub mod config;

pub use config::{DRIFTD_KAFKA_PROPERTIES, KafkaSourceConfig, SECRET_KAFKA_PROPERTIES};

/// Secrets the Kafka clients need, resolved from the configuration.
#[derive(Clone, Default)]
pub struct KafkaSecrets {
    /// `sasl.password`.
    pub sasl_password: Option<SecretString>,
    /// Other secret properties, e.g. `ssl.key.password`.
    pub properties: BTreeMap<String, SecretString>,
}

impl KafkaSecrets {
    /// From the resolved configuration secrets.
    pub fn from(s: &Secrets) -> Self {
        KafkaSecrets {
            sasl_password: s.kafka_sasl_password.clone(),
            properties: s.kafka_properties.clone(),
        }
    }
}

/// The settings every client of driftd shares: brokers, the configured properties, the secrets.
pub fn client_config(k: &KafkaSourceConfig, secrets: &KafkaSecrets) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    c.set("client.id", format!("driftd-{}", std::process::id()));
    for (key, v) in &k.properties {
        c.set(key, v);
    }
    for (key, v) in &secrets.properties {
        c.set(key, v.expose_secret());
    }
    if let Some(p) = &secrets.sasl_password {
        c.set("sasl.password", p.expose_secret());
    }
    c
}

/// The features this build of librdkafka has (its `builtin.features`: `ssl`, `sasl_scram`,
/// `sasl_oauthbearer`, `oidc`, ...).
pub fn builtin_features() -> Vec<String> {
    ClientConfig::new()
        .create_native_config()
        .and_then(|c| c.get("builtin.features"))
        .map(|f| f.split(',').map(|x| x.trim().to_owned()).collect())
        .unwrap_or_default()
}

/// Why librdkafka refuses `key = value` (an unknown property, a value it does not take or was
/// built without), or `None`. A `secret` value is never echoed: only the property is named.
pub fn librdkafka_refuses(key: &str, value: &str, secret: bool) -> Option<String> {
    let mut c = ClientConfig::new();
    c.set(key, value);
    match c.create_native_config() {
        Ok(_) => None,
        Err(KafkaError::ClientConfig(_, desc, _, _)) if !secret => {
            Some(format!("librdkafka refuses it: {desc}"))
        }
        Err(KafkaError::ClientConfig(res, ..)) => Some(format!(
            "librdkafka refuses it ({}); the value is a secret and is not shown",
            match res {
                rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN => "unknown property",
                _ => "invalid value",
            }
        )),
        Err(other) => Some(format!("librdkafka refuses it: {other}")),
    }
}

/// Produces JSON records to one topic and waits for the broker's acknowledgement: HTTP feedback
/// (so every instance sees it), model-update notices, `driftd serve`'s prediction events.
#[derive(Clone)]
pub struct TopicProducer {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl TopicProducer {
    /// A producer to `topic` with the connection settings of `k`; `timeout` bounds each send.
    pub fn new(
        k: &KafkaSourceConfig,
        secrets: &KafkaSecrets,
        topic: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let mut c = client_config(k, secrets);
        c.set(
            "message.timeout.ms",
            timeout.as_millis().max(1000).to_string(),
        );
        c.set("enable.idempotence", "false");
        Ok(TopicProducer {
            producer: c.create()?,
            topic: topic.to_owned(),
            timeout,
        })
    }

    /// Produces every item and waits until the broker acknowledged all of them.
    pub async fn send_all(&self, items: Vec<Vec<u8>>) -> Result<(), ProduceError> {
        let mut futures = Vec::with_capacity(items.len());
        for item in &items {
            let rec: FutureRecord<'_, (), [u8]> = FutureRecord::to(&self.topic).payload(item);
            futures.push(self.producer.send(rec, self.timeout));
        }
        for f in futures {
            f.await.map_err(|(source, _)| ProduceError {
                topic: self.topic.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// A record the broker did not acknowledge in time.
#[derive(Debug, thiserror::Error)]
#[error("producing to Kafka topic {topic}: {source}")]
pub struct ProduceError {
    /// The topic.
    pub topic: String,
    /// librdkafka's error.
    pub source: KafkaError,
}
