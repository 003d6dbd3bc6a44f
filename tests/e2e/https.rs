//! `driftd run` and `driftd serve` over HTTPS with certificates made at test time (`Pki`), reached
//! by a client that verifies them: feedback counted exactly over TLS, the certificate replaced on
//! SIGHUP while a kept-alive connection goes on working, a broken reload that keeps the running
//! certificate, a client that does not trust the CA, plain HTTP to the TLS port, and mutual TLS on
//! `driftd serve` (no client certificate: the handshake is refused).

use std::process::Command;
use std::time::Duration;

use crate::harness::*;
use crate::serve::Serve;

const TOKEN: &str = "https-test-token-0123456789";

fn feedback(id: usize) -> String {
    format!(
        r#"{{"id":"h{id}","model":"churn","ts":"2026-11-22T08:00:00Z","label":"1","source":"analyst-3"}}"#
    )
}

/// The certificate the server presents on a new connection.
fn presented(client: &HttpsClient, port: u16) -> Vec<u8> {
    client.connect(port).unwrap().peer_certificate()
}

#[test]
fn driftd_run_over_https_reloads_its_certificate_on_sighup_without_dropping_a_connection() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::copy(pki.path("server.pem"), &cert).unwrap();
    std::fs::copy(pki.path("server.key"), &key).unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    let cfg = format!(
        r#"
[http]
listen = "{{HTTP}}"
feedback_tokens = [{{ env = "DRIFTD_TEST_TOKEN" }}]
[http.tls]
cert_file = "{}"
key_file = "{}"
[source]
kind = "file"
path = "{}"
follow = true
"#,
        cert.display(),
        key.display(),
        events.display()
    );
    let mut d = Driftd::start(dir.path(), &cfg, &[("DRIFTD_TEST_TOKEN", TOKEN)]);
    let port = d.http_port;
    let client = HttpsClient::new(&pki, "ca.pem", false);
    let ready = wait_for(
        "driftd to answer over HTTPS",
        Duration::from_secs(60),
        || client.request(port, "GET", "/healthz", None, b"").ok(),
    );
    assert_eq!(ready.0, 200);

    // Feedback over TLS, counted exactly.
    let mut kept = client.connect(port).unwrap();
    assert_eq!(
        kept.peer_certificate(),
        certificate_der(&pki.path("server.pem"))
    );
    let batch = format!("[{}]", (0..30).map(feedback).collect::<Vec<_>>().join(","));
    let (s, body) = kept
        .request("POST", "/v1/feedback", Some(TOKEN), batch.as_bytes())
        .unwrap();
    assert_eq!(s, 202, "{body}");
    assert_eq!(body, r#"{"accepted":30}"#);
    let (s, body) = kept.request("GET", "/metrics", None, b"").unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        Metrics::parse(&body).sum("driftd_events_total", &[("kind", "feedback")]),
        30.0
    );

    // A client that does not trust the CA, and plain HTTP to the TLS port, get nothing.
    let e = HttpsClient::new(&pki, "other-ca.pem", false)
        .connect(port)
        .err()
        .expect("a client without the CA must not connect");
    assert!(e.contains("UnknownIssuer"), "{e}");
    assert!(
        !matches!(d.get("/healthz"), Some((200, _))),
        "plain HTTP answered on the TLS port"
    );

    // A renewed certificate: swapped in on SIGHUP for new connections; the kept-alive one goes on.
    std::fs::copy(pki.path("renewed.pem"), &cert).unwrap();
    std::fs::copy(pki.path("renewed.key"), &key).unwrap();
    d.signal("HUP");
    let renewed = certificate_der(&pki.path("renewed.pem"));
    wait_for(
        "the renewed certificate to be served",
        Duration::from_secs(30),
        || (presented(&client, port) == renewed).then_some(()),
    );
    let (s, body) = kept
        .request("POST", "/v1/feedback", Some(TOKEN), feedback(99).as_bytes())
        .unwrap();
    assert_eq!(s, 202, "the kept-alive connection was dropped: {body}");
    assert_eq!(
        kept.peer_certificate(),
        certificate_der(&pki.path("server.pem"))
    );

    // A broken reload (a key that is not PEM) keeps the running certificate and says why.
    std::fs::write(&key, "not a key").unwrap();
    d.signal("HUP");
    let log = wait_for(
        "the failed reload to be logged",
        Duration::from_secs(30),
        || {
            let log = d.log_text();
            log.contains("TLS reload failed").then_some(log)
        },
    );
    assert!(log.contains("key_file"), "{log}");
    assert_eq!(presented(&client, port), renewed);
    let (s, _) = client
        .request(
            port,
            "POST",
            "/v1/feedback",
            Some(TOKEN),
            feedback(100).as_bytes(),
        )
        .unwrap();
    assert_eq!(s, 202);
    let (_, body) = client.request(port, "GET", "/metrics", None, b"").unwrap();
    assert_eq!(
        Metrics::parse(&body).sum("driftd_events_total", &[("kind", "feedback")]),
        32.0
    );
    assert!(!log.contains(TOKEN), "the token leaked into the log");
    d.terminate();
}

