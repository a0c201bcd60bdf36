//! What the user typed: clap-derived arguments, no I/O and no domain types. `config.rs` turns
//! these into typed values.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser};

#[derive(Debug, Parser)]
#[command(
    name = "stress",
    version,
    about = "Load tests for Telegram bots, with virtual users written in Rhai",
    long_about = "Load tests for Telegram bots, with virtual users written in Rhai.\n\n\
        Without a subcommand, `stress` runs a load test (the same as `stress run`).",
    args_conflicts_with_subcommands = true,
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Subcommand>,
    #[command(flatten)]
    pub run: RunArgs,
    /// More log on stderr: -v the tool's info lines, -vv debug lines and scripts' debug()
    /// (RUST_LOG, when set, decides instead).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "Exit codes: 0 the run completed (or was stopped) and every \
    threshold passed, or with no --threshold no request failed and no script error happened; \
    1 a runtime failure (a port, a result file); 2 a usage error: a bad flag, a script that \
    does not compile or declares a bad class, an unknown profile, a bad threshold; 3 a \
    threshold failed, or with no --threshold a request failed or a script erred (unless \
    --allow-failures).";

#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Run a load test: virtual users from Rhai scripts against a bot's webhook.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Compile scripts and show their classes, tasks, weights and expected shares.
    Check(CheckArgs),
    /// Run the demo bot: a webhook server with 22 commands in four tiers.
    ///
    /// Named for what it is to a test, the target to point `stress run --target` at; the code
    /// and the docs call it the demo bot, and "target" always means the bot under test.
    Target(Box<DemoBotArgs>),
    /// Run the Bot API stand-in alone, for a real bot to call instead of api.telegram.org.
    Botapi(BotApiArgs),
    /// List the test-user ids of the tier pools (to seed a real bot's database).
    Pools(PoolsArgs),
    /// Write a starter project to edit: the shipped classes, their modules, the profiles and
    /// a README.
    Init(InitArgs),
    /// Start the demo bot and the stand-in in-process and exercise every command and update kind.
    Selfcheck(SelfcheckArgs),
    /// Serve the dashboard with no run yet: start, watch, stop and start again from the browser.
    ///
    /// The page's start form sets the profile, users, spawn rate and run time; every other
    /// flag of `stress run` given here applies to each run. The last run's results stay on
    /// screen until the next one starts.
    Web(Box<WebArgs>),
    /// Merge the --json results of a test's shards (`stress run --shard i/n`) into the whole
    /// test's result: counts summed, percentiles from the summed histograms, thresholds checked.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Compare two results: per request name and task, the change in count, failure rate and
    /// latency, with a verdict that allows for run-to-run noise.
    #[command(after_help = COMPARE_HELP)]
    Compare(CompareArgs),
}

/// `stress merge --help`'s notes.
pub const MERGE_HELP: &str = "The files must be the shards of one test: the same seed, scripts \
    and profile (test_digest) and shard count, each shard once. A missing shard is an error \
    (--allow-missing merges the ones there are, with a warning naming the missing); a partial \
    result (a checkpoint, `partial: true`) is refused unless --allow-partial. Percentiles come \
    from the shards' summed HDR histograms (exact to their 1% precision); the history is \
    aligned by the second from each shard's start, its counts summed and its per-second \
    percentiles the worst shard's. Exit codes as `stress run`: 0 pass, 2 bad files or flags, 3 \
    a threshold failed (or, with none, a request failed or a script erred, unless \
    --allow-failures).";

