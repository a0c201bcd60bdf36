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
use super::{EXIT_RUNTIME, gate, results};
use crate::cli::RunArgs;
use crate::config::{self, ConfigError};
use crate::output::{comparison, files, table};
use crate::report::Summary;
use crate::report::compare::{RelativeRule, compare};

/// Runs a load test from its flags. Ctrl-C, SIGTERM or SIGHUP stop it gracefully, a second one
/// at once; either way the table is printed and every result file written. The exit code says
/// whether every threshold passed (3 if not) and every file was written (1 if not).
pub async fn command(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::run(&args)?;
    for warning in config.scripts.warnings() {
        eprintln!("warning: {warning}");
    }
    let baseline = baseline(&args)?;
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
    if let Some((label, base, rules)) = &baseline {
        let mut c = compare(label, base, "this run", summary).map_err(anyhow::Error::msg)?;
        c.rules = rules.iter().map(|r| r.evaluate(&c)).collect();
        summary.comparison = Some(Box::new(c));
    }
    // The files first: a terminal that hung up (SIGHUP) or a closed pipe must not cost them.
    let failed = files::write_all(summary, &outputs);
    let mut shown = table::render(summary, wide);
    if let Some(c) = &summary.comparison {
        shown.push_str(&comparison::render(c));
    }
    let _ = std::io::stdout().lock().write_all(shown.as_bytes());
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
    let reason = gate::failed(summary, !thresholds.is_empty(), allow_failures);
    Ok(ExitCode::from(gate::exit(reason)))
}

/// `--baseline FILE` and the relative `--threshold`s to check against it, read before the
/// run so a bad file stops it at once.
fn baseline(args: &RunArgs) -> anyhow::Result<Option<(String, Summary, Vec<RelativeRule>)>> {
    let Some(path) = &args.baseline else {
        return Ok(None);
    };
    let base = results::read("--baseline", path)?;
    let label = path.display().to_string();
    // Every histogram of the baseline is read now, not after the run.
    compare(&label, &base, &label, &base).map_err(|message| ConfigError {
        flag: "--baseline",
        message,
    })?;
    let rules = args
        .thresholds
        .iter()
        .filter(|t| RelativeRule::is_relative(t))
        .map(|t| {
            RelativeRule::parse(t).map_err(|message| ConfigError {
                flag: "--threshold",
                message,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((label, base, rules)))
}
