//! How the bot asked for its updates, as Telegram learns it: a webhook (`setWebhook`) or long
//! polling (`getUpdates`), with the update types it allows; and the stand-in's life around the
//! run (the bot's calls after the users stopped are counted as late).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use super::ApiError;
use super::WebhookRegistration;
use super::params::Params;
use super::polling::UpdateQueue;
use crate::report::{BotApiReport, PollingReport};

/// The way the bot chose to receive updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum BotMode {
    Webhook(WebhookRegistration),
    Polling,
}

/// The update types the virtual users send, as `allowed_updates` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    Message,
    CallbackQuery,
}

impl UpdateType {
    pub fn name(self) -> &'static str {
        match self {
            UpdateType::Message => "message",
            UpdateType::CallbackQuery => "callback_query",
        }
    }

    fn bit(self) -> u8 {
        match self {
            UpdateType::Message => 1,
            UpdateType::CallbackQuery => 2,
        }
    }
}

const ALL_TYPES: u8 = 3;

/// The bot's choice of delivery and what the stand-in counts around it.
#[derive(Debug)]
pub struct Delivery {
    mode: watch::Sender<Option<BotMode>>,
    /// The first moment a bot made its choice.
    ready_at: std::sync::OnceLock<Instant>,
    queue: UpdateQueue,
    /// Bits of [`UpdateType`] the bot allows.
    allowed: AtomicU8,
    draining: AtomicBool,
    late_calls: AtomicU64,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            mode: watch::Sender::new(None),
            ready_at: std::sync::OnceLock::new(),
            queue: UpdateQueue::default(),
            allowed: AtomicU8::new(ALL_TYPES),
            draining: AtomicBool::new(false),
            late_calls: AtomicU64::new(0),
        }
    }
}

impl Delivery {
    /// The bot's choice, updated whenever it changes.
    pub fn mode(&self) -> watch::Receiver<Option<BotMode>> {
        self.mode.subscribe()
    }

    pub fn ready_at(&self) -> Option<Instant> {
        self.ready_at.get().copied()
    }

    pub fn queue(&self) -> &UpdateQueue {
        &self.queue
    }

    /// Whether the bot's `allowed_updates` lets Telegram deliver this type.
    pub fn allows(&self, kind: UpdateType) -> bool {
        self.allowed.load(Ordering::Relaxed) & kind.bit() != 0
    }

