//! The shards of one test made into the whole test's result (`stress merge`): counts,
//! failures, checks and errors summed, percentiles read from the sums of the shards'
//! histograms (exact: HDR histograms add), history aligned by the second from each shard's
//! start. Files of different tests, twice the same shard, missing shards and checkpoints are
//! refused, each with the files and the field at fault.

use std::collections::{BTreeMap, btree_map::Entry};

use hdrhistogram::Histogram;

use super::histograms::{ENCODING, encode, encode_some};
use super::{
    CheckRow, ClassRow, ErrorRow, FailureRow, Histograms, HistoryPoint, LimitRow, Percentiles,
    RequestRow, Resilience, SCHEMA, ShardInfo, SpawnPhase, Summary, TaskRow, Totals,
};

/// Log lines a merged result keeps (as a run does): the latest.
const MAX_LOGS: usize = 500;

/// A shard's result and where it came from.
#[derive(Debug, Clone)]
pub struct ShardFile {
    /// The file's name, for messages.
    pub label: String,
    pub summary: Summary,
}

/// What a merge lets through.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeOptions {
    /// Merge what is there when shards are missing (each named in a warning).
    pub allow_missing: bool,
    /// Merge partial results (a checkpoint of a shard that did not finish).
    pub allow_partial: bool,
}

/// The merged result, and what the caller should be told.
#[derive(Debug, Clone)]
pub struct Merged {
    pub summary: Summary,
    pub warnings: Vec<String>,
}

mod check;
mod sums;
#[cfg(test)]
mod tests;

use check::check;
use sums::{LatencySums, add, add_resilience, of, of_some, per_second, share, sum_json};

