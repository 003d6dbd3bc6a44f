//! Records of other servers' formats through the pipeline: each record is converted by the
//! [adapters](crate::contract::adapt) into zero or more events of contract v1, applied at the
//! record's offset; the halves waiting for their pair are part of the checkpoint.
//!
//! Offsets: the events of one record share its offset; all but the last finish at that offset
//! and the last at the record's `next`, so a restart skips the whole record or none of it (a
//! source never checkpoints between the events of one record). A record that only leaves a half
//! waiting advances the offset alone.

use crate::contract::adapt::{AdapterConfig, Format, PAIRS_KEY, Pairs, Record};
use crate::contract::event::Rejection;

use super::{Outcome, Pipeline};

/// The pipeline's adapter: its settings and the halves waiting for their pair.
#[derive(Debug, Default)]
pub(crate) struct Adapting {
    cfg: AdapterConfig,
    pairs: Pairs,
    /// Changed since the last checkpoint.
    dirty: bool,
}

impl Pipeline {
    /// Sets the adapter's settings (`[source.adapter]`).
    pub fn with_adapter(mut self, cfg: AdapterConfig) -> Self {
        self.adapter.cfg = cfg;
        self
    }

    /// Restores the halves waiting for their pair, from a checkpoint.
    pub fn restore_pairs(&mut self, pairs: Pairs) {
        self.metrics.adapter_pending.set(pairs.len() as i64);
        self.adapter.pairs = pairs;
    }

    /// Processes one record of `format` at `offset` of `shard` (`next`: the offset after it):
    /// converts it and applies its events. Rejected: the record is dead-lettered whole, with
    /// the first reason. Never panics on input.
    pub fn process_record(
        &mut self,
        shard: &str,
        offset: u64,
        next: u64,
        format: Format,
        rec: &Record,
    ) -> Outcome {
        if format == Format::DriftdV1 {
            return self.process(shard, offset, next, &rec.body);
        }
        if self.is_duplicate(shard, offset) {
            return Outcome::Duplicate;
        }
        let converted = match self.adapter.pairs.convert(&self.adapter.cfg, format, rec) {
            Ok(c) => c,
            Err(r) => return self.conclude(shard, next, Err(r)),
        };
        self.adapter.dirty = true;
        if let Some(ts) = converted.ts_ns {
            self.order.advance(shard, ts);
        }
        for side in &converted.unpaired {
            self.metrics
                .adapter_unpaired
                .with_label_values(&[side.as_str()])
                .inc();
        }
        self.metrics
            .adapter_pending
            .set(self.adapter.pairs.len() as i64);
        let mut first: Option<Rejection> = None;
        let n = converted.events.len();
        for (i, ev) in converted.events.iter().enumerate() {
            let to = if i + 1 == n { next } else { offset };
            if let Outcome::Rejected(r) = self.process(shard, offset, to, ev) {
                first.get_or_insert_with(|| {
                    Rejection::new(r.reason, format!("event {} of {n}: {}", i + 1, r.detail))
                });
            }
        }
        match (converted.rejection, n) {
            (Some(r), _) => self.conclude(shard, next, Err(r)),
            (None, 0) => self.conclude(
                shard,
                next,
                Ok(crate::contract::event::EventKind::Prediction),
            ),
            (None, _) => match first {
                Some(r) => Outcome::Rejected(r),
                None => Outcome::Accepted {
                    kind: crate::contract::event::EventKind::Prediction,
                },
            },
        }
    }

    /// The end of a finite input: every waiting half becomes an event alone, applied at the
    /// shard's current offset.
    pub fn drain_pairs(&mut self, shard: &str) {
        let Some(at) = self.shard(shard).map(|s| s.next_offset) else {
            return;
        };
        let converted = self.adapter.pairs.drain(&self.adapter.cfg);
        if converted.events.is_empty() {
            return;
        }
        self.adapter.dirty = true;
        for side in &converted.unpaired {
            self.metrics
                .adapter_unpaired
                .with_label_values(&[side.as_str()])
                .inc();
        }
        self.metrics.adapter_pending.set(0);
        for ev in &converted.events {
            if let Outcome::Rejected(r) = self.process(shard, at, at, ev) {
                tracing::warn!(reason = %r.reason, detail = %r.detail, "an unpaired half was rejected at the end of the input");
            }
        }
    }

    /// Halves waiting for their pair, and `[source.adapter] max_pending`: a Kafka source pauses
    /// the partitions ahead in event time while more than half of it waits (a topic read
    /// faster than its partner topic, as when catching up on records of different sizes).
    pub fn pairs_waiting(&self) -> (usize, usize) {
        (self.adapter.pairs.len(), self.adapter.cfg.max_pending)
    }

    /// The adapter's checkpoint entry, when its halves changed.
    pub(super) fn adapter_entry(&self) -> Option<(String, Vec<u8>)> {
        self.adapter
            .dirty
            .then(|| (PAIRS_KEY.to_owned(), self.adapter.pairs.checkpoint()))
    }

