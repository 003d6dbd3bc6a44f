//! The test bed: real components as processes on loopback with free ports, and helpers to drive
//! the real `driftd` binary.
//!
//! Prerequisites are installed by `scripts/test.sh` (the README's test command): the `tansu` broker
//! (in `~/.cargo/bin`), `redis-server`, and a Python venv with `kafka-python` at `.testbed/venv`.
//! Paths can be overridden with `DRIFTD_TANSU`, `DRIFTD_REDIS_SERVER` and `DRIFTD_TEST_PYTHON`.
//! A missing prerequisite fails the test with a message saying how to install it; nothing skips.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A free TCP port on 127.0.0.1 (bound and released; collisions are possible but rare).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A tool: the path in the environment variable `env` (which must exist), else the first of
/// `names` found (absolute, or on `PATH`). Missing → the test fails with `hint`.
pub fn find_tool(env: &str, names: &[&str], hint: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env}={} does not exist. {hint}", p.display());
        return p;
    }
    for n in names {
        let p = PathBuf::from(n);
        if p.is_absolute() && p.exists() {
            return p;
        }
        if let Ok(out) = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {n}"))
            .output()
        {
            let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !s.is_empty() {
                return PathBuf::from(s);
            }
        }
    }
    panic!("{env}: cannot find {names:?}. {hint}");
}

fn kill(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status();
}

/// A tansu broker process.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    durable: bool,
    /// The port named in metadata when it is not `port` (a TLS terminator in front of it).
    advertised: Option<u16>,
    /// Requires SASL (`--authentication`): users must exist first, see [`Broker::create_user`].
    authentication: bool,
}

impl Broker {
    /// Starts a broker: in-memory, or `durable` (SQLite file, survives restarts).
    pub fn start(durable: bool) -> Broker {
        let mut b = Broker {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
            durable,
            advertised: None,
            authentication: false,
        };
        b.spawn();
        b
    }

    /// From the next (re)start: names `port` in metadata instead of its own (clients then reach
    /// it only through whatever listens there), and requires SASL when `authentication`.
    pub fn secure_from_restart(&mut self, advertised: u16, authentication: bool) {
        self.advertised = Some(advertised);
        self.authentication = authentication;
    }

