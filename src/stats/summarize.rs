//! Builds a [`Summary`] from the aggregator's statistics: the one code path behind the live
//! snapshot, the checkpoint and the final result. Rows come sorted (requests and checks by name,
//! script errors most frequent first); tasks a reload removed keep their rows.

use crate::report::{
    CheckRow, ClassRow, ErrorKind, ErrorRow, FailureRow, Percentiles, RequestRow, Resilience,
    RunInfo, SCHEMA, Summary, TaskRow, Totals,
};

use super::aggregate::Aggregator;
use super::recorder::{Interval, RequestStats};

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
        latency_ms: Percentiles::of(&r.latency),
        queue_ms: (!r.queue.is_empty()).then(|| Percentiles::of(&r.queue)),
        service_ms: (!r.service.is_empty()).then(|| Percentiles::of(&r.service)),
        replies: r.reply.len(),
        no_reply: r.no_reply,
        reply_ms: (!r.reply.is_empty()).then(|| Percentiles::of(&r.reply)),
        last_reply_ms: (!r.last_reply.is_empty()).then(|| Percentiles::of(&r.last_reply)),
        reply_messages: r.reply_messages,
        late_replies: r.late_replies,
        ack_ms: (!r.ack.is_empty()).then(|| Percentiles::of(&r.ack)),
        content_bytes: r.bytes,
        redeliveries: r.redeliveries,
        lost_updates: r.lost,
        duplicate_replies: r.duplicates,
    }
}

/// The failures of an interval, the most frequent first.
fn failure_rows(i: &Interval) -> Vec<FailureRow> {
    let mut rows: Vec<FailureRow> = i
        .failures
        .iter()
        .map(|(k, (count, message))| FailureRow {
            name: k.name.to_string(),
            kind: k.kind.as_str().into(),
            status: (k.status != 0).then_some(k.status),
            count: *count,
            message: message.clone(),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.name, &a.kind, a.status).cmp(&(&b.name, &b.kind, b.status)))
    });
    rows
}

/// The result of the run so far.
pub fn summarize(agg: &Aggregator, info: RunInfo) -> Summary {
    // Rates count from the last reset of the statistics, if there was one.
    let secs = info.duration_s - agg.reset_at.unwrap_or(0.0).min(info.duration_s);
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
                            .map_or_else(Percentiles::default, |t| Percentiles::of(&t.duration)),
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
                dropped_iterations: agg
                    .totals
                    .dropped
                    .get(c.name.as_str())
                    .copied()
                    .unwrap_or(0),
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
        latency_ms: Percentiles::of(&all.latency),
        queue_ms: (!all.queue.is_empty()).then(|| Percentiles::of(&all.queue)),
        service_ms: (!all.service.is_empty()).then(|| Percentiles::of(&all.service)),
        replies: all.reply.len(),
        no_reply: all.no_reply,
        reply_ms: (!all.reply.is_empty()).then(|| Percentiles::of(&all.reply)),
        last_reply_ms: (!all.last_reply.is_empty()).then(|| Percentiles::of(&all.last_reply)),
        reply_messages: all.reply_messages,
        late_replies: all.late_replies,
        ack_ms: (!all.ack.is_empty()).then(|| Percentiles::of(&all.ack)),
        tasks,
        script_errors: script_errors.iter().map(|e| e.count).sum(),
        checks_passed: checks.iter().map(|c| c.passed).sum(),
        checks_failed: checks.iter().map(|c| c.failed).sum(),
        abandoned_users: info.abandoned_users,
        dropped_iterations: agg.totals.dropped.values().sum(),
        wait_lateness_ms: agg.totals.lateness.as_ref().map(Percentiles::of),
        redeliveries: all.redeliveries,
        lost_updates: all.lost,
        duplicate_replies: all.duplicates,
    };
    let resilience = (!info.windows.is_empty()).then(|| {
        let flood = info.botapi.as_ref().and_then(|b| b.flood.as_ref());
        Resilience::of(&info.windows, &agg.history, &totals, flood)
    });
    Summary {
        schema: SCHEMA.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        partial: false,
        started_at: info.started_at,
        duration_s: (info.duration_s * 1e3).round() / 1e3,
        seed: info.seed,
        target: info.target,
        profile: info.profile,
        totals,
        requests,
        classes,
        checks,
        script_errors,
        failures: failure_rows(&agg.totals),
        history: agg.history.clone(),
        reloads: agg.reloads.clone(),
        thresholds: Vec::new(),
        bot: info.bot,
        botapi: info.botapi,
        started_unix: info.started_unix,
        spawn: info.spawn,
        limits: agg.limits(),
        logs: agg.logs.iter().cloned().collect(),
        shard: info.shard,
        test_digest: info.test_digest,
        histograms: None,
        comparison: None,
        resilience,
        aggregated: Some(request_row("Aggregated", &agg.all, secs)),
        window: agg.window_points.clone(),
        recent_tasks: agg.recent_tasks(),
    }
}
