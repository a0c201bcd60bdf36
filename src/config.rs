//! Typed configuration from the parsed arguments. Every error names the flag it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::botapi::gate::Rules;
use crate::cli::{DemoBotArgs, PoolArgs, RunArgs};
use crate::demo_bot::{ApiEndpoint, BotLatency, DemoBotConfig, Faults};
use crate::output::Format;
use crate::profile::chaos::{Chaos, FaultSpec, FloodMode, Redeliver, Windows};
use crate::profile::shard::{Shard, ShardPlan, test_digest};
use crate::profile::{ArrivalPlan, Overrides, Profile, Stage, pool_capacity};
use crate::script::{Limits, ScriptError, ScriptSet, WaitSpec};
use crate::server::ServerTls;
use crate::telegram::{Tier, TierPools};
use crate::threshold::Threshold;
use crate::transport::Trust;
use crate::vu::RunOptions;

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
pub fn target(args: &DemoBotArgs) -> Result<DemoBotConfig, ConfigError> {
    if !args.path.starts_with('/') {
        return Err(bad("--path", format!("`{}` must start with /", args.path)));
    }
    let mut latency = BotLatency::default();
    for spec in &args.latency {
        latency.set(spec).map_err(|e| bad("--latency", e))?;
    }
    if args.no_latency {
        latency = BotLatency::zero();
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
    Ok(DemoBotConfig {
        path: args.path.clone(),
        secret_token: args.secret_token.clone(),
        reply_in_webhook: args.reply_in_webhook || api.is_none(),
        api,
        latency,
        faults,
        seed: args.seed,
        pools: pools(&args.pools)?,
        naive: args.naive,
        ..DemoBotConfig::default()
    })
}

/// `stress target --tls-cert --tls-key`: the demo bot's TLS identity, when it serves HTTPS.
pub fn target_tls(args: &DemoBotArgs) -> Result<Option<ServerTls>, ConfigError> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let chain = crate::server::read_certificates(cert).map_err(|e| bad("--tls-cert", e))?;
    let key = crate::server::read_key(key).map_err(|e| bad("--tls-key", e))?;
    ServerTls::new(chain, key)
        .map(Some)
        .map_err(|e| bad("--tls-key", e))
}

/// Whom an https:// `--target` trusts: `--ca-cert`'s certificates, anyone (`--insecure`), or
/// the system's roots. Either flag without an https:// target is an error.
fn trust(args: &RunArgs) -> Result<Trust, ConfigError> {
    let flag = match (&args.ca_cert, args.insecure) {
        (None, false) => return Ok(Trust::System),
        (Some(_), _) => "--ca-cert",
        (None, true) => "--insecure",
    };
    // Without --target, the bot may register an https:// webhook with the stand-in.
    let bot_chooses = args.target.is_none() && args.botapi_listen.is_some();
    if !bot_chooses
        && !args
            .target
            .as_deref()
            .is_some_and(|t| t.starts_with("https://"))
    {
        return Err(bad(
            flag,
            "only with an https:// --target, or --botapi-listen without --target",
        ));
    }
    match &args.ca_cert {
        Some(path) => Trust::from_pem_file(path).map_err(|e| bad("--ca-cert", e)),
        None => Ok(Trust::Any),
    }
}

/// The open model: `--arrival-rate` (one rate for the profile's run time) or an open profile's
/// `arrival_rate` stages. The profile's stages become its pool of users (`--max-users`, else
/// the file's `max_users`, else the profile's peak), all started within the warm-up.
fn open_model(profile: Profile, args: &RunArgs) -> Result<Profile, ConfigError> {
    let plan = match (args.arrival_rate, &profile.arrivals) {
        (Some(rate), _) => {
            if !(rate.is_finite() && rate > 0.0 && rate <= 1e6) {
                return Err(bad(
                    "--arrival-rate",
                    format!("{rate} starts per second is not between 0 and 1000000"),
                ));
            }
            let warmup = crate::vu::OPEN_MODEL_WARMUP;
            if profile.run_time() <= warmup {
                return Err(bad(
                    "--run-time",
                    "the open model needs more than its one-second warm-up",
                ));
            }
            ArrivalPlan::constant(rate, profile.run_time() - warmup)
        }
        (None, Some(plan)) => plan.clone(),
        (None, None) => return Ok(profile),
    };
    let users = args
        .max_users
        .or(plan.max_users)
        .unwrap_or_else(|| profile.peak_users());
    if users == 0 {
        return Err(bad("--max-users", "at least one user is needed"));
    }
    let warmup = crate::vu::OPEN_MODEL_WARMUP.as_secs_f64();
    let name = match args.arrival_rate {
        Some(rate) => format!("{} (open: {rate} starts/s)", profile.name),
        None => format!("{} (open)", profile.name),
    };
    Ok(Profile {
        name,
        stages: vec![Stage {
            users,
            // All within the first half of the warm-up; the plan runs after it.
            spawn_rate: (f64::from(users) * 2.0 / warmup).max(1.0),
            duration: plan.duration() + crate::vu::OPEN_MODEL_WARMUP,
        }],
        thresholds: profile.thresholds.clone(),
        arrivals: Some(ArrivalPlan {
            max_users: Some(users),
            ..plan
        }),
        chaos: profile.chaos.clone(),
    })
}

