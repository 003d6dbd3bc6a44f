//! Signed model artifacts: a trained model and its metadata as bytes the daemon can store anywhere
//! and load back only if they are intact and signed with its key.
//!
//! **Format, version 1** ([`FORMAT_VERSION`]). All integers big-endian.
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 8 | magic `DRIFTDMA` |
//! | 8 | 2 | format version (`1`) |
//! | 10 | 8 | key fingerprint: the first 8 bytes of HMAC-SHA256(key, `"driftd-retrain key fingerprint v1"`) |
//! | 18 | 8 | payload length `L` |
//! | 26 | `L` | payload: JSON `{"meta": ArtifactMeta, "model": TrainedModel}`, UTF-8, object keys sorted (canonical: the same model and metadata always give the same bytes) |
//! | 26 + `L` | 32 | HMAC-SHA256(key, bytes `0 .. 26 + L`) |
//!
//! The payload is JSON because the workspace already speaks it, it stays readable for an operator
//! (`tail -c +27 model.bin | head -c -32 | jq .meta`), and floats round-trip exactly
//! (`serde_json/float_roundtrip`). The fingerprint is a MAC of a constant, so it reveals nothing
//! about the key; it lets [`Artifact::open`] tell a *wrong key* from *tampering*.
//!
//! [`Artifact::open`] checks, in this order, and stops at the first failure: the magic
//! ([`ArtifactError::NotAnArtifact`]); the format version ([`ArtifactError::UnsupportedVersion`] —
//! checked before the signature because another version may sign differently); the length
//! ([`ArtifactError::Truncated`], [`ArtifactError::TrailingBytes`]); the key fingerprint
//! ([`ArtifactError::WrongKey`]); the signature in constant time with `hmac::Mac::verify_slice`
//! ([`ArtifactError::BadSignature`]); then the payload decodes and the model is consistent
//! ([`ArtifactError::Malformed`]). Any single flipped byte is refused by one of these.
//!
//! [`Artifact::checksum`] is the SHA-256 of the whole artifact (hex), for the registry and logs.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ArtifactError;
use crate::metrics::ValidationMetrics;
use crate::train::{TimeWindow, TrainedModel};

/// The artifact format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// First bytes of every artifact.
pub const MAGIC: &[u8; 8] = b"DRIFTDMA";
const FINGERPRINT_CONTEXT: &[u8] = b"driftd-retrain key fingerprint v1";
const HEADER_LEN: usize = 26;
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// What an artifact says about its model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactMeta {
    /// The monitored model's name.
    pub model: String,
    /// This version's number.
    pub version: u64,
    /// The algorithm tag (`logistic_regression`, ...).
    pub algorithm: String,
    /// The algorithm settings as configured (JSON, tagged by `algorithm`).
    pub hyperparameters: serde_json::Value,
    /// Event-time span of the training examples.
    pub training_window: TimeWindow,
    /// Number of training examples.
    pub training_size: usize,
    /// Metrics on the validation split, when there was one.
    pub validation: Option<ValidationMetrics>,
    /// The version this one was trained to replace.
    pub parent_version: Option<u64>,
    /// When the artifact was made (ms since the Unix epoch; given by the daemon, which owns the
    /// clock).
    pub created_ms: i64,
    /// What triggered the training (e.g. `drift:feature_psi`, `schedule`, `manual`).
    pub trigger: String,
}

impl ArtifactMeta {
    /// Metadata for `trained`, with `algorithm`, `hyperparameters`, `training_window` and
    /// `training_size` taken from the model; `validation` and `parent_version` start empty (set
    /// the public fields).
    pub fn describe(
        model: impl Into<String>,
        version: u64,
        trained: &TrainedModel,
        created_ms: i64,
        trigger: impl Into<String>,
    ) -> ArtifactMeta {
        ArtifactMeta {
            model: model.into(),
            version,
            algorithm: trained.algorithm().name().to_owned(),
            hyperparameters: trained.algorithm().to_json(),
            training_window: trained.training_window(),
            training_size: trained.training_size(),
            validation: None,
            parent_version: None,
            created_ms,
            trigger: trigger.into(),
        }
    }
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    meta: &'a ArtifactMeta,
    model: &'a TrainedModel,
}

#[derive(Deserialize)]
struct Payload {
    meta: ArtifactMeta,
    model: TrainedModel,
}

/// Sealing and opening signed artifacts (see the [module documentation](self) for the format).
///
/// ```
/// # use driftd_retrain::*;
/// # let examples: Vec<Example> = (0..40).map(|i| Example {
/// #     ts_ms: i64::from(i),
/// #     features: [("x".to_owned(), Value::Number(f64::from(i)))].into(),
/// #     target: Target::Value(2.0 * f64::from(i) + 1.0),
/// # }).collect();
/// let algo = AlgorithmConfig::default_for(Task::Regression);
/// let model = train(Task::Regression, &algo, &EncoderConfig::default(), &examples).unwrap();
/// let meta = ArtifactMeta::describe("prices", 3, &model, 1_700_000_000_000, "schedule");
/// let bytes = Artifact::seal(&model, b"a key of at least some length", &meta).unwrap();
/// let (back, back_meta) = Artifact::open(&bytes, b"a key of at least some length").unwrap();
/// assert_eq!((back, back_meta), (model, meta));
/// assert!(matches!(Artifact::open(&bytes, b"another key"), Err(ArtifactError::WrongKey { .. })));
/// assert_eq!(Artifact::checksum(&bytes).len(), 64);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Artifact;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

