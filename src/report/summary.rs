//! The result of a run, as `--json` writes it. The schema is versioned ([`SCHEMA`]) and
//! committed as `schema/result.v1.json`; a change to these types is a change to that file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{HistoryPoint, LogLine, Percentiles, ReloadEvent, SpawnPhase, Verdict, WindowPoint};

/// The `schema` field of every result file.
pub const SCHEMA: &str = "stress.result/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub users: u32,
    pub spawn_rate: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub stages: Vec<StageInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub latency_ms: Percentiles,
    /// Of `latency_ms`: waiting for a connection (`--max-connections`, the bot's
    /// max_connections; for a polling bot, for its getUpdates), and the network and the bot.
    #[serde(default)]
    pub queue_ms: Option<Percentiles>,
    #[serde(default)]
    pub service_ms: Option<Percentiles>,
    /// Requests answered by a reply (with the stand-in on), and those whose reply never came.
    pub replies: u64,
    pub no_reply: u64,
    pub reply_ms: Option<Percentiles>,
    /// From the send to the bot's last reply to it.
    #[serde(default)]
    pub last_reply_ms: Option<Percentiles>,
    /// Replies credited to sends (a bot may answer one update with several messages).
    #[serde(default)]
    pub reply_messages: u64,
    /// Replies that came after their send had returned, credited to the update they answer.
    #[serde(default)]
    pub late_replies: u64,
    /// From the send to the bot's first acknowledgement (a callback's answer, a chat action).
    #[serde(default)]
    pub ack_ms: Option<Percentiles>,
    pub tasks: u64,
    pub script_errors: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
    /// Users still in a task at the end of `--stop-timeout`.
    pub abandoned_users: u64,
    /// The open model (`--arrival-rate`): task starts due but dropped, no user being free.
    #[serde(default)]
    pub dropped_iterations: u64,
    /// How late users woke from their waits, when they waited.
    pub wait_lateness_ms: Option<Percentiles>,
    /// With `--redeliver`: deliveries repeated after a failed one, updates whose deliveries
    /// all failed, and replies the bot sent again for an update it had already answered.
    #[serde(default)]
    pub redeliveries: u64,
    #[serde(default)]
    pub lost_updates: u64,
    #[serde(default)]
    pub duplicate_replies: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    /// A command (`/help`) or a kind (`text`, `voice`, `photo`, `document`, `callback`).
    pub name: String,
    pub count: u64,
    pub failures: u64,
    /// Only the kinds that occurred.
    pub failures_by_kind: BTreeMap<String, u64>,
    pub rps: f64,
    pub latency_ms: Percentiles,
    /// Of `latency_ms`: waiting for a connection (`--max-connections`, the bot's
    /// max_connections; for a polling bot, for its getUpdates), and the network and the bot.
    #[serde(default)]
    pub queue_ms: Option<Percentiles>,
    #[serde(default)]
    pub service_ms: Option<Percentiles>,
    pub replies: u64,
    pub no_reply: u64,
    pub reply_ms: Option<Percentiles>,
    /// From the send to the bot's last reply to it.
    #[serde(default)]
    pub last_reply_ms: Option<Percentiles>,
    /// Replies credited to sends (a bot may answer one update with several messages).
    #[serde(default)]
    pub reply_messages: u64,
    /// Replies that came after their send had returned, credited to the update they answer.
    #[serde(default)]
    pub late_replies: u64,
    /// From the send to the bot's first acknowledgement (a callback's answer, a chat action).
    #[serde(default)]
    pub ack_ms: Option<Percentiles>,
    /// Bytes of the bot's answers (webhook response bodies).
    pub content_bytes: u64,
    /// With `--redeliver`: deliveries repeated after a failed one, updates whose deliveries
    /// all failed, and replies the bot sent again for an update it had already answered.
    #[serde(default)]
    pub redeliveries: u64,
    #[serde(default)]
    pub lost_updates: u64,
    #[serde(default)]
    pub duplicate_replies: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub name: String,
    pub weight: u32,
    /// weight / the class's total weight.
    pub expected_share: f64,
    pub count: u64,
    pub observed_share: f64,
    pub errors: u64,
    pub duration_ms: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    pub name: String,
    pub file: String,
    pub tier: String,
    pub weight: u32,
    pub expected_share: f64,
    pub users_started: u64,
    pub observed_share: f64,
    /// Task calls by users that ended.
    pub iterations: u64,
    /// Order-independent hash of every user's (number, sequence of request names): equal in
    /// two runs when each user sent the same requests in the same order.
    pub sequence_digest: String,
    pub tasks: Vec<TaskRow>,
    /// Task starts of this class the open model dropped.
    #[serde(default)]
    pub dropped_iterations: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRow {
    pub name: String,
    pub passed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRow {
    pub class: String,
    /// `file:line:col`.
    pub location: String,
    pub message: String,
    pub count: u64,
}

/// Failed requests of one name, kind and HTTP status, with the latest one's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRow {
    pub name: String,
    /// A failure kind (`connect`, `timeout`, `http_4xx`, ...).
    pub kind: String,
    /// The bot's HTTP status; none when there was no answer.
    pub status: Option<u16>,
    pub count: u64,
    /// What went wrong: the status and the first bytes of the bot's answer, or the OS's error
    /// with the address.
    pub message: String,
}

