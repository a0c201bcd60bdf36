//! The webhook client: HTTP/1.1 connections (`h1`), kept alive and pooled per worker thread (no
//! lock shared between threads), each worker's requests in flight bounded by its share of
//! `--max-connections`. Neither reqwest nor hyper's client: the per-request work of an HTTP
//! client (URL parsing, header maps, the pool's locks, a connection task and its channels) is
//! the largest cost a load generator controls (docs/design-notes.md has the measurements). The
//! request's head is written once per target; only the secret and the length change. An
//! https:// target has a pool of TLS connections instead (`tls.rs`); the choice is made once
//! per request, and each pool's code is compiled for its own kind of stream.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Uri;
use hyper::header::HeaderValue;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

use super::h1::{Conn, Stream};
use super::tls::{TlsClient, TlsStream, Trust};
use super::{Posted, Response};

/// A failure, and what the OS or the clock said about it when more is known than the kind.
type Failed = (ErrorKind, Option<String>);
use crate::botapi::WebhookRegistration;
use crate::report::ErrorKind;

/// The secret header as Telegram spells it, up to its value.
const SECRET_HEADER_LINE: &[u8] = b"X-Telegram-Bot-Api-Secret-Token: ";

/// A webhook address, resolved once.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub addr: SocketAddr,
    /// The `Host` header.
    pub authority: HeaderValue,
    /// Path and query.
    pub path: Uri,
    /// For an https:// URL: how its connections are made.
    pub tls: Option<TlsClient>,
}

impl HttpTarget {
    /// Parses an `http://` or `https://` URL and resolves its host; an https:// one trusts
    /// the system's roots.
    pub async fn resolve(url: &str) -> Result<Self, String> {
        Self::resolve_with(url, &Trust::System).await
    }

    /// [`HttpTarget::resolve`], an https:// URL trusting `trust` (an http:// one ignores it).
    pub async fn resolve_with(url: &str, trust: &Trust) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("`{url}` must start with http:// or https://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?
            .clone();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        // An IPv6 literal keeps its brackets in `Host`, not in the lookup.
        let host = authority.host();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("`{url}`: cannot resolve {bare}: {e}"))?
            .next()
            .ok_or_else(|| format!("`{url}`: {bare} has no address"))?;
        let path = match uri.path_and_query().map_or("/", |p| p.as_str()) {
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_string(),
        };
        let path = path.parse().map_err(|e| format!("`{url}`: {e}"))?;
        // The `Host` header is the host and port as given, never a `user:password@`.
        let host_header = match authority.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let tls = https
            .then(|| TlsClient::new(bare, trust))
            .transpose()
            .map_err(|e| format!("`{url}`: {e}"))?;
        Ok(Self {
            addr,
            authority: HeaderValue::from_str(&host_header).map_err(|e| format!("`{url}`: {e}"))?,
            path,
            tls,
        })
    }
}

/// Where the secret header's value comes from.
#[derive(Debug, Clone)]
pub enum Secret {
    None,
    /// `--secret-token`.
    Fixed(String),
    /// Whatever the bot registered with setWebhook on the stand-in (none until it does).
    Captured(watch::Receiver<Option<WebhookRegistration>>),
}

#[derive(Debug)]
struct SecretCache {
    source: Secret,
    value: Option<HeaderValue>,
}

impl SecretCache {
    fn new(source: Secret) -> Self {
        let mut cache = Self {
            value: None,
            source,
        };
        cache.refresh(true);
        cache
    }

    fn header(&mut self) -> Option<HeaderValue> {
        self.refresh(false);
        self.value.clone()
    }

    /// Re-reads a captured secret only when the bot registered again (an atomic check).
    fn refresh(&mut self, force: bool) {
        let value = match &mut self.source {
            Secret::None => return,
            Secret::Fixed(s) if force => Some(s.clone()),
            Secret::Fixed(_) => return,
            Secret::Captured(rx) => {
                if !force && !rx.has_changed().unwrap_or(false) {
                    return;
                }
                rx.borrow_and_update()
                    .as_ref()
                    .and_then(|r| r.secret_token.clone())
            }
        };
        self.value = value.and_then(|s| HeaderValue::from_str(&s).ok());
    }
}

/// A worker's kept-alive connections of one kind, each waiting for its next request.
#[derive(Debug)]
struct Idle<S>(RefCell<Vec<Conn<S>>>);

