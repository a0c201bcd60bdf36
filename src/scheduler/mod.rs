//! The scheduler: the only part that starts and stops virtual users. It walks the run's
//! [`Profile`] with one loop, or the users and spawn rate the control API set, never faster
//! than the spawn rate; assigns each new user its class through the exact [`ClassSplit`] and
//! the lowest free id of its tier's pool; moves users between classes one at a time when a
//! reload changes the weights, and into their new tier's pool when it changes a class's tier;
//! and spreads users over the workers.

mod pacing;
mod spawn;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::profile::shard::ShardPlan;
use crate::profile::{ClassSplit, Profile};
use crate::report::SpawnPhase;
use crate::telegram::{Tier, TierPools};
use crate::vu::{VuSpec, Worker, WorkerCmd};
use pacing::{Pacer, Want, next_change, next_wake, plan_at};
use spawn::{Change, PhaseKey, SpawnLog};

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

    fn available(&self, size: u64) -> bool {
        !self.free.is_empty() || self.next < size
    }
}

/// What the control API, the reloader and the profile watcher tell the scheduler.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerCmd {
    /// Move to `users` at `spawn_rate` per second (the profile's current rate if none); the
    /// profile's shape no longer applies.
    SetUsers {
        users: u32,
        spawn_rate: Option<f64>,
    },
    /// End the run this long from now.
    SetRemaining(Duration),
    /// A new profile (its file was edited), timed from the run's start; it ends the override
    /// of `SetUsers`.
    Profile(Profile),
    /// Class weights and tiers after a reload (classes are only appended).
    Classes {
        weights: Vec<u32>,
        tiers: Vec<Tier>,
    },
    Stop,
}

/// The scheduler's state, for the control API and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchedulerStatus {
    /// Users running now.
    pub users: u32,
    /// Users the scheduler is moving to.
    pub goal_users: u32,
    pub spawn_rate: f64,
    /// Users assigned per class (in the class table's order).
    pub per_class: Vec<u64>,
    /// Users started so far per class (in the class table's order).
    pub started: Vec<u64>,
    /// Users running per tier (their ids are from that tier's pool).
    pub per_tier: BTreeMap<Tier, u64>,
    pub elapsed_s: f64,
    pub remaining_s: f64,
    /// Users and rate come from the control API rather than the profile.
    pub manual: bool,
}

/// Why the scheduler stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The profile's run time is over.
    RunTime,
    /// Every user finished its `--iterations`.
    Iterations,
    /// Ctrl-C, the control API, or the caller's stop signal.
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
    /// Users still in a task at the stop deadline.
    pub abandoned: u64,
    /// Worker threads that panicked (a bug), with their messages.
    pub worker_panics: Vec<String>,
    /// Each ramp walked, with the rate asked and achieved.
    pub spawn: Vec<SpawnPhase>,
}

/// The channels a scheduler talks through.
pub struct SchedulerIo {
    /// Users running now (read by the aggregator).
    pub users: watch::Sender<u32>,
    pub status: watch::Sender<SchedulerStatus>,
    /// Users that ended, from the workers.
    pub ended: mpsc::UnboundedReceiver<u64>,
    pub commands: mpsc::UnboundedReceiver<SchedulerCmd>,
}

struct RunningUser {
    class: usize,
    tier: Tier,
    /// Its slot in the run's (or the shard's) share of its tier's pool.
    slot: u64,
}

pub struct Scheduler {
    profile: Profile,
    tiers: Vec<Tier>,
    split: ClassSplit,
    pools: TierPools,
    slots: [PoolSlots; 4],
    workers: Vec<Worker>,
    /// Running users per class, user number (so the most recent last) to worker.
    running: Vec<BTreeMap<u64, usize>>,
    live: HashMap<u64, RunningUser>,
    /// Users told to stop that have not ended yet.
    stopping: std::collections::HashSet<u64>,
    started: Vec<u64>,
    next_vu: u64,
    pool_exhausted: u64,
    io: SchedulerIo,
    iterations: bool,
    manual: Option<(u32, f64)>,
    spawn: SpawnLog,
    /// Bumped by every command that changes the plan (a new phase of the spawn log).
    generation: u64,
    /// Bumped by every reload that changes the classes (its moves are a phase of their own).
    reloads: u64,
    /// What set the current plan, for the spawn log.
    plan_source: PlanSource,
    /// Classes whose tier a reload changed while some of their users may still hold ids of
    /// the old one.
    retiering: BTreeSet<usize>,
    /// Users running per tier, by [`Tier::index`].
    per_tier: [u64; 4],
    /// The shard's slice of the test (`--shard i/n`): its users' numbers and pool ids.
    shard: Option<ShardPlan>,
}

