//! `[models.NAME.retrain]`: how a model is retrained, shadowed and promoted; its checks; the cron
//! schedule it may run on.

use std::time::Duration;

use driftd_retrain::{AlgorithmConfig, EncoderConfig, ShadowPolicy, Task};
use serde::{Deserialize, Serialize};

/// `[models.NAME.retrain]`: how a model is retrained, shadowed and promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrainConfig {
    /// Turns the loop on (default `true` once the section exists).
    pub enabled: bool,
    /// The algorithm and its hyperparameters, e.g. `{ algorithm = "decision_tree", max_depth = 8 }`.
    /// Default: logistic regression (classification) or linear regression (regression).
    pub algorithm: Option<AlgorithmConfig>,
    /// Feature encoding (standardisation, one-hot caps, missing-value indicators).
    pub encoder: EncoderConfig,
    /// Most labelled examples kept for training.
    pub buffer_max_examples: usize,
    /// Oldest labelled example kept, relative to the newest (event time).
    #[serde(with = "humantime_serde")]
    pub buffer_max_age: Duration,
    /// Most predictions whose features wait for their label.
    pub pending_max: usize,
    /// How long (event time) a prediction's features wait for their label.
    #[serde(with = "humantime_serde")]
    pub pending_ttl: Duration,
    /// Share of the newest examples held out for validation (chronological split), in (0, 1).
    pub validation_fraction: f64,
    /// Fewest labelled examples a retrain needs (a trigger with fewer waits).
    pub min_examples: usize,
    /// The validation gate: the candidate may trail the live model on the validation split by at
    /// most this much (accuracy points, or relative MAE for regression).
    pub validation_margin: f64,
    /// Alert rules (by name) whose firing triggers a retrain, e.g. `["ConceptDrift", "AccuracyDrop"]`.
    pub on_alerts: Vec<String>,
    /// How long a triggering alert must have been firing before a retrain starts.
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
    /// Least time between two retrains started by alerts or the schedule.
    #[serde(with = "humantime_serde")]
    pub min_interval: Duration,
    /// Fewest new labelled examples since the last retrain for an alert or the schedule to start one.
    pub min_new_labels: u64,
    /// A cron expression (5 fields, or 6 with seconds) for scheduled retrains, e.g. `"0 3 * * *"`.
    pub schedule: Option<String>,
    /// The time zone of `schedule` (IANA name, e.g. `"Europe/Berlin"`).
    pub timezone: String,
    /// The shadow gate: significance, fewest pairs, smallest effect.
    pub shadow: ShadowPolicy,
    /// Longest shadow run (wall clock); past it without a decision the result is inconclusive and
    /// the live model stays.
    #[serde(with = "humantime_serde")]
    pub shadow_max_duration: Duration,
    /// Promote automatically when the gate says so (otherwise the candidate waits for
    /// `driftd models promote`).
    pub auto_promote: bool,
    /// How long the previous model is shadowed after a promotion; if the new live model is
    /// significantly worse on the labels meanwhile, driftd rolls back. `0s` turns it off.
    #[serde(with = "humantime_serde")]
    pub watch: Duration,
    /// The watch's gate (the previous model plays the candidate's part).
    pub watch_policy: ShadowPolicy,
    /// Time to live of the per-model training lease (renewed while training and shadowing).
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
}

impl Default for RetrainConfig {
    fn default() -> Self {
        RetrainConfig {
            enabled: true,
            algorithm: None,
            encoder: EncoderConfig::default(),
            buffer_max_examples: 20_000,
            buffer_max_age: Duration::from_secs(7 * 86_400),
            pending_max: 50_000,
            pending_ttl: Duration::from_secs(86_400),
            validation_fraction: 0.2,
            min_examples: 500,
            validation_margin: 0.01,
            on_alerts: vec!["ConceptDrift".into(), "AccuracyDrop".into()],
            debounce: Duration::ZERO,
            min_interval: Duration::from_secs(600),
            min_new_labels: 500,
            schedule: None,
            timezone: "UTC".into(),
            shadow: ShadowPolicy::default(),
            shadow_max_duration: Duration::from_secs(6 * 3600),
            auto_promote: true,
            watch: Duration::from_secs(3600),
            watch_policy: ShadowPolicy::default(),
            lease_ttl: Duration::from_secs(60),
        }
    }
}

