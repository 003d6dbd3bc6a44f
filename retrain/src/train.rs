//! Training with Linfa, and predicting with the trained model.
//!
//! [`train()`] validates the settings, checks the examples, fits the [`Encoder`] on them, fits the
//! configured Linfa algorithm and checks that the result predicts finite values on its own
//! training data. It never panics: every failure is a [`TrainError`].
//!
//! What is learned, besides Linfa's fitted model, and kept in the [`TrainedModel`]:
//!
//! * the **encoder** (training statistics only);
//! * the **classes**, sorted by name; for binary models the **positive class** whose probability is
//!   [`Prediction::score`] (by default the second class by name, so `"1"` over `"0"`, `"true"` over
//!   `"false"`, `"yes"` over `"no"`; change it with [`TrainedModel::set_positive_label`]);
//! * for `linear_regression`, the **independent columns**: least squares by QR (Linfa without BLAS)
//!   refuses a rank-deficient design, and one-hot columns next to an intercept always are one
//!   (they sum to 1). Columns that are (numerically) linear combinations of the intercept and the
//!   columns before them are left out and get weight 0, as R's `lm` does with aliased
//!   coefficients. The test is a Cholesky factorisation of the Gram matrix in column order that
//!   skips a column whose residual is below 1e-9 of its norm.
//! * for `elastic_net` with an intercept, the **training column means**: Linfa centres the target
//!   but not the columns, so its intercept is only right for centred columns; we centre them.
//!
//! Probabilities: logistic regression gives Linfa's sigmoid/softmax probabilities; Gaussian naive
//! Bayes gives the posterior computed from Linfa's joint log-likelihoods with a stable
//! log-sum-exp (Linfa's own `predict_proba` exponentiates before normalising and underflows to
//! NaN far from the class means); the decision tree gives none (Linfa does not keep leaf class
//! counts).
//!
//! **Determinism.** Training is deterministic (no randomness: L-BFGS, coordinate descent, QR and the
//! naive Bayes estimates are deterministic). One caveat from Linfa: its decision tree counts
//! classes in a `std` `HashMap` with a per-process random hasher, so when two classes tie exactly
//! in a leaf (or, with three or more classes, two splits score equally up to `f32` rounding), the
//! winner may differ between processes. A fitted tree is stored, so its predictions do not change.

use std::collections::{BTreeMap, BTreeSet};

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_bayes::{GaussianNb, NaiveBayes};
use linfa_elasticnet::ElasticNet;
use linfa_linear::{FittedLinearRegression, LinearRegression};
use linfa_logistic::{
    FittedLogisticRegression, LogisticRegression, MultiFittedLogisticRegression,
    MultiLogisticRegression,
};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::Task;
use crate::algorithm::{AlgorithmConfig, SplitQuality};
use crate::data::{Example, Features, Target};
use crate::encode::{Encoder, EncoderConfig};
use crate::error::{Problem, TrainError};

/// Fewest training examples [`train()`] accepts.
pub const MIN_TRAINING_EXAMPLES: usize = 10;

/// Relative residual below which a column counts as a linear combination of earlier ones.
const COLLINEAR_TOLERANCE: f64 = 1e-9;

/// A span of event time, in milliseconds since the Unix epoch (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Earliest event time.
    pub from_ms: i64,
    /// Latest event time.
    pub to_ms: i64,
}

/// One prediction of a [`TrainedModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The predicted label (classification) or value (regression).
    pub target: Target,
    /// Binary classifiers with probabilities (logistic regression, Gaussian naive Bayes): the
    /// probability of the positive class. `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Probability of every class, for classifiers that have them. `None` for the decision tree
    /// and for regression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<BTreeMap<String, f64>>,
}

