//! The demo bot's memory, small and bounded so the commands mean something without growing in a
//! soak: per-user settings, reminders and tasks; a ring of request traces; circuit breakers; and
//! tier grants (only ever for ids in the test-user pools).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::telegram::{Tier, TierPools};

pub const MAX_REMINDERS: usize = 20;
pub const MAX_TASKS: usize = 50;
pub const MAX_TRACES: usize = 256;
/// Users with stored state, per shard; beyond it new users are served without memory.
const USERS_PER_SHARD: usize = 1 << 16;
const SHARDS: usize = 16;

pub const MODES: &[&str] = &["chat", "code", "translate", "concise"];
pub const SKILLS: &[&str] = &[
    "weather",
    "calculator",
    "search",
    "translator",
    "summarizer",
    "coder",
];
pub const SETTINGS: &[&str] = &["notifications", "compact", "voice_replies"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub when: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskItem {
    pub id: u32,
    pub text: String,
    pub done: bool,
}

/// Longest text the bot stores, in chars.
pub const MAX_STORED_TEXT: usize = 256;

fn bounded(s: String) -> String {
    if s.chars().count() <= MAX_STORED_TEXT {
        s
    } else {
        s.chars().take(MAX_STORED_TEXT).collect()
    }
}

/// What the bot remembers about one user.
#[derive(Debug, Clone, Default)]
pub struct UserState {
    pub mode: usize,
    pub settings: [bool; SETTINGS.len()],
    pub skill: Option<&'static str>,
    pub reminders: VecDeque<Reminder>,
    pub tasks: VecDeque<TaskItem>,
    pub next_task: u32,
    /// Messages since the last /clear.
    pub history: u32,
    /// An operation /cancel would cancel.
    pub pending: Option<String>,
}

impl UserState {
    pub fn add_reminder(&mut self, mut r: Reminder) {
        r.when = bounded(r.when);
        r.text = bounded(r.text);
        if self.reminders.len() == MAX_REMINDERS {
            self.reminders.pop_front();
        }
        self.reminders.push_back(r);
    }

    pub fn add_task(&mut self, text: String) -> u32 {
        let text = bounded(text);
        if self.tasks.len() == MAX_TASKS {
            self.tasks.pop_front();
        }
        self.next_task += 1;
        self.tasks.push_back(TaskItem {
            id: self.next_task,
            text,
            done: false,
        });
        self.next_task
    }
}

/// One handled update, as /traces and /trace show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub id: String,
    pub user_id: i64,
    pub kind: &'static str,
    pub spans: Vec<(&'static str, Duration)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

pub const CIRCUITS: &[&str] = &["llm", "translator", "speech", "storage"];
const TRIP_AFTER: u32 = 5;
const COOL_DOWN: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone, Copy)]
struct Circuit {
    failures: u32,
    opened: Option<Instant>,
}

impl Circuit {
    fn state(&self, now: Instant) -> CircuitState {
        match self.opened {
            None => CircuitState::Closed,
            Some(t) if now.duration_since(t) < COOL_DOWN => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }
}

/// All of the demo bot's mutable state.
#[derive(Debug)]
pub struct BotState {
    pools: TierPools,
    users: Vec<Mutex<HashMap<i64, UserState>>>,
    grants: Mutex<HashMap<i64, Tier>>,
    traces: Mutex<VecDeque<Trace>>,
    next_trace: AtomicU64,
    circuits: Mutex<[Circuit; CIRCUITS.len()]>,
}

impl BotState {
    pub fn new(pools: TierPools) -> Self {
        Self {
            pools,
            users: (0..SHARDS).map(|_| Mutex::default()).collect(),
            grants: Mutex::default(),
            traces: Mutex::default(),
            next_trace: AtomicU64::new(0),
            circuits: Mutex::default(),
        }
    }

    pub fn pools(&self) -> &TierPools {
        &self.pools
    }

    /// A granted tier wins; otherwise the pool's; ids outside the pools are guests.
    pub fn tier_of(&self, user_id: i64) -> Tier {
        if let Some(t) = self.grants.lock().expect("grants").get(&user_id) {
            return *t;
        }
        self.pools.tier_of(user_id).unwrap_or(Tier::Guest)
    }

    /// Gives a pool id a tier. Ids outside the pools are refused.
    pub fn grant(&self, user_id: i64, tier: Tier) -> Result<(), NotATestUser> {
        let pool_tier = self.pools.tier_of(user_id).ok_or(NotATestUser(user_id))?;
        let mut grants = self.grants.lock().expect("grants");
        if pool_tier == tier {
            grants.remove(&user_id);
        } else {
            grants.insert(user_id, tier);
        }
        Ok(())
    }