    /// A checkpoint holding [`Pipeline::adapter_entry`] was written.
    pub(super) fn adapter_committed(&mut self) {
        self.adapter.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::config::Config;
    use crate::contract::adapt::{AdapterConfig, Format, Record};
    use crate::contract::event::ParseOptions;
    use crate::intake::order::OrderSettings;
    use crate::intake::pipeline::{Outcome, Pipeline};
    use crate::intake::policy::ModelPolicy;
    use crate::monitor::MonitorSettings;
    use crate::telemetry::metrics::Metrics;

    fn pipeline(metrics: Arc<Metrics>) -> Pipeline {
        let c = Config::default();
        Pipeline::new(
            metrics,
            ParseOptions::default(),
            ModelPolicy::new(&c.models, &c.events),
        )
        .with_order(OrderSettings {
            allowed_lateness_ns: 0,
            max_buffered: 100,
        })
        .with_monitoring(MonitorSettings::default())
        .with_adapter(AdapterConfig {
            format: Format::OpenInferenceV2,
            model: Some("m".into()),
            ..AdapterConfig::default()
        })
    }

    fn rec(topic: &str, id: &str, ms: i64, body: &str) -> Record {
        Record {
            topic: Some(topic.into()),
            key: Some(id.as_bytes().to_vec()),
            timestamp_ms: Some(ms),
            body: body.as_bytes().to_vec(),
            ..Record::default()
        }
    }

    const REQ: &str = r#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP64","data":[1.0,2.0]}]}"#;
    const RESP: &str = r#"{"outputs":[{"name":"p","shape":[2],"datatype":"INT64","data":[0,1]}]}"#;

    /// A request on one shard, its response on another: the two rows are applied once, at the
    /// response's offset; a request alone moves its shard's clock (the watermark passes it); a
    /// record replayed below the checkpointed offset is skipped whole; the waiting halves survive
    /// a checkpoint and restore.
    #[test]
    fn halves_on_two_shards_pair_once_and_survive_a_restart() {
        let metrics = Arc::new(Metrics::new());
        let mut p = pipeline(metrics.clone());
        let f = Format::OpenInferenceV2;
        p.open_shard("in".into(), None);
        p.open_shard("out".into(), None);
        let o = p.process_record("in", 0, 1, f, &rec("in", "r1", 1_000, REQ));
        assert_eq!(
            o,
            Outcome::Accepted {
                kind: crate::contract::event::EventKind::Prediction
            }
        );
        assert_eq!(p.shard("in").unwrap().next_offset, 1);
        assert_eq!(
            p.order.max_ts("in"),
            Some(1_000_000_000),
            "the request moved its clock"
        );
        p.process_record("out", 0, 1, f, &rec("out", "r1", 1_002, RESP));
        assert_eq!(p.shard("out").unwrap().models["m"].predictions, 2);
        assert_eq!(p.held(), 2, "both rows wait for the watermark");
        // Redelivered: skipped whole, nothing paired twice.
        assert_eq!(
            p.process_record("out", 0, 1, f, &rec("out", "r1", 1_002, RESP)),
            Outcome::Duplicate
        );
        // A second request waits across a checkpoint.
        p.process_record("in", 1, 2, f, &rec("in", "r2", 2_000, REQ));
        let entries = p.checkpoint_entries();
        let pairs = entries
            .iter()
            .find(|(k, _)| k == crate::contract::adapt::PAIRS_KEY)
            .expect("the waiting half is checkpointed");
        p.mark_checkpointed();
        assert!(
            p.adapter_entry().is_none(),
            "unchanged since: not written again"
        );
        let mut q = pipeline(Arc::new(Metrics::new()));
        q.open_shard("in".into(), None);
        q.open_shard("out".into(), None);
        q.restore_pairs(crate::contract::adapt::Pairs::restore(&pairs.1).unwrap());
        q.process_record("out", 1, 2, f, &rec("out", "r2", 2_001, RESP));
        assert_eq!(
            q.shard("out").unwrap().models["m"].predictions,
            2,
            "paired after the restore"
        );
        // A malformed record is rejected and still advances its offset.
        let bad = q.process_record("in", 2, 3, f, &rec("in", "r3", 3_000, "{"));
        assert!(matches!(bad, Outcome::Rejected(ref r) if r.reason.as_str() == "invalid_json"));
        assert_eq!(q.shard("in").unwrap().next_offset, 3);
        // The end of the input: a request alone becomes a prediction without output.
        q.process_record("in", 3, 4, f, &rec("in", "r4", 4_000, REQ));
        q.drain_pairs("in");
        assert_eq!(q.shard("in").unwrap().models["m"].predictions, 2);
        assert_eq!(q.shard("in").unwrap().next_offset, 4);
    }
}
