//! The sinks' configuration: receivers, the SMTP relay and the retry policy, with validation that
//! reports every problem at once with its key path (`alerting.receivers.oncall.to`).
//!
//! ```toml
//! [alerting.smtp]
//! host = "smtp.example.com"          # port: 587 (starttls), 465 (tls) or 25 (plain) by default
//! security = "starttls"
//! username = "driftd"
//! password = { env = "DRIFTD_SMTP_PASSWORD" }
//! from = "driftd <driftd@example.com>"
//!
//! [alerting.receivers.oncall]
//! kind = "email"
//! to = ["ml-oncall@example.com", "Data Team <data@example.com>"]
//!
//! [alerting.receivers.pager]
//! kind = "webhook"
//! url = "https://alerts.example.com/hook"
//! bearer_token = { file = "/run/credentials/driftd.service/hook" }
//!
//! [alerting.receivers.journal]
//! kind = "log"
//!
//! [alerting.delivery]
//! initial_backoff = "1s"
//! max_backoff = "5m"
//! give_up_after = "24h"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use super::error::SinkSetupError;
use crate::contract::settings::SecretSpec;

/// `[alerting.receivers.NAME]`: where a route's notifications go, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReceiverConfig {
    /// An email through the `[alerting.smtp]` relay.
    Email(EmailReceiver),
    /// An HTTP POST of a JSON payload.
    Webhook(WebhookReceiver),
    /// A structured log event at warn level (no external service needed).
    Log(LogReceiver),
}

impl ReceiverConfig {
    /// The `kind` as written in the config; also the `kind` label of the notification metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ReceiverConfig::Email(_) => "email",
            ReceiverConfig::Webhook(_) => "webhook",
            ReceiverConfig::Log(_) => "log",
        }
    }
}

/// A receiver with `kind = "email"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailReceiver {
    /// Recipients (`user@host` or `Name <user@host>`); at least one.
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// The sender; default: `alerting.smtp.from`.
    #[serde(default)]
    pub from: Option<String>,
    /// Put before every subject, so mail filters can match it.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
}

fn default_subject_prefix() -> String {
    "[driftd]".into()
}

/// A receiver with `kind = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookReceiver {
    /// An `http://` or `https://` URL; the payload is POSTed to it.
    pub url: String,
    /// Time limit for one request, from connecting to reading the answer.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer …`.
    #[serde(default)]
    pub bearer_token: Option<SecretSpec>,
    /// The payload's shape.
    #[serde(default)]
    pub format: WebhookFormat,
}

/// The JSON a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The `Notification` itself (ids, every alert's value, condition and detail, actions).
    Driftd,
    /// Alertmanager's webhook payload, version 4: what chat bridges, PagerDuty/Opsgenie
    /// integrations and most incident tools already accept.
    #[default]
    Alertmanager,
}

/// A receiver with `kind = "log"`: no settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogReceiver {}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How the connection to the SMTP relay is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
    /// No encryption (port 25 by default): only for a relay on localhost or a trusted network.
    Plain,
}

impl SmtpSecurity {
    /// The conventional port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        }
    }
}

/// `[alerting.smtp]`: the relay email receivers send through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name (also the name its TLS certificate must carry) or IP address.
    pub host: String,
    /// The relay's port; default by `security`: 587 (starttls), 465 (tls), 25 (plain).
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `plain`.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// User for SMTP AUTH (PLAIN or LOGIN); no AUTH without it.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for SMTP AUTH; needs `username`.
    #[serde(default)]
    pub password: Option<SecretSpec>,
    /// Default sender of every email receiver, e.g. `driftd <driftd@example.com>`.
    pub from: String,
    /// The name sent in EHLO; default: this machine's host name.
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Time limit for connecting and for each command's answer.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// A PEM file of extra root certificates to trust, e.g. the private CA of an internal relay.
    /// Mozilla's roots are always trusted too.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification entirely. **For tests only**: anyone on the path could read
    /// the credentials and the mail. Use `ca_file` for a relay with a private CA.
    #[serde(default)]
    pub accept_invalid_certs: bool,
}

impl SmtpConfig {
    /// The port in effect: the configured one or the default of the security mode.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.security.default_port())
    }
}

