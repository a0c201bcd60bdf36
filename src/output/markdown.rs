//! `--markdown FILE`: a result as GitHub-flavoured Markdown, for a CI job summary: the
//! headline, the requests table, the thresholds and, with a baseline, the comparison.

use std::fmt::Write;

use crate::report::compare::{CompareRow, Pair, RowKind};
use crate::report::{Comparison, RequestRow, Summary, Verdict};

/// A table cell: no pipe or line break can break the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn request_line(out: &mut String, r: &RequestRow, bold: bool) {
    let l = &r.latency_ms;
    let name = if bold {
        format!("**{}**", cell(&r.name))
    } else {
        format!("`{}`", cell(&r.name))
    };
    let _ = writeln!(
        out,
        "| {name} | {} | {} ({:.2}%) | {:.1} | {:.1} | {:.1} | {} | {:.1} |",
        r.count,
        r.failures,
        percent(r.failures, r.count),
        l.p50,
        l.p95,
        l.p99,
        ms(r.reply_ms.map(|x| x.p95)),
        r.rps
    );
}

fn verdicts(out: &mut String, title: &str, verdicts: &[Verdict]) {
    if verdicts.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n### {title}\n\n| rule | result | measured |\n|---|---|---|"
    );
    for v in verdicts {
        let result = if v.passed { "✅ pass" } else { "❌ FAIL" };
        let _ = writeln!(
            out,
            "| `{}` | {result} | {} |",
            cell(&v.threshold),
            cell(&v.observed)
        );
    }
}

/// A result's summary in Markdown.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let t = &s.totals;
    let shard = match &s.shard {
        Some(sh) if !sh.merged.is_empty() => {
            format!(", merged from {} of {} shards", sh.merged.len(), sh.count)
        }
        Some(sh) => format!(", shard {}/{}", sh.index, sh.count),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "## stress: {} against {}{}\n",
        cell(&s.profile.name),
        cell(&s.target),
        if s.partial { " (partial)" } else { "" }
    );
    let _ = writeln!(
        out,
        "{} requests, {} failed ({:.2}%), {:.1}/s over {:.1} s; {} tasks, {} script errors; \
         seed {}{shard}.\n",
        t.requests,
        t.failures,
        percent(t.failures, t.requests),
        t.rps,
        s.duration_s,
        t.tasks,
        t.script_errors,
        s.seed
    );
    let _ = writeln!(
        out,
        "| request | count | failed | p50 ms | p95 ms | p99 ms | reply p95 ms | req/s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &s.requests {
        request_line(&mut out, r, false);
    }
    if let Some(all) = &s.aggregated {
        request_line(&mut out, all, true);
    }
    if !s.checks.is_empty() {
        let _ = writeln!(
            out,
            "\n### Checks\n\n| check | passed | failed |\n|---|---:|---:|"
        );
        for c in &s.checks {
            let _ = writeln!(out, "| {} | {} | {} |", cell(&c.name), c.passed, c.failed);
        }
    }
    verdicts(&mut out, "Thresholds", &s.thresholds);
    if let Some(c) = &s.comparison {
        out.push('\n');
        out.push_str(&comparison(c));
    }
    out
}

fn change(p: &Pair, unit: &str) -> String {
    match (p.base, p.new) {
        (Some(b), Some(n)) => match p.relative() {
            Some(r) => format!("{b:.1} → {n:.1}{unit} ({:+.1}%)", r * 100.0),
            None => format!("{b:.1} → {n:.1}{unit}"),
        },
        (None, Some(n)) => format!("new: {n:.1}{unit}"),
        (Some(b), None) => format!("{b:.1}{unit} → gone"),
        (None, None) => "-".into(),
    }
}

fn rate(p: &Pair) -> String {
    let show = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.2}%", v * 100.0));
    format!("{} → {}", show(p.base), show(p.new))
}

fn compare_line(out: &mut String, r: &CompareRow) {
    let name = match r.kind {
        RowKind::Total => format!("**{}**", cell(&r.name)),
        RowKind::Request => format!("`{}`", cell(&r.name)),
        RowKind::Task => format!("task `{}`", cell(&r.name)),
    };
    let mark = match r.change.as_str() {
        "slower" => "🔴 slower",
        "faster" => "🟢 faster",
        "no change" => "no change",
        _ => "❔ inconclusive",
    };
    let count = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}"));
    let _ = writeln!(
        out,
        "| {name} | {} → {} | {} | {} | {} | {} | {} | {mark} ({}) |",
        count(r.count.base),
        count(r.count.new),
        rate(&r.failure_rate),
        change(&r.p50_ms, ""),
        change(&r.p95_ms, ""),
        change(&r.p99_ms, ""),
        change(&r.reply_p95_ms, ""),
        cell(&r.why)
    );
}

/// A comparison in Markdown: the rows, the relative rules and the warnings.
pub fn comparison(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Compared with {}\n\n`{}` (base) against `{}` (new); latencies in ms.\n",
        cell(&c.base),
        cell(&c.base),
        cell(&c.new)
    );
    for w in &c.warnings {
        let _ = writeln!(out, "> ⚠️ {}\n", cell(w));
    }
    let _ = writeln!(
        out,
        "| row | count | failure rate | p50 | p95 | p99 | reply p95 | verdict |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for r in &c.rows {
        compare_line(&mut out, r);
    }
    verdicts(&mut out, "Relative thresholds", &c.rules);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_result_reads_as_a_job_summary() {
        let mut s = crate::output::sample_summary().await;
        s.thresholds = vec![Verdict {
            threshold: "p95<1ms".into(),
            passed: false,
            observed: "9.0 ms".into(),
        }];
        let md = render(&s);
        assert!(
            md.starts_with("## stress: smoke against the demo bot\n"),
            "{md}"
        );
        assert!(md.contains("| `/help` | 30 | 0 (0.00%) |"), "{md}");
        assert!(md.contains("| `text` | 30 | 3 (10.00%) |"), "{md}");
        assert!(md.contains("| **Aggregated** | 60 |"), "{md}");
        assert!(md.contains("| `p95<1ms` | ❌ FAIL | 9.0 ms |"), "{md}");
        assert!(md.contains("| answered | 2 | 1 |"), "{md}");
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
