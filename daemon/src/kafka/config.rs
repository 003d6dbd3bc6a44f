//! `[source]` with `kind = "kafka"`: the connection every Kafka client of driftd shares (the
//! consumer group of the intake, the topic producer of feedback, notices and serve events), and
//! its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use secrecy::ExposeSecret;

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
    /// `[source.adapter]`: topics in another server's format (KServe, Open Inference Protocol).
    pub adapter: crate::contract::adapt::AdapterConfig,
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
            adapter: Default::default(),
        }
    }
}

/// librdkafka properties whose values are secrets (librdkafka's own "sensitive" ones that hold a
/// secret rather than a path or a name): refused in `properties` and `consumer_properties`, taken
/// only from `secret_properties` (or `sasl_password`), which read them like every other secret.
pub const SECRET_KAFKA_PROPERTIES: &[&str] = &[
    "sasl.password",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
];

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
        k.adapter.validate(true, e);
        for t in &k.adapter.topics {
            if [&k.prediction_topic, &k.feedback_topic, &k.dead_letter_topic].contains(&t) {
                err(
                    e,
                    "source.adapter.topics",
                    format!("`{t}` is also a driftd-v1 topic; an adapter's topics are its own"),
                );
            }
        }
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
                } else if SECRET_KAFKA_PROPERTIES.contains(&key.as_str()) {
                    err(
                        e,
                        format!("source.{section}.{key}"),
                        format!(
                            "a secret: use `source.secret_properties.\"{key}\" = {{ env = \"...\" }}` (or `file = \"...\"`)"
                        ),
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
            if key == "sasl.password" && k.sasl_password.is_some() {
                err(e, path, "given twice: here and as `source.sasl_password`");
                continue;
            }
            match spec.resolve() {
                Ok(s) => {
                    secrets.kafka_properties.insert(key.clone(), s);
                }
                Err(m) => err(e, path, m),
            }
        }
        self.check_security(e, secrets);
    }

    /// Refuses, with the key's path, what this build of librdkafka cannot do or would reject
    /// when a client is made: a protocol or SASL mechanism it was built without, a value it does
    /// not take, a certificate or key file that cannot be read, a password that would be ignored.
    /// `check-config` runs this, so a secured cluster's settings fail there, not at first connect.
    fn check_security(&self, e: &mut Vec<ConfigError>, secrets: &Secrets) {
        let features = super::builtin_features();
        let has = |f: &str| features.iter().any(|x| x == f);
        // Where a property is set: the consumer's own properties win over the shared ones.
        let lookup = |key: &str| -> Option<(String, String)> {
            for (section, map) in [
                ("consumer_properties", &self.consumer_properties),
                ("properties", &self.properties),
            ] {
                if let Some(v) = map.get(key) {
                    return Some((format!("source.{section}.{key}"), v.clone()));
                }
            }
            None
        };
        // Every plain property as librdkafka takes it; secrets are checked without echoing them.
        for (section, map) in [
            ("properties", &self.properties),
            ("consumer_properties", &self.consumer_properties),
        ] {
            for (key, v) in map {
                if let Some(m) = super::librdkafka_refuses(key, v, false) {
                    err(e, format!("source.{section}.{key}"), m);
                }
            }
        }
        for (key, v) in &secrets.kafka_properties {
            if let Some(m) = super::librdkafka_refuses(key, v.expose_secret(), true) {
                err(e, format!("source.secret_properties.{key}"), m);
            }
        }
        let protocol = lookup("security.protocol");
        let proto = protocol
            .as_ref()
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_else(|| "plaintext".into());
        let (tls, sasl) = match proto.as_str() {
            "plaintext" => (false, false),
            "ssl" => (true, false),
            "sasl_plaintext" => (false, true),
            "sasl_ssl" => (true, true),
            // Refused above with librdkafka's own words.
            _ => return,
        };
        if let Some((path, v)) = &protocol
            && tls
            && !has("ssl")
        {
            err(
                e,
                path.clone(),
                format!(
                    "{v} needs TLS, and this build of librdkafka has none (built: {})",
                    features.join(", ")
                ),
            );
        }
        let mechanism = lookup("sasl.mechanisms").or_else(|| lookup("sasl.mechanism"));
        if sasl {
            let (path, m) = mechanism
                .clone()
                .unwrap_or_else(|| ("source.properties.sasl.mechanisms".into(), "GSSAPI".into()));
            let need = match m.to_ascii_uppercase().as_str() {
                "PLAIN" => Some("sasl_plain"),
                "SCRAM-SHA-256" | "SCRAM-SHA-512" => Some("sasl_scram"),
                "OAUTHBEARER" => Some("sasl_oauthbearer"),
                "GSSAPI" => Some("sasl_gssapi"),
                _ => None,
            };
            match need {
                None => err(
                    e,
                    path,
                    format!(
                        "unknown SASL mechanism {m:?}: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or GSSAPI"
                    ),
                ),
                Some(f) if !has(f) => err(
                    e,
                    path,
                    if f == "sasl_gssapi" {
                        format!(
                            "{m} is not in this build (built: {}); build driftd with `--features gssapi`, or set sasl.mechanisms",
                            features.join(", ")
                        )
                    } else {
                        format!(
                            "{m} is not in this build of librdkafka (built: {})",
                            features.join(", ")
                        )
                    },
                ),
                Some(_) => {}
            }
            let user_needed = matches!(
                m.to_ascii_uppercase().as_str(),
                "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
            );
            if user_needed {
                if lookup("sasl.username").is_none()
                    && !secrets.kafka_properties.contains_key("sasl.username")
                {
                    err(
                        e,
                        "source.properties.sasl.username",
                        format!("{m} needs a user name"),
                    );
                }
                if secrets.kafka_sasl_password.is_none()
                    && !secrets.kafka_properties.contains_key("sasl.password")
                {
                    err(e, "source.sasl_password", format!("{m} needs a password"));
                }
            }
            if let Some((path, method)) = lookup("sasl.oauthbearer.method")
                && method.eq_ignore_ascii_case("oidc")
                && !has("oidc")
            {
                err(
                    e,
                    path,
                    format!(
                        "OIDC is not in this build of librdkafka (built: {})",
                        features.join(", ")
                    ),
                );
            }
        } else {
            if let Some((path, _)) = &mechanism {
                err(
                    e,
                    path.clone(),
                    format!(
                        "set, but security.protocol is {proto}: SASL is not used; set security.protocol to sasl_ssl or sasl_plaintext"
                    ),
                );
            }
            if self.sasl_password.is_some() {
                err(
                    e,
                    "source.sasl_password",
                    format!(
                        "set, but security.protocol is {proto}: the password would not be used"
                    ),
                );
            }
        }
        // Files librdkafka would read when it makes a client: said now, by their key.
        for key in [
            "ssl.ca.location",
            "ssl.certificate.location",
            "ssl.key.location",
            "ssl.crl.location",
        ] {
            if let Some((path, file)) = lookup(key) {
                if !tls {
                    err(
                        e,
                        path,
                        format!("set, but security.protocol is {proto}: TLS is not used"),
                    );
                } else if !(key == "ssl.ca.location" && file == "probe")
                    && let Err(io) = std::fs::metadata(&file)
                {
                    err(e, path, format!("cannot read {file}: {io}"));
                }
            }
        }
        let cert =
            lookup("ssl.certificate.location").is_some() || lookup("ssl.certificate.pem").is_some();
        let key = lookup("ssl.key.location").is_some()
            || secrets.kafka_properties.contains_key("ssl.key.pem");
        if cert != key {
            err(
                e,
                if cert {
                    "source.properties.ssl.certificate.location"
                } else {
                    "source.properties.ssl.key.location"
                },
                "a client certificate needs its key and a key its certificate (ssl.certificate.location or .pem with ssl.key.location or secret_properties.\"ssl.key.pem\")",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The errors of a `[source]` table (TOML, without the header), as `path: message` lines.
    fn errors(text: &str) -> Vec<String> {
        let k: KafkaSourceConfig =
            toml::from_str(&format!("brokers = \"b:9092\"\n{text}")).unwrap();
        let mut e = Vec::new();
        k.validate(&mut e, &mut Secrets::default());
        e.into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    fn one(text: &str, path: &str, says: &str) {
        let e = errors(text);
        assert!(
            e.iter()
                .any(|l| l.starts_with(&format!("{path}: ")) && l.contains(says)),
            "want {path} to say {says:?}, got {e:#?}"
        );
    }

    #[test]
    fn this_build_has_tls_scram_oauthbearer_and_oidc() {
        let f = super::super::builtin_features();
        for want in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_oauthbearer",
            "oidc",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} missing from {f:?}");
        }
    }

    #[test]
    fn secured_settings_this_build_can_do_pass() {
        for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] {
            let e = errors(&format!(
                "sasl_password = {{ value = \"pw\" }}\n[properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"{mechanism}\"\n\"sasl.username\" = \"u\"\n\"ssl.ca.location\" = \"probe\"\n"
            ));
            assert!(e.is_empty(), "{mechanism}: {e:#?}");
        }
        let e = errors(
            "[properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"OAUTHBEARER\"\n\"sasl.oauthbearer.method\" = \"oidc\"\n\"sasl.oauthbearer.client.id\" = \"driftd\"\n\"sasl.oauthbearer.token.endpoint.url\" = \"https://idp.invalid/token\"\n[secret_properties]\n\"sasl.oauthbearer.client.secret\" = { value = \"s\" }\n",
        );
        assert!(e.is_empty(), "{e:#?}");
        // Mutual TLS with the key as a secret.
        let e = errors(
            "[properties]\n\"security.protocol\" = \"ssl\"\n\"ssl.certificate.pem\" = \"-----BEGIN CERTIFICATE-----\"\n[secret_properties]\n\"ssl.key.pem\" = { value = \"k\" }\n",
        );
        assert!(e.is_empty(), "{e:#?}");
    }

    #[test]
    fn what_this_build_cannot_do_is_refused_by_its_key() {
        if !super::super::builtin_features()
            .iter()
            .any(|f| f == "sasl_gssapi")
        {
            one(
                "[properties]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanisms\" = \"GSSAPI\"\n",
                "source.properties.sasl.mechanisms",
                "--features gssapi",
            );
            // librdkafka's default mechanism is GSSAPI.
            one(
                "[properties]\n\"security.protocol\" = \"SASL_SSL\"\n",
                "source.properties.sasl.mechanisms",
                "GSSAPI is not in this build",
            );
        }
        one(
            "[properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-1\"\n",
            "source.properties.sasl.mechanisms",
            "unknown SASL mechanism",
        );
        one(
            "[properties]\n\"security.protocol\" = \"TLS\"\n",
            "source.properties.security.protocol",
            "librdkafka refuses it",
        );
        one(
            "[consumer_properties]\n\"no.such.property\" = \"1\"\n",
            "source.consumer_properties.no.such.property",
            "librdkafka refuses it",
        );
    }

    #[test]
    fn secrets_are_refused_in_plain_properties_and_never_echoed() {
        for key in SECRET_KAFKA_PROPERTIES {
            one(
                &format!("[properties]\n\"{key}\" = \"hunter2-secret\"\n"),
                &format!("source.properties.{key}"),
                "a secret",
            );
        }
        // A secret librdkafka refuses is named, its value not shown.
        let e =
            errors("[secret_properties]\n\"no.such.secret\" = { value = \"hunter2-secret\" }\n");
        assert!(
            e.iter()
                .any(|l| l.starts_with("source.secret_properties.no.such.secret: ")),
            "{e:#?}"
        );
        assert!(e.iter().all(|l| !l.contains("hunter2")), "{e:#?}");
    }

    #[test]
    fn settings_that_would_be_ignored_or_fail_at_connect_are_refused() {
        one(
            "sasl_password = { value = \"pw\" }\n",
            "source.sasl_password",
            "would not be used",
        );
        one(
            "[properties]\n\"sasl.mechanisms\" = \"PLAIN\"\n",
            "source.properties.sasl.mechanisms",
            "SASL is not used",
        );
        one(
            "[properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"u\"\n",
            "source.sasl_password",
            "needs a password",
        );
        one(
            "[properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"/no/such/ca.pem\"\n",
            "source.properties.ssl.ca.location",
            "cannot read /no/such/ca.pem",
        );
        one(
            "[properties]\n\"ssl.ca.location\" = \"probe\"\n",
            "source.properties.ssl.ca.location",
            "TLS is not used",
        );
        one(
            "[properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.certificate.location\" = \"/etc/hostname\"\n",
            "source.properties.ssl.certificate.location",
            "needs its key",
        );
    }
}
