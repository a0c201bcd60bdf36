//! The result of a run, as `--json` writes it. The schema is versioned ([`SCHEMA`]) and
//! committed as `schema/result.v1.json`; a change to these types is a change to that file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::aggregate::{Aggregator, HistoryPoint};
use super::hist::Latency;
use super::recorder::{Interval, RequestStats};
use super::spawn::SpawnPhase;
use crate::reload::ReloadEvent;
use crate::threshold::Verdict;
use crate::transport::ErrorKind;

/// The `schema` field of every result file.
pub const SCHEMA: &str = "stress.result/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub users: u32,
    pub spawn_rate: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub stages: Vec<StageInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub latency_ms: Latency,
    /// Requests answered by a reply (with the stand-in on), and those whose reply never came.
    pub replies: u64,
    pub no_reply: u64,
    pub reply_ms: Option<Latency>,
    pub tasks: u64,
    pub script_errors: u64,
    pub checks_passed: u64,
    pub checks_failed: u64,
    /// Users still in a task at the end of `--stop-timeout`.
    pub abandoned_users: u64,
    /// How late users woke from their waits, when they waited.
    pub wait_lateness_ms: Option<Latency>,
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
    pub latency_ms: Latency,
    pub replies: u64,
    pub no_reply: u64,
    pub reply_ms: Option<Latency>,
    /// Bytes of the bot's answers (webhook response bodies).
    pub content_bytes: u64,
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
    pub duration_ms: Latency,
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

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub tool_version: String,
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
    pub history: Vec<HistoryPoint>,
    /// Script and profile reloads during the run, in order.
    pub reloads: Vec<ReloadEvent>,
    /// Each threshold and how it came out.
    pub thresholds: Vec<Verdict>,
    /// The demo bot's own counts (`GET /stats`) when it ran in-process.
    pub bot: Option<serde_json::Value>,
    /// Unix time of the start, for files that want absolute timestamps.
    pub started_unix: u64,
    /// Each ramp the scheduler walked: users per second asked and achieved.
    pub spawn: Vec<SpawnPhase>,
    /// The all-requests row (as the table's "Aggregated").
    #[serde(skip)]
    pub aggregated: Option<RequestRow>,
    /// Per second, with Locust's ten-second window (for `_stats_history.csv`).
    #[serde(skip)]
    pub window: Vec<super::aggregate::WindowPoint>,
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
#[derive(Debug, Clone)]
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
    pub spawn: Vec<SpawnPhase>,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// The checks of an interval, by name.
pub(crate) fn check_rows(i: &Interval) -> Vec<CheckRow> {
    let mut checks: Vec<CheckRow> = i
        .checks
        .iter()
        .map(|(name, c)| CheckRow {
            name: name.to_string(),
            passed: c.passed,
            failed: c.failed,
        })
        .collect();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    checks
}

/// The script errors of an interval, the most frequent first.
pub(crate) fn error_rows(i: &Interval) -> Vec<ErrorRow> {
    let mut errors: Vec<ErrorRow> = i
        .errors
        .iter()
        .map(|(k, n)| ErrorRow {
            class: k.class.clone(),
            location: k.location.clone(),
            message: k.message.clone(),
            count: *n,
        })
        .collect();
    errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.location.cmp(&b.location)));
    errors
}

pub(crate) fn request_row(name: &str, r: &RequestStats, secs: f64) -> RequestRow {
    RequestRow {
        name: name.to_string(),
        count: r.count(),
        failures: r.failed(),
        failures_by_kind: ErrorKind::ALL
            .iter()
            .filter(|k| r.failures[k.index()] > 0)
            .map(|k| (k.as_str().to_string(), r.failures[k.index()]))
            .collect(),
        rps: per_second(r.count(), secs),
        latency_ms: Latency::of(&r.latency),
        replies: r.reply.len(),
        no_reply: r.no_reply,
        reply_ms: (!r.reply.is_empty()).then(|| Latency::of(&r.reply)),
        content_bytes: r.bytes,
    }
}

