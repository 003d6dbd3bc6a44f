//! Typed configuration: TOML, `deny_unknown_fields`, defaults for everything, and validation that
//! reports *every* problem at once, each with its key path.
//!
//! Loading works in two passes. The first deserialises the TOML into the typed [`Config`]; when a
//! key is unknown or has the wrong type, the error is recorded with its path, the offending key is
//! removed and deserialisation is retried, so one run collects all such errors. The second pass
//! ([`Config::validate`]) checks values that types cannot (ranges, non-empty lists, resolvable
//! secrets, log filters). Secrets are read from the environment or files and are never printed.
//!
//! This module only composes: each section's type and its checks live with the stage that reads
//! it (`telemetry`, `http::config`, `intake::config`, `kafka::config`, `store::config`,
//! `registry::config`, `serve::config`, `monitor`, `alert`, `retraining`); the checks here are the
//! ones that span sections.
//!
//! May depend on: contract, telemetry, store, registry, monitor, alert, intake, http, serve.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::alert::AlertingConfig;
use crate::contract::settings::{ConfigError, ConfigErrors, Secrets, err};
use crate::http::config::HttpConfig;
use crate::intake::config::{
    CheckpointConfig, EventsConfig, ModelConfig, ShutdownConfig, SourceConfig, validate_flow,
};
use crate::monitor::MonitorSettings;
use crate::registry::config::{KEY_ENV, RegistryConfig};
use crate::serve::Setup;
use crate::serve::config::ServeConfig;
use crate::store::config::StateConfig;
use crate::telemetry::LogConfig;

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
    pub monitor: MonitorSettings,
    /// Per-model settings, keyed by model name.
    pub models: BTreeMap<String, ModelConfig>,
    /// Alerting: rules, routes, silences, receivers.
    pub alerting: AlertingConfig,
    /// The model registry (`driftd models`): the artifact signing key.
    pub registry: RegistryConfig,
    /// `driftd serve`: the prediction server.
    pub serve: ServeConfig,
}

/// A loaded, validated configuration with its secrets resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Its secrets.
    pub secrets: Secrets,
}

