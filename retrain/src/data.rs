//! Training examples and the chronological train/validation split.
//!
//! An [`Example`] is one labelled event: its event time, its raw features (numbers, categories or
//! missing) and its [`Target`] (a class label or a real value). Models are validated on the most
//! recent examples, never on a shuffled sample: a model retrained after drift must prove itself on
//! data that comes *after* what it learned from, as it will in production.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One raw feature value. In JSON it is the plain value: `3.5`, `"red"` or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum Value {
    /// A number. NaN and infinities are refused in training data and treated as missing when
    /// predicting.
    Number(f64),
    /// A category (any string).
    Category(String),
    /// No value. A feature absent from an example's map is missing too.
    #[default]
    Missing,
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Number(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Category(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Category(s)
    }
}

/// What a model predicts: a class label (classification) or a real value (regression).
/// In JSON: `{"label": "spam"}` or `{"value": 12.5}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A class label.
    Label(String),
    /// A real value.
    Value(f64),
}

impl Target {
    /// The label, if this is one.
    pub fn label(&self) -> Option<&str> {
        match self {
            Target::Label(l) => Some(l),
            Target::Value(_) => None,
        }
    }

    /// The value, if this is one.
    pub fn value(&self) -> Option<f64> {
        match self {
            Target::Value(v) => Some(*v),
            Target::Label(_) => None,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Target::Label(_) => "a label",
            Target::Value(_) => "a value",
        }
    }
}

/// A map from feature name to raw value (sorted, so iteration and encoding are deterministic).
pub type Features = BTreeMap<String, Value>;

/// One labelled example: event time, raw features and the true target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Event time in milliseconds since the Unix epoch (the event's own time, not arrival time).
    pub ts_ms: i64,
    /// Raw features by name.
    pub features: Features,
    /// The true target.
    pub target: Target,
    /// Who or what gave the label (the feedback event's `source`, e.g. an analyst's id or a
    /// labelling job), when it said: kept with the label for audits, per-source accuracy and
    /// weighting; never a feature. Absent in examples stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Splits examples chronologically: sorts them by `ts_ms` (a *stable* sort, so examples with equal
/// timestamps keep their input order — feed them in log order for a reproducible split) and puts
/// the most recent `validation_share` of them into the validation set. Nothing is shuffled across
/// time: every validation example is at least as recent as every training example.
///
/// The validation set has `round(n × validation_share)` examples. `validation_share` is clamped to
/// `[0, 1]` (NaN counts as 0); validating the share is the caller's configuration check.
///
/// ```
/// use driftd_retrain::{split_by_time, Example, Target};
/// let ex = |ts| Example { ts_ms: ts, features: Default::default(), target: Target::Value(0.0), source: None };
/// let (train, validation) = split_by_time(vec![ex(5), ex(1), ex(4), ex(2), ex(3)], 0.4);
/// assert_eq!(train.iter().map(|e| e.ts_ms).collect::<Vec<_>>(), [1, 2, 3]);
/// assert_eq!(validation.iter().map(|e| e.ts_ms).collect::<Vec<_>>(), [4, 5]);
/// ```
pub fn split_by_time(
    mut examples: Vec<Example>,
    validation_share: f64,
) -> (Vec<Example>, Vec<Example>) {
    examples.sort_by_key(|e| e.ts_ms);
    let share = if validation_share.is_nan() {
        0.0
    } else {
        validation_share.clamp(0.0, 1.0)
    };
    let n = examples.len();
    // n < 2^53 in practice, so the product is exact enough; the cast saturates anyway.
    let n_validation = ((n as f64) * share).round() as usize;
    let validation = examples.split_off(n - n_validation.min(n));
    (examples, validation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(ts: i64, tag: &str) -> Example {
        Example {
            ts_ms: ts,
            features: [("tag".to_owned(), Value::from(tag))].into(),
            target: Target::Label("x".into()),
            source: None,
        }
    }

    #[test]
    fn split_is_chronological_and_stable() {
        let input = vec![
            ex(30, "a"),
            ex(10, "b"),
            ex(20, "c"),
            ex(20, "d"),
            ex(40, "e"),
            ex(10, "f"),
        ];
        let (train, val) = split_by_time(input, 0.5);
        let tags = |v: &[Example]| {
            v.iter()
                .map(|e| match &e.features["tag"] {
                    Value::Category(s) => s.clone(),
                    _ => unreachable!(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(tags(&train), ["b", "f", "c"]);
        assert_eq!(tags(&val), ["d", "a", "e"]);
        assert!(train.iter().map(|e| e.ts_ms).max() <= val.iter().map(|e| e.ts_ms).min());
    }

    #[test]
    fn split_share_edges() {
        let mk = || (0..10).map(|i| ex(i, "x")).collect::<Vec<_>>();
        assert_eq!(split_by_time(mk(), 0.0).1.len(), 0);
        assert_eq!(split_by_time(mk(), 1.0).0.len(), 0);
        assert_eq!(split_by_time(mk(), f64::NAN).1.len(), 0);
        assert_eq!(split_by_time(mk(), 7.0).1.len(), 10);
        assert_eq!(split_by_time(mk(), 0.25).1.len(), 3);
        assert_eq!(split_by_time(Vec::new(), 0.3), (Vec::new(), Vec::new()));
    }

    #[test]
    fn values_serialise_as_plain_json() {
        let f: Features = [
            ("a".to_owned(), Value::Number(1.5)),
            ("b".to_owned(), Value::from("red")),
            ("c".to_owned(), Value::Missing),
        ]
        .into();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"{"a":1.5,"b":"red","c":null}"#);
        assert_eq!(serde_json::from_str::<Features>(&json).unwrap(), f);
        let t = serde_json::to_string(&Target::Label("spam".into())).unwrap();
        assert_eq!(t, r#"{"label":"spam"}"#);
    }
}
