//! Load profiles: how many virtual users over time. The four presets, a TOML file (flat or with
//! stages) and the `--users`/`--spawn-rate`/`--run-time` flags all become one [`Profile`]: a list
//! of stages the scheduler walks with a single loop.

mod capacity;
pub mod chaos;
pub mod file;
pub mod shard;
pub mod split;

use std::time::Duration;

pub use capacity::pool_capacity;
pub use chaos::Chaos;
pub use split::ClassSplit;

/// The command-line flags that override every profile, a profile file edited during the run
/// included.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overrides {
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
    pub run_time: Option<Duration>,
}

/// One stage: move to `users` at `spawn_rate` users per second, and stay until the stage has
/// lasted `duration` (counted from its start, ramp included).
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub users: u32,
    pub spawn_rate: f64,
    pub duration: Duration,
}

/// A load profile in its one normal form.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub stages: Vec<Stage>,
    /// Pass/fail rules the profile file sets (`thresholds = [...]`), as written.
    pub thresholds: Vec<String>,
    /// An open profile's task starts over time (its `stages` then hold the pool of users).
    pub arrivals: Option<ArrivalPlan>,
    /// Flood limits, injected faults and their windows, redelivery.
    pub chaos: Chaos,
}

/// One stage of an open profile: the rate ramps to `rate` task starts per second over
/// `duration` (linearly from the previous stage's rate; the first stage holds its rate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    pub rate: f64,
    pub duration: Duration,
}

/// The open model's starts over the run, as `--arrival-rate` or a profile's `arrival_rate`
/// stages give them, with the pool of users that take them.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalPlan {
    pub stages: Vec<RateStage>,
    /// Users that take the starts (`--max-users`, or the file's `max_users`).
    pub max_users: Option<u32>,
}

impl ArrivalPlan {
    /// One rate for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self {
            stages: vec![RateStage { rate, duration }],
            max_users: None,
        }
    }

    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// Starts per second `t` into the run (0 past its end).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let mut start = Duration::ZERO;
        let mut previous = None;
        for s in &self.stages {
            if t < start + s.duration {
                let from = previous.unwrap_or(s.rate);
                let into = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return from + (s.rate - from) * into;
            }
            start += s.duration;
            previous = Some(s.rate);
        }
        0.0
    }

    /// The moment after `t` by which `count` more starts are due: where the area under the
    /// rate from `t` reaches `count` (exact on the linear ramps); `None` past the plan's end.
    pub fn after(&self, t: Duration, count: f64) -> Option<Duration> {
        let mut need = count;
        let mut start = Duration::ZERO;
        let mut previous = None;
        for s in &self.stages {
            let end = start + s.duration;
            let from_rate = previous.unwrap_or(s.rate);
            previous = Some(s.rate);
            if end <= t {
                start = end;
                continue;
            }
            let slope = (s.rate - from_rate) / s.duration.as_secs_f64();
            let at = t.max(start);
            let a = self.rate_at(at);
            let span = (end - at).as_secs_f64();
            let area = (a + a + slope * span) / 2.0 * span;
            if area >= need {
                // a·x + slope·x²/2 = need, for the smallest x ≥ 0.
                let x = if slope.abs() < 1e-12 {
                    need / a
                } else {
                    (-a + (a * a + 2.0 * slope * need).max(0.0).sqrt()) / slope
                };
                return Some(at + Duration::from_secs_f64(x.clamp(0.0, span)));
            }
            need -= area;
            start = end;
        }
        None
    }

    fn validate(&self) -> Result<(), ProfileError> {
        for (i, s) in self.stages.iter().enumerate() {
            if !(s.rate.is_finite() && (0.0..=1e6).contains(&s.rate)) {
                return Err(err(
                    format!("stages[{i}].arrival_rate"),
                    format!("{} is not between 0 and 1000000 starts per second", s.rate),
                ));
            }
            if s.duration.is_zero() {
                return Err(err(
                    format!("stages[{i}].duration"),
                    "a stage must last longer than zero",
                ));
            }
        }
        if self.stages.iter().all(|s| s.rate == 0.0) {
            return Err(err("stages", "the profile never starts a task"));
        }
        Ok(())
    }
}

