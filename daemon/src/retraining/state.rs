//! A model's place in the retraining loop — phase, timeline, pending trigger — as stored at
//! `trainer/{model}`, and the pure decisions on it: whether a retrain is due, and on how many of
//! the newest examples.

use crate::contract::sample::Firing;
use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::retraining::config::{RetrainConfig, Schedule};

/// How long a loop event (promotion, rollback, rejection…) stays visible as an alert sample.
pub(super) const NOTICE_FOR: Duration = Duration::from_secs(600);

/// Most timeline entries kept per model.
pub(super) const TIMELINE: usize = 200;

/// Where a model's loop stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for a trigger.
    #[default]
    Idle,
    /// Fitting and validating a candidate.
    Training {
        /// What started it.
        trigger: String,
        /// When (ms).
        started_ms: i64,
    },
    /// Shadowing a candidate on live traffic.
    Shadow {
        /// The candidate's version.
        version: u64,
        /// When the shadow run started (ms).
        started_ms: i64,
        /// What started the retrain.
        trigger: String,
    },
    /// Watching a fresh promotion (the previous model shadowed).
    Watch {
        /// The promoted (live) version.
        version: u64,
        /// The previous live version, shadowed.
        previous: u64,
        /// When the watch started (ms).
        started_ms: i64,
    },
}

impl Phase {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Training { .. } => "training",
            Phase::Shadow { .. } => "shadow",
            Phase::Watch { .. } => "watch",
        }
    }
}

/// One step of a model's loop, for humans (admin API, demo, logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When (ms).
    pub at_ms: i64,
    /// What: `triggered`, `trained`, `fit_failed`, `rejected`, `shadow_started`, `promoted`,
    /// `inconclusive`, `watch_passed`, `rolled_back`, …
    pub event: String,
    /// The version concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Details in words.
    pub detail: String,
}

/// A model's loop state, stored at `trainer/{model}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoopState {
    /// Where it stands.
    pub phase: Phase,
    /// When the last retrain started (ms).
    pub last_started_ms: Option<i64>,
    /// The learner's label counter when the last retrain started.
    pub labels_at_last: u64,
    /// The next scheduled retrain (ms).
    pub next_schedule_ms: Option<i64>,
    /// A trigger waiting to run regardless of the interval and label minimums (manual requests,
    /// and a retrain interrupted by a restart).
    pub pending: Option<String>,
    /// The triggering alert being waited on, and the label counter when it was first seen
    /// firing: a retrain after drift learns from the labels that came *after* it.
    #[serde(default)]
    pub alert_seen: Option<(String, u64)>,
    /// The alert episode (rule, firing since, ms) the last alert-triggered retrain answered: the
    /// same episode, still firing, does not trigger again.
    #[serde(default)]
    pub alert_answered: Option<(String, i64)>,
    /// The episode behind `alert_seen`.
    #[serde(default)]
    pub alert_episode: Option<(String, i64)>,
    /// The latest steps, oldest first.
    pub timeline: VecDeque<Step>,
}

impl LoopState {
    pub(super) fn step(
        &mut self,
        now: DateTime<Utc>,
        event: &str,
        version: Option<u64>,
        detail: String,
    ) {
        self.timeline.push_back(Step {
            at_ms: now.timestamp_millis(),
            event: event.to_owned(),
            version,
            detail,
        });
        while self.timeline.len() > TIMELINE {
            self.timeline.pop_front();
        }
    }
}

/// Key of a model's loop state.
pub fn state_key(model: &str) -> String {
    format!("trainer/{model}")
}

/// Whether a retrain should start now, and why (`alert:RULE`, `schedule`, or the pending trigger).
/// Advances the schedule past `now` when it fires or is skipped. Pure: the clock is an argument.
pub fn due(
    cfg: &RetrainConfig,
    schedule: Option<&Schedule>,
    st: &mut LoopState,
    model: &str,
    now: DateTime<Utc>,
    firing: &[Firing],
    labels_total: u64,
) -> Option<String> {
    let now_ms = now.timestamp_millis();
    let scheduled = match (schedule, st.next_schedule_ms) {
        (Some(s), None) => {
            st.next_schedule_ms = s.next_after(now).map(|t| t.timestamp_millis());
            false
        }
        (Some(s), Some(next)) if next <= now_ms => {
            st.next_schedule_ms = s.next_after(now).map(|t| t.timestamp_millis());
            true
        }
        (None, Some(_)) => {
            st.next_schedule_ms = None;
            false
        }
        _ => false,
    };
    if st.phase != Phase::Idle {
        // An occurrence during a retrain is skipped (it would retrain on the same data).
        return None;
    }
    if let Some(p) = st.pending.take() {
        return Some(p);
    }
    if scheduled {
        return Some("schedule".into());
    }
    let debounce = chrono::Duration::from_std(cfg.debounce).unwrap_or(chrono::Duration::MAX);
    if let Some(alert) = firing.iter().find(|f| {
        f.model == model
            && cfg.on_alerts.contains(&f.rule)
            && now - f.since >= debounce
            && st.alert_answered.as_ref() != Some(&(f.rule.clone(), f.since.timestamp_millis()))
    }) && st.alert_seen.is_none()
    {
        st.alert_seen = Some((alert.rule.clone(), labels_total));
        st.alert_episode = Some((alert.rule.clone(), alert.since.timestamp_millis()));
    }
    // A drift alert, once seen, waits for its labels even if it resolves meanwhile (a concept
    // detector's state may drop back before min_new_labels labels of the new concept arrived);
    // it is cleared when the retrain starts.
    let (rule, at_alert) = st.alert_seen.clone()?;
    let interval_ok = st
        .last_started_ms
        .is_none_or(|t| now_ms.saturating_sub(t) >= cfg.min_interval.as_millis() as i64);
    // New labels since the alert (the drift), and since the last retrain.
    let labels_ok =
        labels_total.saturating_sub(at_alert.max(st.labels_at_last)) >= cfg.min_new_labels;
    (interval_ok && labels_ok).then(|| format!("alert:{rule}"))
}

/// How many of the newest examples a retrain started by `trigger` learns from: after a drift
/// alert, the labels since the alert was first seen (at least `min_examples`); otherwise all.
pub fn recent_examples(
    cfg: &RetrainConfig,
    st: &LoopState,
    trigger: &str,
    labels_total: u64,
) -> Option<usize> {
    if !trigger.starts_with("alert:") {
        return None;
    }
    let (_, at) = st.alert_seen.as_ref()?;
    let since = usize::try_from(labels_total.saturating_sub(*at)).unwrap_or(usize::MAX);
    Some(since.max(cfg.min_examples))
}
