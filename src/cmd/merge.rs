//! `stress merge FILE...`: the shards of one test made into its result (`report::merge`),
//! checked against the thresholds, shown as the run's table and written as a run writes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_RUNTIME, gate, results};
use crate::cli::MergeArgs;
use crate::config::ConfigError;
use crate::output::{Format, files, table};
use crate::report::merge::{MergeOptions, ShardFile, merge};
use crate::threshold::Threshold;

/// Merges the files; the exit code is a run's (3 when a threshold fails).
pub fn command(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let usage = |flag: &'static str| move |message: String| ConfigError { flag, message };
    let thresholds = args
        .thresholds
        .iter()
        .map(|t| Threshold::parse(t).map_err(usage("--threshold")))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs: Vec<(Format, PathBuf)> = [
        (Format::Json, &args.json),
        (Format::Csv, &args.csv),
        (Format::Html, &args.html),
        (Format::Markdown, &args.markdown),
        (Format::Junit, &args.junit),
    ]
    .into_iter()
    .filter_map(|(format, path)| path.clone().map(|p| (format, p)))
    .collect();
    for (format, path) in &outputs {
        format.check(path).map_err(usage(format.flag()))?;
    }
    let shards = args
        .files
        .iter()
        .map(|path| {
            Ok(ShardFile {
                label: path.display().to_string(),
                summary: results::read("FILE", path)?,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let options = MergeOptions {
        allow_missing: args.allow_missing,
        allow_partial: args.allow_partial,
    };
    let merged = merge(&shards, options).map_err(usage("FILE"))?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    let mut summary = merged.summary;
    summary.thresholds = thresholds.iter().map(|t| t.evaluate(&summary)).collect();
    let failed = files::write_all(&summary, &outputs);
    let _ = std::io::stdout()
        .lock()
        .write_all(table::render(&summary, args.wide).as_bytes());
    for e in &failed {
        eprintln!("error: {e:#}");
    }
    if !failed.is_empty() {
        return Ok(ExitCode::from(EXIT_RUNTIME));
    }
    let reason = gate::failed(&summary, !thresholds.is_empty(), args.allow_failures);
    Ok(ExitCode::from(gate::exit(reason)))
}
