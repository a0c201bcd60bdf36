//! One kept-alive HTTP/1.1 connection to the webhook: a request goes out in one `write`, the
//! answer's head is parsed by httparse and its body framed as RFC 9112 section 6.3 says
//! (`Content-Length`, chunked, or until the peer closes). A kept-alive connection the peer
//! closed while it sat idle is noticed before it is used (`closed_while_idle`), from the
//! readiness the runtime already tracks; a request that was written and then lost is a
//! `Reset`, never sent twice. A connection runs on a [`Stream`]: a TCP socket, or TLS over one
//! (`tls.rs`); the code is generic, so plain HTTP pays nothing for TLS being possible.
//!
//! The webhook POSTs are the load generator's hot path, so they do not go through hyper's
//! client connection: hyper drives each connection from a task of its own and hands every
//! request and answer across channels, with a header map each way; here the user's own task
//! writes and reads the socket. `benches/load.sh instructions` measures the difference
//! (docs/design-notes.md).

use std::io::ErrorKind as IoKind;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use httparse::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::{MAX_RESPONSE_BYTES, Response};
use crate::report::ErrorKind;

/// Largest answer head (status line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers an answer head may have.
const MAX_HEADERS: usize = 64;
/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

/// How the answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// What an answer's head says, owned (the head's bytes are consumed once it is read).
#[derive(Debug)]
struct Head {
    status: u16,
    content_type: Option<String>,
    framing: Framing,
    keep_alive: bool,
}

/// What a connection runs on.
pub trait Stream: AsyncRead + AsyncWrite + Unpin {
    /// Whether the peer closed this idle stream (or sent something nobody asked for), as far
    /// as the runtime has seen: no system call unless the socket turned readable.
    fn closed_while_idle(&mut self) -> bool;

    /// The last read emptied the socket: the readiness the runtime still holds from it is
    /// stale, and may be dropped (no system call) so that `closed_while_idle` sees only what
    /// comes later. A stream that cannot tell keeps it, and looks for itself.
    fn forget_readable(&self) {}
}

impl Stream for TcpStream {
    fn closed_while_idle(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_read_ready(&mut cx) {
            Poll::Pending => false,
            Poll::Ready(Err(_)) => true,
            // Readable: the end of the stream, bytes out of turn, or an old readiness.
            Poll::Ready(Ok(())) => !matches!(
                self.try_read(&mut [0u8; 1]),
                Err(e) if e.kind() == IoKind::WouldBlock
            ),
        }
    }

    fn forget_readable(&self) {
        let _ = self.try_io(Interest::READABLE, || {
            Err::<(), _>(IoKind::WouldBlock.into())
        });
    }
}

/// A connection, the bytes read from it that are not yet consumed, and the next request.
#[derive(Debug)]
pub struct Conn<S> {
    stream: S,
    buf: BytesMut,
    /// The request [`Conn::exchange`] sends: head and body, complete.
    pub request: Vec<u8>,
    /// Whether the last read took less than it had room for: the socket was empty then.
    drained: bool,
}

/// A TCP connection to `addr`, set to send small writes at once (a request is one write).
pub async fn tcp_connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Conn<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self::new(tcp_connect(addr).await?))
    }
}

