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

/// The live counters.
#[derive(Debug)]
pub struct Counters {
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

/// Bot API calls the bot made to deliver its replies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyStats {
    pub sent: u64,
    pub failed: u64,
}