/// `--reply-settle` for a bot of the user's.
pub const DEFAULT_REPLY_SETTLE: Duration = Duration::from_millis(100);

/// Where a run's updates go.
#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// The demo bot and the Bot API stand-in, in-process on loopback ports.
    Demo(Box<DemoBotConfig>),
    /// A bot the user runs, which chooses how it gets its updates: the stand-in listens at
    /// `botapi_listen` and the run waits (up to `ready_timeout`) for the bot's setWebhook or
    /// getUpdates.
    BotChooses {
        botapi_listen: std::net::SocketAddr,
        ready_timeout: Duration,
        /// `--secret-token`, when the user gives one (else the bot's own, from setWebhook).
        secret: Option<String>,
        /// Whose certificates an https:// webhook may present.
        trust: Trust,
    },
    /// A bot the user runs; the stand-in listens at `botapi_listen` when given.
    External {
        url: String,
        secret: Option<String>,
        botapi_listen: Option<std::net::SocketAddr>,
        /// Whose certificates an https:// URL may present.
        trust: Trust,
    },
}

/// A load test, fully typed and checked: scripts compiled, profile resolved.
#[derive(Debug)]
pub struct RunConfig {
    pub scripts: ScriptSet,
    pub profile: Profile,
    pub target: TargetChoice,
    pub options: RunOptions,
    pub max_connections: u32,
    pub timeout: Duration,
    pub stop_timeout: Duration,
    /// How long the stand-in answers the bot after the users stopped.
    pub drain: Duration,
    pub workers: usize,
    /// Result files to write at the end (checked writable before the run).
    pub outputs: Vec<(Format, PathBuf)>,
    /// How often the JSON result is rewritten as a partial checkpoint.
    pub checkpoint: Duration,
    pub quiet: bool,
    pub pools: TierPools,
    /// The profile's file, watched for edits, when it came from one.
    pub profile_file: Option<PathBuf>,
    /// The flags that override the profile, applied again to an edited profile file.
    pub overrides: Overrides,
    pub control: Option<SocketAddr>,
    pub control_token: Option<String>,
    /// Watch scripts and the profile file.
    pub reload: bool,
    /// The profile file's thresholds, then `--threshold`'s (the relative ones, for
    /// `--baseline`, are left to the run command).
    pub thresholds: Vec<Threshold>,
    /// `--shard i/n`: the slice of the test this run is (its `profile` is the slice's).
    pub shard: Option<ShardPlan>,
    /// What makes the test (scripts and profile), equal for every shard of it.
    pub test_digest: String,
    /// The flood limits and faults the stand-in applies, on the run's clock.
    pub rules: Rules,
}

/// The profile's chaos with the flags' on top: `--flood-limits` replaces its mode,
/// `--botapi-fault` adds whole-run faults, `--redeliver` turns redelivery on.
fn chaos(mut chaos: Chaos, args: &RunArgs) -> Result<Chaos, ConfigError> {
    if let Some(mode) = &args.flood_limits {
        chaos.flood.mode = FloodMode::parse(mode).map_err(|e| bad("--flood-limits", e))?;
    }
    for spec in &args.botapi_faults {
        chaos
            .faults
            .push(FaultSpec::parse(spec).map_err(|e| bad("--botapi-fault", e))?);
    }
    if args.redeliver && chaos.redeliver.is_none() {
        chaos.redeliver = Some(Redeliver::default());
    }
    Ok(chaos)
}

