//! Identifier allocation: `update_id` (unique and increasing across a whole run, and across
//! shards by giving each a disjoint range), per-chat `message_id`, and callback query ids that
//! carry their sender so the Bot API stand-in can route `answerCallbackQuery` to a chat.

use std::ops::Range;
use std::sync::atomic::{AtomicI64, Ordering};

/// Telegram's update_id is a signed 32-bit number; frameworks parse it as such.
pub const MAX_UPDATE_ID: i64 = i32::MAX as i64;

/// The first `update_id` of a run when no range is given.
pub const DEFAULT_FIRST_UPDATE_ID: i64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the update_id range {start}..{end} is exhausted")]
pub struct IdRangeExhausted {
    pub start: i64,
    pub end: i64,
}

/// Hands out `update_id`s from a half-open range, each once, in increasing order.
///
/// Shared by every virtual user of a run (one atomic add per update); a shard gets a disjoint
/// range with [`UpdateIds::shard`].
#[derive(Debug)]
pub struct UpdateIds {
    next: AtomicI64,
    start: i64,
    end: i64,
}

impl UpdateIds {
    pub fn new(range: Range<i64>) -> Self {
        Self {
            next: AtomicI64::new(range.start),
            start: range.start,
            end: range.end,
        }
    }

    /// The whole default range, for a run that is not sharded.
    pub fn unsharded() -> Self {
        Self::new(DEFAULT_FIRST_UPDATE_ID..MAX_UPDATE_ID)
    }

    /// Shard `index` of `count` (0-based): equal, disjoint slices of `range`, in shard order.
    pub fn shard(range: Range<i64>, index: u32, count: u32) -> Self {
        assert!(count > 0 && index < count, "shard {index} of {count}");
        let width = (range.end - range.start) / i64::from(count);
        let start = range.start + width * i64::from(index);
        Self::new(start..start + width)
    }

    pub fn next(&self) -> Result<i64, IdRangeExhausted> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if id >= self.end {
            // Keep the counter pinned so it never wraps.
            self.next.store(self.end, Ordering::Relaxed);
            return Err(IdRangeExhausted {
                start: self.start,
                end: self.end,
            });
        }
        Ok(id)
    }

    /// How many ids were handed out.
    pub fn issued(&self) -> i64 {
        self.next.load(Ordering::Relaxed).min(self.end) - self.start
    }
}

/// The `message_id` counter of one chat. In a private chat the user's and the bot's messages
/// share one sequence, so the virtual user and the Bot API stand-in hold the same counter.
#[derive(Debug, Default)]
pub struct ChatMessageIds(AtomicI64);

impl ChatMessageIds {
    pub fn next(&self) -> i64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The highest id handed out so far (0 if none).
    pub fn last(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

const CALLBACK_SEQ_DIGITS: u32 = 8;

/// A callback query id that looks like Telegram's (a long decimal string) and encodes the
/// sender, so `answerCallbackQuery` can be matched to the chat it belongs to.
pub fn callback_query_id(user_id: i64, seq: u64) -> String {
    format!("{user_id}{:08}", seq % 10u64.pow(CALLBACK_SEQ_DIGITS))
}

/// The sender encoded by [`callback_query_id`].
pub fn callback_query_sender(id: &str) -> Option<i64> {
    let digits = CALLBACK_SEQ_DIGITS as usize;
    if id.len() <= digits || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id[..id.len() - digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_ids_increase_and_stop_at_the_end() {
        let ids = UpdateIds::new(10..13);
        assert_eq!(ids.next(), Ok(10));
        assert_eq!(ids.next(), Ok(11));
        assert_eq!(ids.next(), Ok(12));
        assert_eq!(ids.next(), Err(IdRangeExhausted { start: 10, end: 13 }));
        assert_eq!(ids.next(), Err(IdRangeExhausted { start: 10, end: 13 }));
        assert_eq!(ids.issued(), 3);
    }

    #[test]
    fn shards_are_disjoint_and_ordered() {
        let a = UpdateIds::shard(0..300, 0, 3);
        let b = UpdateIds::shard(0..300, 1, 3);
        let c = UpdateIds::shard(0..300, 2, 3);
        assert_eq!((a.start, a.end), (0, 100));
        assert_eq!((b.start, b.end), (100, 200));
        assert_eq!((c.start, c.end), (200, 300));
    }

    #[test]
    fn update_ids_are_unique_across_threads() {
        let ids = std::sync::Arc::new(UpdateIds::new(0..1_000_000));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let ids = ids.clone();
                std::thread::spawn(move || {
                    (0..10_000).map(|_| ids.next().unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<i64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 40_000);
    }

    #[test]
    fn callback_ids_round_trip() {
        let id = callback_query_id(6_900_100_042, 123_456_789);
        assert_eq!(id, "690010004223456789");
        assert_eq!(callback_query_sender(&id), Some(6_900_100_042));
        assert_eq!(callback_query_sender("123"), None);
        assert_eq!(callback_query_sender("abc123456789"), None);
    }

    #[test]
    fn chat_message_ids_start_at_one() {
        let ids = ChatMessageIds::default();
        assert_eq!(ids.last(), 0);
        assert_eq!(ids.next(), 1);
        assert_eq!(ids.next(), 2);
        assert_eq!(ids.last(), 2);
    }
}
