//! What the demo bot remembers per chat to follow Telegram's rules: the newest update delivered
//! in the chat and what became of it (to tell a redelivery from a new update), when the chat may
//! be written to again after a 429, and whether the user blocked the bot.
//!
//! Kept only once it can matter (a fault rate is set, or the Bot API refused or failed a call),
//! so a bot that never fails pays nothing for it. O(1) per chat, and a bounded number of chats:
//! beyond the bound a chat is served as if new every time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::handlers::Call;

/// Chats with stored state, per shard.
const CHATS_PER_SHARD: usize = 1 << 16;
const SHARDS: usize = 16;

/// What the bot had done with the newest update of a chat.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Progress {
    /// Being handled now.
    #[default]
    InFlight,
    /// Handled and every call delivered.
    Done,
    /// Handled, but these calls never reached Telegram: the answer failed after the work was
    /// done (the call meant for the webhook response body), or the request was dropped half way.
    Undelivered(Vec<Call>),
}

impl Progress {
    /// Done when nothing is owed.
    pub fn owing(calls: Vec<Call>) -> Self {
        if calls.is_empty() {
            Progress::Done
        } else {
            Progress::Undelivered(calls)
        }
    }
}

/// How an update arrived, as far as its chat's memory tells.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// An update other than the chat's newest (or for a chat the bot has no room for). An
    /// older id than the newest starts the chat afresh: Telegram orders a chat's updates, so
    /// it comes from a new run whose ids started again, not from a redelivery.
    New { attempt: u32 },
    /// The chat's newest update again: Telegram redelivered it. `attempt` is 1 for the first
    /// redelivery.
    Again { attempt: u32, progress: Progress },
}

impl Delivery {
    /// Which delivery of the update this is, 0 for the first: fault draws depend on it, so a
    /// redelivered update does not fail forever.
    pub fn attempt(&self) -> u32 {
        match self {
            Delivery::New { attempt } | Delivery::Again { attempt, .. } => *attempt,
        }
    }

    pub fn is_redelivery(&self) -> bool {
        !matches!(self, Delivery::New { .. })
    }
}

/// May the bot write to a chat now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Not before this instant (a 429's `retry_after`).
    Hold(Instant),
    /// The user blocked the bot (403).
    Blocked,
}

#[derive(Debug, Default)]
struct ChatEntry {
    update_id: Option<i64>,
    redeliveries: u32,
    progress: Progress,
    not_before: Option<Instant>,
    blocked: bool,
}

/// Every chat's memory, sharded like the users' state.
#[derive(Debug)]
pub struct Chats {
    shards: Vec<Mutex<HashMap<i64, ChatEntry>>>,
    /// Set on the first refused or failed Bot API call: from then on calls consult the chats.
    troubled: AtomicBool,
    /// Attempts handed to deliveries the chats cannot place (no room, or older than the newest):
    /// each draws its faults afresh.
    strays: AtomicU32,
    /// Woken whenever an update's progress is recorded, if anyone waits.
    finished: Notify,
    waiting: AtomicUsize,
}

impl Default for Chats {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            troubled: AtomicBool::new(false),
            strays: AtomicU32::new(0),
            finished: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Chats {
    /// Has the Bot API ever refused or failed a call?
    pub fn troubled(&self) -> bool {
        self.troubled.load(Ordering::Relaxed)
    }

    pub fn trouble(&self) {
        if !self.troubled() {
            self.troubled.store(true, Ordering::Relaxed);
        }
    }

    fn with<R>(&self, chat: i64, f: impl FnOnce(&mut ChatEntry) -> R) -> Option<R> {
        let mut shard = self.shards[(chat.unsigned_abs() as usize) % SHARDS]
            .lock()
            .expect("chats");
        if !shard.contains_key(&chat) && shard.len() >= CHATS_PER_SHARD {
            return None;
        }
        Some(f(shard.entry(chat).or_default()))
    }

    fn stray(&self) -> u32 {
        self.strays
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            .max(1)
    }

    /// Notes that `update_id` arrived in `chat` and says whether it is new.
    pub fn deliver(&self, chat: i64, update_id: i64) -> Delivery {
        let placed = self.with(chat, |c| match c.update_id {
            Some(newest) if update_id == newest => {
                c.redeliveries = c.redeliveries.saturating_add(1);
                Delivery::Again {
                    attempt: c.redeliveries,
                    progress: c.progress.clone(),
                }
            }
            _ => {
                c.update_id = Some(update_id);
                c.redeliveries = 0;
                c.progress = Progress::InFlight;
                Delivery::New { attempt: 0 }
            }
        });
        placed.unwrap_or_else(|| Delivery::New {
            attempt: self.stray(),
        })
    }

    /// Records what became of `update_id` (an update newer than the chat's newest becomes it).
    pub fn finish(&self, chat: i64, update_id: i64, progress: Progress) {
        self.with(chat, |c| match c.update_id {
            Some(newest) if update_id < newest => {}
            Some(newest) if update_id == newest => c.progress = progress,
            _ => {
                c.update_id = Some(update_id);
                c.redeliveries = 0;
                c.progress = progress;
            }
        });
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.finished.notify_waiters();
        }
    }

