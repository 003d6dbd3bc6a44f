//! When a model's gauges and alert samples are published: at once after an onset or a drift state
//! entered or left; after a look, a window or 1,000 predictions at most every
//! [`PUBLISH_EVERY`] (decided per event in [`super::observing`]); what was skipped as too soon on
//! the sources' next tick.

use std::time::Instant;

use super::Pipeline;
use super::observing::publish_watch;

/// Most often a model's gauges and alert samples are republished for a new look or window alone
/// (onsets and drift states entered or left are published at once). Alert rules are evaluated
/// every `[alerting] evaluation_interval` (seconds), so fresher samples would not be read, while
/// rebuilding them at every look of a fast stream would cost more than the looks themselves.
pub const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

impl Pipeline {
    /// Publishes the gauges and alert samples of the models whose last publication was skipped as
    /// too soon: called on the sources' ticks (every 500 ms) and at every checkpoint, so a stream
    /// that stops leaves its final state published. What was released is applied first.
    pub fn publish_stale(&mut self) {
        self.flush();
        self.publish_stale_queued();
    }

    /// [`Pipeline::publish_stale`] without applying the queue first.
    pub(super) fn publish_stale_queued(&mut self) {
        let Some(global) = self.monitoring.as_ref() else {
            return;
        };
        let now = Instant::now();
        for (model, w) in self.monitors.iter_mut().filter(|(_, w)| w.stale) {
            w.mark_published(now);
            let s = self.policy.monitor_settings(model, global);
            publish_watch(&self.metrics, &self.board, model, &w.monitor, s);
        }
    }
}

impl Pipeline {
    /// A model's HTML report ([`crate::report`]) with its recent onsets and the current window
    /// evaluated now: what `GET /v1/models/{model}/report` answers. `None` for a model never seen
    /// (or with monitoring off).
    pub fn report(&mut self, model: &str) -> Option<String> {
        self.flush();
        let global = self.monitoring.as_ref()?;
        let s = self.policy.monitor_settings(model, global);
        let m = &self.monitors.get(model)?.monitor;
        let onsets: Vec<crate::contract::onset::Onset> =
            m.recent_onsets().iter().cloned().collect();
        let r = crate::report::ModelReport {
            model,
            monitor: m,
            tests: m.peek(s),
            onsets: &onsets,
            feedback: None,
            alerts: None,
        };
        let title = format!("{model} (live)");
        match crate::report::render(&title, "driftd run: the live monitor", &[r]) {
            Ok(html) => Some(html),
            // Never expected: plotters draws into a string. The page says what failed.
            Err(e) => {
                tracing::error!(model, error = %e, "cannot draw the report");
                Some(format!(
                    "<!doctype html><title>driftd report</title><p>{}</p>",
                    crate::report::esc(&e.to_string())
                ))
            }
        }
    }
}