/// `[alerting.delivery]`: retries of failed deliveries (deterministic exponential backoff).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Wait after the first failed attempt; each further failure doubles the wait.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// A notification still failing this long after it was queued is dropped (logged at error
    /// level and counted as `dropped`): an alert a day old is better found on the dashboard.
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// The key path of the alerting section, the prefix of every path [`validate`] reports.
const SECTION: &str = "alerting";

/// Checks the receivers and the SMTP section: returns `(key path, problem)` for every problem
/// found, e.g. `("alerting.receivers.oncall.to", "at least one recipient is needed")`.
///
/// Secrets are resolved to check that they can be (their values are never reported).
pub fn validate(
    receivers: &BTreeMap<String, ReceiverConfig>,
    smtp: Option<&SmtpConfig>,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if let Some(smtp) = smtp {
        validate_smtp(smtp, &mut errors);
    }
    for (name, receiver) in receivers {
        let path = format!("{SECTION}.receivers.{name}");
        match receiver {
            ReceiverConfig::Email(e) => validate_email(&path, e, smtp, &mut errors),
            ReceiverConfig::Webhook(w) => validate_webhook(&path, w, &mut errors),
            ReceiverConfig::Log(_) => {}
        }
    }
    errors
}

/// Checks `[alerting.delivery]`: positive waits, `max_backoff >= initial_backoff`.
pub fn validate_delivery(delivery: &DeliveryConfig) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let path = format!("{SECTION}.delivery");
    if delivery.initial_backoff.is_zero() {
        push(
            &mut errors,
            format!("{path}.initial_backoff"),
            "must be positive",
        );
    }
    if delivery.max_backoff < delivery.initial_backoff {
        push(
            &mut errors,
            format!("{path}.max_backoff"),
            "must be at least `initial_backoff`",
        );
    }
    if delivery.give_up_after.is_zero() {
        push(
            &mut errors,
            format!("{path}.give_up_after"),
            "must be positive",
        );
    }
    errors
}

/// Records a problem: its key path and message (a text, or an error's message).
fn push(errors: &mut Vec<(String, String)>, path: impl Into<String>, msg: impl std::fmt::Display) {
    errors.push((path.into(), msg.to_string()));
}

fn validate_smtp(smtp: &SmtpConfig, errors: &mut Vec<(String, String)>) {
    let path = format!("{SECTION}.smtp");
    if smtp.host.trim().is_empty() {
        push(errors, format!("{path}.host"), "must not be empty");
    }
    if smtp.port == Some(0) {
        push(
            errors,
            format!("{path}.port"),
            "must be between 1 and 65535",
        );
    }
    if let Err(m) = parse_mailbox(&smtp.from) {
        push(errors, format!("{path}.from"), m);
    }
    if smtp.timeout.is_zero() {
        push(errors, format!("{path}.timeout"), "must be positive");
    }
    match (&smtp.username, &smtp.password) {
        (None, Some(_)) => push(
            errors,
            format!("{path}.password"),
            "a password needs a `username`",
        ),
        (Some(_), None) => push(
            errors,
            format!("{path}.username"),
            "a username needs a `password`",
        ),
        (Some(u), _) if u.is_empty() => {
            push(errors, format!("{path}.username"), "must not be empty");
        }
        _ => {}
    }
    if let Some(Err(m)) = smtp.password.as_ref().map(SecretSpec::resolve) {
        push(errors, format!("{path}.password"), m);
    }
    if let Some(h) = &smtp.hello_name
        && (h.is_empty() || h.contains(char::is_whitespace))
    {
        push(
            errors,
            format!("{path}.hello_name"),
            "must be a host name without spaces",
        );
    }
    if let Some(ca) = &smtp.ca_file
        && let Err(m) = read_ca_file(ca)
    {
        push(errors, format!("{path}.ca_file"), m);
    }
    if smtp.security == SmtpSecurity::Plain && smtp.accept_invalid_certs {
        push(
            errors,
            format!("{path}.accept_invalid_certs"),
            "has no effect with `security = \"plain\"`",
        );
    }
}

