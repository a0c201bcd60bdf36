//! The final table, laid out like Locust's: one row per request name and an aggregated row;
//! then the classes and their tasks (declared against observed), checks and script errors.

use std::fmt::Write;

use crate::report::RequestRow;
use crate::report::Summary;

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// One request row: at most 120 characters, or every column when `wide`.
fn request_line(out: &mut String, r: &RequestRow, secs: f64, wide: bool) {
    let l = &r.latency_ms;
    let fails_per_s = if secs > 0.0 {
        r.failures as f64 / secs
    } else {
        0.0
    };
    let (reply50, reply95) = r.reply_ms.map_or(("-".to_string(), "-".to_string()), |x| {
        (format!("{:.1}", x.p50), format!("{:.1}", x.p95))
    });
    let fails = format!("{}({:.2}%)", r.failures, pct(r.failures, r.count));
    let _ = if wide {
        writeln!(
            out,
            "{:<22} {:>8} {:>16} | {:>7.1} {:>7.1} {:>8.1} {:>7.1} {:>7.1} {:>8.1} | {:>7.1} {:>7.1} | {:>7} {:>8} {:>7} {:>7}",
            r.name,
            r.count,
            fails,
            l.mean,
            l.min,
            l.max,
            l.p50,
            l.p95,
            l.p99,
            r.rps,
            fails_per_s,
            r.replies,
            r.no_reply,
            reply50,
            reply95,
        )
    } else {
        writeln!(
            out,
            "{:<20} {:>8} {:>16} | {:>7.1} {:>7.1} {:>8.1} {:>8.1} | {:>7.1} {:>7.1} | {:>6} {:>7}",
            r.name,
            r.count,
            fails,
            l.p50,
            l.p95,
            l.p99,
            l.max,
            r.rps,
            fails_per_s,
            r.no_reply,
            reply95,
        )
    };
}

