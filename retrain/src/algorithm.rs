//! Which Linfa algorithm to train, with its hyperparameters: a serde enum tagged by `algorithm`.
//!
//! ```toml
//! algorithm = "logistic_regression"
//! alpha = 1.0
//! ```
//!
//! | `algorithm` | task | Linfa | hyperparameters (defaults) |
//! |---|---|---|---|
//! | `logistic_regression` | classification | `linfa-logistic`: binary `LogisticRegression` with 2 classes, `MultiLogisticRegression` (softmax) with more | `alpha` L2 penalty (1.0), `max_iterations` of L-BFGS (100), `gradient_tolerance` (1e-4) |
//! | `decision_tree` | classification | `linfa-trees` `DecisionTree` | `max_depth` (10; `null` = unbounded), `min_weight_split` (2), `min_weight_leaf` (1), `min_impurity_decrease` (1e-5), `split_quality` `gini`/`entropy` (`gini`) |
//! | `gaussian_nb` | classification | `linfa-bayes` `GaussianNb` | `var_smoothing` (1e-9, share of the largest column variance added to every variance) |
//! | `linear_regression` | regression | `linfa-linear` `LinearRegression` (least squares by QR) | `fit_intercept` (true) |
//! | `elastic_net` | regression | `linfa-elasticnet` `ElasticNet` (coordinate descent) | `penalty` (0.01), `l1_ratio` (0.5; 1 = lasso, 0 = ridge), `max_iterations` (1000), `tolerance` (1e-4), `fit_intercept` (true) |
//!
//! Defaults are Linfa's except two, chosen for a daemon: the tree's `max_depth` is 10 (Linfa:
//! unbounded, which lets artifacts grow with the data) and the elastic net's `penalty` is 0.01
//! (Linfa and scikit-learn: 1.0, which on standardised features shrinks most coefficients to
//! zero). Linfa's objectives: logistic regression minimises the *summed* log loss plus
//! `alpha/2·‖w‖²`; the elastic net minimises `1/(2n)·‖y − Xw‖² + penalty·(l1_ratio·‖w‖₁ +
//! (1 − l1_ratio)/2·‖w‖²)` (scikit-learn's).

use serde::{Deserialize, Serialize};

use crate::Task;
use crate::error::Problem;

/// The algorithm to train and its hyperparameters. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum AlgorithmConfig {
    /// Logistic regression (classification).
    LogisticRegression(LogisticRegressionParams),
    /// A CART decision tree (classification).
    DecisionTree(DecisionTreeParams),
    /// Gaussian naive Bayes (classification).
    GaussianNb(GaussianNbParams),
    /// Ordinary least squares (regression).
    LinearRegression(LinearRegressionParams),
    /// Elastic net (regression).
    ElasticNet(ElasticNetParams),
}

/// Hyperparameters of `logistic_regression`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticRegressionParams {
    /// L2 penalty weight (`alpha/2·‖w‖²` added to the summed log loss); `>= 0`. Default 1.0.
    pub alpha: f64,
    /// Most L-BFGS iterations; 1 to 100,000. Default 100.
    pub max_iterations: u64,
    /// Stop when the gradient norm falls below this; `> 0`. Default 1e-4.
    pub gradient_tolerance: f64,
}

impl Default for LogisticRegressionParams {
    fn default() -> Self {
        LogisticRegressionParams {
            alpha: 1.0,
            max_iterations: 100,
            gradient_tolerance: 1e-4,
        }
    }
}

/// How a decision tree measures the quality of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitQuality {
    /// Gini impurity (default).
    #[default]
    Gini,
    /// Entropy (information gain).
    Entropy,
}

/// Hyperparameters of `decision_tree`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionTreeParams {
    /// Deepest level of the tree (1 to 64), `null` for unbounded. Default 10.
    pub max_depth: Option<usize>,
    /// Fewest (weighted) examples a node needs to be split; `>= 0`. Default 2.
    pub min_weight_split: f32,
    /// Fewest (weighted) examples each side of a split must keep; `>= 1` (Linfa's impurity
    /// function panics on an empty side, which 0 would allow). Default 1.
    pub min_weight_leaf: f32,
    /// Smallest impurity decrease a split must bring; `> 0` (Linfa's rule). Default 1e-5.
    pub min_impurity_decrease: f64,
    /// `gini` or `entropy`. Default `gini`.
    pub split_quality: SplitQuality,
}

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams {
            max_depth: Some(10),
            min_weight_split: 2.0,
            min_weight_leaf: 1.0,
            min_impurity_decrease: 1e-5,
            split_quality: SplitQuality::Gini,
        }
    }
}

