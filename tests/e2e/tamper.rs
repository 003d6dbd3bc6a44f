//! Tampered and truncated artifacts in a shared Redis registry: someone who can write to Redis
//! alters version 2 and cuts version 3 short, then points `live` at them. `driftd serve` refuses
//! both on load with a clear error and keeps serving version 1 (no request fails); the CLI refuses
//! to export them; and a correctly signed version is picked up again afterwards.

use std::time::{Duration, Instant};

use driftd::store::config::RedisStateConfig;
use driftd::store::{AnyStore, RedisStore, StateStore};
use serde_json::Value as Json;

use crate::harness::*;
use crate::registry::{models, ok as models_ok};
use crate::serve::{Serve, TOKEN, examples, item};

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn served_version(s: &Serve) -> String {
    let (status, body) = s.predict("churn", Some(TOKEN), &item(1.0).to_string());
    assert_eq!(status, 200, "{body}");
    let v: Json = serde_json::from_str(&body).unwrap();
    v["model_version"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn tampered_and_truncated_artifacts_are_refused_and_the_live_model_keeps_serving() {
    let redis = Redis::start();
    let prefix = unique("tamper");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("driftd.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\n\n[serve]\n\
             reload_interval = \"200ms\"\npredict_tokens = [{{ value = \"{TOKEN}\" }}]\n",
            redis.url()
        ),
    )
    .unwrap();
    let ex = dir.path().join("ex.jsonl");
    write_lines(&ex, &examples(300, 0));
    for _ in 0..4 {
        models_ok(
            &config,
            &["train", "churn", "--examples", ex.to_str().unwrap()],
        );
    }
    models_ok(&config, &["promote", "churn", "1"]);
    let serve = Serve::start(dir.path(), &config);
    assert_eq!(served_version(&serve), "1");

    // Write access to Redis, no signing key: flip one byte of v2, cut v3 in half.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = RedisStateConfig {
            url: redis.url(),
            key_prefix: prefix.clone(),
            ..Default::default()
        };
        let store = AnyStore::Redis(RedisStore::connect(&cfg, None).await.unwrap());
        let k2 = "registry/churn/v/2/artifact";
        let mut b = store.get(k2).await.unwrap().unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x01;
        store.put_all(vec![(k2.to_owned(), b)]).await.unwrap();
        let k3 = "registry/churn/v/3/artifact";
        let b = store.get(k3).await.unwrap().unwrap();
        store
            .put_all(vec![(k3.to_owned(), b[..b.len() / 2].to_vec())])
            .await
            .unwrap();
    });

    // Exporting them fails with a clear error.
    for (v, why) in [
        ("2", "the artifact was altered"),
        ("3", "artifact truncated"),
    ] {
        let out = models(
            &config,
            &[
                "export",
                "churn",
                v,
                dir.path().join("out.bin").to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "export of v{v} succeeded");
        assert!(err.contains(why), "export of v{v}: {err}");
    }

    // Pointing live at them: serve refuses each on load, keeps v1, and no request fails.
    for (v, why) in [
        ("2", "the artifact was altered"),
        ("3", "artifact truncated"),
    ] {
        models_ok(&config, &["promote", "churn", v]);
        let log = dir.path().join("serve.log");
        wait_for(
            &format!("serve to refuse v{v}"),
            Duration::from_secs(20),
            || {
                let text = strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
                text.lines()
                    .any(|l| {
                        l.contains("cannot load the live version")
                            && l.contains(&format!("version={v}"))
                            && l.contains(why)
                    })
                    .then_some(())
            },
        );
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            assert_eq!(served_version(&serve), "1", "v{v} must not be served");
        }
    }
    let m = serve.metrics();
    assert_eq!(
        m.sum("driftd_model_swaps_total", &[("model", "churn")]),
        0.0
    );
    assert_eq!(
        m.sum("driftd_serving_model_version", &[("model", "churn")]),
        1.0
    );

    // Each refusal is logged once, not at every poll.
    let text = strip_ansi(&std::fs::read_to_string(dir.path().join("serve.log")).unwrap());
    let refusals = text
        .lines()
        .filter(|l| l.contains("cannot load the live version"))
        .count();
    assert_eq!(refusals, 2, "{text}");

    // A correctly signed version is taken up again.
    models_ok(&config, &["promote", "churn", "4"]);
    wait_for("serve to swap to v4", Duration::from_secs(20), || {
        (served_version(&serve) == "4").then_some(())
    });
}