    /// Creates a SASL/SCRAM user (`mechanism`: `scram256` or `scram512`); before
    /// authentication is on (tansu refuses unauthenticated admin requests once it is).
    pub fn create_user(&self, name: &str, password: &str, mechanism: &str) {
        let out = Command::new(Self::tansu())
            .args(["user", "create", name, password, "--mechanism", mechanism])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "creating user {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn tansu() -> PathBuf {
        let home = std::env::var("HOME").unwrap_or_default();
        let cargo_bin = format!("{home}/.cargo/bin/tansu");
        find_tool(
            "DRIFTD_TANSU",
            &["tansu", &cargo_bin],
            "Run scripts/test.sh, or: cargo install tansu --locked --features dynostore,libsql",
        )
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://127.0.0.1:{}", self.advertised.unwrap_or(self.port));
        let storage = if self.durable {
            // tansu takes the SQLite path relative to its working directory (see CRATES.md).
            "sqlite://broker.db".to_owned()
        } else {
            "memory://tansu/".to_owned()
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .unwrap();
        let child = Command::new(Self::tansu())
            .current_dir(self.dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", &storage])
            .args(self.authentication.then_some("--authentication"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let port = self.port;
        wait_for("the broker to listen", Duration::from_secs(30), || {
            port_open(port).then_some(())
        });
    }

    /// `host:port`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates a topic.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(Self::tansu())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "creating topic {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the broker (SIGTERM, then SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c, "TERM");
            let start = Instant::now();
            while c.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let port = self.port;
        wait_for("the broker port to close", Duration::from_secs(10), || {
            (!port_open(port)).then_some(())
        });
    }

    /// Starts the stopped broker again on the same port and storage.
    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    /// The broker's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- broker log (tail) ---\n{}", tail(&self.log(), 30));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A TLS terminator (stunnel) in front of a plain TCP port: what tests put before tansu, which
/// takes `--cert`/`--key` in 0.6 but does not use them.
pub struct Stunnel {
    /// The TLS port.
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Stunnel {
    /// Serves TLS on a free port with `pki`'s `{cert}.pem`/`.key`, forwarding to `target`; asks
    /// for and verifies a client certificate (signed by the test CA) when `client_auth`.
    pub fn start(pki: &Pki, cert: &str, target: u16, client_auth: bool) -> Stunnel {
        let stunnel = find_tool(
            "DRIFTD_STUNNEL",
            &["stunnel", "/usr/bin/stunnel"],
            "Run scripts/test.sh, or install Debian's stunnel4",
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let verify = if client_auth {
            format!(
                "CAfile = {}\nverifyChain = yes\nrequireCert = yes\n",
                pki.path("ca.pem")
            )
        } else {
            String::new()
        };
        let conf = dir.path().join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\ndebug = notice\n[kafka]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{target}\ncert = {}\nkey = {}\n{verify}",
                pki.path(&format!("{cert}.pem")),
                pki.path(&format!("{cert}.key")),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("stunnel.log")).unwrap();
        let child = Command::new(stunnel)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start stunnel");
        wait_for("stunnel to listen", Duration::from_secs(30), || {
            port_open(port).then_some(())
        });
        Stunnel {
            port,
            child: Some(child),
            dir,
        }
    }

    /// Its log (each refused handshake is in it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stunnel.log")).unwrap_or_default()
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- stunnel log (tail) ---\n{}", tail(&self.log(), 30));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An HTTPS client that verifies the server's certificate against a CA of a [`Pki`] (and
/// presents the client certificate when asked to): what tests of `driftd run`/`serve` over TLS
/// use, with rustls, the TLS stack of the daemon's own clients.
pub struct HttpsClient {
    config: std::sync::Arc<rustls::ClientConfig>,
}

/// One kept-alive HTTPS connection.
pub struct HttpsConn {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
}

impl HttpsClient {
    /// Trusting `pki`'s `ca` file (e.g. `ca.pem`), with `client.pem`/`.key` when `client_cert`.
    pub fn new(pki: &Pki, ca: &str, client_cert: bool) -> HttpsClient {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(pki.path(ca)).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if client_cert {
            let certs = CertificateDer::pem_file_iter(pki.path("client.pem"))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_file(pki.path("client.key")).unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        } else {
            b.with_no_client_auth()
        };
        HttpsClient {
            config: std::sync::Arc::new(config),
        }
    }

    /// Connects to `127.0.0.1:port` as `localhost` and completes the handshake (the error text
    /// otherwise, e.g. an unknown issuer or a refused client certificate).
    pub fn connect(&self, port: u16) -> Result<HttpsConn, String> {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn =
            rustls::ClientConnection::new(self.config.clone(), name).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(HttpsConn { tls })
    }

    /// One request on a new connection.
    pub fn request(
        &self,
        port: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, String), String> {
        self.connect(port)?.request(method, path, token, body)
    }
}

impl HttpsConn {
    /// The certificate the server presented (DER).
    pub fn peer_certificate(&self) -> Vec<u8> {
        self.tls.conn.peer_certificates().unwrap()[0].to_vec()
    }

    /// Sends one HTTP/1.1 request on this connection and reads the answer (by Content-Length).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, String), String> {
        use std::io::{Read, Write};
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let io = |e: std::io::Error| e.to_string();
        self.tls.write_all(head.as_bytes()).map_err(io)?;
        self.tls.write_all(body).map_err(io)?;
        self.tls.flush().map_err(io)?;
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if self.tls.read(&mut byte).map_err(io)? == 0 {
                return Err("connection closed before the answer".into());
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status line in {head:?}"))?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
        let mut body = vec![0u8; len];
        self.tls.read_exact(&mut body).map_err(io)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// The DER bytes of the first certificate in a PEM file.
pub fn certificate_der(pem_file: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(pem_file).unwrap().to_vec()
}

/// A client of `redis` under `prefix`, to read what driftd stored there (checkpoints, leases).
pub fn redis_store(
    rt: &tokio::runtime::Runtime,
    redis: &Redis,
    prefix: &str,
) -> driftd::store::RedisStore {
    let cfg = driftd::store::config::RedisStateConfig {
        url: redis.url(),
        key_prefix: prefix.to_owned(),
        ..Default::default()
    };
    rt.block_on(driftd::store::RedisStore::connect(&cfg, None))
        .unwrap()
}

/// A two-worker tokio runtime, for tests that drive the library's async APIs.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A redis-server process of its own, with an append-only file so data survives its restart.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Extra arguments (TLS, ACL users).
    args: Vec<String>,
    /// Serves TLS only (on `port`).
    tls: bool,
}

/// Certificates made at test time: a CA, a server certificate for 127.0.0.1 and localhost signed
/// by it, an expired one, a client certificate, and a second CA that signed none of them. PEM
/// files in a directory of their own.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// Makes the certificates.
    pub fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca = |cn: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            p.distinguished_name.push(DnType::CommonName, cn);
            let cert = p.self_signed(&key).unwrap();
            (cert.pem(), Issuer::new(p, key))
        };
        let (ca_pem, issuer) = ca("driftd test CA");
        let (other_pem, _) = ca("another CA");
        write("ca.pem", ca_pem);
        write("other-ca.pem", other_pem);
        let leaf = |name: &str, client: bool, expired: bool| {
            let key = KeyPair::generate().unwrap();
            let mut p =
                CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                    .unwrap();
            p.distinguished_name.push(DnType::CommonName, name);
            p.extended_key_usages = vec![if client {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            if expired {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = p.signed_by(&key, &issuer).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        };
        leaf("server", false, false);
        leaf("renewed", false, false);
        leaf("expired", false, true);
        leaf("client", true, false);
        Pki { dir }
    }

    /// A file of it: `ca.pem`, `other-ca.pem`, `server.pem`/`.key`, `renewed.pem`/`.key` (a
    /// second server certificate), `expired.pem`/`.key`, `client.pem`/`.key`.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Redis {
    /// Starts redis-server on a free port.
    pub fn start() -> Redis {
        Self::start_with(Vec::new(), false)
    }

    /// Starts redis-server speaking TLS only, with `server` (`server` or `expired`) as its
    /// certificate, asking clients for a certificate signed by the PKI's CA when `client_auth`, and
    /// with `users` (ACL rules such as `driftd on >PASSWORD ~* &* +@all`) and the default user
    /// disabled when any are given.
    pub fn start_tls(pki: &Pki, server: &str, client_auth: bool, users: &[&str]) -> Redis {
        let mut args: Vec<String> = vec![
            "--tls-cert-file".into(),
            pki.path(&format!("{server}.pem")),
            "--tls-key-file".into(),
            pki.path(&format!("{server}.key")),
            "--tls-ca-cert-file".into(),
            pki.path("ca.pem"),
            "--tls-auth-clients".into(),
            if client_auth { "yes" } else { "no" }.into(),
        ];
        for u in users {
            args.push("--user".into());
            args.extend(u.split_whitespace().map(str::to_owned));
        }
        if !users.is_empty() {
            args.extend(["--user", "default", "off"].map(str::to_owned));
        }
        Self::start_with(args, true)
    }

    fn start_with(args: Vec<String>, tls: bool) -> Redis {
        let mut r = Redis {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
            args,
            tls,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let bin = find_tool(
            "DRIFTD_REDIS_SERVER",
            &["redis-server"],
            "Run scripts/test.sh, or: apt-get install redis-server",
        );
        let port = self.port.to_string();
        let ports: &[&str] = if self.tls {
            &["--port", "0", "--tls-port", &port]
        } else {
            &["--port", &port]
        };
        let child = Command::new(bin)
            .args(ports)
            .args(["--bind", "127.0.0.1"])
            .args(&self.args)
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let port = self.port;
        wait_for("redis to listen", Duration::from_secs(20), || {
            port_open(port).then_some(())
        });
    }

    /// `redis://127.0.0.1:PORT/0` (`rediss://` over TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Stops redis-server.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c, "TERM");
            let _ = c.wait();
        }
    }

    /// Starts it again with the same data directory.
    pub fn restart(&mut self) {
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The Python interpreter of the test venv (with kafka-python).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("DRIFTD_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo_root().join(".testbed/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing. Run scripts/test.sh (it creates the venv with kafka-python).",
        p.display()
    );
    p
}

/// Produces every line of `file` to `topic` with the third-party client. Returns the count.
pub fn produce(bootstrap: &str, topic: &str, file: &Path) -> usize {
    produce_with(bootstrap, topic, file, &[])
}

/// Produces the lines of `file` to `topic` with the third-party client, with extra options of
/// `kafka_tool.py produce` (e.g. `--key-field id`, `--only-partitions 0,1`, `--partition 3`).
/// Returns how many were produced.
pub fn produce_with(bootstrap: &str, topic: &str, file: &Path, extra: &[&str]) -> usize {
    let out = Command::new(python())
        .arg(repo_root().join("tests/tools/kafka_tool.py"))
        .args([
            "produce",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--file",
        ])
        .arg(file)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "producing to {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// One message read by the third-party client.
#[derive(Debug, serde::Deserialize)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub value: Option<String>,
    pub headers: BTreeMap<String, Option<String>>,
}

/// Reads up to `expect` messages of `topic` from the beginning.
pub fn consume(bootstrap: &str, topic: &str, expect: usize, timeout: Duration) -> Vec<Consumed> {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.jsonl");
    let out = Command::new(python())
        .arg(repo_root().join("tests/tools/kafka_tool.py"))
        .args(["consume", "--bootstrap", bootstrap, "--topic", topic])
        .args(["--expect", &expect.to_string()])
        .args(["--timeout", &timeout.as_secs().to_string(), "--out"])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "consuming {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A running `driftd run` process.
pub struct Driftd {
    child: Option<Child>,
    pub http_port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
    extra_args: Vec<String>,
}

impl Driftd {
    /// Writes `config` (TOML; `{HTTP}` is replaced by the listen address) into `dir` and starts
    /// `driftd run --config` on it.
    pub fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Driftd {
        Self::start_with_args(dir, config, env, &[])
    }

    /// Like [`Driftd::start`], with extra command-line arguments.
    pub fn start_with_args(
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Driftd {
        let http_port = free_port();
        let cfg_path = dir.join("driftd.toml");
        std::fs::write(
            &cfg_path,
            config.replace("{HTTP}", &format!("127.0.0.1:{http_port}")),
        )
        .unwrap();
        let mut d = Driftd {
            child: None,
            http_port,
            dir: dir.to_owned(),
            config: cfg_path,
            log: dir.join("driftd.log"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftd"));
        cmd.current_dir(&self.dir)
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .args(&self.extra_args)
            .env("RUST_LOG", "info,librdkafka=warn,rdkafka=warn")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start driftd"));
        let port = self.http_port;
        let log = self.log.clone();
        wait_for("driftd's HTTP port", Duration::from_secs(60), || {
            if port_open(port) {
                return Some(());
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                !text.contains("driftd failed"),
                "driftd failed to start:\n{text}"
            );
            None
        });
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// GET a path; returns status and body (None if the request failed).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(&format!("{}{path}", self.base()))
    }

    /// The current metrics.
    pub fn metrics(&self) -> Option<Metrics> {
        let (status, body) = self.get("/metrics")?;
        (status == 200).then(|| Metrics::parse(&body))
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        matches!(self.get("/readyz"), Some((200, _)))
    }

    /// Waits until `n` events are counted and driftd is ready, stops it gracefully (exit 0),
    /// starts it again and waits until the counts are back from the state store: the metrics
    /// then (at least `n` events; the caller asserts exactly).
    pub fn graceful_restart_at(&mut self, n: f64) -> Metrics {
        let total = |m: &Metrics| m.sum("driftd_events_total", &[]);
        wait_for(&format!("{n} events"), Duration::from_secs(60), || {
            (total(&self.metrics()?) >= n).then_some(())
        });
        wait_for("ready", Duration::from_secs(20), || {
            self.ready().then_some(())
        });
        assert_eq!(self.terminate(), Some(0), "{}", self.log_text());
        self.restart();
        wait_for("counts restored", Duration::from_secs(30), || {
            let m = self.metrics()?;
            (total(&m) >= n).then_some(m)
        })
    }

    /// Sends SIGKILL and waits for the process to disappear.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        kill(&mut c, "TERM");
        let start = Instant::now();
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s.code();
            }
            if start.elapsed() > Duration::from_secs(40) {
                let _ = c.kill();
                panic!(
                    "driftd did not exit within 40 s of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (e.g. `HUP`).
    pub fn signal(&mut self, sig: &str) {
        if let Some(c) = self.child.as_mut() {
            kill(c, sig);
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Starts the stopped process again with the same config (new HTTP port is not needed: the
    /// port is reused).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop driftd before restarting it");
        self.spawn();
    }

    /// Everything driftd logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The last `n` lines of a log, for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Driftd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- driftd log (tail) ---\n{}", tail(&self.log_text(), 60));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain HTTP GET.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let agent = agent();
    match agent.get(url).call() {
        Ok(mut r) => {
            let status = r.status().as_u16();
            Some((status, r.body_mut().read_to_string().unwrap_or_default()))
        }
        Err(_) => None,
    }
}

/// An authenticated GET (bearer `token`): the parsed JSON body of a 200 answer.
pub fn http_get_json(url: &str, token: &str) -> Option<serde_json::Value> {
    let mut r = agent()
        .get(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .ok()?;
    if r.status().as_u16() != 200 {
        return None;
    }
    serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()
}

/// An authenticated GET (bearer `token`): the status and body, whatever the status.
pub fn http_get_auth(url: &str, token: &str) -> (u16, String) {
    let mut r = agent()
        .get(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .expect("GET");
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// An HTTP POST with an optional bearer token.
pub fn http_post(url: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    try_http_post(url, token, body).expect("POST")
}

/// An HTTP POST: the status and body, or the transport error (a server may answer and close the
/// connection before it has read a body it refuses, e.g. one over its size limit, and the client
/// then fails to send the rest).
pub fn try_http_post(url: &str, token: Option<&str>, body: &[u8]) -> Result<(u16, String), String> {
    let agent = agent();
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut r = req.send(body).map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string().unwrap_or_default()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Parsed Prometheus text exposition: series name{labels} → value.
#[derive(Debug, Clone)]
pub struct Metrics(pub Vec<(String, BTreeMap<String, String>, f64)>);

impl Metrics {
    /// Parses the text format (enough of it for driftd's output).
    pub fn parse(text: &str) -> Metrics {
        let mut out = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or(f64::NAN);
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => {
                    let rest = rest.trim_end_matches('}');
                    let mut labels = BTreeMap::new();
                    for kv in rest.split("\",").filter(|s| !s.is_empty()) {
                        let (k, v) = kv.split_once('=').unwrap();
                        labels.insert(k.to_owned(), v.trim_matches('"').to_owned());
                    }
                    (n.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            out.push((name, labels, value));
        }
        Metrics(out)
    }

    /// Sum of a metric over the series matching every `(label, value)` given.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    /// Whether a series of this name exists.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _, _)| n == name)
    }
}

/// A deterministic generator of valid events (xorshift; no external crates).
/// Deterministic variates (xorshift64, Box–Muller for normals): no dependency, and a seed replays
/// the same values on every platform.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` predictions of `model` numbered from `first` (ids `p{i}`, a millisecond of event time
/// apart), each with `features` standard-normal features `f0..` of which the first `shifted` are
/// shifted by one standard deviation.
pub fn drift_window(
    rng: &mut Rng,
    model: &str,
    first: u64,
    n: usize,
    features: usize,
    shifted: usize,
) -> Vec<String> {
    (first..first + n as u64)
        .map(|i| {
            let f: Vec<String> = (0..features)
                .map(|f| {
                    let shift = if f < shifted { 1.0 } else { 0.0 };
                    format!("\"f{f}\":{:.5}", rng.normal() + shift)
                })
                .collect();
            format!(
                r#"{{"kind":"prediction","id":"p{i}","model":"{model}","ts":"2026-11-21T10:{:02}:{:02}.{:03}Z","features":{{{}}},"prediction":{{"label":"1"}}}}"#,
                (i / 60_000) % 60,
                (i / 1000) % 60,
                i % 1000,
                f.join(",")
            )
        })
        .collect()
}

pub struct EventGen {
    rng: Rng,
    pub n: u64,
}

impl EventGen {
    pub fn new(seed: u64) -> Self {
        EventGen {
            rng: Rng(seed.max(1)),
            n: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.rng.next()
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A prediction for `model` with `features` numeric features plus one categorical.
    pub fn prediction(&mut self, model: &str, features: usize) -> String {
        self.n += 1;
        let mut f = String::new();
        for i in 0..features {
            f.push_str(&format!("\"f{i}\":{:.4},", self.unit() * 100.0 - 50.0));
        }
        let plan = ["free", "pro", "team"][(self.next_u64() % 3) as usize];
        let score = self.unit();
        format!(
            r#"{{"kind":"prediction","id":"{model}-{n}","model":"{model}","model_version":"1","ts":"2026-11-21T10:{m:02}:{s:02}Z","features":{{{f}"plan":"{plan}"}},"prediction":{{"label":"{label}","score":{score:.4}}}}}"#,
            n = self.n,
            m = (self.n / 60) % 60,
            s = self.n % 60,
            label = u8::from(score >= 0.5),
        )
    }

    /// A feedback event for `model`.
    pub fn feedback(&mut self, model: &str) -> String {
        self.n += 1;
        let (n, l) = (self.n, self.next_u64() % 2);
        format!(
            r#"{{"kind":"feedback","id":"{model}-{n}","model":"{model}","ts":"2026-11-21T11:00:00Z","label":"{l}"}}"#
        )
    }
}

/// Malformed events, each with the reason driftd must give. Cycles through eight kinds.
pub fn malformed(i: usize) -> (String, &'static str) {
    let base = r#""id":"bad","model":"churn","ts":"2026-11-21T10:00:00Z""#;
    match i % 8 {
        0 => (format!(r#"{{"kind":"prediction",{base}"#), "invalid_json"),
        1 => ("[1,2,3]".to_owned(), "not_an_object"),
        2 => (format!(r#"{{"kind":"prediction",{base}}}"#), "missing_field"),
        3 => (
            r#"{"kind":"prediction","id":"bad","model":"churn","ts":"21/11/2026","features":{}}"#.to_owned(),
            "bad_timestamp",
        ),
        4 => (
            format!(r#"{{"kind":"prediction",{base},"features":{{"x":NaN}}}}"#),
            "non_finite_feature",
        ),
        5 => (format!(r#"{{"kind":"click",{base}}}"#), "unknown_kind"),
        6 => (
            r#"{"kind":"feedback","id":"bad","model":"no spaces please","ts":"2026-11-21T10:00:00Z","label":"1"}"#
                .to_owned(),
            "invalid_model_name",
        ),
        _ => (
            format!(r#"{{"kind":"prediction",{base},"features":{{}},"prediction":{{"score":7}}}}"#),
            "invalid_prediction",
        ),
    }
}

/// Writes lines to a file.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// Appends lines to a file.
pub fn append_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// A unique suffix for topic, group and key names.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}
