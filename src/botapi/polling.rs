//! Long polling as Telegram serves it: the virtual users' updates wait in a queue until the bot
//! fetches them with `getUpdates`.
//!
//! The rules are Telegram's: `offset` confirms every update below it (they are forgotten), an
//! update returned but not confirmed is returned again, `limit` is 1-100 (default 100), `timeout`
//! holds the request open until an update comes, and a newer `getUpdates` ends an older one still
//! waiting with 409 Conflict. Each queued update carries a signal its sender waits on: the moment
//! the bot first fetched it is the moment it was delivered.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use tokio::sync::{Notify, oneshot};

use super::ApiError;
use super::params::Params;

/// The longest a `getUpdates` is held open, whatever `timeout` it asks for. Telegram allows
/// long timeouts; a stand-in that must close at the end of a run keeps them shorter.
pub const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(50);

/// The longest a `getUpdates` made after the end of a run waits.
const AFTER_CLOSE: Duration = Duration::from_secs(1);

/// Telegram's largest `limit`.
const MAX_LIMIT: usize = 100;

#[derive(Debug)]
struct Pending {
    update_id: i64,
    body: Bytes,
    /// Taken when the bot first fetches the update.
    fetched: Option<oneshot::Sender<Instant>>,
}

#[derive(Debug, Default)]
struct State {
    /// Ordered by `update_id`.
    pending: VecDeque<Pending>,
    /// The newest `getUpdates`; an older one still waiting ends with 409.
    generation: u64,
    /// Set at the end of a run (the generation then): a `getUpdates` waiting then returns what
    /// it has at once; a later one waits a second at most, so a bot re-polling at once does not
    /// spin until the stand-in closes.
    closed_at: Option<u64>,
}

/// Counts of what the queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PollStats {
    /// getUpdates calls answered.
    pub polls: u64,
    /// Updates fetched for the first time.
    pub fetched: u64,
    /// Updates returned again because the bot had not confirmed them.
    pub refetched: u64,
    /// Updates confirmed with `offset`.
    pub confirmed: u64,
    /// Updates taken back because the bot did not fetch them within the send's timeout.
    pub expired: u64,
}

/// The updates waiting for a polling bot.
#[derive(Debug, Default)]
pub struct UpdateQueue {
    state: Mutex<State>,
    arrived: Notify,
    polls: AtomicU64,
    fetched: AtomicU64,
    refetched: AtomicU64,
    confirmed: AtomicU64,
    expired: AtomicU64,
}

/// A queued update; resolves to the moment the bot fetched it.
pub type Fetched = oneshot::Receiver<Instant>;

