//! Notification sinks against real servers: an SMTP server (aiosmtpd, `scripts/smtp_sink.py`)
//! in plain, STARTTLS and implicit-TLS modes with AUTH and a private CA made by `openssl`, and a
//! webhook receiver (axum) that fails before it accepts. Emails are parsed by Python's `email`
//! package, an implementation independent of the one that wrote them.
//!
//! Needs the test venv with aiosmtpd (`scripts/test.sh` makes it) and the `openssl` CLI; no Kafka.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use driftd::alert::sinks::{
    Attempt, DeliveryConfig, Dispatcher, ErrorKind, Outbox, ReceiverConfig, SmtpConfig,
};
use driftd::alert::{AlertSnapshot, Labels, Notification, Status};
use driftd::telemetry::metrics::Metrics;

use crate::harness::{find_tool, free_port, python, repo_root, wait_for};

// ---------------------------------------------------------------------------------------------
// Helpers: the SMTP server process, certificates, parsing received mail, fixtures.

/// `scripts/smtp_sink.py` running on a loopback port; killed on drop.
pub(crate) struct SmtpServer {
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
}

impl SmtpServer {
    /// Starts the server on `port` with extra arguments (`--user`, `--tls-cert`, …).
    pub(crate) fn start_on(port: u16, args: &[&str]) -> SmtpServer {
        let mut s = SmtpServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        s.spawn();
        s
    }

    pub(crate) fn start(args: &[&str]) -> SmtpServer {
        Self::start_on(free_port(), args)
    }

