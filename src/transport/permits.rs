//! The run's `--max-connections` budget: how many requests may be in flight at once, across
//! every worker. Taking and giving back a permit are single atomic operations while nobody
//! waits; tokio's `Semaphore` takes its wait-list lock on every release, which would be a lock
//! shared by all workers on every request.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;

/// A counting semaphore with a lock-free fast path. Not fair: a request arriving as a permit is
/// given back may take it before a waiter does (the waiter waits for the next one).
#[derive(Debug)]
pub struct Permits {
    available: AtomicUsize,
    /// Acquirers registered to be woken.
    waiting: AtomicUsize,
    notify: Notify,
}

/// One request's permit; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a>(&'a Permits);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Counts an acquirer as waiting while it lives (a cancelled acquire stops counting too).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

impl Permits {
    pub fn new(permits: usize) -> Self {
        Self {
            available: AtomicUsize::new(permits),
            waiting: AtomicUsize::new(0),
            notify: Notify::new(),
        }
    }

    /// Permits not taken now.
    pub fn available(&self) -> usize {
        self.available.load(SeqCst)
    }

    fn try_take(&self) -> bool {
        self.available
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            if self.try_take() {
                return Permit(self);
            }
            // Registered before counting as waiting and looking again: a release that comes
            // after the look sees the count and wakes a registered waiter (or leaves Notify a
            // wake-up for the next one), so none is lost. A wake-up that finds the permit taken
            // by someone else just loops.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.fetch_add(1, SeqCst);
            let _waiting = Waiting(&self.waiting);
            if self.try_take() {
                return Permit(self);
            }
            notified.await;
        }
    }

    fn release(&self) {
        self.available.fetch_add(1, SeqCst);
        if self.waiting.load(SeqCst) > 0 {
            self.notify.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_in_flight_than_permits_and_nobody_is_left_waiting() {
        let permits = Arc::new(Permits::new(3));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (permits, in_flight, peak) = (permits.clone(), in_flight.clone(), peak.clone());
                tokio::spawn(async move {
                    for j in 0..200 {
                        let _permit = permits.acquire().await;
                        let now = in_flight.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        if (i + j) % 7 == 0 {
                            tokio::task::yield_now().await;
                        }
                        in_flight.fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in tasks {
            // A lost wake-up would hang here; the timeout turns it into a failure.
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("every acquirer got its permits")
                .unwrap();
        }
        assert!((1..=3).contains(&peak.load(SeqCst)), "{peak:?}");
        assert_eq!(permits.available(), 3);
        assert_eq!(permits.waiting.load(SeqCst), 0);
    }

    #[tokio::test]
    async fn a_cancelled_wait_takes_nothing_and_stops_counting() {
        let permits = Permits::new(1);
        let held = permits.acquire().await;
        // Polled once: it registers as a waiter, finds no permit, and is dropped.
        assert!(
            permits.acquire().now_or_never().is_none(),
            "no permit while one is held"
        );
        assert_eq!(permits.waiting.load(SeqCst), 0);
        drop(held);
        assert_eq!(permits.available(), 1);
        let _again = permits.acquire().await;
        assert_eq!(permits.available(), 0);
    }
}
