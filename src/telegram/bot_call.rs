//! A bot's calls as the rest of the tool sees them: the Bot API methods the stand-in answers by
//! hand ([`ApiMethod`]; the rest of the API is answered from its description, `botapi::spec`),
//! one call the bot made for a chat ([`BotEvent`]), and how it arrived ([`Via`]).

use std::time::Instant;

use serde::Serialize;

use super::Message;

/// The header Telegram sends the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

macro_rules! api_methods {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The methods the stand-in answers with a hand-written handler: the ones every run
        /// calls (a fast path, before the description is looked at) and the webhook's. To add
        /// one: a variant here, an arm in `BotApi::dispatch` (`botapi/methods.rs`), and a test
        /// in `tests/it/encodings.rs`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum ApiMethod { $($variant),* }

        impl ApiMethod {
            pub const ALL: &'static [ApiMethod] = &[$(ApiMethod::$variant),*];

            /// The method's canonical name.
            pub fn name(self) -> &'static str {
                match self { $(ApiMethod::$variant => $name),* }
            }

            /// Case-insensitive lookup, as Telegram does it. The canonical spelling, which
            /// is what bots send, is matched first, without folding case.
            pub fn parse(name: &str) -> Option<ApiMethod> {
                match name {
                    $($name => Some(ApiMethod::$variant),)*
                    _ => Self::ALL.iter().copied().find(|m| m.name().eq_ignore_ascii_case(name)),
                }
            }
        }
    };
}

api_methods! {
    GetMe => "getMe",
    SetWebhook => "setWebhook",
    DeleteWebhook => "deleteWebhook",
    GetWebhookInfo => "getWebhookInfo",
    SendMessage => "sendMessage",
    SendPhoto => "sendPhoto",
    SendVoice => "sendVoice",
    SendDocument => "sendDocument",
    SendChatAction => "sendChatAction",
    EditMessageText => "editMessageText",
    AnswerCallbackQuery => "answerCallbackQuery",
    DeleteMessage => "deleteMessage",
}

impl ApiMethod {
    /// See [`ignored_in_webhook_body`].
    pub fn ignored_in_webhook_body(self) -> bool {
        ignored_in_webhook_body(self.name())
    }
}

/// Telegram ignores these methods (by canonical name) when a bot puts them in a webhook
/// response body: the get* methods, setWebhook and deleteWebhook.
pub fn ignored_in_webhook_body(method: &str) -> bool {
    method.starts_with("get") || matches!(method, "setWebhook" | "deleteWebhook")
}

/// How a bot's call reached the stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An HTTP request to `/bot<token>/<method>`.
    Api,
    /// A method call in the body of the bot's answer to a webhook POST.
    WebhookBody,
}

/// What a bot call is to the user in its chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Produces or changes a message the user reads: `send*`, `copyMessage(s)`,
    /// `forwardMessage(s)`, `editMessage*`, `deleteMessage(s)`, `stopPoll`.
    Reply,
    /// Acknowledges without a message: `answerCallbackQuery`, `sendChatAction`, the
    /// `send*Draft` streams, `setMessageReaction`.
    Ack,
}

impl EventKind {
    /// What a call of the Bot API method `name` is to the chat it names, if anything (a
    /// `getChatMember` is nothing a user sees). The rule follows the method families of the
    /// Bot API, so it holds for methods added later.
    pub fn of(name: &str) -> Option<EventKind> {
        // The calls of every run's hot path, spelled as bots spell them, without folding case.
        match name {
            "sendMessage" | "sendPhoto" | "sendVoice" | "sendDocument" | "editMessageText"
            | "deleteMessage" => return Some(EventKind::Reply),
            "answerCallbackQuery" | "sendChatAction" => return Some(EventKind::Ack),
            _ => {}
        }
        const ACKS: [&str; 3] = [
            "answerCallbackQuery",
            "sendChatAction",
            "setMessageReaction",
        ];
        const REPLIES: [&str; 8] = [
            "copyMessage",
            "copyMessages",
            "forwardMessage",
            "forwardMessages",
            "deleteMessage",
            "deleteMessages",
            "stopPoll",
            "stopMessageLiveLocation",
        ];
        let draft = starts_with_ignore_case(name, "send")
            && name.len() > 5
            && name.as_bytes()[name.len() - 5..].eq_ignore_ascii_case(b"Draft");
        if draft || ACKS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            Some(EventKind::Ack)
        } else if REPLIES.iter().any(|r| r.eq_ignore_ascii_case(name))
            || (name.len() > 4 && starts_with_ignore_case(name, "send"))
            || starts_with_ignore_case(name, "editMessage")
        {
            Some(EventKind::Reply)
        } else {
            None
        }
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// One call the bot made for a chat.
#[derive(Debug, Clone)]
pub struct BotEvent {
    pub chat_id: i64,
    /// The method's canonical name.
    pub method: &'static str,
    pub kind: EventKind,
    /// The message sent or edited, for methods that produce one. Boxed: events wait in every
    /// user's inbox, and an idle user's inbox should stay small.
    pub message: Option<Box<Message>>,
    /// `text` of answerCallbackQuery, `action` of sendChatAction.
    pub note: Option<String>,
    pub at: Instant,
    pub via: Via,
}

impl BotEvent {
    /// Whether this event produced or changed a message the user reads.
    pub fn is_reply(&self) -> bool {
        self.kind == EventKind::Reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_families_say_what_a_call_is_to_the_chat() {
        for reply in [
            "sendMessage",
            "sendVideo",
            "sendMediaGroup",
            "copyMessage",
            "forwardMessages",
            "editMessageReplyMarkup",
            "deleteMessage",
            "stopPoll",
            "SENDSTICKER",
        ] {
            assert_eq!(EventKind::of(reply), Some(EventKind::Reply), "{reply}");
        }
        for ack in [
            "answerCallbackQuery",
            "sendChatAction",
            "sendMessageDraft",
            "sendRichMessageDraft",
            "setMessageReaction",
        ] {
            assert_eq!(EventKind::of(ack), Some(EventKind::Ack), "{ack}");
        }
        for other in [
            "getChatMember",
            "getMe",
            "setWebhook",
            "banChatMember",
            "send",
        ] {
            assert_eq!(EventKind::of(other), None, "{other}");
        }
    }
}
