//! A worker's wait timer: a wait ends at most [`GAP`] late, and sooner when few are due at
//! once.
//!
//! tokio's timer rounds a deadline up to its next millisecond tick, and its driver parks for a
//! whole number of milliseconds counted from the tick it is in, so a wait can end up to two
//! ticks late (docs/design-notes.md has the lateness of both measured). Here a worker keeps its users' deadlines
//! in one ordered map and arms one Linux timerfd (CLOCK_MONOTONIC, nanoseconds, the clock
//! `Instant` reads) for the earliest. tokio's reactor wakes on the fd as on a socket; the
//! driver task wakes every user whose deadline has passed and arms the fd for the next. A
//! deadline is never met early: a user resumes only once `Instant::now()` has reached it.
//!
//! Firings are at least [`GAP`] apart, so the thread wakes no more often than with
//! tokio's timer: a wait ends at most one gap late when deadlines are dense, and soon after its
//! deadline when they are not. Costs: an insertion into the map per wait, and per firing one
//! `read` and one `timerfd_settime`; a new wait re-arms the fd only when it is due before the
//! armed firing.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// The least time between two firings: deadlines closer than this to the last firing are met
/// together, at most this late. A firing wakes the thread from `epoll_wait` and re-arms the fd,
/// so a shorter gap (or none) costs more CPU than tokio's timer and this one costs the same
/// (docs/design-notes.md). tokio's timer also wakes at most once a millisecond.
const GAP: Duration = Duration::from_millis(1);

/// A deadline, made unique by the order it was asked for in.
type Key = (Instant, u64);

struct TimerState {
    fd: AsyncFd<OwnedFd>,
    waiting: RefCell<BTreeMap<Key, Waker>>,
    /// When the fd is armed to fire, if it is armed.
    armed: Cell<Option<Instant>>,
    /// When it last fired.
    fired: Cell<Instant>,
    next_seq: Cell<u64>,
}

/// One worker's timer. Cloning shares it.
#[derive(Clone)]
pub(crate) struct Timer(Rc<TimerState>);

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("waiting", &self.0.waiting.borrow().len())
            .field("armed", &self.0.armed.get())
            .finish()
    }
}

impl Timer {
    /// A timer on the current tokio runtime (it registers a file descriptor with its reactor),
    /// and the task that fires it, to be spawned on the same thread and aborted when done.
    pub fn new() -> io::Result<(Self, impl Future<Output = ()>)> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: an OwnedFd's raw fd is the one it owns, open until the OwnedFd (here moved
        // into the AsyncFd) is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        let inner = Rc::new(TimerState {
            fd,
            waiting: RefCell::new(BTreeMap::new()),
            armed: Cell::new(None),
            fired: Cell::new(Instant::now().checked_sub(GAP).unwrap_or_else(Instant::now)),
            next_seq: Cell::new(0),
        });
        let driver = drive(inner.clone());
        Ok((Self(inner), driver))
    }

    /// A future that completes once `deadline` has passed.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        let seq = self.0.next_seq.get();
        self.0.next_seq.set(seq + 1);
        Sleep {
            timer: self.0.clone(),
            key: (deadline, seq),
            registered: false,
        }
    }

    /// Users waiting.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.0.waiting.borrow().len()
    }
}

impl TimerState {
    /// When the fd should fire for `deadline`: at it, but not sooner than [`GAP`] after the
    /// last firing.
    fn firing_for(&self, deadline: Instant) -> Instant {
        deadline.max(self.fired.get() + GAP)
    }

    /// Arms the fd to fire at `at` (relative to now: the kernel adds the time since, so the fd
    /// fires at or after it, never before).
    fn arm(&self, at: Instant) {
        let wait = at
            .saturating_duration_since(Instant::now())
            // An all-zero value would disarm the fd.
            .max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: wait.as_secs() as _,
                tv_nsec: wait.subsec_nanos() as _,
            },
        };
        // Fails only for an invalid fd or value; neither can happen here. Were it to, the
        // deadline would be met at the next firing or arming instead of being lost.
        if timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec).is_ok() {
            self.armed.set(Some(at));
        }
    }

    /// Wakes every user whose deadline has passed, then arms the fd for the next one.
    fn fire(&self) {
        let now = Instant::now();
        self.fired.set(now);
        let due = {
            let mut waiting = self.waiting.borrow_mut();
            // Everything up to `now`, whatever its sequence number.
            let later = waiting.split_off(&(now, u64::MAX));
            let due = std::mem::replace(&mut *waiting, later);
            self.armed.set(None);
            if let Some(((next, _), _)) = waiting.first_key_value() {
                self.arm(self.firing_for(*next));
            }
            due
        };
        // Woken with the map released: a waker may do anything, even drop a wait.
        for waker in due.into_values() {
            waker.wake();
        }
    }
}

/// Fires the timer each time its fd says so; it runs until its worker aborts it.
async fn drive(timer: Rc<TimerState>) {
    loop {
        let Ok(mut ready) = timer.fd.readable().await else {
            // The reactor is shutting down: the worker is ending.
            return;
        };
        // The expiration count is not needed; reading it resets the fd's readiness. A read
        // that finds nothing (an expiry replaced by an arming) is harmless: the deadlines are
        // checked either way.
        let mut count = [0u8; 8];
        let _ = rustix::io::read(timer.fd.get_ref(), &mut count);
        ready.clear_ready();
        timer.fire();
    }
}

