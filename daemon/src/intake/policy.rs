//! Which models the intake accepts, and each model's monitoring and retraining settings: built
//! from `[models]` and `[events]`, swapped on SIGHUP.

use std::collections::{BTreeMap, HashMap, HashSet};

use driftd_retrain::Task;

use crate::contract::event::{RejectReason, Rejection};
use crate::intake::config::{EventsConfig, ModelConfig};
use crate::monitor::MonitorSettings;
use crate::retraining::config::RetrainConfig;

/// Which models are accepted.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    /// The models listed under `[models]`.
    pub(super) configured: HashSet<String>,
    strict: bool,
    /// With non-strict models, the most models discovered from traffic.
    pub(super) max_models: usize,
    /// Each configured model's positive label.
    pub(super) positive: HashMap<String, String>,
    monitor: HashMap<String, MonitorSettings>,
    /// The retrained models' settings.
    pub(super) learn: HashMap<String, (RetrainConfig, Task)>,
}

impl ModelPolicy {
    /// Rejects a model that is not configured when models are strict.
    pub fn check(&self, model: &str) -> Result<(), Rejection> {
        if self.strict && !self.configured.contains(model) {
            return Err(Rejection::new(
                RejectReason::UnknownModel,
                format!("model `{model}` is not configured and models are strict"),
            ));
        }
        Ok(())
    }

    /// From the `[models]` and `[events]` sections.
    pub fn new(models: &BTreeMap<String, ModelConfig>, events: &EventsConfig) -> Self {
        ModelPolicy {
            configured: models.keys().cloned().collect(),
            strict: events.strict_models,
            max_models: events.max_models,
            positive: models
                .iter()
                .map(|(k, m)| (k.clone(), m.positive_label.clone()))
                .collect(),
            monitor: models
                .iter()
                .filter_map(|(k, m)| m.monitor.clone().map(|s| (k.clone(), s)))
                .collect(),
            learn: models
                .iter()
                .filter_map(|(k, m)| {
                    let r = m.retrain.clone().filter(|r| r.enabled)?;
                    Some((k.clone(), (r, m.task)))
                })
                .collect(),
        }
    }

    /// The positive label of a binary classifier (`"1"` unless configured).
    pub fn positive_label(&self, model: &str) -> &str {
        self.positive.get(model).map_or("1", String::as_str)
    }

    /// The models that are retrained, with their settings and task.
    pub fn retrained(
        &self,
    ) -> impl Iterator<
        Item = (
            &String,
            &(
                crate::retraining::config::RetrainConfig,
                driftd_retrain::Task,
            ),
        ),
    > {
        self.learn.iter()
    }

    /// The monitoring settings of `model`: its own, else the global ones.
    pub fn monitor_settings<'a>(
        &'a self,
        model: &str,
        global: &'a MonitorSettings,
    ) -> &'a MonitorSettings {
        self.monitor.get(model).unwrap_or(global)
    }
}
