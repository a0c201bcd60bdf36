//! Locust's CSV files, column for column (`--csv PREFIX`): `PREFIX_stats.csv`,
//! `PREFIX_stats_history.csv` and `PREFIX_failures.csv`, so tooling written for Locust reads
//! them (`_stats.csv` adds its own columns after Locust's); and our `PREFIX_tasks.csv`. Every request is a webhook POST, so `Type` is `POST` (and empty on the Aggregated
//! row, as Locust writes it). Times are milliseconds; the history's percentiles are over the
//! last ten seconds, as Locust's "current" percentiles are, and `N/A` when that window is empty.

use std::path::{Path, PathBuf};

use crate::report::Percentiles;
use crate::report::RequestRow;
use crate::report::Summary;

pub const STATS_COLUMNS: [&str; 22] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
];

pub const HISTORY_COLUMNS: [&str; 24] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

pub const FAILURES_COLUMNS: [&str; 4] = ["Method", "Name", "Error", "Occurrences"];

fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn percentiles(l: &Percentiles) -> [String; 11] {
    [
        l.p50, l.p66, l.p75, l.p80, l.p90, l.p95, l.p98, l.p99, l.p999, l.p9999, l.max,
    ]
    .map(num)
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn stats_row(kind: &str, r: &RequestRow, secs: f64) -> Vec<String> {
    let l = &r.latency_ms;
    let size = if r.count > 0 {
        r.content_bytes as f64 / r.count as f64
    } else {
        0.0
    };
    let mut row = vec![
        kind.to_string(),
        r.name.clone(),
        r.count.to_string(),
        r.failures.to_string(),
        num(l.p50),
        num(l.mean),
        num(l.min),
        num(l.max),
        num(size),
        num(r.rps),
        num(per_second(r.failures, secs)),
    ];
    row.extend(percentiles(l));
    // Our own columns, after Locust's.
    let p = |x: &Option<Percentiles>, f: fn(&Percentiles) -> f64| {
        x.as_ref().map_or(String::new(), |x| num(f(x)))
    };
    row.extend([
        p(&r.queue_ms, |x| x.p50),
        p(&r.queue_ms, |x| x.p95),
        p(&r.service_ms, |x| x.p50),
        p(&r.service_ms, |x| x.p95),
        p(&r.reply_ms, |x| x.p50),
        p(&r.reply_ms, |x| x.p95),
        p(&r.last_reply_ms, |x| x.p95),
    ]);
    row
}

/// Columns `_stats.csv` adds after Locust's: the latency's queue and service parts, and the
/// bot's reply times (empty where there is none).
pub const STATS_OWN_COLUMNS: [&str; 7] = [
    "Queue 50%",
    "Queue 95%",
    "Service 50%",
    "Service 95%",
    "Reply 50%",
    "Reply 95%",
    "Last Reply 95%",
];

fn render(header: &[&str], rows: Vec<Vec<String>>) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// `_stats.csv`: a row per request name, then Aggregated.
pub fn stats(s: &Summary) -> anyhow::Result<Vec<u8>> {
    let mut rows: Vec<Vec<String>> = s
        .requests
        .iter()
        .map(|r| stats_row("POST", r, s.duration_s))
        .collect();
    if let Some(all) = &s.aggregated {
        rows.push(stats_row("", all, s.duration_s));
    }
    let header: Vec<&str> = STATS_COLUMNS
        .iter()
        .chain(&STATS_OWN_COLUMNS)
        .copied()
        .collect();
    render(&header, rows)
}

/// `_stats_history.csv`: an Aggregated row per second.
pub fn history(s: &Summary) -> anyhow::Result<Vec<u8>> {
    let rows = s
        .window
        .iter()
        .map(|p| {
            let mut row = vec![
                (s.started_unix + p.t).to_string(),
                p.users.to_string(),
                String::new(),
                "Aggregated".into(),
                p.requests.to_string(),
                p.failures.to_string(),
            ];
            if p.current.count == 0 {
                row.extend(std::iter::repeat_n("N/A".to_string(), 11));
            } else {
                row.extend(percentiles(&p.current));
            }
            let size = if p.total.count > 0 {
                p.total_bytes as f64 / p.total.count as f64
            } else {
                0.0
            };
            row.extend([
                p.total.count.to_string(),
                p.total_failures.to_string(),
                num(p.total.p50),
                num(p.total.mean),
                num(p.total.min),
                num(p.total.max),
                num(size),
            ]);
            row
        })
        .collect();
    render(&HISTORY_COLUMNS, rows)
}

/// `_failures.csv`: a row per request name and kind of failure.
pub fn failures(s: &Summary) -> anyhow::Result<Vec<u8>> {
    // Locust's Error column holds the exception's text; here the kind and the message (with
    // the status for an answer), so a 401 and a 404 are rows of their own.
    let rows = s
        .failures
        .iter()
        .map(|f| {
            vec![
                "POST".into(),
                f.name.clone(),
                format!("{}: {}", f.kind, f.message),
                f.count.to_string(),
            ]
        })
        .collect();
    render(&FAILURES_COLUMNS, rows)
}

/// `_tasks.csv` (ours, not Locust's): a row per class and task, with its share and how long
/// its calls took (from the task's start to its end, waits inside it included).
pub fn tasks(s: &Summary) -> anyhow::Result<Vec<u8>> {
    let rows = s
        .classes
        .iter()
        .flat_map(|c| {
            c.tasks.iter().map(|t| {
                let d = &t.duration_ms;
                vec![
                    c.name.clone(),
                    t.name.clone(),
                    t.weight.to_string(),
                    num(t.expected_share),
                    t.count.to_string(),
                    num(t.observed_share),
                    t.errors.to_string(),
                    num(d.mean),
                    num(d.p50),
                    num(d.p95),
                    num(d.p99),
                    num(d.max),
                ]
            })
        })
        .collect();
    render(&TASKS_COLUMNS, rows)
}

pub const TASKS_COLUMNS: [&str; 12] = [
    "Class",
    "Task",
    "Weight",
    "Expected Share",
    "Calls",
    "Observed Share",
    "Script Errors",
    "Average Duration",
    "50%",
    "95%",
    "99%",
    "100%",
];

/// The files' paths for a prefix: Locust's three, then ours.
pub fn paths(prefix: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [
        with("_stats.csv"),
        with("_stats_history.csv"),
        with("_failures.csv"),
        with("_tasks.csv"),
    ]
}

/// The files and their contents.
pub fn files(s: &Summary, prefix: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let [stats_path, history_path, failures_path, tasks_path] = paths(prefix);
    Ok(vec![
        (stats_path, stats(s)?),
        (history_path, history(s)?),
        (failures_path, failures(s)?),
        (tasks_path, tasks(s)?),
    ])
}

#[cfg(test)]
mod tests {
    fn text(bytes: anyhow::Result<Vec<u8>>) -> String {
        String::from_utf8(bytes.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn locusts_three_files() {
        let s = crate::output::sample_summary().await;
        insta::assert_snapshot!("stats", text(super::stats(&s)));
        insta::assert_snapshot!("history", text(super::history(&s)));
        insta::assert_snapshot!("failures", text(super::failures(&s)));
        insta::assert_snapshot!("tasks", text(super::tasks(&s)));
    }
}
