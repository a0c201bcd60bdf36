//! The open model (`--arrival-rate`): task starts come at a fixed rate whatever the bot does,
//! as people's messages reach Telegram, and a free user takes each one. When no user of the
//! start's class is free at its time, the start is dropped and counted, never delayed: a stalled
//! bot shows as dropped starts and as tasks whose time counts from when they should have
//! started (no coordinated omission).
//!
//! Each worker thread paces its share of the rate on its own timer, with the users it runs;
//! classes take the starts in the exact proportion of their weights ([`ClassSplit`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::timer::Timer;
use crate::profile::{ArrivalPlan, ClassSplit};
use crate::script::ClassTable;
use crate::stats::Recorder;

/// The users of one worker, by class: how many it runs, and the free ones waiting for their
/// next start.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    idle: RefCell<Vec<VecDeque<oneshot::Sender<Instant>>>>,
    /// Users of each class on this worker.
    members: RefCell<Vec<u32>>,
    /// Bumped whenever `members` changes, for the pacer to split anew.
    changes: std::cell::Cell<u64>,
}

impl Arrivals {
    /// A user of `class` joins (it will ask for starts until it `leave`s).
    pub fn join(&self, class: usize) {
        let mut members = self.members.borrow_mut();
        if members.len() <= class {
            members.resize(class + 1, 0);
        }
        members[class] += 1;
        self.changes.set(self.changes.get() + 1);
    }

    pub fn leave(&self, class: usize) {
        if let Some(n) = self.members.borrow_mut().get_mut(class) {
            *n = n.saturating_sub(1);
        }
        self.changes.set(self.changes.get() + 1);
    }

    /// Waits, as a free user of `class`, for a start; resolves to the moment the task should
    /// have started. `None` when the run ends first (the pacer is gone).
    pub async fn next_start(&self, class: usize) -> Option<Instant> {
        let (tx, rx) = oneshot::channel();
        {
            let mut idle = self.idle.borrow_mut();
            if idle.len() <= class {
                idle.resize_with(class + 1, VecDeque::new);
            }
            idle[class].push_back(tx);
        }
        rx.await.ok()
    }

    /// Gives a start due at `due` to the longest-free user of `class`; `false` if none is
    /// free (a user that stopped waiting is skipped).
    fn start(&self, class: usize, due: Instant) -> bool {
        let mut idle = self.idle.borrow_mut();
        let Some(queue) = idle.get_mut(class) else {
            return false;
        };
        while let Some(user) = queue.pop_front() {
            if user.send(due).is_ok() {
                return true;
            }
        }
        false
    }

    /// Forgets the free users: their waits end with `None`.
    pub fn close(&self) {
        self.idle.borrow_mut().clear();
    }
}

/// One worker's part of the plan: the workers take the plan's starts in turn (worker `index`
/// of `workers` takes starts index+1, index+1+workers, ...), timed from `started`, the end of
/// the run's warm-up.
#[derive(Debug, Clone)]
pub(crate) struct Share {
    pub plan: ArrivalPlan,
    pub index: usize,
    pub workers: usize,
    pub started: Instant,
}

impl Share {
    /// This worker's start after one due at `due`: where the plan has `workers` more starts
    /// due (ramps and pauses included); `None` past the plan's end.
    fn next(&self, due: Instant) -> Option<Instant> {
        let t = due.saturating_duration_since(self.started);
        self.plan
            .after(t, self.workers as f64)
            .map(|t| self.started + t)
    }

    /// This worker's first start: the plan's `index + 1`-th.
    fn first(&self) -> Option<Instant> {
        self.plan
            .after(Duration::ZERO, (self.index + 1) as f64)
            .map(|t| self.started + t)
    }
}

/// Paces one worker's share of the starts: each goes to a free user of the class a split by
/// this worker's own users gives (so the classes' weights hold across workers, as the
/// scheduler placed their users), or is counted as dropped. A late wake-up makes up the starts
/// it missed, each with its own due time, and records its lateness. Ends with the plan (or
/// when the worker drops it).
pub(crate) async fn pace(
    arrivals: Rc<Arrivals>,
    classes: std::sync::Arc<ClassTable>,
    share: Share,
    timer: Option<Timer>,
    recorder: Rc<RefCell<Recorder>>,
) {
    // Starts follow this worker's users; with none yet, a drop is put down to the class the
    // declared weights give.
    let mut split: Option<ClassSplit> = None;
    let mut declared = ClassSplit::new(&classes.weights());
    let mut seen = u64::MAX;
    let Some(mut due) = share.first() else {
        return;
    };
    loop {
        match &timer {
            Some(t) => t.sleep_until(due).await,
            None => tokio::time::sleep_until(due.into()).await,
        }
        let now = Instant::now();
        recorder
            .borrow_mut()
            .lateness(now.saturating_duration_since(due));
        if arrivals.changes.get() != seen {
            seen = arrivals.changes.get();
            let members = arrivals.members.borrow();
            split = members
                .iter()
                .any(|n| *n > 0)
                .then(|| ClassSplit::new(&members));
        }
        // Every start due by now, in order.
        while due <= now {
            let (class, taken) = match &mut split {
                Some(split) => {
                    let class = split.add();
                    (class, arrivals.start(class, due))
                }
                None => (declared.add(), false),
            };
            if !taken {
                let name = classes.slot(class).load().decl.name.clone();
                recorder.borrow_mut().dropped(&name);
            }
            match share.next(due) {
                Some(next) => due = next,
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_start_goes_to_the_longest_free_user_of_its_class() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let a = Rc::new(Arrivals::default());
                let waiter = |class| {
                    let a = a.clone();
                    tokio::task::spawn_local(async move { a.next_start(class).await })
                };
                let (first, second) = (waiter(1), waiter(1));
                tokio::task::yield_now().await;
                let (early, late) = (Instant::now(), Instant::now() + Duration::from_millis(1));
                assert!(!a.start(0, early), "no free user of class 0");
                assert!(a.start(1, early));
                assert!(a.start(1, late));
                assert!(!a.start(1, late), "both taken");
                assert_eq!(first.await.unwrap(), Some(early), "the longest free first");
                assert_eq!(second.await.unwrap(), Some(late));
                let third = waiter(0);
                tokio::task::yield_now().await;
                a.close();
                assert_eq!(third.await.unwrap(), None, "the run ended");
            })
            .await;
    }
}
