//! `stress compare BASE NEW`: two results held against each other (`report::compare`), with
//! the relative thresholds as a CI gate.

use std::io::Write;
use std::process::ExitCode;

use super::{EXIT_RUNTIME, gate, results};
use crate::cli::CompareArgs;
use crate::config::ConfigError;
use crate::output::{comparison, files, junit, markdown};
use crate::report::compare::{RelativeRule, compare};

/// Compares the two files; exit 3 when a relative threshold fails (with none, when a row got
/// slower).
pub fn command(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let usage = |flag: &'static str| move |message: String| ConfigError { flag, message };
    let rules = args
        .thresholds
        .iter()
        .map(|t| RelativeRule::parse(t).map_err(usage("--threshold")))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = [
        ("--markdown", &args.markdown),
        ("--junit", &args.junit),
        ("--json", &args.json),
    ];
    for (flag, path) in outputs {
        if let Some(path) = path {
            crate::output::Format::Json
                .check(path)
                .map_err(usage(flag))?;
        }
    }
    let base = results::read("BASE.json", &args.base)?;
    let new = results::read("NEW.json", &args.new)?;
    let (base_label, new_label) = (
        args.base.display().to_string(),
        args.new.display().to_string(),
    );
    let mut c = compare(&base_label, &base, &new_label, &new).map_err(usage("FILE"))?;
    c.rules = rules.iter().map(|r| r.evaluate(&c)).collect();
    let mut written = Vec::new();
    if let Some(path) = &args.markdown {
        written.push((path, markdown::comparison(&c).into_bytes()));
    }
    if let Some(path) = &args.junit {
        written.push((path, junit::comparison(&c).into_bytes()));
    }
    if let Some(path) = &args.json {
        let mut bytes = serde_json::to_vec_pretty(&c)?;
        bytes.push(b'\n');
        written.push((path, bytes));
    }
    let mut failed = false;
    for (path, bytes) in written {
        if let Err(e) = files::write_atomically(path, &bytes) {
            eprintln!("error: writing {}: {e}", path.display());
            failed = true;
        }
    }
    let _ = std::io::stdout()
        .lock()
        .write_all(comparison::render(&c).as_bytes());
    if failed {
        return Ok(ExitCode::from(EXIT_RUNTIME));
    }
    Ok(ExitCode::from(gate::exit(gate::comparison_failed(&c))))
}