    fn spawn(&mut self) {
        let py = python();
        let ok = Command::new(&py)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "{} cannot import aiosmtpd. Run scripts/test.sh (or: source scripts/lib.sh; ensure_test_venv).",
            py.display()
        );
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(py)
            .arg(repo_root().join("scripts/smtp_sink.py"))
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.mail_dir())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start smtp_sink.py");
        self.child = Some(child);
        let port = self.port;
        let logfile = self.dir.path().join("server.log");
        wait_for("the SMTP server to listen", Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&logfile).unwrap_or_default();
            if let Some(c) = self.child.as_mut() {
                assert!(
                    c.try_wait().unwrap().is_none(),
                    "smtp_sink.py exited:\n{text}"
                );
            }
            (text.contains("listening on")
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
            .then_some(())
        });
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// The received messages (`.eml` paths, in arrival order).
    pub(crate) fn messages(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.mail_dir()) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        v.sort();
        v
    }

    /// The envelope stored next to a message.
    fn envelope(eml: &Path) -> serde_json::Value {
        let text = std::fs::read_to_string(eml.with_extension("json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- smtp_sink.py log ---\n{}", self.log());
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A private CA and a server certificate for 127.0.0.1 signed by it, made with `openssl`.
pub(crate) struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    pub(crate) fn make() -> Certs {
        let openssl = find_tool(
            "DRIFTD_OPENSSL",
            &["openssl"],
            "Install the openssl command-line tool (apt-get install openssl).",
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: Vec<Vec<&str>> = vec![
            [
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat()
            .into_iter()
            .chain(["-days", "2", "-subj", "/CN=driftd test CA"])
            .collect(),
            [
                &["req"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat()
            .into_iter()
            .chain(["-subj", "/CN=localhost"])
            .collect(),
            vec![
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        ];
        for args in steps {
            let out = Command::new(&openssl)
                .current_dir(d)
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Certs { dir }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// A received email as Python's `email` package reads it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Mail {
    pub(crate) subject: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) cc: String,
    pub(crate) message_id: String,
    pub(crate) auto_submitted: String,
    pub(crate) content_type: String,
    pub(crate) parts: Vec<Part>,
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct Part {
    #[serde(rename = "type")]
    content_type: String,
    content: String,
}

impl Mail {
    pub(crate) fn part(&self, content_type: &str) -> &str {
        self.parts
            .iter()
            .find(|p| p.content_type == content_type)
            .map(|p| p.content.as_str())
            .unwrap_or_else(|| panic!("no {content_type} part in {self:#?}"))
    }
}

const PARSE_EMAIL: &str = r#"
import email, json, sys
from email import policy
with open(sys.argv[1], "rb") as f:
    m = email.message_from_binary_file(f, policy=policy.default)
parts = [{"type": p.get_content_type(), "content": p.get_content()}
         for p in m.walk() if not p.is_multipart()]
h = lambda k: str(m[k]) if m[k] is not None else ""
print(json.dumps({"subject": h("subject"), "from": h("from"), "to": h("to"), "cc": h("cc"),
                  "message_id": h("message-id"), "auto_submitted": h("auto-submitted"),
                  "content_type": m.get_content_type(), "parts": parts}))
"#;

pub(crate) fn parse_mail(eml: &Path) -> Mail {
    let out = Command::new(python())
        .args(["-c", PARSE_EMAIL])
        .arg(eml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "parsing {}: {}",
        eml.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap()
}

fn drift_alert(feature: &str, value: f64, p_value: &str) -> AlertSnapshot {
    let labels: Labels = [
        ("alertname", "FeatureDrift"),
        ("severity", "warning"),
        ("model", "churn"),
        ("feature", feature),
        ("test", "psi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let annotations = BTreeMap::from([
        (
            "summary".to_owned(),
            format!("Feature {feature} of model churn drifted"),
        ),
        (
            "runbook_url".to_owned(),
            "https://runbooks.example.com/feature-drift".to_owned(),
        ),
    ]);
    let detail = BTreeMap::from([
        ("test".to_owned(), "psi".to_owned()),
        ("statistic".to_owned(), value.to_string()),
        ("p_value".to_owned(), p_value.to_owned()),
        ("threshold".to_owned(), "0.2".to_owned()),
        ("reference".to_owned(), "mean 41.2 <n=5000>".to_owned()),
        ("current".to_owned(), "mean 48.9 <n=1200>".to_owned()),
    ]);
    AlertSnapshot {
        rule: "FeatureDrift".into(),
        status: Status::Firing,
        labels,
        annotations,
        value,
        condition: "> 0.2".into(),
        starts_at: t(10, 0),
        ends_at: None,
        fingerprint: format!("fp-{feature}"),
        detail,
    }
}

fn notification(receiver: &str, id: &str) -> Notification {
    Notification {
        id: id.into(),
        receiver: receiver.into(),
        group_key: "{model=\"churn\"}".into(),
        group_labels: Labels::from([("model".to_owned(), "churn".to_owned())]),
        status: Status::Firing,
        alerts: vec![
            drift_alert("age", 0.31, "0.00012"),
            drift_alert("tenure_days", 0.27, "0.0031"),
        ],
        created: t(10, 5),
        actions: vec!["retraining not configured".into()],
    }
}

fn receivers(toml_text: &str) -> BTreeMap<String, ReceiverConfig> {
    toml::from_str(toml_text).unwrap()
}

fn smtp(toml_text: &str) -> SmtpConfig {
    toml::from_str(toml_text).unwrap()
}

const ONCALL: &str = r#"
[oncall]
kind = "email"
to = ["ml-oncall@example.com", "Data Team <data@example.com>"]
cc = ["audit@example.com"]
"#;

fn counter(m: &Metrics, receiver: &str, kind: &str, outcome: &str) -> u64 {
    m.notifications
        .with_label_values(&[receiver, kind, outcome])
        .get()
}

fn wait_mail(server: &SmtpServer, n: usize) -> Vec<PathBuf> {
    wait_for("the email to arrive", Duration::from_secs(10), || {
        let m = server.messages();
        (m.len() >= n).then_some(m)
    })
}

// ---------------------------------------------------------------------------------------------
// Email.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_smtp_email_has_headers_recipients_and_both_parts() {
    let server = SmtpServer::start(&[]);
    let metrics = Arc::new(Metrics::new());
    let cfg = smtp(&format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nfrom = \"driftd <driftd@example.com>\"\n",
        server.port
    ));
    let d = Dispatcher::new(
        &receivers(ONCALL),
        Some(&cfg),
        Some("http://grafana.test/d/driftd"),
        metrics.clone(),
    )
    .unwrap();
    let n = notification("oncall", "churn-0001");
    d.deliver(&n).await.unwrap();

    let mails = wait_mail(&server, 1);
    assert_eq!(mails.len(), 1);
    let mail = parse_mail(&mails[0]);
    assert_eq!(
        mail.subject,
        "[driftd] FIRING 2 · churn · feature drift: age, tenure_days"
    );
    assert_eq!(mail.from, "driftd <driftd@example.com>");
    assert!(mail.to.contains("ml-oncall@example.com"), "{}", mail.to);
    assert!(
        mail.to.contains("Data Team <data@example.com>"),
        "{}",
        mail.to
    );
    assert_eq!(mail.cc, "audit@example.com");
    assert_eq!(mail.message_id, "<churn-0001@driftd>");
    assert_eq!(mail.auto_submitted, "auto-generated");
    assert_eq!(mail.content_type, "multipart/alternative");

    let text = mail.part("text/plain");
    for want in [
        "FIRING: 2 alerts for model churn",
        "[FIRING] FeatureDrift (warning) · feature age",
        "feature tenure_days",
        "0.31 (condition > 0.2)",
        "0.00012",
        "mean 41.2 <n=5000>",
        "since        2026-11-21T10:00:00Z",
        "retraining not configured",
        "http://grafana.test/d/driftd?var-model=churn",
        "https://runbooks.example.com/feature-drift",
    ] {
        assert!(text.contains(want), "text part lacks {want:?}:\n{text}");
    }
    let html = mail.part("text/html");
    for want in [
        "tenure_days",
        "<td>0.27 (condition &gt; 0.2)</td>",
        "<td>0.0031</td>",
        "mean 48.9 &lt;n=1200&gt;",
        "<a href=\"http://grafana.test/d/driftd?var-model=churn\">",
    ] {
        assert!(html.contains(want), "HTML part lacks {want:?}:\n{html}");
    }
    let env = SmtpServer::envelope(&mails[0]);
    assert_eq!(env["mail_from"], "driftd@example.com");
    let mut rcpts: Vec<String> = env["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        [
            "audit@example.com",
            "data@example.com",
            "ml-oncall@example.com"
        ]
    );
    assert_eq!(counter(&metrics, "oncall", "email", "sent"), 1);
    assert_eq!(counter(&metrics, "oncall", "email", "failed"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_and_a_private_ca_delivers() {
    let certs = Certs::make();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let server = SmtpServer::start(&[
        "--user",
        "driftd",
        "--password",
        "s3cret-pw",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--require-starttls",
    ]);
    let metrics = Arc::new(Metrics::new());
    let cfg = smtp(&format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nusername = \"driftd\"\n\
         password = {{ value = \"s3cret-pw\" }}\nfrom = \"driftd@example.com\"\nca_file = \"{}\"\n",
        server.port,
        certs.path("ca.pem")
    ));
    let d = Dispatcher::new(&receivers(ONCALL), Some(&cfg), None, metrics.clone()).unwrap();
    d.deliver(&notification("oncall", "tls-1")).await.unwrap();
    let mails = wait_mail(&server, 1);
    let env = SmtpServer::envelope(&mails[0]);
    assert_eq!(env["auth_user"], "driftd");
    assert_eq!(env["tls"], true);
    assert_eq!(parse_mail(&mails[0]).message_id, "<tls-1@driftd>");
    assert_eq!(counter(&metrics, "oncall", "email", "sent"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_without_the_ca_is_refused_and_with_it_delivers() {
    let certs = Certs::make();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let server = SmtpServer::start(&[
        "--user",
        "driftd",
        "--password",
        "pw",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--implicit-tls",
    ]);
    let base = format!(
        "host = \"127.0.0.1\"\nport = {}\nsecurity = \"tls\"\nusername = \"driftd\"\n\
         password = {{ value = \"pw\" }}\nfrom = \"driftd@example.com\"\n",
        server.port
    );
    let metrics = Arc::new(Metrics::new());
    // Mozilla's roots do not include the test CA: the handshake must fail, loudly.
    let d = Dispatcher::new(
        &receivers(ONCALL),
        Some(&smtp(&base)),
        None,
        metrics.clone(),
    )
    .unwrap();
    let err = d
        .deliver(&notification("oncall", "tls-2"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    assert!(err.is_retryable());
    assert!(server.messages().is_empty());

    let with_ca = format!("{base}ca_file = \"{}\"\n", certs.path("ca.pem"));
    let d = Dispatcher::new(
        &receivers(ONCALL),
        Some(&smtp(&with_ca)),
        None,
        metrics.clone(),
    )
    .unwrap();
    d.deliver(&notification("oncall", "tls-2")).await.unwrap();
    let mails = wait_mail(&server, 1);
    assert_eq!(SmtpServer::envelope(&mails[0])["auth_user"], "driftd");
    assert_eq!(counter(&metrics, "oncall", "email", "failed"), 1);
    assert_eq!(counter(&metrics, "oncall", "email", "sent"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_fail_with_a_message_naming_the_auth_failure() {
    let certs = Certs::make();
    let (cert, key) = (certs.path("server.pem"), certs.path("server.key"));
    let server = SmtpServer::start(&[
        "--user",
        "driftd",
        "--password",
        "right-pw",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--require-starttls",
    ]);
    let metrics = Arc::new(Metrics::new());
    let cfg = smtp(&format!(
        "host = \"127.0.0.1\"\nport = {}\nusername = \"driftd\"\n\
         password = {{ value = \"wrong-pw\" }}\nfrom = \"driftd@example.com\"\nca_file = \"{}\"\n",
        server.port,
        certs.path("ca.pem")
    ));
    let d = Dispatcher::new(&receivers(ONCALL), Some(&cfg), None, metrics.clone()).unwrap();
    let err = d
        .deliver(&notification("oncall", "auth-1"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    let want = format!(
        "SMTP authentication failed for user driftd at 127.0.0.1:{}",
        server.port
    );
    assert!(msg.contains(&want), "{msg}");
    assert!(msg.contains("535"), "{msg}");
    assert!(!msg.contains("wrong-pw"), "the password leaked: {msg}");
    assert_eq!(err.kind, ErrorKind::Rejected);
    assert!(err.is_retryable());
    assert_eq!(counter(&metrics, "oncall", "email", "failed"), 1);
    assert_eq!(counter(&metrics, "oncall", "email", "sent"), 0);
    assert!(server.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_down_is_retried_and_delivered_once_it_is_up() {
    let port = free_port();
    let metrics = Arc::new(Metrics::new());
    let cfg = smtp(&format!(
        "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\nfrom = \"driftd@example.com\"\ntimeout = \"3s\"\n"
    ));
    let d = Dispatcher::new(&receivers(ONCALL), Some(&cfg), None, metrics.clone()).unwrap();
    let n = notification("oncall", "down-1");

    let err = d.deliver(&n).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // Through the outbox, as the daemon does it: queued, failed, retried after the backoff.
    let delivery = DeliveryConfig::default();
    let mut outbox = Outbox::new();
    let now = t(10, 5);
    outbox.push(n.clone(), now);
    let r = d.deliver_queued(&mut outbox, &n.id, now, &delivery).await;
    let Attempt::Retry {
        next_attempt_at, ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(next_attempt_at, now + chrono::TimeDelta::seconds(1));
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        metrics
            .notifications_queued
            .with_label_values(&["oncall"])
            .get(),
        1
    );

    let server = SmtpServer::start_on(port, &[]);
    assert!(outbox.due(now).is_empty());
    let due = outbox.due(next_attempt_at);
    assert_eq!(due.len(), 1);
    let r = d
        .deliver_queued(&mut outbox, &due[0].id, next_attempt_at, &delivery)
        .await;
    assert_eq!(r, Attempt::Sent);
    assert!(outbox.is_empty());
    let mails = wait_mail(&server, 1);
    assert_eq!(mails.len(), 1);
    assert_eq!(parse_mail(&mails[0]).message_id, "<down-1@driftd>");
    assert_eq!(counter(&metrics, "oncall", "email", "failed"), 2);
    assert_eq!(counter(&metrics, "oncall", "email", "sent"), 1);
    assert_eq!(
        metrics
            .notifications_queued
            .with_label_values(&["oncall"])
            .get(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Webhook.

/// What the test webhook saw, and the statuses it answers with (the last one repeats).
#[derive(Default)]
pub(crate) struct Hook {
    answers: Vec<u16>,
    /// Each request's `Authorization` header and body, in arrival order.
    pub(crate) requests: Vec<(Option<String>, Vec<u8>)>,
}

/// Starts an axum webhook on a free loopback port; returns its URL and the shared record.
pub(crate) async fn start_hook(answers: Vec<u16>) -> (String, Arc<Mutex<Hook>>) {
    let hook = Arc::new(Mutex::new(Hook {
        answers,
        requests: Vec::new(),
    }));
    let state = hook.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut h = state.lock().unwrap();
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                h.requests.push((auth, body.to_vec()));
                let i = (h.requests.len() - 1).min(h.answers.len() - 1);
                StatusCode::from_u16(h.answers[i]).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), hook)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_503_twice_then_200_is_delivered_exactly_once() {
    let (url, hook) = start_hook(vec![503, 503, 200]).await;
    let metrics = Arc::new(Metrics::new());
    let cfg = receivers(&format!(
        "[pager]\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout = \"5s\"\n\
         bearer_token = {{ value = \"hook-token-123\" }}\n"
    ));
    let d = Dispatcher::new(
        &cfg,
        None,
        Some("http://grafana.test/d/driftd"),
        metrics.clone(),
    )
    .unwrap();
    let delivery = DeliveryConfig::default();
    let n = notification("pager", "hook-1");

    // The daemon's loop with a simulated clock; the outbox goes through its stored bytes after
    // every attempt, as it would through the state store.
    let mut outbox = Outbox::new();
    let mut now = t(10, 5);
    outbox.push(n.clone(), now);
    let mut attempts = Vec::new();
    for _ in 0..10 {
        for due in outbox.due(now) {
            attempts.push(d.deliver_queued(&mut outbox, &due.id, now, &delivery).await);
            outbox = Outbox::from_bytes(&outbox.to_bytes().unwrap()).unwrap();
        }
        match outbox.next_due() {
            Some(next) => now = next,
            None => break,
        }
    }
    assert!(outbox.is_empty());
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(
        matches!(&attempts[0], Attempt::Retry { error, .. } if error.kind == ErrorKind::Transient)
    );
    assert!(matches!(&attempts[1], Attempt::Retry { error, .. } if error.message.contains("503")));
    assert_eq!(attempts[2], Attempt::Sent);
    // 1 s then 2 s of backoff.
    assert_eq!(now, t(10, 5) + chrono::TimeDelta::seconds(3));

    let h = hook.lock().unwrap();
    assert_eq!(h.requests.len(), 3);
    for (auth, _) in &h.requests {
        assert_eq!(auth.as_deref(), Some("Bearer hook-token-123"));
    }
    let body: serde_json::Value = serde_json::from_slice(&h.requests[2].1).unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "pager");
    assert_eq!(body["groupKey"], "{model=\"churn\"}");
    assert_eq!(body["groupLabels"]["model"], "churn");
    assert_eq!(body["commonLabels"]["alertname"], "FeatureDrift");
    assert_eq!(body["externalURL"], "http://grafana.test/d/driftd");
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["labels"]["feature"], "age");
    assert_eq!(alerts[1]["labels"]["feature"], "tenure_days");
    assert_eq!(alerts[0]["startsAt"], "2026-11-21T10:00:00Z");
    assert_eq!(alerts[0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alerts[0]["fingerprint"], "fp-age");
    assert_eq!(
        alerts[0]["generatorURL"],
        "http://grafana.test/d/driftd?var-model=churn"
    );
    assert_eq!(counter(&metrics, "pager", "webhook", "failed"), 2);
    assert_eq!(counter(&metrics, "pager", "webhook", "sent"), 1);
    assert_eq!(counter(&metrics, "pager", "webhook", "dropped"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_400_is_dropped_without_retry() {
    let (url, hook) = start_hook(vec![400]).await;
    let metrics = Arc::new(Metrics::new());
    let cfg = receivers(&format!(
        "[raw]\nkind = \"webhook\"\nurl = \"{url}\"\nformat = \"driftd\"\n"
    ));
    let d = Dispatcher::new(&cfg, None, None, metrics.clone()).unwrap();
    let n = notification("raw", "hook-2");
    let mut outbox = Outbox::new();
    let now = t(10, 5);
    outbox.push(n.clone(), now);
    let r = d
        .deliver_queued(&mut outbox, &n.id, now, &DeliveryConfig::default())
        .await;
    assert!(
        matches!(&r, Attempt::Dropped { reason } if reason.contains("400")),
        "{r:?}"
    );
    assert!(outbox.is_empty());
    assert_eq!(outbox.next_due(), None);
    let h = hook.lock().unwrap();
    assert_eq!(h.requests.len(), 1);
    assert_eq!(h.requests[0].0, None);
    let sent: Notification = serde_json::from_slice(&h.requests[0].1).unwrap();
    assert_eq!(sent, n);
    assert_eq!(counter(&metrics, "raw", "webhook", "dropped"), 1);
    assert_eq!(counter(&metrics, "raw", "webhook", "sent"), 0);
}
