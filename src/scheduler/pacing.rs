//! The scheduler's decisions as pure functions of the clock and its state, so they can be
//! tested on made-up instants: where the plan stands at a moment ([`plan_at`]), how many
//! changes the spawn rate allows ([`Pacer`]), what the next change is ([`next_change`]) and
//! when to look again ([`next_wake`]).

use std::time::{Duration, Instant};

use crate::profile::Profile;

/// What the scheduler heads for at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Plan {
    /// Users to have now (mid-ramp, the ramp's current point).
    pub users: u32,
    /// Users per second.
    pub rate: f64,
    /// The profile stage (0 under a manual plan).
    pub stage: usize,
    /// When the stage ends, from the run's start.
    pub stage_end: Duration,
    /// The users the plan ends its ramp at.
    pub goal: u32,
}

/// The plan at `t` into the run: the profile's, or the control API's `manual` (users, rate).
pub(super) fn plan_at(profile: &Profile, manual: Option<(u32, f64)>, t: Duration) -> Plan {
    let (stage, stage_end) = profile.stage_at(t);
    match manual {
        Some((users, rate)) => Plan {
            users,
            rate,
            stage: 0,
            stage_end,
            goal: users,
        },
        None => Plan {
            users: profile.users_at(t),
            rate: profile.rate_at(t),
            stage,
            stage_end,
            goal: profile.stages[stage].users,
        },
    }
}

/// The next change to make towards `target` users, with `total` assigned now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Start,
    Stop,
    /// The count is right: move users between classes, if the split asks for it.
    Rebalance,
}

pub(super) fn next_change(total: u64, target: u32) -> Want {
    match total.cmp(&u64::from(target)) {
        std::cmp::Ordering::Less => Want::Start,
        std::cmp::Ordering::Greater => Want::Stop,
        std::cmp::Ordering::Equal => Want::Rebalance,
    }
}

/// Spawn-rate pacing: credit earned at the plan's rate, one unit spent per change, never more
/// than a second's worth in hand, so users start and stop no faster than the rate.
#[derive(Debug, Clone)]
pub(super) struct Pacer {
    credit: f64,
    last: Instant,
    /// When a user was last started, stopped or moved.
    last_change: Option<Instant>,
    /// The plan (generation, stage) the credit counts for.
    plan: Option<(u64, usize)>,
    /// The last wait was the long one of a settled plan: its time earns no credit.
    resting: bool,
}

impl Pacer {
    pub fn new(now: Instant) -> Self {
        Self {
            credit: 1.0,
            last: now,
            last_change: None,
            plan: None,
            resting: false,
        }
    }

    /// Earns credit for the time since the last turn. A new plan (a stage, a command) goes at
    /// its rate from here: its first change may come at once, unless one came less than an
    /// interval ago, so changes never come closer than the rate allows.
    pub fn earn(&mut self, now: Instant, plan: (u64, usize), rate: f64) {
        if std::mem::take(&mut self.resting) {
            self.last = now;
        }
        if self.plan != Some(plan) {
            self.plan = Some(plan);
            let rested = self
                .last_change
                .is_none_or(|c| (now - c).as_secs_f64() * rate >= 1.0);
            self.credit = if rested { 1.0 } else { self.credit.min(1.0) };
            self.last = now;
        }
        self.credit = (self.credit + rate * (now - self.last).as_secs_f64()).min(rate.max(1.0));
        self.last = now;
    }

    /// Whether the rate allows one more change now.
    pub fn allows(&self) -> bool {
        self.credit >= 1.0
    }

    /// One change's worth spent; `made_at` when a user really changed (a start that found its
    /// pool used up did not).
    pub fn spend(&mut self, made_at: Option<Instant>) {
        if made_at.is_some() {
            self.last_change = made_at;
        }
        self.credit -= 1.0;
    }

    /// No burst saved up: while there is nothing to do, and after a command.
    pub fn cap(&mut self) {
        self.credit = self.credit.min(1.0);
    }

    /// The scheduler is about to sleep with its plan reached.
    pub fn rest(&mut self) {
        self.resting = true;
    }
}