/// Hyperparameters of `gaussian_nb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaussianNbParams {
    /// Share of the largest column variance added to every variance, for stability; `> 0`.
    /// Default 1e-9 (scikit-learn's).
    pub var_smoothing: f64,
}

impl Default for GaussianNbParams {
    fn default() -> Self {
        GaussianNbParams {
            var_smoothing: 1e-9,
        }
    }
}

/// Hyperparameters of `linear_regression`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearRegressionParams {
    /// Fit an intercept. Default true.
    pub fit_intercept: bool,
}

impl Default for LinearRegressionParams {
    fn default() -> Self {
        LinearRegressionParams {
            fit_intercept: true,
        }
    }
}

/// Hyperparameters of `elastic_net`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticNetParams {
    /// Overall penalty weight; `>= 0`. Default 0.01.
    pub penalty: f64,
    /// Share of the penalty that is L1, in `[0, 1]`. Default 0.5.
    pub l1_ratio: f64,
    /// Most coordinate-descent sweeps; 1 to 1,000,000. Default 1000.
    pub max_iterations: u32,
    /// Convergence tolerance; `> 0`. Default 1e-4.
    pub tolerance: f64,
    /// Fit an intercept. Default true.
    pub fit_intercept: bool,
}

impl Default for ElasticNetParams {
    fn default() -> Self {
        ElasticNetParams {
            penalty: 0.01,
            l1_ratio: 0.5,
            max_iterations: 1000,
            tolerance: 1e-4,
            fit_intercept: true,
        }
    }
}

impl AlgorithmConfig {
    /// The default algorithm for a task: logistic regression for classification, linear
    /// regression for regression.
    pub fn default_for(task: Task) -> AlgorithmConfig {
        match task {
            Task::Classification => AlgorithmConfig::LogisticRegression(Default::default()),
            Task::Regression => AlgorithmConfig::LinearRegression(Default::default()),
        }
    }

    /// The `algorithm` tag, e.g. `logistic_regression`.
    pub fn name(&self) -> &'static str {
        match self {
            AlgorithmConfig::LogisticRegression(_) => "logistic_regression",
            AlgorithmConfig::DecisionTree(_) => "decision_tree",
            AlgorithmConfig::GaussianNb(_) => "gaussian_nb",
            AlgorithmConfig::LinearRegression(_) => "linear_regression",
            AlgorithmConfig::ElasticNet(_) => "elastic_net",
        }
    }

    /// The task this algorithm solves.
    pub fn task(&self) -> Task {
        match self {
            AlgorithmConfig::LogisticRegression(_)
            | AlgorithmConfig::DecisionTree(_)
            | AlgorithmConfig::GaussianNb(_) => Task::Classification,
            AlgorithmConfig::LinearRegression(_) | AlgorithmConfig::ElasticNet(_) => {
                Task::Regression
            }
        }
    }

    /// The hyperparameters as JSON (the tagged form, as in the configuration).
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising plain structs of numbers and strings into a `Value` cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Every problem with the hyperparameters (empty when valid). Keys are the field names.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        match self {
            AlgorithmConfig::LogisticRegression(c) => {
                non_negative(&mut p, "alpha", c.alpha);
                if !(1..=100_000).contains(&c.max_iterations) {
                    p.push(Problem::new(
                        "max_iterations",
                        format!("must be between 1 and 100000, got {}", c.max_iterations),
                    ));
                }
                positive(&mut p, "gradient_tolerance", c.gradient_tolerance);
            }
            AlgorithmConfig::DecisionTree(c) => {
                if let Some(d) = c.max_depth
                    && !(1..=64).contains(&d)
                {
                    p.push(Problem::new(
                        "max_depth",
                        format!("must be between 1 and 64 (or null for unbounded), got {d}"),
                    ));
                }
                non_negative(&mut p, "min_weight_split", f64::from(c.min_weight_split));
                if !(c.min_weight_leaf.is_finite() && c.min_weight_leaf >= 1.0) {
                    p.push(Problem::new(
                        "min_weight_leaf",
                        format!("must be a finite number >= 1, got {}", c.min_weight_leaf),
                    ));
                }
                // Linfa refuses a decrease below machine epsilon.
                if !(c.min_impurity_decrease.is_finite() && c.min_impurity_decrease >= f64::EPSILON)
                {
                    p.push(Problem::new(
                        "min_impurity_decrease",
                        format!(
                            "must be a finite number >= {:e}, got {}",
                            f64::EPSILON,
                            c.min_impurity_decrease
                        ),
                    ));
                }
            }
            AlgorithmConfig::GaussianNb(c) => positive(&mut p, "var_smoothing", c.var_smoothing),
            AlgorithmConfig::LinearRegression(_) => {}
            AlgorithmConfig::ElasticNet(c) => {
                non_negative(&mut p, "penalty", c.penalty);
                if !(c.l1_ratio.is_finite() && (0.0..=1.0).contains(&c.l1_ratio)) {
                    p.push(Problem::new(
                        "l1_ratio",
                        format!("must be in [0, 1], got {}", c.l1_ratio),
                    ));
                }
                if !(1..=1_000_000).contains(&c.max_iterations) {
                    p.push(Problem::new(
                        "max_iterations",
                        format!("must be between 1 and 1000000, got {}", c.max_iterations),
                    ));
                }
                positive(&mut p, "tolerance", c.tolerance);
            }
        }
        p
    }

    /// [`validate`](Self::validate) plus a problem under the key `algorithm` when the algorithm
    /// does not solve `task`.
    pub fn validate_for(&self, task: Task) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.task() != task {
            p.push(Problem::new(
                "algorithm",
                format!(
                    "`{}` is a {} algorithm but the model's task is {}",
                    self.name(),
                    task_name(self.task()),
                    task_name(task)
                ),
            ));
        }
        p.extend(self.validate());
        p
    }
}

