//! How the demo bot calls the Bot API, and what it does when a call is refused or fails.
//!
//! The well-behaved bot follows Telegram's rules: after a 429 it waits `retry_after` (capped at
//! [`RETRY_AFTER_CAP`]) and retries the same call, up to [`FLOOD_RETRIES`] times, and writes to
//! that chat no sooner, whichever update the next call answers; after a 403 it never writes to
//! the chat again; a 400 "chat not found" is counted and dropped; a 5xx or a failed connection
//! is retried after [`SERVER_BACKOFF`]. The naive bot (`--naive`) retries a 429 at once, up to
//! [`NAIVE_FLOOD_RETRIES`] times, keeps writing to chats that blocked it and never retries a 5xx.
//! Every wait is bounded, so every call ends.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::ApiEndpoint;
use super::chats::{Chats, Gate, Progress};
use super::handlers::Call;
use super::stats::Counters;

/// Longest `retry_after` the bot honours in one wait.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// A 429 without `retry_after` is taken to mean this.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Retries of one call after a 429, by the well-behaved bot.
pub const FLOOD_RETRIES: u32 = 3;
/// Immediate retries of one call after a 429, by the naive bot.
pub const NAIVE_FLOOD_RETRIES: u32 = 3;
/// The well-behaved bot's waits before retrying after a 5xx or a failed connection.
pub const SERVER_BACKOFF: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(200)];

/// What one attempt of a call came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    /// 429, with its `retry_after`.
    TooMany(Duration),
    /// 403: blocked by the user (or kicked, or the user is deactivated).
    Forbidden,
    /// 400 "chat not found".
    ChatNotFound,
    /// 5xx, or no answer at all.
    Failed,
    /// Any other refusal: retrying would not help.
    Refused,
}

/// The bot's side of the Bot API.
#[derive(Debug)]
pub struct ApiClient {
    endpoint: Option<ApiEndpoint>,
    naive: bool,
    client: reqwest::Client,
}

impl ApiClient {
    pub fn new(endpoint: Option<ApiEndpoint>, naive: bool) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()
            .expect("an HTTP client without TLS always builds");
        Self {
            endpoint,
            naive,
            client,
        }
    }

    /// Makes `call` with its retries; true when it was delivered. Counts the outcome.
    /// `unannounced` is the (queue, update_id) the call answers when the chats did not note that
    /// update as it arrived: a failure notes it in flight, as the bot starts remembering updates.
    pub async fn send(
        &self,
        call: &Call,
        chats: &Chats,
        counters: &Counters,
        unannounced: Option<(i64, i64)>,
    ) -> bool {
        let Some(api) = &self.endpoint else {
            return false;
        };
        if !self.may_write(call, chats, counters).await {
            return false;
        }
        let url = format!(
            "{}/bot{}/{}",
            api.base_url.trim_end_matches('/'),
            api.token,
            call.method
        );
        let (mut flood_retries, mut server_retries) = (0, 0);
        loop {
            let answer = self.attempt(&url, call).await;
            let chat = if answer == Answer::Ok {
                None
            } else {
                chats.trouble();
                if let Some((queue, update_id)) = unannounced {
                    chats.finish(queue, update_id, Progress::InFlight);
                }
                call.chat_id()
            };
            match answer {
                Answer::Ok => {
                    counters.reply(true);
                    return true;
                }
                Answer::TooMany(_) if self.naive && flood_retries < NAIVE_FLOOD_RETRIES => {
                    flood_retries += 1;
                    counters.rules.ignored_429();
                    continue;
                }
                Answer::TooMany(after) if !self.naive => {
                    // Held even when the call is given up: the next one waits as well.
                    let until = Instant::now() + after.min(RETRY_AFTER_CAP);
                    let until = chat.map_or(until, |chat| chats.hold(chat, until));
                    if flood_retries < FLOOD_RETRIES {
                        flood_retries += 1;
                        counters.rules.retry_after_429();
                        wait_until(until, counters).await;
                        continue;
                    }
                    counters.rules.given_up();
                }
                Answer::Failed if !self.naive && server_retries < SERVER_BACKOFF.len() => {
                    tokio::time::sleep(SERVER_BACKOFF[server_retries]).await;
                    server_retries += 1;
                    counters.rules.retry_5xx();
                    continue;
                }
                Answer::TooMany(_) | Answer::Failed => counters.rules.given_up(),
                Answer::Forbidden => {
                    if let Some(chat) = chat
                        && chats.block(chat)
                    {
                        counters.rules.blocked_chat();
                    }
                }
                Answer::ChatNotFound => counters.rules.chat_not_found(),
                Answer::Refused => {}
            }
            counters.reply(false);
            return false;
        }
    }

    /// The well-behaved bot waits out a chat's hold and skips a chat that blocked it; the naive
    /// bot writes at once. Only consulted once the Bot API has refused something.
    pub async fn may_write(&self, call: &Call, chats: &Chats, counters: &Counters) -> bool {
        if self.naive || !chats.troubled() {
            return true;
        }
        let Some(chat) = call.chat_id() else {
            return true;
        };
        match chats.gate(chat) {
            Gate::Open => true,
            Gate::Hold(until) => {
                wait_until(until, counters).await;
                true
            }
            Gate::Blocked => {
                counters.rules.skipped_blocked();
                false
            }
        }
    }

    async fn attempt(&self, url: &str, call: &Call) -> Answer {
        let response = match self.client.post(url).json(&call.params).send().await {
            Ok(r) => r,
            Err(_) => return Answer::Failed,
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Ok;
        }
        if status.is_server_error() {
            return Answer::Failed;
        }
        let header_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status.as_u16() {
            429 => {
                let secs = body["parameters"]["retry_after"].as_u64().or(header_after);
                Answer::TooMany(secs.map_or(DEFAULT_RETRY_AFTER, Duration::from_secs))
            }
            403 => Answer::Forbidden,
            400 if body["description"]
                .as_str()
                .is_some_and(|d| d.to_ascii_lowercase().contains("chat not found")) =>
            {
                Answer::ChatNotFound
            }
            _ => Answer::Refused,
        }
    }
}

async fn wait_until(until: Instant, counters: &Counters) {
    let started = Instant::now();
    tokio::time::sleep_until(until).await;
    counters.rules.waited(started.elapsed());
}
