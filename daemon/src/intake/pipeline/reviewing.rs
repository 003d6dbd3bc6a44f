//! The pipeline's side of the review queues ([`crate::monitor::review`]): each model's queue is
//! checkpointed apart (`review/MODEL`, when it changed) in the same atomic write as the rest, and
//! listed for `GET /v1/models/{model}/review` with the labels' figures. Claims are the HTTP
//! layer's (wall clock); the pipeline only leaves out the ids it is told are claimed.

use serde_json::{Value, json};

use super::Pipeline;

/// The key a model's review queue is checkpointed under.
pub fn review_key(model: &str) -> String {
    format!("review/{model}")
}

/// The Wilson score interval (95 %) of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p, z) = (n as f64, k as f64 / n as f64, 1.959_963_984_540_054);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * ((p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt()) / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

impl Pipeline {
    /// Checkpoint entries beside the shards and monitors: the adapter's waiting halves and the
    /// review queues that changed.
    pub(super) fn extra_entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = self.adapter_entry().into_iter().collect();
        for (model, w) in &self.monitors {
            if w.monitor.review().dirty {
                out.push((review_key(model), w.monitor.review().checkpoint()));
            }
        }
        out
    }

    /// A checkpoint holding [`Pipeline::extra_entries`] was written.
    pub(super) fn extras_committed(&mut self) {
        self.adapter_committed();
        for w in self.monitors.values_mut() {
            w.monitor.review_mut().dirty = false;
        }
    }

    /// The monitored models and the size of their review queues, largest first.
    pub fn review_models(&mut self) -> Vec<(String, usize)> {
        self.flush();
        let mut v: Vec<(String, usize)> = self
            .monitors
            .iter()
            .map(|(m, w)| (m.clone(), w.monitor.review().len()))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The next items of `model`'s review queue for an expert (most worth a label first, at most
    /// `limit`, leaving out `exclude`, the items others hold), with the queue's and the labels'
    /// figures. `None` for a model never seen.
    pub fn review(&mut self, model: &str, exclude: &[String], limit: usize) -> Option<Value> {
        self.flush();
        let m = &self.monitors.get(model)?.monitor;
        let q = m.review();
        let ranked = q.ranked();
        let items: Vec<Value> = ranked
            .iter()
            .filter(|i| !exclude.contains(&i.id))
            .take(limit)
            .map(|i| {
                let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
                json!({
                    "id": i.id,
                    "ts": chrono::DateTime::from_timestamp_millis(i.ts_ms)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    "features": parse(&i.features),
                    "prediction": parse(&i.prediction),
                    "weight": i.weight,
                    "inclusion_probability": i.inclusion,
                    "reasons": i.reasons,
                })
            })
            .collect();
        // The labels an expert can give: the positive label and every label the queued
        // predictions carry, sorted.
        let mut classes: std::collections::BTreeSet<String> = ranked
            .iter()
            .filter_map(|i| {
                serde_json::from_str::<Value>(&i.prediction).ok()?["label"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        if !m.positive_label().is_empty() {
            classes.insert(m.positive_label().to_owned());
        }
        let (labelled, errors) = m.labels();
        let correct = labelled.saturating_sub(errors);
        Some(json!({
            "model": model,
            "queue": { "items": q.len(), "dropped": q.dropped },
            "items": items,
            "classes": classes,
            "labels": {
                "predictions": m.predictions(),
                "labelled": labelled,
                "today": q.today.1,
                "coverage": if m.predictions() > 0 { labelled as f64 / m.predictions() as f64 } else { 0.0 },
                "accuracy": if labelled > 0 { Some(correct as f64 / labelled as f64) } else { None },
                "accuracy_interval": wilson(correct, labelled).map(|(a, b)| [a, b]),
                "by_source": q.sources,
                "agreement": { "agree": q.agreed, "disagree": q.disagreed },
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_interval_matches_published_values() {
        // Wilson (1927) / Newcombe (1998), 95 %: 81 of 263 → [0.2553, 0.3662].
        let (lo, hi) = wilson(81, 263).unwrap();
        assert!(
            (lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 5e-4, "{hi}");
        assert_eq!(wilson(0, 0), None);
    }
}
