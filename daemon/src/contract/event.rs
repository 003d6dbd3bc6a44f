//! Event contract, version 1: parsing and validation of prediction and feedback events.
//!
//! The contract (see DESIGN.md §2) is JSON, one object per Kafka message or per line. Parsing borrows
//! from the input wherever JSON escapes allow, so the hot path allocates little: one `Vec` for the
//! features. Every rejection carries a machine-readable [`RejectReason`] and a human-readable
//! detail; nothing here panics on input.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Longest accepted event `id`, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest accepted model name, in bytes. Model names become metric labels and store keys.
pub const MAX_MODEL_NAME_BYTES: usize = 128;

/// Why an event was rejected. The string forms are stable: they appear in metrics
/// (`driftd_events_rejected_total{reason}`), dead-letter headers, reject files and HTTP errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not valid JSON (or not UTF-8).
    InvalidJson,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A field has the wrong type or an invalid value.
    InvalidField,
    /// A required field is missing.
    MissingField,
    /// `kind` is neither `prediction` nor `feedback`.
    UnknownKind,
    /// `ts` is not an RFC 3339 timestamp.
    BadTimestamp,
    /// A feature (or score, probability, value) is NaN or infinite.
    NonFiniteFeature,
    /// The model name is empty, too long, or uses characters outside `[A-Za-z0-9_.:-]`.
    InvalidModelName,
    /// The model is not configured and models are strict.
    UnknownModel,
    /// The model is not configured and the cap on discovered models is reached.
    TooManyModels,
    /// The event is larger than the configured limit.
    Oversized,
    /// The `prediction` object is malformed (e.g. a score outside [0, 1]).
    InvalidPrediction,
}

impl RejectReason {
    /// Every reason, in a stable order (used to pre-register metric series).
    pub const ALL: [RejectReason; 12] = [
        RejectReason::InvalidJson,
        RejectReason::NotAnObject,
        RejectReason::InvalidField,
        RejectReason::MissingField,
        RejectReason::UnknownKind,
        RejectReason::BadTimestamp,
        RejectReason::NonFiniteFeature,
        RejectReason::InvalidModelName,
        RejectReason::UnknownModel,
        RejectReason::TooManyModels,
        RejectReason::Oversized,
        RejectReason::InvalidPrediction,
    ];

    /// The stable string form, e.g. `invalid_json`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::MissingField => "missing_field",
            RejectReason::UnknownKind => "unknown_kind",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::NonFiniteFeature => "non_finite_feature",
            RejectReason::InvalidModelName => "invalid_model_name",
            RejectReason::UnknownModel => "unknown_model",
            RejectReason::TooManyModels => "too_many_models",
            RejectReason::Oversized => "oversized",
            RejectReason::InvalidPrediction => "invalid_prediction",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected event: the reason and a detail for humans (never contains secrets; may quote input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// Human-readable explanation.
    pub detail: String,
}

impl Rejection {
    /// Builds a rejection.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

impl std::error::Error for Rejection {}

/// Prediction or feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A model's prediction, with the features it saw.
    Prediction,
    /// The true outcome for an earlier (or later) prediction.
    Feedback,
}

impl EventKind {
    /// The stable string form used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Prediction => "prediction",
            EventKind::Feedback => "feedback",
        }
    }
}

/// One feature value. A JSON `null` (or an absent feature) is a missing value, not an error.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue<'a> {
    /// A finite number.
    Number(f64),
    /// A categorical value (JSON strings; booleans become `"true"`/`"false"`).
    Category(Cow<'a, str>),
    /// `null`.
    Missing,
}

/// The features of a prediction, in input order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features<'a>(pub Vec<(Cow<'a, str>, FeatureValue<'a>)>);

/// What the model predicted.
#[derive(Debug, Clone, PartialEq)]
pub enum PredictionOutput<'a> {
    /// Classification: a label, the positive-class score, and/or class probabilities.
    Class {
        /// Predicted label, normalised to a string.
        label: Option<Cow<'a, str>>,
        /// Probability of the positive class, in [0, 1].
        score: Option<f64>,
        /// Per-class probabilities, each in [0, 1].
        probabilities: Vec<(Cow<'a, str>, f64)>,
    },
    /// Regression: the predicted value.
    Value(f64),
}

