//! Unit tests of `registry`.

use std::path::Path;

use super::*;
use crate::store::EmbeddedStore;
use driftd_retrain::{AlgorithmConfig, EncoderConfig, Example, Target, Task, Value};

const KEY: &str = "a registry key of at least 32 bytes, for tests";

fn examples(n: i64) -> Vec<Example> {
    (0..n)
        .map(|t| {
            let x = ((t * 7919) % 200 - 100) as f64 / 50.0;
            let colour = ["red", "green", "blue"][(t % 3) as usize];
            let y = if x > 0.0 { "yes" } else { "no" };
            Example {
                ts_ms: 1_700_000_000_000 + t * 1000,
                features: [
                    ("x".to_owned(), Value::Number(x)),
                    ("colour".to_owned(), Value::from(colour)),
                ]
                .into(),
                target: Target::Label(y.into()),
                source: None,
            }
        })
        .collect()
}

fn trained(n: i64) -> TrainedModel {
    driftd_retrain::train(
        Task::Classification,
        &AlgorithmConfig::default_for(Task::Classification),
        &EncoderConfig::default(),
        &examples(n),
    )
    .unwrap()
}

fn registry(dir: &Path, key: &str) -> Registry<EmbeddedStore> {
    let store = EmbeddedStore::open(&dir.join("state.redb")).unwrap();
    Registry::new(store, Some(SecretString::from(key))).unwrap()
}

#[tokio::test]
async fn register_and_load_round_trip_with_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), KEY);
    let model = trained(200);
    let r = reg.register("churn", &model, None, "manual").await.unwrap();
    assert_eq!(r.version, 1);
    let (back, meta) = reg.load("churn", 1).await.unwrap();
    assert_eq!(back, model);
    let rows: Vec<_> = examples(300).into_iter().map(|e| e.features).collect();
    assert_eq!(back.predict_batch(&rows), model.predict_batch(&rows));
    assert_eq!((meta.model.as_str(), meta.version), ("churn", 1));
    assert_eq!(meta.trigger, "manual");
    let rec = reg.show("churn", 1).await.unwrap();
    assert_eq!(rec.checksum, r.checksum);
    assert_eq!(rec.status, VersionStatus::Registered);
    assert_eq!(reg.list_models().await.unwrap(), ["churn"]);
}

#[tokio::test]
async fn versions_increase_and_record_their_parent() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), KEY);
    for want in 1..=3 {
        let r = reg
            .register("m", &trained(100 + want as i64), None, "schedule")
            .await
            .unwrap();
        assert_eq!(r.version, want);
    }
    reg.register("other", &trained(50), None, "manual")
        .await
        .unwrap();
    let vs = reg.versions("m").await.unwrap();
    assert_eq!(
        vs.iter().map(|r| r.meta.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(reg.list_models().await.unwrap(), ["m", "other"]);
    reg.promote("m", 2, "", None, None).await.unwrap();
    let r = reg
        .register("m", &trained(120), None, "drift")
        .await
        .unwrap();
    assert_eq!(r.version, 4);
    assert_eq!(reg.show("m", 4).await.unwrap().meta.parent_version, Some(2));
    assert!(matches!(
        reg.versions("nope").await,
        Err(RegistryError::UnknownModel(_))
    ));
    assert!(matches!(
        reg.show("m", 9).await,
        Err(RegistryError::UnknownVersion { version: 9, .. })
    ));
    assert!(matches!(
        reg.register("bad/name", &trained(50), None, "x").await,
        Err(RegistryError::InvalidName(_))
    ));
}

#[tokio::test]
async fn promote_and_rollback_move_the_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), KEY);
    for n in [100, 110, 120] {
        reg.register("m", &trained(n), None, "manual")
            .await
            .unwrap();
    }
    let a = reg.promote("m", 1, "first", None, None).await.unwrap();
    assert_eq!(
        a,
        Aliases {
            live: Some(1),
            candidate: None,
            previous: None
        }
    );
    reg.set_alias("m", Alias::Candidate, Some(2)).await.unwrap();
    assert_eq!(
        reg.show("m", 2).await.unwrap().status,
        VersionStatus::Candidate
    );
    let a = reg.promote("m", 2, "shadow won", None, None).await.unwrap();
    assert_eq!(
        a,
        Aliases {
            live: Some(2),
            candidate: None,
            previous: Some(1)
        }
    );
    assert_eq!(reg.aliases("m").await.unwrap(), a);
    assert_eq!(
        reg.show("m", 1).await.unwrap().status,
        VersionStatus::Previous
    );
    let rec2 = reg.show("m", 2).await.unwrap();
    assert_eq!(rec2.status, VersionStatus::Live);
    let last = rec2.decisions.last().unwrap();
    assert_eq!((last.action.as_str(), last.replaced), ("promote", Some(1)));
    assert!(matches!(
        reg.promote("m", 2, "", None, None).await,
        Err(RegistryError::AlreadyLive { .. })
    ));
    let a = reg.rollback("m", "bad", None).await.unwrap();
    assert_eq!(
        a,
        Aliases {
            live: Some(1),
            candidate: None,
            previous: Some(2)
        }
    );
    let (live, _) = reg.load_alias("m", Alias::Live).await.unwrap();
    assert_eq!(live, reg.load("m", 1).await.unwrap().0);
    // Promoting a third version: the live 1 becomes previous, 2 (no alias left) retires.
    let a = reg.promote("m", 3, "", None, None).await.unwrap();
    assert_eq!(
        a,
        Aliases {
            live: Some(3),
            candidate: None,
            previous: Some(1)
        }
    );
    assert_eq!(
        reg.show("m", 2).await.unwrap().status,
        VersionStatus::Retired
    );
    reg.add_decision(
        "m",
        2,
        DecisionEntry {
            at_ms: 5,
            action: "shadow".into(),
            note: "rejected".into(),
            replaced: None,
            record: None,
            actor: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reg.show("m", 2)
            .await
            .unwrap()
            .decisions
            .last()
            .unwrap()
            .at_ms,
        5
    );
    // Without a previous version there is nothing to roll back to.
    let dir2 = tempfile::tempdir().unwrap();
    let reg2 = registry(dir2.path(), KEY);
    reg2.register("m", &trained(100), None, "manual")
        .await
        .unwrap();
    reg2.promote("m", 1, "", None, None).await.unwrap();
    assert!(matches!(
        reg2.rollback("m", "", None).await,
        Err(RegistryError::NoAlias {
            alias: Alias::Previous,
            ..
        })
    ));
    assert!(matches!(
        reg2.promote("m", 7, "", None, None).await,
        Err(RegistryError::UnknownVersion { .. })
    ));
}

