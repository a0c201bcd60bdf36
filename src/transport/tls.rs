//! HTTPS targets: Telegram delivers webhooks only over TLS, so a deployed bot sits behind it.
//! A connection is TLS (rustls) over the same TCP socket `h1` uses; HTTP/1.1 on top is
//! unchanged. Whom to trust ([`Trust`]): the system's roots by default, the certificates of a
//! PEM file (`--ca-cert`, a private CA or the bot's own self-signed one), or any certificate
//! (`--insecure`, as Telegram accepts a self-signed one uploaded with setWebhook) with the
//! handshake's signatures still checked.

use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::h1::{Stream, tcp_connect};
use crate::server::read_certificates;

/// A TLS connection. Boxed: a TLS session is kilobytes, and a pooled connection moves in and
/// out of its pool as a pointer (once per connection, not per request).
pub type TlsStream = Box<tokio_rustls::client::TlsStream<TcpStream>>;

/// Whose certificates an https:// target may present.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// Those the system trusts (its CA store, read at start).
    #[default]
    System,
    /// Only these, as issuers or as the bot's own certificate (`--ca-cert`).
    Roots(Arc<Pinned>),
    /// Any certificate, whoever issued it and whatever name it holds (`--insecure`); the
    /// handshake's signatures are still checked, so the peer holds the certificate's key.
    Any,
}

impl Trust {
    /// The certificates of a PEM file (one or more `CERTIFICATE` blocks) as the only trust.
    pub fn from_pem_file(path: &Path) -> Result<Self, String> {
        let certs = read_certificates(path)?;
        let mut roots = RootCertStore::empty();
        for cert in &certs {
            roots.add(cert.clone()).map_err(|e| {
                format!(
                    "{}: a certificate in it cannot be a trust anchor: {e}",
                    path.display()
                )
            })?;
        }
        Ok(Trust::Roots(Arc::new(Pinned { roots, certs })))
    }
}

/// `--ca-cert`'s certificates: the roots a bot's chain may lead to, and certificates a bot may
/// show as its own. The second is for a self-signed certificate made as a CA's (as
/// `openssl req -x509` makes it, following Telegram's guide), which a chain check refuses as a
/// server's; its name is still checked.
#[derive(Debug)]
pub struct Pinned {
    roots: RootCertStore,
    certs: Vec<CertificateDer<'static>>,
}

/// How the connections to one https:// target are made: its rustls configuration and the
/// name its certificate must hold (also sent as SNI, unless it is an IP address).
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// For the host of an https:// URL (a name or an IP address, without brackets).
    pub fn new(host: &str, trust: &Trust) -> Result<Self, String> {
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("{host} is not a name a certificate can hold"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let mut config = match trust {
            Trust::System => builder.with_root_certificates(system_roots()?),
            Trust::Roots(pinned) => {
                let verifier = PinnedOrIssued::new(pinned.clone(), provider.clone())?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            Trust::Any => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate::new(&provider))),
        }
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// A TCP connection to `addr` and the TLS handshake on it; what failed, with the address,
    /// in words a person can act on.
    pub async fn connect(&self, addr: SocketAddr) -> Result<TlsStream, String> {
        let tcp = tcp_connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
        Ok(Box::new(tls))
    }
}

/// The system's trusted roots; an error when there are none to trust.
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(String::new, |e| format!(" ({e})"));
        return Err(format!(
            "no trusted root certificates found on this system{why}: give --ca-cert FILE, or \
             --insecure"
        ));
    }
    Ok(roots)
}

impl Stream for TlsStream {
    fn closed_while_idle(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.get_ref().0.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            // Readable: read through TLS, as the socket's bytes may be a record that carries
            // nothing (a session ticket). The end of the stream, a close_notify, bytes out of
            // turn or an error all end the connection; only "nothing yet" keeps it.
            Poll::Ready(Ok(())) => {
                let mut byte = [0u8; 1];
                let mut buf = ReadBuf::new(&mut byte);
                let stream: &mut tokio_rustls::client::TlsStream<TcpStream> = self;
                !Pin::new(stream).poll_read(&mut cx, &mut buf).is_pending()
            }
        }
    }
}

/// `--ca-cert`: rustls' own verifier with the file's certificates as roots, and a bot's
/// certificate found in the file as is accepted for the names it holds.
#[derive(Debug)]
struct PinnedOrIssued {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Arc<Pinned>,
}

impl PinnedOrIssued {
    fn new(pinned: Arc<Pinned>, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(pinned.roots.clone()), provider)
                .build()
                .map_err(|e| format!("--ca-cert: {e}"))?;
        Ok(Self { webpki, pinned })
    }
}

