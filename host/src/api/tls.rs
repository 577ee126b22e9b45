//! HTTPS and WSS served by the process itself: reads `server.tls_cert` and
//! `server.tls_key` (PEM) at start and builds the rustls acceptor (ring
//! provider, TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`). A file that cannot
//! be read, holds no certificate or key, or a key that does not belong to the
//! certificate stops the start with an error naming the file. On reload the
//! same files are read again (a renewed certificate) and the new pair serves
//! the next handshakes; a pair that cannot be used keeps the old one.
//!
//! Owns reading the PEM files and the rustls server settings. It must not
//! accept connections or time them: `connections` does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("server.tls_cert and server.tls_key go together: {given} is set but {missing} is not")]
    Half { given: &'static str, missing: &'static str },
    #[error("cannot read {what} {path}: {source}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} {path}: {message}")]
    Content { what: &'static str, path: PathBuf, message: String },
    #[error("server.tls_cert {cert} with server.tls_key {key}: {message}")]
    Pair { cert: PathBuf, key: PathBuf, message: String },
}

/// The certificate the server presents, swapped whole on reload.
#[derive(Debug)]
pub struct Certificate {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

impl Certificate {
    /// Reads `server`'s files again (nothing changes yet: see `replace`).
    pub fn read_again(&self, server: &ServerConfig) -> Result<CertifiedKey, TlsError> {
        certified_key(server, &self.provider)
    }

    /// The next handshakes present `key`.
    pub fn replace(&self, key: CertifiedKey) {
        *self.current.write() = Arc::new(key);
    }
}

/// The acceptor for `server`'s certificate (and the certificate, to reload
/// it), or None when TLS is off (both paths empty).
pub fn acceptor(server: &ServerConfig) -> Result<Option<(TlsAcceptor, Arc<Certificate>)>, TlsError> {
    let (cert, key) = (&server.tls_cert, &server.tls_key);
    match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
        (true, true) => return Ok(None),
        (false, true) => return Err(TlsError::Half { given: "server.tls_cert", missing: "server.tls_key" }),
        (true, false) => return Err(TlsError::Half { given: "server.tls_key", missing: "server.tls_cert" }),
        (false, false) => {}
    }
    // The ring provider named here, not the process default: no other
    // provider is built in, and none has to be installed globally.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificate = Arc::new(Certificate { current: RwLock::new(Arc::new(certified_key(server, &provider)?)), provider: provider.clone() });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| pair_error(server, e))?
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some((TlsAcceptor::from(Arc::new(config)), certificate)))
}

fn pair_error(server: &ServerConfig, e: rustls::Error) -> TlsError {
    TlsError::Pair { cert: server.tls_cert.clone(), key: server.tls_key.clone(), message: e.to_string() }
}

/// The chain and key of `server`'s files, the key checked against the certificate.
fn certified_key(server: &ServerConfig, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = certificates(&server.tls_cert)?;
    let private_key = private_key(&server.tls_key)?;
    CertifiedKey::from_der(chain, private_key, provider).map_err(|e| pair_error(server, e))
}

const CERT: &str = "server.tls_cert";
const KEY: &str = "server.tls_key";

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_path_buf(), source })
}

/// Every certificate of the PEM file, in order (the server's first).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(CERT, path)?;
    let content = |message: String| TlsError::Content { what: CERT, path: path.to_path_buf(), message };
    let chain = CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| content(format!("not a readable PEM file: {e}")))?;
    if chain.is_empty() {
        return Err(content("holds no certificate (no -----BEGIN CERTIFICATE----- section)".into()));
    }
    Ok(chain)
}

/// The first private key of the PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(KEY, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let message = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "holds no private key (no -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY section)".to_string()
            }
            other => format!("not a readable PEM private key: {other}"),
        };
        TlsError::Content { what: KEY, path: path.to_path_buf(), message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(cert: &Path, key: &Path) -> ServerConfig {
        ServerConfig { tls_cert: cert.to_path_buf(), tls_key: key.to_path_buf(), ..ServerConfig::default() }
    }

    fn error(cert: &Path, key: &Path) -> String {
        acceptor(&server(cert, key)).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn no_paths_is_plain_http_and_one_path_alone_is_refused() {
        assert!(acceptor(&ServerConfig::default()).unwrap().is_none());
        assert!(error(Path::new("c.pem"), Path::new("")).contains("server.tls_key is not"));
        assert!(error(Path::new(""), Path::new("k.pem")).contains("server.tls_cert is not"));
    }

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (missing, junk) = (dir.path().join("missing.pem"), dir.path().join("junk.pem"));
        std::fs::write(&junk, "not pem at all\n").unwrap();
        let message = error(&missing, &junk);
        assert!(message.contains("cannot read server.tls_cert") && message.contains("missing.pem"), "{message}");
        let message = error(&junk, &junk);
        assert!(message.contains("server.tls_cert") && message.contains("junk.pem") && message.contains("no certificate"), "{message}");
    }
}
