//! Signed artifacts: round trips give identical predictions, and every kind of damage is refused
//! with its own error.

mod common;

use common::*;
use driftd_retrain::ed25519_dalek::SigningKey;
use driftd_retrain::ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use driftd_retrain::ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use driftd_retrain::{
    AlgorithmConfig, Artifact, ArtifactError, ArtifactMeta, ED25519_FORMAT_VERSION, EncoderConfig,
    FORMAT_VERSION, LogisticRegressionParams, Signer, Task, TrainedModel, Verifier, evaluate,
    key_id_hex, split_by_time, train,
};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn models() -> Vec<(TrainedModel, Vec<driftd_retrain::Features>)> {
    let mut out = Vec::new();
    let bin = binary_blobs(21, 300);
    let three = three_blobs(22, 300);
    let reg = linear_problem(23, 300);
    for algo in classifiers() {
        for ex in [&bin, &three] {
            let m = train(Task::Classification, &algo, &EncoderConfig::default(), ex).unwrap();
            out.push((m, features_of(ex)));
        }
    }
    for algo in regressors() {
        let m = train(Task::Regression, &algo, &EncoderConfig::default(), &reg).unwrap();
        out.push((m, features_of(&reg)));
    }
    out
}

fn meta_for(model: &TrainedModel) -> ArtifactMeta {
    let mut meta = ArtifactMeta::describe("fraud", 7, model, 1_790_000_000_000, "drift:amount");
    meta.parent_version = Some(6);
    meta
}

#[test]
fn round_trip_gives_identical_predictions() {
    for (model, rows) in models() {
        let name = model.algorithm().name();
        let meta = meta_for(&model);
        let bytes = Artifact::seal(&model, KEY, &meta).unwrap();
        eprintln!(
            "{name} ({} classes): {} bytes",
            model.classes().len(),
            bytes.len()
        );
        assert_eq!(Artifact::format_version(&bytes), Some(FORMAT_VERSION));
        let (back, back_meta) = Artifact::open(&bytes, KEY).unwrap();
        assert_eq!(back_meta, meta);
        assert_eq!(back, model, "{name}");
        assert_eq!(
            back.predict_batch(&rows),
            model.predict_batch(&rows),
            "{name}: predictions differ after the round trip"
        );
        // Canonical bytes: sealing the loaded model again gives the same artifact.
        assert_eq!(
            Artifact::seal(&back, KEY, &back_meta).unwrap(),
            bytes,
            "{name}"
        );
    }
}

#[test]
fn same_training_gives_same_checksum() {
    let ex = binary_blobs(24, 200);
    let algo = AlgorithmConfig::GaussianNb(Default::default()); // a HashMap inside Linfa's model
    let seal = || {
        let m = train(Task::Classification, &algo, &EncoderConfig::default(), &ex).unwrap();
        Artifact::seal(&m, KEY, &meta_for(&m)).unwrap()
    };
    let (a, b) = (seal(), seal());
    assert_eq!(Artifact::checksum(&a), Artifact::checksum(&b));
    assert_eq!(Artifact::checksum(&a).len(), 64);
    assert!(
        Artifact::checksum(&a)
            .chars()
            .all(|c| c.is_ascii_hexdigit())
    );
}

fn sealed() -> Vec<u8> {
    let (tr, va) = split_by_time(binary_blobs(25, 300), 0.2);
    let algo = AlgorithmConfig::LogisticRegression(LogisticRegressionParams::default());
    let model = train(Task::Classification, &algo, &EncoderConfig::default(), &tr).unwrap();
    let mut meta = meta_for(&model);
    meta.validation = Some(evaluate(&model, &va).unwrap());
    Artifact::seal(&model, KEY, &meta).unwrap()
}

#[test]
fn flipped_payload_byte_is_a_bad_signature() {
    let bytes = sealed();
    let mut bad = bytes.clone();
    let mid = bytes.len() / 2;
    bad[mid] ^= 0x01;
    assert_eq!(Artifact::open(&bad, KEY), Err(ArtifactError::BadSignature));
    let mut bad_tag = bytes.clone();
    let last = bytes.len() - 1;
    bad_tag[last] ^= 0x80;
    assert_eq!(
        Artifact::open(&bad_tag, KEY),
        Err(ArtifactError::BadSignature)
    );
}

