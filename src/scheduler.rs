//! The scheduler: the only part that starts and stops virtual users. It walks the run's
//! [`Profile`] with one loop, assigns each new user its class through the exact [`ClassSplit`]
//! and the lowest free id of its tier's pool, and spreads users over the workers.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::profile::{ClassSplit, Profile};
use crate::telegram::{Tier, TierPools};
use crate::vu::{Command, VuSpec, Worker};

/// Lowest-free allocation of indices into one tier's pool.
#[derive(Debug, Default)]
struct PoolSlots {
    free: BTreeSet<u64>,
    next: u64,
}

impl PoolSlots {
    fn take(&mut self, size: u64) -> Option<u64> {
        if let Some(i) = self.free.pop_first() {
            return Some(i);
        }
        (self.next < size).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn give(&mut self, i: u64) {
        self.free.insert(i);
    }
}

/// Why the scheduler stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The profile's run time is over.
    RunTime,
    /// Every user finished its `--iterations`.
    Iterations,
    /// Ctrl-C or the caller's stop signal.
    Interrupted,
}

/// What the scheduler did.
#[derive(Debug, Clone)]
pub struct SchedulerEnd {
    pub reason: StopReason,
    /// Users started per class.
    pub started: Vec<u64>,
    /// Users that could not start because their tier's pool was used up.
    pub pool_exhausted: u64,
}

pub struct Scheduler {
    profile: Profile,
    tiers: Vec<Tier>,
    split: ClassSplit,
    pools: TierPools,
    slots: [PoolSlots; 4],
    workers: Vec<Worker>,
    /// Running users per class, most recent last: (user, worker).
    running: Vec<Vec<(u64, usize)>>,
    /// Every live user: class, worker, tier pool index.
    live: HashMap<u64, (usize, usize, u64)>,
    started: Vec<u64>,
    next_vu: u64,
    pool_exhausted: u64,
    users: watch::Sender<u32>,
    ended: mpsc::UnboundedReceiver<u64>,
    iterations: bool,
}

impl Scheduler {
    /// `weights` and `tiers` are the classes', in the workers' class order.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        profile: Profile,
        weights: &[u32],
        tiers: Vec<Tier>,
        pools: TierPools,
        workers: Vec<Worker>,
        users: watch::Sender<u32>,
        ended: mpsc::UnboundedReceiver<u64>,
        iterations: bool,
    ) -> Self {
        let n = weights.len();
        Self {
            profile,
            tiers,
            split: ClassSplit::new(weights),
            pools,
            slots: Default::default(),
            workers,
            running: vec![Vec::new(); n],
            live: HashMap::new(),
            started: vec![0; n],
            next_vu: 0,
            pool_exhausted: 0,
            users,
            ended,
            iterations,
        }
    }

    fn spawn(&mut self) {
        let class = self.split.add();
        let tier = self.tiers[class];
        let size = self.pools.size(tier).max(0) as u64;
        let Some(pool_index) = self.slots[tier.index()].take(size) else {
            self.pool_exhausted += 1;
            if self.pool_exhausted == 1 {
                tracing::error!(
                    "the {tier} pool ({size} ids) is used up: more users of this tier cannot start \
                     (widen it with --pool {tier}=START..END)"
                );
            }
            return;
        };
        let vu = self.next_vu;
        self.next_vu += 1;
        let worker = (vu % self.workers.len() as u64) as usize;
        let spec = VuSpec {
            vu,
            class,
            index_in_class: self.started[class],
            pool_index,
        };
        self.started[class] += 1;
        self.running[class].push((vu, worker));
        self.live.insert(vu, (class, worker, pool_index));
        self.workers[worker].send(Command::Spawn(spec));
    }

    fn stop_one(&mut self) {
        let Some(class) = self.split.remove() else {
            return;
        };
        if let Some((vu, worker)) = self.running[class].pop() {
            self.workers[worker].send(Command::Stop(vu));
        }
    }

    fn on_ended(&mut self, vu: u64) {
        if let Some((class, _, pool_index)) = self.live.remove(&vu) {
            self.running[class].retain(|(v, _)| *v != vu);
            self.slots[self.tiers[class].index()].give(pool_index);
        }
    }

    fn publish(&self) {
        self.users.send_replace(self.live.len() as u32);
    }

    /// Walks the profile until its run time is over, every user finished its iterations, or
    /// `stop` resolves. Then stops every user (tasks finish up to `stop_timeout`, then
    /// `on_stop` runs) and waits for the workers.
    pub async fn run(
        mut self,
        started: Instant,
        stop_timeout: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> (SchedulerEnd, u64) {
        let run_time = self.profile.run_time();
        let final_users = self.profile.users_at(run_time);
        let fastest = self
            .profile
            .stages
            .iter()
            .map(|s| s.spawn_rate)
            .fold(0.0, f64::max);
        let tick = Duration::from_secs_f64((1.0 / fastest).clamp(0.001, 0.1));
        tokio::pin!(stop);
        let reason = loop {
            let t = started.elapsed();
            if t >= run_time {
                break StopReason::RunTime;
            }
            let target = u64::from(self.profile.users_at(t));
            while self.split.total() < target {
                self.spawn();
            }
            while self.split.total() > target {
                self.stop_one();
            }
            self.publish();
            if self.iterations
                && self.split.total() == u64::from(final_users)
                && self.profile.users_at(t) == final_users
                && self.live.is_empty()
            {
                break StopReason::Iterations;
            }
            let next = tokio::time::Instant::from(started + run_time)
                .min(tokio::time::Instant::now() + tick);
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                Some(vu) = self.ended.recv() => {
                    self.on_ended(vu);
                    while let Ok(vu) = self.ended.try_recv() {
                        self.on_ended(vu);
                    }
                }
                _ = &mut stop => break StopReason::Interrupted,
            }
        };
        let deadline = Instant::now() + stop_timeout;
        for w in &self.workers {
            w.send(Command::StopAll { deadline });
        }
        let workers = std::mem::take(&mut self.workers);
        let abandoned = tokio::task::spawn_blocking(move || {
            workers.into_iter().map(|w| w.join().abandoned).sum::<u64>()
        })
        .await
        .unwrap_or(0);
        while let Ok(vu) = self.ended.try_recv() {
            self.on_ended(vu);
        }
        self.publish();
        (
            SchedulerEnd {
                reason,
                started: self.started,
                pool_exhausted: self.pool_exhausted,
            },
            abandoned,
        )
    }
}
