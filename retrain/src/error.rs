//! Error types of the crate (all `thiserror` enums/structs, no `anyhow`), and [`Problem`], one
//! invalid setting found while validating a configuration.

use std::fmt;

use thiserror::Error;

use crate::Task;

/// One invalid setting: the key as written in the configuration (relative to the value being
/// validated, e.g. `alpha` or `max_categories`) and what is wrong with it. The daemon prefixes
/// the key with its own path (`models.fraud.retrain.algorithm.alpha`), like its config errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, relative to the validated value.
    pub key: String,
    /// What is wrong, including the offending value.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a model could not be trained. Training never panics: every failure of the data, the
/// settings or Linfa ends here.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrainError {
    /// The algorithm or encoder settings are invalid (every problem is listed).
    #[error("invalid training settings: {}", render(.0))]
    InvalidConfig(Vec<Problem>),
    /// The algorithm does not solve this task (e.g. `linear_regression` for classification).
    #[error("algorithm `{algorithm}` cannot be used for {task:?}")]
    WrongTask {
        /// The configured algorithm.
        algorithm: &'static str,
        /// The model's task.
        task: Task,
    },
    /// Fewer training examples than [`crate::MIN_TRAINING_EXAMPLES`].
    #[error("too few training examples: {got} (need at least {need})")]
    TooFewExamples {
        /// Examples given.
        got: usize,
        /// The minimum.
        need: usize,
    },
    /// A classification training set with a single class.
    #[error("only one class in the training data ({0:?}): nothing to discriminate")]
    OneClass(String),
    /// An example's target does not fit the task (a number for classification or a label for
    /// regression).
    #[error("example {index}: target is {found} but the task is {task:?}")]
    TargetMismatch {
        /// Position of the example in the training slice.
        index: usize,
        /// `label` or `value`.
        found: &'static str,
        /// The model's task.
        task: Task,
    },
    /// NaN or an infinity in a training feature or target.
    #[error("example {index}: non-finite value in {field}")]
    NonFinite {
        /// Position of the example in the training slice.
        index: usize,
        /// The feature name, or `target`.
        field: String,
    },
    /// After encoding there is nothing to learn from: no feature columns, or all columns constant.
    #[error("no usable features: {0}")]
    NoUsableFeatures(String),
    /// Linfa refused to fit (its own message).
    #[error("{algorithm} failed to fit: {message}")]
    Fit {
        /// The algorithm.
        algorithm: &'static str,
        /// Linfa's error, rendered.
        message: String,
    },
    /// The fitted model produces NaN or infinite outputs on its own training data (diverged).
    #[error("{0} produced non-finite outputs on the training data (diverged)")]
    Diverged(&'static str),
    /// `set_positive_label` with a label the model does not know, or on a non-binary model.
    #[error("{0}")]
    PositiveLabel(String),
}

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetricsError {
    /// No examples to evaluate on.
    #[error("no examples to evaluate")]
    Empty,
    /// Truths and predictions differ in number.
    #[error("{truths} truths but {predictions} predictions")]
    LengthMismatch {
        /// Number of truths.
        truths: usize,
        /// Number of predictions.
        predictions: usize,
    },
    /// A truth or prediction is a label where a value is expected, or the reverse.
    #[error("item {index}: truth and prediction are not of the same kind (label vs value)")]
    KindMismatch {
        /// Position of the item.
        index: usize,
    },
    /// A regression truth or prediction is NaN or infinite.
    #[error("item {index}: non-finite regression value")]
    NonFinite {
        /// Position of the item.
        index: usize,
    },
}

/// Why an artifact could not be sealed or opened. Each way an artifact can be damaged has its own
/// variant, so the daemon can say what happened (and refuse to load it).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArtifactError {
    /// Sealing with an empty key is refused (it would sign nothing).
    #[error("the signing key is empty")]
    EmptyKey,
    /// The bytes do not start with the artifact magic: not a driftd model artifact.
    #[error("not a driftd model artifact (bad magic)")]
    NotAnArtifact,
    /// The artifact was written in a format this build does not know (e.g. by a newer driftd).
    #[error("unsupported artifact format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version in the header.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// Fewer bytes than the header announces: the artifact was cut short.
    #[error("artifact truncated: {got} bytes, the header announces {expected}")]
    Truncated {
        /// Bytes present.
        got: usize,
        /// Bytes the header announces.
        expected: usize,
    },
    /// More bytes than the header announces.
    #[error("artifact has {extra} trailing bytes after the signature")]
    TrailingBytes {
        /// Bytes beyond the signature.
        extra: usize,
    },
    /// The artifact was signed with another key (its key fingerprint differs from the given key's).
    #[error("artifact was signed with another key (fingerprint {found}, expected {expected})")]
    WrongKey {
        /// Fingerprint in the artifact, hex.
        found: String,
        /// Fingerprint of the key given, hex.
        expected: String,
    },
    /// An Ed25519-signed artifact whose key id none of the verification keys has (signed by a
    /// key this verifier was not given, e.g. one retired from the keyring).
    #[error("artifact was signed with key {key_id}, which is not among the verification keys")]
    UnknownKey {
        /// The key id in the artifact, hex.
        key_id: String,
    },
    /// An Ed25519-signed artifact whose key id was revoked: refused whatever its signature.
    #[error("artifact was signed with key {key_id}, which is revoked")]
    RevokedKey {
        /// The key id in the artifact, hex.
        key_id: String,
    },
    /// An HMAC-signed (format 1) artifact, but the verifier holds no HMAC key.
    #[error("artifact is HMAC-signed (format 1) and no HMAC key is configured to verify it")]
    NoHmacKey,
    /// The key matches but the signature does not: the bytes were altered after sealing.
    #[error("artifact signature does not match: the artifact was altered")]
    BadSignature,
    /// Signed correctly, but the payload cannot be decoded (a bug, not tampering).
    #[error("artifact payload cannot be decoded: {0}")]
    Malformed(String),
    /// A signing or verification key that cannot be read.
    #[error("{0}")]
    KeyFormat(String),
    /// The payload could not be serialised.
    #[error("model cannot be serialised: {0}")]
    Serialize(String),
}

/// A shadow pair that was not recorded. The tally is left untouched.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ShadowError {
    /// A classification pair fed to a regression tally or the reverse.
    #[error("this tally is for {0:?}")]
    WrongTask(Task),
    /// NaN or an infinity in a regression pair.
    #[error("non-finite value in a regression pair")]
    NonFinite,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_config_lists_every_problem() {
        let e = TrainError::InvalidConfig(vec![
            Problem::new("alpha", "must be >= 0, got -1"),
            Problem::new("max_iterations", "must be at least 1"),
        ]);
        assert_eq!(
            e.to_string(),
            "invalid training settings: alpha: must be >= 0, got -1; max_iterations: must be at least 1"
        );
    }
}