/// The ground truth carried by a feedback event.
#[derive(Debug, Clone, PartialEq)]
pub enum Target<'a> {
    /// Classification label, normalised to a string.
    Label(Cow<'a, str>),
    /// Regression value.
    Value(f64),
}

/// What distinguishes a prediction from a feedback event.
#[derive(Debug, Clone, PartialEq)]
pub enum Body<'a> {
    /// A prediction event.
    Prediction {
        /// The features the model saw.
        features: Features<'a>,
        /// The model's output, when sent.
        output: Option<PredictionOutput<'a>>,
    },
    /// A feedback event.
    Feedback {
        /// The true label or value.
        target: Target<'a>,
        /// Who or what supplied the label.
        source: Option<Cow<'a, str>>,
    },
}

/// A validated event, borrowing from its input where possible. `Yokeable`: an event can travel
/// with the bytes it borrows from (`yoke::Yoke<Event<'static>, Arc<[u8]>>`), so an event held for
/// the event-time order is parsed once.
#[derive(Debug, Clone, PartialEq, yoke::Yokeable)]
pub struct Event<'a> {
    /// Unique per prediction; the join key for feedback.
    pub id: Cow<'a, str>,
    /// The model's name.
    pub model: Cow<'a, str>,
    /// The version that served the prediction, if sent.
    pub model_version: Option<Cow<'a, str>>,
    /// Event time.
    pub ts: DateTime<Utc>,
    /// Prediction- or feedback-specific content.
    pub body: Body<'a>,
}

impl Event<'_> {
    /// Prediction or feedback.
    pub fn kind(&self) -> EventKind {
        match self.body {
            Body::Prediction { .. } => EventKind::Prediction,
            Body::Feedback { .. } => EventKind::Feedback,
        }
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Largest accepted event, in bytes.
    pub max_event_bytes: usize,
    /// Kind assumed when `kind` is absent (the HTTP feedback endpoint uses `Feedback`).
    pub default_kind: Option<EventKind>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_event_bytes: 1 << 20,
            default_kind: None,
        }
    }
}

/// Parses and validates one event.
pub fn parse_event<'a>(input: &'a [u8], opts: &ParseOptions) -> Result<Event<'a>, Rejection> {
    if input.len() > opts.max_event_bytes {
        return Err(Rejection::new(
            RejectReason::Oversized,
            format!(
                "event is {} bytes, the limit is {}",
                input.len(),
                opts.max_event_bytes
            ),
        ));
    }
    match input.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(Rejection::new(RejectReason::InvalidJson, "empty input")),
        Some(_) => {
            return Err(match serde_json::from_slice::<de::IgnoredAny>(input) {
                Ok(_) => {
                    Rejection::new(RejectReason::NotAnObject, "an event must be a JSON object")
                }
                Err(e) => json_error(input, &e),
            });
        }
    }
    // Validate UTF-8 once for the whole event, then parse from `&str`: serde_json then skips its
    // per-string validation (a third of the parse time on 25-feature events, see `intake` bench).
    let text = std::str::from_utf8(input).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidJson,
            format!("event is not UTF-8: {e}"),
        )
    })?;
    let raw: RawEvent<'a> = serde_json::from_str(text).map_err(|e| json_error(input, &e))?;
    raw.validate(opts)
}

/// Classifies a JSON error into a rejection.
fn json_error(input: &[u8], e: &serde_json::Error) -> Rejection {
    let msg = e.to_string();
    // JSON has no NaN or infinity; Python's `json.dumps` writes them anyway as bare tokens, and a
    // huge exponent overflows f64. Both mean a non-finite number, which deserves its own reason.
    if has_non_finite_token(input) {
        return Rejection::new(
            RejectReason::NonFiniteFeature,
            format!("non-finite number (NaN or infinity) in event: {msg}"),
        );
    }
    match e.classify() {
        serde_json::error::Category::Data => Rejection::new(RejectReason::InvalidField, msg),
        _ => Rejection::new(RejectReason::InvalidJson, msg),
    }
}

