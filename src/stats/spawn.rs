//! How fast users really started and stopped. Every ramp the scheduler walks (a profile stage,
//! or a change the control API or a profile edit asked for) is one [`SpawnPhase`]: the rate it
//! asked for and the rate it achieved between its first and its last change, so a run shows
//! whether the load generator kept the shape it promised.

use serde::{Deserialize, Serialize};

/// What a phase did to the number of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Start,
    Stop,
    /// A user moved between classes after a reload changed the weights (one stop, one start).
    Move,
}

/// One ramp, as walked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpawnPhase {
    /// What asked for it: `stage N` of the profile, `control API` or `profile edit`.
    pub source: String,
    /// Users per second asked for.
    pub asked_rate: f64,
    pub started: u64,
    pub stopped: u64,
    pub moved: u64,
    /// Seconds from the run's start to its first and its last change.
    pub first_s: f64,
    pub last_s: f64,
    /// (changes - 1) / (last_s - first_s): the rate between the first and the last change.
    /// `null` with fewer than two changes.
    pub achieved_rate: Option<f64>,
}

impl SpawnPhase {
    fn changes(&self) -> u64 {
        self.started + self.stopped + self.moved
    }
}

/// Which plan a change belongs to: the scheduler's plan generation (bumped by every command),
/// the profile stage, and the kind of change.
pub type PhaseKey = (u64, usize, Change);

/// The scheduler's record of its phases.
#[derive(Debug, Default)]
pub struct SpawnLog {
    phases: Vec<SpawnPhase>,
    /// The phase changes go to; a new one opens when the key differs or the last one closed.
    open: Option<PhaseKey>,
}

impl SpawnLog {
    /// One change at `t_s` seconds into the run, for the plan `key` asking `rate` per second.
    pub fn change(
        &mut self,
        key: PhaseKey,
        source: impl FnOnce() -> String,
        rate: f64,
        t_s: f64,
        change: Change,
    ) {
        if self.open != Some(key) {
            self.open = Some(key);
            self.phases.push(SpawnPhase {
                source: source(),
                asked_rate: rate,
                started: 0,
                stopped: 0,
                moved: 0,
                first_s: t_s,
                last_s: t_s,
                achieved_rate: None,
            });
        }
        let phase = self.phases.last_mut().expect("opened above");
        match change {
            Change::Start => phase.started += 1,
            Change::Stop => phase.stopped += 1,
            Change::Move => phase.moved += 1,
        }
        phase.last_s = t_s;
        let span = phase.last_s - phase.first_s;
        phase.achieved_rate =
            (phase.changes() >= 2 && span > 0.0).then(|| (phase.changes() - 1) as f64 / span);
    }

    /// The plan's users are reached: later changes (a replacement, a rebalance) open a new phase
    /// rather than stretching this one.
    pub fn close(&mut self) {
        self.open = None;
    }

    pub fn into_phases(self) -> Vec<SpawnPhase> {
        self.phases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_measures_the_rate_between_its_first_and_last_change() {
        let mut log = SpawnLog::default();
        let stage = || "stage 1".to_string();
        for i in 0..101 {
            log.change(
                (0, 0, Change::Start),
                stage,
                50.0,
                1.0 + f64::from(i) * 0.02,
                Change::Start,
            );
        }
        log.close();
        // A replacement after the ramp is its own phase, with no rate.
        log.change((0, 0, Change::Start), stage, 50.0, 30.0, Change::Start);
        log.change(
            (1, 0, Change::Stop),
            || "control API".into(),
            10.0,
            31.0,
            Change::Stop,
        );
        log.change(
            (1, 0, Change::Stop),
            || "control API".into(),
            10.0,
            31.5,
            Change::Stop,
        );
        let phases = log.into_phases();
        assert_eq!(phases.len(), 3);
        assert_eq!(phases[0].started, 101);
        assert_eq!((phases[0].first_s, phases[0].last_s), (1.0, 3.0));
        assert!((phases[0].achieved_rate.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!((phases[1].started, phases[1].achieved_rate), (1, None));
        assert_eq!(phases[2].source, "control API");
        assert_eq!(phases[2].stopped, 2);
        assert!((phases[2].achieved_rate.unwrap() - 2.0).abs() < 1e-9);
    }
}
