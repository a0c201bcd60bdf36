//! How fast the scheduler started and stopped users, one [`SpawnPhase`] per ramp it walked.

use serde::{Deserialize, Serialize};

/// One ramp, as walked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpawnPhase {
    /// What asked for it: `stage N` of the profile, `control` (the API or the keys),
    /// `profile edit (stage N)` or `reload` (users moved between classes).
    pub source: String,
    /// Users per second asked for.
    pub asked_rate: f64,
    /// Users started, stopped and moved during the ramp.
    pub started: u64,
    pub stopped: u64,
    pub moved: u64,
    /// Changes after the ramp reached its users (users that ended and were replaced): not part
    /// of the rate.
    pub after: u64,
    /// Seconds from the run's start to its first and its last change.
    pub first_s: f64,
    pub last_s: f64,
    /// (changes - 1) / (last_s - first_s): the rate between the first and the last change.
    /// `null` with fewer than two changes, or all at one instant.
    pub achieved_rate: Option<f64>,
}

impl SpawnPhase {
    /// Changes during the ramp.
    pub(crate) fn changes(&self) -> u64 {
        self.started + self.stopped + self.moved
    }
}
