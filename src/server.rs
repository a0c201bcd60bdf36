//! The HTTP/1.1 server loop under the Bot API stand-in, the demo bot and the control API, with
//! the timeouts `axum::serve` does not have: a client that sends a request head too slowly
//! (slowloris) is cut off after [`Timeouts::header`], and a kept-alive connection with nothing
//! on it is closed after [`Timeouts::idle`], so idle or slow clients cannot hold descriptors
//! for ever. A request being handled has no limit here: its handler decides. [`serve_tls`] is
//! the same over TLS (`tls.rs`), a handshake held to the header timeout.

mod tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

pub use tls::{ServerTls, read_certificates, read_key};

/// How long a connection may take, by what it is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From a request's first byte to its whole head.
    pub header: Duration,
    /// With no request on the connection and nothing sent or received.
    pub idle: Duration,
}

impl Default for Timeouts {
    /// 10 s for a head (a real client sends one in a packet); 60 s idle, longer than the
    /// keep-alive of the HTTP clients bots use (aiohttp 15 s, httpx 5 s, Node's 4-5 s), so a
    /// bot's pooled connection is never closed under it.
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// What a connection is doing, and since when (milliseconds from its start).
#[derive(Debug)]
struct Activity {
    opened: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
    /// Wakes the connection's watch when the phase changes, so a new deadline takes effect
    /// at once (a request head started on an idle connection has seconds, not a minute).
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            phase: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn set(&self, phase: u8) {
        self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        if self.phase.swap(phase, Ordering::Relaxed) != phase {
            self.changed.notify_one();
        }
    }

    /// Bytes came in: the first of a request starts its head's clock.
    fn read(&self) {
        match self.phase.load(Ordering::Relaxed) {
            IDLE => self.set(HEAD),
            BUSY => self.since_ms.store(self.now_ms(), Ordering::Relaxed),
            _ => {}
        }
    }

    /// Bytes went out: an answer being written is not idleness.
    fn wrote(&self) {
        if self.phase.load(Ordering::Relaxed) != HEAD {
            self.since_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection's time is up, if it can be.
    fn deadline(&self, timeouts: &Timeouts) -> Option<Instant> {
        let since = self.opened + Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
        match self.phase.load(Ordering::Relaxed) {
            IDLE => Some(since + timeouts.idle),
            HEAD => Some(since + timeouts.header),
            _ => None,
        }
    }
}

/// A socket (or TLS over one) that tells its connection's [`Activity`] about the bytes it moves.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response whose body fails at once: the connection is dropped without a complete answer,
/// as a crashing server's would be.
pub fn reset_response() -> axum::response::Response {
    use axum::body::{Body, Bytes};
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ))
    });
    axum::response::Response::builder()
        .status(axum::http::StatusCode::OK)
        .header(axum::http::header::CONTENT_LENGTH, "64")
        .body(Body::from_stream(failing))
        .expect("static response parts")
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests being handled finish, and returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    accept(listener, app, None, timeouts, shutdown).await
}

/// [`serve`] over TLS. A client that has not finished its handshake within the header timeout
/// is cut off, as a slow request head is.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: ServerTls,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    accept(listener, app, Some(tls), timeouts, shutdown).await
}

/// The accept loop of both: each connection is a task of its own (its handshake too, so a slow
/// one holds up nobody).
async fn accept(
    listener: TcpListener,
    app: Router,
    tls: Option<ServerTls>,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (closing_tx, closing) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, or a connection reset before it was accepted: the next
                // accept may work, so the server goes on.
                Err(e) => {
                    tracing::debug!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, closing) = (app.clone(), closing.clone());
        match &tls {
            None => {
                tokio::spawn(connection(stream, app, timeouts, closing));
            }
            Some(tls) => {
                let handshake = tls.acceptor.accept(stream);
                tokio::spawn(async move {
                    match tokio::time::timeout(timeouts.header, handshake).await {
                        Ok(Ok(stream)) => connection(stream, app, timeouts, closing).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake: {e}"),
                        Err(_) => tracing::debug!("TLS handshake: not done within the timeout"),
                    }
                });
            }
        }
    }
    drop((listener, closing));
    closing_tx.send_replace(true);
    // Every connection holds a receiver; all gone means all closed.
    closing_tx.closed().await;
    Ok(())
}