/// Linfa's fitted model. Classes are indices into [`TrainedModel::classes`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fitted {
    BinaryLogistic(FittedLogisticRegression<f64, usize>),
    MultiLogistic(MultiFittedLogisticRegression<f64, usize>),
    DecisionTree(DecisionTree<f64, usize>),
    GaussianNb(GaussianNb<f64, usize>),
    LinearRegression(FittedLinearRegression<f64>),
    ElasticNet(ElasticNet<f64>),
}

/// Linfa's `ElasticNet` has no `PartialEq`; it is compared by its coefficients.
impl PartialEq for Fitted {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Fitted::BinaryLogistic(a), Fitted::BinaryLogistic(b)) => a == b,
            (Fitted::MultiLogistic(a), Fitted::MultiLogistic(b)) => a == b,
            (Fitted::DecisionTree(a), Fitted::DecisionTree(b)) => a == b,
            (Fitted::GaussianNb(a), Fitted::GaussianNb(b)) => a == b,
            (Fitted::LinearRegression(a), Fitted::LinearRegression(b)) => a == b,
            (Fitted::ElasticNet(a), Fitted::ElasticNet(b)) => {
                a.hyperplane() == b.hyperplane()
                    && a.intercept() == b.intercept()
                    && a.n_steps() == b.n_steps()
                    && a.duality_gap() == b.duality_gap()
            }
            _ => false,
        }
    }
}

/// What is done to the encoded columns before Linfa sees them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Design {
    /// Only these encoded columns, in this order (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    columns: Option<Vec<usize>>,
    /// Subtracted from the (selected) columns (`None`: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    center: Option<Vec<f64>>,
}

impl Design {
    fn apply(&self, x: Array2<f64>) -> Array2<f64> {
        let mut x = match &self.columns {
            Some(cols) => x.select(Axis(1), cols),
            None => x,
        };
        if let Some(c) = &self.center {
            x -= &Array1::from(c.clone());
        }
        x
    }

    fn width(&self, encoded: usize) -> usize {
        self.columns.as_ref().map_or(encoded, Vec::len)
    }
}

/// A trained model: the fitted encoder, Linfa's fitted model and what is needed to predict with
/// them and describe them. Serialisable (see [`crate::Artifact`] for the signed form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    task: Task,
    algorithm: AlgorithmConfig,
    encoder: Encoder,
    classes: Vec<String>,
    positive: Option<usize>,
    design: Design,
    fitted: Fitted,
    training_size: usize,
    training_window: TimeWindow,
}

enum Targets {
    Classes(Vec<String>, Array1<usize>),
    Values(Array1<f64>),
}

fn fit_error(algorithm: &'static str, e: impl std::fmt::Display) -> TrainError {
    TrainError::Fit {
        algorithm,
        message: e.to_string(),
    }
}

