//! Delivers every message the bot sends to whoever waits on that chat, with its arrival time.
//!
//! Chats are spread over sharded maps (no lock shared by every chat); each chat keeps at most
//! [`INBOX_CAPACITY`] undelivered events, so the hub holds no unbounded history. A chat's slot
//! also owns its `message_id` counter, shared with the virtual user that writes in it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::telegram::BotEvent;
use crate::telegram::ids::ChatMessageIds;

/// Events a chat keeps while nobody reads them; older ones are dropped (and counted) first.
pub const INBOX_CAPACITY: usize = 32;
const SHARDS: usize = 64;

#[derive(Debug, Default)]
struct Slot {
    ids: Arc<ChatMessageIds>,
    inbox: Mutex<VecDeque<BotEvent>>,
    notify: Notify,
    /// Inboxes open on this chat.
    subscribers: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct HubCounters {
    delivered: AtomicU64,
    unclaimed: AtomicU64,
    overflowed: AtomicU64,
}

/// Counts of what the hub did with the bot's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HubStats {
    /// Put in a subscribed chat's inbox.
    pub delivered: u64,
    /// For a chat nobody was subscribed to.
    pub unclaimed: u64,
    /// Dropped because an inbox was full.
    pub overflowed: u64,
}

#[derive(Debug)]
struct HubState {
    /// aHash (already built for rhai): every delivery looks its chat up.
    shards: Vec<Mutex<HashMap<i64, Arc<Slot>, ahash::RandomState>>>,
    /// message_id counter for chats nobody subscribed to.
    fallback_ids: ChatMessageIds,
    counters: HubCounters,
}

/// Routes bot events to chats. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReplyHub(Arc<HubState>);

impl Default for ReplyHub {
    fn default() -> Self {
        Self(Arc::new(HubState {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            fallback_ids: ChatMessageIds::default(),
            counters: HubCounters::default(),
        }))
    }
}

impl ReplyHub {
    fn shard(&self, chat_id: i64) -> &Mutex<HashMap<i64, Arc<Slot>, ahash::RandomState>> {
        &self.0.shards[(chat_id.unsigned_abs() as usize) % SHARDS]
    }

    fn slot(&self, chat_id: i64) -> Option<Arc<Slot>> {
        self.shard(chat_id)
            .lock()
            .expect("hub shard")
            .get(&chat_id)
            .cloned()
    }

    /// Starts listening to a chat. Events for it are kept (up to [`INBOX_CAPACITY`]) until read
    /// from the returned inbox; dropping the inbox stops listening.
    pub fn subscribe(&self, chat_id: i64) -> ChatInbox {
        let slot = self
            .shard(chat_id)
            .lock()
            .expect("hub shard")
            .entry(chat_id)
            .or_default()
            .clone();
        slot.subscribers.fetch_add(1, Ordering::AcqRel);
        ChatInbox { chat_id, slot }
    }

    /// The next `message_id` for a bot message in this chat.
    pub fn next_message_id(&self, chat_id: i64) -> i64 {
        match self.slot(chat_id) {
            Some(slot) => slot.ids.next(),
            None => self.0.fallback_ids.next(),
        }
    }

    /// Hands an event to the chat's listener, or counts it as unclaimed.
    pub fn deliver(&self, event: BotEvent) {
        let counters = &self.0.counters;
        let Some(slot) = self
            .slot(event.chat_id)
            .filter(|s| s.subscribers.load(Ordering::Acquire) > 0)
        else {
            counters.unclaimed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        {
            let mut inbox = slot.inbox.lock().expect("chat inbox");
            if inbox.len() >= INBOX_CAPACITY {
                inbox.pop_front();
                counters.overflowed.fetch_add(1, Ordering::Relaxed);
            }
            inbox.push_back(event);
        }
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        slot.notify.notify_one();
    }

    pub fn stats(&self) -> HubStats {
        let c = &self.0.counters;
        HubStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            unclaimed: c.unclaimed.load(Ordering::Relaxed),
            overflowed: c.overflowed.load(Ordering::Relaxed),
        }
    }
}

/// A subscription to one chat's bot events.
#[derive(Debug)]
pub struct ChatInbox {
    chat_id: i64,
    slot: Arc<Slot>,
}

impl ChatInbox {
    pub fn chat_id(&self) -> i64 {
        self.chat_id
    }

