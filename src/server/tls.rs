//! A server's TLS identity, for the demo bot served over HTTPS (`stress target --tls-cert
//! --tls-key`), as Telegram only delivers webhooks that way: a certificate chain and its private
//! key from PEM files, each error naming the file. The webhook client reads its `--ca-cert`
//! with the same [`read_certificates`].

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// What [`super::serve_tls`] accepts connections with.
#[derive(Clone)]
pub struct ServerTls {
    pub(super) acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The chain (the server's certificate first) and its key; an error when they do not
    /// belong together. ALPN offers only HTTP/1.1, all the servers speak.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the key does not belong to the certificate".to_string()
                }
                e => e.to_string(),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// The certificates of a PEM file, in order (one or more `CERTIFICATE` blocks).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {file}: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{file}: {}", pem_error(&e)))?;
    if chain.is_empty() {
        return Err(format!(
            "{file} holds no certificate (PEM expected: -----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(chain)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1; the first one in it).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let file = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {file}: {e}"))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "{file} holds no private key (PEM expected: -----BEGIN PRIVATE KEY-----, or an RSA \
             or EC one)"
        ),
        e => format!("{file}: {}", pem_error(&e)),
    })
}

/// A PEM parse error in words (rustls' own shows the offending line as a list of bytes).
fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line".into(),
        pem::Error::Base64Decode(e) => format!("a PEM block is not valid base64: {e}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("stress-server-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_certificate_and_its_key_make_a_server_identity() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let chain = read_certificates(&file("cert.pem", made.cert.pem().as_bytes())).unwrap();
        let key = file("key.pem", made.signing_key.serialize_pem().as_bytes());
        assert_eq!(chain.len(), 1);
        ServerTls::new(chain, read_key(&key).unwrap()).unwrap();
    }

    #[test]
    fn bad_files_and_a_key_of_another_certificate_are_named() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = file("only-cert.pem", made.cert.pem().as_bytes());
        let key = file("only-key.pem", made.signing_key.serialize_pem().as_bytes());

        let e = read_certificates(&key).unwrap_err();
        assert!(e.contains("only-key.pem holds no certificate"), "{e}");
        let e = read_key(&cert).unwrap_err();
        assert!(e.contains("only-cert.pem holds no private key"), "{e}");
        let e = read_key(Path::new("/nonexistent/key.pem")).unwrap_err();
        assert!(e.contains("cannot read /nonexistent/key.pem"), "{e}");
        let cut = file("cut.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n");
        let e = read_certificates(&cut).unwrap_err();
        assert!(e.contains("cut.pem: a PEM block has no END line"), "{e}");

        let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let other = read_key(&file("other-key.pem", other.as_bytes())).unwrap();
        let e = ServerTls::new(read_certificates(&cert).unwrap(), other).unwrap_err();
        assert_eq!(e, "the key does not belong to the certificate");
    }
}
