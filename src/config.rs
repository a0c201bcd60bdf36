//! Typed configuration from the parsed arguments. Every error names the flag it came from.

use std::time::Duration;

use crate::cli::{PoolArgs, TargetArgs};
use crate::target::{ApiEndpoint, Faults, Latency, TargetConfig};
use crate::telegram::TierPools;

/// A bad flag value, reported with the flag's name; exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub message: String,
}

fn bad(flag: &'static str, message: impl ToString) -> ConfigError {
    ConfigError {
        flag,
        message: message.to_string(),
    }
}

pub fn pools(args: &PoolArgs) -> Result<TierPools, ConfigError> {
    TierPools::with_overrides(&args.pools).map_err(|e| bad("--pool", e))
}

fn share(flag: &'static str, v: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(bad(flag, format!("{v} is not a share between 0 and 1")))
    }
}

pub fn duration(flag: &'static str, s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s).map_err(|e| bad(flag, format!("`{s}`: {e}")))
}

/// The demo bot's configuration from `stress target` flags.
pub fn target(args: &TargetArgs) -> Result<TargetConfig, ConfigError> {
    if !args.path.starts_with('/') {
        return Err(bad("--path", format!("`{}` must start with /", args.path)));
    }
    let mut latency = Latency::default();
    for spec in &args.latency {
        latency.set(spec).map_err(|e| bad("--latency", e))?;
    }
    if args.no_latency {
        latency = Latency::zero();
    }
    let faults = Faults {
        error_rate: share("--error-rate", args.error_rate)?,
        slow_rate: share("--slow-rate", args.slow_rate)?,
        slow_delay: duration("--slow-delay", &args.slow_delay)?,
        reset_rate: share("--reset-rate", args.reset_rate)?,
    };
    if faults.error_rate + faults.slow_rate + faults.reset_rate > 1.0 {
        return Err(bad(
            "--error-rate",
            "--error-rate, --slow-rate and --reset-rate add up to more than 1",
        ));
    }
    let api = match &args.api_url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            return Err(bad("--api-url", format!("`{url}` is not an http:// URL")));
        }
        Some(url) => Some(ApiEndpoint {
            base_url: url.clone(),
            token: args.token.clone(),
        }),
        None => None,
    };
    Ok(TargetConfig {
        path: args.path.clone(),
        secret_token: args.secret_token.clone(),
        reply_in_webhook: args.reply_in_webhook || api.is_none(),
        api,
        latency,
        faults,
        seed: args.seed,
        pools: pools(&args.pools)?,
        ..TargetConfig::default()
    })
}
