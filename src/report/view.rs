//! What the dashboard and the HTML report show, in one shape, derived from a [`Summary`] by one
//! function ([`View::of`]): the dashboard polls a live one (`GET /api/stats`), the report embeds
//! the final one, and one page script renders both.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    CheckRow, ErrorRow, FailureRow, FloodReport, HistoryPoint, LogLine, Percentiles, ReloadEvent,
    RequestRow, Resilience, Summary, Verdict,
};
use crate::profile::chaos::FloodMode;

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

/// The run's flood line: what the bot sent against Telegram's limits, and the faults injected.
/// The gate's per-window spans stay out (the resilience windows carry their counts), so the
/// dashboard's poll stays small.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodView {
    pub mode: FloodMode,
    /// Telegram's overall and per-chat messages per second.
    pub limit_per_s: f64,
    pub chat_limit_per_s: f64,
    /// The most messages the bot sent in one second, overall and in one chat.
    pub peak_messages_per_s: u64,
    pub peak_chat_messages_per_s: u64,
    /// Messages over a limit (refused with `enforce`), and the chats they were for.
    pub refused: u64,
    pub chats_refused: u64,
    pub violations: u64,
    pub max_retry_after_s: u64,
    /// Calls answered 403 (blocked by the user), the injected first ones included.
    pub blocked_calls: u64,
    /// Injected faults by kind (chats for `blocked`).
    pub injected: BTreeMap<String, u64>,
}

impl FloodView {
    fn of(f: &FloodReport) -> Self {
        Self {
            mode: f.mode,
            limit_per_s: f.limits.global,
            chat_limit_per_s: f.limits.per_chat,
            peak_messages_per_s: f.peak_messages_per_s,
            peak_chat_messages_per_s: f.peak_chat_messages_per_s,
            refused: f.total.refused(),
            chats_refused: f.chats_refused,
            violations: f.total.violations,
            max_retry_after_s: f.max_retry_after_s,
            blocked_calls: f.total.blocked_calls,
            injected: f.total.injected.clone(),
        }
    }
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
    /// The fault windows (the charts shade them) and how the bot came through each; live, a
    /// window not yet reached has zero counts.
    pub resilience: Option<Resilience>,
    /// What the Bot API stand-in's flood gate counted, in all.
    pub flood: Option<FloodView>,
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
            resilience: s.resilience.clone(),
            flood: s
                .botapi
                .as_ref()
                .and_then(|b| b.flood.as_ref())
                .map(FloodView::of),
            about,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{BotApiReport, GateSpan, WindowOutcome};

    /// A chaos run's summary: one window, and a gate that counted spans (before, the window).
    fn chaos() -> Summary {
        let span = |refused_chat, violations| GateSpan {
            messages: 100,
            refused_chat,
            refused_global: 1,
            violations,
            blocked_calls: 5,
            injected: [("5xx".to_string(), 7), ("blocked".to_string(), 2)].into(),
            ..GateSpan::default()
        };
        let mut total = span(0, 0);
        total.add(&span(4, 3));
        Summary {
            history: (1..=40)
                .map(|t| HistoryPoint {
                    t,
                    ..HistoryPoint::default()
                })
                .collect(),
            resilience: Some(Resilience {
                windows: vec![WindowOutcome {
                    name: "Bot API 5xx".into(),
                    start_s: 10.0,
                    end_s: 20.0,
                    faults: vec!["5xx=20%".into()],
                    duplicate_replies: 2,
                    recovery_s: Some(3.0),
                    ..WindowOutcome::default()
                }],
                duplicate_replies: 2,
                ..Resilience::default()
            }),
            botapi: Some(BotApiReport {
                flood: Some(FloodReport {
                    mode: FloodMode::Enforce,
                    total,
                    chats_refused: 2,
                    peak_messages_per_s: 42,
                    peak_chat_messages_per_s: 3,
                    max_retry_after_s: 5,
                    spans: vec![span(0, 0), span(4, 3)],
                    ..FloodReport::default()
                }),
                ..BotApiReport::default()
            }),
            ..Summary::default()
        }
    }

    #[test]
    fn a_chaos_run_carries_its_windows_and_flood_line_but_not_the_gate_spans() {
        let s = chaos();
        let live = Live {
            since: Some(30),
            ..Live::default()
        };
        let view = View::of(&s, Some(&live));
        assert_eq!(view.history.len(), 10, "seconds 31 to 40 only");
        assert_eq!(
            view.resilience, s.resilience,
            "every window on each poll, whatever `since`"
        );
        let flood = view.flood.as_ref().unwrap();
        assert_eq!((flood.limit_per_s, flood.chat_limit_per_s), (30.0, 1.0));
        assert_eq!(
            (flood.refused, flood.violations, flood.chats_refused),
            (6, 3, 2),
            "4 over a chat's limit and 2 over the overall rate"
        );
        assert_eq!((flood.blocked_calls, flood.injected["5xx"]), (10, 14));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["flood"]["mode"], "enforce");
        assert_eq!(json["resilience"]["windows"][0]["name"], "Bot API 5xx");
        let text = json.to_string();
        assert!(
            !text.contains("spans") && !text.contains("refused_chat"),
            "the gate's spans stay out of the poll: {text}"
        );
    }

    #[test]
    fn a_run_without_chaos_has_no_resilience_or_flood() {
        let view = View::of(&Summary::default(), None);
        assert!(view.resilience.is_none() && view.flood.is_none());
        let json = serde_json::to_value(&view).unwrap();
        assert!(json["resilience"].is_null() && json["flood"].is_null());
    }
}
