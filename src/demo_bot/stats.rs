//! What the demo bot received, counted lock-free, and the JSON shape `GET /stats` returns. A run
//! compares these counts with its own to prove nothing was lost.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::command::BotCommand;
use crate::telegram::Tier;

/// What kind of update arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Command,
    UnknownCommand,
    TextSimple,
    TextComplex,
    Voice,
    Photo,
    Document,
    Callback,
    Other,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Command,
        Kind::UnknownCommand,
        Kind::TextSimple,
        Kind::TextComplex,
        Kind::Voice,
        Kind::Photo,
        Kind::Document,
        Kind::Callback,
        Kind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Command => "command",
            Kind::UnknownCommand => "unknown_command",
            Kind::TextSimple => "text_simple",
            Kind::TextComplex => "text_complex",
            Kind::Voice => "voice",
            Kind::Photo => "photo",
            Kind::Document => "document",
            Kind::Callback => "callback",
            Kind::Other => "other",
        }
    }
}

/// Requests turned away before any handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized,
    Malformed,
    UnsupportedMediaType,
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Error,
    Slow,
    Reset,
}

fn counters<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// What the bot did about Telegram's rules: 429s, blocked chats, failed calls, redeliveries.
#[derive(Debug, Default)]
pub struct RuleCounters {
    retries_after_429: AtomicU64,
    retry_after_waited_ms: AtomicU64,
    ignored_429: AtomicU64,
    blocked_chats: AtomicU64,
    skipped_blocked: AtomicU64,
    chat_not_found: AtomicU64,
    retries_5xx: AtomicU64,
    redeliveries_seen: AtomicU64,
    redeliveries_deduplicated: AtomicU64,
    given_up: AtomicU64,
}

impl RuleCounters {
    /// A call retried after waiting out a 429's `retry_after`.
    pub fn retry_after_429(&self) {
        bump(&self.retries_after_429);
    }

