//! A training job: gather the examples, fit on the blocking pool, run the validation gate and
//! register the candidate — as its own task, so intake and the loop go on meanwhile.

use std::sync::Arc;

use chrono::Utc;
use driftd_retrain::{
    Example, GateDecision, Task, TrainedModel, evaluate, split_by_time, train, validation_gate,
};
use tokio::sync::{mpsc, oneshot};

use crate::registry::{Alias, DecisionEntry, Registry, RegistryError};
use crate::retraining::config::RetrainConfig;
use crate::retraining::learn::{LearnControl, ReferenceRow};
use crate::store::Lease;
use crate::store::fenced::FencedStore;
use crate::telemetry::metrics::Metrics;

/// What a training job produced.
pub(super) enum JobResult {
    /// A candidate that passed the validation gate (registered, aliased `candidate`).
    Candidate {
        version: u64,
        model: Arc<TrainedModel>,
        reference: Vec<ReferenceRow>,
        gate: GateDecision,
        examples: usize,
    },
    /// A candidate that failed the gate (registered with a `reject` decision).
    Rejected { version: u64, gate: GateDecision },
    /// Nothing to register: too little data, a fit error, a store error, a lost lease.
    Failed(String),
}

pub(super) struct Job {
    pub(super) model: String,
    pub(super) trigger: String,
    pub(super) lease: Lease,
    pub(super) handle: tokio::task::JoinHandle<JobResult>,
}

/// Reference rows: the examples' features and what `model` predicts on them.
pub fn reference_rows(model: &TrainedModel, examples: &[Example]) -> Vec<ReferenceRow> {
    examples
        .iter()
        .map(|e| ReferenceRow {
            prediction: Some(model.predict(&e.features)),
            features: e.features.clone(),
        })
        .collect()
}

pub(super) fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "driftd".into())
}

/// What a training job needs; it runs as its own task.
pub(super) struct JobCtx {
    pub(super) model: String,
    pub(super) trigger: String,
    /// Learn from the newest this many examples only (after a drift alert).
    pub(super) recent: Option<usize>,
    pub(super) cfg: RetrainConfig,
    pub(super) task: Task,
    pub(super) registry: Registry<FencedStore>,
    pub(super) learn: mpsc::Sender<LearnControl>,
    pub(super) metrics: Arc<Metrics>,
}

/// The fit and the validation, off the async runtime.
struct Fitted {
    candidate: TrainedModel,
    metrics: driftd_retrain::ValidationMetrics,
    gate: GateDecision,
    reference: Vec<ReferenceRow>,
    train_len: usize,
    valid_len: usize,
}

impl JobCtx {
    pub(super) async fn run(self) -> JobResult {
        let started = std::time::Instant::now();
        let r = self.run_inner().await;
        let outcome = match &r {
            JobResult::Candidate { .. } => "candidate",
            JobResult::Rejected { .. } => "rejected",
            JobResult::Failed(_) => "failed",
        };
        self.metrics
            .retrain_duration
            .with_label_values(&[&self.model, outcome])
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .retrains
            .with_label_values(&[&self.model, outcome])
            .inc();
        r
    }

    async fn run_inner(&self) -> JobResult {
        let model = self.model.as_str();
        let (tx, rx) = oneshot::channel();
        if self
            .learn
            .send(LearnControl::Examples(model.to_owned(), tx))
            .await
            .is_err()
        {
            return JobResult::Failed("the event source has stopped".into());
        }
        let Ok(Some((mut examples, _))) = rx.await else {
            return JobResult::Failed("no training data for this model".into());
        };
        if let Some(n) = self.recent
            && n < examples.len()
        {
            examples.drain(..examples.len() - n);
        }
        if examples.len() < self.cfg.min_examples {
            return JobResult::Failed(format!(
                "only {} labelled examples; a retrain needs min_examples = {}",
                examples.len(),
                self.cfg.min_examples
            ));
        }
        let live = match self.registry.load_alias(model, Alias::Live).await {
            Ok((m, _)) => Some(m),
            Err(RegistryError::NoAlias { .. } | RegistryError::UnknownModel(_)) => None,
            Err(e) => {
                // A live model that fails verification is not compared against: that would let a
                // tampered artifact decide. Stop and say so.
                return JobResult::Failed(format!(
                    "cannot load the live model to compare with: {e}"
                ));
            }
        };
        let (cfg, task) = (self.cfg.clone(), self.task);
        let n = examples.len();
        self.metrics
            .retrain_examples
            .with_label_values(&[model])
            .set(n as i64);
        let fitted = tokio::task::spawn_blocking(move || -> Result<Fitted, FitError> {
            let (train_set, valid) = split_by_time(examples, cfg.validation_fraction);
            let algo = cfg.algorithm_for(task);
            let candidate = train(task, &algo, &cfg.encoder, &train_set)?;
            let metrics = evaluate(&candidate, &valid)?;
            let live_metrics = match &live {
                Some(l) => Some(evaluate(l, &valid)?),
                None => None,
            };
            let gate = validation_gate(&metrics, live_metrics.as_ref(), cfg.validation_margin);
            let reference = reference_rows(&candidate, &train_set);
            Ok(Fitted {
                candidate,
                metrics,
                gate,
                reference,
                train_len: train_set.len(),
                valid_len: valid.len(),
            })
        })
        .await;
        let f = match fitted {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return JobResult::Failed(format!("fit failed: {e}")),
            Err(e) => return JobResult::Failed(format!("fit task failed: {e}")),
        };
        tracing::info!(
            model,
            train = f.train_len,
            validation = f.valid_len,
            pass = f.gate.pass,
            reason = %f.gate.reason,
            "candidate fitted"
        );
        let reg = match self
            .registry
            .register(model, &f.candidate, Some(f.metrics), &self.trigger)
            .await
        {
            Ok(r) => r,
            Err(e) => return JobResult::Failed(format!("cannot register the candidate: {e}")),
        };
        if !f.gate.pass {
            let entry = DecisionEntry {
                at_ms: Utc::now().timestamp_millis(),
                action: "reject".into(),
                note: format!("validation gate: {}", f.gate.reason),
                replaced: None,
                record: None,
                actor: None,
            };
            if let Err(e) = self.registry.add_decision(model, reg.version, entry).await {
                tracing::error!(model, error = %e, "cannot store the rejection");
            }
            return JobResult::Rejected {
                version: reg.version,
                gate: f.gate,
            };
        }
        if let Err(e) = self
            .registry
            .set_alias(model, Alias::Candidate, Some(reg.version))
            .await
        {
            return JobResult::Failed(format!("cannot mark the candidate: {e}"));
        }
        tracing::info!(model, version = reg.version, checksum = %reg.checksum, "candidate registered");
        JobResult::Candidate {
            version: reg.version,
            model: Arc::new(f.candidate),
            reference: f.reference,
            gate: f.gate,
            examples: n,
        }
    }
}

/// Why a fit produced no candidate.
#[derive(Debug, thiserror::Error)]
enum FitError {
    /// Training.
    #[error(transparent)]
    Train(#[from] driftd_retrain::TrainError),
    /// Scoring on the validation split.
    #[error(transparent)]
    Evaluate(#[from] driftd_retrain::MetricsError),
}
