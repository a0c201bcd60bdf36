//! The results model: everything a result holds, in one place. The JSON schema
//! (`schema/result.v1.json`) describes these types; the terminal table, the CSV files, the HTML
//! report, the dashboard and `/metrics` all read them. A live [`Snapshot`] and the final
//! [`Summary`] are the same type, built by one function (`stats::summarize`), and the
//! dashboard's [`View`] is derived from either by one function ([`View::of`]).

mod botapi;
pub mod compare;
mod failure;
pub mod histograms;
mod history;
mod logs;
pub mod merge;
mod percentiles;
mod reload;
mod resilience;
mod shard;
mod spawn;
mod summary;
mod verdict;
pub mod view;

use std::sync::Arc;

pub use botapi::{BotApiReport, FloodReport, GateSpan, PollingReport};
pub use compare::Comparison;
pub use failure::ErrorKind;
pub use histograms::Histograms;
pub use history::{HistoryPoint, Mergeable, WindowPoint, thin};
pub use logs::LogLine;
pub use percentiles::Percentiles;
pub use reload::{ReloadEvent, Trigger};
pub use resilience::{Resilience, WindowOutcome};
pub use shard::ShardInfo;
pub use spawn::SpawnPhase;
pub use summary::{
    CheckRow, ClassInfo, ClassRow, ErrorRow, FailureRow, LimitRow, ProfileInfo, RequestRow,
    RunInfo, SCHEMA, StageInfo, Summary, TaskRow, Totals,
};
pub use verdict::Verdict;
pub use view::View;

/// The run so far, as the live display, the dashboard and `/metrics` read it once a second.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub summary: Arc<Summary>,
    /// Users running now.
    pub users: u32,
}

impl Snapshot {
    /// Requests in the last complete second.
    pub fn rps(&self) -> u64 {
        self.summary.history.last().map_or(0, |p| p.requests)
    }
}
