//! The model registry end to end: the `driftd models` CLI on the embedded store (train → list →
//! promote → show → rollback → export/import, a tampered store refused) and the registry API
//! against a real redis-server with a random key prefix.

use std::path::Path;
use std::process::{Command, Output};

use driftd::registry::{Alias, Aliases, Registry, RegistryError, VersionStatus};
use driftd::store::config::RedisStateConfig;
use driftd::store::{AnyStore, EmbeddedStore, RedisStore, StateStore};
use driftd_retrain::{
    AlgorithmConfig, ArtifactError, EncoderConfig, Example, Target, Task, Value, train,
};
use secrecy::SecretString;

use crate::harness::*;

pub(crate) const KEY: &str = "an end-to-end registry key, longer than 32 bytes";

/// Seeded, deterministic labelled examples: `y = x > 0` with a category that does not matter.
fn examples(n: i64, offset: i64) -> Vec<Example> {
    (0..n)
        .map(|i| {
            let t = i + offset;
            let x = ((t * 7919) % 200 - 100) as f64 / 50.0;
            let colour = ["red", "green", "blue"][(t % 3) as usize];
            Example {
                ts_ms: 1_700_000_000_000 + t * 1000,
                features: [
                    ("x".to_owned(), Value::Number(x)),
                    ("colour".to_owned(), Value::from(colour)),
                ]
                .into(),
                target: Target::Label(if x > 0.0 { "yes" } else { "no" }.into()),
                source: None,
            }
        })
        .collect()
}

fn write_examples(path: &Path, ex: &[Example]) {
    let lines: Vec<String> = ex
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    write_lines(path, &lines);
}

pub(crate) fn models(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_driftd"))
        .arg("models")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("DRIFTD_REGISTRY_KEY", KEY)
        .env_remove("DRIFTD_CONFIG")
        .output()
        .unwrap()
}

