//! Worker threads: one OS thread with a current-thread tokio runtime per core. A worker owns
//! its users, its connections and its recorder; nothing on the hot path is shared between
//! threads but the in-flight semaphore and the update-id counter (both atomics).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, LocalSet};

use super::timer::Timer;
use super::user::{Control, EndSink, Env, RunOptions, Vu, VuSpec};
use crate::botapi::BotApi;
use crate::script::ClassTable;
use crate::stats::Recorder;
use crate::stats::aggregate::StatsMsg;
use crate::stats::names::{LocalNames, NameLimits};
use crate::telegram::{TierPools, UpdateIds};
use crate::transport::{
    HttpTarget, HttpTransport, MemoryTransport, PollTransport, Secret, Transport,
};

/// How each worker builds its transport.
#[derive(Debug, Clone)]
pub enum TransportSpec {
    Http {
        target: Arc<HttpTarget>,
        /// `--max-connections`: each worker has its share (`share_of`), so the budget takes
        /// no lock shared between threads. There are never more workers than connections.
        max_connections: usize,
        timeout: Duration,
        secret: Secret,
    },
    Memory(MemoryTransport),
    /// Queued for a polling bot's getUpdates.
    Polling(PollTransport),
}

impl TransportSpec {
    /// Worker `index`'s transport, of `workers`.
    fn build(&self, index: usize, workers: usize) -> Transport {
        match self {
            TransportSpec::Http {
                target,
                max_connections,
                timeout,
                secret,
            } => Transport::Http(HttpTransport::new(
                target.clone(),
                Arc::new(Semaphore::new(share_of(*max_connections, index, workers))),
                *timeout,
                secret.clone(),
            )),
            TransportSpec::Memory(m) => Transport::Memory(m.clone()),
            TransportSpec::Polling(p) => Transport::Polling(p.clone()),
        }
    }
}

/// Worker `index`'s share of `total` connections: as even as can be, the first ones one more.
/// `config` keeps workers to at most the connections; were there more, a worker would still get
/// one (a worker with none would wait forever, outside any timeout).
fn share_of(total: usize, index: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    (total / workers + usize::from(index < total % workers)).max(1)
}

/// What every worker shares, read-only.
#[derive(Debug)]
pub struct WorkerShared {
    pub classes: Arc<ClassTable>,
    pub transport: TransportSpec,
    pub api: Arc<BotApi>,
    pub update_ids: Arc<UpdateIds>,
    pub pools: TierPools,
    pub options: RunOptions,
    pub stats: mpsc::UnboundedSender<StatsMsg>,
    /// The run's limits on distinct request, check and error names.
    pub names: Arc<NameLimits>,
    /// Users that ended (by themselves, or stopped): their numbers.
    pub ended: mpsc::UnboundedSender<u64>,
    pub started: Instant,
    /// Worker threads in the run (they share the process's stack budget).
    pub workers: usize,
}

/// What the scheduler tells a worker.
#[derive(Debug)]
pub enum WorkerCmd {
    Spawn(VuSpec),
    /// Stop one user after its current task.
    Stop(u64),
    /// Stop every user; tasks still running at `deadline` are abandoned. A later one with an
    /// earlier deadline moves it.
    StopAll {
        deadline: Instant,
    },
}

/// How a worker ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerEnd {
    /// Users still in a task (or `on_stop`) at the stop deadline.
    pub abandoned: u64,
}

/// A running worker thread.
#[derive(Debug)]
pub struct Worker {
    tx: mpsc::UnboundedSender<WorkerCmd>,
    /// The worker's end, sent once its users are gone and its statistics flushed, before the
    /// thread tears its runtime and stack pool down.
    end: std::sync::mpsc::Receiver<WorkerEnd>,
    thread: std::thread::JoinHandle<()>,
}

