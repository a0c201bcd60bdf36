//! What the dashboard and the HTML report show, in one shape: built live from the aggregator's
//! snapshot (the dashboard polls it as `GET /api/stats`) or from a finished run's [`Summary`]
//! (the report embeds it). One page script renders both.

use serde::Serialize;

use crate::reload::ReloadEvent;
use crate::scheduler::SchedulerStatus;
use crate::script::ClassTable;
use crate::stats::aggregate::HistoryPoint;
use crate::stats::summary::{CheckRow, ErrorRow, RequestRow};
use crate::stats::{Snapshot, Summary};
use crate::threshold::Verdict;

#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub name: String,
    pub weight: u32,
    pub expected_share: f64,
    pub calls: u64,
    pub observed_share: f64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassView {
    pub name: String,
    pub file: String,
    pub tier: String,
    pub weight: u32,
    pub expected_share: f64,
    pub users: u64,
    pub observed_share: f64,
    /// The script version running (0 before any reload; none in a report).
    pub version: Option<u64>,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// True while the run goes on (the page shows controls and polls).
    pub live: bool,
    pub elapsed_s: f64,
    pub remaining_s: Option<f64>,
    pub users: u32,
    pub target: u32,
    pub spawn_rate: f64,
    pub version: u64,
    /// All requests together.
    pub all: RequestRow,
    pub requests: Vec<RequestRow>,
    /// Per second; only the points after `since` when asked.
    pub history: Vec<HistoryPoint>,
    pub classes: Vec<ClassView>,
    pub checks: Vec<CheckRow>,
    pub errors: Vec<ErrorRow>,
    pub reloads: Vec<ReloadEvent>,
    pub thresholds: Vec<crate::threshold::Verdict>,
    /// Where the run came from, for the page's title line.
    pub about: String,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn tasks(declared: &[(String, u32)], calls: &[(String, u64, u64)]) -> Vec<TaskView> {
    let total_weight: u64 = declared.iter().map(|(_, w)| u64::from(*w)).sum();
    let total_calls: u64 = calls.iter().map(|(_, c, _)| *c).sum();
    let mut names: Vec<(String, u32)> = declared.to_vec();
    for (name, _, _) in calls {
        if !names.iter().any(|(n, _)| n == name) {
            names.push((name.clone(), 0));
        }
    }
    names
        .into_iter()
        .map(|(name, weight)| {
            let (count, errors) = calls
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or((0, 0), |(_, c, e)| (*c, *e));
            TaskView {
                expected_share: share(u64::from(weight), total_weight),
                observed_share: share(count, total_calls),
                name,
                weight,
                calls: count,
                errors,
            }
        })
        .collect()
}

/// The live view, for `GET /api/stats?since=T`.
pub fn live(
    s: &Snapshot,
    status: &SchedulerStatus,
    table: &ClassTable,
    since: Option<u64>,
    about: &str,
) -> View {
    let slots = table.slots();
    let total_weight: u64 = slots.iter().map(|s| u64::from(s.weight())).sum();
    let total_users: u64 = status.per_class.iter().sum();
    let classes = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let script = slot.load();
            let declared: Vec<(String, u32)> = script
                .tasks
                .iter()
                .map(|t| (t.name.clone(), t.weight))
                .collect();
            let calls: Vec<(String, u64, u64)> = s
                .tasks
                .iter()
                .filter(|(class, ..)| *class == script.decl.name)
                .map(|(_, task, c, e)| (task.clone(), *c, *e))
                .collect();
            let users = status.per_class.get(i).copied().unwrap_or(0);
            ClassView {
                name: script.decl.name.clone(),
                file: slot.file.display().to_string(),
                tier: script.decl.tier.as_str().into(),
                weight: slot.weight(),
                expected_share: share(u64::from(slot.weight()), total_weight),
                users,
                observed_share: share(users, total_users),
                version: Some(script.version),
                tasks: tasks(&declared, &calls),
            }
        })
        .collect();
    View {
        live: true,
        elapsed_s: s.elapsed.as_secs_f64(),
        remaining_s: Some(status.remaining_s),
        users: status.users,
        target: status.target,
        spawn_rate: status.spawn_rate,
        version: table.version(),
        all: s.all.clone(),
        requests: s.rows.clone(),
        history: s
            .history
            .iter()
            .filter(|p| since.is_none_or(|t| p.t > t))
            .cloned()
            .collect(),
        classes,
        checks: s.checks.clone(),
        errors: s.errors.clone(),
        reloads: s.reloads.clone(),
        thresholds: Vec::new(),
        about: about.to_string(),
    }
}

/// The view of a finished run, for the HTML report.
pub fn finished(s: &Summary) -> View {
    let thresholds: Vec<Verdict> = s.thresholds.clone();
    View {
        live: false,
        elapsed_s: s.duration_s,
        remaining_s: None,
        users: s.history.last().map_or(0, |p| p.users),
        target: 0,
        spawn_rate: 0.0,
        version: s
            .reloads
            .iter()
            .filter(|r| r.ok)
            .map(|r| r.version)
            .max()
            .unwrap_or(0),
        all: s.aggregated.clone().unwrap_or_default(),
        requests: s.requests.clone(),
        history: s.history.clone(),
        classes: s
            .classes
            .iter()
            .map(|c| ClassView {
                name: c.name.clone(),
                file: c.file.clone(),
                tier: c.tier.clone(),
                weight: c.weight,
                expected_share: c.expected_share,
                users: c.users_started,
                observed_share: c.observed_share,
                version: None,
                tasks: c
                    .tasks
                    .iter()
                    .map(|t| TaskView {
                        name: t.name.clone(),
                        weight: t.weight,
                        expected_share: t.expected_share,
                        calls: t.count,
                        observed_share: t.observed_share,
                        errors: t.errors,
                    })
                    .collect(),
            })
            .collect(),
        checks: s.checks.clone(),
        errors: s.script_errors.clone(),
        reloads: s.reloads.clone(),
        thresholds,
        about: format!(
            "{} · profile {} · seed {} · started {}",
            s.target, s.profile.name, s.seed, s.started_at
        ),
    }
}
