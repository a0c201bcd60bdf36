//! What the Bot API stand-in saw of the bot: how it chose to get its updates, when it was
//! ready, and its calls (per method, refused, late, for chats no user was in).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::chaos::{FloodLimits, FloodMode};

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
    /// Telegram's flood limits and the injected faults: what the bot's calls met.
    #[serde(default)]
    pub flood: Option<FloodReport>,
}

/// What the stand-in's gate counted: in all, and per span of the run (before the first fault
/// window, then each window with its aftermath until the next one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FloodReport {
    pub mode: FloodMode,
    pub limits: FloodLimits,
    pub total: GateSpan,
    /// Chats with at least one message over their limit.
    pub chats_refused: u64,
    /// The most messages the bot sent in one second, overall and in one chat.
    pub peak_messages_per_s: u64,
    pub peak_chat_messages_per_s: u64,
    /// The longest `retry_after` the stand-in asked for.
    pub max_retry_after_s: u64,
    pub spans: Vec<GateSpan>,
}

/// The gate's counts over a span of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GateSpan {
    /// Messages the bot sent (sends, copies, forwards) that went through.
    pub messages: u64,
    /// Messages over a private chat's, a group's or the bot's overall limit (refused with
    /// `enforce`, only counted with `report`).
    pub refused_chat: u64,
    pub refused_group: u64,
    pub refused_global: u64,
    /// Calls for a chat told to wait (a 429's `retry_after`) before the wait was over.
    pub violations: u64,
    /// Calls answered 403 because the user blocked the bot (the first in each chat is the
    /// injected fault; the rest are calls the bot should not have made).
    pub blocked_calls: u64,
    /// Injected faults by kind (chats for `blocked`).
    pub injected: BTreeMap<String, u64>,
}

impl FloodReport {
    /// Another shard's counts added in: counts and spans summed, the overall rate and peak as
    /// the shards' sum (each shard's stand-in held its share of the overall rate; the summed
    /// peak is an upper bound, the shards' peak seconds need not coincide), the per-chat peak
    /// and the longest wait as the larger (chats are not shared between shards).
    pub fn absorb(&mut self, other: &FloodReport) {
        self.total.add(&other.total);
        if self.spans.len() < other.spans.len() {
            self.spans.resize(other.spans.len(), GateSpan::default());
        }
        for (mine, theirs) in self.spans.iter_mut().zip(&other.spans) {
            mine.add(theirs);
        }
        self.chats_refused += other.chats_refused;
        self.peak_messages_per_s += other.peak_messages_per_s;
        self.peak_chat_messages_per_s = self
            .peak_chat_messages_per_s
            .max(other.peak_chat_messages_per_s);
        self.max_retry_after_s = self.max_retry_after_s.max(other.max_retry_after_s);
        self.limits.global += other.limits.global;
        self.limits.global_burst += other.limits.global_burst;
    }
}

impl GateSpan {
    pub fn add(&mut self, other: &GateSpan) {
        self.messages += other.messages;
        self.refused_chat += other.refused_chat;
        self.refused_group += other.refused_group;
        self.refused_global += other.refused_global;
        self.violations += other.violations;
        self.blocked_calls += other.blocked_calls;
        for (k, v) in &other.injected {
            *self.injected.entry(k.clone()).or_default() += v;
        }
    }

    /// Messages Telegram would have refused for flooding.
    pub fn refused(&self) -> u64 {
        self.refused_chat + self.refused_group + self.refused_global
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollingReport {
    pub polls: u64,
    pub fetched: u64,
    pub refetched: u64,
    pub confirmed: u64,
    pub expired: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_flood_counts_add_up_with_their_own_rules() {
        let shard = |messages: u64, peak: u64, chat_peak: u64, wait: u64| FloodReport {
            limits: FloodLimits {
                global: 10.0,
                ..FloodLimits::default()
            },
            total: GateSpan {
                messages,
                violations: 1,
                ..GateSpan::default()
            },
            spans: vec![
                GateSpan {
                    messages,
                    ..GateSpan::default()
                };
                2
            ],
            peak_messages_per_s: peak,
            peak_chat_messages_per_s: chat_peak,
            max_retry_after_s: wait,
            ..FloodReport::default()
        };
        let mut all = shard(5, 7, 2, 4);
        all.absorb(&shard(6, 9, 3, 1));
        assert_eq!((all.total.messages, all.total.violations), (11, 2));
        assert_eq!(
            all.spans.iter().map(|s| s.messages).collect::<Vec<_>>(),
            [11, 11]
        );
        assert_eq!(
            (all.peak_messages_per_s, all.peak_chat_messages_per_s),
            (16, 3)
        );
        assert_eq!((all.max_retry_after_s, all.limits.global), (4, 20.0));
    }
}
