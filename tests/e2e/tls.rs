//! Secured transports against real servers with certificates made at test time (`Pki`): Redis over
//! TLS with an ACL user and a client certificate, through the library and through `driftd run`,
//! and the failures a misconfiguration meets (wrong CA, expired certificate, wrong password, no
//! client certificate), each a clear error that carries no secret.

use std::time::Duration;

use driftd::store::config::RedisStateConfig;
use driftd::store::{AnyStore, RedisStore, StateStore};
use secrecy::SecretString;

use crate::harness::*;

const PASSWORD: &str = "tls-test-pw-7d1f";
const USER: &str = "driftd on >tls-test-pw-7d1f ~* &* +@all";

/// A TLS configuration for `redis`: trusting `ca`, with the client certificate when `client`.
fn tls_config(redis: &Redis, pki: &Pki, ca: &str, client: bool) -> RedisStateConfig {
    RedisStateConfig {
        url: redis.url(),
        username: Some("driftd".into()),
        key_prefix: unique("driftd-tls"),
        timeout: Duration::from_millis(1500),
        tls_ca_file: Some(pki.path(ca).into()),
        tls_cert_file: client.then(|| pki.path("client.pem").into()),
        ..Default::default()
    }
}

fn client_key(pki: &Pki) -> SecretString {
    SecretString::from(std::fs::read_to_string(pki.path("client.key")).unwrap())
}

/// Connects and writes then reads one key; the error text otherwise.
fn round_trip(
    cfg: &RedisStateConfig,
    password: &str,
    key: Option<SecretString>,
) -> Result<(), String> {
    runtime().block_on(async {
        let store =
            RedisStore::connect_with(cfg, Some(&SecretString::from(password)), key.as_ref())
                .await
                .map_err(|e| e.to_string())?;
        let store = AnyStore::Redis(store);
        store
            .put_all(vec![("probe".into(), b"over tls".to_vec())])
            .await
            .map_err(|e| e.to_string())?;
        let back = store.get("probe").await.map_err(|e| e.to_string())?;
        assert_eq!(back.as_deref(), Some(&b"over tls"[..]));
        Ok(())
    })
}

/// No secret in an error: neither the password nor any line of the key.
fn assert_no_secret(e: &str, pki: &Pki) {
    assert!(!e.contains(PASSWORD), "the password leaked: {e}");
    let key = std::fs::read_to_string(pki.path("client.key")).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!e.contains(line), "the key leaked: {e}");
    }
}

/// Mutual TLS and an ACL user: the store works, and each misconfiguration is refused with a
/// reason that names it.
#[test]
fn redis_over_mutual_tls_with_an_acl_user_and_every_misconfiguration_refused() {
    let pki = Pki::new();
    let redis = Redis::start_tls(&pki, "server", true, &[USER]);
    let good = tls_config(&redis, &pki, "ca.pem", true);
    round_trip(&good, PASSWORD, Some(client_key(&pki))).expect("mutual TLS with the ACL user");

    // A CA that did not sign the server's certificate.
    let e = round_trip(
        &tls_config(&redis, &pki, "other-ca.pem", true),
        PASSWORD,
        Some(client_key(&pki)),
    )
    .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    assert_no_secret(&e, &pki);

    // A wrong password.
    let e = round_trip(&good, "not-the-password", Some(client_key(&pki))).unwrap_err();
    assert!(e.to_lowercase().contains("authentication failed"), "{e}");
    assert_no_secret(&e, &pki);

    // No client certificate where the server asks for one.
    let e = round_trip(&tls_config(&redis, &pki, "ca.pem", false), PASSWORD, None).unwrap_err();
    assert!(!e.is_empty());
    assert_no_secret(&e, &pki);

    // A certificate without its key is a configuration error, said before connecting.
    let e = round_trip(&good, PASSWORD, None).unwrap_err();
    assert!(e.contains("state.tls_key"), "{e}");
}

/// A server whose certificate has expired is refused as such.
#[test]
fn an_expired_redis_certificate_is_refused() {
    let pki = Pki::new();
    let redis = Redis::start_tls(&pki, "expired", false, &[USER]);
    let e = round_trip(&tls_config(&redis, &pki, "ca.pem", false), PASSWORD, None).unwrap_err();
    assert!(e.contains("certificate expired"), "{e}");
    assert_no_secret(&e, &pki);
}

/// `driftd run` keeps its state in Redis over mutual TLS with an ACL user (the password from the
/// environment, the key from a file): exact counts, and a restart resumes from the checkpoint it
/// wrote there; nothing secret in its log.
#[test]
fn driftd_run_checkpoints_to_redis_over_mutual_tls() {
    let pki = Pki::new();
    let redis = Redis::start_tls(&pki, "server", true, &[USER]);
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let mut g = EventGen::new(11);
    let lines: Vec<String> = (0..900)
        .map(|i| {
            if i % 3 == 0 {
                g.feedback("churn")
            } else {
                g.prediction("churn", 5)
            }
        })
        .collect();
    write_lines(&events, &lines);
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"

[source]
kind = "file"
path = "{events}"
follow = true
poll_interval = "50ms"

[state]
kind = "redis"
url = "{url}"
username = "driftd"
password = {{ env = "DRIFTD_TEST_REDIS_PASSWORD" }}
key_prefix = "{prefix}"
timeout = "1s"
tls_ca_file = "{ca}"
tls_cert_file = "{cert}"
tls_key = {{ file = "{key}" }}

[checkpoint]
interval = "200ms"
"#,
        events = events.display(),
        url = redis.url(),
        prefix = unique("driftd-tls-run"),
        ca = pki.path("ca.pem"),
        cert = pki.path("client.pem"),
        key = pki.path("client.key"),
    );
    let env = [("DRIFTD_TEST_REDIS_PASSWORD", PASSWORD)];
    let mut d = Driftd::start(dir.path(), &cfg, &env);
    let m = d.graceful_restart_at(900.0);
    assert_eq!(m.sum("driftd_events_total", &[]), 900.0);
    assert_eq!(m.sum("driftd_events_total", &[("kind", "feedback")]), 300.0);
    assert_eq!(m.sum("driftd_state_store_up", &[]), 1.0);
    assert_no_secret(&d.log_text(), &pki);
}
