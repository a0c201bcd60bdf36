//! Statistics: every worker thread records its samples into its own [`Recorder`] (no lock shared
//! between threads) and hands the interval's data to the [`aggregate`] task once a second, which
//! owns the run's totals and per-second history. HDR histograms throughout: exact to merge,
//! fixed in size, so memory stays flat however long the run.

pub mod aggregate;
pub mod hist;
pub mod recorder;
pub mod spawn;
pub mod summary;

pub use aggregate::{Aggregator, Snapshot};
pub use recorder::{Interval, Recorder};
pub use summary::{SCHEMA, Summary};