    /// Every call the bot makes passes here: after the users stopped, it is late.
    pub fn note_call(&self) {
        if self.draining.load(Ordering::Relaxed) {
            self.late_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The users stopped: later calls are late, and waiting polls end.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The drain is over: the polls waiting end, later ones wait a second at most, and calls
    /// are no longer counted as late.
    pub fn close(&self) {
        self.draining.store(false, Ordering::Relaxed);
        self.queue.close();
    }

    pub fn late_calls(&self) -> u64 {
        self.late_calls.load(Ordering::Relaxed)
    }

    /// `setWebhook` with a URL. Without `allowed_updates`, the previous setting holds, as
    /// Telegram keeps it.
    pub fn webhook_set(&self, registration: WebhookRegistration) {
        if registration.drop_pending_updates {
            self.queue.drop_pending();
        }
        if let Some(allowed) = registration.allowed_updates.as_deref() {
            self.set_allowed(Some(allowed));
        }
        self.choose(BotMode::Webhook(registration));
    }

    /// `deleteWebhook`, or `setWebhook` with an empty URL.
    pub fn webhook_deleted(&self, drop_pending_updates: bool) {
        if drop_pending_updates {
            self.queue.drop_pending();
        }
        // A polling bot deletes its webhook before it polls: that changes nothing.
        self.mode.send_if_modified(|m| {
            let webhook = matches!(m, Some(BotMode::Webhook(_)));
            if webhook {
                *m = None;
            }
            webhook
        });
    }

    /// `getUpdates`: 409 while a webhook is set, as Telegram answers.
    pub async fn get_updates(&self, p: &Params) -> Result<bytes::Bytes, ApiError> {
        if matches!(*self.mode.borrow(), Some(BotMode::Webhook(_))) {
            return Err(ApiError::new(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use \
                 deleteWebhook to delete the webhook first",
            ));
        }
        // `allowed_updates` given to getUpdates holds until given again.
        if p.get("allowed_updates").is_some() {
            let allowed: Option<Vec<String>> = p.object("allowed_updates")?;
            self.set_allowed(allowed.as_deref());
        }
        if self.mode.borrow().is_none() {
            self.choose(BotMode::Polling);
        }
        self.queue.get_updates(p).await
    }

    fn choose(&self, mode: BotMode) {
        let _ = self.ready_at.set(Instant::now());
        self.mode.send_replace(Some(mode));
    }

    /// An empty or absent list allows every type but a few the users never send.
    fn set_allowed(&self, allowed: Option<&[String]>) {
        let bits = match allowed {
            None | Some([]) => ALL_TYPES,
            Some(list) => [UpdateType::Message, UpdateType::CallbackQuery]
                .iter()
                .filter(|t| list.iter().any(|a| a == t.name()))
                .fold(0, |bits, t| bits | t.bit()),
        };
        self.allowed.store(bits, Ordering::Relaxed);
    }
}

/// What the stand-in saw of the bot, as a result's `botapi` section says it: `mode` is how the
/// bot gets its updates (`webhook`, `polling`, `target` or `demo`), `ready_after` the time from
/// the stand-in's start to the bot's choice.
pub fn report(api: &super::BotApi, mode: &str, ready_after: Option<Duration>) -> BotApiReport {
    let stats = api.stats();
    let delivery = api.delivery();
    let (webhook_url, max_connections) = match &*delivery.mode.borrow() {
        Some(BotMode::Webhook(r)) => (Some(r.url.clone()), Some(r.max_connections)),
        _ => (None, None),
    };
    let polls = delivery.queue.stats();
    BotApiReport {
        mode: mode.into(),
        ready_after_s: ready_after.map(|d| d.as_secs_f64()),
        webhook_url,
        max_connections,
        calls: stats
            .calls
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(m, n)| (m.to_string(), *n))
            .collect(),
        errors: stats.errors + stats.unauthorized + stats.unknown_methods,
        unauthorized: stats.unauthorized,
        unknown_methods: stats.unknown_methods,
        late_calls: delivery.late_calls(),
        unattributed: stats.hub.unclaimed,
        overflowed: stats.hub.overflowed,
        polling: (mode == "polling").then_some(PollingReport {
            polls: polls.polls,
            fetched: polls.fetched,
            refetched: polls.refetched,
            confirmed: polls.confirmed,
            expired: polls.expired,
        }),
        flood: stats.flood,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(allowed: Option<Vec<String>>) -> WebhookRegistration {
        WebhookRegistration {
            url: "http://127.0.0.1:1/hook".into(),
            secret_token: None,
            max_connections: 40,
            allowed_updates: allowed,
            drop_pending_updates: false,
        }
    }

    #[tokio::test]
    async fn a_webhook_blocks_polling_until_deleted() {
        let d = Delivery::default();
        d.webhook_set(registration(Some(vec!["callback_query".into()])));
        assert!(d.ready_at().is_some());
        assert!(!d.allows(UpdateType::Message) && d.allows(UpdateType::CallbackQuery));
        let err = d.get_updates(&Params::default()).await.unwrap_err();
        assert_eq!(err.code, 409);
        d.webhook_deleted(false);
        assert_eq!(*d.mode().borrow(), None);
        assert_eq!(
            d.get_updates(&Params::default()).await.unwrap().as_ref(),
            b"[]"
        );
        assert_eq!(*d.mode().borrow(), Some(BotMode::Polling));
    }

    #[tokio::test]
    async fn polling_keeps_its_allowed_updates_and_late_calls_are_counted() {
        let d = Delivery::default();
        let only_messages: Params = [(
            "allowed_updates".to_string(),
            serde_json::json!(["message"]),
        )]
        .into_iter()
        .collect();
        d.get_updates(&only_messages).await.unwrap();
        d.get_updates(&Params::default()).await.unwrap();
        assert!(d.allows(UpdateType::Message) && !d.allows(UpdateType::CallbackQuery));
        d.note_call();
        d.drain();
        d.note_call();
        assert_eq!(d.late_calls(), 1);
    }
}