/// When to look again: mid-ramp, at the next user's turn; with the plan's users reached
/// (`settled`), only at the stage's end (while the profile leads) or once a second for the
/// status, so an idle scheduler costs nothing. Never past the run's `end`.
pub(super) fn next_wake(
    now: Instant,
    settled: bool,
    follows_profile: bool,
    stage_end: Instant,
    end: Instant,
    rate: f64,
) -> Instant {
    let next = if settled {
        let wake = if follows_profile && stage_end > now {
            stage_end
        } else {
            end
        };
        wake.min(now + Duration::from_secs(1))
    } else {
        now + Duration::from_secs_f64((1.0 / rate).clamp(0.001, 0.1))
    };
    end.min(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Stage;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Changes a pacer allows when the scheduler looks every `step` for `for_`, at `rate`.
    fn changes(rate: f64, step: Duration, for_: Duration) -> u32 {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        let mut made = 0;
        let mut t = t0;
        while t <= t0 + for_ {
            pacer.earn(t, (0, 0), rate);
            while pacer.allows() {
                pacer.spend(Some(t));
                made += 1;
            }
            t += step;
        }
        made
    }

    #[test]
    fn the_rate_holds_however_often_the_scheduler_looks() {
        // One change at once, then one per 1/rate.
        assert_eq!(changes(10.0, ms(1), ms(1000)), 11);
        assert_eq!(changes(10.0, ms(100), ms(1000)), 11);
        assert_eq!(changes(10.0, ms(350), ms(1050)), 11);
        assert_eq!(changes(0.5, ms(100), ms(4000)), 3);
    }

    #[test]
    fn no_more_than_a_second_in_hand() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        pacer.earn(t0, (0, 0), 5.0);
        pacer.spend(Some(t0));
        // Ten seconds without a look earn five changes, not fifty.
        pacer.earn(t0 + Duration::from_secs(10), (0, 0), 5.0);
        let mut n = 0;
        while pacer.allows() {
            pacer.spend(None);
            n += 1;
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn a_new_plan_waits_out_the_last_change() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        pacer.earn(t0, (0, 0), 2.0);
        pacer.spend(Some(t0));
        // A command 100 ms later, at 2/s: the last change was less than 500 ms ago.
        pacer.earn(t0 + ms(100), (1, 0), 2.0);
        assert!(!pacer.allows());
        pacer.earn(t0 + ms(600), (1, 0), 2.0);
        assert!(pacer.allows());
        // A plan after a long quiet starts at once.
        let mut rested = Pacer::new(t0);
        rested.earn(t0 + Duration::from_secs(5), (3, 1), 2.0);
        assert!(rested.allows());
    }

    #[test]
    fn resting_earns_nothing_and_capping_drops_the_burst() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        pacer.earn(t0, (0, 0), 100.0);
        pacer.spend(Some(t0));
        pacer.rest();
        pacer.earn(t0 + Duration::from_secs(1), (0, 0), 100.0);
        assert!(!pacer.allows(), "the rest's second earned nothing");
        pacer.earn(t0 + Duration::from_millis(1050), (0, 0), 100.0);
        pacer.cap();
        pacer.spend(None);
        assert!(!pacer.allows(), "capped to one change");
    }

    #[test]
    fn the_next_change_heads_for_the_target() {
        assert_eq!(next_change(3, 5), Want::Start);
        assert_eq!(next_change(6, 5), Want::Stop);
        assert_eq!(next_change(5, 5), Want::Rebalance);
    }

    #[test]
    fn the_plan_follows_the_profile_or_the_control_api() {
        let profile = Profile {
            name: "two".into(),
            stages: vec![
                Stage {
                    users: 10,
                    spawn_rate: 5.0,
                    duration: Duration::from_secs(10),
                },
                Stage {
                    users: 2,
                    spawn_rate: 1.0,
                    duration: Duration::from_secs(10),
                },
            ],
            thresholds: Vec::new(),
            arrivals: None,
            chaos: Default::default(),
        };
        let p = plan_at(&profile, None, Duration::from_secs(1));
        assert_eq!((p.users, p.rate, p.stage, p.goal), (5, 5.0, 0, 10));
        assert_eq!(p.stage_end, Duration::from_secs(10));
        let p = plan_at(&profile, None, Duration::from_secs(12));
        assert_eq!((p.stage, p.goal, p.rate), (1, 2, 1.0));
        let p = plan_at(&profile, Some((40, 8.0)), Duration::from_secs(12));
        assert_eq!((p.users, p.rate, p.stage, p.goal), (40, 8.0, 0, 40));
    }

    #[test]
    fn an_idle_scheduler_wakes_at_the_stage_end_or_once_a_second() {
        let now = Instant::now();
        let end = now + Duration::from_secs(60);
        let soon = now + ms(300);
        assert_eq!(next_wake(now, true, true, soon, end, 10.0), soon);
        assert_eq!(
            next_wake(now, true, false, soon, end, 10.0),
            now + Duration::from_secs(1),
            "under the control API the stage's end does not matter"
        );
        assert_eq!(next_wake(now, false, true, soon, end, 10.0), now + ms(100));
        assert_eq!(next_wake(now, false, true, soon, end, 2000.0), now + ms(1));
        assert_eq!(
            next_wake(now, false, true, soon, now + ms(5), 1.0),
            now + ms(5)
        );
    }
}
