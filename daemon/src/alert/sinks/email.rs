//! The email sink: one SMTP transport (lettre, rustls) per configuration, and the MIME message.
//!
//! The message is `multipart/alternative` (plain text, then HTML) with a deterministic
//! `Message-ID: <{notification.id}@driftd>` and `Date` (the notification's creation time), so a
//! redelivery after a crash is the same message and receivers can deduplicate it. It carries
//! `Auto-Submitted: auto-generated` (RFC 3834) so vacation responders do not answer it.
//!
//! Errors are classified for the outbox: a connection refused or a timeout is transient; an SMTP
//! answer 4xx is transient; a 5xx (bad credentials, a refused sender) or a TLS failure is
//! *rejected*: still retried (the operator may fix the configuration and reload), but logged at
//! error level with a message saying what to fix.

use std::time::{Duration, SystemTime};

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::config::{EmailReceiver, SmtpConfig, SmtpSecurity, parse_mailbox, read_ca_file};
use super::error::{DeliveryError, SinkSetupError};
use super::render;
use crate::alert::Notification;

/// The configured relay: the transport (built once; it connects per message) and what error
/// messages need to name.
pub(crate) struct SmtpRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `host:port`, for messages.
    endpoint: String,
    username: Option<String>,
    /// Default sender.
    from: Mailbox,
    /// Bound on one whole delivery (lettre's own timeout is per command).
    deadline: Duration,
}

impl SmtpRelay {
    /// Builds the transport: TLS mode, extra root certificate, credentials, EHLO name, timeout.
    pub(crate) fn new(cfg: &SmtpConfig) -> Result<Self, SinkSetupError> {
        let from = parse_mailbox(&cfg.from).map_err(|e| e.at("from"))?;
        let port = cfg.effective_port();
        let host = cfg.host.trim();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(cfg.timeout))
            .tls(tls(cfg, host)?);
        if let Some(name) = &cfg.hello_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        match (&cfg.username, &cfg.password) {
            (Some(user), Some(spec)) => {
                let password = spec.resolve().map_err(|source| SinkSetupError::Secret {
                    field: "password",
                    source,
                })?;
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ));
            }
            (None, None) => {}
            _ => return Err(SinkSetupError::UnpairedCredentials),
        }
        Ok(SmtpRelay {
            transport: builder.build(),
            endpoint: format!("{host}:{port}"),
            username: cfg.username.clone(),
            from,
            // Connect, EHLO, STARTTLS, AUTH, MAIL, RCPT…, DATA: a few round trips, each bounded
            // by lettre; the overall bound only catches a relay that trickles its answers.
            deadline: cfg.timeout.saturating_mul(6),
        })
    }

    /// `host:port`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// The TLS mode; with a `ca_file`, its certificates are trusted besides Mozilla's roots.
fn tls(cfg: &SmtpConfig, host: &str) -> Result<Tls, SinkSetupError> {
    if cfg.security == SmtpSecurity::Plain {
        return Ok(Tls::None);
    }
    let mut params = TlsParameters::builder(host.to_owned())
        .dangerous_accept_invalid_certs(cfg.accept_invalid_certs);
    if let Some(path) = &cfg.ca_file {
        params = params.add_root_certificate(read_ca_file(path)?);
    }
    let params = params.build_rustls().map_err(SinkSetupError::Tls)?;
    Ok(match cfg.security {
        SmtpSecurity::Tls => Tls::Wrapper(params),
        _ => Tls::Required(params),
    })
}

/// A configured email receiver: parsed addresses and the subject prefix.
pub(crate) struct EmailSink {
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    from: Option<Mailbox>,
    subject_prefix: String,
}

impl EmailSink {
    /// Parses the addresses (the config was validated; this only refuses what slipped through).
    pub(crate) fn new(cfg: &EmailReceiver) -> Result<Self, SinkSetupError> {
        let parse_all = |list: &[String], field: &str| -> Result<Vec<Mailbox>, SinkSetupError> {
            list.iter()
                .map(|a| parse_mailbox(a).map_err(|e| e.at(field)))
                .collect()
        };
        let to = parse_all(&cfg.to, "to")?;
        if to.is_empty() {
            return Err(SinkSetupError::NoRecipient);
        }
        Ok(EmailSink {
            to,
            cc: parse_all(&cfg.cc, "cc")?,
            from: cfg
                .from
                .as_deref()
                .map(parse_mailbox)
                .transpose()
                .map_err(|e| e.at("from"))?,
            subject_prefix: cfg.subject_prefix.clone(),
        })
    }

    /// Builds and sends the message through `relay`.
    pub(crate) async fn send(
        &self,
        relay: &SmtpRelay,
        n: &Notification,
        dashboard_url: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let from = self.from.clone().unwrap_or_else(|| relay.from.clone());
        let msg = message(
            n,
            from,
            &self.to,
            &self.cc,
            &self.subject_prefix,
            dashboard_url,
        )?;
        match tokio::time::timeout(relay.deadline, relay.transport.send(msg)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e, relay)),
            Err(_) => Err(DeliveryError::transient(format!(
                "SMTP relay {} did not finish the delivery within {:?}",
                relay.endpoint, relay.deadline
            ))),
        }
    }
}

