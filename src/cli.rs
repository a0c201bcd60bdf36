//! What the user typed: clap-derived arguments, no I/O and no domain types. `config.rs` turns
//! these into typed values.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stress",
    version,
    about = "Load tests for Telegram bots, with virtual users written in Rhai"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo bot: a webhook server with 22 commands in four tiers.
    Target(TargetArgs),
    /// Run the Bot API stand-in alone, for a real bot to call instead of api.telegram.org.
    Botapi(BotApiArgs),
    /// List the test-user ids of the tier pools (to seed a real bot's database).
    Pools(PoolsArgs),
    /// Start the demo bot and the stand-in in-process and exercise every command and update kind.
    Selfcheck(SelfcheckArgs),
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Replace a tier's id pool: TIER=START..END (half-open), repeatable.
    #[arg(long = "pool", value_name = "TIER=START..END")]
    pub pools: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The webhook path.
    #[arg(long, default_value = "/webhook")]
    pub path: String,
    /// Require this X-Telegram-Bot-Api-Secret-Token (others get 401).
    #[arg(long)]
    pub secret_token: Option<String>,
    /// Bot API base URL to send replies to (the stand-in), e.g. http://127.0.0.1:8081.
    #[arg(long)]
    pub api_url: Option<String>,
    /// Bot token for --api-url.
    #[arg(long, default_value = "123456:demo")]
    pub token: String,
    /// Put the answer in the webhook response body (the default without --api-url).
    #[arg(long)]
    pub reply_in_webhook: bool,
    /// Latency per kind, KIND=DURATION (kinds: command, text, complex, media, callback).
    #[arg(long = "latency", value_name = "KIND=DURATION")]
    pub latency: Vec<String>,
    /// Answer at once, whatever --latency says.
    #[arg(long)]
    pub no_latency: bool,
    /// Share of updates answered with HTTP 500 (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of updates answered slowly (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    /// Extra delay of a slow answer.
    #[arg(long, default_value = "2s")]
    pub slow_delay: String,
    /// Share of updates whose connection is dropped without an answer (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Seed for latency jitter and faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub pools: PoolArgs,
}

#[derive(Debug, Args)]
pub struct BotApiArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Accept only this bot token (any token when absent).
    #[arg(long)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct PoolsArgs {
    /// Only this tier (guest, user, developer, admin).
    #[arg(long)]
    pub tier: Option<String>,
    /// Print only the ranges, not every id.
    #[arg(long)]
    pub ranges: bool,
    #[command(flatten)]
    pub pools: PoolArgs,
}

#[derive(Debug, Args)]
pub struct SelfcheckArgs {
    /// Seed for the demo bot's latency and the users' data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the demo bot's /stats JSON here at the end.
    #[arg(long)]
    pub stats_json: Option<PathBuf>,
}
