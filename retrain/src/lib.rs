//! # driftd-retrain
//!
//! Retraining with Linfa, shadow comparison of a candidate against the live model on the same
//! labelled traffic, and the promotion decision. Synchronous and pure: the daemon runs it off the
//! async runtime and feeds it data; it never touches the network, a disk or the clock.
//!
//! ## Invariants
//!
//! * **Pure.** No async, no I/O, no clock (times come in as values: event times, `created_ms`), no
//!   global state, no randomness (nothing here needs a seed: L-BFGS, coordinate descent, QR, tree
//!   growing and naive Bayes are deterministic). Same inputs ⇒ same outputs, including the bytes of
//!   an artifact (canonical JSON). One caveat is inherited from Linfa's decision tree, see the
//!   [`mod@train`] module.
//! * **Never panics on data.** Training, evaluation, artifacts and the shadow gate return
//!   `thiserror` errors ([`TrainError`], [`MetricsError`], [`ArtifactError`], [`ShadowError`]) for
//!   empty, one-class, NaN, mismatched or tampered input.
//! * **No leakage.** Validation is chronological ([`split_by_time`]); the [`Encoder`] is fitted on
//!   the training split only and saved with the model.
//! * **Checked against the references.** McNemar and Wilcoxon p-values agree with SciPy 1.17 on
//!   the fixtures in `tests/fixtures/` (exact, permutation and asymptotic branches, ties, zeros).
//!
//! ## The retraining flow, as the daemon drives it
//!
//! 1. Collect labelled [`Example`]s; [`split_by_time`] into training and validation.
//! 2. [`train()`] with an [`AlgorithmConfig`] (serde, tagged by `algorithm`) and an
//!    [`EncoderConfig`] → [`TrainedModel`] ([`TrainedModel::predict`], [`TrainedModel::predict_batch`]).
//! 3. [`evaluate`] on the validation split; [`metrics_from_predictions`] for the live model's logged
//!    predictions on the same examples; [`validation_gate`] → [`GateDecision`].
//! 4. [`Artifact::seal`] with [`ArtifactMeta`] → signed bytes to store; [`Artifact::open`] to load.
//! 5. Shadow: feed paired outcomes to a [`ShadowTally`]; [`shadow_decision`] with a
//!    [`ShadowPolicy`] → [`ShadowDecision`] (`Promote | Reject | Continue`, or `Inconclusive` from
//!    the daemon's time limit) with a serialisable [`DecisionRecord`].
//!
//! ## Map
//!
//! | module | what | entry points |
//! |---|---|---|
//! | [`data`] | examples, feature values, targets, the chronological split | [`Example`], [`Value`], [`Target`], [`split_by_time`] |
//! | [`encode`] | numeric (standardised, mean-imputed + indicator) and one-hot (capped, unknown bucket) columns | [`Encoder`], [`EncoderConfig`] |
//! | [`algorithm`] | the algorithms and their hyperparameters, validation | [`AlgorithmConfig`] |
//! | [`mod@train`] | fitting with Linfa, predicting | [`train()`], [`TrainedModel`], [`Prediction`] |
//! | [`metrics`] | accuracy, macro F1, log loss; MAE, RMSE, R²; the validation gate | [`evaluate`], [`validation_gate`] |
//! | [`artifact`] | signed artifacts (format version 1, HMAC-SHA256) | [`Artifact`], [`ArtifactMeta`] |
//! | [`stats`] | McNemar (exact / chi-square) and Wilcoxon signed-rank, SciPy-compatible | [`stats::mcnemar`], [`stats::wilcoxon`] |
//! | [`shadow`] | paired tallies and the promotion decision | [`ShadowTally`], [`shadow_decision`] |
//! | [`error`] | error types and configuration [`Problem`]s | |
//!
//! ## Example: retrain after concept drift, then shadow
//!
//! ```
//! use driftd_retrain::*;
//!
//! // The label rule flips at t = 1000: y = (x > 0) before, (x < 0) after.
//! let example = |t: i64| {
//!     let x = ((t * 7919) % 200 - 100) as f64 / 50.0; // deterministic, spread over [-2, 2)
//!     let y = if (x > 0.0) == (t < 1000) { "yes" } else { "no" };
//!     Example { ts_ms: t, features: [("x".to_owned(), Value::Number(x))].into(), target: Target::Label(y.into()), source: None }
//! };
//! let algo = AlgorithmConfig::default_for(Task::Classification);
//! let enc = EncoderConfig::default();
//! let old: Vec<Example> = (0..1000).map(example).collect();
//! let new: Vec<Example> = (1000..1600).map(example).collect();
//! let live = train(Task::Classification, &algo, &enc, &old).unwrap();
//! let (tr, va) = split_by_time(new, 0.25);
//! let candidate = train(Task::Classification, &algo, &enc, &tr).unwrap();
//! let m = evaluate(&candidate, &va).unwrap();
//! assert!(validation_gate(&m, Some(&evaluate(&live, &va).unwrap()), 0.01).pass);
//!
//! let policy = ShadowPolicy::default();
//! let mut tally = ShadowTally::new(Task::Classification, &policy);
//! for e in (1600..2000).map(example) {
//!     let truth = e.target.label().unwrap();
//!     let (l, c) = (live.predict(&e.features), candidate.predict(&e.features));
//!     tally.record_labels(e.ts_ms, truth, l.target.label().unwrap(), c.target.label().unwrap()).unwrap();
//! }
//! let d = shadow_decision(&tally, &policy);
//! assert_eq!(d.decision, Decision::Promote);
//! assert_eq!(d.record.test, Some(stats::ShadowTest::McnemarChi2));
//! ```

pub mod algorithm;
pub mod artifact;
pub mod data;
pub mod encode;
pub mod error;
pub mod metrics;
pub mod shadow;
pub mod stats;
pub mod train;

use serde::{Deserialize, Serialize};

pub use algorithm::{
    AlgorithmConfig, DecisionTreeParams, ElasticNetParams, GaussianNbParams,
    LinearRegressionParams, LogisticRegressionParams, SplitQuality,
};
pub use artifact::{
    Artifact, ArtifactMeta, ED25519_FORMAT_VERSION, FORMAT_VERSION, Signer, Verifier, key_id_hex,
};
pub use data::{Example, Features, Target, Value, split_by_time};
/// The Ed25519 key types of the signatures ([`Signer::Ed25519`], [`Verifier::with_ed25519`]).
pub use ed25519_dalek;
pub use encode::{Encoder, EncoderConfig, FeatureEncoding, MissingIndicators};
pub use error::{ArtifactError, MetricsError, Problem, ShadowError, TrainError};
pub use metrics::{
    ClassificationMetrics, GateDecision, RegressionMetrics, ValidationMetrics, evaluate,
    metrics_from_predictions, validation_gate,
};
pub use shadow::{
    Decision, DecisionRecord, PairCounts, PairTable, ShadowDecision, ShadowPolicy, ShadowTally,
    ShadowWindow, shadow_decision,
};
pub use train::{MIN_TRAINING_EXAMPLES, Prediction, TimeWindow, TrainedModel, train};

/// The kind of learning task a monitored model performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predicts a class label, optionally with a score or class probabilities.
    #[default]
    Classification,
    /// Predicts a real value.
    Regression,
}
