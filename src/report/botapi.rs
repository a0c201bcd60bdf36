//! What the Bot API stand-in saw of the bot: how it chose to get its updates, when it was
//! ready, and its calls (per method, refused, late, for chats no user was in).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `botapi` section of a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotApiReport {
    /// `webhook` or `polling` (the bot chose, at readiness), `target` (`--target` given),
    /// `demo` (the in-process demo bot).
    pub mode: String,
    /// From the stand-in's start to the bot's setWebhook or first getUpdates.
    pub ready_after_s: Option<f64>,
    /// The webhook the bot registered and the connections it allowed.
    pub webhook_url: Option<String>,
    pub max_connections: Option<u32>,
    /// Calls per method (only methods called).
    pub calls: BTreeMap<String, u64>,
    /// Calls answered with an error (400, 404, 409 ...), unauthorized ones included.
    pub errors: u64,
    pub unauthorized: u64,
    pub unknown_methods: u64,
    /// Calls after the users stopped (during `--drain`).
    pub late_calls: u64,
    /// Messages for chats no virtual user was in at the time.
    pub unattributed: u64,
    /// Bot events dropped because a chat's inbox was full.
    pub overflowed: u64,
    /// For a polling bot: getUpdates answered, updates fetched, fetched again (not confirmed),
    /// confirmed, and taken back unfetched when their send timed out.
    pub polling: Option<PollingReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollingReport {
    pub polls: u64,
    pub fetched: u64,
    pub refetched: u64,
    pub confirmed: u64,
    pub expired: u64,
}
