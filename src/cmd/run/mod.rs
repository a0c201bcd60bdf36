//! `stress run` (and plain `stress`): a load test. The command checks the flags ([`config`]),
//! runs the [`pipeline`], evaluates the thresholds, prints the table and writes the result
//! files.
//!
//! [`config`]: crate::config

mod bot;
mod limits;
pub mod pipeline;

use std::io::Write;
use std::process::ExitCode;

pub use pipeline::{Outcome, Started, Stop, run, run_with};

use super::signals::Signals;
use super::{EXIT_RUNTIME, EXIT_THRESHOLD};
use crate::cli::RunArgs;
use crate::config;
use crate::output::{files, table};

/// Runs a load test from its flags. Ctrl-C, SIGTERM or SIGHUP stop it gracefully, a second one
/// at once; either way the table is printed and every result file written. The exit code says
/// whether every threshold passed (3 if not) and every file was written (1 if not).
pub async fn command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::run(&args)?;
    for warning in config.scripts.warnings() {
        eprintln!("warning: {warning}");
    }
    let outputs = config.outputs.clone();
    let thresholds = config.thresholds.clone();
    let allow_failures = args.allow_failures;
    let wide = args.wide;
    let signals = Signals::listen();
    let stop = Stop {
        graceful: signals.first(),
        now: signals.second(),
    };
    let mut outcome = run_with(config, stop, |_| {}).await?;
    let summary = &mut outcome.summary;
    summary.thresholds = thresholds.iter().map(|t| t.evaluate(summary)).collect();
    // The files first: a terminal that hung up (SIGHUP) or a closed pipe must not cost them.
    let failed = files::write_all(summary, &outputs);
    let _ = std::io::stdout()
        .lock()
        .write_all(table::render(summary, wide).as_bytes());
    for e in &failed {
        eprintln!("error: {e:#}");
    }
    if let Some(panic) = outcome.worker_panics.first() {
        eprintln!(
            "error: a worker thread panicked ({panic}); its users' statistics are missing from \
             the results"
        );
        return Ok(ExitCode::from(EXIT_RUNTIME));
    }
    if !failed.is_empty() {
        return Ok(ExitCode::from(EXIT_RUNTIME));
    }
    if summary.thresholds.iter().any(|v| !v.passed) {
        return Ok(ExitCode::from(EXIT_THRESHOLD));
    }
    if thresholds.is_empty() && !allow_failures {
        let t = &summary.totals;
        let mut broken = Vec::new();
        if t.failures > 0 {
            broken.push(format!("{} of {} requests failed", t.failures, t.requests));
        }
        if t.script_errors > 0 {
            broken.push(format!("{} script errors", t.script_errors));
        }
        if !broken.is_empty() {
            eprintln!(
                "failed: {} (with no --threshold, any failure fails the run; \
                 --allow-failures or a threshold such as errors<1% decides otherwise)",
                broken.join(" and ")
            );
            return Ok(ExitCode::from(EXIT_THRESHOLD));
        }
    }
    Ok(ExitCode::SUCCESS)
}