/// What the stand-in saw of the bot, in two lines at most.
fn botapi_line(out: &mut String, b: &crate::report::BotApiReport) {
    let ready = b
        .ready_after_s
        .map(|s| format!(", ready after {s:.1} s"))
        .unwrap_or_default();
    let calls: u64 = b.calls.values().sum();
    let mut busiest: Vec<(&String, &u64)> = b.calls.iter().collect();
    busiest.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
    let top: Vec<String> = busiest
        .iter()
        .take(4)
        .map(|(m, n)| format!("{m} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "bot: {}{ready}; stand-in: {calls} calls ({}), {} errors, {} late, {} for no user's chat",
        b.mode,
        top.join(", "),
        b.errors,
        b.late_calls,
        b.unattributed
    );
}

/// Writes `line` into `out` in lines of at most `width` characters, breaking at spaces where
/// it can; continuation lines are indented by four.
fn wrap(out: &mut String, line: &str, width: usize) {
    let mut rest = line;
    let mut first = true;
    loop {
        let room = if first { width } else { width - 4 };
        let indent = if first { "" } else { "    " };
        let Some((cut, _)) = rest.char_indices().nth(room) else {
            let _ = writeln!(out, "{indent}{rest}");
            return;
        };
        // The last space before the cut, unless that leaves nearly nothing on the line.
        let at = rest[..cut]
            .rfind(' ')
            .filter(|&i| i > room / 2)
            .unwrap_or(cut);
        let _ = writeln!(out, "{indent}{}", rest[..at].trim_end());
        rest = rest[at..].trim_start();
        first = false;
    }
}

/// Renders the whole table: 120 characters wide at most, or every column when `wide`.
pub fn render(s: &Summary, wide: bool) -> String {
    let mut out = String::new();
    let rule = "-".repeat(if wide { 156 } else { 116 });
    let _ = if wide {
        writeln!(
            out,
            "{:<22} {:>8} {:>16} | {:>7} {:>7} {:>8} {:>7} {:>7} {:>8} | {:>7} {:>7} | {:>7} {:>8} {:>7} {:>7}",
            "Name",
            "# reqs",
            "# fails",
            "Avg",
            "Min",
            "Max",
            "Med",
            "p95",
            "p99",
            "req/s",
            "fail/s",
            "replies",
            "no reply",
            "rep p50",
            "rep p95"
        )
    } else {
        writeln!(
            out,
            "{:<20} {:>8} {:>16} | {:>7} {:>7} {:>8} {:>8} | {:>7} {:>7} | {:>6} {:>7}",
            "Name",
            "# reqs",
            "# fails",
            "Med",
            "p95",
            "p99",
            "Max",
            "req/s",
            "fail/s",
            "no rep",
            "rep p95"
        )
    };
    let _ = writeln!(out, "{rule}");
    for r in &s.requests {
        request_line(&mut out, r, s.duration_s, wide);
    }
    let _ = writeln!(out, "{rule}");
    let t = &s.totals;
    let all = RequestRow {
        name: "Aggregated".into(),
        count: t.requests,
        failures: t.failures,
        failures_by_kind: Default::default(),
        rps: t.rps,
        latency_ms: t.latency_ms,
        replies: t.replies,
        no_reply: t.no_reply,
        reply_ms: t.reply_ms,
        content_bytes: 0,
        ..RequestRow::default()
    };
    request_line(&mut out, &all, s.duration_s, wide);
    let _ = writeln!(
        out,
        "(times in ms; rep: the bot's first reply to a send, via the stand-in or the webhook body{})",
        if wide { "" } else { "; --wide: all" }
    );

    if !s.failures.is_empty() {
        let _ = writeln!(out, "\nFailures");
        for f in &s.failures {
            let _ = writeln!(out, "{:>7}x {} {}: {}", f.count, f.name, f.kind, f.message);
        }
    }

    let _ = writeln!(
        out,
        "\n{:<22} {:<10} {:>6} {:>9} {:>7} {:>9} {:>10} | {:>8} {:>8} {:>8} {:>8}",
        "Class / task",
        "Tier",
        "Weight",
        "Expected",
        "Users",
        "Observed",
        "Calls",
        "Med",
        "p95",
        "p99",
        "Max"
    );
    let _ = writeln!(out, "{}", "-".repeat(116));
    for c in &s.classes {
        let _ = writeln!(
            out,
            "{:<22} {:<10} {:>6} {:>8.1}% {:>7} {:>8.1}% {:>10}",
            c.name,
            c.tier,
            c.weight,
            c.expected_share * 100.0,
            c.users_started,
            c.observed_share * 100.0,
            c.tasks.iter().map(|t| t.count).sum::<u64>(),
        );
        for task in &c.tasks {
            let errors = if task.errors > 0 {
                format!("  ({} script errors)", task.errors)
            } else {
                String::new()
            };
            let d = &task.duration_ms;
            let _ = writeln!(
                out,
                "  {:<31} {:>6} {:>8.1}% {:>7} {:>8.1}% {:>10} | {:>8.1} {:>8.1} {:>8.1} {:>8.1}{errors}",
                task.name,
                task.weight,
                task.expected_share * 100.0,
                "",
                task.observed_share * 100.0,
                task.count,
                d.p50,
                d.p95,
                d.p99,
                d.max,
            );
        }
    }
    let _ = writeln!(
        out,
        "(task times in ms, from a task's start to its end, its waits and sends included)"
    );
    if !s.checks.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<40} {:>10} {:>10} {:>8}",
            "Check", "passed", "failed", "rate"
        );
        for c in &s.checks {
            let _ = writeln!(
                out,
                "{:<40} {:>10} {:>10} {:>7.2}%",
                c.name,
                c.passed,
                c.failed,
                pct(c.passed, c.passed + c.failed)
            );
        }
    }
    if !s.script_errors.is_empty() {
        let _ = writeln!(out, "\nScript errors");
        for e in &s.script_errors {
            let _ = writeln!(
                out,
                "{:>6}x {} [{}] {}",
                e.count, e.location, e.class, e.message
            );
        }
    }
    if !s.thresholds.is_empty() {
        let _ = writeln!(out, "\nThresholds");
        for v in &s.thresholds {
            let _ = writeln!(
                out,
                "  {} {:<40} {}",
                if v.passed { "pass" } else { "FAIL" },
                v.threshold,
                v.observed
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} requests in {:.1} s ({:.1}/s), {} failed; {} tasks, {} script errors; seed {}",
        t.requests, s.duration_s, t.rps, t.failures, t.tasks, t.script_errors, s.seed
    );
    if t.dropped_iterations > 0 || s.profile.name.contains("(open:") {
        let due = t.tasks + t.dropped_iterations;
        let _ = writeln!(
            out,
            "open model: {} task starts due, {} dropped ({:.2}%) for want of a free user (raise --max-users)",
            due,
            t.dropped_iterations,
            pct(t.dropped_iterations, due)
        );
    }
    if let (Some(q), Some(sv)) = (&t.queue_ms, &t.service_ms)
        && q.p95 >= 0.1
    {
        let _ = writeln!(
            out,
            "latency = queue + service: queued for a connection p50 {:.1}, p95 {:.1} ms; the bot p50 {:.1}, p95 {:.1} ms",
            q.p50, q.p95, sv.p50, sv.p95
        );
    }
    if t.replies > 0 {
        let _ = write!(
            out,
            "replies: {:.2} per answered send",
            t.reply_messages as f64 / t.replies as f64
        );
        if let Some(last) = &t.last_reply_ms {
            let _ = write!(
                out,
                "; last reply p50 {:.1} ms, p95 {:.1} ms",
                last.p50, last.p95
            );
        }
        if let Some(ack) = &t.ack_ms {
            let _ = write!(out, "; acknowledgements p95 {:.1} ms", ack.p95);
        }
        let _ = writeln!(out);
    }
    if t.late_replies > 0 {
        let _ = writeln!(
            out,
            "late replies: {} came after their send had returned (raise --reply-settle or --reply-timeout)",
            t.late_replies
        );
    }
    if let Some(b) = &s.botapi {
        botapi_line(&mut out, b);
    }
    super::chaos::lines(&mut out, s);
    if let Some(l) = &t.wait_lateness_ms {
        let _ = writeln!(
            out,
            "wait lateness: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} waits",
            l.p50, l.p99, l.max, l.count
        );
    }
    for p in &s.spawn {
        let counts = [
            ("started", p.started),
            ("stopped", p.stopped),
            ("moved", p.moved),
        ];
        let what: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(verb, n)| format!("{n} {verb}"))
            .collect();
        let _ = write!(out, "spawn, {}: {}", p.source, what.join(", "));
        if let Some(r) = p.achieved_rate {
            let off = (r / p.asked_rate - 1.0) * 100.0;
            let _ = write!(
                out,
                " at {r:.2}/s ({:.2}/s asked, {off:+.2}%)",
                p.asked_rate
            );
        }
        if p.after > 0 {
            let _ = write!(out, "; {} replaced after the ramp", p.after);
        }
        let _ = writeln!(out);
    }
    if t.abandoned_users > 0 {
        let _ = writeln!(
            out,
            "{} users were still in a task at the end of --stop-timeout and were abandoned",
            t.abandoned_users
        );
    }
    for l in &s.limits {
        let _ = write!(out, "limit reached: {} (at most {})", l.what, l.limit);
        if !l.first.is_empty() {
            let _ = write!(
                out,
                "; the first past it, `{}`, came from {}",
                l.first, l.at
            );
        }
        let _ = writeln!(out, "; {} folded", l.count);
    }
    if wide {
        return out;
    }
    // A longer line (a failure's message, a threshold's list) goes on below, indented.
    let mut fitted = String::with_capacity(out.len());
    for line in out.lines() {
        wrap(&mut fitted, line, 120);
    }
    fitted
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_final_table() {
        let mut s = crate::output::sample_summary().await;
        s.thresholds = ["p95<50ms", "errors<1%"]
            .iter()
            .map(|t| crate::threshold::Threshold::parse(t).unwrap().evaluate(&s))
            .collect();
        s.botapi = Some(crate::report::BotApiReport {
            mode: "polling".into(),
            ready_after_s: Some(2.25),
            calls: [("getUpdates", 31), ("sendMessage", 60), ("getMe", 1)]
                .into_iter()
                .map(|(m, n)| (m.to_string(), n))
                .collect(),
            errors: 1,
            late_calls: 2,
            ..Default::default()
        });
        insta::assert_snapshot!(super::render(&s, false));
        insta::assert_snapshot!("the_final_table_wide", super::render(&s, true));
        for line in super::render(&s, false).lines() {
            assert!(
                line.chars().count() <= 120,
                "{} wide: {line}",
                line.chars().count()
            );
        }
        let mut wrapped = String::new();
        let long = format!("FAIL coverage not sent: {}", "/cmd ".repeat(40));
        super::wrap(&mut wrapped, &long, 60);
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 60),
            "{wrapped}"
        );
        assert!(
            wrapped.lines().skip(1).all(|l| l.starts_with("    /cmd")),
            "{wrapped}"
        );
        assert_eq!(
            wrapped.matches("/cmd").count(),
            40,
            "nothing lost: {wrapped}"
        );
    }

    #[tokio::test]
    async fn queue_and_task_rules_read_their_own_figures() {
        let s = crate::output::sample_summary().await;
        let v = |rule: &str| {
            crate::threshold::Threshold::parse(rule)
                .unwrap()
                .evaluate(&s)
        };
        let queue = s.totals.queue_ms.expect("the sample queued");
        assert!(v(&format!("queue_p95<={}ms", queue.p95)).passed);
        assert!(!v(&format!("queue_p95<{}ms", queue.p95)).passed);
        let browse = s.classes[0].tasks[0].duration_ms;
        assert!(v(&format!("task_p95{{name=browse}}<={}ms", browse.p95)).passed);
        assert!(
            v(&format!(
                "task_p95{{name=GuestUser.browse}}<={}ms",
                browse.p95
            ))
            .passed
        );
        assert!(!v(&format!("task_max{{name=browse}}<{}ms", browse.max)).passed);
        let missing = v("task_p95{name=nowhere}<1s");
        assert_eq!(
            (missing.passed, missing.observed.as_str()),
            (false, "no such task")
        );
    }
}
