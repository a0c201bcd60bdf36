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

use crate::telegram::ids::ChatMessageIds;
use crate::telegram::{BotEvent, EventKind};

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

/// When a send stops collecting the bot's answer to its update.
///
/// The send waits for an answer (a reply; for a callback, its answer counts too) until
/// `deadline`. Once answered, it keeps collecting until the chat has been quiet for `quiet`,
/// still within `deadline`, so a second message for the same update (from a bot that answers
/// in parts, or acknowledges first and answers in the background, or polls) is not taken for
/// the answer to the next one. Whether the bot answered before acknowledging the webhook POST
/// says nothing: a bot that hands the update to a background task may send its first message
/// before its acknowledgement is read, and the rest after.
#[derive(Debug, Clone, Copy)]
pub struct Settle {
    pub deadline: Instant,
    /// Zero for a bot known to answer in full before it acknowledges (the demo bot).
    pub quiet: Duration,
    /// A callback query is answered by answerCallbackQuery alone (a chat action is not).
    pub callback: bool,
}

impl Settle {
    /// Until when to wait for the next event, or `None` when collecting is over.
    fn wait_until(&self, events: &[BotEvent]) -> Option<Instant> {
        let answered = events
            .iter()
            .any(|e| e.is_reply() || (self.callback && e.method == CALLBACK_ANSWER));
        if !answered {
            return (Instant::now() < self.deadline).then_some(self.deadline);
        }
        let last = events.iter().map(|e| e.at).max()?;
        if self.quiet.is_zero() {
            return None;
        }
        let until = (last + self.quiet).min(self.deadline);
        (Instant::now() < until).then_some(until)
    }
}

/// The method that answers a callback query.
const CALLBACK_ANSWER: &str = "answerCallbackQuery";

/// What a send collected of the bot's answer.
#[derive(Debug, Default)]
pub struct Collected {
    /// This update's events, in order of arrival.
    pub events: Vec<BotEvent>,
    /// From the update's delivery to the first and the last reply.
    pub first: Option<Duration>,
    pub last: Option<Duration>,
    /// From delivery to the first acknowledgement (a callback's answer, a chat action).
    pub ack: Option<Duration>,
    /// From delivery to the callback query's answer, if the bot answered one.
    pub callback_answer: Option<Duration>,
    /// Replies among the events.
    pub replies: u32,
    /// Replies to an earlier update that arrived after its send had returned.
    pub late: u32,
}

impl Collected {
    fn of(events: Vec<BotEvent>, since: Instant, late: u32) -> Self {
        let after = |e: &BotEvent| e.at.saturating_duration_since(since);
        let first = events.iter().find(|e| e.is_reply()).map(after);
        let last = events.iter().rev().find(|e| e.is_reply()).map(after);
        let ack = events.iter().find(|e| e.kind == EventKind::Ack).map(after);
        let replies = events.iter().filter(|e| e.is_reply()).count() as u32;
        let callback_answer = events
            .iter()
            .find(|e| e.method == CALLBACK_ANSWER)
            .map(after);
        Self {
            events,
            first,
            last,
            ack,
            callback_answer,
            replies,
            late,
        }
    }
}

