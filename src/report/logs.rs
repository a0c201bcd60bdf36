//! What scripts logged (`log`, `print`, `debug`), as the result keeps it: the latest lines, each
//! with its user, task and script line.

use serde::{Deserialize, Serialize};

/// One line a script logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Seconds since the run's start.
    pub t_s: f64,
    /// `info` (`log`, `print`) or `debug` (`debug`).
    pub level: String,
    pub class: String,
    pub vu: u64,
    /// The task, `on_start` or `on_stop` that logged it.
    pub task: String,
    /// `file:line:col` of the call.
    pub at: String,
    pub text: String,
}
