//! The run second by second: what the JSON's `history` holds, and the per-second rows of
//! Locust's `_stats_history.csv`.

use serde::{Deserialize, Serialize};

use super::Percentiles;

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Seconds since the start (the end of the second this point covers).
    pub t: u64,
    pub users: u32,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Reply latency p95, when replies were awaited.
    pub reply_p95_ms: Option<f64>,
    pub tasks: u64,
    pub script_errors: u64,
    /// The script version a reload published during this second, if one did.
    pub reload: Option<u64>,
}

/// One second as Locust's `_stats_history.csv` has it: the current percentiles over the last
/// ten seconds (Locust's window), and the totals so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowPoint {
    pub t: u64,
    pub users: u32,
    pub requests: u64,
    pub failures: u64,
    /// The last ten seconds' latency.
    pub current: Percentiles,
    /// Everything up to this second.
    pub total: Percentiles,
    pub total_failures: u64,
    pub total_bytes: u64,
}
