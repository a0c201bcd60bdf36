//! `stress run` (and plain `stress`): a load test. The command checks the flags ([`config`]),
//! runs the [`pipeline`], evaluates the thresholds, prints the table and writes the result
//! files.
//!
//! [`config`]: crate::config

mod bot;
mod limits;
pub mod pipeline;

use std::process::ExitCode;

pub use pipeline::{Outcome, Started, run, run_with};

use super::{EXIT_THRESHOLD, shutdown_signal};
use crate::cli::RunArgs;
use crate::config;
use crate::output::table;

/// Runs a load test from its flags; the exit code says whether every threshold passed.
pub async fn command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::run(&args)?;
    for warning in config.scripts.warnings() {
        eprintln!("warning: {warning}");
    }
    let files = config.outputs.clone();
    let thresholds = config.thresholds.clone();
    let mut outcome = run(config, shutdown_signal()).await?;
    let summary = &mut outcome.summary;
    summary.thresholds = thresholds.iter().map(|t| t.evaluate(summary)).collect();
    print!("{}", table::render(summary));
    for (format, path) in &files {
        format.write(summary, path)?;
    }
    if summary.thresholds.iter().any(|v| !v.passed) {
        return Ok(ExitCode::from(EXIT_THRESHOLD));
    }
    Ok(ExitCode::SUCCESS)
}
