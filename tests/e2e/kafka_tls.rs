//! driftd against a secured Kafka-protocol broker, with certificates made at test time (`Pki`):
//! SASL/SCRAM over TLS (tansu's own SASL with `--authentication`) and mutual TLS, each with exact
//! counts through the consumer, the dead-letter producer and the feedback producer; and the
//! failures a misconfiguration meets (wrong CA, expired certificate, no client certificate, wrong
//! password), each a clear error in the log that carries no secret.
//!
//! tansu 0.6 takes `--cert`/`--key` but never wraps its connections in TLS, so TLS is terminated
//! by stunnel in front of it, as a TLS-terminating proxy would; tansu advertises stunnel's port,
//! so every connection librdkafka makes (bootstrap and broker) goes through TLS. SASL runs inside
//! that TLS connection, end to end between librdkafka and tansu.

use std::time::Duration;

use crate::harness::*;
use crate::kafka::{Topics, kafka_config, topics};

const PASSWORD_512: &str = "scram-512-pw-5c0e9a71";
const PASSWORD_256: &str = "scram-256-pw-d24b8f03";
const TOKEN: &str = "kafka-tls-token-0123456789";

/// Produces `n` predictions and `bad` malformed events to the prediction topic over the
/// broker's plain port (before it is secured); returns the count produced.
fn seed(broker: &Broker, t: &Topics, dir: &std::path::Path, n: usize, bad: usize) -> usize {
    let mut g = EventGen::new(31);
    let mut lines: Vec<String> = (0..n).map(|_| g.prediction("churn", 6)).collect();
    lines.extend((0..bad).map(|i| malformed(i).0));
    let file = dir.join("events.jsonl");
    write_lines(&file, &lines);
    produce(&broker.bootstrap(), &t.predictions, &file)
}

/// The Kafka configuration of `t` reached through `tls_port`, with `security` TOML (the
/// `[source.properties]` table and the secrets).
fn secured_config(broker: &Broker, t: &Topics, tls_port: u16, security: &str) -> String {
    kafka_config(broker, t, security).replace(
        &format!("brokers = \"{}\"", broker.bootstrap()),
        &format!("brokers = \"127.0.0.1:{tls_port}\""),
    )
}

/// What each run's log must never hold: the SCRAM passwords and the lines of the client key.
fn assert_no_secret(log: &str, pki: &Pki) {
    for pw in [PASSWORD_512, PASSWORD_256] {
        assert!(!log.contains(pw), "a password leaked into the log");
    }
    let key = std::fs::read_to_string(pki.path("client.key")).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!log.contains(line), "the client key leaked into the log");
    }
}

/// Waits until every event is accounted for and the consumer has caught up, then checks the
/// counts are exact.
fn assert_exact(d: &Driftd, predictions: f64, rejected: f64, feedback: f64) {
    let m = wait_for(
        "every event to be taken and the consumer lag to be 0",
        Duration::from_secs(180),
        || {
            let m = d.metrics()?;
            let taken =
                m.sum("driftd_events_total", &[]) + m.sum("driftd_events_rejected_total", &[]);
            // The dead-letter copies are counted when the broker acknowledges them.
            (taken >= predictions + rejected + feedback
                && m.sum("driftd_dead_letter_total", &[]) >= rejected
                && m.has("driftd_kafka_consumer_lag")
                && m.sum("driftd_kafka_consumer_lag", &[]) == 0.0)
                .then_some(m)
        },
    );
    let kind = |k: &str| m.sum("driftd_events_total", &[("kind", k)]);
    assert_eq!(kind("prediction"), predictions);
    assert_eq!(kind("feedback"), feedback);
    assert_eq!(m.sum("driftd_events_rejected_total", &[]), rejected);
    assert_eq!(
        m.sum("driftd_dead_letter_total", &[("outcome", "written")]),
        rejected
    );
    assert_eq!(
        m.sum("driftd_dead_letter_total", &[("outcome", "failed")]),
        0.0
    );
}