/// A bound the run reached, so nothing it dropped or folded goes unsaid: names past a limit
/// counted under `(other)`, reload records left out, history seconds merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRow {
    /// What was bounded: `request names`, `check names`, `script error locations`,
    /// `reload records`, `history`.
    pub what: String,
    pub limit: u64,
    /// The first name past the limit (empty where there is none).
    pub first: String,
    /// Where it came from: the script's `file:line:col` (empty where there is none).
    pub at: String,
    /// Samples counted under `(other)`, records left out, or points merged.
    pub count: u64,
}

/// The whole result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub tool_version: String,
    /// A checkpoint written while the run went on (or a run cut short before its end), not
    /// the final result.
    pub partial: bool,
    pub started_at: String,
    pub duration_s: f64,
    pub seed: u64,
    pub target: String,
    pub profile: ProfileInfo,
    pub totals: Totals,
    pub requests: Vec<RequestRow>,
    pub classes: Vec<ClassRow>,
    pub checks: Vec<CheckRow>,
    pub script_errors: Vec<ErrorRow>,
    /// Failed requests by name, kind and status, the most frequent first.
    pub failures: Vec<FailureRow>,
    pub history: Vec<HistoryPoint>,
    /// Script and profile reloads during the run, in order.
    pub reloads: Vec<ReloadEvent>,
    /// Each threshold and how it came out.
    pub thresholds: Vec<Verdict>,
    /// The demo bot's own counts (`GET /stats`) when it ran in-process.
    pub bot: Option<serde_json::Value>,
    /// What the Bot API stand-in saw of the bot (none for a `--target` without a stand-in).
    #[serde(default)]
    pub botapi: Option<super::BotApiReport>,
    /// Unix time of the start, for files that want absolute timestamps.
    pub started_unix: u64,
    /// Each ramp the scheduler walked: users per second asked and achieved.
    pub spawn: Vec<SpawnPhase>,
    /// The bounds the run reached (empty when none was).
    pub limits: Vec<LimitRow>,
    /// The latest lines scripts logged (at most 500; the rest are counted in `limits`).
    pub logs: Vec<LogLine>,
    /// Which shard of a test this result is (`--shard i/n`), or which shards a merge holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::ShardInfo>,
    /// A digest of what makes the test: the class scripts' sources and the profile. Equal for
    /// every shard of one test (`stress merge` checks it); empty in older files.
    #[serde(default)]
    pub test_digest: String,
    /// The latency histograms, serialized, for `stress merge` and `stress compare` (in a
    /// final result; a checkpoint has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<super::Histograms>,
    /// The comparison with `--baseline`, for the Markdown and JUnit outputs.
    #[serde(skip)]
    pub comparison: Option<Box<super::Comparison>>,
    /// Fault windows and how the bot came through each (a run with chaos).
    #[serde(default)]
    pub resilience: Option<super::Resilience>,
    /// The all-requests row (as the table's "Aggregated").
    #[serde(skip)]
    pub aggregated: Option<RequestRow>,
    /// Per second, with Locust's ten-second window (for `_stats_history.csv`).
    #[serde(skip)]
    pub window: Vec<WindowPoint>,
    /// Task calls per class and task in the last 60 seconds (the dashboard's "last 60 s"
    /// distribution).
    #[serde(skip)]
    pub recent_tasks: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A class as the run declared it, and how many users it started.
#[derive(Debug, Clone)]
pub struct ClassInfo {
    pub name: String,
    pub file: String,
    pub tier: String,
    pub weight: u32,
    /// Task names and weights.
    pub tasks: Vec<(String, u32)>,
    pub users_started: u64,
}

/// What the summary needs besides the statistics.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub started_at: String,
    pub started_unix: u64,
    pub duration_s: f64,
    pub seed: u64,
    pub target: String,
    pub profile: ProfileInfo,
    pub classes: Vec<ClassInfo>,
    pub abandoned_users: u64,
    pub bot: Option<serde_json::Value>,
    pub botapi: Option<super::BotApiReport>,
    pub spawn: Vec<SpawnPhase>,
    /// `--shard i/n`, when the run is one shard of a test.
    pub shard: Option<super::ShardInfo>,
    /// See [`Summary::test_digest`].
    pub test_digest: String,
    /// The fault windows, on the run's clock (none without chaos).
    pub windows: Vec<crate::profile::chaos::FaultWindow>,
}
