//! The library's entry point: runs one parsed command line.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::cli::{
    BotApiArgs, CheckArgs, Cli, Command, PoolsArgs, RunArgs, SelfcheckArgs, TargetArgs,
};
use crate::config::{self, ConfigError};
use crate::output::table;
use crate::script::ScriptError;
use crate::target::DemoBot;
use crate::telegram::Tier;

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
    runtime.block_on(async move {
        match cli.command {
            None => load(cli.run).await,
            Some(Command::Run(args)) => load(*args).await,
            Some(Command::Check(args)) => check(args).await,
            Some(Command::Target(args)) => target(args).await,
            Some(Command::Botapi(args)) => botapi(args).await,
            Some(Command::Pools(args)) => pools(args),
            Some(Command::Selfcheck(args)) => selfcheck(args).await,
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
        1
    }
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn load(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = config::run(&args)?;
    for warning in config.scripts.warnings() {
        eprintln!("warning: {warning}");
    }
    let files = config.outputs.clone();
    let thresholds = config.thresholds.clone();
    let mut outcome = crate::load::run(config, shutdown_signal()).await?;
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

async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let set = config::scripts(&args.paths, &args.stdlib)?;
    for warning in set.warnings() {
        eprintln!("warning: {warning}");
    }
    print!("{}", crate::check::describe(&set));
    if let Some(n) = args.dry_run {
        if n == 0 {
            return Err(ConfigError {
                flag: "--dry-run",
                message: "must be at least 1".into(),
            }
            .into());
        }
        let runs = crate::check::dry_run(&set, n, args.seed).await?;
        print!("\n{}", crate::check::describe_dry_run(&runs, n));
    }
    Ok(ExitCode::SUCCESS)
}

async fn target(args: TargetArgs) -> anyhow::Result<ExitCode> {
    let config = config::target(&args)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen: binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let replies = match &config.api {
        Some(api) if config.reply_in_webhook => {
            format!("in the webhook body, other calls to {}", api.base_url)
        }
        Some(api) => format!("to {}", api.base_url),
        None => "in the webhook body".into(),
    };
    eprintln!(
        "demo bot on http://{addr}{} (stats: http://{addr}/stats); replies go {replies}",
        config.path
    );
    crate::target::serve(listener, DemoBot::new(config), shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn botapi(args: BotApiArgs) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen: binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let api = Arc::new(BotApi::new(
        ApiConfig {
            token: args.token,
            ..ApiConfig::default()
        },
        ReplyHub::default(),
    ));
    eprintln!(
        "Bot API stand-in on http://{addr}/bot<token>/<method> (stats: http://{addr}/_stress/stats)"
    );
    crate::botapi::serve(listener, api, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

fn pools(args: PoolsArgs) -> anyhow::Result<ExitCode> {
    let pools = config::pools(&args.pools)?;
    let tiers: Vec<Tier> = match &args.tier {
        Some(t) => vec![t.parse().map_err(|e| ConfigError {
            flag: "--tier",
            message: format!("{e}"),
        })?],
        None => Tier::ALL.to_vec(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for tier in tiers {
        use std::io::Write;
        let r = pools.range(tier);
        if args.ranges {
            writeln!(
                out,
                "{tier}\t{}..{}\t{} ids",
                r.start,
                r.end,
                r.end - r.start
            )?;
        } else {
            for id in pools.list(tier) {
                writeln!(out, "{tier}\t{id}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn selfcheck(args: SelfcheckArgs) -> anyhow::Result<ExitCode> {
    let report = crate::selfcheck::run(args.seed).await?;
    for line in &report.lines {
        println!("{line}");
    }
    if let Some(path) = args.stats_json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report.stats)?)
            .with_context(|| format!("--stats-json: writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
