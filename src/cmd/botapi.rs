//! `stress botapi`: the Bot API stand-in alone, for a bot tested by hand.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;

use super::shutdown_signal;
use crate::botapi::gate::Rules;
use crate::botapi::{ApiConfig, BotApi, ReplyHub};
use crate::cli::BotApiArgs;
use crate::config::ConfigError;
use crate::profile::Chaos;
use crate::profile::chaos::{FaultSpec, FloodMode, Windows};

/// Serves the stand-in until Ctrl-C.
pub async fn command(args: BotApiArgs) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen: binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let bad = |flag: &'static str| move |message: String| ConfigError { flag, message };
    let mut chaos = Chaos::default();
    chaos.flood.mode = FloodMode::parse(&args.flood_limits).map_err(bad("--flood-limits"))?;
    for spec in &args.botapi_faults {
        chaos
            .faults
            .push(FaultSpec::parse(spec).map_err(bad("--botapi-fault"))?);
    }
    let windows = Windows::scaled(&chaos, Duration::ZERO, Duration::ZERO);
    windows.start(Instant::now());
    let api = Arc::new(BotApi::new(
        ApiConfig {
            token: args.token,
            rules: Rules {
                flood: chaos.flood,
                windows: Arc::new(windows),
                seed: args.seed,
            },
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