/// Replies that repeat one the bot had already sent for the same update: `redelivered` holds
/// when each delivery after the first began, and a reply after one of them that matches a
/// reply from an earlier delivery (same method, same text or caption, same kind of media) is
/// a duplicate, as a bot that is not idempotent sends when it handles an update again. Within
/// one delivery, each earlier reply matches one repeat at most.
pub fn duplicates(events: &[BotEvent], redelivered: &[Instant]) -> u32 {
    type Shape<'a> = Option<(Option<&'a str>, Option<&'a str>, bool, bool, bool)>;
    fn shape(e: &BotEvent) -> Shape<'_> {
        e.message.as_ref().map(|m| {
            (
                m.text.as_deref(),
                m.caption.as_deref(),
                m.photo.is_some(),
                m.voice.is_some(),
                m.document.is_some(),
            )
        })
    }
    fn same(a: &BotEvent, b: &BotEvent) -> bool {
        a.method == b.method && a.note == b.note && shape(a) == shape(b)
    }
    if redelivered.is_empty() {
        return 0;
    }
    let replies: Vec<&BotEvent> = events.iter().filter(|e| e.is_reply()).collect();
    // The delivery a reply came in: how many redeliveries had begun by then.
    let delivery = |e: &BotEvent| redelivered.iter().filter(|at| **at <= e.at).count();
    let mut repeats = 0;
    for d in 1..=redelivered.len() {
        let mut earlier: Vec<&BotEvent> = replies
            .iter()
            .copied()
            .filter(|e| delivery(e) < d)
            .collect();
        for e in replies.iter().filter(|e| delivery(e) == d) {
            if let Some(i) = earlier.iter().position(|b| same(b, e)) {
                earlier.swap_remove(i);
                repeats += 1;
            }
        }
    }
    repeats
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

    /// What the bot did in this chat for the update delivered at `since`, by the rule in
    /// [`Settle`]: every event from `since` on belongs to this update (the user sends one
    /// update at a time, so none is for a later one); older unread events are the previous
    /// update's late replies, counted in [`Collected::late`].
    pub async fn collect(&self, since: Instant, settle: Option<Settle>) -> Collected {
        // All unread events at once, under one lock; the inbox keeps no buffer behind (an idle
        // user's chat then holds no memory), and the Vec reuses the deque's.
        let mut events = Vec::from(std::mem::take(
            &mut *self.slot.inbox.lock().expect("chat inbox"),
        ));
        let mut late = 0;
        events.retain(|e| {
            let current = e.at >= since;
            late += u32::from(!current && e.is_reply());
            current
        });
        if let Some(rule) = settle {
            while let Some(until) = rule.wait_until(&events) {
                match tokio::time::timeout_at(until.into(), self.recv()).await {
                    Ok(e) if e.at < since => late += u32::from(e.is_reply()),
                    Ok(e) => events.push(e),
                    Err(_) => break,
                }
            }
        }
        Collected::of(events, since, late)
    }

    /// Forgets unread events and says how many were replies: late answers to an update whose
    /// send has returned.
    pub fn drain_late(&self) -> u32 {
        let events = std::mem::take(&mut *self.slot.inbox.lock().expect("chat inbox"));
        events.iter().filter(|e| e.is_reply()).count() as u32
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

    fn at(chat_id: i64, method: &'static str, at: Instant) -> BotEvent {
        BotEvent {
            method,
            kind: EventKind::of(method).expect("a chat's method"),
            at,
            ..event(chat_id)
        }
    }

    fn settle(since: Instant, quiet: u64, callback: bool) -> Settle {
        Settle {
            deadline: since + Duration::from_secs(10),
            quiet: Duration::from_millis(quiet),
            callback,
        }
    }

    #[tokio::test]
    async fn without_quiet_a_send_is_done_at_its_first_answer() {
        let hub = ReplyHub::default();
        let inbox = hub.subscribe(4);
        let since = Instant::now();
        let ms = Duration::from_millis;
        hub.deliver(at(4, "sendChatAction", since + ms(1)));
        hub.deliver(at(4, "sendMessage", since + ms(2)));
        // The demo bot's rule: everything it does comes before it acknowledges.
        let c = inbox.collect(since, Some(settle(since, 0, false))).await;
        assert_eq!(
            (c.first, c.last, c.ack),
            (Some(ms(2)), Some(ms(2)), Some(ms(1)))
        );
        assert_eq!((c.events.len(), c.replies, c.late), (2, 1, 0));
    }

    #[tokio::test]
    async fn an_answer_is_collected_until_the_chat_is_quiet() {
        let hub = ReplyHub::default();
        let inbox = hub.subscribe(5);
        let since = Instant::now();
        let ms = Duration::from_millis;
        // An answer to the previous update, still unread: late, and not this update's.
        hub.deliver(at(5, "sendMessage", since - ms(5)));
        hub.deliver(at(5, "sendMessage", since + ms(3)));
        hub.deliver(at(5, "editMessageText", since + ms(8)));
        let c = inbox.collect(since, Some(settle(since, 20, false))).await;
        assert!(Instant::now() >= since + ms(8) + ms(20), "waited for quiet");
        assert_eq!(
            (c.first, c.last, c.replies, c.late),
            (Some(ms(3)), Some(ms(8)), 2, 1)
        );
        // What comes after the send returned is late for it.
        hub.deliver(at(5, "sendMessage", Instant::now()));
        hub.deliver(at(5, "sendChatAction", Instant::now()));
        assert_eq!(inbox.drain_late(), 1);
    }

    #[test]
    fn a_reply_repeated_after_a_redelivery_is_a_duplicate() {
        use crate::telegram::{Chat, ChatType, Message};
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let said = |text: &str, at: Instant| {
            let chat = Chat {
                id: 1,
                kind: ChatType::Private,
                title: None,
                username: None,
                first_name: None,
                last_name: None,
            };
            let mut m = Message::new(1, None, 0, chat);
            m.text = Some(text.into());
            BotEvent {
                message: Some(Box::new(m)),
                at,
                ..event(1)
            }
        };
        let redelivered = t0 + ms(10);
        let events = vec![
            said("hello", t0),
            said("menu", t0 + ms(1)),
            // The naive bot's second run: both again, and one new message.
            said("hello", redelivered),
            said("menu", redelivered + ms(1)),
            said("done", redelivered + ms(2)),
            said("hello", redelivered + ms(3)),
        ];
        assert_eq!(
            duplicates(&events, &[redelivered]),
            2,
            "each earlier reply once"
        );
        // An idempotent bot sends only what it had not: nothing repeats.
        assert_eq!(duplicates(&events[..2], &[redelivered]), 0);
        assert_eq!(duplicates(&[said("done", redelivered)], &[redelivered]), 0);
        assert_eq!(
            duplicates(&events, &[]),
            0,
            "one delivery: nothing to repeat"
        );
        // Handled three times: the third delivery repeats it too.
        let third = redelivered + ms(10);
        let thrice = [
            said("hello", t0),
            said("hello", redelivered),
            said("hello", third),
        ];
        assert_eq!(duplicates(&thrice, &[redelivered, third]), 2);
    }

    #[tokio::test]
    async fn a_callback_answered_alone_is_answered_and_a_silent_bot_is_missing() {
        let hub = ReplyHub::default();
        let inbox = hub.subscribe(6);
        let since = Instant::now();
        hub.deliver(at(6, "answerCallbackQuery", since));
        let c = inbox.collect(since, Some(settle(since, 20, true))).await;
        assert_eq!((c.first, c.ack, c.replies), (None, Some(Duration::ZERO), 0));
        let since = Instant::now();
        let gone = Settle {
            deadline: since,
            ..settle(since, 20, false)
        };
        let c = inbox.collect(since, Some(gone)).await;
        assert!(c.events.is_empty() && c.first.is_none());
        // Not awaited: whatever is there, at once.
        hub.deliver(at(6, "sendMessage", Instant::now()));
        assert_eq!(inbox.collect(since, None).await.replies, 1);
    }
}