/// `stress compare --help`'s notes.
pub const COMPARE_HELP: &str = "Each row's verdict: fewer than 30 samples on a side is \
    inconclusive; otherwise, at the base's p50 and p95, a two-proportion test asks whether the \
    new run has more (or fewer) of its samples above that value (|z| > 3.29, p < 0.001). Slower \
    when p50 or p95 rose more than 5% and the test there backs it (a worse tail with a better \
    median is slower), faster likewise the other way; inconclusive when one moved more than 5% \
    without the test backing it; no change when both are within 5%. The test weighs the \
    sampling noise of the two runs, not how much a busy machine moves one run from the next: \
    for a CI gate, give a relative threshold with room for that. Relative thresholds: p50, \
    p95, p99, reply_p95, count and task_p95{name=Class.task} take a signed percentage of change \
    (p95<+10%, p99{name=/help}<+20%); errors takes percentage points of the failure rate \
    (errors<+1%). Exit codes: 0 every relative threshold passed (with none: no row is slower), \
    2 bad files or flags, 3 a relative threshold failed (with none: a row is slower).";

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' --json result files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the merged result here as JSON (schema/result.v1.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write Locust's CSV files with this prefix.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary (for a CI job summary).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML: a test case per threshold.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// A pass/fail rule on the merged result, as on `stress run` (repeatable).
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// With no --threshold, exit 0 even when requests failed or scripts erred.
    #[arg(long)]
    pub allow_failures: bool,
    /// Merge the shards there are when some are missing (each missing one named in a warning).
    #[arg(long)]
    pub allow_missing: bool,
    /// Merge partial results (checkpoints of shards that did not finish).
    #[arg(long)]
    pub allow_partial: bool,
    /// The final table with every column.
    #[arg(long)]
    pub wide: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The result to compare against (a --json file of `stress run` or `stress merge`).
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The result to judge.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// A relative rule, repeatable: p95<+10%, p99{name=/help}<+20%, errors<+1% (percentage
    /// points), task_p95{name=Class.task}<+10%. A failed one makes the exit code 3.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Write the comparison as Markdown (for a CI job summary).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML: a test case per relative threshold and per row (a slower row fails).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the comparison as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Address to serve the dashboard on (a non-loopback one needs --control-token).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Args, Default)]