fn validate_email(
    path: &str,
    e: &EmailReceiver,
    smtp: Option<&SmtpConfig>,
    errors: &mut Vec<(String, String)>,
) {
    if smtp.is_none() {
        push(
            errors,
            path,
            "an email receiver needs the [alerting.smtp] section",
        );
    }
    if e.to.is_empty() {
        push(
            errors,
            format!("{path}.to"),
            "at least one recipient is needed",
        );
    }
    for (field, list) in [("to", &e.to), ("cc", &e.cc)] {
        for (i, addr) in list.iter().enumerate() {
            if let Err(m) = parse_mailbox(addr) {
                push(errors, format!("{path}.{field}.{i}"), m);
            }
        }
    }
    if let Some(from) = &e.from
        && let Err(m) = parse_mailbox(from)
    {
        push(errors, format!("{path}.from"), m);
    }
    if e.subject_prefix.contains(['\r', '\n']) {
        push(
            errors,
            format!("{path}.subject_prefix"),
            "must be a single line",
        );
    }
}

fn validate_webhook(path: &str, w: &WebhookReceiver, errors: &mut Vec<(String, String)>) {
    if let Err(m) = check_http_url(&w.url) {
        push(errors, format!("{path}.url"), m);
    }
    if w.timeout.is_zero() {
        push(errors, format!("{path}.timeout"), "must be positive");
    }
    if let Some(Err(m)) = w.bearer_token.as_ref().map(SecretSpec::resolve) {
        push(errors, format!("{path}.bearer_token"), m);
    }
}

/// Parses `user@host` or `Name <user@host>`; the error quotes the input (addresses are not
/// secrets) and says why.
pub(crate) fn parse_mailbox(s: &str) -> Result<Mailbox, SinkSetupError> {
    Mailbox::from_str(s).map_err(|source| SinkSetupError::Address {
        input: s.to_owned(),
        source,
    })
}