/// Posts `n` feedback items over HTTP: in Kafka mode they are produced to the feedback topic
/// (here over SASL/TLS or mutual TLS) and consumed back.
fn post_feedback(d: &Driftd, n: usize) {
    let mut g = EventGen::new(97);
    let batch: Vec<String> = (0..n).map(|_| g.feedback("churn")).collect();
    let (status, resp) = http_post(
        &format!("{}/v1/feedback", d.base()),
        Some(TOKEN),
        format!("[{}]", batch.join(",")).as_bytes(),
    );
    assert_eq!(status, 202, "{resp}");
}

/// A `driftd run` that must not get through, and what its log must say.
struct Refusal {
    d: Driftd,
    needle: &'static str,
}

/// Starts `driftd run` on `config` in a fresh directory under `dir`; see [`refused`].
fn refusal(
    dir: &std::path::Path,
    name: &str,
    config: &str,
    env: &[(&str, &str)],
    needle: &'static str,
) -> Refusal {
    let p = dir.join(name);
    std::fs::create_dir(&p).unwrap();
    Refusal {
        d: Driftd::start(&p, config, env),
        needle,
    }
}

/// Waits for each refusal's reason in its log (librdkafka logs a repeated connection error at
/// most every 30 s, so they run side by side), checks nothing was consumed and no secret was
/// logged, and stops them.
fn refused(cases: Vec<Refusal>, pki: &Pki) {
    for Refusal { mut d, needle } in cases {
        check_refused(&mut d, needle, pki);
    }
}