/// Ed25519-signed models in a shared Redis registry, served by a `driftd serve` that holds only
/// public keys (no HMAC key, no private key): a rotation (versions signed by the old and by the
/// new key both served while both public keys are listed), a key retired from the keyring and a
/// revoked key id each refused on load with its reason while the live model keeps serving, and an
/// artifact whose key id was rewritten to another key's refused as altered.
#[test]
fn ed25519_signed_models_rotate_and_retired_or_revoked_keys_are_refused_by_serve() {
    use driftd_retrain::ed25519_dalek::SigningKey;
    use driftd_retrain::ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use driftd_retrain::ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};

    let redis = Redis::start();
    let prefix = unique("ed25519");
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).display().to_string();
    let mut ids = Vec::new();
    for (name, seed) in [("old", 11u8), ("new", 12u8)] {
        let k = SigningKey::from_bytes(&[seed; 32]);
        std::fs::write(
            path(&format!("{name}.key.pem")),
            k.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
        )
        .unwrap();
        std::fs::write(
            path(&format!("{name}.pub.pem")),
            k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
        )
        .unwrap();
        ids.push(driftd_retrain::key_id_hex(&k.verifying_key()));
    }
    let state = format!(
        "[state]\nkind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\n\n[serve]\n\
         reload_interval = \"200ms\"\npredict_tokens = [{{ value = \"{TOKEN}\" }}]\n",
        redis.url()
    );
    let write_config = |name: &str, registry: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{state}\n[registry]\n{registry}\n")).unwrap();
        p
    };
    let sign_old = write_config(
        "sign-old.toml",
        &format!(
            "ed25519_signing_key = {{ file = \"{}\" }}",
            path("old.key.pem")
        ),
    );
    let sign_new = write_config(
        "sign-new.toml",
        &format!(
            "ed25519_signing_key = {{ file = \"{}\" }}\nverify_keys = [\"{}\"]",
            path("new.key.pem"),
            path("old.pub.pem")
        ),
    );
    let serve_both = write_config(
        "serve-both.toml",
        &format!(
            "verify_keys = [\"{}\", \"{}\"]",
            path("old.pub.pem"),
            path("new.pub.pem")
        ),
    );
    let ex = dir.path().join("ex.jsonl");
    write_lines(&ex, &examples(300, 0));
    let train = |config: &std::path::Path| {
        models_ok(
            config,
            &["train", "churn", "--examples", ex.to_str().unwrap()],
        );
    };
    train(&sign_old); // v1, old key
    train(&sign_new); // v2, new key
    train(&sign_new); // v3, new key
    models_ok(&sign_new, &["promote", "churn", "1"]);

    // Rotation: serve with both public keys and no HMAC key takes v1 (old key), then v2 (new key).
    let serve = Serve::start_with_hmac(dir.path(), &serve_both, None);
    assert_eq!(served_version(&serve), "1");
    models_ok(&sign_new, &["promote", "churn", "2"]);
    wait_for("serve to swap to v2", Duration::from_secs(20), || {
        (served_version(&serve) == "2").then_some(())
    });

    // Someone with write access to Redis rewrites v3's key id to the old key's: refused as altered.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = RedisStateConfig {
            url: redis.url(),
            key_prefix: prefix.clone(),
            ..Default::default()
        };
        let store = AnyStore::Redis(RedisStore::connect(&cfg, None).await.unwrap());
        let k3 = "registry/churn/v/3/artifact";
        let mut b = store.get(k3).await.unwrap().unwrap();
        let old_id: Vec<u8> = (0..8)
            .map(|i| u8::from_str_radix(&ids[0][2 * i..2 * i + 2], 16).unwrap())
            .collect();
        b[10..18].copy_from_slice(&old_id);
        store.put_all(vec![(k3.to_owned(), b)]).await.unwrap();
    });
    let refused = |serve: &Serve, v: &str, why: &str| {
        let log = dir.path().join("serve.log");
        wait_for(
            &format!("serve to refuse v{v}"),
            Duration::from_secs(20),
            || {
                let text = strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
                text.lines()
                    .any(|l| {
                        l.contains("cannot load the live version")
                            && l.contains(&format!("version={v}"))
                            && l.contains(why)
                    })
                    .then_some(())
            },
        );
        assert_eq!(served_version(serve), "2", "v{v} must not be served");
    };
    models_ok(&sign_new, &["promote", "churn", "3"]);
    refused(&serve, "3", "the artifact was altered");
    drop(serve);
    models_ok(&sign_new, &["promote", "churn", "2"]);

    // The old key retired from serve's keyring: v1 is refused, v2 keeps serving.
    let serve_new = write_config(
        "serve-new.toml",
        &format!("verify_keys = [\"{}\"]", path("new.pub.pem")),
    );
    let serve = Serve::start_with_hmac(dir.path(), &serve_new, None);
    assert_eq!(served_version(&serve), "2");
    models_ok(&sign_new, &["promote", "churn", "1"]);
    refused(
        &serve,
        "1",
        &format!("signed with key {}, which is not among", ids[0]),
    );
    drop(serve);
    models_ok(&sign_new, &["promote", "churn", "2"]);

    // Revoked: listed, but its id revoked.
    let serve_revoked = write_config(
        "serve-revoked.toml",
        &format!(
            "verify_keys = [\"{}\", \"{}\"]\nrevoked_key_ids = [\"{}\"]",
            path("old.pub.pem"),
            path("new.pub.pem"),
            ids[0]
        ),
    );
    let serve = Serve::start_with_hmac(dir.path(), &serve_revoked, None);
    assert_eq!(served_version(&serve), "2");
    models_ok(&sign_new, &["promote", "churn", "1"]);
    refused(
        &serve,
        "1",
        &format!("signed with key {}, which is revoked", ids[0]),
    );
}
