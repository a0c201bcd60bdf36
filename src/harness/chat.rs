//! One test user talking to a bot over its webhook, one update at a time, with the bot's
//! replies caught by the Bot API stand-in. Used by `stress selfcheck` and the integration tests;
//! the load runtime has its own transport built for throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::botapi::{self, BotApi, ChatInbox, Collected, Settle};
use crate::telegram::BotEvent;
use crate::telegram::SECRET_HEADER;
use crate::telegram::build::MediaKind;
use crate::telegram::{
    IdRangeExhausted, Message, Sender, Tier, TierPools, Update, UpdateFactory, UpdateIds,
};

/// What one update got back.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    /// Time to the webhook's HTTP response.
    pub latency: Duration,
    /// Everything the bot did for this chat while answering (replies, chat actions, ...).
    pub events: Vec<BotEvent>,
    /// Time to the first reply a user would read.
    pub reply_after: Option<Duration>,
}

impl Exchange {
    /// The texts the bot sent or edited, in order.
    pub fn texts(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e.message.as_ref()?.text.as_deref())
            .collect()
    }

    /// The last message that carried inline buttons.
    pub fn keyboard_message(&self) -> Option<&Message> {
        self.events
            .iter()
            .rev()
            .filter_map(|e| e.message.as_deref())
            .find(|m| m.reply_markup.is_some())
    }
}

/// How long a test user's chat must be quiet after the bot's answer (as `--reply-settle`):
/// not at all, for the bots the tests talk to answer in full before they acknowledge.
const REPLY_SETTLE: Duration = Duration::ZERO;

/// A test user with its own private chat.
#[derive(Debug)]
pub struct ChatUser {
    factory: UpdateFactory,
    inbox: ChatInbox,
    rng: SmallRng,
    client: reqwest::Client,
    url: String,
    secret: Option<String>,
    api: Arc<BotApi>,
    reply_timeout: Duration,
}

impl ChatUser {
    /// User number `index` of `tier`'s pool, posting to `url` and listening on `api`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: Arc<BotApi>,
        ids: Arc<UpdateIds>,
        pools: &TierPools,
        tier: Tier,
        index: u64,
        url: String,
        secret: Option<String>,
        client: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let id = pools.id(tier, index)?;
        let mut rng = SmallRng::seed_from_u64(id as u64);
        let sender = Sender::generate(id, tier, &mut rng);
        let inbox = api.hub().subscribe(id);
        let factory = UpdateFactory::new(ids, inbox.message_ids(), sender);
        Ok(Self {
            factory,
            inbox,
            rng,
            client,
            url,
            secret,
            api,
            reply_timeout: Duration::from_secs(5),
        })
    }

    pub fn user_id(&self) -> i64 {
        self.factory.sender().user.id
    }

    pub fn command(&mut self, cmd: &str, args: &str) -> Result<Update, IdRangeExhausted> {
        self.factory.command(cmd, args)
    }

    pub fn text(&mut self, text: &str) -> Result<Update, IdRangeExhausted> {
        self.factory.text(text)
    }

    pub fn media(
        &mut self,
        kind: MediaKind,
        caption: Option<&str>,
    ) -> Result<Update, IdRangeExhausted> {
        self.factory.media(kind, caption, &mut self.rng)
    }

    pub fn callback(&mut self, on: &Message, data: &str) -> Result<Update, IdRangeExhausted> {
        self.factory.callback(on, data)
    }

    /// POSTs an update as Telegram does and collects what the bot did in answer. A method call
    /// in the response body is run through the stand-in like any other call.
    pub async fn send(&mut self, update: &Update) -> anyhow::Result<Exchange> {
        self.inbox.clear();
        let body = serde_json::to_vec(update)?;
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(secret) = &self.secret {
            request = request.header(SECRET_HEADER, secret);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .context("reading the webhook response")?;
        let latency = started.elapsed();
        // Like Telegram, only a successful answer's body can carry a method call.
        if (200..300).contains(&status) {
            let reply = botapi::webhook_reply(&self.api, content_type.as_deref(), body).await;
            if let Some(Err(e)) = reply {
                anyhow::bail!("the bot's webhook answer was a bad method call: {e}");
            }
        }
        // The bot may answer asynchronously: wait for its first reply.
        let deadline = (200..300)
            .contains(&status)
            .then(|| started + self.reply_timeout);
        let settle = deadline.map(|deadline| Settle {
            deadline,
            quiet: REPLY_SETTLE,
            callback: update.callback_query.is_some(),
        });
        let Collected { events, first, .. } = self.inbox.collect(started, settle).await;
        let reply_after = first.or_else(|| {
            let ack = events.iter().find(|e| e.method == "answerCallbackQuery")?;
            update.callback_query.as_ref()?;
            Some(ack.at.saturating_duration_since(started))
        });
        Ok(Exchange {
            status,
            latency,
            events,
            reply_after,
        })
    }
}