impl Worker {
    pub fn start(index: usize, shared: Arc<WorkerShared>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (end_tx, end) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("stress-worker-{index}"))
            .spawn(move || {
                let local = LocalSet::new();
                let ended = local.block_on(&runtime, work(index, shared, rx));
                let _ = end_tx.send(ended);
                // Tearing down (tens of thousands of pooled stacks to unmap after a large run)
                // happens after the end is reported, while the run writes its results.
                drop(local);
                drop(runtime);
            })?;
        Ok(Self { tx, end, thread })
    }

    /// Sends a command; a worker that is gone has nothing left to do with it.
    pub fn send(&self, command: WorkerCmd) {
        let _ = self.tx.send(command);
    }

    /// A sender of commands that outlives [`join`](Self::join)'s hold on the worker: a second
    /// `StopAll` with an earlier deadline cuts the stop short.
    pub fn commands(&self) -> mpsc::UnboundedSender<WorkerCmd> {
        self.tx.clone()
    }

    /// Waits for the worker to end (after [`WorkerCmd::StopAll`]): its users gone, its
    /// statistics sent. The thread may still be tearing down, on its own. A panic in the thread
    /// (a bug: its statistics are lost) comes back as its message.
    pub fn join(self) -> Result<WorkerEnd, String> {
        drop(self.tx);
        if let Ok(end) = self.end.recv() {
            return Ok(end);
        }
        match self.thread.join() {
            Ok(()) => Err("the worker ended without a report".into()),
            Err(panic) => Err(panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into())),
        }
    }
}

type Users = Rc<RefCell<HashMap<u64, (Rc<Control>, JoinHandle<()>)>>>;

/// The open model's plan starts this long after the run's start, when the pool of users is up
/// (the run lasts this much longer than the plan).
pub const OPEN_MODEL_WARMUP: Duration = Duration::from_secs(1);

fn second_of(started: Instant) -> u64 {
    (started.elapsed() + Duration::from_millis(500)).as_secs()
}