impl<S: Stream> Idle<S> {
    /// An idle connection the peer has not closed.
    fn take(&self) -> Option<Conn<S>> {
        loop {
            let mut conn = self.0.borrow_mut().pop()?;
            if !conn.closed_while_idle() {
                return Some(conn);
            }
        }
    }

    fn put(&self, conn: Conn<S>) {
        self.0.borrow_mut().push(conn);
    }
}

/// The pool for the target's scheme.
#[derive(Debug)]
enum Pool {
    Plain(Idle<TcpStream>),
    Tls(Idle<TlsStream>, TlsClient),
}

/// One worker thread's connections to the webhook.
#[derive(Debug)]
pub struct HttpTransport {
    target: Arc<HttpTarget>,
    /// `POST {path} HTTP/1.1`, `Host` and `Content-Type`, with their line ends.
    head: Vec<u8>,
    pool: Pool,
    permits: Arc<Semaphore>,
    timeout: Duration,
    secret: RefCell<SecretCache>,
}

impl HttpTransport {
    /// `permits` is this worker's share of `--max-connections`.
    pub fn new(
        target: Arc<HttpTarget>,
        permits: Arc<Semaphore>,
        timeout: Duration,
        secret: Secret,
    ) -> Self {
        let mut head = Vec::new();
        head.extend_from_slice(b"POST ");
        let path = target.path.path_and_query().map_or("/", |p| p.as_str());
        head.extend_from_slice(path.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        head.extend_from_slice(target.authority.as_bytes());
        head.extend_from_slice(b"\r\nContent-Type: application/json\r\n");
        let pool = match &target.tls {
            None => Pool::Plain(Idle(RefCell::default())),
            Some(tls) => Pool::Tls(Idle(RefCell::default()), tls.clone()),
        };
        Self {
            target,
            head,
            pool,
            permits,
            timeout,
            secret: RefCell::new(SecretCache::new(secret)),
        }
    }

    /// Writes the whole request for `body` into `out`.
    fn write_request(&self, body: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.head);
        if let Some(secret) = self.secret.borrow_mut().header() {
            out.extend_from_slice(SECRET_HEADER_LINE);
            out.extend_from_slice(secret.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
    }

    /// Sends `body` on an idle connection the peer has not closed, or on a new one. A TLS
    /// handshake that fails is a failure to connect, with rustls' reason.
    async fn exchange(&self, body: &[u8]) -> Result<Response, Failed> {
        let addr = self.target.addr;
        match &self.pool {
            Pool::Plain(idle) => {
                let conn = match idle.take() {
                    Some(conn) => conn,
                    None => Conn::connect(addr).await.map_err(|e| {
                        (ErrorKind::Connect, Some(format!("connect to {addr}: {e}")))
                    })?,
                };
                self.exchange_on(idle, conn, body).await
            }
            Pool::Tls(idle, tls) => {
                let conn = match idle.take() {
                    Some(conn) => conn,
                    // Boxed: the handshake's state is kilobytes, and would otherwise make
                    // every request's future (plain ones too) that much larger.
                    None => Box::pin(tls.connect(addr))
                        .await
                        .map(Conn::new)
                        .map_err(|e| (ErrorKind::Connect, Some(e)))?,
                };
                self.exchange_on(idle, conn, body).await
            }
        }
    }

    async fn exchange_on<S: Stream>(
        &self,
        idle: &Idle<S>,
        mut conn: Conn<S>,
        body: &[u8],
    ) -> Result<Response, Failed> {
        self.write_request(body, &mut conn.request);
        let (response, reusable) = conn.exchange().await.map_err(|kind| (kind, None))?;
        if reusable {
            idle.put(conn);
        }
        Ok(response)
    }

    /// POSTs one update. Waiting for a free connection slot is not part of the latency, as
    /// Telegram's own queue wait is not part of the bot's.
    pub async fn post(&self, body: Bytes) -> Posted {
        // try_acquire first: a free permit is taken with one CAS, without the Acquire future's
        // bookkeeping. A free permit in the count means nobody is queued (released permits go
        // to waiters first), so this never jumps the queue, and nothing was waited: the clock
        // is read for the wait only when there was one.
        let (_permit, queued_since) = match self.permits.try_acquire() {
            Ok(permit) => (permit, None),
            Err(_) => {
                let since = Instant::now();
                let permit = self
                    .permits
                    .acquire()
                    .await
                    .expect("the run never closes the semaphore");
                (permit, Some(since))
            }
        };
        let started = Instant::now();
        let queued = queued_since.map_or(Duration::ZERO, |q| started - q);
        let failed = |kind, detail| Posted {
            result: Err(kind),
            detail,
            started,
            latency: started.elapsed(),
            queued,
            polled: None,
        };
        match tokio::time::timeout(self.timeout, self.exchange(&body)).await {
            Ok(Ok(response)) => Posted {
                result: Ok(response),
                detail: None,
                started,
                latency: started.elapsed(),
                queued,
                polled: None,
            },
            Ok(Err((kind, detail))) => failed(kind, detail),
            Err(_) => failed(
                ErrorKind::Timeout,
                Some(format!(
                    "no complete answer from {} within --timeout {}",
                    self.target.addr,
                    humantime::format_duration(self.timeout)
                )),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(secret: Option<&str>) -> Option<WebhookRegistration> {
        Some(WebhookRegistration {
            url: "http://127.0.0.1:1/webhook".into(),
            secret_token: secret.map(str::to_string),
            max_connections: 40,
            allowed_updates: None,
            drop_pending_updates: false,
        })
    }

    #[test]
    fn a_captured_secret_follows_the_bots_latest_set_webhook() {
        let (tx, rx) = watch::channel(None);
        let mut cache = SecretCache::new(Secret::Captured(rx));
        assert_eq!(cache.header(), None, "no secret before the bot registers");
        tx.send_replace(registration(Some("first")));
        assert_eq!(cache.header().unwrap(), "first");
        tx.send_replace(registration(Some("second")));
        assert_eq!(cache.header().unwrap(), "second");
        tx.send_replace(registration(None));
        assert_eq!(cache.header(), None, "the bot dropped its secret");
        let mut fixed = SecretCache::new(Secret::Fixed("given".into()));
        assert_eq!(fixed.header().unwrap(), "given");
    }

    #[tokio::test]
    async fn the_request_is_telegrams_post_in_one_piece() {
        let target = HttpTarget::resolve("http://127.0.0.1:8080/webhook?x=1")
            .await
            .unwrap();
        let permits = Arc::new(Semaphore::new(1));
        let transport = HttpTransport::new(
            Arc::new(target),
            permits,
            Duration::from_secs(1),
            Secret::Fixed("s3cret".into()),
        );
        let mut out = Vec::new();
        transport.write_request(b"{\"update_id\":1}", &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /webhook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
             Content-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: s3cret\r\n\
             Content-Length: 15\r\n\r\n{\"update_id\":1}"
        );
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let head = request.parse(&out).unwrap().unwrap();
        assert_eq!(request.method, Some("POST"));
        assert_eq!(&out[head..], b"{\"update_id\":1}");
        // A second request reuses the buffer: nothing of the first is left.
        transport.write_request(b"{}", &mut out);
        assert!(out.ends_with(b"Content-Length: 2\r\n\r\n{}"));
    }

    #[tokio::test]
    async fn targets_resolve_http_and_https() {
        let t = HttpTarget::resolve("http://127.0.0.1:8080/webhook?x=1")
            .await
            .unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.path, "/webhook?x=1");
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert!(t.tls.is_none());
        let t = HttpTarget::resolve_with("https://127.0.0.1/webhook", &Trust::Any)
            .await
            .unwrap();
        assert_eq!(t.addr, "127.0.0.1:443".parse().unwrap(), "https's port");
        assert_eq!(t.authority, "127.0.0.1");
        assert!(t.tls.is_some());
        let e = HttpTarget::resolve("ftp://127.0.0.1/webhook")
            .await
            .unwrap_err();
        assert!(e.contains("http:// or https://"), "{e}");
        assert!(HttpTarget::resolve("127.0.0.1:80").await.is_err());
        let t = HttpTarget::resolve("http://user:pw@[::1]:8080?x=1")
            .await
            .unwrap();
        assert_eq!(t.addr, "[::1]:8080".parse().unwrap());
        assert_eq!(t.authority, "[::1]:8080", "no userinfo in Host");
        assert_eq!(t.path, "/?x=1");
    }
}