pub struct PoolArgs {
    /// Replace a tier's id pool: TIER=START..END (half-open), repeatable.
    #[arg(long = "pool", value_name = "TIER=START..END")]
    pub pools: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoBotArgs {
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
    /// Share of updates answered with HTTP 500 after the bot did its work (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of updates answered slowly (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    /// Extra delay of a slow answer.
    #[arg(long, default_value = "2s")]
    pub slow_delay: String,
    /// Share of updates whose connection is dropped without an answer, after the bot did its
    /// work (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Seed for latency jitter and faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Misbehave, to show what a careless bot does under Telegram's rules.
    ///
    /// By default the bot behaves: after a 429 it waits retry_after (at most 60 s) and retries,
    /// up to 3 times, and holds every call to that chat until then; after a 403 it never writes
    /// to the chat again; a 400 "chat not found" is dropped; a 5xx or a dropped connection is
    /// retried after 100 ms, then 200 ms. A redelivered update (the same update_id again) is not
    /// handled again: the bot sends only what never reached Telegram. (It remembers updates
    /// while a fault rate is set, or once the Bot API refused a call or a webhook request was
    /// dropped.)
    ///
    /// With --naive it retries a 429 at once (3 times), keeps writing to chats that blocked it,
    /// never retries a 5xx, and handles every delivery as new, so it answers twice.
    ///
    /// --error-rate and --reset-rate strike after the bot's Bot API calls, as a crash would:
    /// the answer meant for the webhook response body is lost.
    #[arg(long)]
    pub naive: bool,
    /// Serve the webhook over HTTPS with this certificate chain (PEM, the server's own
    /// certificate first), as Telegram requires; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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
    /// Telegram's flood limits: report (count, in /_stress/stats), enforce (answer 429 with
    /// retry_after) or off.
    #[arg(long, value_name = "MODE", default_value = "report")]
    pub flood_limits: String,
    /// Inject a fault into the bot's calls for its chats, KIND=RATE, repeatable (as on `stress
    /// run`): 5xx=20%, slow=2s@10%, reset, timeout, blocked, chat_not_found, flood.
    #[arg(long = "botapi-fault", value_name = "KIND=RATE")]
    pub botapi_faults: Vec<String>,
    /// Seed the faults are drawn from.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct PoolsArgs {
    /// Only this tier (guest, user, developer, admin).
    #[arg(long)]
    pub tier: Option<String>,
    /// Print every id, one a line (by default, each tier's range and what it holds).
    #[arg(long)]
    pub ids: bool,
    #[command(flatten)]
    pub pools: PoolArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write it in (made if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
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

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A script or a folder of scripts (every .rhai inside); repeatable. Default: scripts/.
    #[arg(help_heading = "Scripts", long = "script", value_name = "PATH")]
    pub scripts: Vec<PathBuf>,
    /// Folder of shared modules scripts import (after the script's own folder).
    #[arg(
        help_heading = "Scripts",
        long,
        value_name = "DIR",
        default_value = "stdlib"
    )]
    pub stdlib: PathBuf,
    /// A preset (ramp_up, sustained, spike, soak, smoke) or a profile TOML file.
    #[arg(
        help_heading = "Load",
        long,
        value_name = "NAME|FILE",
        default_value = "smoke"
    )]
    pub profile: String,
    /// Folder where --profile NAME looks for NAME.toml before the built-in presets.
    #[arg(
        help_heading = "Load",
        long,
        value_name = "DIR",
        default_value = "profiles"
    )]
    pub profiles_dir: PathBuf,
    /// Peak number of users (scales every stage).
    #[arg(help_heading = "Load", long)]
    pub users: Option<u32>,
    /// Users started (or stopped) per second, in every stage.
    #[arg(help_heading = "Load", long)]
    pub spawn_rate: Option<f64>,
    /// Length of the run, e.g. 30s, 5m, 1h.
    #[arg(help_heading = "Load", long, value_name = "DURATION")]
    pub run_time: Option<String>,
    /// The open model: start this many tasks per second across the classes (by their weights),
    /// whatever the bot does; a start that finds no free user is dropped and counted. Users
    /// wait for no one between tasks. Turns any profile open (its run time still applies).
    #[arg(help_heading = "Load", long, value_name = "PER_SECOND")]
    pub arrival_rate: Option<f64>,
    /// With --arrival-rate: the pool of users that take the starts, all started in the first
    /// second. Default: the profile's peak users.
    #[arg(
        help_heading = "Load",
        long,
        value_name = "N",
        requires = "arrival_rate"
    )]
    pub max_users: Option<u32>,
    /// Each user stops after this many tasks; the run ends when all have.
    #[arg(help_heading = "Load", long, value_name = "N")]
    pub iterations: Option<u64>,
    /// Seed for every user's randomness; the same seed replays the same users. Default: random
    /// (printed, to replay the run).
    #[arg(help_heading = "Load", long)]
    pub seed: Option<u64>,
    /// Override every class's wait between tasks: SECONDS or MIN..MAX. `--wait 0` also skips
    /// wait() inside tasks (no think time at all).
    #[arg(help_heading = "Load", long, value_name = "SPEC")]
    pub wait: Option<String>,
    /// The bot's webhook URL. Default: the demo bot, started in-process on a loopback port.
    #[arg(help_heading = "The bot under test", long, value_name = "URL")]
    pub target: Option<String>,
    /// Send this X-Telegram-Bot-Api-Secret-Token (with the demo bot, it also requires it).
    #[arg(help_heading = "The bot under test", long)]
    pub secret_token: Option<String>,
    /// With an https:// --target: trust only the certificates in this PEM file (a private CA,
    /// or the bot's self-signed certificate) instead of the system's roots.
    #[arg(help_heading = "The bot under test", long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// With an https:// --target: accept any certificate, as Telegram accepts a self-signed one
    /// uploaded with setWebhook (the handshake still proves the bot holds its key).
    #[arg(help_heading = "The bot under test", long, conflicts_with = "ca_cert")]
    pub insecure: bool,
    /// Serve the Bot API stand-in here, for your bot to call instead of api.telegram.org
    /// (point its API base URL at it); replies are then awaited and timed. Without --target,
    /// the run waits for the bot to call setWebhook (updates go to that URL) or getUpdates
    /// (long polling), as Telegram would.
    #[arg(help_heading = "The bot under test", long, value_name = "ADDR")]
    pub botapi_listen: Option<std::net::SocketAddr>,
    /// With --botapi-listen and no --target: how long to wait for the bot to call setWebhook
    /// or getUpdates.
    #[arg(
        help_heading = "The bot under test",
        long,
        value_name = "DURATION",
        default_value = "60s"
    )]
    pub bot_ready_timeout: String,
    /// After the users stop, the stand-in keeps answering the bot's late calls this long (and
    /// counts them), so a bot still finishing its replies finds it up.
    #[arg(
        help_heading = "The bot under test",
        long,
        value_name = "DURATION",
        default_value = "5s"
    )]
    pub drain: String,
    /// Requests in flight to the webhook at most (Telegram's default is 40, its maximum 100).
    #[arg(help_heading = "The bot under test", long, default_value_t = 40)]
    pub max_connections: u32,
    /// Give up on a webhook request after this long.
    #[arg(
        help_heading = "The bot under test",
        long,
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub timeout: String,
    /// Wait this long for the bot's first reply to each send.
    #[arg(
        help_heading = "The bot under test",
        long,
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub reply_timeout: String,
    /// Once your bot has answered a send, keep collecting its messages for that update until
    /// the chat has been quiet this long: a second message is then credited to its update, not
    /// to the user's next send. `0` returns at the first reply. [default: 100ms; 0 with the
    /// demo bot, which answers in full before it acknowledges]
    #[arg(help_heading = "The bot under test", long, value_name = "DURATION")]
    pub reply_settle: Option<String>,
    /// Do not wait for the bot's reply after a send (replies in the webhook body still count).
    #[arg(help_heading = "The bot under test", long)]
    pub no_await_reply: bool,
    /// Telegram's flood limits at the stand-in (about 1 message/s per chat with short bursts,
    /// 20/min per group, 30/s overall; rates in a profile's [flood] table): `report` counts
    /// the calls Telegram would refuse, `enforce` answers them with 429 and retry_after and
    /// counts calls that did not wait as violations, `off`. [default: the profile's, else
    /// report]
    #[arg(help_heading = "Chaos", long, value_name = "MODE")]
    pub flood_limits: Option<String>,
    /// Inject a fault into the bot's calls for its chats, KIND=RATE, repeatable: 5xx=20%,
    /// reset=5%, timeout=1%, blocked=5% (of chats: 403, the user blocked the bot),
    /// chat_not_found=1%, flood=2% (429 whatever the rate), slow=2s or slow=2s@10%. Drawn from
    /// --seed. A profile's [[faults]] windows add faults for a time.
    #[arg(
        help_heading = "Chaos",
        long = "botapi-fault",
        value_name = "KIND=RATE"
    )]
    pub botapi_faults: Vec<String>,
    /// Redeliver an update whose webhook delivery failed (non-2xx, timeout, dropped connection,
    /// a cut), as Telegram does: the same update_id after a backoff doubling from 1s to 16s,
    /// up to 8 deliveries, the chat's later updates held back meanwhile. Counts redeliveries,
    /// updates finally lost and duplicate replies. On in the chaos profile.
    #[arg(help_heading = "Chaos", long)]
    pub redeliver: bool,
    /// At the end, running tasks and then on_stop get this long in all; whatever still runs
    /// is abandoned (and its request in flight counted as abandoned).
    #[arg(
        help_heading = "Limits",
        long,
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub stop_timeout: String,
    /// The most one user's state (`this`) may hold after a task (for example 64KiB, 1MiB). A
    /// task that leaves it larger fails with a script error and its changes to it are undone,
    /// so a script cannot grow the process without bound.
    #[arg(
        help_heading = "Limits",
        long,
        value_name = "SIZE",
        default_value = "64KiB"
    )]
    pub state_limit: String,
    /// Worker threads (default: one per core).
    #[arg(help_heading = "Limits", long)]
    pub workers: Option<usize>,
    /// Serve the live dashboard and the control API here (status, users, reload, stop,
    /// /metrics), e.g. 127.0.0.1:8089.
    #[arg(
        help_heading = "Live control",
        long,
        alias = "web",
        value_name = "ADDR"
    )]
    pub control: Option<std::net::SocketAddr>,
    /// Token the control API requires (needed when --control is not a loopback address).
    #[arg(help_heading = "Live control", long, value_name = "TOKEN")]
    pub control_token: Option<String>,
    /// Do not watch the scripts and the profile file for changes.
    #[arg(help_heading = "Live control", long)]
    pub no_reload: bool,
    /// With no --threshold, exit 0 even when requests failed or scripts erred (by default that
    /// exits 3, as a CI gate expects).
    #[arg(help_heading = "Pass or fail", long)]
    pub allow_failures: bool,
    /// A pass/fail rule, repeatable: p95<500ms, p99{name=/help}<200ms, errors<1%, rps>50,
    /// checks>99%, script_errors==0, coverage (all 22 demo bot commands sent) or
    /// coverage{commands=/help,/start}. A failed one makes the exit code 3.
    #[arg(help_heading = "Pass or fail", long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Write the full result here as JSON (schema: schema/result.v1.json). While the run goes
    /// on, the file holds a checkpoint marked `"partial": true`, rewritten whole every
    /// --checkpoint.
    #[arg(help_heading = "Results", long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// How often the --json file is rewritten with the run so far.
    #[arg(
        help_heading = "Results",
        long,
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub checkpoint: String,
    /// The final table with every column (average, minimum, replies, reply median), past 120
    /// characters wide.
    #[arg(help_heading = "Results", long)]
    pub wide: bool,
    /// Write Locust's CSV files: PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv
    /// (with our columns after Locust's), and PREFIX_tasks.csv.
    #[arg(help_heading = "Results", long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Write a self-contained HTML report (charts inline, nothing fetched).
    #[arg(help_heading = "Results", long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary here (for a CI job summary, e.g. $GITHUB_STEP_SUMMARY).
    #[arg(help_heading = "Results", long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML here: a test case per threshold (and per row of the --baseline
    /// comparison); a failed one is a <failure>.
    #[arg(help_heading = "Results", long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// No live progress line, and only errors in the log.
    #[arg(help_heading = "Results", long, short)]
    pub quiet: bool,
    /// Run shard I of N of a test (1-based): its slice of every class's users, of the spawn
    /// and arrival rates, of every tier's pool and of the update ids. Every shard of a test
    /// needs the same --seed, scripts and profile; `stress merge` combines their --json files.
    #[arg(
        help_heading = "Distributed",
        long,
        value_name = "I/N",
        value_parser = shard_arg,
        requires = "seed"
    )]
    pub shard: Option<String>,
    /// Compare the run with this result at the end (as `stress compare BASE`); relative
    /// thresholds (`--threshold 'p95<+10%'`) are checked against it, a failed one exits 3.
    #[arg(help_heading = "Pass or fail", long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Demo bot: latency per kind, KIND=DURATION (kinds: command, text, complex, media, callback).
    #[arg(
        help_heading = "The demo bot (without --target)",
        long = "bot-latency",
        value_name = "KIND=DURATION"
    )]
    pub bot_latency: Vec<String>,
    /// Demo bot: answer at once.
    #[arg(help_heading = "The demo bot (without --target)", long)]
    pub bot_no_latency: bool,
    /// Demo bot: share of updates answered with HTTP 500 (0..1).
    #[arg(
        help_heading = "The demo bot (without --target)",
        long,
        default_value_t = 0.0
    )]
    pub bot_error_rate: f64,
    /// Demo bot: share of updates whose connection is dropped (0..1).
    #[arg(
        help_heading = "The demo bot (without --target)",
        long,
        default_value_t = 0.0
    )]
    pub bot_reset_rate: f64,
    /// Demo bot: put replies in the webhook response body instead of calling the stand-in.
    #[arg(help_heading = "The demo bot (without --target)", long)]
    pub bot_reply_in_webhook: bool,
    /// Demo bot: misbehave (ignore retry_after, keep writing to chats that blocked it, handle
    /// redelivered updates again), as `stress target --naive` does.
    #[arg(help_heading = "The demo bot (without --target)", long)]
    pub bot_naive: bool,
    #[command(flatten)]
    pub pools: PoolArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scripts or folders of scripts. Default: scripts/.
    pub paths: Vec<PathBuf>,
    /// Folder of shared modules scripts import.
    #[arg(long, value_name = "DIR", default_value = "stdlib")]
    pub stdlib: PathBuf,
    /// Run N tasks per class against the demo bot in memory and list the commands sent.
    #[arg(long, value_name = "N")]
    pub dry_run: Option<u64>,
    /// Seed for the dry run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `--shard`: checked at parse time, so a bad value is a usage error naming the flag.
fn shard_arg(text: &str) -> Result<String, String> {
    crate::profile::shard::Shard::parse(text).map(|_| text.to_string())
}

/// The defaults a bare `stress run` has (clap's `default_value`s), for code that builds
/// arguments rather than parsing them.
impl Default for RunArgs {
    fn default() -> Self {
        Cli::try_parse_from(["stress"])
            .expect("a bare command line parses")
            .run
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn both_ways_to_run_show_the_exit_codes_in_help() {
        // Help text is wrapped to the terminal: compare words.
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut cli = Cli::command();
        assert!(words(&cli.render_long_help().to_string()).contains(&words(EXIT_CODES)));
        let run = cli.find_subcommand_mut("run").expect("run");
        assert!(words(&run.render_long_help().to_string()).contains(&words(EXIT_CODES)));
    }
}
