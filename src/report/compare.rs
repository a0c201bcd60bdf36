//! Two results held against each other (`stress compare BASE NEW`, `stress run --baseline`):
//! per request name, per task and for all requests, the change in count, failure rate,
//! p50/p95/p99 and reply p95, with a verdict that allows for run-to-run noise, and the
//! relative rules (`p95<+10%`) that turn the comparison into a CI gate.
//!
//! The verdict of a row ([`Change`]), from the two latency histograms:
//! - fewer than [`MIN_SAMPLES`] samples on either side: inconclusive;
//! - at the median and at p95 of the base, a two-proportion test asks whether the new run has
//!   more (or fewer) of its samples above that value than the base has (at the median, Mood's
//!   median test); a difference is real when |z| > [`Z_SIGNIFICANT`] (two-sided p < 0.001);
//! - *slower* when p50 or p95 rose by more than the noise floor [`NOISE_FLOOR`] and the test at
//!   that quantile says the rise is real (a worse tail with a better median is still slower);
//!   *faster* likewise the other way;
//! - otherwise *inconclusive* when p50 or p95 moved past the floor without the test backing it
//!   (too much spread for the samples at hand), and *no change* when both are within it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histograms::decode;
use super::{Percentiles, RequestRow, Summary, Verdict};

/// Samples each side needs before a row gets a verdict.
pub const MIN_SAMPLES: u64 = 30;

/// |z| past which a difference is real (two-sided p < 0.001).
pub const Z_SIGNIFICANT: f64 = 3.29;

/// The relative change of p50 or p95 below which a shift is noise (5%).
pub const NOISE_FLOOR: f64 = 0.05;

/// A row's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Faster,
    Slower,
    NoChange,
    Inconclusive,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Faster => "faster",
            Change::Slower => "slower",
            Change::NoChange => "no change",
            Change::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// All requests together.
    Total,
    Request,
    /// A task's duration (`Class.task`).
    Task,
}

/// A figure in the base and the new result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub base: Option<f64>,
    pub new: Option<f64>,
}

impl Pair {
    fn of(base: Option<f64>, new: Option<f64>) -> Self {
        Self { base, new }
    }

    /// The relative change, new over base, minus one; none without both or from zero.
    pub fn relative(&self) -> Option<f64> {
        match (self.base, self.new) {
            (Some(b), Some(n)) if b > 0.0 => Some(n / b - 1.0),
            (Some(b), Some(n)) if b == 0.0 && n == 0.0 => Some(0.0),
            _ => None,
        }
    }

    /// The difference, new minus base.
    pub fn difference(&self) -> Option<f64> {
        Some(self.new? - self.base?)
    }
}

/// One row of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub kind: RowKind,
    pub name: String,
    pub count: Pair,
    /// Failed requests (task errors) over the count, 0..1.
    pub failure_rate: Pair,
    pub p50_ms: Pair,
    pub p95_ms: Pair,
    pub p99_ms: Pair,
    pub reply_p95_ms: Pair,
    pub change: Change,
    /// Why: the moves of p50 and p95, each with its test's z.
    pub why: String,
}

/// Two results held against each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// What the two sides are (their files, or "this run").
    pub base: String,
    pub new: String,
    pub rows: Vec<CompareRow>,
    /// The relative rules, each with how it came out.
    pub rules: Vec<Verdict>,
    /// What makes the two less comparable (different scripts or profile, no histograms).
    pub warnings: Vec<String>,
}

impl Comparison {
    /// Whether every rule passed.
    pub fn passed(&self) -> bool {
        self.rules.iter().all(|v| v.passed)
    }
}

/// Whether `new` has more of its samples above `base`'s quantile `q` than `base` has: a
/// two-proportion z (pooled), positive when it has more (slower there), negative when fewer;
/// none with either side empty. At the median this is Mood's median test.
pub fn exceedance_z(base: &Histogram<u64>, new: &Histogram<u64>, q: f64) -> Option<f64> {
    let (na, nb) = (base.len() as f64, new.len() as f64);
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    let at = base.value_at_quantile(q);
    let above = |h: &Histogram<u64>| -> f64 {
        h.iter_recorded()
            .filter(|v| h.highest_equivalent(v.value_iterated_to()) > at)
            .map(|v| v.count_at_value() as f64)
            .sum()
    };
    let (a, b) = (above(base), above(new));
    let pooled = (a + b) / (na + nb);
    let variance = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb);
    if variance <= 0.0 {
        return Some(0.0);
    }
    Some((b / nb - a / na) / variance.sqrt())
}