/// The MIME message of a notification; a message that cannot be built is a permanent error.
pub fn message(
    n: &Notification,
    from: Mailbox,
    to: &[Mailbox],
    cc: &[Mailbox],
    subject_prefix: &str,
    dashboard_url: Option<&str>,
) -> Result<Message, DeliveryError> {
    let mut b = Message::builder()
        .from(from)
        .subject(render::subject(n, subject_prefix))
        .message_id(Some(message_id(&n.id)))
        .date(SystemTime::from(n.created))
        .header(AutoSubmitted);
    for m in to {
        b = b.to(m.clone());
    }
    for m in cc {
        b = b.cc(m.clone());
    }
    b.multipart(MultiPart::alternative_plain_html(
        render::text_body(n, dashboard_url),
        render::html_body(n, dashboard_url),
    ))
    .map_err(|e| DeliveryError::permanent(format!("cannot build the email: {e}")))
}

/// `<{id}@driftd>`, with any character not allowed in a Message-ID's left part (RFC 5322
/// `dot-atom-text`) written as `=XX`, so the mapping stays deterministic and injective.
pub fn message_id(id: &str) -> String {
    let mut local = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+') {
            local.push(char::from(b));
        } else {
            local.push_str(&format!("={b:02X}"));
        }
    }
    if local.is_empty() {
        local.push_str("empty");
    }
    format!("<{local}@driftd>")
}

/// Maps a lettre error to a [`DeliveryError`] whose message says what to do.
fn classify(e: &lettre::transport::smtp::Error, relay: &SmtpRelay) -> DeliveryError {
    let at = &relay.endpoint;
    if let Some(code) = e.status() {
        let code = code.to_string();
        if code == "535" || code == "534" {
            let user = relay.username.as_deref().unwrap_or("(none)");
            return DeliveryError::rejected(format!(
                "SMTP authentication failed for user {user} at {at}: {e} \
                 (check alerting.smtp.username/password, then reload with SIGHUP)"
            ));
        }
        if e.is_transient() {
            return DeliveryError::transient(format!(
                "SMTP relay {at} answered with a temporary error: {e}"
            ));
        }
        return DeliveryError::rejected(format!("SMTP relay {at} refused the message: {e}"));
    }
    if e.is_timeout() {
        return DeliveryError::transient(format!("SMTP relay {at} timed out: {e}"));
    }
    if let Some(tls) = tls_failure(e) {
        return DeliveryError::rejected(format!(
            "TLS with the SMTP relay {at} failed: {tls} (check alerting.smtp.security and ca_file)"
        ));
    }
    if e.is_tls() {
        return DeliveryError::rejected(format!(
            "TLS with the SMTP relay {at} failed: {e} (check alerting.smtp.security and ca_file)"
        ));
    }
    if e.is_client() {
        // E.g. "No compatible authentication mechanism was found": a configuration mismatch.
        return DeliveryError::rejected(format!("SMTP relay {at}: {e}"));
    }
    DeliveryError::transient(format!("SMTP relay {at} unreachable: {}", chain(e)))
}

/// The rustls error behind a failed handshake: lettre reports those as connection errors, but
/// they need an operator (an untrusted certificate, a wrong name), not patience.
fn tls_failure(e: &lettre::transport::smtp::Error) -> Option<String> {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let rustls_err = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(r) = rustls_err {
            return Some(r.to_string());
        }
        src = s.source();
    }
    None
}

/// An error and its sources, joined with `: ` (lettre's Display already shows its direct source).
fn chain(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e).and_then(std::error::Error::source);
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

/// `Auto-Submitted: auto-generated` (RFC 3834): tells responders not to answer.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Status;
    use crate::alert::sinks::render::tests::{alert, notification};

    #[test]
    fn message_ids_are_deterministic_and_valid() {
        assert_eq!(message_id("3f2a9c0d-7"), "<3f2a9c0d-7@driftd>");
        assert_eq!(
            message_id("{model=\"churn\"}:7"),
            "<=7Bmodel=3D=22churn=22=7D=3A7@driftd>"
        );
        assert_ne!(message_id("a.b"), message_id("a=2Eb"));
        assert_eq!(message_id(""), "<empty@driftd>");
    }

    #[test]
    fn the_message_has_the_headers_and_both_parts() {
        let n = notification(
            Status::Firing,
            vec![alert("FeatureDrift", "age", Status::Firing, 0.31)],
        );
        let to = [
            parse_mailbox("a@example.com").unwrap(),
            parse_mailbox("Data Team <data@example.com>").unwrap(),
        ];
        let cc = [parse_mailbox("cc@example.com").unwrap()];
        let from = parse_mailbox("driftd <driftd@example.com>").unwrap();
        let msg = message(&n, from, &to, &cc, "[driftd]", None).unwrap();
        let env = msg.envelope();
        assert_eq!(env.to().len(), 3);
        let text = String::from_utf8(msg.formatted()).unwrap();
        for want in [
            "Message-ID: <3f2a9c0d1e4b5a69-7@driftd>",
            "Auto-Submitted: auto-generated",
            "driftd@example.com>",
            "Cc: cc@example.com",
            "Date: Sat, 21 Nov 2026 10:05:00 +0000",
            "multipart/alternative",
            "text/plain",
            "text/html",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        let to_line = text.lines().find(|l| l.starts_with("To: ")).unwrap();
        assert!(to_line.contains("a@example.com, "), "{to_line}");
        assert!(to_line.contains("Data Team"), "{to_line}");
        assert!(to_line.contains("<data@example.com>"), "{to_line}");
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = read_ca_file(&p).unwrap_err();
        assert!(matches!(e, SinkSetupError::CaFileNoCertificate(_)), "{e:?}");
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let e = read_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(
            matches!(e, SinkSetupError::CaFileUnreadable { .. }),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("cannot read "), "{e}");
    }
}
