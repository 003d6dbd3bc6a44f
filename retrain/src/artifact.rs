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
//! **Format, version 2** ([`ED25519_FORMAT_VERSION`]): Ed25519 signatures, so that whoever
//! verifies (every `driftd serve`) holds only public keys and cannot forge a model. The same
//! layout with a key id in place of the fingerprint and a longer tag:
//!
//! | offset | bytes | content |
//! |---|---|---|
//! | 0 | 8 | magic `DRIFTDMA` |
//! | 8 | 2 | format version (`2`) |
//! | 10 | 8 | key id: the first 8 bytes of SHA-256 of the 32-byte Ed25519 public key |
//! | 18 | 8 | payload length `L` |
//! | 26 | `L` | payload, as in version 1 |
//! | 26 + `L` | 64 | Ed25519 signature (RFC 8032) of bytes `0 .. 26 + L` |
//!
//! A [`Verifier`] holds several public keys at once (rotation: artifacts signed by the old and
//! the new key both open while both are listed), a list of revoked key ids (refused whatever the
//! signature, [`ArtifactError::RevokedKey`]), and optionally the HMAC key of version 1, so stored
//! version-1 artifacts keep opening during a migration. A key id the verifier does not hold is
//! [`ArtifactError::UnknownKey`] (a key retired from the keyring); a version-1 artifact without an
//! HMAC key is [`ArtifactError::NoHmacKey`]. Signatures are checked with `verify_strict` (no
//! malleable or small-order keys).
//!
//! [`Artifact::checksum`] is the SHA-256 of the whole artifact (hex), for the registry and logs.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ArtifactError;
use crate::metrics::ValidationMetrics;
use crate::train::{TimeWindow, TrainedModel};

/// The HMAC-signed artifact format (version 1), written with [`Signer::Hmac`].
pub const FORMAT_VERSION: u16 = 1;
/// The Ed25519-signed artifact format (version 2), written with [`Signer::Ed25519`]; the newest
/// this build reads.
pub const ED25519_FORMAT_VERSION: u16 = 2;
const ED25519_TAG_LEN: usize = 64;
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
/// #     source: None,
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

/// What signs artifacts.
#[derive(Clone)]
pub enum Signer {
    /// HMAC-SHA256 with a shared key (format 1): whoever can verify can also sign.
    Hmac(Vec<u8>),
    /// Ed25519 (format 2): this private key signs; verifiers need only its public key.
    Ed25519(Box<SigningKey>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Hmac(_) => f.write_str("Signer::Hmac(<redacted>)"),
            Signer::Ed25519(k) => write!(
                f,
                "Signer::Ed25519(key id {})",
                hex(&key_id(&k.verifying_key()))
            ),
        }
    }
}

impl Signer {
    /// An Ed25519 signer from a PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`).
    pub fn ed25519_from_pem(pem: &str) -> Result<Signer, ArtifactError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|k| Signer::Ed25519(Box::new(k)))
            .map_err(|e| {
                ArtifactError::KeyFormat(format!("not a PKCS#8 PEM Ed25519 private key: {e}"))
            })
    }

    /// The Ed25519 public key, for verifiers (`None` for HMAC).
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        match self {
            Signer::Ed25519(k) => Some(k.verifying_key()),
            Signer::Hmac(_) => None,
        }
    }
}

/// The key id of an Ed25519 public key: the first 8 bytes of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// The key id of an Ed25519 public key, hex (what artifacts, errors and `revoked_key_ids` show).
pub fn key_id_hex(key: &VerifyingKey) -> String {
    hex(&key_id(key))
}

