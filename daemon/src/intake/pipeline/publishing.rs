//! When a model's gauges and alert samples are published: at once after an onset or a drift state
//! entered or left; after a look, a window or 1,000 predictions at most every
//! [`PUBLISH_EVERY`]; what was skipped as too soon on the sources' next tick.

use std::time::Instant;

use super::Pipeline;
use crate::intake::publish::publish;

/// Most often a model's gauges and alert samples are republished for a new look or window alone
/// (onsets and drift states entered or left are published at once). Alert rules are evaluated
/// every `[alerting] evaluation_interval` (seconds), so fresher samples would not be read, while
/// rebuilding them at every look of a fast stream would cost more than the looks themselves.
pub const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl Pipeline {
    /// Publishes `model`'s gauges and samples now when `urgent`, or when `routine` and the last
    /// publication is at least `publish_every` old (else marks them stale).
    pub(super) fn publish_if_due(
        &mut self,
        model: &str,
        urgent: bool,
        routine: bool,
        now: Instant,
    ) {
        if !(urgent || routine) {
            return;
        }
        let every = self.publish_every;
        let Some(h) = self.models.get_mut(model) else {
            return;
        };
        let due = urgent || h.published.is_none_or(|t| now.duration_since(t) >= every);
        h.stale = !due;
        if due {
            h.published = Some(now);
            self.publish_model(model);
        }
    }

    /// Publishes the gauges and alert samples of the models whose last publication was skipped as
    /// too soon: called on the sources' ticks (every 500 ms) and at every checkpoint, so a stream
    /// that stops leaves its final state published.
    pub fn publish_stale(&mut self) {
        if self.monitoring.is_none() {
            return;
        }
        let stale: Vec<String> = self
            .models
            .iter()
            .filter(|(_, h)| h.stale)
            .map(|(m, _)| m.clone())
            .collect();
        let now = Instant::now();
        for model in stale {
            if let Some(h) = self.models.get_mut(&model) {
                h.stale = false;
                h.published = Some(now);
            }
            self.publish_model(&model);
        }
    }

    /// Publishes one model's gauges and alert samples.
    fn publish_model(&self, model: &str) {
        let (Some(global), Some(m)) = (self.monitoring.as_ref(), self.monitors.get(model)) else {
            return;
        };
        publish(&self.metrics, model, m);
        self.board.set(
            model,
            m.samples(self.policy.monitor_settings(model, global)),
        );
    }
}
