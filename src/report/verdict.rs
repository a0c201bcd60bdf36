//! How one threshold came out.

use serde::{Deserialize, Serialize};

/// How a rule came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub threshold: String,
    pub passed: bool,
    /// What was measured, in the rule's unit.
    pub observed: String,
}
