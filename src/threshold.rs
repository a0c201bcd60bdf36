//! Thresholds: pass/fail rules over a run's result, for CI. `--threshold` (repeatable) or a
//! profile file's `thresholds = [...]`:
//!
//! - latency: `p50`, `p90`, `p95`, `p99`, `p999`, `max`, `avg`, `min` of every request, or of
//!   one name with `{name=/help}`; `reply_p50` ... `reply_max` for the bot's reply latency,
//!   `queue_p50` ... for the part of the latency spent waiting for a connection, and
//!   `task_p95{name=TASK}` for a task's duration (`name=Class.task` for one class's). The value
//!   takes `us`, `ms` (the default) or `s`: `p95<500ms`, `p99{name=/help}<0.2s`.
//! - `errors` (failed requests): a share with `%` (`errors<1%`) or a count (`errors<=3`).
//! - `rps`: requests per second over the run (`rps>50`).
//! - `checks`: the share of checks that passed (`checks>99%`), or one check with `{name=...}`.
//! - `script_errors`: a count (`script_errors==0`).
//! - `dropped`: task starts the open model dropped, a share of those due (`dropped<1%`) or a
//!   count (`dropped==0`).
//! - Chaos (`--redeliver`, `--flood-limits`, fault windows): `violations` (calls a bot made
//!   before a 429's retry_after elapsed), `duplicates` (replies repeated for a redelivered
//!   update), `lost_updates` (deliveries given up on): counts (`violations==0`); `recovery`
//!   (the slowest recovery after a fault window; a window never recovered fails it):
//!   `recovery<10s`.
//! - `coverage`: every one of the demo bot's 22 commands sent at least once, or every command
//!   of a list: `coverage{commands=/help,/start}`.
//!
//! Operators: `<`, `<=`, `>`, `>=`, `==`.

use std::fmt;

use crate::demo_bot::BotCommand;
use crate::report::Percentiles;
use crate::report::{Summary, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

impl Op {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => (observed - limit).abs() < 1e-9,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Avg,
    Min,
}

impl Stat {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "p50" | "med" | "median" => Stat::P50,
            "p90" => Stat::P90,
            "p95" => Stat::P95,
            "p99" => Stat::P99,
            "p999" => Stat::P999,
            "max" => Stat::Max,
            "avg" | "mean" => Stat::Avg,
            "min" => Stat::Min,
            _ => return None,
        })
    }

    fn of(self, l: &Percentiles) -> f64 {
        match self {
            Stat::P50 => l.p50,
            Stat::P90 => l.p90,
            Stat::P95 => l.p95,
            Stat::P99 => l.p99,
            Stat::P999 => l.p999,
            Stat::Max => l.max,
            Stat::Avg => l.mean,
            Stat::Min => l.min,
        }
    }
}

/// Which latency a latency rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Of {
    Request,
    Reply,
    Queue,
    Task,
}

#[derive(Debug, Clone, PartialEq)]
enum Metric {
    Latency { stat: Stat, of: Of },
    Errors { share: bool },
    Dropped { share: bool },
    Rps,
    Checks,
    ScriptErrors,
    Violations,
    Duplicates,
    LostUpdates,
    Recovery,
    Coverage(Vec<String>),
}

/// One parsed rule, with the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub text: String,
    metric: Metric,
    name: Option<String>,
    op: Op,
    /// In milliseconds for latency, a fraction for shares.
    limit: f64,
}

fn split_op(s: &str) -> Option<(&str, Op, &str)> {
    for (token, op) in [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ] {
        if let Some(i) = s.find(token) {
            return Some((&s[..i], op, &s[i + token.len()..]));
        }
    }
    None
}

/// A metric's name and its `{key=value}`, if any.
type Selected<'a> = (&'a str, Option<(&'a str, &'a str)>);

/// `{key=value}` after a metric's name.
fn selector(s: &str) -> Result<Selected<'_>, String> {
    let Some(open) = s.find('{') else {
        return Ok((s, None));
    };
    let close = s
        .rfind('}')
        .filter(|c| *c == s.len() - 1)
        .ok_or_else(|| format!("`{s}`: a `{{` without its closing `}}`"))?;
    let inner = &s[open + 1..close];
    let (key, value) = inner
        .split_once('=')
        .ok_or_else(|| format!("`{inner}`: expected key=value inside {{ }}"))?;
    Ok((&s[..open], Some((key.trim(), value.trim()))))
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a number"))
}

