//! Feature encoding: raw [`Features`] → a dense row of `f64` columns for Linfa.
//!
//! The [`Encoder`] is fitted on the **training split only** and saved with the model, so serving,
//! validation and shadow scoring encode exactly as training did (no statistic of later data leaks
//! into the model).
//!
//! **Columns**, per feature in name order:
//!
//! * **Numeric** (every non-missing training value is a number): one column `name`, the value
//!   standardised with the training mean and population standard deviation when
//!   [`EncoderConfig::standardize`] is on (a standard deviation of 0 counts as 1). A missing value
//!   (absent, `null`, or NaN/±inf at prediction time) is imputed with the training mean (0 after
//!   standardisation) and flagged in an indicator column `name__missing` (1 = missing). Whether the
//!   indicator exists is [`EncoderConfig::missing_indicators`]: by default only for features that
//!   were missing at least once in training (a never-missing feature gets no constant column).
//! * **Categorical** (at least one training value is a string; numbers of such a feature are turned
//!   into strings with Rust's shortest formatting, `3.0` → `"3"`): one-hot columns `name=category`
//!   for the [`EncoderConfig::max_categories`] most frequent training categories (ties broken by
//!   name), in name order, then `name=__unknown__` for everything else: categories unseen in
//!   training, rare ones beyond the cap, missing values, and a category literally named
//!   `__unknown__`.
//! * Features that never have a value in training are dropped; features unknown to the encoder are
//!   ignored when encoding.
//!
//! ```
//! use driftd_retrain::{Encoder, EncoderConfig, Example, Features, Target, Value};
//! let ex = |x: f64, c: &str| Example {
//!     ts_ms: 0,
//!     features: [("x".to_owned(), Value::Number(x)), ("c".to_owned(), Value::from(c))].into(),
//!     target: Target::Value(0.0),
//!     source: None,
//! };
//! let enc = Encoder::fit(&[ex(1.0, "a"), ex(3.0, "b")], &EncoderConfig::default()).unwrap();
//! assert_eq!(enc.columns(), ["c=a", "c=b", "c=__unknown__", "x"]);
//! let row = enc.encode(&[("c".to_owned(), Value::from("zzz"))].into_iter().collect::<Features>());
//! assert_eq!(row.to_vec(), [0.0, 0.0, 1.0, 0.0]); // unseen → unknown; missing x → mean → 0
//! ```

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayViewMut1};
use serde::{Deserialize, Serialize};

use crate::data::{Example, Features, Value};
use crate::error::{Problem, TrainError};

/// Name of the one-hot bucket for unseen, rare and missing categories.
pub const UNKNOWN_CATEGORY: &str = "__unknown__";
/// Suffix of a numeric feature's missing-indicator column.
pub const MISSING_SUFFIX: &str = "__missing";

/// When a numeric feature gets a missing-indicator column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingIndicators {
    /// Only for features missing at least once in the training split (default).
    #[default]
    WhenSeen,
    /// For every numeric feature.
    Always,
    /// Never (missing values are only imputed with the mean).
    Never,
}

/// Encoder settings (saved with the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderConfig {
    /// Standardise numeric columns with the training mean and standard deviation. Default `true`
    /// (logistic regression and elastic net converge better and penalise features evenly).
    pub standardize: bool,
    /// Most one-hot columns per categorical feature (the most frequent categories), besides the
    /// unknown bucket. Default 32; between 1 and 10,000.
    pub max_categories: usize,
    /// When numeric features get an `__missing` indicator column. Default `when_seen`.
    pub missing_indicators: MissingIndicators,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            standardize: true,
            max_categories: 32,
            missing_indicators: MissingIndicators::WhenSeen,
        }
    }
}

/// Largest accepted [`EncoderConfig::max_categories`].
pub const MAX_CATEGORIES_LIMIT: usize = 10_000;

impl EncoderConfig {
    /// Every problem with these settings (empty when valid).
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if !(1..=MAX_CATEGORIES_LIMIT).contains(&self.max_categories) {
            p.push(Problem::new(
                "max_categories",
                format!(
                    "must be between 1 and {MAX_CATEGORIES_LIMIT}, got {}",
                    self.max_categories
                ),
            ));
        }
        p
    }
}

