//! The shadow phase of the loop: the challenger scored beside the live model on live traffic,
//! the lease held meanwhile, and the shadow gate's decision recorded.

use std::sync::Arc;

use driftd_retrain::{Decision, DecisionRecord, TrainedModel, shadow_decision};

use super::Trainer;
use crate::registry::DecisionEntry;
use crate::retraining::learn::{LearnControl, ShadowKind};
use crate::retraining::state::Phase;
use crate::store::Lease;

impl Trainer {
    pub(super) async fn ask_set_shadow(
        &self,
        model: &str,
        kind: ShadowKind,
        version: u64,
        challenger: Arc<TrainedModel>,
        policy: driftd_retrain::ShadowPolicy,
    ) {
        let c = LearnControl::SetShadow {
            model: model.to_owned(),
            kind,
            version,
            challenger,
            policy,
        };
        if self.learn.send(c).await.is_err() {
            tracing::warn!(
                model,
                "the event source has stopped; the shadow run cannot start"
            );
        }
    }

    /// Holds (or takes back after a restart) the lease of a model in shadow or watch.
    pub(super) async fn hold_lease(&mut self, model: &str) -> Option<Lease> {
        let ttl = self.loops[model].cfg.lease_ttl;
        if let Some(lease) = self.loops[model].lease.clone() {
            match self.store.renew_lease(&lease, ttl).await {
                Ok(true) => return Some(lease),
                Ok(false) => {
                    tracing::warn!(model, "the retraining lease was lost; taking it again");
                }
                Err(e) => {
                    tracing::warn!(model, error = %e, "cannot renew the retraining lease");
                    return None;
                }
            }
        }
        let lease = self
            .store
            .acquire_lease(&format!("retrain/{model}"), &self.owner, ttl)
            .await
            .ok()
            .flatten()?;
        // After a restart (or a lost lease) the shadow needs its challenger again; the learner
        // kept the tally (checkpointed) and only gets the model back.
        let (kind, version) = match self.loops[model].state.phase {
            Phase::Shadow { version, .. } => (ShadowKind::Candidate, version),
            Phase::Watch { previous, .. } => (ShadowKind::Watch, previous),
            _ => return Some(lease),
        };
        match self.load_version(model, version).await {
            Ok(m) => {
                let l = &self.loops[model];
                let policy = match kind {
                    ShadowKind::Candidate => l.cfg.shadow.clone(),
                    ShadowKind::Watch => l.cfg.watch_policy.clone(),
                };
                self.ask_set_shadow(model, kind, version, Arc::new(m), policy)
                    .await;
            }
            Err(e) => {
                tracing::error!(model, version, error = %e, "cannot load the shadowed model; ending the shadow run");
                self.note(
                    model,
                    "inconclusive",
                    Some(version),
                    format!("the shadowed version cannot be loaded: {e}"),
                );
                self.end_shadow(model, Some(lease)).await;
                return None;
            }
        }
        self.loops.get_mut(model).expect("exists").lease = Some(lease.clone());
        Some(lease)
    }

    pub(super) async fn end_shadow(&mut self, model: &str, lease: Option<Lease>) {
        let _ = self
            .learn
            .send(LearnControl::ClearShadow(model.to_owned()))
            .await;
        if let Some(lease) = lease.or_else(|| self.loops.get_mut(model)?.lease.take()) {
            let _ = self.store.release_lease(&lease).await;
        }
        if let Some(l) = self.loops.get_mut(model) {
            l.lease = None;
            l.reference.clear();
        }
        self.set_phase(model, Phase::Idle);
        self.save(model).await;
    }

    pub(super) async fn shadow_tick(&mut self, model: &str) {
        let Some(lease) = self.hold_lease(model).await else {
            return;
        };
        let Some(run) = self
            .ask(|tx| LearnControl::Shadow(model.to_owned(), tx))
            .await
            .flatten()
        else {
            return;
        };
        let now = (self.clock)();
        let l = &self.loops[model];
        match l.state.phase.clone() {
            Phase::Shadow {
                version,
                started_ms,
                ..
            } => {
                if run.kind != ShadowKind::Candidate || run.version != version {
                    return;
                }
                let d = shadow_decision(&run.tally, &l.cfg.shadow);
                self.metrics
                    .shadow_pairs
                    .with_label_values(&[model, "candidate"])
                    .set(run.paired as i64);
                let over = now.timestamp_millis() - started_ms
                    >= l.cfg.shadow_max_duration.as_millis() as i64;
                match d.decision {
                    Decision::Promote if l.cfg.auto_promote => {
                        self.promote(model, version, &lease, d, &run).await;
                    }
                    Decision::Reject => {
                        self.record(model, version, "reject", &d.record, &lease)
                            .await;
                        self.note(model, "rejected", Some(version), d.record.reason.clone());
                        self.end_shadow(model, Some(lease)).await;
                    }
                    _ if over => {
                        let d = d.into_inconclusive(format!(
                            "no decision within shadow_max_duration ({}); the live model stays",
                            humantime_serde::re::humantime::format_duration(
                                l.cfg.shadow_max_duration
                            )
                        ));
                        self.record(model, version, "inconclusive", &d.record, &lease)
                            .await;
                        self.note(
                            model,
                            "inconclusive",
                            Some(version),
                            d.record.reason.clone(),
                        );
                        self.end_shadow(model, Some(lease)).await;
                    }
                    _ => {}
                }
            }
            Phase::Watch {
                version,
                previous,
                started_ms,
            } => {
                if run.kind != ShadowKind::Watch || run.version != previous {
                    return;
                }
                self.metrics
                    .shadow_pairs
                    .with_label_values(&[model, "watch"])
                    .set(run.paired as i64);
                // The previous model plays the candidate: "Promote" means it is significantly
                // better than the new live model.
                let d = shadow_decision(&run.tally, &l.cfg.watch_policy);
                let over = now.timestamp_millis() - started_ms >= l.cfg.watch.as_millis() as i64;
                if d.decision == Decision::Promote {
                    self.rollback(model, version, previous, &lease, d).await;
                } else if over || d.decision == Decision::Reject {
                    self.note(
                        model,
                        "watch_passed",
                        Some(version),
                        format!(
                            "the new live version held up against the previous one (the challenger): {}",
                            d.record.reason
                        ),
                    );
                    self.end_shadow(model, Some(lease)).await;
                }
            }
            _ => {}
        }
    }

    pub(super) async fn record(
        &self,
        model: &str,
        version: u64,
        action: &str,
        record: &DecisionRecord,
        lease: &Lease,
    ) {
        let entry = DecisionEntry {
            at_ms: (self.clock)().timestamp_millis(),
            action: action.to_owned(),
            note: record.reason.clone(),
            replaced: None,
            record: Some(record.clone()),
            actor: None,
        };
        match self.fenced(lease) {
            Ok(r) => {
                if let Err(e) = r.add_decision(model, version, entry).await {
                    tracing::error!(model, version, error = %e, "cannot store the decision record");
                }
            }
            Err(e) => tracing::error!(model, error = %e, "no registry"),
        }
        tracing::info!(
            model,
            version,
            action,
            test = ?record.test,
            statistic = ?record.statistic,
            p_value = ?record.p_value,
            b = record.counts.b,
            c = record.counts.c,
            n = record.counts.n,
            reason = %record.reason,
            "shadow decision"
        );
    }
}
