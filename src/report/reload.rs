//! Reloads as a result records them: when, what started one, which files, and what failed.

use serde::{Deserialize, Serialize};

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A file changed.
    Watch,
    /// The control API or a key.
    Request,
}

/// One reload, as the results record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadEvent {
    /// The script version running after it (unchanged when nothing could be published).
    pub version: u64,
    /// Seconds since the run's start.
    pub t_s: f64,
    pub trigger: Trigger,
    /// The files whose change started it (empty for a request).
    pub files: Vec<String>,
    /// Whether everything compiled (or the profile parsed).
    pub ok: bool,
    /// `file:line:col: message` for each script or profile that failed.
    pub errors: Vec<String>,
}