async fn work(
    index: usize,
    shared: Arc<WorkerShared>,
    mut rx: mpsc::UnboundedReceiver<WorkerCmd>,
) -> WorkerEnd {
    let recorder = Rc::new(RefCell::new(Recorder::with_limits(
        LocalNames::new(shared.names.clone()),
        shared.started,
    )));
    let (timer, timer_driver) = match Timer::new() {
        Ok((timer, driver)) => (Some(timer), Some(tokio::task::spawn_local(driver))),
        Err(e) => {
            tracing::warn!(
                "worker {index}: no timerfd ({e}); waits use tokio's timer and end up to 2 ms late"
            );
            (None, None)
        }
    };
    // The open model: this worker's turns of the plan's starts, from a second in, once the
    // users are up (config starts them all within it).
    let arrivals = shared
        .options
        .arrivals
        .as_ref()
        .map(|_| Rc::new(super::arrivals::Arrivals::default()));
    let pacer = match (&arrivals, &shared.options.arrivals) {
        (Some(arrivals), Some(plan)) => Some(tokio::task::spawn_local(super::arrivals::pace(
            arrivals.clone(),
            shared.classes.clone(),
            super::arrivals::Share {
                plan: plan.clone(),
                index,
                workers: shared.workers.max(1),
                started: shared.started + OPEN_MODEL_WARMUP,
            },
            timer.clone(),
            recorder.clone(),
        ))),
        _ => None,
    };
    let env = Rc::new(Env {
        classes: shared.classes.clone(),
        transport: Rc::new(shared.transport.build(index, shared.workers)),
        api: shared.api.clone(),
        update_ids: shared.update_ids.clone(),
        pools: Rc::new(shared.pools.clone()),
        recorder: recorder.clone(),
        options: shared.options.clone(),
        stacks: Rc::new(Semaphore::new(
            (super::stack::max_running_tasks() / shared.workers.max(1)).max(16),
        )),
        timer,
        arrivals: arrivals.clone(),
    });
    let flush = |recorder: &RefCell<Recorder>| {
        let interval = recorder.borrow_mut().take(second_of(shared.started));
        if !interval.is_empty() {
            let _ = shared.stats.send(StatsMsg::Interval(Box::new(interval)));
        }
    };
    let flusher = {
        let recorder = recorder.clone();
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval_at(
                (shared.started + Duration::from_secs(1)).into(),
                Duration::from_secs(1),
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                super::stack::trim();
                super::caches::prune();
                let interval = recorder.borrow_mut().take(second_of(shared.started));
                if !interval.is_empty() {
                    let _ = shared.stats.send(StatsMsg::Interval(Box::new(interval)));
                }
            }
        })
    };

    let users: Users = Rc::default();
    let mut deadline = None;
    while let Some(command) = rx.recv().await {
        match command {
            WorkerCmd::Spawn(spec) => spawn(spec, &env, &users, &shared),
            WorkerCmd::Stop(vu) => {
                if let Some((control, _)) = users.borrow().get(&vu) {
                    control.stop();
                }
            }
            WorkerCmd::StopAll { deadline: d } => {
                deadline = Some(d);
                // No more starts: free users end, busy ones finish their task.
                if let Some(pacer) = &pacer {
                    pacer.abort();
                }
                if let Some(arrivals) = &arrivals {
                    arrivals.close();
                }
                break;
            }
        }
    }
    for (control, _) in users.borrow().values() {
        control.stop();
    }
    let mut deadline = deadline.unwrap_or_else(Instant::now);
    let handles: Vec<JoinHandle<()>> = users
        .borrow_mut()
        .drain()
        .map(|(_, (_, handle))| handle)
        .collect();
    // Users finish their task (and on_stop) until the deadline; a later StopAll may move it
    // earlier. Whoever is still running then is abandoned, all at once: aborting one user at a
    // time and awaiting it would let every other user run in between.
    let mut commands_open = true;
    let mut pending = handles.into_iter();
    let mut current = pending.next();
    while let Some(handle) = current.as_mut() {
        tokio::select! {
            _ = handle => current = pending.next(),
            _ = tokio::time::sleep_until(deadline.into()) => break,
            command = rx.recv(), if commands_open => match command {
                Some(WorkerCmd::StopAll { deadline: d }) => deadline = deadline.min(d),
                Some(_) => {}
                None => commands_open = false,
            },
        }
    }
    let left: Vec<JoinHandle<()>> = current
        .into_iter()
        .chain(pending)
        .filter(|h| !h.is_finished())
        .collect();
    let abandoned = left.len() as u64;
    for handle in &left {
        // Dropping the user's future unwinds its task's coroutine; a request it had in flight
        // is recorded as abandoned.
        handle.abort();
    }
    for handle in left {
        let _ = handle.await;
    }
    flusher.abort();
    if let Some(driver) = timer_driver {
        driver.abort();
    }
    flush(&recorder);
    WorkerEnd { abandoned }
}

fn spawn(spec: VuSpec, env: &Rc<Env>, users: &Users, shared: &Arc<WorkerShared>) {
    let control = Rc::new(Control::default());
    let end = EndSink {
        stats: shared.stats.clone(),
        ended: shared.ended.clone(),
    };
    let vu = match Vu::new(spec, env.clone(), control.clone(), end) {
        Ok(vu) => vu,
        Err(e) => {
            tracing::error!("user {} could not start: {e}", spec.vu);
            let _ = shared.ended.send(spec.vu);
            return;
        }
    };
    let registry = users.clone();
    let fut = async move {
        vu.run().await;
        registry.borrow_mut().remove(&spec.vu);
    };
    let handle = tokio::task::spawn_local(fut);
    users.borrow_mut().insert(spec.vu, (control, handle));
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn the_connections_are_shared_out_whole() {
        for (total, workers) in [(64, 1), (64, 2), (40, 3), (7, 7), (10_000, 16)] {
            let shares: Vec<usize> = (0..workers).map(|i| share_of(total, i, workers)).collect();
            assert_eq!(
                shares.iter().sum::<usize>(),
                total,
                "{total} over {workers}"
            );
            assert!(
                shares.iter().all(|&s| s >= 1 && s + 1 >= shares[0]),
                "{shares:?}"
            );
        }
    }
}
