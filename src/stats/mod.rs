//! Statistics: every worker thread records its samples into its own [`Recorder`] (no lock shared
//! between threads) and hands the interval's data to the [`aggregate`] task once a second, which
//! owns the run's totals and per-second history and turns them into the results model
//! ([`summarize`]). HDR histograms throughout: exact to merge, fixed in size, so memory stays
//! flat however long the run.

pub mod aggregate;
pub mod hist;
pub mod names;
pub mod recorder;
mod serialize;
mod summarize;

pub use aggregate::{Aggregator, LiveInfo};
pub use recorder::{Interval, Recorder};
pub use serialize::histograms;
pub use summarize::summarize;
