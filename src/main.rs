//! The `stress` binary: parse, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = stress::cli::Cli::parse();
    match stress::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(stress::exit_code(&err))
        }
    }
}