impl ServerCertVerifier for PinnedOrIssued {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.certs.iter().any(|c| c == end_entity) {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_name(&cert, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: the chain and the name are not checked, the handshake's signatures are (with
/// the same algorithms rustls' own verifier uses), so the peer proves it holds the key of the
/// certificate it shows.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyCertificate {
    fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::sign::{CertifiedKey, SingleCertAndKey};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::transport::h1::Conn;

    const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    /// A TLS server on one connection that shows `cert` and signs with `key` (which need not
    /// be the certificate's): it answers `answers` requests of [`REQUEST`]'s size, then closes
    /// with a close_notify.
    async fn server(cert: &rcgen::Certificate, key: &rcgen::KeyPair, answers: usize) -> SocketAddr {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivatePkcs8KeyDer::from(key.serialize_der()).into();
        let signer = provider.key_provider.load_private_key(key).unwrap();
        let certified = CertifiedKey::new(vec![cert.der().clone()], signer);
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            for _ in 0..answers {
                let mut request = vec![0u8; REQUEST.len()];
                if tls.read_exact(&mut request).await.is_err() {
                    return; // The client refused the handshake.
                }
                tls.write_all(ANSWER).await.unwrap();
                tls.flush().await.unwrap();
            }
            tls.shutdown().await.unwrap();
            // Held open until the client goes: only the close_notify says it is over.
            let _ = tls.read(&mut [0u8; 1]).await;
        });
        addr
    }

    #[tokio::test]
    async fn a_kept_alive_tls_connection_is_reused_until_the_server_closes_it() {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let addr = server(&made.cert, &made.signing_key, 2).await;
        let client = TlsClient::new("127.0.0.1", &Trust::Any).unwrap();
        let mut conn = Conn::new(client.connect(addr).await.unwrap());
        conn.request = REQUEST.to_vec();
        for _ in 0..2 {
            assert!(!conn.closed_while_idle(), "the server keeps it open");
            let (response, reusable) = conn.exchange().await.unwrap();
            assert_eq!((response.status, &response.body[..]), (200, &b"ok"[..]));
            assert!(reusable);
        }
        // The close_notify arrives on a later turn of the runtime.
        let noticed = async {
            while !conn.closed_while_idle() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), noticed)
            .await
            .expect("the close is noticed");
    }

    /// A self-signed certificate for `names` made as a CA's, as `openssl req -x509` makes one.
    fn self_signed_ca(names: &[&str]) -> (rcgen::Certificate, rcgen::KeyPair) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        (params.self_signed(&key).unwrap(), key)
    }

    #[tokio::test]
    async fn a_ca_file_holding_the_bots_own_certificate_trusts_it_for_its_names() {
        let (cert, key) = self_signed_ca(&["127.0.0.1"]);
        let trust = Trust::from_pem_file(&file("own.pem", cert.pem().as_bytes())).unwrap();
        let client = TlsClient::new("127.0.0.1", &trust).unwrap();
        let addr = server(&cert, &key, 1).await;
        client.connect(addr).await.unwrap();

        // Its names are still checked, and another certificate is still refused.
        let (named, named_key) = self_signed_ca(&["bot.example"]);
        let trust = Trust::from_pem_file(&file("named.pem", named.pem().as_bytes())).unwrap();
        let client = TlsClient::new("127.0.0.1", &trust).unwrap();
        let e = client
            .connect(server(&named, &named_key, 1).await)
            .await
            .unwrap_err();
        assert!(e.contains("not valid for name"), "{e}");
        let e = client
            .connect(server(&cert, &key, 1).await)
            .await
            .unwrap_err();
        assert!(e.contains("invalid peer certificate"), "{e}");
    }

    #[tokio::test]
    async fn insecure_still_checks_that_the_server_holds_its_certificates_key() {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        let addr = server(&made.cert, &other_key, 1).await;
        let client = TlsClient::new("127.0.0.1", &Trust::Any).unwrap();
        let e = client.connect(addr).await.unwrap_err();
        eprintln!("MSG {e}");
        assert!(
            e.starts_with(&format!("TLS handshake with {addr}: ")) && e.contains("BadSignature"),
            "{e}"
        );
    }

    fn file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("stress-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn error(path: &Path) -> String {
        Trust::from_pem_file(path).unwrap_err()
    }

    #[test]
    fn a_ca_file_of_one_or_more_certificates_is_the_only_trust() {
        let a = rcgen::generate_simple_self_signed(vec!["a.example".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.example".into()]).unwrap();
        let both = format!("{}\n{}", a.cert.pem(), b.cert.pem());
        match Trust::from_pem_file(&file("two.pem", both.as_bytes())).unwrap() {
            Trust::Roots(pinned) => assert_eq!((pinned.roots.len(), pinned.certs.len()), (2, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_ca_file_says_what_is_wrong_with_it() {
        let missing = std::env::temp_dir().join("stress-tls-no-such-file.pem");
        let e = error(&missing);
        assert!(
            e.contains("cannot read") && e.contains("no-such-file.pem"),
            "{e}"
        );

        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let e = error(&file("key.pem", key.as_bytes()));
        assert!(e.contains("key.pem holds no certificate"), "{e}");
        let e = error(&file("empty.pem", b""));
        assert!(e.contains("holds no certificate"), "{e}");

        let e = error(&file("cut.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n"));
        assert!(e.contains("cut.pem: a PEM block has no END line"), "{e}");
        let e = error(&file(
            "base64.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        ));
        assert!(e.contains("not valid base64"), "{e}");
        // Valid PEM around bytes that are no certificate.
        let e = error(&file(
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        ));
        assert!(e.contains("cannot be a trust anchor"), "{e}");
    }

    #[test]
    fn the_name_checked_is_the_urls_host_a_name_or_an_address() {
        for host in ["bot.example.com", "localhost", "127.0.0.1", "::1"] {
            TlsClient::new(host, &Trust::Any).unwrap();
        }
        let e = TlsClient::new("bad host", &Trust::Any).unwrap_err();
        assert!(e.contains("bad host"), "{e}");
    }
}
