//! What the dashboard and the HTML report show, in one shape, derived from a [`Summary`] by one
//! function ([`View::of`]): the dashboard polls a live one (`GET /api/stats`), the report embeds
//! the final one, and one page script renders both.

use serde::Serialize;

use super::{
    CheckRow, ErrorRow, FailureRow, HistoryPoint, LogLine, Percentiles, ReloadEvent, RequestRow,
    Summary, Verdict,
};

#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub name: String,
    pub weight: u32,
    pub expected_share: f64,
    pub calls: u64,
    pub observed_share: f64,
    pub errors: u64,
    /// Calls in the last 60 seconds, and their share of the class's calls then: a weight
    /// change shows here at once.
    pub recent_calls: u64,
    pub recent_share: f64,
    /// How long its calls took (in the open model, from when each was due).
    pub duration_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassView {
    pub name: String,
    pub file: String,
    pub tier: String,
    pub weight: u32,
    pub expected_share: f64,
    /// Users running now (live), or started in all (a report).
    pub users: u64,
    pub observed_share: f64,
    /// The script version running (0 before any reload; none in a report).
    pub version: Option<u64>,
    pub tasks: Vec<TaskView>,
    /// Task starts of this class the open model dropped.
    pub dropped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// True while the run goes on (the page shows controls and polls).
    pub live: bool,
    /// `running`, `ending` (its users are being stopped), `finished`, `stopped` (before its
    /// end), or `idle` (`stress web` before its first run).
    pub state: &'static str,
    pub elapsed_s: f64,
    pub remaining_s: Option<f64>,
    pub users: u32,
    /// Users the scheduler is heading to.
    pub goal_users: u32,
    pub spawn_rate: f64,
    pub version: u64,
    /// All requests together.
    pub all: RequestRow,
    /// Task starts the open model dropped for want of a free user, and those it started.
    pub dropped: u64,
    pub tasks: u64,
    pub requests: Vec<RequestRow>,
    /// Per second; only the points after `since` when asked.
    pub history: Vec<HistoryPoint>,
    pub classes: Vec<ClassView>,
    pub checks: Vec<CheckRow>,
    pub errors: Vec<ErrorRow>,
    /// Failed requests by name, kind and status, with the latest message.
    pub failures: Vec<FailureRow>,
    /// The latest lines scripts logged, the newest last.
    pub logs: Vec<LogLine>,
    pub reloads: Vec<ReloadEvent>,
    pub thresholds: Vec<Verdict>,
    /// Where the run came from, for the page's title line.
    pub about: String,
}

/// What only a running test knows, besides its summary so far.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub remaining_s: f64,
    pub users: u32,
    pub goal_users: u32,
    pub spawn_rate: f64,
    /// The scripts' version (bumped by every reload that published).
    pub version: u64,
    /// Per class, in the summary's order: users running now and the script version running.
    pub classes: Vec<(u64, u64)>,
    /// Only history points after this second.
    pub since: Option<u64>,
}

impl View {
    /// The view of a summary: live while the run goes on (`live` given), or a finished run's.
    pub fn of(s: &Summary, live: Option<&Live>) -> View {
        let classes = s
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let running = live.map(|l| l.classes.get(i).copied().unwrap_or_default());
                ClassView {
                    name: c.name.clone(),
                    file: c.file.clone(),
                    tier: c.tier.clone(),
                    weight: c.weight,
                    expected_share: c.expected_share,
                    users: running.map_or(c.users_started, |(users, _)| users),
                    observed_share: c.observed_share,
                    version: running.map(|(_, version)| version),
                    tasks: {
                        let recent = s.recent_tasks.get(&c.name);
                        let recent_of =
                            |task: &str| recent.and_then(|r| r.get(task)).copied().unwrap_or(0);
                        let recent_all: u64 = c.tasks.iter().map(|t| recent_of(&t.name)).sum();
                        c.tasks
                            .iter()
                            .map(|t| TaskView {
                                name: t.name.clone(),
                                weight: t.weight,
                                expected_share: t.expected_share,
                                calls: t.count,
                                observed_share: t.observed_share,
                                errors: t.errors,
                                recent_calls: recent_of(&t.name),
                                recent_share: if recent_all == 0 {
                                    0.0
                                } else {
                                    recent_of(&t.name) as f64 / recent_all as f64
                                },
                                duration_ms: t.duration_ms,
                            })
                            .collect()
                    },
                    dropped: c.dropped_iterations,
                }
            })
            .collect();
        let since = live.and_then(|l| l.since);
        let mut about = format!(
            "{} · profile {} · seed {}",
            s.target, s.profile.name, s.seed
        );
        if live.is_none() {
            about.push_str(&format!(" · started {}", s.started_at));
        }
        View {
            live: live.is_some(),
            state: if live.is_some() {
                "running"
            } else {
                "finished"
            },
            elapsed_s: s.duration_s,
            remaining_s: live.map(|l| l.remaining_s),
            users: live.map_or_else(|| s.history.last().map_or(0, |p| p.users), |l| l.users),
            goal_users: live.map_or(0, |l| l.goal_users),
            spawn_rate: live.map_or(0.0, |l| l.spawn_rate),
            version: live.map_or_else(
                || {
                    s.reloads
                        .iter()
                        .filter(|r| r.ok)
                        .map(|r| r.version)
                        .max()
                        .unwrap_or(0)
                },
                |l| l.version,
            ),
            all: s.aggregated.clone().unwrap_or_default(),
            dropped: s.totals.dropped_iterations,
            tasks: s.totals.tasks,
            requests: s.requests.clone(),
            history: s
                .history
                .iter()
                .filter(|p| since.is_none_or(|t| p.t > t))
                .cloned()
                .collect(),
            classes,
            checks: s.checks.clone(),
            errors: s.script_errors.clone(),
            failures: s.failures.clone(),
            logs: s.logs.clone(),
            reloads: s.reloads.clone(),
            thresholds: s.thresholds.clone(),
            about,
        }
    }
}