/// Runs a command that must succeed; returns stdout.
pub(crate) fn ok(config: &Path, args: &[&str]) -> String {
    let out = models(config, args);
    assert!(
        out.status.success(),
        "driftd models {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(config: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(ok(config, &all).trim()).unwrap()
}

#[test]
fn the_models_cli_trains_promotes_rolls_back_and_moves_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let config = dir.path().join("driftd.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n",
            state.display()
        ),
    )
    .unwrap();
    let ex1 = dir.path().join("ex1.jsonl");
    let ex2 = dir.path().join("ex2.jsonl");
    write_examples(&ex1, &examples(300, 0));
    write_examples(&ex2, &examples(400, 300));

    // Train two versions; the text output names version, checksum and validation metrics.
    let out = ok(
        &config,
        &["train", "churn", "--examples", ex1.to_str().unwrap()],
    );
    assert!(out.contains("registered version 1 (sha256:"), "{out}");
    assert!(out.contains("validation: n=60 accuracy="), "{out}");
    let v2 = json(
        &config,
        &[
            "train",
            "churn",
            "--examples",
            ex2.to_str().unwrap(),
            "--algorithm",
            r#"{"algorithm": "decision_tree", "max_depth": 4}"#,
        ],
    );
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["checksum"].as_str().unwrap().len(), 64);
    assert!(v2["validation"]["accuracy"].as_f64().unwrap() > 0.9, "{v2}");

    let list = ok(&config, &["list"]);
    assert_eq!(
        list, "churn: 2 version(s), live=- candidate=- previous=-\n",
        "{list}"
    );

    ok(&config, &["promote", "churn", "1"]);
    let out = ok(&config, &["promote", "churn", "2"]);
    assert!(out.contains("version 2 is live"), "{out}");
    let show = json(&config, &["show", "churn"]);
    assert_eq!(
        show["aliases"],
        serde_json::json!({"live": 2, "candidate": null, "previous": 1})
    );
    let detail = ok(&config, &["show", "churn", "--version", "2"]);
    for want in [
        "status:       live",
        "algorithm:    decision_tree",
        "trigger:      manual",
        "parent:       -",
        "promote (replaced v1)",
    ] {
        assert!(detail.contains(want), "{want} missing from:\n{detail}");
    }
    let v2_meta = json(&config, &["show", "churn", "--version", "2"]);
    assert_eq!(v2_meta["checksum"], v2["checksum"]);

    let out = ok(&config, &["rollback", "churn"]);
    assert!(out.contains("rolled back to version 1"), "{out}");
    assert_eq!(
        json(&config, &["show", "churn"])["aliases"],
        serde_json::json!({"live": 1, "candidate": null, "previous": 2})
    );

    // Export, then import under another name: same model, new record pointing at the source.
    let file = dir.path().join("churn-v2.bin");
    let exported = json(&config, &["export", "churn", "2", file.to_str().unwrap()]);
    assert_eq!(exported["checksum"], v2["checksum"]);
    let imported = json(&config, &["import", "churn-copy", file.to_str().unwrap()]);
    assert_eq!(imported["version"], 1);
    let rec = json(&config, &["show", "churn-copy", "--version", "1"]);
    assert_eq!(rec["imported"]["checksum"], v2["checksum"]);
    assert_eq!(rec["meta"]["algorithm"], "decision_tree");
    assert_eq!(
        ok(&config, &["list"]),
        "churn: 2 version(s), live=1 candidate=- previous=2\n\
         churn-copy: 1 version(s), live=- candidate=- previous=-\n"
    );

    // Errors are clear and exit non-zero: no key, wrong key, unknown version, tampered file.
    let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .args(["models", "--config"])
        .arg(&config)
        .args(["export", "churn", "1"])
        .arg(dir.path().join("x.bin"))
        .env_remove("DRIFTD_REGISTRY_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no registry key"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
        .args(["models", "--config"])
        .arg(&config)
        .args(["export", "churn", "1"])
        .arg(dir.path().join("x.bin"))
        .env(
            "DRIFTD_REGISTRY_KEY",
            "another key that is long enough, 32+",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signed with another key"), "{err}");
    let out = models(&config, &["promote", "churn", "9"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no version 9"));
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    let out = models(&config, &["import", "churn", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signature does not match"), "{err}");
    assert_eq!(
        json(&config, &["show", "churn"])["versions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // An artifact altered inside the store is refused on export (and load).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = EmbeddedStore::open(&state).unwrap();
        let k = "registry/churn/v/1/artifact";
        let mut a = store.get(k).await.unwrap().unwrap();
        let last = a.len() - 1;
        a[last] ^= 0x01;
        store.put_all(vec![(k.to_owned(), a)]).await.unwrap();
    });
    let out = models(
        &config,
        &[
            "export",
            "churn",
            "1",
            dir.path().join("y.bin").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("signature does not match"), "{err}");
    assert!(!dir.path().join("y.bin").exists());
}

#[test]
fn the_registry_works_on_a_real_redis() {
    let redis = Redis::start();
    let prefix = unique("registry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = RedisStateConfig {
            url: redis.url(),
            key_prefix: prefix.clone(),
            ..RedisStateConfig::default()
        };
        let store = AnyStore::Redis(RedisStore::connect(&cfg, None).await.unwrap());
        let reg = Registry::new(store.clone(), Some(SecretString::from(KEY))).unwrap();
        let algo = AlgorithmConfig::default_for(Task::Classification);
        let m1 = train(
            Task::Classification,
            &algo,
            &EncoderConfig::default(),
            &examples(200, 0),
        )
        .unwrap();
        let m2 = train(
            Task::Classification,
            &algo,
            &EncoderConfig::default(),
            &examples(250, 200),
        )
        .unwrap();
        assert_eq!(
            reg.register("fraud", &m1, None, "manual")
                .await
                .unwrap()
                .version,
            1
        );
        reg.promote("fraud", 1, "initial", None, None)
            .await
            .unwrap();
        let r2 = reg.register("fraud", &m2, None, "drift").await.unwrap();
        assert_eq!(r2.version, 2);
        reg.set_alias("fraud", Alias::Candidate, Some(2))
            .await
            .unwrap();
        let a = reg.promote("fraud", 2, "shadow", None, None).await.unwrap();
        assert_eq!(
            a,
            Aliases {
                live: Some(2),
                candidate: None,
                previous: Some(1)
            }
        );

        // A second registry over a fresh connection sees the same state.
        let store2 = AnyStore::Redis(RedisStore::connect(&cfg, None).await.unwrap());
        let reg2 = Registry::new(store2, Some(SecretString::from(KEY))).unwrap();
        assert_eq!(reg2.list_models().await.unwrap(), ["fraud"]);
        assert_eq!(reg2.aliases("fraud").await.unwrap(), a);
        let (back, meta) = reg2.load_alias("fraud", Alias::Live).await.unwrap();
        assert_eq!(back, m2);
        assert_eq!((meta.version, meta.parent_version), (2, Some(1)));
        let rows: Vec<_> = examples(100, 900).into_iter().map(|e| e.features).collect();
        assert_eq!(back.predict_batch(&rows), m2.predict_batch(&rows));
        assert_eq!(
            reg2.show("fraud", 1).await.unwrap().status,
            VersionStatus::Previous
        );

        // Another deployment's prefix sees nothing.
        let other = RedisStateConfig {
            key_prefix: unique("elsewhere"),
            ..cfg.clone()
        };
        let elsewhere = Registry::new(
            AnyStore::Redis(RedisStore::connect(&other, None).await.unwrap()),
            None,
        )
        .unwrap();
        assert!(elsewhere.list_models().await.unwrap().is_empty());

        // Rollback, then tamper with the live artifact in Redis: load refuses it.
        reg.rollback("fraud", "regression seen", None)
            .await
            .unwrap();
        let k = "registry/fraud/v/1/artifact";
        let mut bytes = store.get(k).await.unwrap().unwrap();
        bytes[40] ^= 0x04;
        store.put_all(vec![(k.to_owned(), bytes)]).await.unwrap();
        let err = reg.load_alias("fraud", Alias::Live).await.unwrap_err();
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
        // Export/import across models on Redis.
        let bytes = reg.export("fraud", 2).await.unwrap();
        let imp = reg.import("fraud-eu", &bytes).await.unwrap();
        assert_eq!(reg.load("fraud-eu", imp.version).await.unwrap().0, m2);
        assert_eq!(reg.list_models().await.unwrap(), ["fraud", "fraud-eu"]);
    });
}