/// The verdict on two latency histograms, and why.
pub fn verdict(base: &Histogram<u64>, new: &Histogram<u64>) -> (Change, String) {
    if base.len() < MIN_SAMPLES || new.len() < MIN_SAMPLES {
        return (
            Change::Inconclusive,
            format!(
                "{} and {} samples (at least {MIN_SAMPLES} a side)",
                base.len(),
                new.len()
            ),
        );
    }
    let mut slower = false;
    let mut faster = false;
    let mut noisy = false;
    let mut why = Vec::new();
    for (q, label) in [(0.5, "p50"), (0.95, "p95")] {
        let b = base.value_at_quantile(q) as f64;
        let moved = new.value_at_quantile(q) as f64 / b.max(1.0) - 1.0;
        let z = exceedance_z(base, new, q).unwrap_or(0.0);
        why.push(format!("{label} {:+.1}% (z {z:+.1})", moved * 100.0));
        if moved > NOISE_FLOOR && z > Z_SIGNIFICANT {
            slower = true;
        } else if moved < -NOISE_FLOOR && z < -Z_SIGNIFICANT {
            faster = true;
        } else if moved.abs() > NOISE_FLOOR {
            noisy = true;
        }
    }
    // A worse tail with a better median is still a regression.
    let change = if slower {
        Change::Slower
    } else if faster {
        Change::Faster
    } else if noisy {
        Change::Inconclusive
    } else {
        Change::NoChange
    };
    (change, why.join(", "))
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn pct(l: Option<&Percentiles>, f: impl Fn(&Percentiles) -> f64) -> Option<f64> {
    l.filter(|l| l.count > 0).map(f)
}

/// One side's histograms, decoded; an error names the side and the histogram.
struct Side {
    requests: BTreeMap<String, Histogram<u64>>,
    total: Option<Histogram<u64>>,
    tasks: BTreeMap<String, Histogram<u64>>,
}

impl Side {
    fn of(label: &str, s: &Summary) -> Result<Option<Self>, String> {
        let Some(h) = &s.histograms else {
            return Ok(None);
        };
        let read = |what: &str, text: &str| {
            decode(text).map_err(|e| format!("{label}: histograms.{what}: {e}"))
        };
        let mut requests = BTreeMap::new();
        for (name, set) in &h.requests {
            requests.insert(
                name.clone(),
                read(&format!("requests[{name}].latency"), &set.latency)?,
            );
        }
        let mut tasks = BTreeMap::new();
        for (class, ts) in &h.tasks {
            for (task, text) in ts {
                tasks.insert(
                    format!("{class}.{task}"),
                    read(&format!("tasks[{class}][{task}]"), text)?,
                );
            }
        }
        Ok(Some(Self {
            requests,
            total: Some(read("totals.latency", &h.totals.latency)?),
            tasks,
        }))
    }
}

fn judged(base: Option<&Histogram<u64>>, new: Option<&Histogram<u64>>) -> (Change, String) {
    match (base, new) {
        (Some(b), Some(n)) => verdict(b, n),
        _ => (
            Change::Inconclusive,
            "no histograms on one side (a checkpoint or an older file)".into(),
        ),
    }
}

fn request_row(
    kind: RowKind,
    name: &str,
    base: Option<&RequestRow>,
    new: Option<&RequestRow>,
    judged: (Change, String),
) -> CompareRow {
    let lat = |r: Option<&RequestRow>, f: fn(&Percentiles) -> f64| pct(r.map(|r| &r.latency_ms), f);
    let reply = |r: Option<&RequestRow>| pct(r.and_then(|r| r.reply_ms.as_ref()), |l| l.p95);
    CompareRow {
        kind,
        name: name.into(),
        count: Pair::of(base.map(|r| r.count as f64), new.map(|r| r.count as f64)),
        failure_rate: Pair::of(
            base.and_then(|r| share(r.failures, r.count)),
            new.and_then(|r| share(r.failures, r.count)),
        ),
        p50_ms: Pair::of(lat(base, |l| l.p50), lat(new, |l| l.p50)),
        p95_ms: Pair::of(lat(base, |l| l.p95), lat(new, |l| l.p95)),
        p99_ms: Pair::of(lat(base, |l| l.p99), lat(new, |l| l.p99)),
        reply_p95_ms: Pair::of(reply(base), reply(new)),
        change: judged.0,
        why: judged.1,
    }
}

/// The totals as a request row (counts and latency), for the all-requests row.
fn total_row(s: &Summary) -> RequestRow {
    RequestRow {
        name: "Aggregated".into(),
        count: s.totals.requests,
        failures: s.totals.failures,
        latency_ms: s.totals.latency_ms,
        reply_ms: s.totals.reply_ms,
        ..RequestRow::default()
    }
}

/// Compares `new` against `base` (labelled for the messages); an error names a histogram that
/// cannot be read.
pub fn compare(
    base_label: &str,
    base: &Summary,
    new_label: &str,
    new: &Summary,
) -> Result<Comparison, String> {
    let mut warnings = Vec::new();
    if !base.test_digest.is_empty()
        && !new.test_digest.is_empty()
        && base.test_digest != new.test_digest
    {
        warnings.push(format!(
            "{base_label} and {new_label} ran different scripts or profiles (test_digest {} and \
             {}): the rows compare different work",
            base.test_digest, new.test_digest
        ));
    }
    for (label, s) in [(base_label, base), (new_label, new)] {
        if s.histograms.is_none() {
            warnings.push(format!(
                "{label} has no histograms (a checkpoint or an older file): no verdicts"
            ));
        }
        if s.partial {
            warnings.push(format!("{label} is a partial result (a checkpoint)"));
        }
    }
    let (sa, sb) = (Side::of(base_label, base)?, Side::of(new_label, new)?);
    let mut rows = vec![request_row(
        RowKind::Total,
        "Aggregated",
        Some(&total_row(base)),
        Some(&total_row(new)),
        judged(
            sa.as_ref().and_then(|s| s.total.as_ref()),
            sb.as_ref().and_then(|s| s.total.as_ref()),
        ),
    )];
    let names: BTreeSet<&str> = base
        .requests
        .iter()
        .chain(&new.requests)
        .map(|r| r.name.as_str())
        .collect();
    for name in names {
        let find = |s: &'_ Summary| s.requests.iter().find(|r| r.name == name).cloned();
        let hist = |side: &Option<Side>| side.as_ref().and_then(|s| s.requests.get(name)).cloned();
        rows.push(request_row(
            RowKind::Request,
            name,
            find(base).as_ref(),
            find(new).as_ref(),
            judged(hist(&sa).as_ref(), hist(&sb).as_ref()),
        ));
    }
    let tasks = |s: &Summary| -> BTreeMap<String, (u64, u64, Percentiles)> {
        s.classes
            .iter()
            .flat_map(|c| {
                c.tasks.iter().map(move |t| {
                    (
                        format!("{}.{}", c.name, t.name),
                        (t.count, t.errors, t.duration_ms),
                    )
                })
            })
            .collect()
    };
    let (ta, tb) = (tasks(base), tasks(new));
    let task_names: BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
    for name in task_names {
        let (a, b) = (ta.get(name), tb.get(name));
        let hist = |side: &Option<Side>| side.as_ref().and_then(|s| s.tasks.get(name)).cloned();
        let (change, why) = judged(hist(&sa).as_ref(), hist(&sb).as_ref());
        let d = |t: Option<&(u64, u64, Percentiles)>, f: fn(&Percentiles) -> f64| {
            pct(t.map(|t| &t.2), f)
        };
        rows.push(CompareRow {
            kind: RowKind::Task,
            name: name.clone(),
            count: Pair::of(a.map(|t| t.0 as f64), b.map(|t| t.0 as f64)),
            failure_rate: Pair::of(
                a.and_then(|t| share(t.1, t.0)),
                b.and_then(|t| share(t.1, t.0)),
            ),
            p50_ms: Pair::of(d(a, |l| l.p50), d(b, |l| l.p50)),
            p95_ms: Pair::of(d(a, |l| l.p95), d(b, |l| l.p95)),
            p99_ms: Pair::of(d(a, |l| l.p99), d(b, |l| l.p99)),
            reply_p95_ms: Pair::default(),
            change,
            why,
        });
    }
    Ok(Comparison {
        base: base_label.into(),
        new: new_label.into(),
        rows,
        rules: Vec::new(),
        warnings,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a relative rule reads from a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    P50,
    P95,
    P99,
    ReplyP95,
    /// The failure rate, in percentage points.
    Errors,
    Count,
}

/// A relative rule: `p95<+10%`, `p99{name=/help}<+20%`, `task_p95{name=Class.task}<+10%`,
/// `reply_p95<+15%`, `errors<+1%` (percentage points of the failure rate), `count>-5%`.
#[derive(Debug, Clone, PartialEq)]
pub struct RelativeRule {
    pub text: String,
    figure: Figure,
    task: bool,
    name: Option<String>,
    op: Op,
    /// A fraction (0.10 for +10%); for `errors`, a difference of rates (0.01 for +1%).
    limit: f64,
}

impl RelativeRule {
    /// Whether a `--threshold` is relative: its limit is a signed percentage (`<+10%`).
    pub fn is_relative(text: &str) -> bool {
        let compact: String = text.split_whitespace().collect();
        compact
            .find(['<', '>'])
            .map(|i| compact[i + 1..].trim_start_matches('='))
            .is_some_and(|limit| {
                (limit.starts_with('+') || limit.starts_with('-')) && limit.ends_with('%')
            })
    }

    /// Parses one rule; the error says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let compact: String = text.split_whitespace().collect();
        let fail = |m: &str| format!("`{text}`: {m}");
        let at = compact.find(['<', '>']).ok_or_else(|| {
            fail("expected <, <=, > or >= and a signed percentage, e.g. p95<+10%")
        })?;
        let (left, rest) = compact.split_at(at);
        let (op, limit) = match rest {
            r if r.starts_with("<=") => (Op::Le, &r[2..]),
            r if r.starts_with(">=") => (Op::Ge, &r[2..]),
            r if r.starts_with('<') => (Op::Lt, &r[1..]),
            r => (Op::Gt, &r[1..]),
        };
        let number = limit
            .strip_suffix('%')
            .filter(|n| n.starts_with('+') || n.starts_with('-'))
            .ok_or_else(|| fail("the limit is a signed percentage: +10% or -5%"))?;
        let limit: f64 = number
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| fail(&format!("`{number}` is not a number")))?
            / 100.0;
        let (metric, name) = match left.split_once('{') {
            None => (left, None),
            Some((metric, sel)) => {
                let inner = sel
                    .strip_suffix('}')
                    .ok_or_else(|| fail("a `{` without its closing `}`"))?;
                let value = inner
                    .strip_prefix("name=")
                    .ok_or_else(|| fail("the only selector is {name=...}"))?;
                (metric, Some(value.to_string()))
            }
        };
        let (task, stat) = match metric.strip_prefix("task_") {
            Some(stat) => (true, stat),
            None => (false, metric),
        };
        let figure = match stat {
            "p50" | "median" => Figure::P50,
            "p95" => Figure::P95,
            "p99" => Figure::P99,
            "reply_p95" if !task => Figure::ReplyP95,
            "errors" if !task => Figure::Errors,
            "count" => Figure::Count,
            other => {
                return Err(fail(&format!(
                    "unknown metric `{other}` for a relative rule (p50, p95, p99, reply_p95, \
                     errors, count, task_p95{{name=Class.task}} ...)"
                )));
            }
        };
        if task && name.is_none() {
            return Err(fail(
                "a task's rule needs its name: task_p95{name=Class.task}<+10%",
            ));
        }
        Ok(Self {
            text: text.trim().into(),
            figure,
            task,
            name,
            op,
            limit,
        })
    }

    /// Checks the rule against a comparison's rows.
    pub fn evaluate(&self, c: &Comparison) -> Verdict {
        let verdict = |passed: bool, observed: String| Verdict {
            threshold: self.text.clone(),
            passed,
            observed,
        };
        let row = c.rows.iter().find(|r| match (&self.name, self.task) {
            (None, _) => r.kind == RowKind::Total,
            (Some(n), true) => {
                r.kind == RowKind::Task && (&r.name == n || r.name.ends_with(&format!(".{n}")))
            }
            (Some(n), false) => r.kind == RowKind::Request && &r.name == n,
        });
        let Some(row) = row else {
            return verdict(false, "no such row in either result".into());
        };
        let pair = match self.figure {
            Figure::P50 => row.p50_ms,
            Figure::P95 => row.p95_ms,
            Figure::P99 => row.p99_ms,
            Figure::ReplyP95 => row.reply_p95_ms,
            Figure::Errors => row.failure_rate,
            Figure::Count => row.count,
        };
        let change = match self.figure {
            Figure::Errors => pair.difference(),
            _ => pair.relative(),
        };
        let Some(change) = change else {
            return verdict(false, "no samples on one side".into());
        };
        let passed = match self.op {
            Op::Lt => change < self.limit,
            Op::Le => change <= self.limit,
            Op::Gt => change > self.limit,
            Op::Ge => change >= self.limit,
        };
        let (b, n) = (pair.base.unwrap_or(0.0), pair.new.unwrap_or(0.0));
        let observed = match self.figure {
            Figure::Errors => format!(
                "{:.2}% -> {:.2}% ({:+.2} points)",
                b * 100.0,
                n * 100.0,
                change * 100.0
            ),
            Figure::Count => format!("{b:.0} -> {n:.0} ({:+.1}%)", change * 100.0),
            _ => format!("{b:.1} -> {n:.1} ms ({:+.1}%)", change * 100.0),
        };
        verdict(passed, observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn a_distribution_against_itself_is_no_change() {
        let h = hist((0..2_000).map(|i| 1_000 + (i * 7919) % 5_000));
        assert_eq!(exceedance_z(&h, &h, 0.95), Some(0.0));
        assert_eq!(verdict(&h, &h).0, Change::NoChange);
    }

    #[test]
    fn a_worse_tail_is_slower_even_with_a_better_median() {
        // Most requests a little faster, a fifth of them much slower.
        let base = hist((0..2_000).map(|i| 8_000 + (i * 7919) % 4_000));
        let new = hist((0..2_000).map(|i| {
            if i % 5 == 0 {
                25_000 + (i * 7919) % 5_000
            } else {
                5_000 + (i * 7919) % 4_000
            }
        }));
        let (change, why) = verdict(&base, &new);
        assert_eq!(change, Change::Slower, "{why}");
    }

    #[test]
    fn a_shift_past_the_floor_is_slower_or_faster() {
        let base = hist((0..2_000).map(|i| 10_000 + (i * 7919) % 5_000));
        let slow = hist((0..2_000).map(|i| 30_000 + (i * 7919) % 5_000));
        assert_eq!(verdict(&base, &slow).0, Change::Slower);
        assert_eq!(verdict(&slow, &base).0, Change::Faster);
        // A real shift of 1% is below the noise floor.
        let nudged = hist((0..2_000).map(|i| 10_100 + (i * 7919) % 5_000));
        assert_eq!(verdict(&base, &nudged).0, Change::NoChange);
        // Too few samples to say.
        let few = hist([40_000; 10]);
        assert_eq!(verdict(&base, &few).0, Change::Inconclusive);
    }

    #[test]
    fn relative_rules_parse_and_say_what_is_wrong() {
        for ok in [
            "p95<+10%",
            "p99{name=/help}<+20%",
            "errors<+1%",
            "reply_p95 <= +15%",
            "task_p95{name=PowerUser.translate}<+10%",
            "count>-5%",
        ] {
            assert!(RelativeRule::is_relative(ok), "{ok}");
            RelativeRule::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for absolute in ["p95<500ms", "errors<1%", "checks>99%"] {
            assert!(!RelativeRule::is_relative(absolute), "{absolute}");
        }
        for (bad, says) in [
            ("p95<10%", "signed percentage"),
            ("p42<+1%", "unknown metric"),
            ("task_p95<+1%", "needs its name"),
            ("p95{route=/x}<+1%", "selector"),
            ("p95<+x%", "not a number"),
        ] {
            let e = RelativeRule::parse(bad).unwrap_err();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
        let r = RelativeRule::parse("errors<+1%").unwrap();
        assert_eq!((r.figure, r.limit), (Figure::Errors, 0.01));
    }
}