/// A wait on a [`Timer`]. Dropping it before its deadline withdraws it.
pub(crate) struct Sleep {
    timer: Rc<TimerState>,
    key: Key,
    registered: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.key.0 {
            if this.registered {
                this.timer.waiting.borrow_mut().remove(&this.key);
                this.registered = false;
            }
            return Poll::Ready(());
        }
        let mut waiting = this.timer.waiting.borrow_mut();
        if this.registered {
            // Not yet due, so still in the map: the driver removes only what is due.
            if let Some(waker) = waiting.get_mut(&this.key)
                && !waker.will_wake(cx.waker())
            {
                *waker = cx.waker().clone();
            }
        } else {
            waiting.insert(this.key, cx.waker().clone());
            this.registered = true;
            let at = this.timer.firing_for(this.key.0);
            if this.timer.armed.get().is_none_or(|armed| at < armed) {
                this.timer.arm(at);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.registered {
            // The fd may stay armed for this deadline; firing for nothing then re-arms it.
            self.timer.waiting.borrow_mut().remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn poll_once(sleep: Pin<&mut Sleep>) -> Poll<()> {
        sleep.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Runs `f` with a timer on a current-thread runtime, its driver running beside.
    fn with_timer<F: Future>(f: impl FnOnce(Timer) -> F) -> F::Output {
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime(), async {
            let (timer, driver) = Timer::new().expect("timerfd");
            tokio::task::spawn_local(driver);
            // A timer that never fires fails the test instead of hanging it.
            tokio::time::timeout(Duration::from_secs(60), f(timer))
                .await
                .expect("the timer stalled")
        })
    }

    #[test]
    fn waits_end_in_deadline_order_and_never_early() {
        let ends = with_timer(|timer| async move {
            // Deadlines 0.5 ms apart, the first 100 ms away: every wait is registered (at the
            // first turn of the task set) long before any is due.
            let start = Instant::now() + Duration::from_millis(100);
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            // Spawned out of order.
            for i in [5u64, 1, 4, 0, 3, 2] {
                let (timer, order) = (timer.clone(), order.clone());
                let deadline = start + Duration::from_micros(500 * i);
                tasks.push(tokio::task::spawn_local(async move {
                    timer.sleep_until(deadline).await;
                    let now = Instant::now();
                    assert!(now >= deadline, "woke {:?} early", deadline - now);
                    order.borrow_mut().push(i);
                }));
            }
            for t in tasks {
                t.await.expect("sleeper");
            }
            assert_eq!(timer.waiting(), 0);
            order.take()
        });
        assert_eq!(ends, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_later_wait_does_not_delay_an_earlier_one_asked_after_it() {
        with_timer(|timer| async move {
            let start = Instant::now();
            // Arms the fd for an hour away; the next wait must re-arm it.
            let far = tokio::task::spawn_local({
                let timer = timer.clone();
                async move { timer.sleep_until(start + Duration::from_secs(3600)).await }
            });
            tokio::task::yield_now().await;
            let near = start + Duration::from_millis(1);
            timer.sleep_until(near).await;
            assert!(Instant::now() >= near);
            far.abort();
            let _ = far.await;
            assert_eq!(timer.waiting(), 0, "an aborted wait is withdrawn");
        });
    }

    #[test]
    fn a_dropped_wait_is_withdrawn_and_the_rest_still_fire() {
        with_timer(|timer| async move {
            let start = Instant::now();
            let first = start + Duration::from_millis(1);
            let mut dropped = timer.sleep_until(first);
            // Registers it, then gives up on it: the fd stays armed for a deadline nobody
            // waits for any more.
            assert!(poll_once(Pin::new(&mut dropped)).is_pending());
            assert_eq!(timer.waiting(), 1);
            drop(dropped);
            assert_eq!(timer.waiting(), 0);
            let later = start + Duration::from_millis(3);
            timer.sleep_until(later).await;
            assert!(Instant::now() >= later);
            assert_eq!(timer.waiting(), 0);
        });
    }

    #[test]
    fn a_deadline_just_after_a_firing_waits_for_the_gap() {
        with_timer(|timer| async move {
            // As if the fd fired 100 ms from now (far enough for the wait below to register
            // before anything is due), with a deadline a tenth of a gap after that.
            let fired = Instant::now() + Duration::from_millis(100);
            timer.0.fired.set(fired);
            let deadline = fired + GAP / 10;
            // In a task of its own, woken by nothing but the timer (the test's own future is
            // polled whenever any task is, and a wait polled after its deadline ends).
            let wait = tokio::task::spawn_local({
                let timer = timer.clone();
                async move {
                    timer.sleep_until(deadline).await;
                    Instant::now()
                }
            });
            let woke = wait.await.expect("the wait");
            assert!(
                woke >= fired + GAP,
                "woke {:?} into the gap",
                fired + GAP - woke
            );
            assert!(timer.0.fired.get() >= fired + GAP);
        });
    }

    #[test]
    fn the_next_firing_is_the_deadline_or_a_gap_after_the_last() {
        with_timer(|timer| async move {
            let fired = Instant::now();
            timer.0.fired.set(fired);
            assert_eq!(timer.0.firing_for(fired + GAP / 10), fired + GAP);
            assert_eq!(timer.0.firing_for(fired + GAP * 3), fired + GAP * 3);
            assert_eq!(timer.0.firing_for(fired), fired + GAP);
        });
    }

    #[test]
    fn a_deadline_already_past_is_ready_at_once() {
        with_timer(|timer| async move {
            let past = Instant::now();
            let mut sleep = timer.sleep_until(past);
            assert!(poll_once(Pin::new(&mut sleep)).is_ready());
            assert_eq!(timer.waiting(), 0);
        });
    }
}