/// Trains a model for `task` with the given algorithm and encoder settings on `examples` (the
/// training split; see [`crate::split_by_time`]).
///
/// Errors: invalid settings or an algorithm for the other task ([`TrainError::InvalidConfig`],
/// every problem listed; encoder keys are prefixed `encoder.`), fewer than
/// [`MIN_TRAINING_EXAMPLES`], a target of the wrong kind, a single class, NaN/±inf in a feature or
/// target, no usable feature column, Linfa's own errors, or a model that diverged.
///
/// ```
/// use driftd_retrain::{train, AlgorithmConfig, EncoderConfig, Example, Target, Task, Value};
/// let examples: Vec<Example> = (0..40)
///     .map(|i| {
///         let x = f64::from(i) / 10.0;
///         Example {
///             ts_ms: i64::from(i),
///             features: [("x".to_owned(), Value::Number(x))].into(),
///             target: Target::Label(if x > 2.0 { "high" } else { "low" }.into()),
///             source: None,
///         }
///     })
///     .collect();
/// let algorithm = AlgorithmConfig::default_for(Task::Classification);
/// let model = train(Task::Classification, &algorithm, &EncoderConfig::default(), &examples).unwrap();
/// let p = model.predict(&[("x".to_owned(), Value::Number(3.5))].into());
/// assert_eq!(p.target, Target::Label("high".into()));
/// // Binary: the score is the probability of the positive class, the second by name ("low").
/// assert!(p.score.unwrap() < 0.5);
/// assert_eq!(model.classes(), ["high", "low"]);
/// assert_eq!(model.positive_label(), Some("low"));
/// ```
pub fn train(
    task: Task,
    algorithm: &AlgorithmConfig,
    encoder: &EncoderConfig,
    examples: &[Example],
) -> Result<TrainedModel, TrainError> {
    let mut problems = algorithm.validate_for(task);
    problems.extend(encoder.validate().into_iter().map(|p| Problem {
        key: format!("encoder.{}", p.key),
        message: p.message,
    }));
    if !problems.is_empty() {
        return Err(TrainError::InvalidConfig(problems));
    }
    if examples.len() < MIN_TRAINING_EXAMPLES {
        return Err(TrainError::TooFewExamples {
            got: examples.len(),
            need: MIN_TRAINING_EXAMPLES,
        });
    }
    let targets = collect_targets(task, examples)?;
    let enc = Encoder::fit(examples, encoder)?;
    let x = enc.encode_batch(examples.iter().map(|e| &e.features));
    if x.ncols() == 0
        || x.columns()
            .into_iter()
            .all(|c| c.iter().all(|v| *v == c[0]))
    {
        return Err(TrainError::NoUsableFeatures(
            "every encoded column is constant in the training examples".into(),
        ));
    }
    let window = TimeWindow {
        from_ms: examples.iter().map(|e| e.ts_ms).min().unwrap_or(0),
        to_ms: examples.iter().map(|e| e.ts_ms).max().unwrap_or(0),
    };
    let name = algorithm.name();
    let (classes, positive, design, fitted) = match (targets, algorithm) {
        (Targets::Classes(classes, y), algo) => {
            let positive = (classes.len() == 2).then_some(1);
            let fitted = fit_classifier(algo, &enc, x, y, classes.len())?;
            (classes, positive, Design::default(), fitted)
        }
        (Targets::Values(y), AlgorithmConfig::LinearRegression(p)) => {
            let design = Design {
                columns: Some(independent_columns(&x, p.fit_intercept)),
                center: None,
            };
            let xd = design.apply(x);
            let fitted = LinearRegression::new()
                .with_intercept(p.fit_intercept)
                .fit(&DatasetBase::new(xd, y))
                .map_err(|e| fit_error(name, e))?;
            (Vec::new(), None, design, Fitted::LinearRegression(fitted))
        }
        (Targets::Values(y), AlgorithmConfig::ElasticNet(p)) => {
            let design = Design {
                columns: None,
                center: p
                    .fit_intercept
                    .then(|| x.mean_axis(Axis(0)).map(|m| m.to_vec()))
                    .flatten(),
            };
            let xd = design.apply(x);
            let fitted = ElasticNet::params()
                .penalty(p.penalty)
                .l1_ratio(p.l1_ratio)
                .max_iterations(p.max_iterations)
                .tolerance(p.tolerance)
                .with_intercept(p.fit_intercept)
                .fit(&DatasetBase::new(xd, y))
                .map_err(|e| fit_error(name, e))?;
            (Vec::new(), None, design, Fitted::ElasticNet(fitted))
        }
        (Targets::Values(_), _) => unreachable_task(algorithm, task)?,
    };
    let model = TrainedModel {
        task,
        algorithm: algorithm.clone(),
        encoder: enc,
        classes,
        positive,
        design,
        fitted,
        training_size: examples.len(),
        training_window: window,
    };
    // A model that predicts NaN/inf on its own training data has diverged: refuse it here rather
    // than let it reach the shadow gate.
    let check = model.raw_predict(
        model
            .encoder
            .encode_batch(examples.iter().map(|e| &e.features)),
    );
    if !check.is_finite() {
        return Err(TrainError::Diverged(name));
    }
    Ok(model)
}

