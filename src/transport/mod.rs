//! Delivering updates to the bot's webhook as Telegram does: POST with exactly
//! `Content-Type: application/json`, the secret header when one is known, at most
//! `--max-connections` requests in flight. A failure is data, classified by an [`ErrorKind`],
//! never a reason to stop.
//!
//! [`Transport::Http`] is the real one (HTTP/1.1 connections kept alive, one pool per worker
//! thread, over TLS for an https:// target); [`Transport::Memory`] hands the request to the
//! demo bot's router in-process, for `stress check --dry-run` and tests.

mod h1;
mod http;
mod memory;
mod polling;
mod tls;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::report::ErrorKind;

pub use http::{HttpTarget, HttpTransport, Secret};
pub use memory::MemoryTransport;
pub use polling::PollTransport;
pub use tls::{TlsClient, Trust};

/// The bot's answer to one POST.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// What one POST came to.
#[derive(Debug)]
pub struct Posted {
    /// An answer (whatever its status), or the failure that prevented one.
    pub result: Result<Response, ErrorKind>,
    /// For a failure without an answer: what the OS or the clock said (`connect to ADDR:
    /// Connection refused`), when more is known than the kind.
    pub detail: Option<String>,
    /// When the request started (after waiting `queued` for a connection slot).
    pub started: Instant,
    /// From the start of the request (connection included) to the end of the answer's body:
    /// the network and the bot (`service_ms`); zero for a polling bot.
    pub latency: Duration,
    /// Before `started`: waiting for one of `--max-connections` (Telegram's queue in front of
    /// a busy bot), or, for a polling bot, for the bot to fetch the update (`queue_ms`).
    pub queued: Duration,
    /// For a polling bot, when it fetched the update.
    pub polled: Option<Instant>,
}

impl Posted {
    /// An update Telegram would not have delivered (sent nowhere, counted as failed).
    pub fn not_delivered(why: String) -> Self {
        let now = Instant::now();
        Posted {
            result: Err(ErrorKind::NotDelivered),
            detail: Some(why),
            started: now,
            latency: Duration::ZERO,
            queued: Duration::ZERO,
            polled: None,
        }
    }

    /// When the bot had the update: the request's start, or the moment a polling bot fetched
    /// it. The bot's calls for the chat from then on answer this update.
    pub fn delivered(&self) -> Instant {
        self.polled.unwrap_or(self.started)
    }

    /// When the script called the send: the user pressed Send.
    pub fn sent(&self) -> Instant {
        self.started - self.queued
    }

    /// What the user waited for the request: the queue and the service.
    pub fn total(&self) -> Duration {
        self.queued + self.latency
    }

    /// Size of the answer's body.
    pub fn bytes(&self) -> u64 {
        self.result.as_ref().map_or(0, |r| r.body.len() as u64)
    }

    pub fn status(&self) -> u16 {
        self.result.as_ref().map_or(0, |r| r.status)
    }

    /// What went wrong, in words a person can act on: the status and the first bytes of the
    /// bot's answer, or the OS's error with the address. `None` for a success.
    pub fn failure_message(&self) -> Option<String> {
        match &self.result {
            Ok(r) if ErrorKind::from_status(r.status).is_none() => None,
            Ok(r) => {
                let text = String::from_utf8_lossy(&r.body[..r.body.len().min(MESSAGE_BYTES)]);
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                Some(if text.is_empty() {
                    format!("HTTP {} with an empty body", r.status)
                } else {
                    format!("HTTP {}: {text}", r.status)
                })
            }
            Err(kind) => Some(
                self.detail
                    .clone()
                    .unwrap_or_else(|| kind.describe().into()),
            ),
        }
    }

    /// The failure, counting a non-2xx answer as one.
    pub fn error(&self) -> Option<ErrorKind> {
        match &self.result {
            Ok(r) => ErrorKind::from_status(r.status),
            Err(kind) => Some(*kind),
        }
    }
}

/// Where a worker's updates go.
#[derive(Debug)]
pub enum Transport {
    Http(HttpTransport),
    Memory(MemoryTransport),
    Polling(PollTransport),
}

impl Transport {
    /// POSTs one update's JSON.
    pub async fn post(&self, body: Bytes) -> Posted {
        match self {
            Transport::Http(t) => t.post(body).await,
            Transport::Memory(t) => t.post(body).await,
            Transport::Polling(t) => t.post(body).await,
        }
    }
}

/// Bytes of a failed answer's body kept as its message.
const MESSAGE_BYTES: usize = 200;

/// Largest webhook answer read; Telegram's own limit on a method call in the body is far below.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;