/// A profile that cannot run, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProfileError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ProfileError {
    ProfileError {
        field: field.into(),
        message: message.into(),
    }
}

/// The presets' names, in the order `--help` lists them.
pub const PRESETS: [&str; 6] = ["smoke", "ramp_up", "sustained", "spike", "soak", "chaos"];

/// The chaos preset: sustained load with fault windows (the file is the preset).
const CHAOS: &str = include_str!("../../profiles/chaos.toml");

impl Profile {
    fn single(name: &str, users: u32, spawn_rate: f64, duration: Duration) -> Self {
        Self {
            name: name.into(),
            stages: vec![Stage {
                users,
                spawn_rate,
                duration,
            }],
            thresholds: Vec::new(),
            arrivals: None,
            chaos: Chaos::default(),
        }
    }

    /// smoke (the default: a quick look) 20 users at 5/s for 30s; ramp_up 1000 users at 10/s for 5m; sustained 1000 at 50/s for 10m; spike 2000 at 100/s
    /// for 3m; soak 200 at 20/s for 1h; chaos: sustained for 10m with fault windows (profiles/chaos.toml).
    pub fn preset(name: &str) -> Option<Self> {
        let min = |m: u64| Duration::from_secs(60 * m);
        Some(match name {
            "smoke" => Self::single(name, 20, 5.0, Duration::from_secs(30)),
            "ramp_up" => Self::single(name, 1000, 10.0, min(5)),
            "sustained" => Self::single(name, 1000, 50.0, min(10)),
            "spike" => Self::single(name, 2000, 100.0, min(3)),
            "soak" => Self::single(name, 200, 20.0, min(60)),
            "chaos" => file::parse(CHAOS, name)
                .expect("the chaos preset is valid TOML")
                .expect("the chaos preset is a valid profile"),
            _ => return None,
        })
    }