/// True when `input` holds, outside strings, a bare `NaN`, `Infinity` or `-Infinity` token or a
/// number literal too large for f64. Only called on the error path.
fn has_non_finite_token(input: &[u8]) -> bool {
    let mut in_str = false;
    let mut escaped = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
        } else if input[i..].starts_with(b"NaN") || input[i..].starts_with(b"Infinity") {
            return true;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = input[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .map_or(input.len(), |n| i + n);
            let literal = std::str::from_utf8(&input[i..end]).unwrap_or("");
            if literal.parse::<f64>().is_ok_and(f64::is_infinite) {
                return true;
            }
            i = end.max(i + 1);
            continue;
        }
        i += 1;
    }
    false
}

/// Whether `name` is a valid model name: 1 to [`MAX_MODEL_NAME_BYTES`] bytes of ASCII letters,
/// digits, `_`, `.`, `:` and `-` (the one rule, for events, the config and the registry).
pub fn valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MODEL_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Parses an RFC 3339 timestamp.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    id: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    model: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    model_version: Option<Label<'a>>,
    #[serde(borrow, default)]
    ts: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    features: Option<Features<'a>>,
    #[serde(borrow, default)]
    prediction: Option<RawPrediction<'a>>,
    #[serde(borrow, default)]
    label: Option<Label<'a>>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(borrow, default)]
    source: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
struct RawPrediction<'a> {
    #[serde(borrow, default)]
    label: Option<Label<'a>>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(borrow, default)]
    probabilities: Option<Probabilities<'a>>,
    #[serde(default)]
    value: Option<f64>,
}

fn missing(field: &str) -> Rejection {
    Rejection::new(
        RejectReason::MissingField,
        format!("required field `{field}` is missing"),
    )
}

fn check_unit_interval(what: &str, p: f64) -> Result<f64, Rejection> {
    if !p.is_finite() {
        return Err(Rejection::new(
            RejectReason::NonFiniteFeature,
            format!("{what} is not finite"),
        ));
    }
    if !(0.0..=1.0).contains(&p) {
        return Err(Rejection::new(
            RejectReason::InvalidPrediction,
            format!("{what} {p} is outside [0, 1]"),
        ));
    }
    Ok(p)
}

fn check_finite(what: &str, v: f64) -> Result<f64, Rejection> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Rejection::new(
            RejectReason::NonFiniteFeature,
            format!("{what} is not finite"),
        ))
    }
}