/// Accepts an absolute `http://` or `https://` URL with a host.
pub(crate) fn check_http_url(url: &str) -> Result<(), SinkSetupError> {
    let uri: ureq::http::Uri = url.parse().map_err(|source| SinkSetupError::UrlSyntax {
        url: url.to_owned(),
        source,
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(SinkSetupError::UrlScheme(url.to_owned())),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err(SinkSetupError::UrlNoHost(url.to_owned())),
    }
}

/// Reads a PEM file of root certificates (`ca_file`).
pub(crate) fn read_ca_file(
    path: &std::path::Path,
) -> Result<lettre::transport::smtp::client::Certificate, SinkSetupError> {
    let pem = std::fs::read(path).map_err(|source| SinkSetupError::CaFileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(SinkSetupError::CaFileNoCertificate(path.to_owned()));
    }
    lettre::transport::smtp::client::Certificate::from_pem(&pem).map_err(|source| {
        SinkSetupError::CaFileInvalid {
            path: path.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Alerting {
        #[serde(default)]
        receivers: BTreeMap<String, ReceiverConfig>,
        smtp: Option<SmtpConfig>,
        #[serde(default)]
        delivery: DeliveryConfig,
    }

    fn parse(toml_text: &str) -> Alerting {
        toml::from_str(toml_text).unwrap()
    }

    fn paths(errors: &[(String, String)]) -> Vec<&str> {
        errors.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn parses_every_kind_with_defaults() {
        let a = parse(
            r#"
            [smtp]
            host = "smtp.example.com"
            from = "driftd <driftd@example.com>"
            [receivers.oncall]
            kind = "email"
            to = ["a@example.com"]
            [receivers.hook]
            kind = "webhook"
            url = "https://hooks.example.com/x"
            [receivers.journal]
            kind = "log"
            "#,
        );
        let smtp = a.smtp.as_ref().unwrap();
        assert_eq!(smtp.security, SmtpSecurity::Starttls);
        assert_eq!(smtp.effective_port(), 587);
        assert_eq!(smtp.timeout, Duration::from_secs(10));
        assert!(!smtp.accept_invalid_certs);
        let ReceiverConfig::Email(e) = &a.receivers["oncall"] else {
            panic!("not email")
        };
        assert_eq!(e.subject_prefix, "[driftd]");
        assert!(e.cc.is_empty() && e.from.is_none());
        let ReceiverConfig::Webhook(w) = &a.receivers["hook"] else {
            panic!("not webhook")
        };
        assert_eq!(w.format, WebhookFormat::Alertmanager);
        assert_eq!(w.timeout, Duration::from_secs(10));
        assert_eq!(a.receivers["journal"].kind(), "log");
        assert_eq!(a.delivery, DeliveryConfig::default());
        assert!(validate(&a.receivers, a.smtp.as_ref()).is_empty());
        assert!(validate_delivery(&a.delivery).is_empty());
    }

    #[test]
    fn ports_follow_the_security_mode() {
        for (security, port) in [("tls", 465), ("plain", 25), ("starttls", 587)] {
            let a = parse(&format!(
                "[smtp]\nhost = \"h\"\nfrom = \"a@b.c\"\nsecurity = \"{security}\"\n"
            ));
            assert_eq!(a.smtp.unwrap().effective_port(), port);
        }
        let a = parse("[smtp]\nhost = \"h\"\nfrom = \"a@b.c\"\nport = 2525\n");
        assert_eq!(a.smtp.unwrap().effective_port(), 2525);
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let r: Result<Alerting, _> =
            toml::from_str("[receivers.x]\nkind = \"email\"\nto = [\"a@b.c\"]\ntoo = 1\n");
        assert!(r.is_err());
        let r: Result<Alerting, _> = toml::from_str("[receivers.x]\nkind = \"pigeon\"\n");
        assert!(r.is_err());
        let r: Result<Alerting, _> = toml::from_str(
            "[receivers.x]\nkind = \"webhook\"\nurl = \"http://h\"\nformat = \"slack\"\n",
        );
        assert!(r.is_err());
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let a = parse(
            r#"
            [receivers.oncall]
            kind = "email"
            to = []
            cc = ["ok@example.com", "not an address"]
            from = "nobody"
            [receivers.hook]
            kind = "webhook"
            url = "ftp://example.com/x"
            bearer_token = { env = "DRIFTD_TEST_SURELY_UNSET_TOKEN" }
            [receivers.rel]
            kind = "webhook"
            url = "/relative"
            "#,
        );
        let errors = validate(&a.receivers, None);
        assert_eq!(
            paths(&errors),
            [
                "alerting.receivers.hook.url",
                "alerting.receivers.hook.bearer_token",
                "alerting.receivers.oncall",
                "alerting.receivers.oncall.to",
                "alerting.receivers.oncall.cc.1",
                "alerting.receivers.oncall.from",
                "alerting.receivers.rel.url",
            ],
            "{errors:?}"
        );
        assert!(errors[2].1.contains("[alerting.smtp]"));
        assert!(errors[4].1.contains("not an address"));
        assert!(errors[1].1.contains("DRIFTD_TEST_SURELY_UNSET_TOKEN"));
    }

    #[test]
    fn smtp_problems_have_paths() {
        let a = parse(
            r#"
            [smtp]
            host = ""
            from = "driftd"
            password = { value = "hunter2" }
            timeout = "0s"
            ca_file = "/nonexistent/ca.pem"
            "#,
        );
        let errors = validate(&a.receivers, a.smtp.as_ref());
        assert_eq!(
            paths(&errors),
            [
                "alerting.smtp.host",
                "alerting.smtp.from",
                "alerting.smtp.timeout",
                "alerting.smtp.password",
                "alerting.smtp.ca_file",
            ],
            "{errors:?}"
        );
        assert!(errors[3].1.contains("username"));
        assert!(errors.iter().all(|(_, m)| !m.contains("hunter2")));
    }

    #[test]
    fn unresolvable_smtp_password_is_reported() {
        let a = parse(
            r#"
            [smtp]
            host = "h"
            from = "a@b.c"
            username = "u"
            password = { file = "/nonexistent/driftd-smtp-password" }
            "#,
        );
        let errors = validate(&a.receivers, a.smtp.as_ref());
        assert_eq!(paths(&errors), ["alerting.smtp.password"]);
        assert!(errors[0].1.contains("/nonexistent/driftd-smtp-password"));
    }

    #[test]
    fn delivery_checks() {
        let a = parse(
            "[delivery]\ninitial_backoff = \"10s\"\nmax_backoff = \"1s\"\ngive_up_after = \"0s\"\n",
        );
        assert_eq!(
            paths(&validate_delivery(&a.delivery)),
            [
                "alerting.delivery.max_backoff",
                "alerting.delivery.give_up_after"
            ]
        );
    }
}