/// Scripts named on the command line, or `scripts/`, or the shipped ones when the current
/// folder has no `scripts/`.
fn script_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScriptError> {
    if !paths.is_empty() {
        return Ok(paths.to_vec());
    }
    let local = PathBuf::from("scripts");
    if local.is_dir() {
        return Ok(vec![local]);
    }
    Ok(vec![shipped_root()?.join("scripts")])
}

/// The stdlib folder, or the shipped modules when it does not exist (a script's own folder is
/// searched first, so a module of its own wins either way).
fn stdlib(dir: &Path) -> Result<PathBuf, ScriptError> {
    if dir.is_dir() {
        return Ok(dir.to_path_buf());
    }
    Ok(shipped_root()?.join("stdlib"))
}

fn shipped_root() -> Result<PathBuf, ScriptError> {
    crate::script::shipped::unpacked().map_err(|e| ScriptError {
        file: std::env::temp_dir(),
        line: 0,
        col: 0,
        message: format!("cannot write the shipped scripts to the temporary folder: {e}"),
    })
}

/// Compiles the scripts a command names.
pub fn scripts(paths: &[PathBuf], stdlib_dir: &Path) -> Result<ScriptSet, ScriptError> {
    let stdlib = stdlib(stdlib_dir)?;
    ScriptSet::load(&script_paths(paths)?, Some(&stdlib), &Limits::default())
}

fn check_pools(
    scripts: &ScriptSet,
    profile: &Profile,
    pools: &TierPools,
    users_flag: bool,
) -> Result<(), ConfigError> {
    let classes: Vec<(Tier, u32)> = scripts
        .classes
        .iter()
        .map(|c| (c.decl.tier, c.decl.weight))
        .collect();
    let flag = if users_flag { "--users" } else { "--profile" };
    pool_capacity(&classes, profile.peak_users(), pools).map_err(|e| bad(flag, e))
}

/// The file a `--profile` argument names, if it is one (a preset is not).
fn profile_file(arg: &str, profiles_dir: &Path) -> Option<PathBuf> {
    if arg.contains('/') || arg.ends_with(".toml") {
        return Some(PathBuf::from(arg));
    }
    let candidate = profiles_dir.join(format!("{arg}.toml"));
    candidate.is_file().then_some(candidate)
}

