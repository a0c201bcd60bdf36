//! `GET /metrics`: the run's live statistics in Prometheus's text exposition format (version
//! 0.0.4), for a Prometheus server to scrape. Counters for requests, failures by kind, checks,
//! tasks, script errors and reloads; gauges for users; latency as summaries (quantiles of the
//! whole run so far, from the HDR histograms) per request name.

use std::fmt::Write;

use crate::report::Summary;
use crate::report::{BotApiReport, Percentiles};
use crate::scheduler::SchedulerStatus;

/// A label value, escaped as the format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A quantile's label and where a latency summary keeps it.
type Quantile = (&'static str, fn(&Percentiles) -> f64);

/// One request name's samples of a summary metric, in seconds: its quantiles, sum and count.
fn summary(out: &mut String, metric: &str, name: &str, l: &Percentiles, quantiles: &[Quantile]) {
    let name = label(name);
    for (q, of) in quantiles {
        let v = of(l);
        let _ = writeln!(
            out,
            "{metric}{{name=\"{name}\",quantile=\"{q}\"}} {}",
            v / 1e3
        );
    }
    let _ = writeln!(
        out,
        "{metric}_sum{{name=\"{name}\"}} {}",
        l.mean * l.count as f64 / 1e3
    );
    let _ = writeln!(out, "{metric}_count{{name=\"{name}\"}} {}", l.count);
}

/// The Bot API stand-in's counters: calls per method, errors, late and unattributed calls.
fn botapi(out: &mut String, b: &BotApiReport) {
    head(
        out,
        "stress_botapi_calls_total",
        "counter",
        "Calls the bot made to the Bot API stand-in, by method.",
    );
    for (method, n) in &b.calls {
        let _ = writeln!(
            out,
            "stress_botapi_calls_total{{method=\"{}\"}} {n}",
            label(method)
        );
    }
    let counters = [
        (
            "errors",
            "Calls the stand-in answered with an error.",
            b.errors,
        ),
        (
            "late_calls",
            "Calls after the users stopped (during --drain).",
            b.late_calls,
        ),
        (
            "unattributed",
            "Bot messages for chats no virtual user was in.",
            b.unattributed,
        ),
    ];
    for (name, help, n) in counters {
        head(out, &format!("stress_botapi_{name}_total"), "counter", help);
        let _ = writeln!(out, "stress_botapi_{name}_total {n}");
    }
    if let Some(f) = &b.flood {
        let t = &f.total;
        let counters = [
            (
                "flood_refused",
                "Messages over Telegram's flood limits (refused with enforce, counted with report).",
                t.refused(),
            ),
            (
                "flood_violations",
                "Calls for a chat told to wait by a 429 before retry_after elapsed.",
                t.violations,
            ),
            (
                "blocked_calls",
                "Calls answered 403: the user blocked the bot.",
                t.blocked_calls,
            ),
            (
                "faults_injected",
                "Faults injected into the bot's calls (chats, for blocked).",
                t.injected.values().sum(),
            ),
        ];
        for (name, help, n) in counters {
            head(out, &format!("stress_botapi_{name}_total"), "counter", help);
            let _ = writeln!(out, "stress_botapi_{name}_total {n}");
        }
    }
    head(
        out,
        "stress_botapi_mode",
        "gauge",
        "1 for how the bot gets its updates (webhook, polling, target, demo).",
    );
    let _ = writeln!(out, "stress_botapi_mode{{mode=\"{}\"}} 1", label(&b.mode));
}

/// Renders the metrics; `bot_api` when a stand-in serves the bot.
pub fn render(s: &Summary, status: &SchedulerStatus, bot_api: Option<&BotApiReport>) -> String {
    let mut out = String::new();
    if let Some(b) = bot_api {
        botapi(&mut out, b);
    }
    head(&mut out, "stress_users", "gauge", "Virtual users running.");
    let _ = writeln!(out, "stress_users {}", status.users);
    head(
        &mut out,
        "stress_users_goal",
        "gauge",
        "Virtual users the scheduler is moving to.",
    );
    let _ = writeln!(out, "stress_users_goal {}", status.goal_users);
    head(
        &mut out,
        "stress_spawn_rate",
        "gauge",
        "Users started or stopped per second.",
    );
    let _ = writeln!(out, "stress_spawn_rate {}", status.spawn_rate);

    head(
        &mut out,
        "stress_requests_total",
        "counter",
        "Updates posted to the webhook.",
    );
    for r in &s.requests {
        let _ = writeln!(
            out,
            "stress_requests_total{{name=\"{}\"}} {}",
            label(&r.name),
            r.count
        );
    }
    head(
        &mut out,
        "stress_request_failures_total",
        "counter",
        "Failed updates, by kind.",
    );
    for r in &s.requests {
        for (kind, n) in &r.failures_by_kind {
            let _ = writeln!(
                out,
                "stress_request_failures_total{{name=\"{}\",kind=\"{}\"}} {n}",
                label(&r.name),
                label(kind)
            );
        }
    }
    head(
        &mut out,
        "stress_request_duration_seconds",
        "summary",
        "Webhook latency over the run so far.",
    );
    for r in &s.requests {
        let quantiles: [Quantile; 4] = [
            ("0.5", |l| l.p50),
            ("0.9", |l| l.p90),
            ("0.95", |l| l.p95),
            ("0.99", |l| l.p99),
        ];
        summary(
            &mut out,
            "stress_request_duration_seconds",
            &r.name,
            &r.latency_ms,
            &quantiles,
        );
    }
    head(
        &mut out,
        "stress_reply_duration_seconds",
        "summary",
        "Time from a send to the bot's first reply.",
    );
    for r in &s.requests {
        if let Some(l) = &r.reply_ms {
            let quantiles: [Quantile; 3] =
                [("0.5", |l| l.p50), ("0.95", |l| l.p95), ("0.99", |l| l.p99)];
            summary(
                &mut out,
                "stress_reply_duration_seconds",
                &r.name,
                l,
                &quantiles,
            );
        }
    }
    head(
        &mut out,
        "stress_replies_missing_total",
        "counter",
        "Sends whose reply did not come.",
    );
    for r in &s.requests {
        let _ = writeln!(
            out,
            "stress_replies_missing_total{{name=\"{}\"}} {}",
            label(&r.name),
            r.no_reply
        );
    }
    head(
        &mut out,
        "stress_tasks_total",
        "counter",
        "Task calls, by class and task.",
    );
    for (class, task) in s
        .classes
        .iter()
        .flat_map(|c| c.tasks.iter().map(move |t| (c, t)))
    {
        let _ = writeln!(
            out,
            "stress_tasks_total{{class=\"{}\",task=\"{}\"}} {}",
            label(&class.name),
            label(&task.name),
            task.count
        );
    }
    head(
        &mut out,
        "stress_script_errors_total",
        "counter",
        "Task calls that ended in a script error.",
    );
    for (class, task) in s
        .classes
        .iter()
        .flat_map(|c| c.tasks.iter().map(move |t| (c, t)))
    {
        let _ = writeln!(
            out,
            "stress_script_errors_total{{class=\"{}\",task=\"{}\"}} {}",
            label(&class.name),
            label(&task.name),
            task.errors
        );
    }
    head(
        &mut out,
        "stress_checks_total",
        "counter",
        "Checks, by name and result.",
    );
    for c in &s.checks {
        let (name, passed, failed) = (label(&c.name), c.passed, c.failed);
        let _ = writeln!(
            out,
            "stress_checks_total{{name=\"{name}\",result=\"pass\"}} {passed}"
        );
        let _ = writeln!(
            out,
            "stress_checks_total{{name=\"{name}\",result=\"fail\"}} {failed}"
        );
    }
    head(
        &mut out,
        "stress_reloads_total",
        "counter",
        "Script and profile reloads, by outcome.",
    );
    let ok = s.reloads.iter().filter(|r| r.ok).count();
    let _ = writeln!(out, "stress_reloads_total{{outcome=\"ok\"}} {ok}");
    let _ = writeln!(
        out,
        "stress_reloads_total{{outcome=\"error\"}} {}",
        s.reloads.len() - ok
    );
    head(
        &mut out,
        "stress_elapsed_seconds",
        "gauge",
        "Time since the run started.",
    );
    let _ = writeln!(out, "stress_elapsed_seconds {}", s.duration_s);
    out
}
