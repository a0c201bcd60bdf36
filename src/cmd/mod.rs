//! The commands: one module per subcommand, each with one entry function that takes what the
//! user typed and returns the exit code. [`run`] is the library's entry point.

mod botapi;
pub mod check;
mod compare;
mod demo_bot;
mod gate;
mod init;
mod logging;
mod merge;
mod pools;
mod results;
pub mod run;
pub mod selfcheck;
mod signals;
pub mod web;

use anyhow::Context;
use std::process::ExitCode;

use crate::cli::{Cli, Subcommand};
use crate::config::ConfigError;
use crate::script::ScriptError;

/// Exit code for a runtime failure: a port, a file, a bug.
pub const EXIT_RUNTIME: u8 = 1;

/// Exit code for a bad flag, a bad script or any other usage error.
pub const EXIT_USAGE: u8 = 2;

/// Exit code for a run in which a threshold failed.
pub const EXIT_THRESHOLD: u8 = 3;

/// Runs a command line; the error's chain is what `main` prints.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let quiet = match &cli.command {
        None => cli.run.quiet,
        Some(Subcommand::Run(args)) => args.quiet,
        Some(_) => false,
    };
    logging::init(cli.verbose, quiet);
    runtime.block_on(async move {
        match cli.command {
            None => run::command(cli.run).await,
            Some(Subcommand::Run(args)) => run::command(*args).await,
            Some(Subcommand::Check(args)) => check::command(args).await,
            Some(Subcommand::Target(args)) => demo_bot::command(*args).await,
            Some(Subcommand::Botapi(args)) => botapi::command(args).await,
            Some(Subcommand::Pools(args)) => pools::command(args),
            Some(Subcommand::Init(args)) => init::command(args),
            Some(Subcommand::Selfcheck(args)) => selfcheck::command(args).await,
            Some(Subcommand::Web(args)) => web::command(*args).await,
            Some(Subcommand::Merge(args)) => merge::command(args),
            Some(Subcommand::Compare(args)) => compare::command(args),
        }
    })
}

/// The exit code for an error: 2 for configuration and script errors, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err
        .chain()
        .any(|e| e.is::<ConfigError>() || e.is::<ScriptError>())
    {
        EXIT_USAGE
    } else {
        EXIT_RUNTIME
    }
}

/// Resolves when the user asks the command to stop (Ctrl-C).
pub(crate) async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