/// Typed configuration of `stress run`. Every error names its flag, file or line; nothing has
/// started yet when one is returned.
pub fn run(args: &RunArgs) -> anyhow::Result<RunConfig> {
    let pools = pools(&args.pools)?;
    let run_time = args
        .run_time
        .as_deref()
        .map(|s| duration("--run-time", s))
        .transpose()?;
    if let Some(users) = args.users
        && users == 0
    {
        return Err(bad("--users", "at least one user is needed").into());
    }
    let overrides = Overrides {
        users: args.users,
        spawn_rate: args.spawn_rate,
        run_time,
    };
    let resolved = crate::profile::file::resolve(&args.profile, &args.profiles_dir)
        .map_err(|e| bad("--profile", e))?;
    let planned = resolved.run_time();
    let profile = resolved.with_overrides(&overrides).map_err(|e| {
        // Blame the flag only when it was given; otherwise the profile is at fault.
        let field = e.field.as_str();
        let flag = if field.ends_with("spawn_rate") && args.spawn_rate.is_some() {
            "--spawn-rate"
        } else if field.ends_with("users") && args.users.is_some() {
            "--users"
        } else if (field.ends_with("run_time") || field == "stages") && run_time.is_some() {
            "--run-time"
        } else {
            "--profile"
        };
        bad(flag, e)
    })?;
    let mut profile = open_model(profile, args)?;
    profile.chaos = chaos(profile.chaos, args)?;
    let windows = Arc::new(Windows::scaled(&profile.chaos, planned, profile.run_time()));
    let mut thresholds = Vec::new();
    for rule in &profile.thresholds {
        thresholds.push(
            Threshold::parse(rule).map_err(|e| bad("--profile", format!("thresholds: {e}")))?,
        );
    }
    for rule in &args.thresholds {
        if crate::report::compare::RelativeRule::is_relative(rule) {
            crate::report::compare::RelativeRule::parse(rule).map_err(|e| bad("--threshold", e))?;
            if args.baseline.is_none() {
                return Err(bad(
                    "--threshold",
                    format!("`{rule}` is relative to a baseline: give --baseline FILE"),
                )
                .into());
            }
            continue;
        }
        thresholds.push(Threshold::parse(rule).map_err(|e| bad("--threshold", e))?);
    }
    let wait_override = args
        .wait
        .as_deref()
        .map(|s| WaitSpec::parse(s).map_err(|e| bad("--wait", e)))
        .transpose()?;
    if args.iterations == Some(0) {
        return Err(bad("--iterations", "must be at least 1").into());
    }
    if !(1..=10_000).contains(&args.max_connections) {
        return Err(bad(
            "--max-connections",
            format!("{} is not between 1 and 10000", args.max_connections),
        )
        .into());
    }
    // Each worker has its share of the connections (no lock shared between threads), so there
    // are never more workers than connections.
    let connections = args.max_connections as usize;
    let workers = match args.workers {
        Some(0) => return Err(bad("--workers", "must be at least 1").into()),
        Some(n) if n > connections => {
            return Err(bad(
                "--workers",
                format!(
                    "{n} workers would share {connections} connections (--max-connections): \
                     each needs one"
                ),
            )
            .into());
        }
        Some(n) => n,
        None => std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(connections),
    };
    let timeout = duration("--timeout", &args.timeout)?;
    let reply_timeout = duration("--reply-timeout", &args.reply_timeout)?;
    let reply_settle = args
        .reply_settle
        .as_deref()
        .map(|s| duration("--reply-settle", s))
        .transpose()?;
    let drain = duration("--drain", &args.drain)?;
    let stop_timeout = duration("--stop-timeout", &args.stop_timeout)?;
    if timeout.is_zero() {
        return Err(bad("--timeout", "must be longer than zero").into());
    }
    if let Some(secret) = &args.secret_token
        && (secret.is_empty()
            || secret.len() > 256
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(bad(
            "--secret-token",
            "Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -",
        )
        .into());
    }
    let trust = trust(args)?;
    if args.bot_naive && (args.target.is_some() || args.botapi_listen.is_some()) {
        return Err(bad(
            "--bot-naive",
            "only the demo bot can be made naive: drop --target and --botapi-listen, or make your \
             own bot misbehave",
        )
        .into());
    }
    let target = match &args.target {
        Some(url) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(
                    "--target",
                    format!("`{url}` must be an http:// or https:// URL"),
                )
                .into());
            }
            TargetChoice::External {
                url: url.clone(),
                secret: args.secret_token.clone(),
                botapi_listen: args.botapi_listen,
                trust,
            }
        }
        None if args.botapi_listen.is_some() => TargetChoice::BotChooses {
            botapi_listen: args.botapi_listen.expect("checked"),
            ready_timeout: duration("--bot-ready-timeout", &args.bot_ready_timeout)?,
            secret: args.secret_token.clone(),
            trust,
        },
        None => {
            let mut latency = BotLatency::default();
            for spec in &args.bot_latency {
                latency.set(spec).map_err(|e| bad("--bot-latency", e))?;
            }
            if args.bot_no_latency {
                latency = BotLatency::zero();
            }
            let faults = Faults {
                error_rate: share("--bot-error-rate", args.bot_error_rate)?,
                reset_rate: share("--bot-reset-rate", args.bot_reset_rate)?,
                ..Faults::default()
            };
            TargetChoice::Demo(Box::new(DemoBotConfig {
                secret_token: args.secret_token.clone(),
                reply_in_webhook: args.bot_reply_in_webhook,
                latency,
                faults,
                seed: args.seed.unwrap_or(0),
                pools: pools.clone(),
                naive: args.bot_naive,
                ..DemoBotConfig::default()
            }))
        }
    };
    let reply_settle = reply_settle.unwrap_or(match target {
        TargetChoice::Demo(_) => Duration::ZERO,
        _ => DEFAULT_REPLY_SETTLE,
    });
    let await_replies = !args.no_await_reply
        && match &target {
            TargetChoice::Demo(_) => true,
            TargetChoice::External { botapi_listen, .. } => botapi_listen.is_some(),
            TargetChoice::BotChooses { .. } => true,
        };
    if args
        .control_token
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err(bad("--control-token", "must not be empty").into());
    }
    if let Some(addr) = args.control
        && !addr.ip().is_loopback()
        && args.control_token.is_none()
    {
        return Err(bad(
            "--control",
            format!("{addr} is not a loopback address: give --control-token too"),
        )
        .into());
    }
    let outputs: Vec<(Format, PathBuf)> = args
        .json
        .iter()
        .map(|p| (Format::Json, p.clone()))
        .chain(args.csv.iter().map(|p| (Format::Csv, p.clone())))
        .chain(args.html.iter().map(|p| (Format::Html, p.clone())))
        .chain(args.markdown.iter().map(|p| (Format::Markdown, p.clone())))
        .chain(args.junit.iter().map(|p| (Format::Junit, p.clone())))
        .collect();
    for (format, path) in &outputs {
        format.check(path).map_err(|e| bad(format.flag(), e))?;
    }
    let checkpoint = duration("--checkpoint", &args.checkpoint)?;
    if checkpoint < Duration::from_secs(1) {
        return Err(bad("--checkpoint", "must be at least 1s").into());
    }
    let state_limit = crate::script::state::parse_bytes(&args.state_limit)
        .map_err(|e| bad("--state-limit", e))?;
    let scripts = scripts(&args.scripts, &args.stdlib)?;
    check_pools(&scripts, &profile, &pools, args.users.is_some())?;
    let sources: Vec<(&str, &str)> = scripts
        .classes
        .iter()
        .map(|c| (c.decl.name.as_str(), c.source.as_str()))
        .collect();
    let test_digest = test_digest(
        &sources,
        &profile,
        args.iterations,
        args.wait.as_deref(),
        &pools,
    );
    let shard = args
        .shard
        .as_deref()
        .map(|text| shard_plan(text, &scripts, &profile, &pools))
        .transpose()?;
    let profile = shard.as_ref().map_or(profile, |p| p.profile.clone());
    // The open model's starts are the shard's share of them.
    let arrivals = profile.arrivals.clone();
    let seed = args.seed.unwrap_or_else(random_seed);
    let redeliver = profile.chaos.redeliver;
    let rules = Rules {
        flood: profile.chaos.flood,
        windows: windows.clone(),
        seed,
    };
    Ok(RunConfig {
        scripts,
        profile,
        target,
        options: RunOptions {
            seed,
            await_replies,
            reply_timeout,
            reply_settle,
            skip_waits: wait_override == Some(WaitSpec::Constant(0.0)),
            wait_override,
            iterations: args.iterations,
            state_limit,
            arrivals,
            redeliver,
            windows,
        },
        rules,
        max_connections: args.max_connections,
        timeout,
        stop_timeout,
        drain,
        workers,
        outputs,
        checkpoint,
        quiet: args.quiet,
        pools,
        profile_file: profile_file(&args.profile, &args.profiles_dir),
        overrides,
        control: args.control,
        control_token: args.control_token.clone(),
        // A shard runs the test as it started: an edit reloaded by one shard alone would make
        // its slice a different test from the others'.
        reload: !args.no_reload && shard.is_none(),
        thresholds,
        shard,
        test_digest,
    })
}

/// `--shard i/n`: the slice of the whole test's profile, checked against the shard's share of
/// every pool.
fn shard_plan(
    text: &str,
    scripts: &ScriptSet,
    profile: &Profile,
    pools: &TierPools,
) -> Result<ShardPlan, ConfigError> {
    let shard = Shard::parse(text).map_err(|e| bad("--shard", e))?;
    let weights: Vec<u32> = scripts.classes.iter().map(|c| c.decl.weight).collect();
    let plan = ShardPlan::new(shard, profile, &weights).map_err(|e| bad("--shard", e))?;
    for tier in Tier::ALL {
        let needed: u64 = scripts
            .classes
            .iter()
            .zip(&plan.weights)
            .filter(|(c, _)| c.decl.tier == tier)
            .map(|(_, w)| u64::from(*w))
            .sum();
        let room = plan.pool_capacity(pools.user_capacity(tier));
        if needed > room {
            return Err(bad(
                "--shard",
                format!(
                    "shard {text} needs {needed} {tier} test users, but its share of the {tier} \
                     pool has {room} ids; widen the pool with --pool {tier}=START..END"
                ),
            ));
        }
    }
    Ok(plan)
}

/// A seed for a run without `--seed`: from the clock and the process id.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000
}
