//! Promotion and rollback: the registry's alias swap, the notice, the new drift reference, and
//! what the loop remembers of it.

use std::sync::Arc;

use driftd_retrain::ShadowDecision;

use super::Trainer;
use super::job::reference_rows;
use crate::contract::notice::Notice;
use crate::registry::RegistryError;
use crate::retraining::learn::{LearnControl, ReferenceRow, ShadowKind, ShadowRun};
use crate::retraining::state::Phase;
use crate::store::Lease;

impl Trainer {
    pub(super) async fn promote(
        &mut self,
        model: &str,
        version: u64,
        lease: &Lease,
        d: ShadowDecision,
        run: &ShadowRun,
    ) {
        let registry = match self.fenced(lease) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(model, error = %e, "no registry");
                return;
            }
        };
        let note = format!("shadow gate: {}", d.record.reason);
        let aliases = match registry
            .promote(model, version, &note, Some(d.record.clone()), None)
            .await
        {
            Ok(a) => a,
            // Promoted (decision record and all) before a restart that came before the loop's
            // state was stored: the gate decides the same again. Finish that promotion rather
            // than retry it every tick; the registry keeps its one record.
            Err(RegistryError::AlreadyLive { .. }) => match registry.aliases(model).await {
                Ok(a) => {
                    tracing::warn!(
                        model,
                        version,
                        "the candidate is already live (promoted before a restart); finishing the promotion"
                    );
                    a
                }
                Err(e) => {
                    tracing::error!(model, version, error = %e, "cannot read the aliases; retrying");
                    return;
                }
            },
            Err(e) => {
                tracing::error!(model, version, error = %e, "promotion failed; the live model stays");
                return;
            }
        };
        tracing::info!(model, version, pairs = run.paired, "candidate promoted");
        self.after_swap(model, "promoted", version, aliases.previous, &note)
            .await;
        let l = self.loops.get_mut(model).expect("exists");
        let mut reference = std::mem::take(&mut l.reference);
        let (watch, policy) = (l.cfg.watch, l.cfg.watch_policy.clone());
        if reference.is_empty() {
            // A restart during the shadow run: the rows lived only in memory.
            reference = self.training_reference(model, version).await;
        }
        self.switch_reference(model, reference).await;
        match (aliases.previous, watch.is_zero()) {
            (Some(previous), false) => match self.load_version(model, previous).await {
                Ok(m) => {
                    self.ask_set_shadow(model, ShadowKind::Watch, previous, Arc::new(m), policy)
                        .await;
                    self.set_phase(
                        model,
                        Phase::Watch {
                            version,
                            previous,
                            started_ms: (self.clock)().timestamp_millis(),
                        },
                    );
                    let watch = humantime_serde::re::humantime::format_duration(watch);
                    self.note(
                        model,
                        "watch_started",
                        Some(version),
                        format!(
                            "version {previous} is shadowed beside the new live version for {watch}"
                        ),
                    );
                    self.save(model).await;
                }
                Err(e) => {
                    tracing::error!(model, error = %e, "cannot load the previous version; no watch");
                    self.end_shadow(model, None).await;
                }
            },
            _ => self.end_shadow(model, None).await,
        }
    }

    pub(super) async fn rollback(
        &mut self,
        model: &str,
        version: u64,
        previous: u64,
        lease: &Lease,
        d: ShadowDecision,
    ) {
        let note = format!(
            "watch after promotion: version {version} is significantly worse than {previous}: {}",
            d.record.reason
        );
        let registry = match self.fenced(lease) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(model, error = %e, "no registry");
                return;
            }
        };
        // A rollback that landed before a restart (the loop's state still says watch) is
        // finished, not done again: a second swap would make the worse version live again.
        let done = match registry.aliases(model).await {
            Ok(a) => a.live == Some(previous),
            Err(e) => {
                tracing::error!(model, error = %e, "cannot read the aliases; retrying");
                return;
            }
        };
        let recorded = if done {
            tracing::warn!(
                model,
                version,
                previous,
                "already rolled back (before a restart); finishing the rollback"
            );
            registry.show(model, version).await.is_ok_and(|v| {
                v.decisions
                    .iter()
                    .any(|e| e.action == "rollback" && e.record.is_some())
            })
        } else {
            if let Err(e) = registry.rollback(model, &note, None).await {
                tracing::error!(model, error = %e, "automatic rollback failed");
                return;
            }
            false
        };
        if !recorded {
            self.record(model, version, "rollback", &d.record, lease)
                .await;
        }
        self.after_swap(model, "rolled_back", previous, Some(version), &note)
            .await;
        // The reference of the restored model: the newest labelled data.
        let rows = self.buffer_reference(model, previous).await;
        self.switch_reference(model, rows).await;
        self.end_shadow(model, None).await;
    }

    /// Announces an alias swap and records it.
    pub(super) async fn after_swap(
        &mut self,
        model: &str,
        action: &str,
        live: u64,
        replaced: Option<u64>,
        note: &str,
    ) {
        let checksum = match self.registry() {
            Ok(r) => r
                .show(model, live)
                .await
                .map(|v| v.checksum)
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let notice = Notice {
            action: action.to_owned(),
            model: model.to_owned(),
            version: live,
            replaced,
            checksum,
            artifact: format!(
                "{}#registry/{model}/v/{live}/artifact",
                self.announcer.location()
            ),
            at: (self.clock)(),
        };
        self.announcer.announce(&notice).await;
        self.note(model, action, Some(live), note.to_owned());
    }

    /// The newest labelled examples (up to the training buffer) as reference rows of `version`.
    pub(super) async fn buffer_reference(&self, model: &str, version: u64) -> Vec<ReferenceRow> {
        let Some(Some((examples, _))) = self
            .ask(|tx| LearnControl::Examples(model.to_owned(), tx))
            .await
        else {
            return Vec::new();
        };
        match self.load_version(model, version).await {
            Ok(m) => reference_rows(&m, &examples),
            Err(_) => Vec::new(),
        }
    }

    /// A version's training rows again, from the training buffer: the buffered examples inside
    /// its training window (the chronological training split the fit saw, while the buffer
    /// still holds it), scored by the version. What a shadow run that outlived a restart uses
    /// as the drift reference on promotion, since the fit's own rows are not stored.
    pub(super) async fn training_reference(&self, model: &str, version: u64) -> Vec<ReferenceRow> {
        let Some(Some((examples, _))) = self
            .ask(|tx| LearnControl::Examples(model.to_owned(), tx))
            .await
        else {
            return Vec::new();
        };
        match self.load_version(model, version).await {
            Ok(m) => {
                let w = m.training_window();
                let window: Vec<_> = examples
                    .into_iter()
                    .filter(|e| (w.from_ms..=w.to_ms).contains(&e.ts_ms))
                    .collect();
                reference_rows(&m, &window)
            }
            Err(e) => {
                tracing::warn!(model, version, error = %e, "cannot load the version to rebuild its reference");
                Vec::new()
            }
        }
    }

    pub(super) async fn switch_reference(&self, model: &str, rows: Vec<ReferenceRow>) {
        if rows.is_empty() {
            return;
        }
        if let Some(n) = self
            .ask(|tx| LearnControl::SetReference(model.to_owned(), rows, tx))
            .await
        {
            tracing::info!(
                model,
                rows = n,
                "drift reference switched to the live model's training data"
            );
        }
    }
}