/// What verifies artifacts: Ed25519 public keys (several at once, for rotation), revoked key ids,
/// and optionally the HMAC key of format 1 (see the [module documentation](self)).
#[derive(Clone, Default)]
pub struct Verifier {
    hmac: Option<Vec<u8>>,
    ed25519: Vec<([u8; 8], VerifyingKey)>,
    revoked: Vec<[u8; 8]>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hmac", &self.hmac.as_ref().map(|_| "<redacted>"))
            .field("ed25519", &self.key_ids())
            .field(
                "revoked",
                &self.revoked.iter().map(|k| hex(k)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Verifier {
    /// A verifier that accepts nothing yet.
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Also verifies format-1 artifacts with this HMAC key.
    pub fn with_hmac(mut self, key: &[u8]) -> Verifier {
        self.hmac = Some(key.to_vec());
        self
    }

    /// Also accepts artifacts signed by the private key of `key`.
    pub fn with_ed25519(mut self, key: VerifyingKey) -> Verifier {
        let id = key_id(&key);
        if !self.ed25519.iter().any(|(i, _)| *i == id) {
            self.ed25519.push((id, key));
        }
        self
    }

    /// [`Verifier::with_ed25519`] from an SPKI PEM public key (`openssl pkey -pubout`).
    pub fn with_ed25519_pem(self, pem: &str) -> Result<Verifier, ArtifactError> {
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| {
            ArtifactError::KeyFormat(format!("not an SPKI PEM Ed25519 public key: {e}"))
        })?;
        Ok(self.with_ed25519(key))
    }

    /// Refuses artifacts signed by the key with this id (16 hex digits), whatever their signature.
    pub fn revoke(mut self, key_id_hex: &str) -> Result<Verifier, ArtifactError> {
        let id = parse_key_id(key_id_hex).ok_or_else(|| {
            ArtifactError::KeyFormat(format!(
                "{key_id_hex:?} is not a key id (16 hexadecimal digits)"
            ))
        })?;
        self.revoked.push(id);
        Ok(self)
    }

    /// The ids of the Ed25519 keys it accepts, hex.
    pub fn key_ids(&self) -> Vec<String> {
        self.ed25519.iter().map(|(i, _)| hex(i)).collect()
    }

    /// Whether it can verify anything at all.
    pub fn is_empty(&self) -> bool {
        self.hmac.is_none() && self.ed25519.is_empty()
    }
}

fn parse_key_id(s: &str) -> Option<[u8; 8]> {
    let s = s.trim();
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

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
        Artifact::seal_with(model, &Signer::Hmac(key.to_vec()), meta)
    }

    /// Serialises and signs a model with its metadata: format 1 with an HMAC key, format 2 with
    /// an Ed25519 key. Errors: an empty HMAC key, or a value JSON cannot represent.
    pub fn seal_with(
        model: &TrainedModel,
        signer: &Signer,
        meta: &ArtifactMeta,
    ) -> Result<Vec<u8>, ArtifactError> {
        if matches!(signer, Signer::Hmac(k) if k.is_empty()) {
            return Err(ArtifactError::EmptyKey);
        }
        let value = serde_json::to_value(PayloadRef { meta, model })
            .map_err(|e| ArtifactError::Serialize(e.to_string()))?;
        let payload = serde_json::to_vec(&canonical(value))
            .map_err(|e| ArtifactError::Serialize(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + ED25519_TAG_LEN);
        out.extend_from_slice(MAGIC);
        match signer {
            Signer::Hmac(key) => {
                out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
                out.extend_from_slice(&fingerprint(key));
            }
            Signer::Ed25519(key) => {
                out.extend_from_slice(&ED25519_FORMAT_VERSION.to_be_bytes());
                out.extend_from_slice(&key_id(&key.verifying_key()));
            }
        }
        out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        out.extend_from_slice(&payload);
        match signer {
            Signer::Hmac(key) => {
                let mut m = mac(key);
                m.update(&out);
                out.extend_from_slice(&m.finalize().into_bytes());
            }
            Signer::Ed25519(key) => {
                let signature = key.sign(&out);
                out.extend_from_slice(&signature.to_bytes());
            }
        }
        Ok(out)
    }

    /// Verifies and decodes an artifact. See the [module documentation](self) for the checks and
    /// their order; every failure has its own [`ArtifactError`].
    pub fn open(bytes: &[u8], key: &[u8]) -> Result<(TrainedModel, ArtifactMeta), ArtifactError> {
        Artifact::open_with(bytes, &Verifier::new().with_hmac(key))
    }

    /// Verifies and decodes an artifact of either format with `verifier`'s keys.
    pub fn open_with(
        bytes: &[u8],
        verifier: &Verifier,
    ) -> Result<(TrainedModel, ArtifactMeta), ArtifactError> {
        let magic_len = MAGIC.len().min(bytes.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(ArtifactError::NotAnArtifact);
        }
        let version = (bytes.len() >= 10).then(|| u16::from_be_bytes([bytes[8], bytes[9]]));
        let tag_len = match version {
            Some(ED25519_FORMAT_VERSION) => ED25519_TAG_LEN,
            _ => TAG_LEN,
        };
        let min_len = HEADER_LEN + tag_len;
        if bytes.len() < 10 {
            return Err(ArtifactError::Truncated {
                got: bytes.len(),
                expected: min_len,
            });
        }
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION && version != ED25519_FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedVersion {
                found: version,
                supported: ED25519_FORMAT_VERSION,
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
        let body = expected - tag_len;
        if version == FORMAT_VERSION {
            let key = verifier.hmac.as_deref().ok_or(ArtifactError::NoHmacKey)?;
            let want = fingerprint(key);
            if bytes[10..18] != want {
                return Err(ArtifactError::WrongKey {
                    found: hex(&bytes[10..18]),
                    expected: hex(&want),
                });
            }
            let mut m = mac(key);
            m.update(&bytes[..body]);
            m.verify_slice(&bytes[body..])
                .map_err(|_| ArtifactError::BadSignature)?;
        } else {
            let id = &bytes[10..18];
            if verifier.revoked.iter().any(|r| r == id) {
                return Err(ArtifactError::RevokedKey { key_id: hex(id) });
            }
            let key = verifier
                .ed25519
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, k)| k)
                .ok_or_else(|| ArtifactError::UnknownKey { key_id: hex(id) })?;
            let mut tag = [0u8; ED25519_TAG_LEN];
            tag.copy_from_slice(&bytes[body..]);
            key.verify_strict(&bytes[..body], &ed25519_dalek::Signature::from_bytes(&tag))
                .map_err(|_| ArtifactError::BadSignature)?;
        }
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
