//! A comparison in the terminal (`stress compare`, `stress run --baseline`): a row per request
//! name, task and all requests with the base and new figures, the change and the verdict;
//! then the relative thresholds.

use std::fmt::Write;

use crate::report::Comparison;
use crate::report::compare::{NOISE_FLOOR, Pair, RowKind, Z_SIGNIFICANT};

fn figure(p: &Pair) -> String {
    match (p.base, p.new, p.relative()) {
        (Some(b), Some(n), Some(r)) => format!("{b:.1}>{n:.1} {:+.0}%", r * 100.0),
        (Some(b), Some(n), None) => format!("{b:.1}>{n:.1}"),
        (None, Some(n), _) => format!("new {n:.1}"),
        (Some(b), None, _) => format!("{b:.1} gone"),
        (None, None, _) => "-".into(),
    }
}

fn count(p: &Pair) -> String {
    let show = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}"));
    format!("{}>{}", show(p.base), show(p.new))
}

fn rate(p: &Pair) -> String {
    match p.difference() {
        Some(d) => format!("{:.1}% {:+.1}", p.new.unwrap_or(0.0) * 100.0, d * 100.0),
        None => "-".into(),
    }
}

/// The comparison as text.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nCompared with {} (base > new; latencies in ms; slower or faster: p50 or p95 moved more \
         than {:.0}% and a test at that quantile has |z| above {Z_SIGNIFICANT})",
        c.base,
        NOISE_FLOOR * 100.0
    );
    for w in &c.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "{:<28} {:>13} {:>11} {:>18} {:>18} {:>18} {:>18}  verdict",
        "Name", "# reqs", "fail rate", "p50", "p95", "p99", "reply p95"
    );
    for r in &c.rows {
        let name = match r.kind {
            RowKind::Total => "Aggregated".to_string(),
            RowKind::Request => r.name.clone(),
            RowKind::Task => format!("task {}", r.name),
        };
        let _ = writeln!(
            out,
            "{:<28} {:>13} {:>11} {:>18} {:>18} {:>18} {:>18}  {} ({})",
            name,
            count(&r.count),
            rate(&r.failure_rate),
            figure(&r.p50_ms),
            figure(&r.p95_ms),
            figure(&r.p99_ms),
            figure(&r.reply_p95_ms),
            r.change,
            r.why
        );
    }
    if !c.rules.is_empty() {
        out.push_str("\nRelative thresholds:\n");
        for v in &c.rules {
            let _ = writeln!(
                out,
                "  {:<32} {}  {}",
                v.threshold,
                if v.passed { "pass" } else { "FAIL" },
                v.observed
            );
        }
    }
    out
}