    /// Returns a pool id to its pool's tier; returns that tier.
    pub fn revoke(&self, user_id: i64) -> Result<Tier, NotATestUser> {
        let pool_tier = self.pools.tier_of(user_id).ok_or(NotATestUser(user_id))?;
        self.grants.lock().expect("grants").remove(&user_id);
        Ok(pool_tier)
    }

    pub fn grant_count(&self) -> usize {
        self.grants.lock().expect("grants").len()
    }

    /// Runs `f` on the user's state; a user the bot has no room for gets a blank state that is
    /// not kept.
    pub fn with_user<R>(&self, user_id: i64, f: impl FnOnce(&mut UserState) -> R) -> R {
        // Only test users are remembered: made-up sender ids cannot crowd them out.
        if !self.pools.contains(user_id) {
            return f(&mut UserState::default());
        }
        let mut shard = self.users[(user_id.unsigned_abs() as usize) % SHARDS]
            .lock()
            .expect("users");
        if !shard.contains_key(&user_id) && shard.len() >= USERS_PER_SHARD {
            return f(&mut UserState::default());
        }
        f(shard.entry(user_id).or_default())
    }

    pub fn user_count(&self) -> usize {
        self.users
            .iter()
            .map(|s| s.lock().expect("users").len())
            .sum()
    }

    /// Records a trace and returns its id.
    pub fn record_trace(
        &self,
        user_id: i64,
        kind: &'static str,
        spans: Vec<(&'static str, Duration)>,
    ) -> String {
        let n = self.next_trace.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("tr_{n:06x}");
        let mut traces = self.traces.lock().expect("traces");
        if traces.len() == MAX_TRACES {
            traces.pop_front();
        }
        traces.push_back(Trace {
            id: id.clone(),
            user_id,
            kind,
            spans,
        });
        id
    }

    /// The newest `n` traces, newest first.
    pub fn latest_traces(&self, n: usize) -> Vec<Trace> {
        self.traces
            .lock()
            .expect("traces")
            .iter()
            .rev()
            .take(n)
            .cloned()
            .collect()
    }

    pub fn trace(&self, id: &str) -> Option<Trace> {
        self.traces
            .lock()
            .expect("traces")
            .iter()
            .find(|t| t.id == id)
            .cloned()
    }

    /// Feeds a call's outcome to a circuit breaker.
    pub fn circuit_result(&self, circuit: usize, ok: bool) {
        let mut circuits = self.circuits.lock().expect("circuits");
        let c = &mut circuits[circuit];
        if ok {
            *c = Circuit::default();
        } else {
            c.failures += 1;
            if c.failures >= TRIP_AFTER {
                c.opened = Some(Instant::now());
            }
        }
    }

    pub fn circuit_states(&self) -> Vec<(&'static str, CircuitState, u32)> {
        let now = Instant::now();
        let circuits = self.circuits.lock().expect("circuits");
        CIRCUITS
            .iter()
            .zip(circuits.iter())
            .map(|(n, c)| (*n, c.state(now), c.failures))
            .collect()
    }

    pub fn reset_circuits(&self) {
        *self.circuits.lock().expect("circuits") = Default::default();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a test user (not in any tier pool)")]
pub struct NotATestUser(pub i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_only_touch_pool_ids() {
        let s = BotState::new(TierPools::default());
        let guest = s.pools().id(Tier::Guest, 3).unwrap();
        assert_eq!(s.tier_of(guest), Tier::Guest);
        s.grant(guest, Tier::Developer).unwrap();
        assert_eq!(s.tier_of(guest), Tier::Developer);
        assert_eq!(s.revoke(guest), Ok(Tier::Guest));
        assert_eq!(s.tier_of(guest), Tier::Guest);
        assert_eq!(s.grant(42, Tier::Admin), Err(NotATestUser(42)));
        assert_eq!(s.tier_of(42), Tier::Guest);
    }

    #[test]
    fn traces_and_tasks_are_bounded() {
        let s = BotState::new(TierPools::default());
        for _ in 0..MAX_TRACES + 10 {
            s.record_trace(1, "text", vec![]);
        }
        let latest = s.latest_traces(3);
        assert_eq!(latest[0].id, format!("tr_{:06x}", MAX_TRACES + 10));
        assert!(s.trace("tr_000001").is_none());
        s.with_user(s.pools().id(Tier::User, 0).unwrap(), |u| {
            for i in 0..MAX_TASKS + 5 {
                u.add_task(format!("t{i}"));
            }
            assert_eq!(u.tasks.len(), MAX_TASKS);
        });
    }

    #[test]
    fn circuits_trip_after_repeated_failures() {
        let s = BotState::new(TierPools::default());
        for _ in 0..TRIP_AFTER {
            s.circuit_result(0, false);
        }
        assert_eq!(s.circuit_states()[0].1, CircuitState::Open);
        s.circuit_result(0, true);
        assert_eq!(s.circuit_states()[0].1, CircuitState::Closed);
    }
}