impl<S: Stream> Conn<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            request: Vec::new(),
            drained: false,
        }
    }

    /// Whether the peer closed this idle connection (or sent something nobody asked for).
    pub fn closed_while_idle(&mut self) -> bool {
        self.stream.closed_while_idle()
    }

    /// Sends [`Conn::request`] and reads the answer. `Ok((answer, reusable))`: whether the
    /// connection may carry another request. After an error it may not.
    pub async fn exchange(&mut self) -> Result<(Response, bool), ErrorKind> {
        self.stream
            .write_all(&self.request)
            .await
            .map_err(|_| ErrorKind::Reset)?;
        // TLS may hold the last record back until flushed; for TCP this is a no-op.
        self.stream.flush().await.map_err(|_| ErrorKind::Reset)?;
        let head = self.read_head().await?;
        let body = match head.framing {
            Framing::Length(n) => self.read_exact_body(n).await?,
            Framing::Chunked => self.read_chunked_body().await?,
            Framing::UntilClose => self.read_to_close().await?,
        };
        // Bytes past the answer were never asked for: the connection is out of step.
        let reusable =
            head.keep_alive && head.framing != Framing::UntilClose && self.buf.is_empty();
        if reusable && self.drained {
            // The last read returned data, so the runtime still counts the socket readable.
            // It also emptied the socket (it took less than it had room for), so forget that
            // (no system call): `closed_while_idle` then sees only what comes later. Otherwise
            // `closed_while_idle` looks for itself, with one read.
            self.stream.forget_readable();
        }
        let response = Response {
            status: head.status,
            content_type: head.content_type,
            body,
        };
        Ok((response, reusable))
    }

    /// Reads more from the socket; its end is an error (`Reset`): the answer is not complete.
    async fn fill(&mut self) -> Result<(), ErrorKind> {
        self.buf.reserve(READ_CHUNK);
        let room = self.buf.capacity() - self.buf.len();
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => Err(ErrorKind::Reset),
            Ok(n) => {
                self.drained = n < room;
                Ok(())
            }
        }
    }

    /// Reads the final answer's head, skipping interim (1xx) ones.
    async fn read_head(&mut self) -> Result<Head, ErrorKind> {
        loop {
            if !self.buf.is_empty() {
                // Left uninitialised: zeroing every header slot costs more than parsing the head.
                let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut []);
                let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                    &mut response,
                    &self.buf,
                    &mut headers,
                );
                match parsed {
                    Ok(Status::Complete(len)) => {
                        let head = head_of(&response)?;
                        self.buf.advance(len);
                        match head.status {
                            101 => return Err(ErrorKind::BadResponse),
                            100..=199 => continue,
                            _ => return Ok(head),
                        }
                    }
                    Ok(Status::Partial) if self.buf.len() < MAX_HEAD_BYTES => {}
                    Ok(Status::Partial) | Err(_) => return Err(ErrorKind::BadResponse),
                }
            }
            self.fill().await?;
        }
    }

    async fn read_exact_body(&mut self, len: usize) -> Result<Bytes, ErrorKind> {
        if len > MAX_RESPONSE_BYTES {
            return Err(ErrorKind::BadResponse);
        }
        while self.buf.len() < len {
            self.fill().await?;
        }
        Ok(self.buf.split_to(len).freeze())
    }

    async fn read_chunked_body(&mut self) -> Result<Bytes, ErrorKind> {
        let mut body = BytesMut::new();
        loop {
            let (size_line, size) = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(Status::Complete(parsed)) => break parsed,
                    Ok(Status::Partial) if self.buf.len() < MAX_HEAD_BYTES => self.fill().await?,
                    Ok(Status::Partial) | Err(_) => return Err(ErrorKind::BadResponse),
                }
            };
            if size == 0 {
                self.buf.advance(size_line);
                break;
            }
            // httparse allows sizes up to u64::MAX: checked before any arithmetic on them.
            let size = usize::try_from(size)
                .ok()
                .filter(|&s| s <= MAX_RESPONSE_BYTES - body.len())
                .ok_or(ErrorKind::BadResponse)?;
            let end = size_line + size;
            while self.buf.len() < end + 2 {
                self.fill().await?;
            }
            if &self.buf[end..end + 2] != b"\r\n" {
                return Err(ErrorKind::BadResponse);
            }
            body.extend_from_slice(&self.buf[size_line..end]);
            self.buf.advance(end + 2);
        }
        // Trailer fields, if any, up to the empty line.
        loop {
            let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(&self.buf, &mut trailers) {
                Ok(Status::Complete((len, _))) => {
                    self.buf.advance(len);
                    return Ok(body.freeze());
                }
                Ok(Status::Partial) if self.buf.len() < MAX_HEAD_BYTES => self.fill().await?,
                Ok(Status::Partial) | Err(_) => return Err(ErrorKind::BadResponse),
            }
        }
    }

    async fn read_to_close(&mut self) -> Result<Bytes, ErrorKind> {
        loop {
            if self.buf.len() > MAX_RESPONSE_BYTES {
                return Err(ErrorKind::BadResponse);
            }
            self.buf.reserve(READ_CHUNK);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(self.buf.split().freeze()),
                Ok(_) => {}
                Err(_) => return Err(ErrorKind::Reset),
            }
        }
    }
}

