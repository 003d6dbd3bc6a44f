//! HTTPS for `driftd run` and `driftd serve`: `[http.tls]` / `[serve.tls]`, the rustls server
//! configuration made from PEM files, reloaded on SIGHUP, and the listener that hands axum
//! connections whose TLS handshake is done.
//!
//! Written here rather than taken from `axum-server`: that crate replaces `axum::serve` (and its
//! graceful shutdown, which both servers share with their plain-HTTP mode) with its own server
//! loop; an [`axum::serve::Listener`] keeps one serving path for plain and TLS, and is small.
//! Handshakes run in their own tasks, with a time limit, so a slow or hostile client never holds up
//! the accept loop. A reload swaps the configuration new handshakes use; established connections
//! keep their session, so none is dropped. A reload that fails (a missing file, a key that does not
//! match the certificate) keeps the running configuration and says why.
//!
//! May depend on: contract.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::contract::settings::{ConfigError, err};

/// `[http.tls]` / `[serve.tls]`: serve HTTPS with a certificate and key from files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerSettings {
    /// PEM file with the server's certificate chain (leaf first). Re-read on SIGHUP.
    pub cert_file: Option<PathBuf>,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1). Re-read on SIGHUP.
    pub key_file: Option<PathBuf>,
    /// PEM file of CA certificates: when set, every client must present a certificate signed by
    /// one of them (mutual TLS); a client without one fails the handshake.
    pub client_ca_file: Option<PathBuf>,
    /// Time limit of one handshake.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Option<Duration>,
}

/// The handshake time limit when none is configured.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsServerSettings {
    /// Whether TLS is configured at all.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Checks the files can be read and make a server configuration (`path` is the table's key,
    /// e.g. `http.tls`).
    pub fn validate(&self, e: &mut Vec<ConfigError>, path: &str) {
        if !self.enabled() {
            if self.client_ca_file.is_some() {
                err(
                    e,
                    format!("{path}.client_ca_file"),
                    "needs cert_file and key_file: client certificates are only asked for over TLS",
                );
            }
            return;
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => err(
                e,
                format!("{path}.key_file"),
                "cert_file needs its key_file",
            ),
            (None, Some(_)) => err(
                e,
                format!("{path}.cert_file"),
                "key_file needs its cert_file",
            ),
            _ => {
                if let Err(m) = self.server_config() {
                    err(e, format!("{path}.{}", m.key), m.message);
                }
            }
        }
        if self.handshake_timeout.is_some_and(|t| t.is_zero()) {
            err(e, format!("{path}.handshake_timeout"), "must be positive");
        }
    }

    /// The rustls configuration the files make now (HTTP/1.1 over TLS 1.2 or 1.3).
    pub fn server_config(&self) -> Result<ServerConfig, TlsFileError> {
        let (Some(cert_file), Some(key_file)) = (&self.cert_file, &self.key_file) else {
            return Err(TlsFileError::new("cert_file", "not set"));
        };
        let certs = read_certs(cert_file).map_err(|m| TlsFileError::new("cert_file", m))?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
            TlsFileError::new(
                "key_file",
                format!("no private key read from {}: {e}", key_file.display()),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsFileError::new("cert_file", e.to_string()))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in read_certs(ca).map_err(|m| TlsFileError::new("client_ca_file", m))? {
                    roots.add(c).map_err(|e| {
                        TlsFileError::new("client_ca_file", format!("{}: {e}", ca.display()))
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| TlsFileError::new("client_ca_file", e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            TlsFileError::new(
                "key_file",
                format!(
                    "does not go with the certificate of {}: {e}",
                    cert_file.display()
                ),
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", file.display()));
    }
    Ok(certs)
}

/// Why the TLS files do not make a configuration: the key of the file at fault and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsFileError {
    /// `cert_file`, `key_file` or `client_ca_file`.
    pub key: &'static str,
    /// What is wrong (file names, never their contents).
    pub message: String,
}

impl TlsFileError {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        TlsFileError {
            key,
            message: message.into(),
        }
    }
}

/// The TLS configuration a server hands to new handshakes, swapped by [`TlsReloader::reload`].
#[derive(Clone)]
pub struct TlsReloader {
    settings: TlsServerSettings,
    current: Arc<ArcSwap<ServerConfig>>,
}

impl TlsReloader {
    /// Loads the files once.
    pub fn new(settings: TlsServerSettings) -> Result<Self, TlsFileError> {
        let config = settings.server_config()?;
        Ok(TlsReloader {
            settings,
            current: Arc::new(ArcSwap::from_pointee(config)),
        })
    }

    /// Re-reads the files; on failure keeps serving with the running configuration.
    pub fn reload(&self) -> Result<(), TlsFileError> {
        let config = self.settings.server_config()?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// Reloads and logs the outcome (for SIGHUP handlers).
    pub fn reload_logged(&self, server: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(server, "TLS certificate and key reloaded"),
            Err(e) => tracing::error!(
                server,
                error = %e,
                "TLS reload failed: keeping the running certificate"
            ),
        }
    }
}

/// A listener that yields connections whose TLS handshake is done, for [`axum::serve()`].
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `tcp` and shakes hands with the reloader's current configuration.
    pub fn new(tcp: TcpListener, tls: &TlsReloader, server: &'static str) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let current = tls.current.clone();
        let limit = tls
            .settings
            .handshake_timeout
            .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
        let accept_loop = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // As axum's own TCP listener: out of file descriptors and the like pass.
                        tracing::warn!(server, error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = TlsAcceptor::from(current.load_full());
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(server, %peer, error = %e, "TLS handshake refused")
                        }
                        Err(_) => {
                            tracing::info!(server, %peer, ?limit, "TLS handshake timed out")
                        }
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The accept loop owns the socket: stopping it closes the port.
        self.accept_loop.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop never ends while this listener lives (it holds a sender).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `router` on `tcp`, over TLS when `tls` is given, until `shutdown` resolves.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<&TlsReloader>,
    router: axum::Router,
    server: &'static str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            axum::serve(tcp, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            axum::serve(TlsListener::new(tcp, tls, server)?, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Warns when plain HTTP listens beyond loopback: tokens would cross the network in clear text.
pub fn warn_if_plain_beyond_loopback(addr: SocketAddr, tls: bool, key: &str) {
    if !tls && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "plain HTTP on a non-loopback address: bearer tokens cross the network unencrypted; configure [{key}.tls]"
        );
    }
}