/// `validate_for` already refused an algorithm of the other task; this keeps the match total.
fn unreachable_task<T>(algorithm: &AlgorithmConfig, task: Task) -> Result<T, TrainError> {
    Err(TrainError::WrongTask {
        algorithm: algorithm.name(),
        task,
    })
}

fn collect_targets(task: Task, examples: &[Example]) -> Result<Targets, TrainError> {
    match task {
        Task::Classification => {
            let mut labels = Vec::with_capacity(examples.len());
            for (index, e) in examples.iter().enumerate() {
                match &e.target {
                    Target::Label(l) => labels.push(l.as_str()),
                    t @ Target::Value(_) => {
                        return Err(TrainError::TargetMismatch {
                            index,
                            found: t.kind(),
                            task,
                        });
                    }
                }
            }
            let classes: Vec<String> = labels
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(str::to_owned)
                .collect();
            if classes.len() < 2 {
                return Err(TrainError::OneClass(classes.concat()));
            }
            let y = labels
                .iter()
                .map(|l| classes.binary_search_by(|c| c.as_str().cmp(l)).unwrap_or(0))
                .collect();
            Ok(Targets::Classes(classes, y))
        }
        Task::Regression => {
            let mut y = Vec::with_capacity(examples.len());
            for (index, e) in examples.iter().enumerate() {
                match &e.target {
                    Target::Value(v) if v.is_finite() => y.push(*v),
                    Target::Value(_) => {
                        return Err(TrainError::NonFinite {
                            index,
                            field: "target".into(),
                        });
                    }
                    t @ Target::Label(_) => {
                        return Err(TrainError::TargetMismatch {
                            index,
                            found: t.kind(),
                            task,
                        });
                    }
                }
            }
            Ok(Targets::Values(Array1::from(y)))
        }
    }
}

fn fit_classifier(
    algorithm: &AlgorithmConfig,
    enc: &Encoder,
    x: Array2<f64>,
    y: Array1<usize>,
    n_classes: usize,
) -> Result<Fitted, TrainError> {
    let name = algorithm.name();
    let ds = DatasetBase::new(x, y).with_feature_names(enc.columns().to_vec());
    Ok(match algorithm {
        AlgorithmConfig::LogisticRegression(p) if n_classes == 2 => Fitted::BinaryLogistic(
            LogisticRegression::default()
                .alpha(p.alpha)
                .max_iterations(p.max_iterations)
                .gradient_tolerance(p.gradient_tolerance)
                .fit(&ds)
                .map_err(|e| fit_error(name, e))?,
        ),
        AlgorithmConfig::LogisticRegression(p) => Fitted::MultiLogistic(
            MultiLogisticRegression::default()
                .alpha(p.alpha)
                .max_iterations(p.max_iterations)
                .gradient_tolerance(p.gradient_tolerance)
                .fit(&ds)
                .map_err(|e| fit_error(name, e))?,
        ),
        AlgorithmConfig::DecisionTree(p) => Fitted::DecisionTree(
            DecisionTree::params()
                .split_quality(match p.split_quality {
                    SplitQuality::Gini => linfa_trees::SplitQuality::Gini,
                    SplitQuality::Entropy => linfa_trees::SplitQuality::Entropy,
                })
                .max_depth(p.max_depth)
                .min_weight_split(p.min_weight_split)
                .min_weight_leaf(p.min_weight_leaf)
                .min_impurity_decrease(p.min_impurity_decrease)
                .fit(&ds)
                .map_err(|e| fit_error(name, e))?,
        ),
        AlgorithmConfig::GaussianNb(p) => Fitted::GaussianNb(
            GaussianNb::params()
                .var_smoothing(p.var_smoothing)
                .fit(&ds)
                .map_err(|e| fit_error(name, e))?,
        ),
        AlgorithmConfig::LinearRegression(_) | AlgorithmConfig::ElasticNet(_) => {
            return unreachable_task(algorithm, Task::Classification);
        }
    })
}

