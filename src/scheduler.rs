//! The scheduler: the only part that starts and stops virtual users. It walks the run's
//! [`Profile`] with one loop, or the users and spawn rate the control API set, never faster
//! than the spawn rate; assigns each new user its class through the exact [`ClassSplit`] and
//! the lowest free id of its tier's pool; moves users between classes one at a time when a
//! reload changes the weights, and into their new tier's pool when it changes a class's tier;
//! and spreads users over the workers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::profile::{ClassSplit, Profile};
use crate::stats::spawn::{Change, PhaseKey, SpawnLog, SpawnPhase};
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
    pub target: u32,
    pub spawn_rate: f64,
    /// Users assigned per class (in the class table's order).
    pub per_class: Vec<u64>,
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

struct Live {
    class: usize,
    tier: Tier,
    pool_index: u64,
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
    live: HashMap<u64, Live>,
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
            running: vec![Vec::new(); n],
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
        }
    }

    /// Starts a user of `class` (already counted in the split; taken back if it cannot start).
    /// False when its tier's pool is used up.
    fn start(&mut self, class: usize) -> bool {
        let tier = self.tiers[class];
        let size = self.pools.user_capacity(tier);
        let Some(pool_index) = self.slots[tier.index()].take(size) else {
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
        let vu = self.next_vu;
        self.next_vu += 1;
        let worker = (vu % self.workers.len() as u64) as usize;
        let spec = VuSpec {
            vu,
            class,
            tier,
            index_in_class: self.started[class],
            pool_index,
        };
        self.started[class] += 1;
        self.per_tier[tier.index()] += 1;
        self.running[class].push((vu, worker));
        self.live.insert(
            vu,
            Live {
                class,
                tier,
                pool_index,
            },
        );
        self.workers[worker].send(Command::Spawn(spec));
        true
    }

    /// Whether `tier`'s pool has an id for one more user.
    fn has_room(&self, tier: Tier) -> bool {
        self.slots[tier.index()].available(self.pools.user_capacity(tier))
    }

    /// Stops the most recently started running user of `class`; false if none runs.
    fn halt(&mut self, class: usize) -> bool {
        match self.running[class].len() {
            0 => false,
            n => {
                self.halt_at(class, n - 1);
                true
            }
        }
    }

    /// Stops the running user at `at` in `class`'s list.
    fn halt_at(&mut self, class: usize, at: usize) {
        let (vu, worker) = self.running[class].remove(at);
        self.stopping.insert(vu);
        self.workers[worker].send(Command::Stop(vu));
    }

    /// A running user whose id is from a tier its class no longer has: (class, place in the
    /// class's list). Only classes whose tier changed are searched, and their oldest users (the
    /// stale ones) come first, so each search is short; a class with none left is dropped.
    fn stale_tier_user(&mut self) -> Option<(usize, usize)> {
        while let Some(&class) = self.retiering.first() {
            let tier = self.tiers[class];
            let at = self.running[class]
                .iter()
                .position(|(vu, _)| self.live.get(vu).is_some_and(|l| l.tier != tier));
            match at {
                Some(at) => return Some((class, at)),
                None => {
                    self.retiering.pop_first();
                }
            }
        }
        None
    }

    fn on_ended(&mut self, vu: u64) {
        if let Some(live) = self.live.remove(&vu) {
            self.running[live.class].retain(|(v, _)| *v != vu);
            self.slots[live.tier.index()].give(live.pool_index);
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
                self.running.resize(weights.len(), Vec::new());
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
            target,
            spawn_rate: rate,
            per_class: self.split.counts().to_vec(),
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
    /// to `stop_timeout`, then `on_stop` runs) and waits for the workers.
    pub async fn run(
        mut self,
        started: Instant,
        stop_timeout: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> SchedulerEnd {
        let mut end = started + self.profile.run_time();
        let mut credit = 1.0_f64;
        let mut last = Instant::now();
        // When a user was last started, stopped or moved.
        let mut last_change: Option<Instant> = None;
        // The plan (generation, stage) the credit counts for.
        let mut plan = None;
        // The last wait was the long one of a settled plan: its time earns no credit.
        let mut slept_idle = false;
        tokio::pin!(stop);
        let reason = loop {
            let now = Instant::now();
            if now >= end {
                break StopReason::RunTime;
            }
            let t = now - started;
            let (target, rate) = self
                .manual
                .unwrap_or_else(|| (self.profile.users_at(t), self.profile.rate_at(t)));
            // Where the plan is heading, for the spawn log and the idle wait.
            let (stage, stage_end) = self.profile.stage_at(t);
            let (stage, plan_users) = match self.manual {
                Some((users, _)) => (0, users),
                None => (stage, self.profile.stages[stage].users),
            };
            let t_s = t.as_secs_f64();
            if std::mem::take(&mut slept_idle) {
                last = now;
            }
            if plan != Some((self.generation, stage)) {
                // A new plan (a stage, a command) goes at its rate from here. Its first change
                // may come at once, unless one came less than an interval ago: changes never
                // come closer than the rate allows, and the spawn log measures the plan's rate
                // from a first change that was not held back.
                plan = Some((self.generation, stage));
                let rested = last_change.is_none_or(|c| (now - c).as_secs_f64() * rate >= 1.0);
                credit = if rested { 1.0 } else { credit.min(1.0) };
                last = now;
            }
            // Never faster than the spawn rate, with at most a second's worth in hand.
            credit = (credit + rate * (now - last).as_secs_f64()).min(rate.max(1.0));
            last = now;
            let mut idle = false;
            while credit >= 1.0 {
                let total = self.split.total();
                let change = if total < u64::from(target) {
                    let class = self.split.add();
                    self.start(class).then_some(Change::Start)
                } else if total > u64::from(target) {
                    self.split
                        .remove()
                        .and_then(|class| self.halt(class).then_some(Change::Stop))
                } else if !self.iterations
                    && let Some((from, to)) = self.split.rebalance()
                {
                    // Move a user only if the new class's pool has an id for it.
                    if !self.has_room(self.tiers[to]) {
                        self.split.undo(to);
                        self.split.redo(from);
                        idle = true;
                        break;
                    }
                    self.halt(from);
                    self.start(to).then_some(Change::Move)
                } else if !self.iterations
                    && let Some((class, at)) = self.stale_tier_user()
                {
                    // The class's tier changed: its users move to the new tier's pool one at a
                    // time, each replaced by a new user of the class (the bot sees a new user).
                    if !self.has_room(self.tiers[class]) {
                        idle = true;
                        break;
                    }
                    self.halt_at(class, at);
                    self.start(class).then_some(Change::Move)
                } else {
                    idle = true;
                    break;
                };
                if let Some(change) = change {
                    self.log(stage, rate, t_s, change);
                    last_change = Some(now);
                }
                credit -= 1.0;
            }
            if idle {
                // Credit does not pile up while there is nothing to do: the next change
                // starts at the spawn rate, not with a burst.
                credit = credit.min(1.0);
            }
            let settled = idle && self.split.total() == u64::from(plan_users);
            if settled {
                self.spawn.close();
            }
            self.publish(target, rate, started, end);
            let final_users = self.profile.users_at(self.profile.run_time());
            if self.iterations
                && self.manual.is_none()
                && t >= self.profile.settled_at()
                && self.split.total() == u64::from(final_users)
                && self.live.is_empty()
            {
                break StopReason::Iterations;
            }
            // Mid-ramp, wake for the next user; with the plan's users reached, only for the next
            // stage (or once a second, for the status): an idle scheduler costs nothing.
            let next = if settled {
                slept_idle = true;
                let stage_end = started + stage_end;
                let wake = if self.manual.is_none() && stage_end > now {
                    stage_end
                } else {
                    end
                };
                wake.min(now + Duration::from_secs(1))
            } else {
                now + Duration::from_secs_f64((1.0 / rate).clamp(0.001, 0.1))
            };
            let next = tokio::time::Instant::from(end.min(next));
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
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
                    credit = credit.min(1.0);
                }
                _ = &mut stop => break StopReason::Interrupted,
            }
        };
        let deadline = Instant::now() + stop_timeout;
        for w in &self.workers {
            w.send(Command::StopAll { deadline });
        }
        let workers = std::mem::take(&mut self.workers);
        let ends = tokio::task::spawn_blocking(move || {
            workers.into_iter().map(Worker::join).collect::<Vec<_>>()
        })
        .await
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
