//! `stress botapi`: the Bot API stand-in alone, for a bot tested by hand.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::shutdown_signal;
use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::cli::BotApiArgs;

/// Serves the stand-in until Ctrl-C.
pub async fn command(args: BotApiArgs) -> anyhow::Result<ExitCode> {
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