/// `driftd check-config` refuses TLS files that do not make a server, by key.
#[test]
fn tls_files_that_do_not_make_a_server_are_refused_by_key() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let check = |tls: &str| {
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, format!("[http.tls]\n{tls}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_driftd"))
            .arg("check-config")
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{tls} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    };
    let e = check(&format!(
        "cert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.path("server.pem"),
        pki.path("client.key")
    ));
    assert!(
        e.contains("http.tls.key_file") && e.contains("does not go with"),
        "{e}"
    );
    let e = check(&format!("cert_file = \"{}\"\n", pki.path("server.pem")));
    assert!(e.contains("http.tls.key_file"), "{e}");
    let e = check(&format!(
        "cert_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.path().join("missing.pem").display(),
        pki.path("server.key")
    ));
    assert!(
        e.contains("http.tls.cert_file") && e.contains("missing.pem"),
        "{e}"
    );
}

/// `driftd serve` with mutual TLS: a client with a certificate from the CA predicts; one
/// without a certificate is refused in the handshake, and the refusal is logged.
#[test]
fn driftd_serve_over_mutual_tls_predicts_and_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\nkind = \"embedded\"\npath = \"{}\"\n\n[serve]\npredict_tokens = [{{ value = \"{TOKEN}\" }}]\n\n\
             [serve.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n",
            dir.path().join("state.redb").display(),
            pki.path("server.pem"),
            pki.path("server.key"),
            pki.path("ca.pem"),
        ),
    )
    .unwrap();
    let ex = dir.path().join("ex.jsonl");
    write_lines(&ex, &crate::serve::examples(300, 0));
    crate::registry::ok(
        &config,
        &["train", "churn", "--examples", ex.to_str().unwrap()],
    );
    crate::registry::ok(&config, &["promote", "churn", "1"]);

    let port = free_port();
    let client = HttpsClient::new(&pki, "ca.pem", true);
    let _serve = Serve::spawn(dir.path(), &config, Some(crate::registry::KEY), port);
    wait_for("driftd serve over HTTPS", Duration::from_secs(60), || {
        matches!(
            client.request(port, "GET", "/readyz", None, b""),
            Ok((200, _))
        )
        .then_some(())
    });
    let body = serde_json::json!({"features": {"x": 1.5, "colour": "red"}}).to_string();
    let (s, answer) = client
        .request(
            port,
            "POST",
            "/v1/models/churn/predict",
            Some(TOKEN),
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(s, 200, "{answer}");
    assert!(answer.contains(r#""model_version":"1""#), "{answer}");

    let anonymous = HttpsClient::new(&pki, "ca.pem", false);
    let refused = anonymous
        .request(port, "GET", "/readyz", None, b"")
        .expect_err("a client without a certificate was served");
    assert!(!refused.is_empty());
    wait_for(
        "the refused handshake to be logged",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(dir.path().join("serve.log"))
                .unwrap()
                .contains("TLS handshake refused")
                .then_some(())
        },
    );
}