/// The parts of a parsed head the exchange needs (RFC 9112 sections 6.1, 6.3 and 9.3).
fn head_of(response: &httparse::Response) -> Result<Head, ErrorKind> {
    let status = response.code.ok_or(ErrorKind::BadResponse)?;
    let mut content_type = None;
    let mut length: Option<usize> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    let (mut close, mut keep_alive) = (false, false);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let digits = h.value.trim_ascii();
            let n = (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
                .flatten()
                .ok_or(ErrorKind::BadResponse)?;
            if length.is_some_and(|l| l != n) {
                return Err(ErrorKind::BadResponse);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = std::str::from_utf8(h.value).ok().map(str::to_string);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let framing = match (transfer_encoding, length) {
        // These never have a body, whatever the head says.
        _ if matches!(status, 204 | 304) => Framing::Length(0),
        // A transfer coding overrides a length; the body is chunked only if that is the last.
        (Some(codings), _) => {
            let last = codings
                .rsplit(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .find(|c| !c.is_empty())
                .unwrap_or_default();
            if last.eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            }
        }
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilClose,
    };
    // HTTP/1.1 keeps a connection open unless told otherwise; HTTP/1.0 only when asked to. A
    // transfer coding in HTTP/1.0, or beside a length, is framing not to be trusted again.
    let suspect = transfer_encoding.is_some() && (length.is_some() || response.version != Some(1));
    let keep_alive = !close && !suspect && (response.version == Some(1) || keep_alive);
    Ok(Head {
        status,
        content_type,
        framing,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const REQUEST: &[u8] = b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";

    /// Reads one whole request (head and `Content-Length` body) from `stream`.
    async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(Status::Complete(head)) = request.parse(buf) {
                let len: usize = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |h| {
                        std::str::from_utf8(h.value).unwrap().parse().unwrap()
                    });
                if buf.len() >= head + len {
                    buf.drain(..head + len);
                    return true;
                }
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// A server on one connection: for each request, the answer's pieces, each written on its
    /// own; then the connection is closed.
    async fn server(answers: Vec<Vec<&'static [u8]>>) -> SocketAddr {
        serve(answers, true).await
    }

    /// The same, keeping the connection open after the last answer until the client closes it.
    async fn server_open(answers: Vec<Vec<&'static [u8]>>) -> SocketAddr {
        serve(answers, false).await
    }

    async fn serve(answers: Vec<Vec<&'static [u8]>>, close: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            for pieces in answers {
                if !read_request(&mut stream, &mut buf).await {
                    return;
                }
                for piece in pieces {
                    stream.write_all(piece).await.unwrap();
                    stream.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            if !close {
                read_request(&mut stream, &mut buf).await;
            }
        });
        addr
    }

    async fn conn(addr: SocketAddr) -> Conn<TcpStream> {
        let mut conn = Conn::connect(addr).await.unwrap();
        conn.request = REQUEST.to_vec();
        conn
    }

    /// Splits `bytes` into one piece per byte: every read sees a part of the answer.
    fn bytewise(bytes: &'static [u8]) -> Vec<&'static [u8]> {
        (0..bytes.len()).map(|i| &bytes[i..=i]).collect()
    }

    #[tokio::test]
    async fn a_kept_alive_connection_carries_answers_framed_by_length() {
        let answer: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
        let addr = server_open(vec![vec![answer], bytewise(answer)]).await;
        let mut conn = conn(addr).await;
        for _ in 0..2 {
            let (response, reusable) = conn.exchange().await.unwrap();
            assert_eq!(response.status, 200);
            assert_eq!(response.content_type.as_deref(), Some("application/json"));
            assert_eq!(&response.body[..], b"{\"a\":1}");
            assert!(reusable);
            assert!(!conn.closed_while_idle(), "the server keeps it open");
        }
    }

    #[tokio::test]
    async fn chunked_answers_with_extensions_and_trailers_are_decoded() {
        let answer: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n";
        let plain: &[u8] =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let addr = server(vec![bytewise(answer), vec![plain]]).await;
        let mut conn = conn(addr).await;
        let (response, reusable) = conn.exchange().await.unwrap();
        assert_eq!(&response.body[..], b"hello world");
        assert!(reusable);
        let (response, _) = conn.exchange().await.unwrap();
        assert_eq!(&response.body[..], b"abc");
    }

    #[tokio::test]
    async fn interim_answers_are_skipped_and_bodiless_statuses_have_no_body() {
        let addr = server(vec![
            vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
            vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
        ])
        .await;
        let mut conn = conn(addr).await;
        let (response, _) = conn.exchange().await.unwrap();
        assert_eq!((response.status, &response.body[..]), (200, &b"ok"[..]));
        let (response, reusable) = conn.exchange().await.unwrap();
        assert_eq!(
            (response.status, response.body.len(), reusable),
            (204, 0, true)
        );
    }

    #[tokio::test]
    async fn answers_that_end_the_connection_are_read_and_it_is_not_reused() {
        let cases: [&[u8]; 5] = [
            // No length: the body runs to the end of the stream.
            b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
            // A length and a transfer coding: the coding frames it, but not trusted again.
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked,\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            // HTTP/1.0 keeps a connection only when asked to.
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ];
        for answer in cases {
            let addr = server(vec![vec![answer]]).await;
            let (response, reusable) = conn(addr).await.exchange().await.unwrap();
            assert_eq!(response.status, 200);
            assert!(!reusable, "{}", String::from_utf8_lossy(answer));
            if answer.windows(7).any(|w| w == b"chunked") {
                assert_eq!(&response.body[..], b"ok", "decoded as chunked");
            }
        }
        let addr = server(vec![vec![
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        ]])
        .await;
        assert!(conn(addr).await.exchange().await.unwrap().1);
    }

    #[tokio::test]
    async fn broken_answers_are_bad_responses_and_cut_ones_resets() {
        let cases: [(&[u8], ErrorKind); 8] = [
            (b"HTTP/1.1 abc OK\r\n\r\n", ErrorKind::BadResponse),
            (b"SMTP ready\r\n\r\n", ErrorKind::BadResponse),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
                ErrorKind::BadResponse,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
                ErrorKind::BadResponse,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ErrorKind::BadResponse,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nFFFFFFFFFFFFFFFE\r\n",
                ErrorKind::BadResponse,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
                ErrorKind::BadResponse,
            ),
            // The server closes part way through the body.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                ErrorKind::Reset,
            ),
        ];
        for (answer, kind) in cases {
            let addr = server(vec![vec![answer]]).await;
            let failed = conn(addr).await.exchange().await.unwrap_err();
            assert_eq!(failed, kind, "{}", String::from_utf8_lossy(answer));
        }
        // The server reads the request and closes without answering.
        let addr = server(vec![vec![]]).await;
        assert_eq!(
            conn(addr).await.exchange().await.unwrap_err(),
            ErrorKind::Reset
        );
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_noticed_before_use() {
        let addr = server(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]])
        .await;
        let mut conn = conn(addr).await;
        assert!(conn.exchange().await.unwrap().1);
        // The server closes after its one answer; the runtime sees it on a later turn.
        let noticed = async {
            while !conn.closed_while_idle() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), noticed)
            .await
            .expect("the close is noticed");
    }
}