/// One connection, until the client closes it, a timeout ends it, or the server closes.
async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    app: Router,
    timeouts: Timeouts,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let handler = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let (app, activity) = (app.clone(), handler.clone());
        activity.set(BUSY);
        async move {
            let response = app.oneshot(request.map(axum::body::Body::new)).await;
            activity.set(IDLE);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut closing_seen = false;
    // Set once the connection was told to close: if it still has not by its next deadline (an
    // answer the client stopped reading), it is dropped.
    let mut told_to_close = false;
    loop {
        // A busy connection has no deadline; it is looked at again when its phase changes (the
        // handler's end, a new request's first byte), or within an idle period at the latest.
        let deadline = activity
            .deadline(&timeouts)
            .unwrap_or_else(|| Instant::now() + timeouts.idle);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = activity.changed.notified() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {
                let expired = activity.deadline(&timeouts).is_some_and(|d| d <= Instant::now());
                match activity.phase.load(Ordering::Relaxed) {
                    // A slow head: cut off, its request never started.
                    HEAD if expired => return,
                    IDLE if expired && told_to_close => return,
                    IDLE if expired => {
                        told_to_close = true;
                        conn.as_mut().graceful_shutdown();
                        // Give the close an idle period of its own.
                        activity.set(IDLE);
                    }
                    _ => {}
                }
            }
            changed = closing.changed(), if !closing_seen => {
                closing_seen = true;
                if changed.is_ok() {
                    told_to_close = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(timeouts: Timeouts) -> (std::net::SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, mut stop) = watch::channel(false);
        let app = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(serve(listener, app, timeouts, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
        (addr, stop_tx)
    }

    /// Reads until the server closes the connection; what it sent.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        // A guard against a hang, not a timing: the server's timeouts here are milliseconds.
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut out))
            .await
            .expect("the server closes the connection")
            .ok();
        String::from_utf8_lossy(&out).into_owned()
    }

    const SHORT: Timeouts = Timeouts {
        header: Duration::from_millis(200),
        idle: Duration::from_millis(300),
    };

    #[tokio::test]
    async fn a_slow_head_is_cut_off_by_the_header_timeout() {
        // An idle timeout the test would notice: the cut must come from the header's.
        let (addr, _stop) = start(Timeouts {
            header: Duration::from_millis(200),
            idle: Duration::from_secs(3600),
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        // Trickling more header lines does not buy time.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = slow.write_all(b"X-Slow: 1\r\n").await;
        }
        assert_eq!(
            until_closed(&mut slow).await,
            "",
            "no answer to an unfinished head"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_after_its_answer() {
        let (addr, _stop) = start(SHORT).await;
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }

    #[tokio::test]
    async fn slow_clients_do_not_keep_others_out() {
        let (addr, _stop) = start(Timeouts {
            header: Duration::from_secs(30),
            idle: Duration::from_secs(30),
        })
        .await;
        let mut slow = Vec::new();
        for _ in 0..200 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            slow.push(s);
        }
        let answer = reqwest::get(format!("http://{addr}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(answer, "ok");
    }

    #[tokio::test]
    async fn over_tls_a_request_is_answered_and_a_stalled_handshake_is_cut_off() {
        use rustls::pki_types::{PrivatePkcs8KeyDer, ServerName};
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
        let tls = ServerTls::new(vec![made.cert.der().clone()], key.into()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "ok" }));
        let timeouts = Timeouts {
            header: Duration::from_millis(200),
            idle: Duration::from_secs(3600),
        };
        let (_stop_tx, mut stop) = watch::channel(false);
        tokio::spawn(serve_tls(listener, app, tls, timeouts, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));

        let mut roots = rustls::RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut client = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, TcpStream::connect(addr).await.unwrap())
            .await
            .unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok"), "{answer}");

        // A client that connects and never says hello holds its descriptor no longer than a
        // slow head would.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert_eq!(until_closed(&mut silent).await, "");
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, mut stop) = watch::channel(false);
        let app = Router::new().route("/", get(|| async { "ok" }));
        let server = tokio::spawn(serve(listener, app, Timeouts::default(), async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        client.read_exact(&mut head).await.unwrap();
        stop_tx.send_replace(true);
        until_closed(&mut client).await;
        server.await.unwrap().unwrap();
    }
}