fn millis(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let (digits, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e3)
    } else {
        (s, 1.0)
    };
    Ok(number(digits)? * scale)
}

impl Threshold {
    /// Parses one rule; the error says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let compact: String = text.split_whitespace().collect();
        let fail = |m: String| format!("`{text}`: {m}");
        if let Some(rest) = compact.strip_prefix("coverage") {
            let commands = match selector(&format!("coverage{rest}")).map_err(fail)? {
                (_, None) if rest.is_empty() => BotCommand::ALL
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect(),
                (_, Some(("commands", list))) => list
                    .split(',')
                    .map(|c| format!("/{}", c.trim().trim_start_matches('/')))
                    .collect(),
                _ => {
                    return Err(fail(
                        "write `coverage` (all 22 commands) or `coverage{commands=/a,/b}`".into(),
                    ));
                }
            };
            return Ok(Self {
                text: text.trim().into(),
                metric: Metric::Coverage(commands),
                name: None,
                op: Op::Eq,
                limit: 1.0,
            });
        }
        let (left, op, right) = split_op(&compact)
            .ok_or_else(|| fail("expected an operator: <, <=, >, >= or ==".into()))?;
        let (metric_name, selected) = selector(left).map_err(fail)?;
        let name = match selected {
            None => None,
            Some(("name", n)) => Some(n.to_string()),
            Some((k, _)) => return Err(fail(format!("unknown selector `{k}` (use name=...)"))),
        };
        let percent = right.trim().strip_suffix('%');
        let latency = [
            ("", Of::Request),
            ("reply_", Of::Reply),
            ("queue_", Of::Queue),
            ("task_", Of::Task),
        ]
        .into_iter()
        .find_map(|(prefix, of)| {
            let stat = Stat::parse(metric_name.strip_prefix(prefix)?)?;
            Some((stat, of))
        });
        if latency.is_some_and(|(_, of)| of == Of::Task) && name.is_none() {
            return Err(fail(
                "a task's duration needs its name: task_p95{name=TASK}<2s".into(),
            ));
        }
        let (metric, limit) = if let Some((stat, of)) = latency {
            (Metric::Latency { stat, of }, millis(right).map_err(fail)?)
        } else {
            match metric_name {
                "errors" => match percent {
                    Some(p) => (
                        Metric::Errors { share: true },
                        number(p).map_err(fail)? / 100.0,
                    ),
                    None => (
                        Metric::Errors { share: false },
                        number(right).map_err(fail)?,
                    ),
                },
                "dropped" => match percent {
                    Some(p) => (
                        Metric::Dropped { share: true },
                        number(p).map_err(fail)? / 100.0,
                    ),
                    None => (
                        Metric::Dropped { share: false },
                        number(right).map_err(fail)?,
                    ),
                },
                "rps" => (Metric::Rps, number(right).map_err(fail)?),
                "checks" => {
                    let p =
                        percent.ok_or_else(|| fail("checks take a share: checks>99%".into()))?;
                    (Metric::Checks, number(p).map_err(fail)? / 100.0)
                }
                "script_errors" => (Metric::ScriptErrors, number(right).map_err(fail)?),
                "violations" => (Metric::Violations, number(right).map_err(fail)?),
                "duplicates" => (Metric::Duplicates, number(right).map_err(fail)?),
                "lost_updates" => (Metric::LostUpdates, number(right).map_err(fail)?),
                "recovery" => (Metric::Recovery, millis(right).map_err(fail)? / 1000.0),
                other => {
                    return Err(fail(format!(
                        "unknown metric `{other}` (p50, p90, p95, p99, p999, max, avg, min, \
                         reply_p95 ..., queue_p95 ..., task_p95{{name=...}} ..., errors, dropped, \
                         rps, checks, script_errors, violations, duplicates, lost_updates, \
                         recovery, coverage)"
                    )));
                }
            }
        };
        Ok(Self {
            text: text.trim().into(),
            metric,
            name,
            op,
            limit,
        })
    }

    /// The duration of the task the rule names (`task` in any class, the first with calls, or
    /// `Class.task`).
    fn task(&self, s: &Summary) -> Option<Percentiles> {
        let name = self.name.as_deref()?;
        let (class, task) = match name.split_once('.') {
            Some((c, t)) => (Some(c), t),
            None => (None, name),
        };
        let mut found = s
            .classes
            .iter()
            .filter(|c| class.is_none_or(|n| c.name == n))
            .flat_map(|c| c.tasks.iter().filter(|t| t.name == task));
        let first = found.next()?;
        Some(
            std::iter::once(first)
                .chain(found)
                .find(|t| t.count > 0)
                .unwrap_or(first)
                .duration_ms,
        )
    }

    /// Checks the rule against a result.
    pub fn evaluate(&self, s: &Summary) -> Verdict {
        let verdict = |passed: bool, observed: String| Verdict {
            threshold: self.text.clone(),
            passed,
            observed,
        };
        let row = self
            .name
            .as_ref()
            .map(|n| s.requests.iter().find(|r| &r.name == n));
        match &self.metric {
            Metric::Latency { stat, of } => {
                let latency = match (row, of) {
                    (_, Of::Task) => match self.task(s) {
                        Some(d) => Some(d),
                        None => return verdict(false, "no such task".into()),
                    },
                    (Some(None), _) => return verdict(false, "no such request".into()),
                    (Some(Some(r)), Of::Request) => Some(r.latency_ms),
                    (Some(Some(r)), Of::Reply) => r.reply_ms,
                    (Some(Some(r)), Of::Queue) => r.queue_ms,
                    (None, Of::Request) => Some(s.totals.latency_ms),
                    (None, Of::Reply) => s.totals.reply_ms,
                    (None, Of::Queue) => s.totals.queue_ms,
                };
                match latency.filter(|l| l.count > 0) {
                    Some(l) => {
                        let v = stat.of(&l);
                        verdict(self.op.holds(v, self.limit), format!("{v:.1} ms"))
                    }
                    None => verdict(false, "no samples".into()),
                }
            }
            Metric::Errors { share } => {
                let (failed, total) = match row {
                    Some(None) => return verdict(false, "no such request".into()),
                    Some(Some(r)) => (r.failures, r.count),
                    None => (s.totals.failures, s.totals.requests),
                };
                if *share {
                    let v = if total == 0 {
                        0.0
                    } else {
                        failed as f64 / total as f64
                    };
                    verdict(self.op.holds(v, self.limit), format!("{:.2}%", v * 100.0))
                } else {
                    verdict(self.op.holds(failed as f64, self.limit), failed.to_string())
                }
            }
            Metric::Dropped { share } => {
                let dropped = s.totals.dropped_iterations;
                let due = s.totals.tasks + dropped;
                if *share {
                    let v = if due == 0 {
                        0.0
                    } else {
                        dropped as f64 / due as f64
                    };
                    verdict(self.op.holds(v, self.limit), format!("{:.2}%", v * 100.0))
                } else {
                    verdict(
                        self.op.holds(dropped as f64, self.limit),
                        dropped.to_string(),
                    )
                }
            }
            Metric::Violations | Metric::Duplicates | Metric::LostUpdates => {
                let v = match self.metric {
                    Metric::Violations => s
                        .botapi
                        .as_ref()
                        .and_then(|b| b.flood.as_ref())
                        .map_or(0, |f| f.total.violations),
                    Metric::Duplicates => s.totals.duplicate_replies,
                    _ => s.totals.lost_updates,
                };
                verdict(self.op.holds(v as f64, self.limit), v.to_string())
            }
            Metric::Recovery => match s.resilience.as_ref().and_then(|r| r.worst_recovery()) {
                None => verdict(false, "no fault window".into()),
                Some(_)
                    if s.resilience
                        .as_ref()
                        .is_some_and(|r| r.windows.iter().any(|w| w.before_p95_ms.is_none())) =>
                {
                    verdict(
                        false,
                        "no second before the first fault window to compare with".into(),
                    )
                }
                Some(None) => verdict(false, "a window never recovered".into()),
                Some(Some(v)) => verdict(self.op.holds(v, self.limit), format!("{v:.0} s")),
            },
            Metric::Rps => {
                let v = match row {
                    Some(None) => return verdict(false, "no such request".into()),
                    Some(Some(r)) => r.rps,
                    None => s.totals.rps,
                };
                verdict(self.op.holds(v, self.limit), format!("{v:.1}/s"))
            }
            Metric::Checks => {
                let (passed, failed) = match &self.name {
                    Some(n) => match s.checks.iter().find(|c| &c.name == n) {
                        Some(c) => (c.passed, c.failed),
                        None => return verdict(false, "no such check".into()),
                    },
                    None => (s.totals.checks_passed, s.totals.checks_failed),
                };
                if passed + failed == 0 {
                    return verdict(false, "no checks ran".into());
                }
                let v = passed as f64 / (passed + failed) as f64;
                verdict(self.op.holds(v, self.limit), format!("{:.2}%", v * 100.0))
            }
            Metric::ScriptErrors => {
                let v = s.totals.script_errors;
                verdict(self.op.holds(v as f64, self.limit), v.to_string())
            }
            Metric::Coverage(commands) => {
                let sent = |c: &String| {
                    s.requests.iter().any(|r| {
                        &r.name == c
                            && r.count > r.failures_by_kind.get("refused").copied().unwrap_or(0)
                    })
                };
                let missing: Vec<&str> = commands
                    .iter()
                    .filter(|c| !sent(c))
                    .map(String::as_str)
                    .collect();
                let observed = if missing.is_empty() {
                    format!("{}/{} sent", commands.len(), commands.len())
                } else {
                    format!(
                        "{}/{} sent; not sent: {}",
                        commands.len() - missing.len(),
                        commands.len(),
                        missing.join(" ")
                    )
                };
                verdict(missing.is_empty(), observed)
            }
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_rules_read_the_resilience_counts() {
        use crate::report::{BotApiReport, FloodReport, Resilience, WindowOutcome};
        let mut s = Summary::default();
        s.totals.duplicate_replies = 2;
        let eval = |s: &Summary, rule: &str| {
            let v = Threshold::parse(rule).unwrap().evaluate(s);
            (v.passed, v.observed)
        };
        assert_eq!(eval(&s, "duplicates==0"), (false, "2".into()));
        assert_eq!(eval(&s, "lost_updates==0"), (true, "0".into()));
        assert_eq!(eval(&s, "violations==0"), (true, "0".into()));
        let mut flood = FloodReport::default();
        flood.total.violations = 5;
        s.botapi = Some(BotApiReport {
            flood: Some(flood),
            ..BotApiReport::default()
        });
        assert_eq!(eval(&s, "violations==0"), (false, "5".into()));
        assert_eq!(eval(&s, "recovery<10s"), (false, "no fault window".into()));
        let window = |r: Option<f64>| WindowOutcome {
            recovery_s: r,
            before_p95_ms: Some(5.0),
            ..WindowOutcome::default()
        };
        s.resilience = Some(Resilience {
            windows: vec![window(Some(3.0)), window(Some(12.0))],
            ..Resilience::default()
        });
        assert_eq!(eval(&s, "recovery<10s"), (false, "12 s".into()));
        assert_eq!(eval(&s, "recovery<15s"), (true, "12 s".into()));
        s.resilience = Some(Resilience {
            windows: vec![window(Some(3.0)), window(None)],
            ..Resilience::default()
        });
        assert!(!eval(&s, "recovery<15s").0, "a window never recovered");
        s.resilience = Some(Resilience {
            windows: vec![WindowOutcome::default()],
            ..Resilience::default()
        });
        assert_eq!(
            eval(&s, "recovery<15s"),
            (
                false,
                "no second before the first fault window to compare with".into()
            )
        );
    }

    #[test]
    fn parses_the_documented_forms() {
        for ok in [
            "p95<500ms",
            "p99{name=/help}<200ms",
            "p99{name=/help} < 0.2s",
            "errors<1%",
            "errors<=3",
            "rps>50",
            "checks>99%",
            "checks{name=message accepted}>=100%",
            "script_errors==0",
            "reply_p95<1s",
            "queue_p95<50ms",
            "dropped<1%",
            "dropped==0",
            "task_p95{name=translate}<2s",
            "task_max{name=PowerUser.translate}<5s",
            "coverage",
            "coverage{commands=/help,/start}",
            "violations==0",
            "duplicates==0",
            "lost_updates==0",
            "recovery<10s",
        ] {
            Threshold::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(Threshold::parse("recovery<10s").unwrap().limit, 10.0);
        let t = Threshold::parse("p99{name=/help} < 0.2s").unwrap();
        assert_eq!((t.limit, t.name.as_deref()), (200.0, Some("/help")));
        assert_eq!(Threshold::parse("errors<1%").unwrap().limit, 0.01);
        for (bad, says) in [
            ("p95 500ms", "operator"),
            ("p42<1ms", "unknown metric"),
            ("p95<fast", "not a number"),
            ("checks>99", "share"),
            ("p95{route=/x}<1ms", "selector"),
            ("p95{name=/x<1ms", "closing"),
            ("coverage{names=/a}", "coverage"),
            ("task_p95<1s", "needs its name"),
        ] {
            let e = Threshold::parse(bad).unwrap_err();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }
}