fn fingerprint(key: &[u8]) -> [u8; 8] {
    let mut m = mac(key);
    m.update(FINGERPRINT_CONTEXT);
    let tag = m.finalize().into_bytes();
    let mut out = [0u8; 8];
    out.copy_from_slice(&tag[..8]);
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Rebuilds every JSON object with its keys sorted, so the bytes do not depend on the iteration
/// order of maps inside Linfa's models (Gaussian naive Bayes keeps a `HashMap`).
fn canonical(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

impl Artifact {
    /// Serialises and signs a model with its metadata. Errors: an empty key, or a value JSON
    /// cannot represent.
    pub fn seal(
        model: &TrainedModel,
        key: &[u8],
        meta: &ArtifactMeta,
    ) -> Result<Vec<u8>, ArtifactError> {
        if key.is_empty() {
            return Err(ArtifactError::EmptyKey);
        }
        let value = serde_json::to_value(PayloadRef { meta, model })
            .map_err(|e| ArtifactError::Serialize(e.to_string()))?;
        let payload = serde_json::to_vec(&canonical(value))
            .map_err(|e| ArtifactError::Serialize(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&fingerprint(key));
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        out.extend_from_slice(&payload);
        let mut m = mac(key);
        m.update(&out);
        out.extend_from_slice(&m.finalize().into_bytes());
        Ok(out)
    }

    /// Verifies and decodes an artifact. See the [module documentation](self) for the checks and
    /// their order; every failure has its own [`ArtifactError`].
    pub fn open(bytes: &[u8], key: &[u8]) -> Result<(TrainedModel, ArtifactMeta), ArtifactError> {
        let magic_len = MAGIC.len().min(bytes.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(ArtifactError::NotAnArtifact);
        }
        let min_len = HEADER_LEN + TAG_LEN;
        if bytes.len() < 10 {
            return Err(ArtifactError::Truncated {
                got: bytes.len(),
                expected: min_len,
            });
        }
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(ArtifactError::Truncated {
                got: bytes.len(),
                expected: min_len,
            });
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&bytes[18..26]);
        let payload_len = u64::from_be_bytes(len_bytes);
        let expected = usize::try_from(payload_len)
            .ok()
            .and_then(|l| l.checked_add(min_len))
            .unwrap_or(usize::MAX);
        if bytes.len() < expected {
            return Err(ArtifactError::Truncated {
                got: bytes.len(),
                expected,
            });
        }
        if bytes.len() > expected {
            return Err(ArtifactError::TrailingBytes {
                extra: bytes.len() - expected,
            });
        }
        let want = fingerprint(key);
        if bytes[10..18] != want {
            return Err(ArtifactError::WrongKey {
                found: hex(&bytes[10..18]),
                expected: hex(&want),
            });
        }
        let body = expected - TAG_LEN;
        let mut m = mac(key);
        m.update(&bytes[..body]);
        m.verify_slice(&bytes[body..])
            .map_err(|_| ArtifactError::BadSignature)?;
        let payload: Payload = serde_json::from_slice(&bytes[HEADER_LEN..body])
            .map_err(|e| ArtifactError::Malformed(e.to_string()))?;
        payload
            .model
            .check_consistency()
            .map_err(ArtifactError::Malformed)?;
        Ok((payload.model, payload.meta))
    }

    /// SHA-256 of the artifact bytes, lowercase hex.
    pub fn checksum(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// The format version in an artifact's header, without verifying anything (to say which
    /// driftd wrote it). `None` when the bytes are not an artifact.
    pub fn format_version(bytes: &[u8]) -> Option<u16> {
        (bytes.len() >= 10 && &bytes[..8] == MAGIC)
            .then(|| u16::from_be_bytes([bytes[8], bytes[9]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_checksum() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        // SHA-256("abc")
        assert_eq!(
            Artifact::checksum(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn canonical_sorts_nested_keys() {
        let v = serde_json::json!({"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": 0});
        assert_eq!(
            serde_json::to_string(&canonical(v)).unwrap(),
            r#"{"a":0,"b":{"a":[{"x":3,"y":2}],"z":1}}"#
        );
    }

    #[test]
    fn not_an_artifact_and_short_inputs() {
        assert_eq!(
            Artifact::open(b"hello world", b"k"),
            Err(ArtifactError::NotAnArtifact)
        );
        assert!(matches!(
            Artifact::open(b"DRIFT", b"k"),
            Err(ArtifactError::Truncated { got: 5, .. })
        ));
        assert!(matches!(
            Artifact::open(b"", b"k"),
            Err(ArtifactError::Truncated { got: 0, .. })
        ));
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&1u16.to_be_bytes());
        header.extend_from_slice(&[0; 8]);
        header.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            Artifact::open(&header, b"k"),
            Err(ArtifactError::Truncated { .. })
        ));
    }
}