pub(crate) fn task_name(task: Task) -> &'static str {
    match task {
        Task::Classification => "classification",
        Task::Regression => "regression",
    }
}

fn positive(p: &mut Vec<Problem>, key: &str, x: f64) {
    if !(x.is_finite() && x > 0.0) {
        p.push(Problem::new(
            key,
            format!("must be a finite number > 0, got {x}"),
        ));
    }
}

fn non_negative(p: &mut Vec<Problem>, key: &str, x: f64) {
    if !(x.is_finite() && x >= 0.0) {
        p.push(Problem::new(
            key,
            format!("must be a finite number >= 0, got {x}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_json_with_defaults() {
        let c: AlgorithmConfig =
            serde_json::from_str(r#"{"algorithm": "logistic_regression", "alpha": 0.5}"#).unwrap();
        assert_eq!(
            c,
            AlgorithmConfig::LogisticRegression(LogisticRegressionParams {
                alpha: 0.5,
                ..Default::default()
            })
        );
        let c: AlgorithmConfig = serde_json::from_str(
            r#"{"algorithm": "decision_tree", "split_quality": "entropy", "max_depth": null}"#,
        )
        .unwrap();
        let AlgorithmConfig::DecisionTree(t) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(t.max_depth, None);
        assert_eq!(t.split_quality, SplitQuality::Entropy);
        assert_eq!(
            serde_json::from_value::<AlgorithmConfig>(c.to_json()).unwrap(),
            c
        );
        let err =
            serde_json::from_str::<AlgorithmConfig>(r#"{"algorithm": "elastic_net", "lambda": 1}"#)
                .unwrap_err();
        assert!(err.to_string().contains("lambda"), "{err}");
        assert!(serde_json::from_str::<AlgorithmConfig>(r#"{"algorithm": "svm"}"#).is_err());
    }

    #[test]
    fn validation_lists_every_problem() {
        let c = AlgorithmConfig::ElasticNet(ElasticNetParams {
            penalty: -1.0,
            l1_ratio: 1.5,
            max_iterations: 0,
            tolerance: f64::NAN,
            fit_intercept: true,
        });
        let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["penalty", "l1_ratio", "max_iterations", "tolerance"]);
        let c = AlgorithmConfig::DecisionTree(DecisionTreeParams {
            max_depth: Some(0),
            min_impurity_decrease: 0.0,
            ..Default::default()
        });
        let keys: Vec<_> = c.validate().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["max_depth", "min_impurity_decrease"]);
        let c = AlgorithmConfig::GaussianNb(GaussianNbParams { var_smoothing: 0.0 });
        assert_eq!(c.validate().len(), 1);
        let c = AlgorithmConfig::LogisticRegression(LogisticRegressionParams {
            alpha: -0.1,
            max_iterations: 0,
            gradient_tolerance: 0.0,
        });
        assert_eq!(c.validate().len(), 3);
        for task in [Task::Classification, Task::Regression] {
            assert!(
                AlgorithmConfig::default_for(task)
                    .validate_for(task)
                    .is_empty()
            );
        }
    }

    #[test]
    fn task_mismatch_is_a_problem() {
        let c = AlgorithmConfig::LinearRegression(Default::default());
        let p = c.validate_for(Task::Classification);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "algorithm");
        assert_eq!(
            p[0].to_string(),
            "algorithm: `linear_regression` is a regression algorithm but the model's task is classification"
        );
    }
}
