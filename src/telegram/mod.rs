//! The Telegram side of the wire: Bot API objects (`types`), builders that turn a virtual user's
//! action into a valid `Update` (`build`), identifier allocation (`ids`), test-user pools and
//! tiers (`pools`), UTF-16 helpers for entity offsets (`utf16`), the JSON of a user's updates
//! (`wire`), the files users send (`media`), and the bot's calls as the tool records them
//! (`bot_call`).

pub mod bot_call;
pub mod build;
pub mod ids;
pub mod media;
pub mod pools;
pub mod types;
pub mod utf16;
pub mod wire;

pub use bot_call::{ApiMethod, BotEvent, EventKind, SECRET_HEADER, Via, ignored_in_webhook_body};
pub use build::{Draft, Sender, UpdateFactory};
pub use ids::{IdRangeExhausted, UpdateIds};
pub use pools::{PoolError, Tier, TierPools};
pub use types::*;