    /// The whole run's length.
    pub fn run_time(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The most users at any time.
    pub fn peak_users(&self) -> u32 {
        self.stages.iter().map(|s| s.users).max().unwrap_or(0)
    }

    /// Applies the command-line overrides. `users` scales every stage's target so the shape is
    /// kept (a one-stage profile simply gets the number); `spawn_rate` replaces every stage's
    /// rate; `run_time` cuts the plan short or lengthens its last stage.
    pub fn with_overrides(mut self, overrides: &Overrides) -> Result<Self, ProfileError> {
        let Overrides {
            users,
            spawn_rate,
            run_time,
        } = *overrides;
        if let Some(users) = users {
            let peak = self.peak_users().max(1);
            for s in &mut self.stages {
                s.users = ((u64::from(s.users) * u64::from(users) + u64::from(peak) / 2)
                    / u64::from(peak)) as u32;
            }
        }
        if let Some(rate) = spawn_rate {
            for s in &mut self.stages {
                s.spawn_rate = rate;
            }
        }
        if let Some(limit) = run_time {
            let mut kept = Vec::new();
            let mut elapsed = Duration::ZERO;
            for mut s in self.stages {
                if elapsed >= limit {
                    break;
                }
                s.duration = s.duration.min(limit - elapsed);
                elapsed += s.duration;
                kept.push(s);
            }
            if let Some(last) = kept.last_mut() {
                last.duration += limit.saturating_sub(elapsed);
            }
            self.stages = kept;
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks that the profile can run.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if let Some(plan) = &self.arrivals {
            plan.validate()?;
        }
        self.chaos.validate()?;
        if self.stages.is_empty() {
            return Err(err("stages", "a profile needs at least one stage"));
        }
        for (i, s) in self.stages.iter().enumerate() {
            let at = |f: &str| {
                if self.stages.len() == 1 {
                    f.to_string()
                } else {
                    format!("stages[{i}].{f}")
                }
            };
            if !(s.spawn_rate.is_finite() && s.spawn_rate > 0.0) {
                return Err(err(
                    at("spawn_rate"),
                    format!("{} is not a positive rate (users per second)", s.spawn_rate),
                ));
            }
            if s.duration.is_zero() {
                return Err(err(at("run_time"), "a stage must last longer than zero"));
            }
        }
        if self.peak_users() == 0 {
            return Err(err("users", "the profile never starts a user"));
        }
        Ok(())
    }

    /// Users `into` a stage that started with `from`: a ramp towards its target at its rate,
    /// which may end before the target is reached.
    fn ramp(from: u32, s: &Stage, into: Duration) -> u32 {
        let ramped = (into.as_secs_f64() * s.spawn_rate).floor() as i64;
        let (from, to) = (i64::from(from), i64::from(s.users));
        let now = if to >= from {
            (from + ramped).min(to)
        } else {
            (from - ramped).max(to)
        };
        now as u32
    }

    /// When the profile reaches its final number of users for good: the last stage's start plus
    /// its ramp.
    pub fn settled_at(&self) -> Duration {
        let Some(last) = self.stages.last() else {
            return Duration::ZERO;
        };
        let start = self.run_time() - last.duration;
        let from = if self.stages.len() > 1 {
            self.users_at(start.saturating_sub(Duration::from_nanos(1)))
        } else {
            0
        };
        let ramp = f64::from(from.abs_diff(last.users)) / last.spawn_rate;
        (start + Duration::from_secs_f64(ramp)).min(self.run_time())
    }

    /// The stage running `t` after the start (the last one after the end), and when it ends.
    pub fn stage_at(&self, t: Duration) -> (usize, Duration) {
        let mut end = Duration::ZERO;
        for (i, s) in self.stages.iter().enumerate() {
            end += s.duration;
            if t < end {
                return (i, end);
            }
        }
        (self.stages.len().saturating_sub(1), end)
    }

    /// The spawn rate of the stage running `t` after the start (the last stage's after the end).
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.stages
            .get(self.stage_at(t).0)
            .map_or(1.0, |s| s.spawn_rate)
    }

    /// How many users should be running `t` after the start: each stage ramps from the previous
    /// stage's users towards its own at its spawn rate.
    pub fn users_at(&self, t: Duration) -> u32 {
        let mut from = 0u32;
        let mut start = Duration::ZERO;
        for s in &self.stages {
            let end = start + s.duration;
            if t < end || std::ptr::eq(s, self.stages.last().expect("validated")) {
                return Self::ramp(from, s, t.saturating_sub(start));
            }
            from = Self::ramp(from, s, s.duration);
            start = end;
        }
        from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_design() {
        let p = Profile::preset("spike").unwrap();
        assert_eq!(
            (p.peak_users(), p.run_time()),
            (2000, Duration::from_secs(180))
        );
        assert_eq!(p.users_at(Duration::from_millis(10_500)), 1050);
        assert_eq!(p.users_at(Duration::from_secs(100)), 2000);
        for name in PRESETS {
            Profile::preset(name).unwrap().validate().unwrap();
        }
        assert!(Profile::preset("nope").is_none());
    }

    #[test]
    fn the_stage_running_at_a_time_and_its_end() {
        let stage = |users, secs| Stage {
            users,
            spawn_rate: 10.0,
            duration: Duration::from_secs(secs),
        };
        let p = Profile {
            name: "two".into(),
            stages: vec![stage(10, 30), stage(20, 60)],
            thresholds: Vec::new(),
            arrivals: None,
            chaos: Default::default(),
        };
        let s = Duration::from_secs;
        assert_eq!(p.stage_at(s(0)), (0, s(30)));
        assert_eq!(p.stage_at(s(29)), (0, s(30)));
        assert_eq!(p.stage_at(s(30)), (1, s(90)));
        // After the end (a run extended past its profile): the last stage, ended.
        assert_eq!(p.stage_at(s(500)), (1, s(90)));
    }

    #[test]
    fn overrides_keep_the_shape() {
        let p = Profile {
            name: "steps".into(),
            stages: vec![
                Stage {
                    users: 100,
                    spawn_rate: 10.0,
                    duration: Duration::from_secs(60),
                },
                Stage {
                    users: 400,
                    spawn_rate: 10.0,
                    duration: Duration::from_secs(60),
                },
                Stage {
                    users: 50,
                    spawn_rate: 10.0,
                    duration: Duration::from_secs(60),
                },
            ],
            thresholds: Vec::new(),
            arrivals: None,
            chaos: Default::default(),
        };
        let q = p
            .clone()
            .with_overrides(&Overrides {
                users: Some(200),
                spawn_rate: Some(5.0),
                run_time: Some(Duration::from_secs(90)),
            })
            .unwrap();
        assert_eq!(
            q.stages.iter().map(|s| s.users).collect::<Vec<_>>(),
            [50, 200]
        );
        assert_eq!(q.run_time(), Duration::from_secs(90));
        assert!(q.stages.iter().all(|s| s.spawn_rate == 5.0));
        let longer = p
            .with_overrides(&Overrides {
                users: None,
                spawn_rate: None,
                run_time: Some(Duration::from_secs(600)),
            })
            .unwrap();
        assert_eq!(longer.stages[2].duration, Duration::from_secs(480));
        // A stage too short for its ramp hands on the count it reached.
        let slow = Profile {
            name: "slow".into(),
            stages: vec![
                Stage {
                    users: 1000,
                    spawn_rate: 1.0,
                    duration: Duration::from_secs(60),
                },
                Stage {
                    users: 1000,
                    spawn_rate: 1.0,
                    duration: Duration::from_secs(60),
                },
            ],
            thresholds: Vec::new(),
            arrivals: None,
            chaos: Default::default(),
        };
        assert_eq!(slow.users_at(Duration::from_secs(61)), 61);
        // Ramping down from 400 to 50 at 10/s.
        assert_eq!(longer.users_at(Duration::from_secs(125)), 350);
    }

    #[test]
    fn bad_values_name_their_field() {
        let p = Profile::preset("soak").unwrap();
        let e = p
            .clone()
            .with_overrides(&Overrides {
                users: Some(0),
                spawn_rate: None,
                run_time: None,
            })
            .unwrap_err();
        assert_eq!(e.field, "users");
        let e = p
            .with_overrides(&Overrides {
                users: None,
                spawn_rate: Some(0.0),
                run_time: None,
            })
            .unwrap_err();
        assert_eq!(e.field, "spawn_rate");
    }

    #[test]
    fn an_arrival_plan_ramps_between_its_stages() {
        let s = Duration::from_secs;
        let plan = ArrivalPlan {
            stages: vec![
                RateStage {
                    rate: 0.0,
                    duration: s(10),
                },
                RateStage {
                    rate: 100.0,
                    duration: s(10),
                },
                RateStage {
                    rate: 100.0,
                    duration: s(10),
                },
            ],
            max_users: None,
        };
        assert_eq!(plan.rate_at(s(5)), 0.0, "the first stage holds its rate");
        assert_eq!(plan.rate_at(s(15)), 50.0, "halfway up the ramp");
        assert_eq!(plan.rate_at(s(25)), 100.0);
        assert_eq!(plan.rate_at(s(30)), 0.0, "past the end");
        assert_eq!(ArrivalPlan::constant(5.0, s(3)).rate_at(s(2)), 5.0);
        // Starts by area: 10 at 100/s take 0.1 s; the ramp from 0 to 100/s holds 500 in 10 s.
        let close = |a: Option<Duration>, b: f64| (a.unwrap().as_secs_f64() - b).abs() < 1e-6;
        assert!(close(plan.after(s(20), 10.0), 20.1));
        assert!(close(plan.after(s(5), 500.0), 20.0));
        assert!(close(plan.after(s(10), 25.0), 10.0 + 5f64.sqrt()));
        assert_eq!(plan.after(s(29), 1000.0), None, "past the end");
    }
}