/// How one feature is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureEncoding {
    /// A numeric feature.
    Numeric {
        /// Feature name.
        name: String,
        /// Training mean of the non-missing values (the imputed value).
        mean: f64,
        /// Subtracted before scaling: the mean when standardising, else 0.
        center: f64,
        /// Divided by after centring: the standard deviation when standardising (1 if it is 0),
        /// else 1.
        scale: f64,
        /// Whether a `name__missing` indicator column follows.
        indicator: bool,
        /// How many training examples lacked the feature.
        missing_in_training: usize,
    },
    /// A categorical feature.
    Categorical {
        /// Feature name.
        name: String,
        /// The one-hot categories, sorted by name (the unknown bucket comes after them).
        categories: Vec<String>,
        /// Distinct training categories that went to the unknown bucket because of the cap.
        capped: usize,
    },
}

impl FeatureEncoding {
    /// The feature name.
    pub fn name(&self) -> &str {
        match self {
            FeatureEncoding::Numeric { name, .. } | FeatureEncoding::Categorical { name, .. } => {
                name
            }
        }
    }

    fn width(&self) -> usize {
        match self {
            FeatureEncoding::Numeric { indicator, .. } => 1 + usize::from(*indicator),
            FeatureEncoding::Categorical { categories, .. } => categories.len() + 1,
        }
    }

    /// Writes this feature's columns at `out[at..at + width]` (which the caller zeroed).
    fn write(&self, value: Option<&Value>, out: &mut ArrayViewMut1<'_, f64>, at: usize) {
        match self {
            FeatureEncoding::Numeric {
                mean,
                center,
                scale,
                indicator,
                ..
            } => {
                let x = match value {
                    Some(Value::Number(x)) if x.is_finite() => Some(*x),
                    // A string for a numeric feature cannot be placed: treat it as missing.
                    _ => None,
                };
                out[at] = (x.unwrap_or(*mean) - center) / scale;
                if *indicator {
                    out[at + 1] = if x.is_none() { 1.0 } else { 0.0 };
                }
            }
            FeatureEncoding::Categorical { categories, .. } => {
                let key = match value {
                    Some(Value::Category(s)) => Some(std::borrow::Cow::Borrowed(s.as_str())),
                    Some(Value::Number(x)) if x.is_finite() => Some(number_category(*x).into()),
                    _ => None,
                };
                let slot = key
                    .and_then(|k| categories.binary_search_by(|c| c.as_str().cmp(&k)).ok())
                    .unwrap_or(categories.len());
                out[at + slot] = 1.0;
            }
        }
    }
}

/// The string a number becomes in a categorical feature.
fn number_category(x: f64) -> String {
    format!("{x}")
}

/// A fitted feature encoder. See the [module documentation](self) for the columns it produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoder {
    config: EncoderConfig,
    features: Vec<FeatureEncoding>,
    columns: Vec<String>,
}

#[derive(Default)]
struct Seen {
    numbers: usize,
    strings: usize,
    missing: usize,
    /// Welford's running mean and sum of squared deviations of the numbers, in example order.
    mean: f64,
    m2: f64,
    /// Counts of the string values.
    categories: BTreeMap<String, usize>,
}

