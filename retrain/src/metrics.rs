//! Validation metrics and the validation gate.
//!
//! [`evaluate`] scores a trained model on the validation split; [`metrics_from_predictions`]
//! scores any predictions (e.g. the live model's logged ones on the same examples), so candidate
//! and live can be compared on equal terms by [`validation_gate`].
//!
//! * Classification: accuracy; macro F1 over the union of true and predicted labels
//!   (scikit-learn's default; F1 of a class = `2·tp / (2·tp + fp + fn)`); log loss (natural log,
//!   probabilities clipped to `[1e-15, 1 − 1e-15]`) when every prediction carries probabilities.
//! * Regression: MAE, RMSE, R² (`None` when the truths are constant).
//!
//! **The gate** compares the candidate with the live model on the same validation examples: the
//! candidate passes unless it is worse by more than `max_worse` — in accuracy *points* for
//! classification (`candidate.accuracy ≥ live.accuracy − max_worse`), *relative* MAE for
//! regression (`candidate.mae ≤ live.mae · (1 + max_worse)`). Without live metrics (first model)
//! it passes. The gate only keeps an obviously bad candidate out of the shadow phase; the shadow
//! gate ([`crate::shadow_decision`]) decides promotion on live traffic.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::data::{Example, Target};
use crate::error::MetricsError;
use crate::train::{Prediction, TrainedModel};

/// Probabilities are clipped to `[LOG_LOSS_EPS, 1 − LOG_LOSS_EPS]` for the log loss.
pub const LOG_LOSS_EPS: f64 = 1e-15;

/// Metrics of a classifier on labelled examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    /// Number of examples.
    pub n: usize,
    /// Share predicted right.
    pub accuracy: f64,
    /// Unweighted mean F1 over the classes present in truths or predictions.
    pub macro_f1: f64,
    /// Mean negative log-likelihood of the true class, when every prediction has probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
}

/// Metrics of a regressor on labelled examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Number of examples.
    pub n: usize,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination; `None` when the truths are constant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
}

/// Validation metrics of a model. In JSON, tagged by `task`:
/// `{"task": "classification", "n": 500, "accuracy": 0.93, "macro_f1": 0.92, "log_loss": 0.2}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum ValidationMetrics {
    /// Classification metrics.
    Classification(ClassificationMetrics),
    /// Regression metrics.
    Regression(RegressionMetrics),
}

impl ValidationMetrics {
    /// Number of examples the metrics are computed on.
    pub fn n(&self) -> usize {
        match self {
            ValidationMetrics::Classification(m) => m.n,
            ValidationMetrics::Regression(m) => m.n,
        }
    }
}

/// Scores `model` on labelled `examples` (normally the validation split).
pub fn evaluate(
    model: &TrainedModel,
    examples: &[Example],
) -> Result<ValidationMetrics, MetricsError> {
    let predictions = model.predict_rows(examples.iter().map(|e| &e.features));
    let truths: Vec<Target> = examples.iter().map(|e| e.target.clone()).collect();
    metrics_from_predictions(&truths, &predictions)
}

/// Scores predictions against truths (same length, same kind: labels or values).
pub fn metrics_from_predictions(
    truths: &[Target],
    predictions: &[Prediction],
) -> Result<ValidationMetrics, MetricsError> {
    if truths.len() != predictions.len() {
        return Err(MetricsError::LengthMismatch {
            truths: truths.len(),
            predictions: predictions.len(),
        });
    }
    match truths.first() {
        None => Err(MetricsError::Empty),
        Some(Target::Label(_)) => classification(truths, predictions),
        Some(Target::Value(_)) => regression(truths, predictions),
    }
}

fn classification(
    truths: &[Target],
    predictions: &[Prediction],
) -> Result<ValidationMetrics, MetricsError> {
    let n = truths.len();
    let mut correct = 0usize;
    // class -> (tp, fp, fn)
    let mut counts: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let mut log_loss_sum = 0.0;
    let mut all_probabilities = true;
    for (index, (t, p)) in truths.iter().zip(predictions).enumerate() {
        let (Target::Label(truth), Target::Label(pred)) = (t, &p.target) else {
            return Err(MetricsError::KindMismatch { index });
        };
        if truth == pred {
            correct += 1;
            counts.entry(truth).or_default().0 += 1;
        } else {
            counts.entry(pred).or_default().1 += 1;
            counts.entry(truth).or_default().2 += 1;
        }
        match &p.probabilities {
            Some(probs) if all_probabilities => {
                let q = probs.get(truth.as_str()).copied().unwrap_or(0.0);
                let q = if q.is_finite() { q } else { 0.0 };
                log_loss_sum -= q.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS).ln();
            }
            _ => all_probabilities = false,
        }
    }
    let classes: BTreeSet<&str> = counts.keys().copied().collect();
    let macro_f1 = classes
        .iter()
        .map(|c| {
            let (tp, fp, fn_) = counts[c];
            let denom = 2 * tp + fp + fn_;
            if denom == 0 {
                0.0
            } else {
                (2 * tp) as f64 / denom as f64
            }
        })
        .sum::<f64>()
        / classes.len() as f64;
    Ok(ValidationMetrics::Classification(ClassificationMetrics {
        n,
        accuracy: correct as f64 / n as f64,
        macro_f1,
        log_loss: all_probabilities.then(|| log_loss_sum / n as f64),
    }))
}