/// Merges the shards of one test into its result. Thresholds are left for the caller.
pub fn merge(files: &[ShardFile], options: MergeOptions) -> Result<Merged, String> {
    let warnings = check(files, options)?;
    let first = &files[0].summary;
    let count = first.shard.as_ref().map_or(1, |s| s.count);

    let mut total = LatencySums::default();
    let mut requests: BTreeMap<String, (RequestRow, LatencySums)> = BTreeMap::new();
    let mut tasks: BTreeMap<(String, String), Option<Histogram<u64>>> = BTreeMap::new();
    let mut lateness: Option<Histogram<u64>> = None;
    let mut classes: Vec<ClassRow> = Vec::new();
    let mut checks: BTreeMap<String, CheckRow> = BTreeMap::new();
    let mut errors: BTreeMap<(String, String, String), ErrorRow> = BTreeMap::new();
    let mut failures: BTreeMap<(String, String, Option<u16>), FailureRow> = BTreeMap::new();
    let mut history: BTreeMap<u64, HistoryPoint> = BTreeMap::new();
    let mut spawn: Vec<SpawnPhase> = Vec::new();
    let mut limits: BTreeMap<(String, String), LimitRow> = BTreeMap::new();
    let mut logs = Vec::new();
    let mut reloads = Vec::new();
    let mut totals = Totals::default();
    let mut bot: Option<serde_json::Value> = None;
    let mut botapi: Option<serde_json::Value> = None;
    // The flood counts need their own rules (peaks, spans), not the JSON sum's.
    let mut flood: Option<super::FloodReport> = None;
    let mut stages = first.profile.stages.clone();
    let mut resilience: Option<Resilience> = None;
    let mut merged_shards = Vec::new();

    for f in files {
        let s = &f.summary;
        let at = |what: &str| format!("{}: histograms.{what}", f.label);
        let h = s.histograms.as_ref().expect("checked");
        merged_shards.push(s.shard.as_ref().map_or(0, |s| s.index));
        total.add(&h.totals, &at("totals"))?;
        for r in &s.requests {
            let (row, sums) = requests
                .entry(r.name.clone())
                .or_insert_with(|| (RequestRow::default(), LatencySums::default()));
            row.name = r.name.clone();
            row.count += r.count;
            row.failures += r.failures;
            for (kind, n) in &r.failures_by_kind {
                *row.failures_by_kind.entry(kind.clone()).or_insert(0) += n;
            }
            row.no_reply += r.no_reply;
            row.reply_messages += r.reply_messages;
            row.late_replies += r.late_replies;
            row.content_bytes += r.content_bytes;
            row.redeliveries += r.redeliveries;
            row.lost_updates += r.lost_updates;
            row.duplicate_replies += r.duplicate_replies;
            if r.count > 0 || h.requests.contains_key(&r.name) {
                let set = h.requests.get(&r.name).ok_or_else(|| {
                    format!(
                        "{}: histograms.requests has no `{}`, which the requests list has",
                        f.label, r.name
                    )
                })?;
                sums.add(set, &at(&format!("requests[{}]", r.name)))?;
            }
        }
        for (class, ts) in &h.tasks {
            for (task, text) in ts {
                let slot = tasks.entry((class.clone(), task.clone())).or_default();
                add(slot, Some(text), &at(&format!("tasks[{class}][{task}]")))?;
            }
        }
        add(
            &mut lateness,
            h.wait_lateness.as_ref(),
            &at("wait_lateness"),
        )?;

        let t = &s.totals;
        totals.requests += t.requests;
        totals.failures += t.failures;
        totals.no_reply += t.no_reply;
        totals.reply_messages += t.reply_messages;
        totals.late_replies += t.late_replies;
        totals.tasks += t.tasks;
        totals.script_errors += t.script_errors;
        totals.checks_passed += t.checks_passed;
        totals.checks_failed += t.checks_failed;
        totals.abandoned_users += t.abandoned_users;
        totals.dropped_iterations += t.dropped_iterations;
        totals.redeliveries += t.redeliveries;
        totals.lost_updates += t.lost_updates;
        totals.duplicate_replies += t.duplicate_replies;
        if let Some(r) = &s.resilience {
            add_resilience(&mut resilience, r);
        }

        for c in &s.classes {
            let mine = match classes.iter_mut().find(|m| m.name == c.name) {
                Some(m) => m,
                None => {
                    classes.push(ClassRow {
                        users_started: 0,
                        iterations: 0,
                        sequence_digest: format!("{:016x}", 0),
                        tasks: Vec::new(),
                        dropped_iterations: 0,
                        ..c.clone()
                    });
                    classes.last_mut().expect("pushed")
                }
            };
            mine.users_started += c.users_started;
            mine.iterations += c.iterations;
            mine.dropped_iterations += c.dropped_iterations;
            let digest = |text: &str| {
                u64::from_str_radix(text, 16).map_err(|_| {
                    format!(
                        "{}: classes[{}].sequence_digest `{text}` is not hexadecimal",
                        f.label, c.name
                    )
                })
            };
            // Each user adds its own term: the sum over shards is the whole test's.
            let sum = digest(&mine.sequence_digest)?.wrapping_add(digest(&c.sequence_digest)?);
            mine.sequence_digest = format!("{sum:016x}");
            for t in &c.tasks {
                match mine.tasks.iter_mut().find(|m| m.name == t.name) {
                    Some(m) => {
                        m.count += t.count;
                        m.errors += t.errors;
                    }
                    None => mine.tasks.push(t.clone()),
                }
            }
        }
        for c in &s.checks {
            let row = checks.entry(c.name.clone()).or_insert_with(|| CheckRow {
                name: c.name.clone(),
                passed: 0,
                failed: 0,
            });
            row.passed += c.passed;
            row.failed += c.failed;
        }
        for e in &s.script_errors {
            let key = (e.class.clone(), e.location.clone(), e.message.clone());
            match errors.entry(key) {
                Entry::Occupied(mut o) => o.get_mut().count += e.count,
                Entry::Vacant(v) => {
                    v.insert(e.clone());
                }
            }
        }
        for x in &s.failures {
            match failures.entry((x.name.clone(), x.kind.clone(), x.status)) {
                Entry::Occupied(mut o) => o.get_mut().count += x.count,
                Entry::Vacant(v) => {
                    v.insert(x.clone());
                }
            }
        }
        for p in &s.history {
            match history.entry(p.t) {
                Entry::Occupied(mut o) => {
                    let m = o.get_mut();
                    m.users += p.users;
                    m.requests += p.requests;
                    m.failures += p.failures;
                    m.p50_ms = m.p50_ms.max(p.p50_ms);
                    m.p95_ms = m.p95_ms.max(p.p95_ms);
                    m.p99_ms = m.p99_ms.max(p.p99_ms);
                    m.reply_p95_ms = match (m.reply_p95_ms, p.reply_p95_ms) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    m.tasks += p.tasks;
                    m.dropped += p.dropped;
                    m.script_errors += p.script_errors;
                    m.no_reply += p.no_reply;
                    m.redeliveries += p.redeliveries;
                    m.lost += p.lost;
                    m.duplicates += p.duplicates;
                    m.reload = m.reload.or(p.reload);
                    m.reset |= p.reset;
                }
                Entry::Vacant(v) => {
                    v.insert(p.clone());
                }
            }
        }
        for p in &s.spawn {
            match spawn.iter_mut().find(|m| m.source == p.source) {
                Some(m) => {
                    m.asked_rate += p.asked_rate;
                    m.started += p.started;
                    m.stopped += p.stopped;
                    m.moved += p.moved;
                    m.after += p.after;
                    m.first_s = m.first_s.min(p.first_s);
                    m.last_s = m.last_s.max(p.last_s);
                    m.achieved_rate = match (m.achieved_rate, p.achieved_rate) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    };
                }
                None => spawn.push(p.clone()),
            }
        }
        for l in &s.limits {
            match limits.entry((l.what.clone(), l.first.clone())) {
                Entry::Occupied(mut o) => o.get_mut().count += l.count,
                Entry::Vacant(v) => {
                    v.insert(l.clone());
                }
            }
        }
        logs.extend(s.logs.iter().cloned());
        reloads.extend(s.reloads.iter().cloned());
        if let Some(b) = &s.bot {
            match &mut bot {
                Some(sum) => sum_json(sum, b),
                None => bot = Some(b.clone()),
            }
        }
        if let Some(f) = s.botapi.as_ref().and_then(|b| b.flood.as_ref()) {
            match &mut flood {
                Some(sum) => sum.absorb(f),
                None => flood = Some(f.clone()),
            }
        }
        if let Some(b) = &s.botapi {
            let b = serde_json::to_value(b).map_err(|e| e.to_string())?;
            match &mut botapi {
                Some(sum) => sum_json(sum, &b),
                None => botapi = Some(b),
            }
        }
        if !std::ptr::eq(s, first) {
            // Every shard walked the same stages with its slice of the users and rates.
            for (mine, theirs) in stages.iter_mut().zip(&s.profile.stages) {
                mine.users += theirs.users;
                mine.spawn_rate += theirs.spawn_rate;
            }
        }
    }

    let duration_s = files
        .iter()
        .map(|f| f.summary.duration_s)
        .fold(0.0, f64::max);
    let earliest = files
        .iter()
        .min_by_key(|f| f.summary.started_unix)
        .map(|f| &f.summary)
        .expect("at least one file");

    let mut request_rows = Vec::new();
    let mut request_sets = BTreeMap::new();
    for (name, (mut row, sums)) in requests {
        row.rps = per_second(row.count, duration_s);
        row.latency_ms = of(&sums.latency);
        row.queue_ms = of_some(&sums.queue);
        row.service_ms = of_some(&sums.service);
        row.replies = sums.reply.as_ref().map_or(0, |h| h.len());
        row.reply_ms = of_some(&sums.reply);
        row.last_reply_ms = of_some(&sums.last_reply);
        row.ack_ms = of_some(&sums.ack);
        request_sets.insert(name, sums.encoded());
        request_rows.push(row);
    }

    let total_users: u64 = classes.iter().map(|c| c.users_started).sum();
    let mut task_sets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for c in &mut classes {
        c.observed_share = share(c.users_started, total_users);
        let calls: u64 = c.tasks.iter().map(|t| t.count).sum();
        for t in &mut c.tasks {
            let h = tasks
                .get(&(c.name.clone(), t.name.clone()))
                .and_then(|h| h.as_ref());
            *t = TaskRow {
                observed_share: share(t.count, calls),
                duration_ms: h.map_or_else(Percentiles::default, Percentiles::of),
                ..t.clone()
            };
        }
    }
    for ((class, task), h) in &tasks {
        if let Some(h) = h {
            task_sets
                .entry(class.clone())
                .or_default()
                .insert(task.clone(), encode(h));
        }
    }

    totals.rps = per_second(totals.requests, duration_s);
    totals.latency_ms = of(&total.latency);
    totals.queue_ms = of_some(&total.queue);
    totals.service_ms = of_some(&total.service);
    totals.replies = total.reply.as_ref().map_or(0, |h| h.len());
    totals.reply_ms = of_some(&total.reply);
    totals.last_reply_ms = of_some(&total.last_reply);
    totals.ack_ms = of_some(&total.ack);
    totals.wait_lateness_ms = of_some(&lateness);

    let mut script_errors: Vec<ErrorRow> = errors.into_values().collect();
    script_errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.location.cmp(&b.location)));
    let mut failure_rows: Vec<FailureRow> = failures.into_values().collect();
    failure_rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| (&a.name, &a.kind, a.status).cmp(&(&b.name, &b.kind, b.status)))
    });
    logs.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let keep_from = logs.len().saturating_sub(MAX_LOGS);
    if keep_from > 0 {
        // The lines left out are counted, as a run counts its own.
        let row = limits
            .entry(("log lines".into(), String::new()))
            .or_insert_with(|| LimitRow {
                what: "log lines".into(),
                limit: MAX_LOGS as u64,
                first: String::new(),
                at: String::new(),
                count: 0,
            });
        row.count += keep_from as u64;
    }
    let mut failures_by_kind = BTreeMap::new();
    let mut content_bytes = 0;
    for r in &request_rows {
        for (k, n) in &r.failures_by_kind {
            *failures_by_kind.entry(k.clone()).or_insert(0) += n;
        }
        content_bytes += r.content_bytes;
    }
    let aggregated = RequestRow {
        name: "Aggregated".into(),
        count: totals.requests,
        failures: totals.failures,
        failures_by_kind,
        rps: totals.rps,
        latency_ms: totals.latency_ms,
        queue_ms: totals.queue_ms,
        service_ms: totals.service_ms,
        replies: totals.replies,
        no_reply: totals.no_reply,
        reply_ms: totals.reply_ms,
        last_reply_ms: totals.last_reply_ms,
        reply_messages: totals.reply_messages,
        late_replies: totals.late_replies,
        ack_ms: totals.ack_ms,
        content_bytes,
        redeliveries: totals.redeliveries,
        lost_updates: totals.lost_updates,
        duplicate_replies: totals.duplicate_replies,
    };
    merged_shards.sort_unstable();
    let botapi = botapi
        .and_then(|v| serde_json::from_value::<super::BotApiReport>(v).ok())
        .map(|b| super::BotApiReport { flood, ..b });
    let summary = Summary {
        schema: SCHEMA.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        partial: files.iter().any(|f| f.summary.partial),
        started_at: earliest.started_at.clone(),
        duration_s,
        seed: first.seed,
        target: first.target.clone(),
        profile: super::ProfileInfo {
            name: first.profile.name.clone(),
            stages,
        },
        totals,
        requests: request_rows,
        classes,
        checks: checks.into_values().collect(),
        script_errors,
        failures: failure_rows,
        history: history.into_values().collect(),
        reloads,
        thresholds: Vec::new(),
        bot,
        botapi,
        started_unix: earliest.started_unix,
        spawn,
        limits: limits.into_values().collect(),
        logs: logs.split_off(keep_from),
        shard: Some(ShardInfo {
            index: 0,
            count,
            merged: merged_shards,
        }),
        test_digest: first.test_digest.clone(),
        histograms: Some(Histograms {
            encoding: ENCODING.into(),
            totals: total.encoded(),
            requests: request_sets,
            tasks: task_sets,
            wait_lateness: lateness.as_ref().and_then(encode_some),
        }),
        comparison: None,
        aggregated: Some(aggregated),
        window: Vec::new(),
        recent_tasks: BTreeMap::new(),
        resilience,
    };
    Ok(Merged { summary, warnings })
}
