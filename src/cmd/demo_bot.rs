//! `stress target`: the demo bot alone, as the target of a test run by hand or by another tool,
//! over HTTPS with `--tls-cert` and `--tls-key`. The command keeps the name users test
//! *against*; the code calls it the demo bot.

use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;

use super::shutdown_signal;
use crate::cli::DemoBotArgs;
use crate::config;
use crate::demo_bot::DemoBot;

/// Serves the demo bot until Ctrl-C.
pub async fn command(args: DemoBotArgs) -> anyhow::Result<ExitCode> {
    let config = config::target(&args)?;
    let tls = config::target_tls(&args)?;
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
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "demo bot on {scheme}://{addr}{} (stats: {scheme}://{addr}/stats); replies go {replies}",
        config.path
    );
    let bot = DemoBot::new(config);
    match tls {
        Some(tls) => crate::demo_bot::serve_tls(listener, bot, tls, shutdown_signal()).await?,
        None => crate::demo_bot::serve(listener, bot, shutdown_signal()).await?,
    }
    Ok(ExitCode::SUCCESS)
}