fn regression(
    truths: &[Target],
    predictions: &[Prediction],
) -> Result<ValidationMetrics, MetricsError> {
    let n = truths.len();
    let mut pairs = Vec::with_capacity(n);
    for (index, (t, p)) in truths.iter().zip(predictions).enumerate() {
        let (Target::Value(y), Target::Value(yhat)) = (t, &p.target) else {
            return Err(MetricsError::KindMismatch { index });
        };
        if !(y.is_finite() && yhat.is_finite()) {
            return Err(MetricsError::NonFinite { index });
        }
        pairs.push((*y, *yhat));
    }
    let nf = n as f64;
    let mae = pairs.iter().map(|(y, p)| (y - p).abs()).sum::<f64>() / nf;
    let sse = pairs.iter().map(|(y, p)| (y - p) * (y - p)).sum::<f64>();
    let mean = pairs.iter().map(|(y, _)| y).sum::<f64>() / nf;
    let sst = pairs
        .iter()
        .map(|(y, _)| (y - mean) * (y - mean))
        .sum::<f64>();
    Ok(ValidationMetrics::Regression(RegressionMetrics {
        n,
        mae,
        rmse: (sse / nf).sqrt(),
        r2: (sst > 0.0).then(|| 1.0 - sse / sst),
    }))
}

/// The validation gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    /// Whether the candidate may go on (to the shadow phase).
    pub pass: bool,
    /// Why, with the numbers.
    pub reason: String,
}