#[test]
fn wrong_key_is_its_own_error() {
    let bytes = sealed();
    match Artifact::open(&bytes, b"another key entirely") {
        Err(ArtifactError::WrongKey { found, expected }) => {
            assert_eq!((found.len(), expected.len()), (16, 16));
            assert_ne!(found, expected);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncation_is_detected() {
    let bytes = sealed();
    for cut in [
        bytes.len() - 1,
        bytes.len() - 32,
        bytes.len() / 2,
        30,
        20,
        9,
    ] {
        match Artifact::open(&bytes[..cut], KEY) {
            Err(ArtifactError::Truncated { got, expected }) => {
                assert_eq!(got, cut);
                assert!(expected > got);
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"xyz");
    assert_eq!(
        Artifact::open(&longer, KEY),
        Err(ArtifactError::TrailingBytes { extra: 3 })
    );
}

#[test]
fn future_version_is_refused_before_anything_else() {
    let mut bytes = sealed();
    bytes[8..10].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(Artifact::format_version(&bytes), Some(3));
    // Even with the wrong key: a newer format may sign differently, so the version comes first.
    for key in [KEY, b"other".as_slice()] {
        assert_eq!(
            Artifact::open(&bytes, key),
            Err(ArtifactError::UnsupportedVersion {
                found: 3,
                supported: ED25519_FORMAT_VERSION
            })
        );
    }
}

#[test]
fn not_an_artifact_and_empty_key() {
    let mut bytes = sealed();
    bytes[0] = b'X';
    assert_eq!(
        Artifact::open(&bytes, KEY),
        Err(ArtifactError::NotAnArtifact)
    );
    assert_eq!(
        Artifact::open(br#"{"meta": {}}"#, KEY),
        Err(ArtifactError::NotAnArtifact)
    );
    let model = train(
        Task::Classification,
        &AlgorithmConfig::default_for(Task::Classification),
        &EncoderConfig::default(),
        &binary_blobs(26, 50),
    )
    .unwrap();
    assert_eq!(
        Artifact::seal(&model, b"", &meta_for(&model)),
        Err(ArtifactError::EmptyKey)
    );
}

#[test]
fn every_single_byte_flip_is_refused() {
    let bytes = sealed();
    // Every header byte, and a stride through payload and signature (each open hashes the whole
    // artifact; all positions would make this test slow in debug builds).
    let positions = (0..26)
        .chain((26..bytes.len()).step_by(97))
        .chain([bytes.len() - 1]);
    for i in positions {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert!(
            Artifact::open(&bad, KEY).is_err(),
            "flipping byte {i} was not detected"
        );
    }
}

#[test]
fn metadata_is_readable_json() {
    let bytes = sealed();
    let payload = &bytes[26..bytes.len() - 32];
    let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let meta = &v["meta"];
    assert_eq!(meta["model"], "fraud");
    assert_eq!(meta["version"], 7);
    assert_eq!(meta["parent_version"], 6);
    assert_eq!(meta["algorithm"], "logistic_regression");
    assert_eq!(meta["hyperparameters"]["algorithm"], "logistic_regression");
    assert_eq!(meta["hyperparameters"]["alpha"], 1.0);
    assert_eq!(meta["training_size"], 240);
    assert_eq!(meta["training_window"]["from_ms"], 0);
    assert_eq!(meta["validation"]["task"], "classification");
    assert_eq!(meta["trigger"], "drift:amount");
    assert_eq!(meta["created_ms"], 1_790_000_000_000_i64);
}

#[test]
fn signed_but_inconsistent_model_is_malformed() {
    // A model whose encoder does not match Linfa's fitted model (possible only through a bug or a
    // holder of the key) must be refused at load time, not panic inside Linfa when predicting.
    let narrow: Vec<driftd_retrain::Example> = binary_blobs(27, 100)
        .into_iter()
        .map(|mut e| {
            e.features.retain(|k, _| k == "x1");
            e
        })
        .collect();
    let narrow_reg: Vec<driftd_retrain::Example> = linear_problem(27, 100)
        .into_iter()
        .map(|mut e| {
            e.features.retain(|k, _| k == "x1");
            e
        })
        .collect();
    for (model, _) in models() {
        let task = model.task();
        let other = match task {
            Task::Classification => &narrow,
            Task::Regression => &narrow_reg,
        };
        let small = train(task, model.algorithm(), &EncoderConfig::default(), other).unwrap();
        assert!(model.check_consistency().is_ok());
        let mut json = serde_json::to_value(&model).unwrap();
        json["encoder"] = serde_json::to_value(small.encoder()).unwrap();
        let broken: TrainedModel = serde_json::from_value(json).unwrap();
        assert!(
            broken.check_consistency().is_err(),
            "{}",
            model.algorithm().name()
        );
        let bytes = Artifact::seal(&broken, KEY, &meta_for(&broken)).unwrap();
        assert!(
            matches!(
                Artifact::open(&bytes, KEY),
                Err(ArtifactError::Malformed(_))
            ),
            "{}",
            model.algorithm().name()
        );
    }
}

fn small_model() -> TrainedModel {
    train(
        Task::Classification,
        &AlgorithmConfig::default_for(Task::Classification),
        &EncoderConfig::default(),
        &binary_blobs(27, 80),
    )
    .unwrap()
}

fn ed25519(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Format 2: sealed with a private key, opened with its public key; several keys at once
/// (rotation); a key retired from the keyring, a revoked key and the HMAC-only verifier each refused
/// with their own error; format-1 artifacts keep opening while the HMAC key is also given
/// (migration), and are refused with their own error without it.
#[test]
fn ed25519_signatures_rotation_retirement_and_revocation() {
    let model = small_model();
    let meta = meta_for(&model);
    let (old, new) = (ed25519(1), ed25519(2));
    let by_old =
        Artifact::seal_with(&model, &Signer::Ed25519(Box::new(old.clone())), &meta).unwrap();
    let by_new =
        Artifact::seal_with(&model, &Signer::Ed25519(Box::new(new.clone())), &meta).unwrap();
    assert_eq!(
        Artifact::format_version(&by_old),
        Some(ED25519_FORMAT_VERSION)
    );
    let both = Verifier::new()
        .with_ed25519(old.verifying_key())
        .with_ed25519(new.verifying_key());
    for bytes in [&by_old, &by_new] {
        let (back, back_meta) = Artifact::open_with(bytes, &both).unwrap();
        assert_eq!((back, back_meta), (model.clone(), meta.clone()));
    }
    // The old key retired from the keyring.
    let only_new = Verifier::new().with_ed25519(new.verifying_key());
    assert!(Artifact::open_with(&by_new, &only_new).is_ok());
    assert_eq!(
        Artifact::open_with(&by_old, &only_new),
        Err(ArtifactError::UnknownKey {
            key_id: key_id_hex(&old.verifying_key())
        })
    );
    // Revoked: refused although its public key is still listed.
    let revoked = both
        .clone()
        .revoke(&key_id_hex(&old.verifying_key()))
        .unwrap();
    assert_eq!(
        Artifact::open_with(&by_old, &revoked),
        Err(ArtifactError::RevokedKey {
            key_id: key_id_hex(&old.verifying_key())
        })
    );
    assert!(Artifact::open_with(&by_new, &revoked).is_ok());
    // An HMAC key alone cannot open format 2, nor an Ed25519 keyring format 1.
    assert!(matches!(
        Artifact::open(&by_new, KEY),
        Err(ArtifactError::UnknownKey { .. })
    ));
    let v1 = Artifact::seal(&model, KEY, &meta).unwrap();
    assert_eq!(Artifact::format_version(&v1), Some(FORMAT_VERSION));
    assert_eq!(
        Artifact::open_with(&v1, &only_new),
        Err(ArtifactError::NoHmacKey)
    );
    // Migration: both kinds open while the HMAC key is also given.
    let migrating = only_new.with_hmac(KEY);
    assert!(Artifact::open_with(&v1, &migrating).is_ok());
    assert!(Artifact::open_with(&by_new, &migrating).is_ok());
    // A key id that is not one.
    assert!(matches!(
        Verifier::new().revoke("not-hex"),
        Err(ArtifactError::KeyFormat(_))
    ));
}

/// Every single byte flip of a format-2 artifact is refused (header, payload, signature).
#[test]
fn every_single_byte_flip_of_an_ed25519_artifact_is_refused() {
    let model = small_model();
    let key = ed25519(3);
    let bytes = Artifact::seal_with(
        &model,
        &Signer::Ed25519(Box::new(key.clone())),
        &meta_for(&model),
    )
    .unwrap();
    let verifier = Verifier::new().with_ed25519(key.verifying_key());
    assert!(Artifact::open_with(&bytes, &verifier).is_ok());
    let positions = (0..26)
        .chain((26..bytes.len()).step_by(89))
        .chain(bytes.len() - 64..bytes.len());
    for i in positions {
        let mut bad = bytes.clone();
        bad[i] ^= 0x04;
        assert!(
            Artifact::open_with(&bad, &verifier).is_err(),
            "flipping byte {i} was not detected"
        );
    }
}

/// Keys as PEM: PKCS#8 private and SPKI public keys, those this crate writes and those OpenSSL
/// writes (`fixtures/ed25519-openssl.*.pem`, made by `openssl genpkey -algorithm ed25519 -out
/// ed25519-openssl.key.pem` and `openssl pkey -in ed25519-openssl.key.pem -pubout -out
/// ed25519-openssl.pub.pem`; a test-only key). Anything else is a key-format error.
#[test]
fn ed25519_keys_from_pem_including_openssl_ones() {
    let model = small_model();
    let meta = meta_for(&model);
    let key = ed25519(4);
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let openssl_private =
        std::fs::read_to_string(format!("{fixtures}ed25519-openssl.key.pem")).unwrap();
    let openssl_public =
        std::fs::read_to_string(format!("{fixtures}ed25519-openssl.pub.pem")).unwrap();
    for (private, public) in [
        (private.as_str(), public.as_str()),
        (&openssl_private, &openssl_public),
    ] {
        let signer = Signer::ed25519_from_pem(private).unwrap();
        let bytes = Artifact::seal_with(&model, &signer, &meta).unwrap();
        let verifier = Verifier::new().with_ed25519_pem(public).unwrap();
        assert_eq!(
            verifier.key_ids(),
            [key_id_hex(&signer.verifying_key().unwrap())]
        );
        assert!(Artifact::open_with(&bytes, &verifier).is_ok());
    }
    assert!(matches!(
        Signer::ed25519_from_pem(&public),
        Err(ArtifactError::KeyFormat(_))
    ));
    assert!(matches!(
        Verifier::new()
            .with_ed25519_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        Err(ArtifactError::KeyFormat(_))
    ));
}