impl<'a> RawEvent<'a> {
    fn validate(self, opts: &ParseOptions) -> Result<Event<'a>, Rejection> {
        let kind = match self.kind.as_ref().map(|k| k.0.as_ref()) {
            Some("prediction") => EventKind::Prediction,
            Some("feedback") => EventKind::Feedback,
            Some(other) => {
                return Err(Rejection::new(
                    RejectReason::UnknownKind,
                    format!(
                        "kind `{}` is neither `prediction` nor `feedback`",
                        truncate(other, 64)
                    ),
                ));
            }
            None => opts.default_kind.ok_or_else(|| missing("kind"))?,
        };
        let id = self.id.ok_or_else(|| missing("id"))?.0;
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(Rejection::new(
                RejectReason::InvalidField,
                format!("`id` must be 1 to {MAX_ID_BYTES} bytes long"),
            ));
        }
        let model = self.model.ok_or_else(|| missing("model"))?.0;
        if !valid_model_name(&model) {
            return Err(Rejection::new(
                RejectReason::InvalidModelName,
                format!(
                    "model name `{}` must be 1 to {MAX_MODEL_NAME_BYTES} characters of [A-Za-z0-9_.:-]",
                    truncate(&model, 64)
                ),
            ));
        }
        let ts_raw = self.ts.ok_or_else(|| missing("ts"))?.0;
        let ts = parse_ts(&ts_raw).ok_or_else(|| {
            Rejection::new(
                RejectReason::BadTimestamp,
                format!(
                    "`ts` value `{}` is not an RFC 3339 timestamp",
                    truncate(&ts_raw, 64)
                ),
            )
        })?;
        let body = match kind {
            EventKind::Prediction => {
                let features = self.features.ok_or_else(|| missing("features"))?;
                for (name, v) in &features.0 {
                    if let FeatureValue::Number(x) = v
                        && !x.is_finite()
                    {
                        return Err(Rejection::new(
                            RejectReason::NonFiniteFeature,
                            format!("feature `{}` is not finite", truncate(name, 64)),
                        ));
                    }
                }
                let output = match self.prediction {
                    None => None,
                    Some(p) => Some(p.validate()?),
                };
                Body::Prediction { features, output }
            }
            EventKind::Feedback => {
                let target = match (self.label, self.value) {
                    (Some(l), None) => Target::Label(l.0),
                    (None, Some(v)) => Target::Value(check_finite("`value`", v)?),
                    (None, None) => {
                        return Err(Rejection::new(
                            RejectReason::MissingField,
                            "feedback needs `label` (classification) or `value` (regression)",
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(Rejection::new(
                            RejectReason::InvalidField,
                            "feedback has both `label` and `value`; send one",
                        ));
                    }
                };
                Body::Feedback {
                    target,
                    source: self.source.map(|s| s.0),
                }
            }
        };
        Ok(Event {
            id,
            model,
            model_version: self.model_version.map(|l| l.0),
            ts,
            body,
        })
    }
}

impl<'a> RawPrediction<'a> {
    fn validate(self) -> Result<PredictionOutput<'a>, Rejection> {
        if let Some(v) = self.value {
            if self.label.is_some() || self.score.is_some() || self.probabilities.is_some() {
                return Err(Rejection::new(
                    RejectReason::InvalidPrediction,
                    "a prediction has either `value` (regression) or `label`/`score`/`probabilities` (classification)",
                ));
            }
            return Ok(PredictionOutput::Value(check_finite(
                "`prediction.value`",
                v,
            )?));
        }
        let score = match self.score {
            Some(s) => Some(check_unit_interval("`prediction.score`", s)?),
            None => None,
        };
        let probabilities = self.probabilities.map(|p| p.0).unwrap_or_default();
        for (class, p) in &probabilities {
            check_unit_interval(
                &format!("probability of class `{}`", truncate(class, 64)),
                *p,
            )?;
        }
        Ok(PredictionOutput::Class {
            label: self.label.map(|l| l.0),
            score,
            probabilities,
        })
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A label: JSON strings as they are; numbers and booleans normalised to their string form
/// (an integral number prints without a fraction, so `1`, `1.0` and `"1"` are the same label).
struct Label<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Label<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Label<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Label(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Label(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Label(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Label(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Label(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Label(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
                    Ok(Label(Cow::Owned(format!("{}", v as i64))))
                } else {
                    Ok(Label(Cow::Owned(v.to_string())))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Features<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Features<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of feature name to number, string or null")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    let value = map.next_value::<FeatureValue<'de>>()?;
                    out.push((key.0, value));
                }
                Ok(Features(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for FeatureValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FeatureValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a feature value: number, string, boolean or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FeatureValue::Category(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FeatureValue::Category(Cow::Owned(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(FeatureValue::Category(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(FeatureValue::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(FeatureValue::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(FeatureValue::Number(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FeatureValue::Missing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FeatureValue::Missing)
            }
        }
        d.deserialize_any(V)
    }
}

struct Probabilities<'a>(Vec<(Cow<'a, str>, f64)>);

impl<'de: 'a, 'a> Deserialize<'de> for Probabilities<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probabilities<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of class to probability")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    out.push((key.0, map.next_value::<f64>()?));
                }
                Ok(Probabilities(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A string that borrows from the input when it has no escapes. (serde's own `Cow<str>` impl always
/// allocates, and `#[serde(borrow)]` does not reach through `Option`; this visitor borrows whenever
/// the deserializer can, which saves ~30 allocations per 25-feature event.)
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests;