    /// What became of `update_id`, once it is no longer in flight or `within` has passed
    /// (then [`Progress::InFlight`]). An update no longer the chat's newest is done.
    pub async fn settled(
        &self,
        chat: i64,
        update_id: i64,
        within: std::time::Duration,
    ) -> Progress {
        let deadline = Instant::now() + within;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waited = Waiting(&self.waiting);
        loop {
            let finished = self.finished.notified();
            let mut finished = std::pin::pin!(finished);
            finished.as_mut().enable();
            let progress = self
                .with(chat, |c| match c.update_id {
                    Some(newest) if newest == update_id => c.progress.clone(),
                    _ => Progress::Done,
                })
                .unwrap_or(Progress::Done);
            if progress != Progress::InFlight
                || tokio::time::timeout_at(deadline, finished).await.is_err()
            {
                return progress;
            }
        }
    }

    /// Whether the bot may write to `chat` now.
    pub fn gate(&self, chat: i64) -> Gate {
        let now = Instant::now();
        self.with(chat, |c| {
            if c.blocked {
                Gate::Blocked
            } else {
                match c.not_before {
                    Some(t) if t > now => Gate::Hold(t),
                    _ => Gate::Open,
                }
            }
        })
        .unwrap_or(Gate::Open)
    }

    /// No call to `chat` before `until`; returns the chat's hold, which may be later.
    pub fn hold(&self, chat: i64, until: Instant) -> Instant {
        self.with(chat, |c| {
            let t = c.not_before.map_or(until, |t| t.max(until));
            c.not_before = Some(t);
            t
        })
        .unwrap_or(until)
    }

    /// Marks `chat` blocked; true the first time.
    pub fn block(&self, chat: i64) -> bool {
        self.with(chat, |c| !std::mem::replace(&mut c.blocked, true))
            .unwrap_or(false)
    }
}

/// Counts a waiter out, however its wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn redeliveries_are_counted_per_update_and_old_ones_are_seen() {
        let chats = Chats::default();
        assert_eq!(chats.deliver(7, 10), Delivery::New { attempt: 0 });
        assert_eq!(
            chats.deliver(7, 10),
            Delivery::Again {
                attempt: 1,
                progress: Progress::InFlight
            }
        );
        let body = vec![Call::message(7, "hi")];
        chats.finish(7, 10, Progress::owing(body.clone()));
        assert_eq!(
            chats.deliver(7, 10),
            Delivery::Again {
                attempt: 2,
                progress: Progress::Undelivered(body)
            }
        );
        chats.finish(7, 10, Progress::Done);
        assert_eq!(chats.deliver(7, 12), Delivery::New { attempt: 0 });
        // An older id: a new run whose ids started again, handled afresh (not a redelivery).
        assert_eq!(chats.deliver(7, 10), Delivery::New { attempt: 0 });
        assert_eq!(
            chats.deliver(7, 10).attempt(),
            1,
            "and its redelivery is one"
        );
        // Another chat has its own newest update.
        assert_eq!(chats.deliver(8, 11), Delivery::New { attempt: 0 });
        // An update finished without being delivered first becomes the newest.
        chats.finish(9, 5, Progress::Done);
        assert!(matches!(
            chats.deliver(9, 5),
            Delivery::Again {
                progress: Progress::Done,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_redelivery_waits_for_the_delivery_in_flight() {
        let chats = std::sync::Arc::new(Chats::default());
        chats.deliver(3, 40);
        let waiting = tokio::spawn({
            let chats = chats.clone();
            async move { chats.settled(3, 40, Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let owed = vec![Call::message(3, "late")];
        chats.finish(3, 40, Progress::owing(owed.clone()));
        assert_eq!(waiting.await.unwrap(), Progress::Undelivered(owed));
        // Still in flight after the bound: said so.
        chats.deliver(3, 41);
        let started = Instant::now();
        let progress = chats.settled(3, 41, Duration::from_secs(5)).await;
        assert_eq!(progress, Progress::InFlight);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn holds_keep_the_latest_instant_and_blocks_stick() {
        let chats = Chats::default();
        assert_eq!(chats.gate(1), Gate::Open);
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(chats.hold(1, later), later);
        assert_eq!(chats.hold(1, later - Duration::from_secs(2)), later);
        assert_eq!(chats.gate(1), Gate::Hold(later));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(chats.gate(1), Gate::Open);
        assert!(chats.block(1));
        assert!(!chats.block(1));
        assert_eq!(chats.gate(1), Gate::Blocked);
    }
}