/// What set the scheduler's current plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlanSource {
    /// The profile the run started with.
    Profile,
    /// The control API or the terminal keys.
    Control,
    /// The profile file, edited during the run.
    ProfileEdit,
}

impl Scheduler {
    /// `weights` and `tiers` are the classes', in the class table's order.
    pub fn new(
        profile: Profile,
        weights: &[u32],
        tiers: Vec<Tier>,
        pools: TierPools,
        workers: Vec<Worker>,
        io: SchedulerIo,
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
            running: vec![BTreeMap::new(); n],
            live: HashMap::new(),
            stopping: Default::default(),
            started: vec![0; n],
            next_vu: 0,
            pool_exhausted: 0,
            io,
            iterations,
            manual: None,
            spawn: SpawnLog::default(),
            generation: 0,
            reloads: 0,
            plan_source: PlanSource::Profile,
            retiering: BTreeSet::new(),
            per_tier: [0; 4],
            shard: None,
        }
    }

    /// Runs one shard's slice of a test: its users take the whole test's numbers and seeds,
    /// and ids from the shard's share of each pool.
    pub fn with_shard(mut self, plan: ShardPlan) -> Self {
        self.split = plan.split();
        self.shard = Some(plan);
        self
    }

    /// The ids of a tier's pool this run may give its users.
    fn capacity(&self, tier: Tier) -> u64 {
        let all = self.pools.user_capacity(tier);
        self.shard.as_ref().map_or(all, |p| p.pool_capacity(all))
    }

    /// Starts a user of `class` (already counted in the split; taken back if it cannot start).
    /// False when its tier's pool is used up.
    fn start(&mut self, class: usize) -> bool {
        let tier = self.tiers[class];
        let size = self.capacity(tier);
        let Some(slot) = self.slots[tier.index()].take(size) else {
            self.split.undo(class);
            self.pool_exhausted += 1;
            if self.pool_exhausted == 1 {
                tracing::error!(
                    "the {tier} pool ({size} ids) is used up: more users of this tier cannot start \
                     (widen it with --pool {tier}=START..END)"
                );
            }
            return false;
        };
        let local = self.next_vu;
        self.next_vu += 1;
        let worker = (local % self.workers.len() as u64) as usize;
        let k = self.started[class];
        let (vu, index_in_class, pool_index) = match &self.shard {
            None => (local, k, slot),
            Some(p) => (
                p.vu(class, k, local),
                p.user_in_class(class, k),
                p.pool_index(slot),
            ),
        };
        let spec = VuSpec {
            vu,
            class,
            tier,
            index_in_class,
            pool_index,
        };
        self.started[class] += 1;
        self.per_tier[tier.index()] += 1;
        self.running[class].insert(vu, worker);
        self.live.insert(vu, RunningUser { class, tier, slot });
        self.workers[worker].send(WorkerCmd::Spawn(spec));
        true
    }

    /// Whether `tier`'s pool has an id for one more user.
    fn has_room(&self, tier: Tier) -> bool {
        self.slots[tier.index()].available(self.capacity(tier))
    }

    /// Stops the most recently started running user of `class`; false if none runs.
    fn halt(&mut self, class: usize) -> bool {
        match self.running[class].last_key_value() {
            Some((&vu, _)) => {
                self.halt_at(class, vu);
                true
            }
            None => false,
        }
    }

    /// Stops the running user `vu` of `class`.
    fn halt_at(&mut self, class: usize, vu: u64) {
        if let Some(worker) = self.running[class].remove(&vu) {
            self.stopping.insert(vu);
            self.workers[worker].send(WorkerCmd::Stop(vu));
        }
    }

    /// A running user whose id is from a tier its class no longer has: (class, user). Only
    /// classes whose tier changed are searched, and their oldest users (the stale ones) come
    /// first, so each search is short; a class with none left is dropped.
    fn stale_tier_user(&mut self) -> Option<(usize, u64)> {
        while let Some(&class) = self.retiering.first() {
            let tier = self.tiers[class];
            let at = self.running[class]
                .keys()
                .find(|vu| self.live.get(vu).is_some_and(|l| l.tier != tier))
                .copied();
            match at {
                Some(at) => return Some((class, at)),
                None => {
                    self.retiering.pop_first();
                }
            }
        }
        None
    }

    /// With the count right: moves one user to the class the split asks for, or out of a tier
    /// its class no longer has. `None` when there is nothing to move (or no room to move it);
    /// `Some(None)` when a move was tried and its new user could not start.
    fn rebalance(&mut self) -> Option<Option<Change>> {
        if self.iterations {
            return None;
        }
        if let Some((from, to)) = self.split.rebalance() {
            // Move a user only if the new class's pool has an id for it.
            if !self.has_room(self.tiers[to]) {
                self.split.undo(to);
                self.split.redo(from);
                return None;
            }
            self.halt(from);
            return Some(self.start(to).then_some(Change::Move));
        }
        // The class's tier changed: its users move to the new tier's pool one at a time, each
        // replaced by a new user of the class (the bot sees a new user).
        let (class, at) = self.stale_tier_user()?;
        if !self.has_room(self.tiers[class]) {
            return None;
        }
        self.halt_at(class, at);
        Some(self.start(class).then_some(Change::Move))
    }

    fn on_ended(&mut self, vu: u64) {
        if let Some(live) = self.live.remove(&vu) {
            self.running[live.class].remove(&vu);
            // With --iterations every user of the test is a user of its own, whatever the
            // timing: an id is not handed on to a later user (who would inherit the bot's state
            // for it, and the bot would count one user for several).
            if !self.iterations {
                self.slots[live.tier.index()].give(live.slot);
            }
            self.per_tier[live.tier.index()] -= 1;
            // A user that ended without being told to (it could not start) is replaced; with
            // --iterations, ending is what users do.
            if !self.stopping.remove(&vu) && !self.iterations {
                self.split.undo(live.class);
            }
        }
    }

    fn on_command(&mut self, cmd: SchedulerCmd, started: Instant, end: &mut Instant) -> bool {
        match cmd {
            SchedulerCmd::SetUsers { users, spawn_rate } => {
                let t = started.elapsed();
                let rate = spawn_rate.unwrap_or_else(|| {
                    self.manual
                        .map_or_else(|| self.profile.rate_at(t), |(_, r)| r)
                });
                self.manual = Some((users, rate));
                self.plan_source = PlanSource::Control;
                self.generation += 1;
            }
            SchedulerCmd::SetRemaining(d) => *end = Instant::now() + d,
            SchedulerCmd::Profile(p) => {
                *end = started + p.run_time();
                self.profile = p;
                self.manual = None;
                self.plan_source = PlanSource::ProfileEdit;
                self.generation += 1;
            }
            SchedulerCmd::Classes { weights, tiers } => {
                if weights.iter().any(|w| *w > 0) {
                    self.split.set_weights(&weights);
                }
                // The moves this reload asks for are a phase of their own in the spawn log.
                self.reloads += 1;
                self.running.resize(weights.len(), BTreeMap::new());
                self.started.resize(weights.len(), 0);
                let changed = self.tiers.iter().zip(&tiers).enumerate();
                self.retiering
                    .extend(changed.filter(|(_, (old, new))| old != new).map(|(c, _)| c));
                self.tiers = tiers;
            }
            SchedulerCmd::Stop => return false,
        }
        true
    }

    /// Records one change in the spawn log.
    fn log(&mut self, stage: usize, rate: f64, t_s: f64, change: Change) {
        let source = self.plan_source;
        let name = || match (change, source) {
            (Change::Move, _) => "reload".to_string(),
            (_, PlanSource::Control) => "control".to_string(),
            (_, PlanSource::Profile) => format!("stage {}", stage + 1),
            (_, PlanSource::ProfileEdit) => format!("profile edit (stage {})", stage + 1),
        };
        let reload = if change == Change::Move {
            self.reloads
        } else {
            0
        };
        let key = PhaseKey {
            generation: self.generation,
            stage,
            change,
            reload,
        };
        self.spawn.change(key, name, rate, t_s, change);
    }

    fn publish(&self, target: u32, rate: f64, started: Instant, end: Instant) {
        let users = self.live.len() as u32;
        self.io.users.send_replace(users);
        self.io.status.send_replace(SchedulerStatus {
            users,
            goal_users: target,
            spawn_rate: rate,
            per_class: self.split.counts().to_vec(),
            started: self.started.clone(),
            per_tier: Tier::ALL
                .iter()
                .map(|t| (*t, self.per_tier[t.index()]))
                .collect(),
            elapsed_s: started.elapsed().as_secs_f64(),
            remaining_s: end.saturating_duration_since(Instant::now()).as_secs_f64(),
            manual: self.manual.is_some(),
        });
    }

    /// Walks the profile until its run time is over, every user finished its iterations, or
    /// `stop` resolves (or the control API says stop). Then stops every user (tasks finish up
    /// to `stop_timeout`, then `on_stop` runs) and waits for the workers; once `now` resolves,
    /// the users still running are abandoned at once.
    pub async fn run(
        mut self,
        started: Instant,
        stop_timeout: Duration,
        stop: impl std::future::Future<Output = ()>,
        now: impl std::future::Future<Output = ()>,
    ) -> SchedulerEnd {
        let mut end = started + self.profile.run_time();
        let mut pacer = Pacer::new(Instant::now());
        tokio::pin!(stop);
        let reason = loop {
            let now = Instant::now();
            if now >= end {
                break StopReason::RunTime;
            }
            let t = now - started;
            let plan = plan_at(&self.profile, self.manual, t);
            pacer.earn(now, (self.generation, plan.stage), plan.rate);
            let mut idle = false;
            while pacer.allows() {
                let change = match next_change(self.split.total(), plan.users) {
                    Want::Start => {
                        let class = self.split.add();
                        self.start(class).then_some(Change::Start)
                    }
                    Want::Stop => self
                        .split
                        .remove()
                        .and_then(|class| self.halt(class).then_some(Change::Stop)),
                    Want::Rebalance => match self.rebalance() {
                        Some(change) => change,
                        None => {
                            idle = true;
                            break;
                        }
                    },
                };
                if let Some(change) = change {
                    self.log(plan.stage, plan.rate, t.as_secs_f64(), change);
                }
                pacer.spend(change.map(|_| now));
            }
            if idle {
                // Credit does not pile up while there is nothing to do: the next change
                // starts at the spawn rate, not with a burst.
                pacer.cap();
            }
            let settled = idle && self.split.total() == u64::from(plan.goal);
            if settled {
                self.spawn.close();
                pacer.rest();
            }
            self.publish(plan.users, plan.rate, started, end);
            let final_users = self.profile.users_at(self.profile.run_time());
            if self.iterations
                && self.manual.is_none()
                && t >= self.profile.settled_at()
                && self.split.total() == u64::from(final_users)
                && self.live.is_empty()
            {
                break StopReason::Iterations;
            }
            let next = next_wake(
                now,
                settled,
                self.manual.is_none(),
                started + plan.stage_end,
                end,
                plan.rate,
            );
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                Some(vu) = self.io.ended.recv() => {
                    self.on_ended(vu);
                    while let Ok(vu) = self.io.ended.try_recv() {
                        self.on_ended(vu);
                    }
                }
                Some(cmd) = self.io.commands.recv() => {
                    if !self.on_command(cmd, started, &mut end) {
                        break StopReason::Interrupted;
                    }
                    // No burst of credit saved up before the command.
                    pacer.cap();
                }
                _ = &mut stop => break StopReason::Interrupted,
            }
        };
        let deadline = Instant::now() + stop_timeout;
        for w in &self.workers {
            w.send(WorkerCmd::StopAll { deadline });
        }
        let commands: Vec<_> = self.workers.iter().map(Worker::commands).collect();
        let workers = std::mem::take(&mut self.workers);
        let joining = tokio::task::spawn_blocking(move || {
            workers.into_iter().map(Worker::join).collect::<Vec<_>>()
        });
        tokio::pin!(joining, now);
        let ends = tokio::select! {
            ends = &mut joining => ends,
            _ = &mut now => {
                let deadline = Instant::now();
                for c in &commands {
                    let _ = c.send(WorkerCmd::StopAll { deadline });
                }
                joining.await
            }
        }
        .unwrap_or_default();
        let abandoned = ends.iter().flatten().map(|e| e.abandoned).sum();
        let worker_panics = ends.into_iter().filter_map(Result::err).collect();
        while let Ok(vu) = self.io.ended.try_recv() {
            self.on_ended(vu);
        }
        self.publish(0, 0.0, started, end);
        SchedulerEnd {
            reason,
            started: self.started,
            pool_exhausted: self.pool_exhausted,
            abandoned,
            worker_panics,
            spawn: self.spawn.into_phases(),
        }
    }
}
