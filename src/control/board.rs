//! What the dashboard's server shows: nothing yet (`stress web` before a run), a run going on,
//! or the last run's results; and how `stress web` starts the next run, through [`Starter`],
//! which the command layer implements.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{ControlState, StartRequest};
use crate::report::Summary;
use crate::report::view::{Live, View};
use crate::scheduler::SchedulerStatus;

/// Starts runs for `stress web` (the command layer builds them; this layer only asks).
pub trait Starter: Send + Sync {
    /// The start form's first values: `profile`, `users`, `spawn_rate`, `run_time`.
    fn defaults(&self) -> serde_json::Value;
    /// Checks `request` and starts the run in the background, telling `board` when it is
    /// live and when it ends. An error is the refusal to show, in plain words.
    fn start(&self, board: Arc<Board>, request: StartRequest) -> Result<(), String>;
}

/// A run that ended, as the page keeps showing it.
#[derive(Debug)]
pub struct Finished {
    pub summary: Summary,
    /// Stopped before its profile ended (the Stop button, Ctrl-C).
    pub stopped: bool,
}

/// What the server shows now.
#[derive(Clone)]
pub(super) enum Shown {
    /// `stress web` before a run, or after one that could not start (why).
    Idle(Option<String>),
    /// `POST /api/start` accepted; the run is being set up.
    Starting,
    Live(Arc<ControlState>),
    /// The run's users are being stopped and its last seconds settled.
    Ending(Arc<ControlState>),
    Done(Arc<Finished>),
}

/// The server's state: its guard (token, address), the run it shows, and for `stress web`
/// how to start the next one.
pub struct Board {
    pub(super) token: Option<String>,
    pub(super) bound: SocketAddr,
    pub(super) shown: RwLock<Shown>,
    pub(super) starter: Option<Arc<dyn Starter>>,
    /// When a page last asked for the statistics, and whether one has had the final ones.
    watched: Mutex<Option<Instant>>,
    final_seen: AtomicBool,
}

impl Board {
    /// A server with no run yet (`stress web`).
    pub fn idle(token: Option<String>, bound: SocketAddr, starter: Arc<dyn Starter>) -> Arc<Self> {
        Arc::new(Board {
            token,
            bound,
            shown: RwLock::new(Shown::Idle(None)),
            starter: Some(starter),
            watched: Mutex::new(None),
            final_seen: AtomicBool::new(false),
        })
    }

    /// A server of one run (`stress run --control`).
    pub(super) fn single(
        token: Option<String>,
        bound: SocketAddr,
        state: Arc<ControlState>,
    ) -> Arc<Self> {
        Arc::new(Board {
            token,
            bound,
            shown: RwLock::new(Shown::Live(state)),
            starter: None,
            watched: Mutex::new(None),
            final_seen: AtomicBool::new(false),
        })
    }

    /// A page asked for the statistics; `final_view` when it got a finished run's.
    pub(super) fn polled(&self, final_view: bool) {
        *self.watched.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if final_view {
            self.final_seen.store(true, Ordering::Relaxed);
        }
    }

    /// Once the run is over: while a page that was watching (it polled in the last few
    /// seconds) has not fetched the final statistics, waits for it, `linger` at most.
    pub(super) async fn until_seen(&self, linger: Duration) {
        let recently = |at: Option<Instant>| at.is_some_and(|t| t.elapsed() < linger);
        if !recently(*self.watched.lock().unwrap_or_else(|e| e.into_inner())) {
            return;
        }
        let deadline = Instant::now() + linger;
        while !self.final_seen.load(Ordering::Relaxed) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) fn set(&self, shown: Shown) {
        *self.shown.write().unwrap_or_else(|e| e.into_inner()) = shown;
    }

    pub(super) fn shown(&self) -> Shown {
        self.shown.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The run has started: its statistics and controls are what the server shows.
    pub fn live(&self, state: Arc<ControlState>) {
        self.set(Shown::Live(state));
    }

    /// The run ended: its final results stay on screen until the next one starts.
    pub fn finished(&self, finished: Finished) {
        self.set(Shown::Done(Arc::new(finished)));
    }

    /// The run could not start (or failed): the page says why.
    pub fn failed(&self, why: String) {
        self.set(Shown::Idle(Some(why)));
    }

    /// The run's users are being stopped.
    pub(super) fn ending(&self) {
        let shown = self.shown();
        if let Shown::Live(state) = shown {
            self.set(Shown::Ending(state));
        }
    }
}

/// The state's word for the page and `/api/status`.
pub(super) fn state_word(shown: &Shown, status: Option<&SchedulerStatus>) -> &'static str {
    match shown {
        Shown::Idle(_) => "idle",
        Shown::Starting => "starting",
        Shown::Live(_) if status.is_some_and(|s| s.remaining_s <= 0.0 && s.elapsed_s > 0.0) => {
            "ending"
        }
        Shown::Live(_) => "running",
        Shown::Ending(_) => "ending",
        Shown::Done(f) if f.stopped => "stopped",
        Shown::Done(_) => "finished",
    }
}

/// The view the page shows: the run going on, the last one's results, or an empty one.
pub(super) fn view(board: &Board, since: Option<u64>) -> View {
    let shown = board.shown();
    match &shown {
        Shown::Live(state) | Shown::Ending(state) => {
            let snapshot = state.snapshot.borrow().clone();
            let status = state.status.borrow().clone();
            let live = Live {
                remaining_s: status.remaining_s,
                users: status.users,
                goal_users: status.goal_users,
                spawn_rate: status.spawn_rate,
                version: state.table.version(),
                classes: state
                    .table
                    .slots()
                    .iter()
                    .enumerate()
                    .map(|(i, slot)| {
                        let running = status.per_class.get(i).copied().unwrap_or(0);
                        (running, slot.load().version)
                    })
                    .collect(),
                since,
            };
            let mut view = View::of(&snapshot.summary, Some(&live));
            view.state = state_word(&shown, Some(&status));
            view
        }
        Shown::Done(f) => {
            let mut view = View::of(&f.summary, None);
            view.state = state_word(&shown, None);
            if let Some(t) = since {
                view.history.retain(|p| p.t > t);
            }
            view
        }
        Shown::Idle(why) => {
            let mut view = View::of(&Summary::default(), None);
            view.state = "idle";
            view.about = match why {
                Some(why) => format!("the run could not start: {why}"),
                None => "no run yet: start one".into(),
            };
            view
        }
        Shown::Starting => {
            let mut view = View::of(&Summary::default(), None);
            view.state = "starting";
            view.about = "starting the run".into();
            view
        }
    }
}
