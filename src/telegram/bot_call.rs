//! A bot's calls as the rest of the tool sees them: the Bot API methods the stand-in knows
//! ([`ApiMethod`]), one call the bot made for a chat ([`BotEvent`]), and how it arrived ([`Via`]).

use std::time::Instant;

use serde::Serialize;

use super::Message;

/// The header Telegram sends the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

macro_rules! api_methods {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The methods the stand-in knows. To add one: a variant here, an arm in
        /// `BotApi::call` (`botapi/methods.rs`), and a test in `tests/it/encodings.rs`.
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
    LogOut => "logOut",
    Close => "close",
    SetWebhook => "setWebhook",
    DeleteWebhook => "deleteWebhook",
    GetWebhookInfo => "getWebhookInfo",
    SetMyCommands => "setMyCommands",
    GetMyCommands => "getMyCommands",
    DeleteMyCommands => "deleteMyCommands",
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
    /// Whether a user reads this as an answer (not a chat action or a deletion).
    pub fn is_reply(self) -> bool {
        matches!(
            self,
            ApiMethod::SendMessage
                | ApiMethod::SendPhoto
                | ApiMethod::SendVoice
                | ApiMethod::SendDocument
                | ApiMethod::EditMessageText
                | ApiMethod::AnswerCallbackQuery
        )
    }

    /// Telegram ignores these when a bot puts them in a webhook response body.
    pub fn ignored_in_webhook_body(self) -> bool {
        self.name().starts_with("get")
            || matches!(self, ApiMethod::SetWebhook | ApiMethod::DeleteWebhook)
    }
}

/// How a bot's call reached the stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An HTTP request to `/bot<token>/<method>`.
    Api,
    /// A method call in the body of the bot's answer to a webhook POST.
    WebhookBody,
}

/// One call the bot made for a chat.
#[derive(Debug, Clone)]
pub struct BotEvent {
    pub chat_id: i64,
    pub method: ApiMethod,
    /// The message sent or edited, for methods that produce one. Boxed: events wait in every
    /// user's inbox, and an idle user's inbox should stay small.
    pub message: Option<Box<Message>>,
    /// `text` of answerCallbackQuery, `action` of sendChatAction.
    pub note: Option<String>,
    pub at: Instant,
    pub via: Via,
}

impl BotEvent {
    /// Whether this event is something a user reads (a message sent or edited, an answer to a
    /// button), as opposed to a chat action or a deletion.
    pub fn is_reply(&self) -> bool {
        self.method.is_reply()
    }
}