/// The validation gate: the candidate must not be worse than the live model by more than
/// `max_worse` (accuracy points for classification, relative MAE for regression). Passes when there
/// are no live metrics. Fails on metrics of different tasks or an invalid `max_worse` (NaN or
/// negative).
///
/// ```
/// use driftd_retrain::{validation_gate, ClassificationMetrics, ValidationMetrics};
/// let m = |accuracy| ValidationMetrics::Classification(ClassificationMetrics {
///     n: 1000, accuracy, macro_f1: accuracy, log_loss: None,
/// });
/// assert!(validation_gate(&m(0.895), Some(&m(0.90)), 0.01).pass);
/// assert!(!validation_gate(&m(0.88), Some(&m(0.90)), 0.01).pass);
/// assert!(validation_gate(&m(0.5), None, 0.01).pass);
/// ```
pub fn validation_gate(
    candidate: &ValidationMetrics,
    live: Option<&ValidationMetrics>,
    max_worse: f64,
) -> GateDecision {
    let decide = |pass: bool, reason: String| GateDecision { pass, reason };
    if max_worse.is_nan() || max_worse < 0.0 {
        return decide(
            false,
            format!("invalid max_worse {max_worse} (must be >= 0)"),
        );
    }
    let Some(live) = live else {
        return decide(
            true,
            "no live model metrics to compare with: the candidate passes".into(),
        );
    };
    match (candidate, live) {
        (ValidationMetrics::Classification(c), ValidationMetrics::Classification(l)) => {
            let floor = l.accuracy - max_worse;
            let pass = c.accuracy >= floor;
            decide(
                pass,
                format!(
                    "candidate accuracy {:.4} {} live {:.4} - {max_worse} = {floor:.4}",
                    c.accuracy,
                    if pass { ">=" } else { "<" },
                    l.accuracy
                ),
            )
        }
        (ValidationMetrics::Regression(c), ValidationMetrics::Regression(l)) => {
            let ceiling = l.mae * (1.0 + max_worse);
            let pass = c.mae <= ceiling;
            decide(
                pass,
                format!(
                    "candidate MAE {:.6} {} live {:.6} x (1 + {max_worse}) = {ceiling:.6}",
                    c.mae,
                    if pass { "<=" } else { ">" },
                    l.mae
                ),
            )
        }
        _ => decide(
            false,
            "candidate and live metrics are for different tasks".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(l: &str) -> Target {
        Target::Label(l.into())
    }

    fn pred(l: &str, probs: Option<&[(&str, f64)]>) -> Prediction {
        Prediction {
            target: label(l),
            score: None,
            probabilities: probs.map(|p| p.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()),
        }
    }

    #[test]
    fn classification_metrics_match_sklearn() {
        // sklearn: accuracy_score = 0.6, f1_score(average="macro") = 0.5666..., log_loss below.
        let truths = [label("a"), label("a"), label("b"), label("b"), label("c")];
        let preds = [
            pred("a", Some(&[("a", 0.9), ("b", 0.1)])),
            pred("b", Some(&[("a", 0.4), ("b", 0.6)])),
            pred("b", Some(&[("a", 0.2), ("b", 0.8)])),
            pred("b", Some(&[("a", 0.3), ("b", 0.7)])),
            pred("a", Some(&[("a", 0.5), ("b", 0.5)])),
        ];
        let ValidationMetrics::Classification(m) =
            metrics_from_predictions(&truths, &preds).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.n, 5);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        // a: tp1 fp1 fn1 → 0.5; b: tp2 fp1 fn0 → 0.8; c: tp0 fp0 fn1 → 0.
        assert!((m.macro_f1 - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-12);
        let want = -(0.9f64.ln() + 0.4f64.ln() + 0.8f64.ln() + 0.7f64.ln() + 1e-15f64.ln()) / 5.0;
        assert!((m.log_loss.unwrap() - want).abs() < 1e-12);
        // One prediction without probabilities: no log loss.
        let mut preds = preds;
        preds[2].probabilities = None;
        let ValidationMetrics::Classification(m) =
            metrics_from_predictions(&truths, &preds).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.log_loss, None);
    }

    #[test]
    fn regression_metrics() {
        let truths: Vec<Target> = [1.0, 2.0, 3.0, 4.0].map(Target::Value).to_vec();
        let preds: Vec<Prediction> = [1.5, 2.0, 2.0, 5.0]
            .map(|v| Prediction {
                target: Target::Value(v),
                score: None,
                probabilities: None,
            })
            .to_vec();
        let ValidationMetrics::Regression(m) = metrics_from_predictions(&truths, &preds).unwrap()
        else {
            panic!()
        };
        assert!((m.mae - 0.625).abs() < 1e-12);
        assert!((m.rmse - (2.25f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((m.r2.unwrap() - (1.0 - 2.25 / 5.0)).abs() < 1e-12);
        let constant: Vec<Target> = [2.0; 4].map(Target::Value).to_vec();
        let ValidationMetrics::Regression(m) = metrics_from_predictions(&constant, &preds).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.r2, None);
    }

    #[test]
    fn metric_errors() {
        assert_eq!(metrics_from_predictions(&[], &[]), Err(MetricsError::Empty));
        assert!(matches!(
            metrics_from_predictions(&[label("a")], &[]),
            Err(MetricsError::LengthMismatch { .. })
        ));
        let p = Prediction {
            target: Target::Value(1.0),
            score: None,
            probabilities: None,
        };
        assert_eq!(
            metrics_from_predictions(&[label("a")], &[p]),
            Err(MetricsError::KindMismatch { index: 0 })
        );
    }

    #[test]
    fn gate_rules() {
        let r = |mae| {
            ValidationMetrics::Regression(RegressionMetrics {
                n: 100,
                mae,
                rmse: mae,
                r2: None,
            })
        };
        assert!(validation_gate(&r(1.04), Some(&r(1.0)), 0.05).pass);
        let d = validation_gate(&r(1.06), Some(&r(1.0)), 0.05);
        assert!(!d.pass);
        assert!(
            d.reason.contains("candidate MAE 1.060000 > live"),
            "{}",
            d.reason
        );
        assert!(validation_gate(&r(0.5), Some(&r(1.0)), 0.0).pass);
        assert!(!validation_gate(&r(0.5), Some(&r(1.0)), f64::NAN).pass);
        assert!(!validation_gate(&r(0.5), Some(&r(1.0)), -0.1).pass);
        let c = ValidationMetrics::Classification(ClassificationMetrics {
            n: 10,
            accuracy: 0.9,
            macro_f1: 0.9,
            log_loss: None,
        });
        let d = validation_gate(&c, Some(&r(1.0)), 0.1);
        assert!(!d.pass && d.reason.contains("different tasks"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["task"], "classification");
        assert_eq!(
            serde_json::from_value::<ValidationMetrics>(json).unwrap(),
            c
        );
    }
}
