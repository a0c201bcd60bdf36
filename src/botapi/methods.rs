//! The Bot API methods the stand-in answers by hand, and what each returns; every other method
//! of the description is answered from it (`surface`). Every call, whether it came over HTTP or
//! in a webhook response body, goes through [`BotApi::call`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::ApiError;
use super::delivery::Delivery;
use super::gate::{Admission, Gate, Rules};
use super::hub::ReplyHub;
use super::params::Params;
use super::spec::spec;
use super::surface::{Ctx, NOT_GENERATED, Surface};
use crate::telegram::build::unix_now;
use crate::telegram::ids::callback_query_sender;
use crate::telegram::media::{document, photo_sizes, voice};
use crate::telegram::{ApiMethod, BotEvent, EventKind, TierPools, Via, ignored_in_webhook_body};
use crate::telegram::{Chat, ChatType, InlineKeyboardMarkup, Message, MessageEntity, User, utf16};

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_TEXT_LEN: usize = 4096;
/// Telegram's limit on a caption.
pub const MAX_CAPTION_LEN: usize = 1024;

/// What the bot registered with setWebhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookRegistration {
    pub url: String,
    pub secret_token: Option<String>,
    pub max_connections: u32,
    pub allowed_updates: Option<Vec<String>>,
    pub drop_pending_updates: bool,
}

/// How the stand-in presents itself.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// When set, requests for any other token get 401.
    pub token: Option<String>,
    pub bot: User,
    /// The run's test users: getChatMember says they are members of any chat.
    pub pools: TierPools,
    /// Flood limits and injected faults.
    pub rules: Rules,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            token: None,
            bot: User {
                id: 6_999_999_001,
                is_bot: true,
                first_name: "Stress Demo Bot".into(),
                last_name: None,
                username: Some("stress_demo_bot".into()),
                language_code: None,
                can_join_groups: Some(false),
                can_read_all_group_messages: Some(false),
                supports_inline_queries: Some(false),
            },
            pools: TierPools::default(),
            rules: Rules::default(),
        }
    }
}

/// Per-method call counts and rejected calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiStats {
    /// Calls per method of the description, for the methods called at least once.
    pub calls: std::collections::BTreeMap<&'static str, u64>,
    pub errors: u64,
    pub unauthorized: u64,
    pub unknown_methods: u64,
    pub hub: super::hub::HubStats,
    /// The flood limits' and faults' counts, when either is on.
    pub flood: Option<crate::report::FloodReport>,
}

/// The Bot API stand-in's state: its identity, the registered webhook, and the reply hub.
#[derive(Debug)]
pub struct BotApi {
    config: ApiConfig,
    hub: ReplyHub,
    webhook: watch::Sender<Option<WebhookRegistration>>,
    delivery: Delivery,
    gate: Gate,
    surface: Surface,
    /// Calls of the hand-written methods, by `ApiMethod as usize`.
    calls: Vec<AtomicU64>,
    /// Calls of the other methods, by their index in the description.
    described_calls: Vec<AtomicU64>,
    errors: AtomicU64,
    unauthorized: AtomicU64,
    unknown: AtomicU64,
}

impl BotApi {
    pub fn new(config: ApiConfig, hub: ReplyHub) -> Self {
        Self {
            gate: Gate::new(config.rules.clone()),
            config,
            hub,
            webhook: watch::Sender::new(None),
            delivery: Delivery::default(),
            surface: Surface::default(),
            calls: ApiMethod::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            described_calls: spec().methods.iter().map(|_| AtomicU64::new(0)).collect(),
            errors: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        }
    }

    pub fn hub(&self) -> &ReplyHub {
        &self.hub
    }

    pub fn bot(&self) -> &User {
        &self.config.bot
    }

    /// The flood limits and faults the bot's calls meet.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// What the gate says to a call of `method`: only calls for a chat (messages, edits,
    /// actions, a callback's answer) meet flood limits and faults.
    pub fn admit(&self, method: &str, params: &Params) -> Admission {
        // With nothing to check (--flood-limits off, no faults), the call's chat is not looked for.
        if !self.gate.active() || EventKind::of(method).is_none() {
            return Admission::Pass;
        }
        let chat = if method.eq_ignore_ascii_case("answerCallbackQuery") {
            params
                .get("callback_query_id")
                .and_then(Value::as_str)
                .and_then(callback_query_sender)
        } else {
            params.chat_id().ok()
        };
        let Some(chat) = chat else {
            return Admission::Pass;
        };
        let admission = self.gate.admit(method, chat);
        if matches!(admission, Admission::Refuse(_)) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        admission
    }

