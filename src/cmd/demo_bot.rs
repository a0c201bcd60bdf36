//! `stress target`: the demo bot alone, as the target of a test run by hand or by another tool.
//! The command keeps the name users test *against*; the code calls it the demo bot.

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
    crate::demo_bot::serve(listener, DemoBot::new(config), shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