impl Loaded {
    /// What `driftd serve` reads of it.
    pub fn serve_setup(self) -> Setup {
        let Loaded { config, secrets } = self;
        Setup {
            serve: config.serve,
            state: config.state,
            source: config.source,
            max_event_bytes: config.events.max_event_bytes,
            shutdown_timeout: config.shutdown.timeout,
            secrets,
        }
    }
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

impl Config {
    /// Checks what types cannot and resolves secrets: each section validates itself, then the
    /// checks that span sections. Returns the secrets and every problem found.
    pub fn validate(&self) -> (Secrets, Vec<ConfigError>) {
        let mut e = Vec::new();
        let mut secrets = Secrets::default();
        self.log.validate(&mut e);
        self.http.validate(&mut e, &mut secrets);
        self.serve.validate(
            &mut e,
            &mut secrets,
            matches!(self.source, SourceConfig::Kafka(_)),
        );
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
        self.source.validate(&mut e, &mut secrets);
        self.state.validate(&mut e, &mut secrets);
        validate_flow(&self.events, &self.checkpoint, &self.shutdown, &mut e);
        if self.alerting.enabled {
            for (key, msg) in self.alerting.validate() {
                err(&mut e, key, msg);
            }
        }
        for (key, msg) in self.monitor.validate() {
            err(&mut e, format!("monitor.{key}"), msg);
        }
        self.registry.validate(&mut e, &mut secrets);
        for (name, m) in &self.models {
            m.validate(name, &mut e);
            if m.monitor
                .as_ref()
                .is_some_and(|s| s.threads != self.monitor.threads)
            {
                err(
                    &mut e,
                    format!("models.{name}.monitor.threads"),
                    "the monitor threads are shared by all models: set them in [monitor]",
                );
            }
        }
        (secrets, e)
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::access::Role;
    use crate::serve::config::ServeEventsConfig;
    use std::time::Duration;

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
        let role = |t: &str| l.secrets.http_tokens.authenticate(t).map(|c| c.role);
        assert_eq!(role("file-token-0123456789"), Some(Role::Feedback));
        assert_eq!(role("inline-token-0123456789"), Some(Role::Feedback));
        assert_eq!(role("file-token-012345678"), None);
        assert_eq!(role(""), None);
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
        let errs = load_str("[models.m.monitor]\nthreads = 3\n").unwrap_err().0;
        assert_eq!(errs[0].path, "models.m.monitor.threads");
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
        assert!(l.secrets.serve_tokens.is_empty());

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
        let caller = l
            .secrets
            .serve_tokens
            .authenticate("predict-token-0123456789");
        assert_eq!(
            caller.map(|c| (c.name, c.role)),
            Some(("predict_tokens.0".to_owned(), Role::Predict))
        );
        assert!(l.secrets.http_tokens.is_empty());

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

    #[test]
    fn named_tokens_roles_and_limits_load_and_their_errors_have_key_paths() {
        let l = load_str(
            "[http]\nmetrics_role = \"read\"\nadmin_tokens = [{ value = \"legacy-admin-0123456789\" }]\n\
             [[http.tokens]]\nname = \"ci\"\nrole = \"operator\"\ntoken = { value = \"ci-token-0123456789\" }\n\
             [[http.tokens]]\nname = \"grafana\"\nrole = \"read\"\ntoken = { value = \"grafana-token-0123456789\" }\n\
             [http.limits]\nper_token_rate = 5\nmax_concurrent = 0\n\
             [serve]\n[[serve.tokens]]\nname = \"web\"\nrole = \"predict\"\ntoken = { value = \"web-token-0123456789\" }\n",
        )
        .unwrap();
        let named: Vec<(String, Role)> = l
            .secrets
            .http_tokens
            .iter()
            .map(|t| (t.name.clone(), t.role))
            .collect();
        assert_eq!(
            named,
            [
                ("ci".to_owned(), Role::Operator),
                ("grafana".to_owned(), Role::Read),
                ("admin_tokens.0".to_owned(), Role::Admin)
            ]
        );
        assert_eq!(l.config.http.metrics_role, Some(Role::Read));
        let limits = l
            .config
            .http
            .limits
            .resolve(crate::http::limit::Limits::RUN);
        assert_eq!((limits.per_token_rate, limits.max_concurrent), (5, 0));
        assert_eq!(
            limits.per_token_concurrent,
            crate::http::limit::Limits::RUN.per_token_concurrent
        );
        assert_eq!(
            l.secrets
                .serve_tokens
                .authenticate("web-token-0123456789")
                .map(|c| c.name),
            Some("web".to_owned())
        );

        // An unknown role is a type error, reported alone with its path.
        let errs = load_str(
            "[[http.tokens]]\nname = \"a\"\nrole = \"root\"\ntoken = { value = \"a-token-0123456789\" }\n",
        )
        .unwrap_err()
        .0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "http.tokens.0.role");
        assert!(
            errs[0].message.contains("unknown variant `root`"),
            "{errs:?}"
        );

        let errs = load_str(
            "[http]\nmetrics_role = \"predict\"\n\
             [[http.tokens]]\nname = \"a\"\nrole = \"feedback\"\ntoken = { value = \"a-token-0123456789\" }\n\
             [[http.tokens]]\nname = \"b\"\nrole = \"read\"\ntoken = { value = \"b-token-0123456789\" }\n\
             [[http.tokens]]\nname = \"b\"\nrole = \"read\"\ntoken = { value = \"c-token-0123456789\" }\n\
             [[http.tokens]]\nname = \"d\"\nrole = \"read\"\ntoken = { value = \"too-short\" }\n\
             [http.limits]\nper_token_burst = 0\n\
             [serve]\n[[serve.tokens]]\nname = \"e\"\nrole = \"admin\"\ntoken = { value = \"e-token-0123456789\" }\n",
        )
        .unwrap_err()
        .0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "http.tokens.2.name",
            "http.tokens.3.token",
            "http.limits.per_token_burst",
            "http.metrics_role",
            "serve.tokens.0.role",
        ] {
            assert!(paths.contains(&want), "{want} not in {errs:#?}");
        }
        let all = format!("{errs:?}");
        assert!(
            !all.contains("0123456789") && !all.contains("too-short"),
            "{all}"
        );
    }
}
