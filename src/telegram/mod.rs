//! The Telegram side of the wire: Bot API objects (`types`), builders that turn a virtual user's
//! action into a valid `Update` (`build`), identifier allocation (`ids`), test-user pools and
//! tiers (`pools`), UTF-16 helpers for entity offsets (`utf16`), and the JSON of a user's updates
//! (`wire`).

pub mod build;
pub mod ids;
pub mod pools;
pub mod types;
pub mod utf16;
pub mod wire;

pub use build::{Draft, Sender, UpdateFactory};
pub use ids::{IdRangeExhausted, UpdateIds};
pub use pools::{PoolError, Tier, TierPools};
pub use types::*;