    /// The chat's message_id counter, shared with the stand-in.
    pub fn message_ids(&self) -> Arc<ChatMessageIds> {
        self.slot.ids.clone()
    }

    /// The oldest unread event, if any.
    pub fn try_recv(&self) -> Option<BotEvent> {
        self.slot.inbox.lock().expect("chat inbox").pop_front()
    }

    /// Waits for the next event.
    pub async fn recv(&self) -> BotEvent {
        loop {
            if let Some(event) = self.try_recv() {
                return event;
            }
            // notify_one stores a permit when nobody waits, so an event delivered between the
            // check above and this await still wakes us.
            self.slot.notify.notified().await;
        }
    }

    /// The bot's events in this chat from `since` on, waiting until `deadline` for the first
    /// reply a user reads if none has come yet (no waiting without a deadline); and the time
    /// from `since` to that reply. Older events are answers to an earlier update.
    pub async fn collect(
        &self,
        since: Instant,
        deadline: Option<Instant>,
    ) -> (Vec<BotEvent>, Option<Duration>) {
        // All unread events at once, under one lock; the inbox keeps no buffer behind (an idle
        // user's chat then holds no memory), and the Vec reuses the deque's.
        let mut events = Vec::from(std::mem::take(
            &mut *self.slot.inbox.lock().expect("chat inbox"),
        ));
        events.retain(|e| e.at >= since);
        let first = |events: &[BotEvent]| {
            events
                .iter()
                .find(|e| e.is_reply())
                .map(|e| e.at.saturating_duration_since(since))
        };
        if let (None, Some(deadline)) = (first(&events), deadline) {
            while let Ok(e) = tokio::time::timeout_at(deadline.into(), self.recv()).await {
                if e.at < since {
                    continue;
                }
                let done = e.is_reply();
                events.push(e);
                if done {
                    break;
                }
            }
        }
        let reply = first(&events);
        (events, reply)
    }

    /// Forgets unread events (late answers to an earlier request), buffer included.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut *self.slot.inbox.lock().expect("chat inbox")).len()
    }
}

impl Drop for ChatInbox {
    fn drop(&mut self) {
        // The slot stays: it carries the chat's message_id sequence, which a later virtual user
        // in the same chat continues. Slots exist only for chats someone subscribed to.
        if self.slot.subscribers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::{EventKind, Via};

    fn event(chat_id: i64) -> BotEvent {
        BotEvent {
            chat_id,
            method: "sendMessage",
            kind: EventKind::Reply,
            message: None,
            note: None,
            at: Instant::now(),
            via: Via::Api,
        }
    }

    #[tokio::test]
    async fn delivers_to_the_subscribed_chat_only() {
        let hub = ReplyHub::default();
        let inbox = hub.subscribe(1);
        hub.deliver(event(2));
        hub.deliver(event(1));
        assert_eq!(inbox.recv().await.chat_id, 1);
        assert!(inbox.try_recv().is_none());
        assert_eq!(
            hub.stats(),
            HubStats {
                delivered: 1,
                unclaimed: 1,
                overflowed: 0
            }
        );
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken() {
        let hub = ReplyHub::default();
        let inbox = hub.subscribe(9);
        let h = hub.clone();
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            h.deliver(event(9));
        });
        assert_eq!(inbox.recv().await.chat_id, 9);
        sender.await.unwrap();
    }

    #[test]
    fn inbox_is_bounded_and_message_ids_are_shared() {
        let hub = ReplyHub::default();
        let inbox = hub.subscribe(3);
        for _ in 0..INBOX_CAPACITY + 5 {
            hub.deliver(event(3));
        }
        assert_eq!(hub.stats().overflowed, 5);
        assert_eq!(inbox.clear(), INBOX_CAPACITY);
        assert_eq!(inbox.message_ids().next(), 1);
        assert_eq!(hub.next_message_id(3), 2);
        let second = hub.subscribe(3);
        drop(inbox);
        hub.deliver(event(3));
        assert_eq!(hub.stats().unclaimed, 0, "the second inbox still listens");
        drop(second);
        hub.deliver(event(3));
        assert_eq!(hub.stats().unclaimed, 1);
        assert_eq!(
            hub.subscribe(3).message_ids().next(),
            3,
            "the chat's sequence continues"
        );
    }
}
