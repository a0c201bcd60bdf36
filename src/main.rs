//! The `stress` binary: parse, run, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

// mimalloc: the hot path allocates a little per request (update JSON, reply objects, script
// values) and glibc's malloc cost ~12% of client CPU there; see the README's benchmark notes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