    /// Time spent waiting for a chat's `retry_after` to pass.
    pub fn waited(&self, d: std::time::Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.retry_after_waited_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// A call retried at once after a 429 (the naive bot).
    pub fn ignored_429(&self) {
        bump(&self.ignored_429);
    }

    /// A chat answered 403 for the first time.
    pub fn blocked_chat(&self) {
        bump(&self.blocked_chats);
    }

    /// A call not made because its chat blocked the bot.
    pub fn skipped_blocked(&self) {
        bump(&self.skipped_blocked);
    }

    pub fn chat_not_found(&self) {
        bump(&self.chat_not_found);
    }

    /// A call retried after a 5xx or a failed connection.
    pub fn retry_5xx(&self) {
        bump(&self.retries_5xx);
    }

    /// An update delivered again (same update_id).
    pub fn redelivery_seen(&self) {
        bump(&self.redeliveries_seen);
    }

    /// A redelivered update not handled again.
    pub fn deduplicated(&self) {
        bump(&self.redeliveries_deduplicated);
    }

    /// A call abandoned after a 429, a 5xx or a failed connection, retries spent.
    pub fn given_up(&self) {
        bump(&self.given_up);
    }
}

/// The live counters.
#[derive(Debug)]
pub struct Counters {
    pub rules: RuleCounters,
    kinds: [AtomicU64; 9],
    commands: [AtomicU64; 22],
    refused: [AtomicU64; 22],
    refused_tiers: [AtomicU64; 4],
    rejections: [AtomicU64; 4],
    faults: [AtomicU64; 3],
    grants_refused: AtomicU64,
    replies_sent: AtomicU64,
    replies_failed: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        assert_eq!(BotCommand::ALL.len(), 22);
        Self {
            rules: RuleCounters::default(),
            kinds: counters(),
            commands: counters(),
            refused: counters(),
            refused_tiers: counters(),
            rejections: counters(),
            faults: counters(),
            grants_refused: AtomicU64::new(0),
            replies_sent: AtomicU64::new(0),
            replies_failed: AtomicU64::new(0),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn received(&self, kind: Kind, command: Option<BotCommand>) {
        bump(&self.kinds[kind as usize]);
        if let Some(c) = command {
            bump(&self.commands[c.index()]);
        }
    }

    /// A command refused because the sender's tier is too low.
    pub fn refused(&self, command: BotCommand, sender: Tier) {
        bump(&self.refused[command.index()]);
        bump(&self.refused_tiers[sender.index()]);
    }

    pub fn rejected(&self, r: Rejection) {
        bump(&self.rejections[r as usize]);
    }

    pub fn fault(&self, f: Fault) {
        bump(&self.faults[f as usize]);
    }

    pub fn grant_refused(&self) {
        bump(&self.grants_refused);
    }

    pub fn reply(&self, ok: bool) {
        bump(if ok {
            &self.replies_sent
        } else {
            &self.replies_failed
        });
    }

    pub fn total(&self) -> u64 {
        self.kinds.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn snapshot(&self) -> DemoBotStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let nonzero =
            |names: &mut dyn Iterator<Item = (&'static str, u64)>| -> BTreeMap<String, u64> {
                names
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| (k.to_string(), n))
                    .collect()
            };
        DemoBotStats {
            total: self.total(),
            kinds: nonzero(
                &mut Kind::ALL
                    .iter()
                    .map(|k| (k.as_str(), load(&self.kinds[*k as usize]))),
            ),
            commands: nonzero(
                &mut BotCommand::ALL
                    .iter()
                    .map(|c| (c.name(), load(&self.commands[c.index()]))),
            ),
            refused: nonzero(
                &mut BotCommand::ALL
                    .iter()
                    .map(|c| (c.name(), load(&self.refused[c.index()]))),
            ),
            refused_by_tier: nonzero(
                &mut Tier::ALL
                    .iter()
                    .map(|t| (t.as_str(), load(&self.refused_tiers[t.index()]))),
            ),
            rejected: RejectedStats {
                unauthorized: load(&self.rejections[Rejection::Unauthorized as usize]),
                malformed: load(&self.rejections[Rejection::Malformed as usize]),
                unsupported_media_type: load(
                    &self.rejections[Rejection::UnsupportedMediaType as usize],
                ),
                too_large: load(&self.rejections[Rejection::TooLarge as usize]),
            },
            faults: FaultStats {
                errors: load(&self.faults[Fault::Error as usize]),
                slow: load(&self.faults[Fault::Slow as usize]),
                resets: load(&self.faults[Fault::Reset as usize]),
            },
            grants_refused: load(&self.grants_refused),
            replies: ReplyStats {
                sent: load(&self.replies_sent),
                failed: load(&self.replies_failed),
            },
            api_retries_after_429: load(&self.rules.retries_after_429),
            retry_after_waited_ms: load(&self.rules.retry_after_waited_ms),
            api_429_ignored: load(&self.rules.ignored_429),
            blocked_chats: load(&self.rules.blocked_chats),
            calls_skipped_blocked: load(&self.rules.skipped_blocked),
            calls_chat_not_found: load(&self.rules.chat_not_found),
            api_5xx_retries: load(&self.rules.retries_5xx),
            redeliveries_seen: load(&self.rules.redeliveries_seen),
            redeliveries_deduplicated: load(&self.rules.redeliveries_deduplicated),
            calls_given_up: load(&self.rules.given_up),
        }
    }
}

/// `GET /stats`: everything the demo bot received and did, as JSON. Maps omit zero counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoBotStats {
    /// Valid updates received (every kind).
    pub total: u64,
    /// Per kind: command, unknown_command, text_simple, text_complex, voice, photo, document,
    /// callback, other.
    pub kinds: BTreeMap<String, u64>,
    /// Per command (`/help`), refused ones included.
    pub commands: BTreeMap<String, u64>,
    /// Commands refused because the sender's tier was too low, per command.
    pub refused: BTreeMap<String, u64>,
    /// The same refusals, per sender tier.
    pub refused_by_tier: BTreeMap<String, u64>,
    pub rejected: RejectedStats,
    pub faults: FaultStats,
    /// /grant or /revoke naming an id outside the test-user pools.
    pub grants_refused: u64,
    pub replies: ReplyStats,
    /// Calls retried after waiting out a 429's `retry_after`.
    #[serde(default)]
    pub api_retries_after_429: u64,
    /// Milliseconds spent waiting for chats' `retry_after` (retries and held calls).
    #[serde(default)]
    pub retry_after_waited_ms: u64,
    /// Calls retried at once after a 429, `retry_after` ignored (`--naive`).
    #[serde(default)]
    pub api_429_ignored: u64,
    /// Chats that answered 403 (blocked the bot).
    #[serde(default)]
    pub blocked_chats: u64,
    /// Calls not made because their chat had blocked the bot.
    #[serde(default)]
    pub calls_skipped_blocked: u64,
    /// Calls answered 400 "chat not found" (not retried).
    #[serde(default)]
    pub calls_chat_not_found: u64,
    /// Calls retried after a 5xx or a failed connection.
    #[serde(default)]
    pub api_5xx_retries: u64,
    /// Updates delivered again with an update_id already seen.
    #[serde(default)]
    pub redeliveries_seen: u64,
    /// Redeliveries answered without handling the update again.
    #[serde(default)]
    pub redeliveries_deduplicated: u64,
    /// Calls abandoned after a 429, a 5xx or a failed connection, once their retries were spent.
    #[serde(default)]
    pub calls_given_up: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedStats {
    pub unauthorized: u64,
    pub malformed: u64,
    pub unsupported_media_type: u64,
    pub too_large: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    pub errors: u64,
    pub slow: u64,
    pub resets: u64,
}

/// Bot API calls the bot made to deliver its replies, one per call whatever its retries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyStats {
    pub sent: u64,
    pub failed: u64,
}