    /// How the bot receives its updates (webhook or polling), and the update queue.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The webhook registration, updated on every setWebhook and deleteWebhook.
    pub fn webhook(&self) -> watch::Receiver<Option<WebhookRegistration>> {
        self.webhook.subscribe()
    }

    /// Checks the token of a `/bot<token>/...` request.
    pub fn authorize(&self, token: &str) -> Result<(), ApiError> {
        match &self.config.token {
            Some(expected) if expected != token => {
                self.unauthorized.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::new(401, "Unauthorized"))
            }
            _ => Ok(()),
        }
    }

    pub fn stats(&self) -> ApiStats {
        let hand = ApiMethod::ALL.iter().map(|m| m.name());
        let described = spec().methods.iter().map(|m| m.name.as_str());
        let counts = hand
            .zip(&self.calls)
            .chain(described.zip(&self.described_calls));
        ApiStats {
            calls: counts
                .map(|(name, c)| (name, c.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            errors: self.errors.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            unknown_methods: self.unknown.load(Ordering::Relaxed),
            hub: self.hub.stats(),
            flood: self.gate.active().then(|| self.gate.report()),
        }
    }

    /// Runs one method call. `via` says whether it came over HTTP or in a webhook response.
    /// The parameters are consumed: a message's text moves into the message, uncopied.
    pub fn call(&self, method: &str, mut params: Params, via: Via) -> Result<Value, ApiError> {
        self.delivery.note_call();
        // The hand-written handlers first: they answer the calls on every run's hot path.
        let Some(method) = ApiMethod::parse(method) else {
            return self.call_described(method, params, via);
        };
        if via == Via::WebhookBody && method.ignored_in_webhook_body() {
            return Ok(Value::Bool(true));
        }
        // ALL lists the variants in declaration order.
        self.calls[method as usize].fetch_add(1, Ordering::Relaxed);
        let result = self.dispatch(method, &mut params, via);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// A call of a method no handler is written for, answered from the description.
    fn call_described(&self, method: &str, mut p: Params, via: Via) -> Result<Value, ApiError> {
        let spec = spec();
        let index = spec
            .method_index(method)
            .filter(|&i| !NOT_GENERATED.contains(&spec.methods[i].name.as_str()));
        let Some(index) = index else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(404, "Not Found: method not found"));
        };
        let method = &spec.methods[index];
        if via == Via::WebhookBody && ignored_in_webhook_body(&method.name) {
            return Ok(Value::Bool(true));
        }
        self.described_calls[index].fetch_add(1, Ordering::Relaxed);
        let ctx = Ctx {
            hub: &self.hub,
            bot: &self.config.bot,
            pools: &self.config.pools,
        };
        let result = self.surface.answer(&ctx, method, &mut p, via);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn dispatch(&self, method: ApiMethod, p: &mut Params, via: Via) -> Result<Value, ApiError> {
        use ApiMethod::*;
        match method {
            GetMe => Ok(to_value(&self.config.bot)),
            SetWebhook => self.set_webhook(p),
            DeleteWebhook => {
                self.webhook.send_replace(None);
                self.delivery
                    .webhook_deleted(p.bool("drop_pending_updates"));
                Ok(Value::Bool(true))
            }
            GetWebhookInfo => Ok(self.webhook_info()),
            SendMessage => {
                let text = required_text(p, "text", MAX_TEXT_LEN, "message text is empty")?;
                let mut m = self.bot_message(p)?;
                m.entities = p.object::<Vec<MessageEntity>>("entities")?;
                m.text = Some(text);
                Ok(self.publish(method, m, via))
            }
            SendPhoto | SendVoice | SendDocument => self.send_media(method, p, via),
            SendChatAction => {
                let chat_id = p.chat_id()?;
                let action = p
                    .str("action")
                    .ok_or_else(|| ApiError::bad_request("action is empty"))?;
                self.hub
                    .deliver(event(chat_id, method.name(), None, Some(action), via));
                Ok(Value::Bool(true))
            }
            EditMessageText => self.edit_message_text(p, via),
            AnswerCallbackQuery => {
                let id = p.str("callback_query_id").unwrap_or_default();
                let chat_id = callback_query_sender(&id).ok_or_else(|| {
                    ApiError::bad_request(
                        "query is too old and response timeout expired or query ID is invalid",
                    )
                })?;
                self.hub
                    .deliver(event(chat_id, method.name(), None, p.str("text"), via));
                Ok(Value::Bool(true))
            }
            DeleteMessage => {
                let chat_id = p.chat_id()?;
                p.int("message_id")?
                    .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
                self.hub
                    .deliver(event(chat_id, method.name(), None, None, via));
                Ok(Value::Bool(true))
            }
        }
    }

    fn set_webhook(&self, p: &Params) -> Result<Value, ApiError> {
        let url = p.str("url").unwrap_or_default();
        if url.is_empty() {
            self.webhook.send_replace(None);
            self.delivery
                .webhook_deleted(p.bool("drop_pending_updates"));
            return Ok(Value::Bool(true));
        }
        let secret_token = p.str("secret_token").filter(|s| !s.is_empty());
        if let Some(secret) = &secret_token {
            let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            if secret.len() > 256 || !secret.bytes().all(allowed) {
                return Err(ApiError::bad_request(
                    "secret token contains unallowed characters",
                ));
            }
        }
        // Telegram's servers take 1..=100; a local Bot API server takes more, and so do we.
        let max_connections = match p.int("max_connections")? {
            None => 40,
            Some(n) if (1..=100_000).contains(&n) => n as u32,
            Some(_) => return Err(ApiError::bad_request("bad max_connections specified")),
        };
        let registration = WebhookRegistration {
            url,
            secret_token,
            max_connections,
            allowed_updates: p.object("allowed_updates")?,
            drop_pending_updates: p.bool("drop_pending_updates"),
        };
        self.webhook.send_replace(Some(registration.clone()));
        self.delivery.webhook_set(registration);
        Ok(Value::Bool(true))
    }

    fn webhook_info(&self) -> Value {
        let reg = self.webhook.borrow();
        let mut info = json!({
            "url": reg.as_ref().map(|r| r.url.as_str()).unwrap_or(""),
            "has_custom_certificate": false,
            "pending_update_count": 0,
        });
        if let Some(r) = reg.as_ref() {
            info["max_connections"] = json!(r.max_connections);
            if let Some(a) = &r.allowed_updates {
                info["allowed_updates"] = json!(a);
            }
        }
        info
    }

    /// A new message from the bot in the chat named by `chat_id`, with the echoed keyboard.
    fn bot_message(&self, p: &Params) -> Result<Message, ApiError> {
        let chat_id = p.chat_id()?;
        Ok(Message {
            reply_markup: inline_keyboard(p)?,
            ..Message::new(
                self.hub.next_message_id(chat_id),
                Some(self.config.bot.clone()),
                unix_now(),
                chat_for(chat_id),
            )
        })
    }

    fn send_media(&self, method: ApiMethod, p: &mut Params, via: Via) -> Result<Value, ApiError> {
        let field = match method {
            ApiMethod::SendPhoto => "photo",
            ApiMethod::SendVoice => "voice",
            _ => "document",
        };
        let file_name = p
            .get(field)
            .ok_or_else(|| ApiError::bad_request(format!("there is no {field} in the request")))?
            .get("file_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut m = self.bot_message(p)?;
        // Derived from the chat and message, so the same run gives the same file ids.
        let mut rng = SmallRng::seed_from_u64((m.chat.id as u64) ^ ((m.message_id as u64) << 40));
        match method {
            ApiMethod::SendPhoto => m.photo = Some(photo_sizes(&mut rng)),
            ApiMethod::SendVoice => m.voice = Some(voice(&mut rng)),
            _ => {
                let mut d = document(&mut rng);
                if file_name.is_some() {
                    d.file_name = file_name;
                }
                m.document = Some(d);
            }
        }
        m.caption = optional_text(p, "caption", MAX_CAPTION_LEN)?;
        Ok(self.publish(method, m, via))
    }

    fn edit_message_text(&self, p: &mut Params, via: Via) -> Result<Value, ApiError> {
        // The new text, or (since Bot API 10.1) a rich message instead.
        let text = optional_text(p, "text", MAX_TEXT_LEN)?;
        if text.is_none() && p.get("rich_message").is_none() {
            return Err(ApiError::bad_request("message text is empty"));
        }
        if p.get("inline_message_id").is_some() {
            return Ok(Value::Bool(true));
        }
        let chat_id = p.chat_id()?;
        let message_id = p
            .int("message_id")?
            .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
        let m = Message {
            edit_date: Some(unix_now()),
            text,
            entities: p.object("entities")?,
            reply_markup: inline_keyboard(p)?,
            ..Message::new(
                message_id,
                Some(self.config.bot.clone()),
                unix_now(),
                chat_for(chat_id),
            )
        };
        Ok(self.publish(ApiMethod::EditMessageText, m, via))
    }

    /// Delivers a bot message to its chat and returns it as the method's result.
    fn publish(&self, method: ApiMethod, message: Message, via: Via) -> Value {
        // A method call in a webhook answer gets no answer of its own (Telegram sends none):
        // building the result would be wasted work on the load generator's hot path.
        let result = match via {
            Via::Api => to_value(&message),
            Via::WebhookBody => Value::Bool(true),
        };
        self.hub.deliver(event(
            message.chat.id,
            method.name(),
            Some(message),
            None,
            via,
        ));
        result
    }
}

/// The event of a call of `method` (its canonical name) for a chat.
pub(super) fn event(
    chat_id: i64,
    method: &'static str,
    message: Option<Message>,
    note: Option<String>,
    via: Via,
) -> BotEvent {
    BotEvent {
        chat_id,
        method,
        kind: EventKind::of(method).unwrap_or(EventKind::Ack),
        message: message.map(Box::new),
        note,
        at: Instant::now(),
        via,
    }
}

pub(super) fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("Bot API types serialize")
}

/// A private chat for positive ids, a supergroup for negative ones, as Telegram numbers them.
pub(super) fn chat_for(chat_id: i64) -> Chat {
    let kind = if chat_id > 0 {
        ChatType::Private
    } else {
        ChatType::Supergroup
    };
    Chat {
        id: chat_id,
        kind,
        title: None,
        username: None,
        first_name: None,
        last_name: None,
    }
}

/// The inline keyboard of `reply_markup`, if that is what the bot sent (Telegram shows only
/// inline keyboards on the message itself).
pub(super) fn inline_keyboard(p: &Params) -> Result<Option<InlineKeyboardMarkup>, ApiError> {
    // Read in place: a keyboard of many buttons is not copied to be looked at.
    match p.json_value("reply_markup")? {
        Some(markup) if markup.get("inline_keyboard").is_some() => {
            InlineKeyboardMarkup::deserialize(&*markup)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("can't parse inline keyboard: {e}")))
        }
        _ => Ok(None),
    }
}