/// Indices of a maximal set of linearly independent columns, in column order, after the intercept
/// (when there is one): a Cholesky factorisation of the Gram matrix `[1 | X]ᵀ[1 | X]` that skips
/// columns whose squared residual is below `COLLINEAR_TOLERANCE` of their squared norm.
/// Written here because Linfa has no rank-revealing least squares without BLAS.
fn independent_columns(x: &Array2<f64>, intercept: bool) -> Vec<usize> {
    let design = if intercept {
        ndarray::concatenate(Axis(1), &[Array2::ones((x.nrows(), 1)).view(), x.view()])
            .unwrap_or_else(|_| x.clone())
    } else {
        x.clone()
    };
    let offset = usize::from(intercept && design.ncols() == x.ncols() + 1);
    let gram = design.t().dot(&design);
    // Rows of the Cholesky factor for the kept columns: (design column, row of L over kept).
    let mut kept: Vec<(usize, Vec<f64>)> = Vec::new();
    for j in 0..gram.ncols() {
        let d = gram[[j, j]];
        if d <= 0.0 || !d.is_finite() {
            continue;
        }
        let mut row = Vec::with_capacity(kept.len() + 1);
        for (k, (col_k, row_k)) in kept.iter().enumerate() {
            let dot: f64 = row.iter().zip(row_k).map(|(a, b)| a * b).sum();
            row.push((gram[[j, *col_k]] - dot) / row_k[k]);
        }
        let r = d - row.iter().map(|v| v * v).sum::<f64>();
        if r > COLLINEAR_TOLERANCE * d {
            row.push(r.sqrt());
            kept.push((j, row));
        }
    }
    kept.into_iter()
        .filter(|(j, _)| *j >= offset)
        .map(|(j, _)| j - offset)
        .collect()
}

/// Linfa keeps the naive Bayes class statistics private; their serde form shows them. Every class
/// must be known and every mean/variance vector as wide as the design.
fn nb_consistent(m: &GaussianNb<f64, usize>, k: usize, width: usize) -> bool {
    let Ok(v) = serde_json::to_value(m) else {
        return false;
    };
    let Some(info) = v.get("class_info").and_then(|i| i.as_object()) else {
        return false;
    };
    info.iter().all(|(class, stats)| {
        class.parse::<usize>().is_ok_and(|c| c < k)
            && ["theta", "sigma"].iter().all(|key| {
                stats
                    .get(key)
                    .and_then(|a| a.get("dim"))
                    .and_then(|d| d.get(0))
                    .and_then(serde_json::Value::as_u64)
                    .is_some_and(|d| d as usize == width)
            })
    })
}

/// Raw outputs for a batch: class indices with optional probabilities, or values.
enum Raw {
    Classes(Vec<usize>, Option<Array2<f64>>),
    Values(Array1<f64>),
}

impl Raw {
    fn is_finite(&self) -> bool {
        match self {
            Raw::Classes(_, Some(p)) => p.iter().all(|v| v.is_finite()),
            Raw::Classes(_, None) => true,
            Raw::Values(v) => v.iter().all(|v| v.is_finite()),
        }
    }
}

/// Row-wise softmax of log-likelihoods, stable (the largest is subtracted first).
fn softmax_rows(mut m: Array2<f64>) -> Array2<f64> {
    for mut row in m.rows_mut() {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    m
}

fn argmax_rows(p: &Array2<f64>) -> Vec<usize> {
    p.rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, v)| {
                    if *v > best.1 { (i, *v) } else { best }
                })
                .0
        })
        .collect()
}