impl Summary {
    pub fn build(agg: &Aggregator, info: RunInfo) -> Self {
        let secs = info.duration_s;
        let mut requests: Vec<RequestRow> = agg
            .totals
            .requests
            .iter()
            .map(|(name, r)| request_row(name, r, secs))
            .collect();
        requests.sort_by(|a, b| a.name.cmp(&b.name));

        let total_weight: u64 = info.classes.iter().map(|c| u64::from(c.weight)).sum();
        let total_users: u64 = info.classes.iter().map(|c| c.users_started).sum();
        let classes = info
            .classes
            .iter()
            .map(|c| {
                let recorded = agg.totals.tasks.get(c.name.as_str());
                let task_weight: u64 = c.tasks.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut names: Vec<(String, u32)> = c.tasks.clone();
                // Tasks a reload removed still have their counts.
                if let Some(recorded) = recorded {
                    for name in recorded.keys() {
                        if !names.iter().any(|(n, _)| n.as_str() == &**name) {
                            names.push((name.to_string(), 0));
                        }
                    }
                }
                let count_of = |name: &str| recorded.and_then(|r| r.get(name));
                let calls: u64 = names
                    .iter()
                    .filter_map(|(n, _)| count_of(n))
                    .map(|t| t.count())
                    .sum();
                let tasks = names
                    .iter()
                    .map(|(name, weight)| {
                        let t = count_of(name);
                        TaskRow {
                            name: name.clone(),
                            weight: *weight,
                            expected_share: share(u64::from(*weight), task_weight),
                            count: t.map_or(0, |t| t.count()),
                            observed_share: share(t.map_or(0, |t| t.count()), calls),
                            errors: t.map_or(0, |t| t.errors),
                            duration_ms: t
                                .map_or_else(Latency::default, |t| Latency::of(&t.duration)),
                        }
                    })
                    .collect();
                let runs = agg.runs.get(&c.name).cloned().unwrap_or_default();
                ClassRow {
                    name: c.name.clone(),
                    file: c.file.clone(),
                    tier: c.tier.clone(),
                    weight: c.weight,
                    expected_share: share(u64::from(c.weight), total_weight),
                    users_started: c.users_started,
                    observed_share: share(c.users_started, total_users),
                    iterations: runs.iterations,
                    sequence_digest: format!("{:016x}", runs.digest),
                    tasks,
                }
            })
            .collect();

        let checks = check_rows(&agg.totals);
        let script_errors = error_rows(&agg.totals);

        let all = &agg.all;
        let tasks = agg
            .totals
            .tasks
            .values()
            .flat_map(|t| t.values())
            .map(|t| t.count())
            .sum();
        let totals = Totals {
            requests: all.count(),
            failures: all.failed(),
            rps: per_second(all.count(), secs),
            latency_ms: Latency::of(&all.latency),
            replies: all.reply.len(),
            no_reply: all.no_reply,
            reply_ms: (!all.reply.is_empty()).then(|| Latency::of(&all.reply)),
            tasks,
            script_errors: script_errors.iter().map(|e| e.count).sum(),
            checks_passed: checks.iter().map(|c| c.passed).sum(),
            checks_failed: checks.iter().map(|c| c.failed).sum(),
            abandoned_users: info.abandoned_users,
            wait_lateness_ms: agg.totals.lateness.as_ref().map(Latency::of),
        };
        Summary {
            schema: SCHEMA.into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: info.started_at,
            duration_s: (secs * 1e3).round() / 1e3,
            seed: info.seed,
            target: info.target,
            profile: info.profile,
            totals,
            requests,
            classes,
            checks,
            script_errors,
            history: agg.history.clone(),
            reloads: agg.reloads.clone(),
            thresholds: Vec::new(),
            bot: info.bot,
            started_unix: info.started_unix,
            spawn: info.spawn,
            aggregated: Some(request_row("Aggregated", &agg.all, secs)),
            window: agg.window_points.clone(),
        }
    }
}