#[tokio::test]
async fn a_tampered_artifact_in_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), KEY);
    reg.register("m", &trained(100), None, "manual")
        .await
        .unwrap();
    let key = artifact_key("m", 1);
    let mut bytes = reg.store().get(&key).await.unwrap().unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    reg.store().put_all(vec![(key, bytes)]).await.unwrap();
    let err = reg.load("m", 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Artifact {
                source: ArtifactError::BadSignature,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(reg.export("m", 1).await.is_err());
}

#[tokio::test]
async fn a_validly_signed_artifact_under_the_wrong_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), KEY);
    reg.register("m", &trained(100), None, "manual")
        .await
        .unwrap();
    reg.register("m", &trained(150), None, "manual")
        .await
        .unwrap();
    let v1 = reg
        .store()
        .get(&artifact_key("m", 1))
        .await
        .unwrap()
        .unwrap();
    reg.store()
        .put_all(vec![(artifact_key("m", 2), v1)])
        .await
        .unwrap();
    assert!(matches!(
        reg.load("m", 2).await,
        Err(RegistryError::Mismatch { version: 2, .. })
    ));
}

#[tokio::test]
async fn wrong_or_missing_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let reg = registry(dir.path(), KEY);
        reg.register("m", &trained(100), None, "manual")
            .await
            .unwrap();
    }
    let other = registry(dir.path(), "another key that is also long enough!!");
    assert!(matches!(
        other.load("m", 1).await,
        Err(RegistryError::Artifact {
            source: ArtifactError::WrongKey { .. },
            ..
        })
    ));
    let store = other.store().clone();
    let keyless = Registry::new(store.clone(), None).unwrap();
    assert!(matches!(
        keyless.load("m", 1).await,
        Err(RegistryError::NoKey)
    ));
    assert!(matches!(
        keyless.register("m", &trained(100), None, "x").await,
        Err(RegistryError::NoKey)
    ));
    // Listing and aliases need no key.
    assert_eq!(keyless.list_models().await.unwrap(), ["m"]);
    keyless.promote("m", 1, "", None, None).await.unwrap();
    assert!(matches!(
        Registry::new(store, Some(SecretString::from("short"))),
        Err(RegistryError::ShortKey)
    ));
}

#[tokio::test]
async fn export_then_import_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), KEY);
    let model = trained(200);
    let r = reg.register("a", &model, None, "manual").await.unwrap();
    let bytes = reg.export("a", 1).await.unwrap();
    assert_eq!(Artifact::checksum(&bytes), r.checksum);
    let imported = reg.import("b", &bytes).await.unwrap();
    assert_eq!(imported.version, 1);
    let (back, meta) = reg.load("b", 1).await.unwrap();
    assert_eq!(back, model);
    assert_eq!(
        (meta.model.as_str(), meta.trigger.as_str()),
        ("b", "import")
    );
    let rec = reg.show("b", 1).await.unwrap();
    assert_eq!(
        rec.imported,
        Some(ImportSource {
            model: "a".into(),
            version: 1,
            checksum: r.checksum.clone()
        })
    );
    // Importing again makes version 2 of the same model.
    assert_eq!(reg.import("b", &bytes).await.unwrap().version, 2);
    // Another registry's key, or damaged bytes, are refused.
    let dir2 = tempfile::tempdir().unwrap();
    let foreign = registry(dir2.path(), "a completely different key, 32+ bytes");
    assert!(matches!(
        foreign.import("b", &bytes).await,
        Err(RegistryError::Artifact {
            source: ArtifactError::WrongKey { .. },
            ..
        })
    ));
    let mut damaged = bytes.clone();
    damaged.truncate(bytes.len() - 1);
    assert!(reg.import("b", &damaged).await.is_err());
    assert!(reg.import("b", b"not an artifact").await.is_err());
    assert_eq!(reg.versions("b").await.unwrap().len(), 2);
}

#[test]
fn the_config_key_is_checked_for_length() {
    let short =
        crate::config::load_str("[registry]\nsigning_key = { value = \"short\" }\n").unwrap_err();
    assert!(
        short.0.iter().any(|e| e.path == "registry.signing_key"),
        "{short}"
    );
    let ok = crate::config::load_str(&format!(
        "[registry]\nsigning_key = {{ value = \"{KEY}\" }}\n"
    ))
    .unwrap();
    assert_eq!(
        signing_key(&ok.secrets).unwrap().unwrap().expose_secret(),
        KEY
    );
}
