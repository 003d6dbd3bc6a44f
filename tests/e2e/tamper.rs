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