fn check_refused(d: &mut Driftd, needle: &str, pki: &Pki) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let log = loop {
        let log = d.log_text();
        if log.contains(needle) {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log never said {needle:?}:\n{}",
            tail(&log, 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let m = d
        .metrics()
        .expect("metrics are served while the source is down");
    assert_eq!(m.sum("driftd_events_total", &[]), 0.0, "{log}");
    assert_eq!(m.sum("driftd_source_up", &[]), 0.0, "{log}");
    assert!(!d.ready(), "ready although the broker was never reached");
    assert_no_secret(&log, pki);
    d.terminate();
}

/// SASL/SCRAM-SHA-512 over TLS (`SASL_SSL`), the password from the environment: exact counts of
/// predictions, dead-lettered rejects and HTTP feedback that went through the broker and back.
/// A SCRAM-SHA-256 user works too; a wrong password, a wrong CA and an expired server
/// certificate are each refused with a clear reason.
#[test]
fn driftd_run_over_sasl_scram_and_tls_counts_exactly() {
    let pki = Pki::new();
    let mut broker = Broker::start(true);
    let t = topics(&broker, 2);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(seed(&broker, &t, dir.path(), 2_000, 40), 2_040);
    broker.create_user("driftd", PASSWORD_512, "scram512");
    broker.create_user("driftd256", PASSWORD_256, "scram256");
    let tls = Stunnel::start(&pki, "server", broker.port, false);
    broker.stop();
    broker.secure_from_restart(tls.port, true);
    broker.restart();

    let security = |mechanism: &str, user: &str, ca: &str| {
        format!(
            r#"
[source.properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanisms" = "{mechanism}"
"sasl.username" = "{user}"
"ssl.ca.location" = "{ca}"

[source.sasl_password]
env = "DRIFTD_KAFKA_PASSWORD"
"#,
            ca = pki.path(ca)
        )
    };
    let good = secured_config(
        &broker,
        &t,
        tls.port,
        &security("SCRAM-SHA-512", "driftd", "ca.pem"),
    );
    let env = [
        ("DRIFTD_TEST_TOKEN", TOKEN),
        ("DRIFTD_KAFKA_PASSWORD", PASSWORD_512),
    ];
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let mut d = Driftd::start(&run, &good, &env);
    assert_exact(&d, 2_000.0, 40.0, 0.0);
    post_feedback(&d, 20);
    assert_exact(&d, 2_000.0, 40.0, 20.0);
    assert!(d.ready(), "{}", d.log_text());
    assert_no_secret(&d.log_text(), &pki);
    d.terminate();

    // Each misconfiguration in its own directory (fresh state, same group: nothing commits),
    // side by side with SCRAM-SHA-256 and its own user, which comes up.
    let expired = Stunnel::start(&pki, "expired", broker.port, false);
    let cases = vec![
        refusal(
            dir.path(),
            "wrong-password",
            &good,
            &[
                ("DRIFTD_TEST_TOKEN", TOKEN),
                ("DRIFTD_KAFKA_PASSWORD", "not-the-password"),
            ],
            "SASL SCRAM authentication failed",
        ),
        refusal(
            dir.path(),
            "wrong-ca",
            &secured_config(
                &broker,
                &t,
                tls.port,
                &security("SCRAM-SHA-512", "driftd", "other-ca.pem"),
            ),
            &env,
            "certificate verify failed",
        ),
        refusal(
            dir.path(),
            "expired",
            &secured_config(
                &broker,
                &t,
                expired.port,
                &security("SCRAM-SHA-512", "driftd", "ca.pem"),
            ),
            &env,
            // librdkafka reports OpenSSL's error queue, which does not name the expiry.
            "certificate verify failed",
        ),
    ];
    let sha256_dir = dir.path().join("sha256");
    std::fs::create_dir(&sha256_dir).unwrap();
    let mut d = Driftd::start(
        &sha256_dir,
        &secured_config(
            &broker,
            &t,
            tls.port,
            &security("SCRAM-SHA-256", "driftd256", "ca.pem"),
        ),
        &[
            ("DRIFTD_TEST_TOKEN", TOKEN),
            ("DRIFTD_KAFKA_PASSWORD", PASSWORD_256),
        ],
    );
    wait_for(
        "SCRAM-SHA-256 to reach the broker",
        Duration::from_secs(60),
        || {
            let m = d.metrics()?;
            (m.sum("driftd_source_up", &[]) == 1.0).then_some(())
        },
    );
    d.terminate();
    refused(cases, &pki);
}

/// Mutual TLS (`SSL` with a client certificate; its key a secret read from a file): exact counts;
/// without the client certificate the terminator refuses the handshake and driftd says so.
#[test]
fn driftd_run_over_mutual_tls_counts_exactly() {
    let pki = Pki::new();
    let mut broker = Broker::start(true);
    let t = topics(&broker, 3);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(seed(&broker, &t, dir.path(), 1_500, 25), 1_525);
    let tls = Stunnel::start(&pki, "server", broker.port, true);
    broker.stop();
    broker.secure_from_restart(tls.port, false);
    broker.restart();

    let security = |client: bool| {
        let mut s = format!(
            "\n[source.properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"{}\"\n",
            pki.path("ca.pem")
        );
        if client {
            s += &format!(
                "\"ssl.certificate.location\" = \"{}\"\n\n[source.secret_properties]\n\"ssl.key.pem\" = {{ file = \"{}\" }}\n",
                pki.path("client.pem"),
                pki.path("client.key")
            );
        }
        s
    };
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let env = [("DRIFTD_TEST_TOKEN", TOKEN)];
    let mut d = Driftd::start(
        &run,
        &secured_config(&broker, &t, tls.port, &security(true)),
        &env,
    );
    assert_exact(&d, 1_500.0, 25.0, 0.0);
    post_feedback(&d, 10);
    assert_exact(&d, 1_500.0, 25.0, 10.0);
    assert_no_secret(&d.log_text(), &pki);
    d.terminate();

    refused(
        vec![refusal(
            dir.path(),
            "anonymous",
            &secured_config(&broker, &t, tls.port, &security(false)),
            &env,
            "certificate required",
        )],
        &pki,
    );
    wait_for(
        "the terminator to log the missing certificate",
        Duration::from_secs(10),
        || {
            tls.log()
                .contains("peer did not return a certificate")
                .then_some(())
        },
    );
}
