//! The [`Checkpointer`]: writes every open shard, the monitors and the learners in one atomic
//! state-store write, loads them back (retrying while the store is unreachable), and keeps the
//! store's health for readiness and metrics.
//!
//! **Cost model.** One checkpoint writes: each open shard's state (offsets and the events held for
//! the event-time order: `O(held)`), each monitor's record (summaries, detectors, windows: fixed by
//! the settings), each monitor's join-store changes since the previous checkpoint
//! (`O(events since)`, not `O(waiting predictions)`; a snapshot of the store replaces the log once
//! the log outgrows it, so the amortised cost per event stays constant — see
//! [`crate::monitor::join::journal`]), and the learners' changed chunks. Everything, deletions of
//! replaced log segments included, lands in one atomic write with the offsets it covers.
//!
//! **Ownership (Kafka).** Before a partition's checkpoint is loaded, this instance claims the
//! partition's lease in the store ([`Checkpointer::claim`]: a higher fencing token, whoever held
//! it), and every checkpoint is written only if all the leases of its shards are still this
//! instance's ([`AnyStore::write_fenced_all`], one atomic check-and-write). An instance that lost
//! a partition to a rebalance but has not seen the revocation yet (paused, partitioned from the
//! group coordinator) therefore cannot overwrite the new owner's checkpoint: its write is refused
//! whole, nothing of it lands, and it drops the state when the revocation arrives.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Health;
use crate::intake::config::CheckpointConfig;
use crate::intake::pipeline::Pipeline;
use crate::intake::policy::ModelPolicy;
use crate::intake::shard::MONITOR_INDEX_KEY;
use crate::intake::shard::{CheckpointError, ShardState, checkpoint_key};
use crate::intake::shard::{join_prefix, monitor_key};
use crate::monitor::ModelMonitor;
use crate::monitor::reference::reference_key;
use crate::store::{AnyStore, Lease, StateStore, StoreError};
use crate::telemetry::events::{InternalEvent as _, StoreAnswered, StoreFailed};
use crate::telemetry::metrics::Metrics;

/// Writes and loads checkpoints, tracking the store's health.
pub struct Checkpointer {
    store: AnyStore,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    interval: Duration,
    max_events: u64,
    last: Instant,
    /// The last checkpoint failed to be written: the store is down until one is written (a ping
    /// or a read proves that it answers, not that it can store the state).
    write_failed: bool,
    /// Keys never written (non-resumable shards such as stdin).
    pub volatile: Vec<String>,
    /// The leases of the partitions this instance owns (Kafka), by shard.
    leases: BTreeMap<String, Lease>,
    /// This instance's name in those leases.
    owner: String,
}

/// The lease name of a shard.
fn shard_lease(shard: &str) -> String {
    format!("shard/{shard}")
}