impl TrainedModel {
    fn raw_predict(&self, encoded: Array2<f64>) -> Raw {
        let x = self.design.apply(encoded);
        let k = self.classes.len();
        match &self.fitted {
            Fitted::BinaryLogistic(m) => {
                let p_pos = m.predict_probabilities(&x);
                // Linfa's "positive" class is its own choice (the more frequent one), not ours.
                let pos = m.labels().pos.class.min(1);
                let neg = 1 - pos;
                let mut probs = Array2::zeros((x.nrows(), 2));
                let mut predicted = Vec::with_capacity(x.nrows());
                for (i, p) in p_pos.iter().enumerate() {
                    probs[[i, pos]] = *p;
                    probs[[i, neg]] = 1.0 - p;
                    // Linfa's rule: its positive class from a probability of 0.5 on.
                    predicted.push(if *p >= 0.5 { pos } else { neg });
                }
                Raw::Classes(predicted, Some(probs))
            }
            Fitted::MultiLogistic(m) => {
                let probs = m.predict_probabilities(&x);
                Raw::Classes(argmax_rows(&probs), Some(probs))
            }
            Fitted::DecisionTree(m) => {
                let y: Array1<usize> = m.predict(&x);
                Raw::Classes(y.to_vec(), None)
            }
            Fitted::GaussianNb(m) => {
                let jll = m.joint_log_likelihood(x.view());
                let mut ll = Array2::from_elem((x.nrows(), k), f64::NEG_INFINITY);
                for (class, col) in jll {
                    if *class < k {
                        ll.column_mut(*class).assign(&col);
                    }
                }
                let probs = softmax_rows(ll);
                Raw::Classes(argmax_rows(&probs), Some(probs))
            }
            Fitted::LinearRegression(m) => Raw::Values(m.predict(&x)),
            Fitted::ElasticNet(m) => Raw::Values(m.predict(&x)),
        }
    }