impl Encoder {
    /// Fits the encoder on training examples.
    ///
    /// Errors: invalid settings, a NaN/±inf feature value ([`TrainError::NonFinite`]; in training
    /// data this is a data problem to surface, not to impute), or no feature with any value
    /// ([`TrainError::NoUsableFeatures`]).
    pub fn fit(examples: &[Example], config: &EncoderConfig) -> Result<Encoder, TrainError> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(TrainError::InvalidConfig(problems));
        }
        // One pass: the kind of every feature, finiteness, and the statistics of each kind
        // (feature maps have one value per name, so absent or missing = not counted).
        let mut seen: BTreeMap<&str, Seen> = BTreeMap::new();
        for (index, e) in examples.iter().enumerate() {
            for (name, v) in &e.features {
                let s = seen.entry(name).or_default();
                match v {
                    Value::Number(x) if !x.is_finite() => {
                        return Err(TrainError::NonFinite {
                            index,
                            field: name.clone(),
                        });
                    }
                    Value::Number(x) => {
                        s.numbers += 1;
                        let d = x - s.mean;
                        s.mean += d / s.numbers as f64;
                        s.m2 += d * (x - s.mean);
                    }
                    Value::Category(c) => {
                        s.strings += 1;
                        if c != UNKNOWN_CATEGORY {
                            match s.categories.get_mut(c.as_str()) {
                                Some(n) => *n += 1,
                                None => {
                                    s.categories.insert(c.clone(), 1);
                                }
                            }
                        }
                    }
                    Value::Missing => {}
                }
            }
        }
        for s in seen.values_mut() {
            s.missing = examples.len() - (s.numbers + s.strings);
        }
        // Pass 2: statistics per feature.
        let mut features = Vec::new();
        for (name, s) in seen {
            if s.numbers + s.strings == 0 {
                continue; // never has a value: nothing to learn from it
            }
            if s.strings == 0 {
                // Welford's running mean and variance (above): stable, one pass, deterministic.
                let (n, mean) = (s.numbers as f64, s.mean);
                let sd = (s.m2 / n).sqrt();
                let (center, scale) = if config.standardize {
                    (mean, if sd > 0.0 && sd.is_finite() { sd } else { 1.0 })
                } else {
                    (0.0, 1.0)
                };
                let indicator = match config.missing_indicators {
                    MissingIndicators::Always => true,
                    MissingIndicators::Never => false,
                    MissingIndicators::WhenSeen => s.missing > 0,
                };
                features.push(FeatureEncoding::Numeric {
                    name: name.to_owned(),
                    mean,
                    center,
                    scale,
                    indicator,
                    missing_in_training: s.missing,
                });
            } else {
                let mut counts = s.categories;
                if s.numbers > 0 {
                    // A mixed feature is categorical: its numbers count as categories too.
                    for x in examples.iter().filter_map(|e| match e.features.get(name) {
                        Some(Value::Number(x)) => Some(*x),
                        _ => None,
                    }) {
                        let key = number_category(x);
                        if key != UNKNOWN_CATEGORY {
                            *counts.entry(key).or_default() += 1;
                        }
                    }
                }
                let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
                // Most frequent first, ties by name (the map iterates by name and the sort is stable).
                ranked.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
                let capped = ranked.len().saturating_sub(config.max_categories);
                ranked.truncate(config.max_categories);
                let mut categories: Vec<String> = ranked.into_iter().map(|(c, _)| c).collect();
                categories.sort();
                features.push(FeatureEncoding::Categorical {
                    name: name.to_owned(),
                    categories,
                    capped,
                });
            }
        }
        if features.is_empty() {
            return Err(TrainError::NoUsableFeatures(
                "no feature has a value in the training examples".into(),
            ));
        }
        let mut columns = Vec::new();
        for f in &features {
            match f {
                FeatureEncoding::Numeric {
                    name, indicator, ..
                } => {
                    columns.push(name.clone());
                    if *indicator {
                        columns.push(format!("{name}{MISSING_SUFFIX}"));
                    }
                }
                FeatureEncoding::Categorical {
                    name, categories, ..
                } => {
                    columns.extend(categories.iter().map(|c| format!("{name}={c}")));
                    columns.push(format!("{name}={UNKNOWN_CATEGORY}"));
                }
            }
        }
        Ok(Encoder {
            config: config.clone(),
            features,
            columns,
        })
    }

    /// Column names, in column order (for explanations and feature importances).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.columns.len()
    }

    /// How each feature is encoded, in column order.
    pub fn features(&self) -> &[FeatureEncoding] {
        &self.features
    }

    /// The settings the encoder was fitted with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Encodes one example's features.
    pub fn encode(&self, features: &Features) -> Array1<f64> {
        let mut row = Array1::zeros(self.width());
        self.write_row(features, row.view_mut());
        row
    }

    /// Encodes many rows into a `rows × columns` matrix.
    pub fn encode_batch<'a>(&self, rows: impl IntoIterator<Item = &'a Features>) -> Array2<f64> {
        let rows: Vec<&Features> = rows.into_iter().collect();
        let mut m = Array2::zeros((rows.len(), self.width()));
        for (features, out) in rows.into_iter().zip(m.rows_mut()) {
            self.write_row(features, out);
        }
        m
    }

    fn write_row(&self, features: &Features, mut out: ArrayViewMut1<'_, f64>) {
        // Both the row (a `BTreeMap`) and a fitted encoder's features are in name order, so one
        // merge walk finds every value (no lookup per feature). An encoder whose features are not
        // in order (never produced by `fit`) falls back to lookups.
        let mut row = features.iter().peekable();
        let mut prev: Option<&str> = None;
        let mut in_order = true;
        let mut at = 0;
        for f in &self.features {
            let name = f.name();
            in_order &= prev.is_none_or(|p| p < name);
            let value = if !in_order {
                features.get(name)
            } else {
                let mut found = None;
                while let Some((k, v)) = row.peek() {
                    match k.as_str().cmp(name) {
                        std::cmp::Ordering::Less => {
                            row.next();
                        }
                        std::cmp::Ordering::Equal => {
                            found = Some(*v);
                            row.next();
                            break;
                        }
                        std::cmp::Ordering::Greater => break,
                    }
                }
                found
            };
            prev = Some(name);
            f.write(value, &mut out, at);
            at += f.width();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Target;

    fn ex(pairs: &[(&str, Value)]) -> Example {
        Example {
            ts_ms: 0,
            features: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            target: Target::Value(0.0),
            source: None,
        }
    }

    fn n(x: f64) -> Value {
        Value::Number(x)
    }

    #[test]
    fn an_encoder_with_features_out_of_name_order_still_finds_every_value() {
        let train: Vec<Example> = (0..20)
            .map(|i| {
                ex(&[
                    ("a", n(f64::from(i))),
                    ("b", Value::from(["x", "y", "z"][i as usize % 3])),
                    ("c", n(f64::from(i * i))),
                ])
            })
            .collect();
        let enc = Encoder::fit(&train, &EncoderConfig::default()).unwrap();
        let names: Vec<&str> = enc.features().iter().map(FeatureEncoding::name).collect();
        assert_eq!(names, ["a", "b", "c"], "fit orders features by name");
        // The same encoder with its features reversed (as a hand-edited artifact could be).
        let mut v = serde_json::to_value(&enc).unwrap();
        v["features"].as_array_mut().unwrap().reverse();
        let rev: Encoder = serde_json::from_value(v).unwrap();
        for e in &train {
            let fwd = enc.encode(&e.features).to_vec();
            // Blocks: a (1), b (3 + unknown), c (1); reversed: c, b, a.
            let mut want = vec![fwd[5]];
            want.extend_from_slice(&fwd[1..5]);
            want.push(fwd[0]);
            assert_eq!(rev.encode(&e.features).to_vec(), want);
        }
    }

    #[test]
    fn standardises_with_training_stats_only() {
        let train = [ex(&[("x", n(1.0))]), ex(&[("x", n(3.0))])];
        let enc = Encoder::fit(&train, &EncoderConfig::default()).unwrap();
        // mean 2, population sd 1
        assert_eq!(enc.encode(&ex(&[("x", n(5.0))]).features).to_vec(), [3.0]);
        // A later value far away does not change the encoder: it was fitted once.
        assert_eq!(enc.encode(&ex(&[("x", n(2.0))]).features).to_vec(), [0.0]);
        let raw = EncoderConfig {
            standardize: false,
            ..Default::default()
        };
        let enc = Encoder::fit(&train, &raw).unwrap();
        assert_eq!(enc.encode(&ex(&[("x", n(5.0))]).features).to_vec(), [5.0]);
    }

    #[test]
    fn constant_numeric_has_scale_one() {
        let train = [ex(&[("x", n(4.0))]), ex(&[("x", n(4.0))])];
        let enc = Encoder::fit(&train, &EncoderConfig::default()).unwrap();
        assert_eq!(enc.encode(&ex(&[("x", n(6.0))]).features).to_vec(), [2.0]);
    }

    #[test]
    fn missing_numeric_gets_mean_and_indicator() {
        let train = [
            ex(&[("x", n(2.0))]),
            ex(&[("x", n(4.0))]),
            ex(&[("x", Value::Missing)]),
            ex(&[]),
        ];
        let raw = EncoderConfig {
            standardize: false,
            ..Default::default()
        };
        let enc = Encoder::fit(&train, &raw).unwrap();
        assert_eq!(enc.columns(), ["x", "x__missing"]);
        assert_eq!(enc.encode(&ex(&[]).features).to_vec(), [3.0, 1.0]);
        assert_eq!(
            enc.encode(&ex(&[("x", n(f64::NAN))]).features).to_vec(),
            [3.0, 1.0]
        );
        assert_eq!(
            enc.encode(&ex(&[("x", n(7.0))]).features).to_vec(),
            [7.0, 0.0]
        );
        match &enc.features()[0] {
            FeatureEncoding::Numeric {
                missing_in_training,
                ..
            } => assert_eq!(*missing_in_training, 2),
            other => panic!("{other:?}"),
        }
        // Indicator policy.
        let never_missing = [ex(&[("x", n(1.0))])];
        let enc = Encoder::fit(&never_missing, &EncoderConfig::default()).unwrap();
        assert_eq!(enc.columns(), ["x"]);
        let always = EncoderConfig {
            missing_indicators: MissingIndicators::Always,
            ..Default::default()
        };
        let enc = Encoder::fit(&never_missing, &always).unwrap();
        assert_eq!(enc.columns(), ["x", "x__missing"]);
        let never = EncoderConfig {
            missing_indicators: MissingIndicators::Never,
            ..Default::default()
        };
        assert_eq!(Encoder::fit(&train, &never).unwrap().columns(), ["x"]);
    }

    #[test]
    fn categories_capped_by_frequency_then_name() {
        let mut train = Vec::new();
        for (c, k) in [("d", 3), ("b", 2), ("a", 2), ("c", 1), ("e", 3)] {
            for _ in 0..k {
                train.push(ex(&[("c", Value::from(c))]));
            }
        }
        let cfg = EncoderConfig {
            max_categories: 3,
            ..Default::default()
        };
        let enc = Encoder::fit(&train, &cfg).unwrap();
        // d and e (3 each), then a beats b on name.
        assert_eq!(enc.columns(), ["c=a", "c=d", "c=e", "c=__unknown__"]);
        let code = |v: Value| enc.encode(&ex(&[("c", v)]).features).to_vec();
        assert_eq!(code(Value::from("b")), [0.0, 0.0, 0.0, 1.0]); // rare → unknown
        assert_eq!(code(Value::from("new")), [0.0, 0.0, 0.0, 1.0]); // unseen → unknown
        assert_eq!(code(Value::Missing), [0.0, 0.0, 0.0, 1.0]); // missing → unknown
        assert_eq!(code(Value::from("e")), [0.0, 0.0, 1.0, 0.0]);
        match &enc.features()[0] {
            FeatureEncoding::Categorical { capped, .. } => assert_eq!(*capped, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mixed_number_and_string_is_categorical() {
        let train = [
            ex(&[("z", n(3.0))]),
            ex(&[("z", Value::from("x"))]),
            ex(&[("z", n(0.5))]),
        ];
        let enc = Encoder::fit(&train, &EncoderConfig::default()).unwrap();
        assert_eq!(enc.columns(), ["z=0.5", "z=3", "z=x", "z=__unknown__"]);
        assert_eq!(
            enc.encode(&ex(&[("z", n(3.0))]).features).to_vec(),
            [0.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn string_for_numeric_feature_is_missing() {
        let train = [ex(&[("x", n(1.0))]), ex(&[("x", n(3.0))])];
        let enc = Encoder::fit(&train, &EncoderConfig::default()).unwrap();
        assert_eq!(
            enc.encode(&ex(&[("x", Value::from("oops"))]).features)
                .to_vec(),
            [0.0]
        );
    }

    #[test]
    fn refuses_nan_and_empty() {
        let bad = [ex(&[("x", n(1.0))]), ex(&[("x", n(f64::INFINITY))])];
        assert!(matches!(
            Encoder::fit(&bad, &EncoderConfig::default()),
            Err(TrainError::NonFinite { index: 1, .. })
        ));
        let nothing = [ex(&[("x", Value::Missing)])];
        assert!(matches!(
            Encoder::fit(&nothing, &EncoderConfig::default()),
            Err(TrainError::NoUsableFeatures(_))
        ));
        let cfg = EncoderConfig {
            max_categories: 0,
            ..Default::default()
        };
        assert!(matches!(
            Encoder::fit(&nothing, &cfg),
            Err(TrainError::InvalidConfig(p)) if p[0].key == "max_categories"
        ));
    }

    #[test]
    fn batch_equals_rows_and_serde_round_trips() {
        let train: Vec<Example> = (0..20)
            .map(|i| {
                ex(&[
                    ("a", n(f64::from(i))),
                    ("b", Value::from(if i % 3 == 0 { "p" } else { "q" })),
                ])
            })
            .collect();
        let enc = Encoder::fit(&train, &EncoderConfig::default()).unwrap();
        let m = enc.encode_batch(train.iter().map(|e| &e.features));
        for (i, e) in train.iter().enumerate() {
            assert_eq!(m.row(i), enc.encode(&e.features));
        }
        let back: Encoder = serde_json::from_str(&serde_json::to_string(&enc).unwrap()).unwrap();
        assert_eq!(back, enc);
    }
}