impl Checkpointer {
    /// A checkpointer on `store`.
    pub fn new(
        store: AnyStore,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        cfg: &CheckpointConfig,
    ) -> Self {
        Checkpointer {
            store,
            metrics,
            health,
            interval: cfg.interval,
            max_events: cfg.max_events,
            last: Instant::now(),
            write_failed: false,
            volatile: Vec::new(),
            leases: BTreeMap::new(),
            owner: format!(
                "driftd-{}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
        }
    }

    /// Claims `shard` for this instance (before its checkpoint is loaded): from then on the
    /// previous owner's checkpoints are refused, so the state loaded next is the last one it
    /// could write. Retries while the store is unreachable; false on shutdown.
    pub async fn claim(&mut self, shard: &str, shutdown: &mut watch::Receiver<bool>) -> bool {
        let name = shard_lease(shard);
        let store = self.store.clone();
        let owner = self.owner.clone();
        let lease = retrying("claiming the partition's lease", shutdown, || {
            let (store, name, owner) = (store.clone(), name.clone(), owner.clone());
            async move { store.claim_lease(&name, &owner).await }
        })
        .await;
        match lease {
            Some(l) => {
                self.leases.insert(shard.to_owned(), l);
                true
            }
            None => false,
        }
    }

    /// Forgets the claim on a shard given up (revoked); its next owner has claimed it anew.
    pub fn release(&mut self, shard: &str) {
        self.leases.remove(shard);
    }

    /// Whether a checkpoint is due. After a failed one, the next attempt comes `interval` after
    /// it, however many events arrived meanwhile.
    pub fn due(&self, p: &Pipeline) -> bool {
        let n = p.since_checkpoint();
        let waited = self.last.elapsed() >= self.interval;
        if self.write_failed {
            return waited;
        }
        n >= self.max_events || (n > 0 && waited)
    }

    fn store_result<T>(&self, op: &str, r: Result<T, StoreError>) -> Result<T, StoreError> {
        let store = self.store.kind();
        match &r {
            // Only a written checkpoint brings the store back up after a failed one.
            Ok(_) if self.write_failed && op != "put" => {}
            Ok(_) => StoreAnswered {
                store,
                was_up: self.health.store_up.swap(true, Ordering::Relaxed),
            }
            .emit(&self.metrics),
            Err(error) => StoreFailed {
                store,
                op,
                error,
                was_up: self.health.store_up.swap(false, Ordering::Relaxed),
            }
            .emit(&self.metrics),
        }
        r
    }

    /// Writes every open shard atomically. On failure the state stays in memory and the next
    /// attempt comes after `interval`.
    pub async fn write(&mut self, p: &mut Pipeline) -> bool {
        self.last = Instant::now();
        let entries: Vec<_> = p
            .checkpoint_entries()
            .into_iter()
            .filter(|(k, _)| !self.volatile.contains(k))
            .collect();
        if entries.is_empty() {
            p.mark_checkpointed();
            // Nothing is left unstored: the next probe may bring the store back up.
            self.write_failed = false;
            return true;
        }
        let started = Instant::now();
        let deletes = p.checkpoint_deletes();
        let r = if self.leases.is_empty() {
            self.store.write(entries, deletes).await
        } else {
            let leases: Vec<Lease> = self.leases.values().cloned().collect();
            self.store.write_fenced_all(&leases, entries, deletes).await
        };
        // The interval runs from the end of a checkpoint: a slow one never leaves the pipeline
        // without time to process events.
        self.last = Instant::now();
        if let Err(StoreError::Fenced(lease)) = &r {
            // The store is fine; this instance no longer owns a partition it holds state for.
            tracing::warn!(
                lease,
                "checkpoint refused: another instance owns this partition now (a rebalance this instance has not seen yet); nothing was written, and its state is dropped when the revocation arrives"
            );
            self.write_failed = true;
            self.metrics
                .checkpoints
                .with_label_values(&["failed"])
                .inc();
            return false;
        }
        let ok = self.store_result("put", r).is_ok();
        self.write_failed = !ok;
        if ok {
            p.mark_checkpointed();
            self.metrics
                .checkpoint_duration
                .observe(started.elapsed().as_secs_f64());
            self.metrics.checkpoints.with_label_values(&["ok"]).inc();
        } else {
            self.metrics
                .checkpoints
                .with_label_values(&["failed"])
                .inc();
        }
        ok
    }

    /// Records a checkpoint that could not be attempted (e.g. side outputs not yet durable).
    pub fn defer(&mut self) {
        self.last = Instant::now();
        self.metrics
            .checkpoints
            .with_label_values(&["deferred"])
            .inc();
    }

    /// Loads the adapter's halves waiting for their pair (empty without a checkpoint), retrying
    /// while the store is unreachable. `None` on shutdown.
    pub async fn load_pairs(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<crate::contract::adapt::Pairs> {
        retrying("loading the adapter's checkpoint", shutdown, || async {
            use crate::contract::adapt::{PAIRS_KEY, Pairs};
            let r = self.store.get(PAIRS_KEY).await;
            let Some(bytes) = self.store_result("get", r)? else {
                return Ok::<_, CheckpointError>(Pairs::default());
            };
            Pairs::restore(&bytes).map_err(|source| CheckpointError::Decode {
                what: "adapter checkpoint".into(),
                source,
            })
        })
        .await
    }

    /// Loads every checkpointed monitor, retrying while the store is unreachable. `None` on
    /// shutdown.
    pub async fn load_monitors(
        &self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<std::collections::BTreeMap<String, ModelMonitor>> {
        retrying("loading the monitors' checkpoint", shutdown, || {
            self.try_load_monitors()
        })
        .await
    }

    async fn try_load_monitors(
        &self,
    ) -> Result<std::collections::BTreeMap<String, ModelMonitor>, CheckpointError> {
        let mut out = std::collections::BTreeMap::new();
        let r = self.store.get(MONITOR_INDEX_KEY).await;
        let Some(index) = self.store_result("get", r)? else {
            return Ok(out);
        };
        let names: Vec<String> =
            serde_json::from_slice(&index).map_err(|source| CheckpointError::Decode {
                what: "the index of monitors".into(),
                source,
            })?;
        for name in names {
            let r = self.store.get(&monitor_key(&name)).await;
            if let Some(bytes) = self.store_result("get", r)? {
                let mut m: ModelMonitor =
                    serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Decode {
                        what: format!("monitor of model {name}"),
                        source,
                    })?;
                // Reference profiles kept apart: written once, under their own key.
                if m.needs_reference() {
                    let r = self.store.get(&reference_key(&monitor_key(&name))).await;
                    let bytes = self.store_result("get", r)?;
                    let taken = m.restore_reference(bytes.as_deref()).map_err(|source| {
                        CheckpointError::Decode {
                            what: format!("reference profiles of model {name}"),
                            source,
                        }
                    })?;
                    if !taken {
                        tracing::warn!(model = %name, "the checkpoint names reference profiles the store does not hold; collecting a new reference");
                        m.restart_reference();
                    }
                }
                // The review queue, kept apart (written when it changed).
                let r = self
                    .store
                    .get(&crate::intake::pipeline::review_key(&name))
                    .await;
                if let Some(b) = self.store_result("get", r)? {
                    match m.review_mut().restore_items(&b) {
                        Ok(()) => {}
                        // A cache of waiting predictions: a damaged one is rebuilt from traffic.
                        Err(e) => {
                            tracing::error!(model = %name, error = %e, "the stored review queue is unreadable; starting it afresh")
                        }
                    }
                }
                // A journaled join store: its snapshot and log segments, written with it.
                let mut values = Vec::new();
                for key in m.join().journal_keys(&join_prefix(&name)) {
                    let r = self.store.get(&key).await;
                    values.push(self.store_result("get", r)?);
                }
                m.join_mut()
                    .restore_journal(values)
                    .map_err(|source| CheckpointError::Decode {
                        what: format!("join store of model {name}"),
                        source,
                    })?;
                out.insert(name, m);
            }
        }
        if !out.is_empty() {
            tracing::info!(models = out.len(), "monitors restored from checkpoint");
        }
        Ok(out)
    }

    /// Loads the learners (training buffers, waiting features, shadow tallies) of the retrained
    /// models, retrying while the store is unreachable. `None` on shutdown.
    pub async fn load_learners(
        &self,
        policy: &ModelPolicy,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<std::collections::BTreeMap<String, crate::retraining::learn::Learner>> {
        retrying("loading the training data checkpoint", shutdown, || {
            self.try_load_learners(policy)
        })
        .await
    }

    async fn try_load_learners(
        &self,
        policy: &ModelPolicy,
    ) -> Result<
        std::collections::BTreeMap<String, crate::retraining::learn::Learner>,
        CheckpointError,
    > {
        use crate::retraining::learn::{Learner, head_key};
        let mut out = std::collections::BTreeMap::new();
        for (model, (cfg, task)) in policy.retrained() {
            let r = self.store.get(&head_key(model)).await;
            let Some(head) = self.store_result("get", r)? else {
                continue;
            };
            let mut stored = std::collections::HashMap::new();
            let keys =
                Learner::stored_keys(model, &head).map_err(|source| CheckpointError::Learner {
                    model: model.clone(),
                    source,
                })?;
            for key in keys {
                let r = self.store.get(&key).await;
                if let Some(b) = self.store_result("get", r)? {
                    stored.insert(key, b);
                }
            }
            let mut l = Learner::new(cfg.clone(), *task, policy.positive_label(model));
            match l.restore(model, &head, |key| stored.remove(key)) {
                Ok(()) => {
                    tracing::info!(
                        model,
                        examples = l.len(),
                        waiting = l.waiting(),
                        "training data restored from checkpoint"
                    );
                    out.insert(model.clone(), l);
                }
                // Training data is a cache of the labelled stream: a damaged one is logged and
                // rebuilt from new events rather than blocking intake.
                Err(e) => {
                    tracing::error!(model, error = %e, "stored training data is unreadable; starting it afresh")
                }
            }
        }
        Ok(out)
    }

    /// Pings the store when it was last seen down, so readiness recovers without traffic. Not
    /// after a failed checkpoint: the state it holds is not stored until the next one (due
    /// `interval` after it) is written, and only that brings readiness back.
    pub async fn probe(&self) {
        if !self.write_failed && !self.health.store_up.load(Ordering::Relaxed) {
            let r = self.store.ping().await;
            let _ = self.store_result("ping", r);
        }
    }

    /// Loads a shard's checkpoint, retrying while the store is unreachable. `None` on shutdown.
    pub async fn load(
        &self,
        shard: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Option<ShardState>> {
        let key = checkpoint_key(shard);
        let mut backoff = Duration::from_millis(100);
        loop {
            let r = self.store.get(&key).await;
            match self.store_result("get", r) {
                Ok(None) => return Some(None),
                Ok(Some(bytes)) => match Pipeline::decode_checkpoint(&bytes) {
                    Ok(s) => {
                        tracing::info!(
                            shard,
                            next_offset = s.next_offset,
                            accepted = s.accepted(),
                            rejected = s.rejected_total(),
                            "resuming from checkpoint"
                        );
                        return Some(Some(s));
                    }
                    Err(e) => {
                        // Refuse to guess: starting empty would double-count, skipping would lose.
                        tracing::error!(shard, error = %e, "checkpoint is unreadable; fix or delete key {key} in the state store");
                    }
                },
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Runs `attempt` until it succeeds, logging each failure and backing off from 100 ms to 5 s.
/// `None` on shutdown.
pub(crate) async fn retrying<T, E, F, Fut>(
    what: &str,
    shutdown: &mut watch::Receiver<bool>,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(v) => return Some(v),
            Err(e) => tracing::error!(error = %e, "{what} failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return None,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::contract::event::ParseOptions;
    use crate::store::EmbeddedStore;

    /// A partition claimed by a new owner fences off its previous owner: the "zombie" that has not
    /// seen the revocation yet cannot overwrite the new owner's checkpoint, and nothing of its
    /// write lands (deterministic here; `tests/e2e/lease.rs` checks the script on real Redis).
    #[tokio::test]
    async fn a_zombie_owner_cannot_overwrite_the_new_owners_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = AnyStore::Embedded(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
        let cfg = CheckpointConfig {
            interval: Duration::from_secs(60),
            max_events: 1,
        };
        let config = Config::default();
        let instance = || {
            let metrics = Arc::new(Metrics::new());
            let c = Checkpointer::new(
                store.clone(),
                metrics.clone(),
                Arc::new(Health::default()),
                &cfg,
            );
            let p = Pipeline::new(
                metrics,
                ParseOptions::default(),
                ModelPolicy::new(&config.models, &config.events),
            );
            (c, p)
        };
        let event = |i: u64| {
            format!(
                r#"{{"kind":"feedback","id":"{i}","model":"m","ts":"2026-01-01T00:00:00Z","label":"1"}}"#
            )
        };
        let (_tx, mut shutdown) = watch::channel(false);
        let stored = || async {
            let b = store.get(&checkpoint_key("s")).await.unwrap().unwrap();
            Pipeline::decode_checkpoint(&b).unwrap()
        };

        // A owns the partition and checkpoints 3 events.
        let (mut a, mut pa) = instance();
        assert!(a.claim("s", &mut shutdown).await);
        pa.open_shard("s".into(), None);
        for i in 0..3 {
            pa.process("s", i, i + 1, event(i).as_bytes());
        }
        assert!(a.write(&mut pa).await);
        // B is assigned the partition: it claims it, resumes from A's checkpoint, and moves on.
        let (mut b, mut pb) = instance();
        assert!(b.claim("s", &mut shutdown).await);
        let restored = b.load("s", &mut shutdown).await.unwrap();
        assert_eq!(restored.as_ref().map(|s| s.next_offset), Some(3));
        pb.open_shard("s".into(), restored);
        for i in 3..5 {
            pb.process("s", i, i + 1, event(i).as_bytes());
        }
        assert!(b.write(&mut pb).await);
        // A, not yet aware, goes on and tries to checkpoint: refused, nothing of it lands.
        pa.process("s", 3, 4, event(3).as_bytes());
        assert!(
            !a.write(&mut pa).await,
            "the zombie's checkpoint was written"
        );
        let s = stored().await;
        assert_eq!(
            (s.next_offset, s.accepted()),
            (5, 5),
            "B's checkpoint stands"
        );
        // B keeps writing; A, once revoked, forgets its claim.
        pb.process("s", 5, 6, event(5).as_bytes());
        assert!(b.write(&mut pb).await);
        a.release("s");
        assert_eq!(stored().await.next_offset, 6);
    }

    /// Regression: after a failed checkpoint the next probe pinged the store, which answered, so
    /// `/readyz` said ready again while nothing could be stored (a full disk, Redis refusing
    /// writes). Now only a written checkpoint brings the store back up, and after a failure the
    /// next attempt waits for the interval however many events arrive.
    #[tokio::test]
    async fn a_failed_checkpoint_keeps_the_store_down_until_one_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("s.redb")).unwrap();
        let metrics = Arc::new(Metrics::new());
        let health = Arc::new(Health::default());
        let cfg = CheckpointConfig {
            interval: Duration::from_secs(60),
            max_events: 1,
        };
        let mut c = Checkpointer::new(
            AnyStore::Embedded(store.clone()),
            metrics.clone(),
            health.clone(),
            &cfg,
        );
        let config = Config::default();
        let mut p = Pipeline::new(
            metrics.clone(),
            ParseOptions::default(),
            ModelPolicy::new(&config.models, &config.events),
        );
        p.open_shard("s".into(), None);
        let event =
            br#"{"kind":"feedback","id":"1","model":"m","ts":"2026-01-01T00:00:00Z","label":"1"}"#;
        p.process("s", 0, 1, event);
        assert!(c.due(&p));
        assert!(c.write(&mut p).await);
        assert!(health.store_up.load(Ordering::Relaxed));

        store.fail_writes(true);
        p.process("s", 1, 2, event);
        assert!(c.due(&p), "max_events reached");
        assert!(!c.write(&mut p).await);
        assert!(!health.store_up.load(Ordering::Relaxed));
        c.probe().await;
        assert!(
            !health.store_up.load(Ordering::Relaxed),
            "a ping does not bring it back while the state is unstored"
        );
        p.process("s", 2, 3, event);
        assert!(!c.due(&p), "no new attempt before the interval");
        c.last = Instant::now() - cfg.interval;
        assert!(c.due(&p));
        assert!(!c.write(&mut p).await);
        assert!(!health.store_up.load(Ordering::Relaxed));

        store.fail_writes(false);
        c.probe().await;
        assert!(!health.store_up.load(Ordering::Relaxed));
        c.last = Instant::now() - cfg.interval;
        assert!(c.due(&p));
        assert!(c.write(&mut p).await, "space is back: the checkpoint lands");
        assert!(health.store_up.load(Ordering::Relaxed));
        let saved = store.get(&checkpoint_key("s")).await.unwrap().unwrap();
        assert_eq!(Pipeline::decode_checkpoint(&saved).unwrap().next_offset, 3);
    }
}