    fn to_predictions(&self, raw: Raw) -> Vec<Prediction> {
        match raw {
            Raw::Values(v) => v
                .into_iter()
                .map(|v| Prediction {
                    target: Target::Value(v),
                    score: None,
                    probabilities: None,
                })
                .collect(),
            Raw::Classes(classes, probs) => classes
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let row = probs.as_ref().map(|p| p.row(i));
                    Prediction {
                        target: Target::Label(self.classes.get(c).cloned().unwrap_or_default()),
                        score: self.positive.zip(row).map(|(pos, r)| r[pos]),
                        probabilities: row.map(|r| {
                            self.classes
                                .iter()
                                .cloned()
                                .zip(r.iter().copied())
                                .collect()
                        }),
                    }
                })
                .collect(),
        }
    }

    /// Predicts one example.
    pub fn predict(&self, features: &Features) -> Prediction {
        self.predict_batch(std::slice::from_ref(features))
            .pop()
            .unwrap_or(Prediction {
                target: Target::Value(f64::NAN),
                score: None,
                probabilities: None,
            })
    }

    /// Predicts many examples at once (one matrix product instead of one per row).
    pub fn predict_batch(&self, rows: &[Features]) -> Vec<Prediction> {
        self.predict_rows(rows)
    }

    /// [`predict_batch`](Self::predict_batch) over borrowed rows (no copies of the features).
    pub fn predict_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = &'a Features>,
    ) -> Vec<Prediction> {
        let x = self.encoder.encode_batch(rows);
        self.to_predictions(self.raw_predict(x))
    }

    /// The model's task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The algorithm and hyperparameters it was trained with.
    pub fn algorithm(&self) -> &AlgorithmConfig {
        &self.algorithm
    }

    /// The fitted encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Encoded column names (see [`Encoder::columns`]).
    pub fn columns(&self) -> &[String] {
        self.encoder.columns()
    }

    /// The classes, sorted by name (empty for regression).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The class whose probability is [`Prediction::score`] (binary classifiers only).
    pub fn positive_label(&self) -> Option<&str> {
        self.positive
            .and_then(|i| self.classes.get(i))
            .map(String::as_str)
    }

    /// Makes `label` the positive class of a binary classifier (the daemon's `positive_label`).
    pub fn set_positive_label(&mut self, label: &str) -> Result<(), TrainError> {
        if self.classes.len() != 2 {
            return Err(TrainError::PositiveLabel(format!(
                "positive label needs a binary classifier; this model has {} classes",
                self.classes.len()
            )));
        }
        match self.classes.iter().position(|c| c == label) {
            Some(i) => {
                self.positive = Some(i);
                Ok(())
            }
            None => Err(TrainError::PositiveLabel(format!(
                "{label:?} is not one of the classes {:?}",
                self.classes
            ))),
        }
    }

    /// Number of training examples.
    pub fn training_size(&self) -> usize {
        self.training_size
    }

    /// Event-time span of the training examples.
    pub fn training_window(&self) -> TimeWindow {
        self.training_window
    }

    /// Encoded columns left out of a linear regression because they are linear combinations of
    /// the others (their coefficient is 0). Empty for other algorithms.
    pub fn aliased_columns(&self) -> Vec<&str> {
        match &self.design.columns {
            Some(cols) => self
                .encoder
                .columns()
                .iter()
                .enumerate()
                .filter(|(i, _)| !cols.contains(i))
                .map(|(_, c)| c.as_str())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Checks that the parts of a deserialised model fit together (column counts, classes), so
    /// that predicting cannot hit an assertion inside Linfa. [`crate::Artifact::open`] calls it.
    pub fn check_consistency(&self) -> Result<(), String> {
        let width = self.design.width(self.encoder.width());
        if let Some(cols) = &self.design.columns
            && cols.iter().any(|c| *c >= self.encoder.width())
        {
            return Err("design selects a column beyond the encoder's".into());
        }
        if let Some(c) = &self.design.center
            && c.len() != width
        {
            return Err("design centre has the wrong length".into());
        }
        let k = self.classes.len();
        let ok = match (&self.fitted, self.task) {
            (Fitted::BinaryLogistic(m), Task::Classification) => {
                k == 2 && m.params().len() == width && m.labels().pos.class < 2
            }
            (Fitted::MultiLogistic(m), Task::Classification) => {
                m.params().nrows() == width && m.classes().len() == k
            }
            (Fitted::DecisionTree(m), Task::Classification) => {
                k >= 2
                    && m.iter_nodes().all(|node| match node.prediction() {
                        Some(class) => class < k,
                        None => node.split().0 < width,
                    })
            }
            (Fitted::GaussianNb(m), Task::Classification) => k >= 2 && nb_consistent(m, k, width),
            (Fitted::LinearRegression(m), Task::Regression) => m.params().len() == width,
            (Fitted::ElasticNet(m), Task::Regression) => m.hyperplane().len() == width,
            _ => false,
        };
        if !ok {
            return Err("fitted model does not match the encoder, classes or task".into());
        }
        if self.positive.is_some_and(|p| p >= k) {
            return Err("positive class out of range".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn independent_columns_drop_aliases() {
        // c2 = c0 + c1 (one-hot pair sums to 1 = intercept); c3 is zero.
        let x = array![
            [1.0, 0.0, 2.0, 0.0],
            [0.0, 1.0, 3.0, 0.0],
            [1.0, 0.0, 5.0, 0.0],
            [0.0, 1.0, 1.0, 0.0]
        ];
        // With an intercept, column 1 = 1 - column 0 is aliased.
        assert_eq!(independent_columns(&x, true), vec![0, 2]);
        assert_eq!(independent_columns(&x, false), vec![0, 1, 2]);
    }

    #[test]
    fn softmax_is_stable() {
        let p = softmax_rows(array![[-1000.0, -1001.0], [0.0, f64::NEG_INFINITY]]);
        assert!((p[[0, 0]] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-15);
        assert_eq!(p.row(1).to_vec(), [1.0, 0.0]);
    }
}
