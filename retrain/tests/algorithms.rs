//! Every algorithm learns a separable synthetic problem, and refuses degenerate input cleanly.

mod common;

use common::*;
use driftd_retrain::{
    AlgorithmConfig, ClassificationMetrics, EncoderConfig, Example, Features,
    LogisticRegressionParams, MIN_TRAINING_EXAMPLES, RegressionMetrics, Target, Task, TrainError,
    ValidationMetrics, Value, evaluate, split_by_time, train,
};

fn classification(m: ValidationMetrics) -> ClassificationMetrics {
    match m {
        ValidationMetrics::Classification(c) => c,
        other => panic!("{other:?}"),
    }
}

fn regression(m: ValidationMetrics) -> RegressionMetrics {
    match m {
        ValidationMetrics::Regression(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn classifiers_learn_binary_blobs() {
    let (tr, va) = split_by_time(binary_blobs(1, 600), 0.3);
    for algo in classifiers() {
        let model = train(Task::Classification, &algo, &EncoderConfig::default(), &tr)
            .unwrap_or_else(|e| panic!("{}: {e}", algo.name()));
        assert_eq!(model.classes(), ["neg", "pos"]);
        assert_eq!(model.training_size(), tr.len());
        let m = classification(evaluate(&model, &va).unwrap());
        assert!(m.accuracy > 0.95, "{}: {m:?}", algo.name());
        assert!(m.macro_f1 > 0.95, "{}: {m:?}", algo.name());
        let p = model.predict(&va[0].features);
        match algo {
            AlgorithmConfig::DecisionTree(_) => {
                assert_eq!((p.score, &p.probabilities), (None, &None));
                assert_eq!(m.log_loss, None);
            }
            _ => {
                let probs = p.probabilities.as_ref().expect("probabilities");
                assert!((probs.values().sum::<f64>() - 1.0).abs() < 1e-12);
                assert_eq!(p.score, Some(probs["pos"]), "score is P(positive = pos)");
                assert!(m.log_loss.unwrap() < 0.2, "{}: {m:?}", algo.name());
            }
        }
    }
}

#[test]
fn classifiers_learn_three_classes() {
    let (tr, va) = split_by_time(three_blobs(2, 900), 0.3);
    for algo in classifiers() {
        let model = train(Task::Classification, &algo, &EncoderConfig::default(), &tr)
            .unwrap_or_else(|e| panic!("{}: {e}", algo.name()));
        assert_eq!(model.classes(), ["a", "b", "c"]);
        assert_eq!(model.positive_label(), None);
        let m = classification(evaluate(&model, &va).unwrap());
        assert!(m.accuracy > 0.95, "{}: {m:?}", algo.name());
        let p = model.predict(&va[0].features);
        assert_eq!(p.score, None, "no single score with three classes");
        if let Some(probs) = &p.probabilities {
            assert_eq!(probs.len(), 3);
            assert!((probs.values().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn regressors_learn_a_linear_problem() {
    let (tr, va) = split_by_time(linear_problem(3, 500), 0.3);
    for algo in regressors() {
        let model = train(Task::Regression, &algo, &EncoderConfig::default(), &tr)
            .unwrap_or_else(|e| panic!("{}: {e}", algo.name()));
        let m = regression(evaluate(&model, &va).unwrap());
        assert!(m.r2.unwrap() > 0.9, "{}: {m:?}", algo.name());
        assert!(m.mae < 0.5, "{}: {m:?}", algo.name());
        let p = model.predict(&va[0].features);
        assert!(p.target.value().is_some() && p.score.is_none() && p.probabilities.is_none());
    }
}

#[test]
fn linear_regression_leaves_out_aliased_one_hot_columns() {
    let tr = linear_problem(4, 200);
    let algo = AlgorithmConfig::default_for(Task::Regression);
    let model = train(Task::Regression, &algo, &EncoderConfig::default(), &tr).unwrap();
    // color has three seen categories + unknown (never seen: a zero column); with the intercept
    // one seen category is aliased too.
    let aliased = model.aliased_columns();
    assert!(aliased.contains(&"color=__unknown__"), "{aliased:?}");
    assert_eq!(aliased.len(), 2, "{aliased:?}");
    // An unseen colour falls in the unknown bucket, whose weight is 0: the prediction is finite.
    let mut f = tr[0].features.clone();
    f.insert("color".into(), Value::from("purple"));
    assert!(model.predict(&f).target.value().unwrap().is_finite());
}

#[test]
fn predict_batch_equals_single_predictions() {
    let ex = binary_blobs(5, 200);
    for algo in classifiers() {
        let model = train(Task::Classification, &algo, &EncoderConfig::default(), &ex).unwrap();
        let rows = features_of(&ex[..50]);
        let batch = model.predict_batch(&rows);
        for (row, p) in rows.iter().zip(&batch) {
            assert_eq!(&model.predict(row), p);
        }
    }
}

#[test]
fn training_is_deterministic() {
    let ex = binary_blobs(6, 300);
    let reg = linear_problem(6, 300);
    for algo in classifiers() {
        let a = train(Task::Classification, &algo, &EncoderConfig::default(), &ex).unwrap();
        let b = train(Task::Classification, &algo, &EncoderConfig::default(), &ex).unwrap();
        assert_eq!(a, b, "{}", algo.name());
    }
    for algo in regressors() {
        let a = train(Task::Regression, &algo, &EncoderConfig::default(), &reg).unwrap();
        let b = train(Task::Regression, &algo, &EncoderConfig::default(), &reg).unwrap();
        assert_eq!(a, b, "{}", algo.name());
    }
}

#[test]
fn positive_label_can_be_chosen() {
    let ex = binary_blobs(7, 200);
    let algo = AlgorithmConfig::default_for(Task::Classification);
    let mut model = train(Task::Classification, &algo, &EncoderConfig::default(), &ex).unwrap();
    assert_eq!(model.positive_label(), Some("pos"));
    let before = model.predict(&ex[0].features).score.unwrap();
    model.set_positive_label("neg").unwrap();
    let after = model.predict(&ex[0].features).score.unwrap();
    assert!((before + after - 1.0).abs() < 1e-12);
    assert!(matches!(
        model.set_positive_label("maybe"),
        Err(TrainError::PositiveLabel(_))
    ));
}

fn expect_err(task: Task, algo: &AlgorithmConfig, ex: &[Example]) -> TrainError {
    train(task, algo, &EncoderConfig::default(), ex)
        .err()
        .unwrap_or_else(|| panic!("{} trained on degenerate input", algo.name()))
}

#[test]
fn degenerate_input_fails_cleanly() {
    let ok_cls = binary_blobs(8, 100);
    let ok_reg = linear_problem(8, 100);
    for algo in classifiers() {
        // empty and too small
        assert_eq!(
            expect_err(Task::Classification, &algo, &[]),
            TrainError::TooFewExamples {
                got: 0,
                need: MIN_TRAINING_EXAMPLES
            }
        );
        assert!(matches!(
            expect_err(Task::Classification, &algo, &ok_cls[..5]),
            TrainError::TooFewExamples { got: 5, .. }
        ));
        // one class
        let one: Vec<Example> = ok_cls
            .iter()
            .filter(|e| e.target.label() == Some("pos"))
            .cloned()
            .collect();
        assert_eq!(
            expect_err(Task::Classification, &algo, &one),
            TrainError::OneClass("pos".into())
        );
        // NaN feature
        let mut nan = ok_cls.clone();
        nan[3].features.insert("x1".into(), Value::Number(f64::NAN));
        assert_eq!(
            expect_err(Task::Classification, &algo, &nan),
            TrainError::NonFinite {
                index: 3,
                field: "x1".into()
            }
        );
        // a number as a class label
        let mut wrong = ok_cls.clone();
        wrong[9].target = Target::Value(1.0);
        assert!(matches!(
            expect_err(Task::Classification, &algo, &wrong),
            TrainError::TargetMismatch { index: 9, .. }
        ));
        // nothing to learn from: one constant feature
        let constant: Vec<Example> = ok_cls
            .iter()
            .map(|e| Example {
                features: [("k".to_owned(), Value::Number(1.0))].into(),
                ..e.clone()
            })
            .collect();
        assert!(matches!(
            expect_err(Task::Classification, &algo, &constant),
            TrainError::NoUsableFeatures(_)
        ));
        // regression algorithm for classification and the reverse
        assert!(matches!(
            expect_err(Task::Regression, &algo, &ok_reg),
            TrainError::InvalidConfig(p) if p[0].key == "algorithm"
        ));
    }
    for algo in regressors() {
        let mut nan = ok_reg.clone();
        nan[4].target = Target::Value(f64::INFINITY);
        assert_eq!(
            expect_err(Task::Regression, &algo, &nan),
            TrainError::NonFinite {
                index: 4,
                field: "target".into()
            }
        );
        let mut label = ok_reg.clone();
        label[0].target = Target::Label("x".into());
        assert!(matches!(
            expect_err(Task::Regression, &algo, &label),
            TrainError::TargetMismatch { index: 0, .. }
        ));
        assert!(matches!(
            expect_err(Task::Regression, &algo, &[]),
            TrainError::TooFewExamples { got: 0, .. }
        ));
    }
}

#[test]
fn invalid_settings_list_every_problem() {
    let algo = AlgorithmConfig::LogisticRegression(LogisticRegressionParams {
        alpha: f64::NAN,
        max_iterations: 0,
        gradient_tolerance: 1e-4,
    });
    let enc = EncoderConfig {
        max_categories: 0,
        ..Default::default()
    };
    let err = train(Task::Classification, &algo, &enc, &binary_blobs(9, 50)).unwrap_err();
    let TrainError::InvalidConfig(problems) = err else {
        panic!("{err:?}")
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["alpha", "max_iterations", "encoder.max_categories"]);
}

#[test]
fn unseen_and_missing_features_at_prediction_time() {
    let ex = binary_blobs(10, 300);
    for algo in classifiers() {
        let model = train(Task::Classification, &algo, &EncoderConfig::default(), &ex).unwrap();
        // Nothing known at all: every numeric imputed, colour unknown — still a valid prediction.
        let p = model.predict(&Features::new());
        assert!(matches!(p.target, Target::Label(ref l) if model.classes().contains(l)));
        let mut f = ex[0].features.clone();
        f.insert("color".into(), Value::from("ultraviolet"));
        f.insert("brand_new_feature".into(), Value::Number(1e9));
        f.insert("x2".into(), Value::Number(f64::NAN));
        let p = model.predict(&f);
        assert!(p.probabilities.iter().flatten().all(|(_, v)| v.is_finite()));
    }
}

#[test]
fn extreme_values_never_panic() {
    // Unstandardised features near the top of the f64 range: every algorithm must either train a
    // model with finite outputs or return an error — never panic or return NaN.
    let raw = EncoderConfig {
        standardize: false,
        ..Default::default()
    };
    let scale = |ex: Vec<Example>, k: f64| -> Vec<Example> {
        ex.into_iter()
            .map(|mut e| {
                for v in e.features.values_mut() {
                    if let Value::Number(x) = v {
                        *x *= k;
                    }
                }
                e
            })
            .collect()
    };
    for k in [1e-300, 1e150, 1e300] {
        let cls = scale(binary_blobs(11, 100), k);
        for algo in classifiers() {
            if let Ok(m) = train(Task::Classification, &algo, &raw, &cls) {
                for p in m.predict_batch(&features_of(&cls)) {
                    assert!(p.probabilities.iter().flatten().all(|(_, v)| v.is_finite()));
                }
            }
        }
        let reg = scale(linear_problem(11, 100), k);
        for algo in regressors() {
            if let Ok(m) = train(Task::Regression, &algo, &raw, &reg) {
                for p in m.predict_batch(&features_of(&reg)) {
                    assert!(p.target.value().unwrap().is_finite(), "{}", algo.name());
                }
            }
        }
    }
}