impl UpdateQueue {
    /// Queues an update (its JSON, as a webhook would carry it) for the bot's next `getUpdates`.
    pub fn push(&self, update_id: i64, body: Bytes) -> Fetched {
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.state.lock().expect("update queue");
            // Ids are drawn before their updates are queued, by many threads: almost always
            // the newest, otherwise put in order.
            let at = state
                .pending
                .iter()
                .rposition(|p| p.update_id < update_id)
                .map_or(0, |i| i + 1);
            state.pending.insert(
                at,
                Pending {
                    update_id,
                    body,
                    fetched: Some(tx),
                },
            );
        }
        self.arrived.notify_waiters();
        rx
    }

    /// Takes back an update the bot has not fetched (its send gave up); `false` if the bot has
    /// it already.
    pub fn withdraw(&self, update_id: i64) -> bool {
        let mut state = self.state.lock().expect("update queue");
        let Some(i) = state.pending.iter().position(|p| p.update_id == update_id) else {
            return false;
        };
        if state.pending[i].fetched.is_none() {
            return false;
        }
        state.pending.remove(i);
        self.expired.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Forgets every update not yet fetched (`deleteWebhook(drop_pending_updates)`); their
    /// senders see them expire.
    pub fn drop_pending(&self) -> usize {
        let mut state = self.state.lock().expect("update queue");
        let before = state.pending.len();
        state.pending.retain(|p| p.fetched.is_none());
        before - state.pending.len()
    }

    /// Ends every waiting `getUpdates` with what it has, and every later one at once.
    pub fn close(&self) {
        {
            let mut state = self.state.lock().expect("update queue");
            state.closed_at = Some(state.generation);
        }
        self.arrived.notify_waiters();
    }

    pub fn stats(&self) -> PollStats {
        PollStats {
            polls: self.polls.load(Ordering::Relaxed),
            fetched: self.fetched.load(Ordering::Relaxed),
            refetched: self.refetched.load(Ordering::Relaxed),
            confirmed: self.confirmed.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
        }
    }

    /// `getUpdates`: the JSON array of updates to answer with.
    pub async fn get_updates(&self, p: &Params) -> Result<Bytes, ApiError> {
        let offset = p.int("offset")?;
        let limit = match p.int("limit")? {
            None => MAX_LIMIT,
            Some(n) => (n.clamp(1, MAX_LIMIT as i64)) as usize,
        };
        let timeout = match p.int("timeout")? {
            Some(t) if t > 0 => Duration::from_secs(t as u64).min(MAX_POLL_TIMEOUT),
            _ => Duration::ZERO,
        };
        let mut deadline = tokio::time::Instant::now() + timeout;
        let generation = {
            let mut state = self.state.lock().expect("update queue");
            state.generation += 1;
            if let Some(offset) = offset {
                self.confirm(&mut state, offset);
            }
            if state.closed_at.is_some() {
                deadline = deadline.min(tokio::time::Instant::now() + AFTER_CLOSE);
            }
            state.generation
        };
        // Wakes an older request still waiting, which then answers 409.
        self.arrived.notify_waiters();
        self.polls.fetch_add(1, Ordering::Relaxed);
        loop {
            // Registered before looking, so an update queued in between still wakes us.
            let arrived = self.arrived.notified();
            {
                let mut state = self.state.lock().expect("update queue");
                if state.generation != generation {
                    return Err(ApiError::new(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only \
                         one bot instance is running",
                    ));
                }
                let closed = state.closed_at.is_some_and(|at| generation <= at);
                if !state.pending.is_empty() || closed {
                    return Ok(self.take(&mut state, limit));
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(Bytes::from_static(b"[]"));
            }
        }
    }

    /// Forgets the updates below `offset` that the bot has fetched. A negative offset keeps
    /// only the last `-offset` updates, as Telegram's does. An update the bot has never seen is
    /// kept whatever the offset (its id may have been drawn before a newer one was queued).
    fn confirm(&self, state: &mut State, offset: i64) {
        let before = state.pending.len();
        if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            let mut excess = before.saturating_sub(keep);
            state.pending.retain(|p| {
                let drop = excess > 0 && p.fetched.is_none();
                excess -= usize::from(drop);
                !drop
            });
        } else {
            state
                .pending
                .retain(|p| p.update_id >= offset || p.fetched.is_some());
        }
        let gone = (before - state.pending.len()) as u64;
        self.confirmed.fetch_add(gone, Ordering::Relaxed);
    }

    /// Up to `limit` updates as a JSON array, signalling those fetched for the first time.
    fn take(&self, state: &mut State, limit: usize) -> Bytes {
        let now = Instant::now();
        let taken = state.pending.iter_mut().take(limit);
        let mut out = BytesMut::with_capacity(2 + taken.len() * 600);
        out.put_u8(b'[');
        let (mut first, mut again) = (0, 0);
        for (i, p) in taken.enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            out.extend_from_slice(&p.body);
            match p.fetched.take() {
                Some(tx) => {
                    first += 1;
                    let _ = tx.send(now);
                }
                None => again += 1,
            }
        }
        out.put_u8(b']');
        self.fetched.fetch_add(first, Ordering::Relaxed);
        self.refetched.fetch_add(again, Ordering::Relaxed);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, serde_json::Value)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    }

    fn update(id: i64) -> Bytes {
        Bytes::from(format!(r#"{{"update_id":{id}}}"#))
    }

    fn ids(body: &Bytes) -> Vec<i64> {
        let v: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
        v.iter().map(|u| u["update_id"].as_i64().unwrap()).collect()
    }

    #[tokio::test]
    async fn offset_confirms_and_unconfirmed_updates_come_again() {
        let q = UpdateQueue::default();
        let mut a = q.push(2, update(2));
        let _b = q.push(1, update(1));
        let _c = q.push(3, update(3));
        let got = q
            .get_updates(&params(&[("limit", 2.into())]))
            .await
            .unwrap();
        assert_eq!(ids(&got), [1, 2], "in update_id order, at most limit");
        assert!(
            a.try_recv().is_ok(),
            "the sender learns when it was fetched"
        );
        let got = q.get_updates(&params(&[])).await.unwrap();
        assert_eq!(ids(&got), [1, 2, 3], "not confirmed: returned again");
        let got = q
            .get_updates(&params(&[("offset", 3.into())]))
            .await
            .unwrap();
        assert_eq!(ids(&got), [3]);
        assert_eq!(
            q.stats(),
            PollStats {
                polls: 3,
                fetched: 3,
                refetched: 3,
                confirmed: 2,
                expired: 0
            }
        );
    }

    #[tokio::test]
    async fn an_update_never_fetched_survives_a_later_offset() {
        let q = UpdateQueue::default();
        let _a = q.push(5, update(5));
        q.get_updates(&params(&[])).await.unwrap();
        // Id 4 was drawn before 5 but queued after the bot saw 5.
        let _b = q.push(4, update(4));
        let got = q
            .get_updates(&params(&[("offset", 6.into())]))
            .await
            .unwrap();
        assert_eq!(ids(&got), [4]);
    }

    #[tokio::test]
    async fn a_long_poll_waits_for_an_update_and_a_newer_one_ends_it() {
        let q = std::sync::Arc::new(UpdateQueue::default());
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.get_updates(&params(&[("timeout", 30.into())])).await })
        };
        tokio::task::yield_now().await;
        let _a = q.push(1, update(1));
        assert_eq!(ids(&waiting.await.unwrap().unwrap()), [1]);

        let older = {
            let q = q.clone();
            tokio::spawn(async move {
                q.get_updates(&params(&[("offset", 2.into()), ("timeout", 30.into())]))
                    .await
            })
        };
        // Until the older one is waiting (it confirmed update 1), a newer one would race it.
        while q.stats().confirmed == 0 {
            tokio::task::yield_now().await;
        }
        let newer = {
            let q = q.clone();
            tokio::spawn(async move {
                q.get_updates(&params(&[("offset", 2.into()), ("timeout", 30.into())]))
                    .await
            })
        };
        assert_eq!(older.await.unwrap().unwrap_err().code, 409);
        q.close();
        assert_eq!(newer.await.unwrap().unwrap().as_ref(), b"[]");
    }

    #[tokio::test]
    async fn after_the_end_a_new_poll_waits_a_second_not_its_timeout_and_not_zero() {
        let q = UpdateQueue::default();
        q.close();
        let began = std::time::Instant::now();
        let got = q
            .get_updates(&params(&[("timeout", 30.into())]))
            .await
            .unwrap();
        assert_eq!(got.as_ref(), b"[]");
        let waited = began.elapsed();
        // Never early; the upper bound only says it was not the 30 s asked.
        assert!(waited >= AFTER_CLOSE, "no spinning: {waited:?}");
        assert!(waited < Duration::from_secs(20), "no 30 s hold: {waited:?}");
    }

    #[tokio::test]
    async fn withdrawn_and_dropped_updates_are_not_served() {
        let q = UpdateQueue::default();
        let _a = q.push(1, update(1));
        let _b = q.push(2, update(2));
        assert!(q.withdraw(1));
        assert_eq!(q.drop_pending(), 1);
        assert!(!q.withdraw(2));
        assert_eq!(q.get_updates(&params(&[])).await.unwrap().as_ref(), b"[]");
        assert_eq!(q.stats().expired, 1);
    }
}