impl RetrainConfig {
    /// The algorithm to train for a model of this task.
    pub fn algorithm_for(&self, task: Task) -> AlgorithmConfig {
        self.algorithm
            .clone()
            .unwrap_or_else(|| AlgorithmConfig::default_for(task))
    }

    /// Every problem with these settings, as (key under the section, message).
    pub fn validate(&self, task: Task) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        if let Some(a) = &self.algorithm {
            for e in a.validate_for(task) {
                p.push((format!("algorithm.{}", e.key), e.message));
            }
        }
        for e in self.encoder.validate() {
            p.push((format!("encoder.{}", e.key), e.message));
        }
        for (name, pol) in [
            ("shadow", &self.shadow),
            ("watch_policy", &self.watch_policy),
        ] {
            for e in pol.validate() {
                p.push((format!("{name}.{}", e.key), e.message));
            }
        }
        if self.buffer_max_examples < 10 {
            p.push(("buffer_max_examples".into(), "must be at least 10".into()));
        }
        if self.pending_max == 0 {
            p.push(("pending_max".into(), "must be at least 1".into()));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            p.push((
                "validation_fraction".into(),
                format!("must be in (0, 1), got {}", self.validation_fraction),
            ));
        }
        if self.min_examples > self.buffer_max_examples {
            p.push((
                "min_examples".into(),
                format!(
                    "must not exceed buffer_max_examples ({})",
                    self.buffer_max_examples
                ),
            ));
        }
        if !(self.validation_margin.is_finite() && self.validation_margin >= 0.0) {
            p.push((
                "validation_margin".into(),
                "must be a finite number >= 0".into(),
            ));
        }
        if self.lease_ttl < Duration::from_secs(1) {
            p.push(("lease_ttl".into(), "must be at least 1s".into()));
        }
        if self.shadow_max_duration.is_zero() {
            p.push(("shadow_max_duration".into(), "must be more than 0s".into()));
        }
        if let Err(e) = Schedule::parse(self.schedule.as_deref(), &self.timezone) {
            let key = match e {
                ScheduleError::TimeZone(_) => "timezone",
                ScheduleError::Cron { .. } => "schedule",
            };
            p.push((key.into(), e.to_string()));
        }
        p
    }
}

/// A cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    tz: chrono_tz::Tz,
}

impl Schedule {
    /// Parses `expr` (5 fields, or 6 with seconds) in the IANA time zone `tz`. `Ok(None)` without
    /// an expression.
    pub fn parse(expr: Option<&str>, tz: &str) -> Result<Option<Schedule>, ScheduleError> {
        let tz: chrono_tz::Tz = tz
            .parse()
            .map_err(|_| ScheduleError::TimeZone(tz.to_owned()))?;
        let Some(expr) = expr else {
            return Ok(None);
        };
        let cron = <croner::Cron as std::str::FromStr>::from_str(expr).map_err(|source| {
            ScheduleError::Cron {
                expr: expr.to_owned(),
                source,
            }
        })?;
        Ok(Some(Schedule { cron, tz }))
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(
        &self,
        t: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc))
    }
}

/// Why a schedule does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// Not an IANA time zone.
    #[error("unknown time zone {0:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\"")]
    TimeZone(String),
    /// Not a cron expression.
    #[error("not a cron expression ({expr:?}): {source}")]
    Cron {
        /// The expression.
        expr: String,
        /// croner's reason.
        source: croner::errors::CronError,
    },
}
