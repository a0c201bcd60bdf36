//! Updates for a polling bot: queued on the stand-in until the bot fetches them with
//! `getUpdates` ([`UpdateQueue`](crate::botapi::polling::UpdateQueue)). A send's request is
//! over when the bot has the update; its latency runs from the update's creation to that moment,
//! the time a user's message waits in Telegram for a polling bot, and is all queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Posted, Response};
use crate::botapi::BotApi;
use crate::report::ErrorKind;

#[derive(Debug, Clone)]
pub struct PollTransport {
    api: Arc<BotApi>,
    timeout: Duration,
}

#[derive(serde::Deserialize)]
struct UpdateId {
    update_id: i64,
}

impl PollTransport {
    pub fn new(api: Arc<BotApi>, timeout: Duration) -> Self {
        Self { api, timeout }
    }

    pub async fn post(&self, body: Bytes) -> Posted {
        let started = Instant::now();
        // Waiting for a fetch that never came is queue too.
        let failed = |kind, detail: String| Posted {
            result: Err(kind),
            detail: Some(detail),
            started,
            latency: Duration::ZERO,
            queued: started.elapsed(),
            polled: None,
        };
        let update_id = match serde_json::from_slice::<UpdateId>(&body) {
            Ok(u) => u.update_id,
            Err(e) => {
                return failed(
                    ErrorKind::BadResponse,
                    format!("an update without an id: {e}"),
                );
            }
        };
        let queue = self.api.delivery().queue();
        let mut fetched = queue.push(update_id, body);
        let at = match tokio::time::timeout(self.timeout, &mut fetched).await {
            Ok(Ok(at)) => at,
            Ok(Err(_)) => {
                return failed(
                    ErrorKind::NotDelivered,
                    "dropped before the bot fetched it (drop_pending_updates)".into(),
                );
            }
            Err(_) if queue.withdraw(update_id) => {
                return failed(
                    ErrorKind::Timeout,
                    format!(
                        "the bot did not fetch the update with getUpdates within --timeout {}",
                        humantime::format_duration(self.timeout)
                    ),
                );
            }
            // Fetched just as the time ran out.
            Err(_) => match fetched.await {
                Ok(at) => at,
                Err(_) => return failed(ErrorKind::Timeout, "the update was lost".into()),
            },
        };
        Posted {
            result: Ok(Response {
                status: 200,
                content_type: None,
                body: Bytes::new(),
            }),
            detail: None,
            started: at,
            // Waiting for the bot to fetch it is the update's queue; nothing else is left.
            latency: Duration::ZERO,
            queued: at.saturating_duration_since(started),
            polled: Some(at),
        }
    }
}
