//! How fast the scheduler started and stopped users. Every ramp it walks (a profile stage, a
//! change asked through the control API or the keys, a profile edit, the moves a reload asks
//! for) is one [`SpawnPhase`]: the rate asked and the rate of its changes between the first and
//! the last, so a run shows whether the scheduler kept the shape it promised. The times are the
//! scheduler's decisions; a worker starts a user a few microseconds later.

use crate::report::SpawnPhase;

/// What a phase did to the number of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Start,
    Stop,
    /// A user moved between classes after a reload changed the weights (one stop, one start).
    Move,
}

/// Which plan a change belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PhaseKey {
    /// The scheduler's plan generation, bumped by every command.
    pub generation: u64,
    /// The profile stage (0 for a plan set through the control API).
    pub stage: usize,
    pub change: Change,
    /// For moves: which reload asked for them.
    pub reload: u64,
}

/// The scheduler's record of its phases.
#[derive(Debug, Default)]
pub(crate) struct SpawnLog {
    phases: Vec<SpawnPhase>,
    /// The last phase's key, and whether it is still ramping (open) or reached its users.
    last: Option<(PhaseKey, bool)>,
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
        match self.last {
            Some((k, true)) if k == key => {}
            Some((k, false)) if k == key => {
                self.phases.last_mut().expect("a key has its phase").after += 1;
                return;
            }
            _ => {
                self.last = Some((key, true));
                self.phases.push(SpawnPhase {
                    source: source(),
                    asked_rate: rate,
                    started: 0,
                    stopped: 0,
                    moved: 0,
                    after: 0,
                    first_s: t_s,
                    last_s: t_s,
                    achieved_rate: None,
                });
            }
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

    /// The plan's users are reached: later changes for the same plan (replacements) are counted
    /// as `after` rather than stretching the ramp.
    pub fn close(&mut self) {
        if let Some((_, open)) = &mut self.last {
            *open = false;
        }
    }

    /// The phases, in order.
    pub fn into_phases(self) -> Vec<SpawnPhase> {
        self.phases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(generation: u64, change: Change) -> PhaseKey {
        PhaseKey {
            generation,
            stage: 0,
            change,
            reload: 0,
        }
    }

    #[test]
    fn a_phase_measures_the_rate_between_its_first_and_last_change() {
        let mut log = SpawnLog::default();
        let stage = || "stage 1".to_string();
        let up = key(0, Change::Start);
        for i in 0..101 {
            log.change(up, stage, 50.0, 1.0 + f64::from(i) * 0.02, Change::Start);
        }
        log.close();
        // Replacements after the ramp are counted apart, not in its rate.
        log.change(up, stage, 50.0, 30.0, Change::Start);
        log.change(up, stage, 50.0, 40.0, Change::Start);
        let control = || "control".to_string();
        log.change(key(1, Change::Stop), control, 10.0, 31.0, Change::Stop);
        log.change(key(1, Change::Stop), control, 10.0, 31.5, Change::Stop);
        // One change, or all at one instant: no rate.
        log.change(key(2, Change::Start), control, 10.0, 32.0, Change::Start);
        let phases = log.into_phases();
        assert_eq!(phases.len(), 3);
        assert_eq!((phases[0].started, phases[0].after), (101, 2));
        assert_eq!((phases[0].first_s, phases[0].last_s), (1.0, 3.0));
        assert!((phases[0].achieved_rate.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(phases[1].source, "control");
        assert_eq!(phases[1].stopped, 2);
        assert!((phases[1].achieved_rate.unwrap() - 2.0).abs() < 1e-9);
        assert_eq!((phases[2].started, phases[2].achieved_rate), (1, None));
    }
}