fn required_text(p: &mut Params, key: &str, max: usize, empty: &str) -> Result<String, ApiError> {
    optional_text(p, key, max)?.ok_or_else(|| ApiError::bad_request(empty))
}

/// A text parameter, taken out of the parameters (not copied). A text of at most `max` bytes
/// is at most `max` UTF-16 units, so only longer ones are counted.
pub(super) fn optional_text(
    p: &mut Params,
    key: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match p.take_str(key).filter(|t| !t.trim().is_empty()) {
        Some(t) if t.len() > max && utf16::len(&t) > max => {
            Err(ApiError::bad_request(format!("{key} is too long")))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_in_any_case_and_index_their_counters() {
        for (i, m) in ApiMethod::ALL.iter().enumerate() {
            assert_eq!(
                *m as usize, i,
                "a method's counter is calls[method as usize]"
            );
            assert_eq!(ApiMethod::parse(m.name()), Some(*m));
            assert_eq!(ApiMethod::parse(&m.name().to_ascii_uppercase()), Some(*m));
            assert_eq!(ApiMethod::parse(&m.name().to_ascii_lowercase()), Some(*m));
        }
        assert_eq!(ApiMethod::parse("sendMessages"), None);
        assert_eq!(ApiMethod::parse(""), None);
    }
}
