//! What a script declares: its class (`user_class(name, #{tier, weight, wait})` at the top
//! level) and its tasks (functions marked `/// @task(N)`, like Locust's `@task(n)`).

use std::time::Duration;

use rand::Rng;
use rhai::{Dynamic, EvalAltResult, Map, NativeCallContext, Position};

use super::error::ScriptError;
use crate::telegram::Tier;

/// How long a virtual user pauses between tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitSpec {
    Constant(f64),
    /// Uniform between the two, in seconds.
    Between(f64, f64),
    /// Each task starts this many seconds after the previous one started (Locust's
    /// `constant_pacing`); a task that took longer is followed at once.
    Pacing(f64),
    /// This many tasks per second per user: pacing of 1/n seconds (Locust's
    /// `constant_throughput`).
    Throughput(f64),
}

impl WaitSpec {
    /// The pause after a task that took `took`.
    pub fn after(&self, took: Duration, rng: &mut impl Rng) -> Duration {
        let secs = match *self {
            WaitSpec::Constant(s) => s,
            WaitSpec::Between(a, b) if b > a => rng.random_range(a..=b),
            WaitSpec::Between(a, _) => a,
            WaitSpec::Pacing(s) => return Duration::from_secs_f64(s).saturating_sub(took),
            WaitSpec::Throughput(n) => {
                return Duration::from_secs_f64(1.0 / n).saturating_sub(took);
            }
        };
        Duration::from_secs_f64(secs)
    }

    /// Parses `2`, `0.5`, `1..5` or `1.5..4` (seconds), as the `--wait` flag takes them.
    pub fn parse(s: &str) -> Result<Self, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<f64>()
                .map_err(|_| format!("`{t}` is not a number of seconds"))
        };
        let spec = match s.split_once("..") {
            Some((a, b)) => WaitSpec::Between(num(a)?, num(b)?),
            None => WaitSpec::Constant(num(s)?),
        };
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        let ok = |s: f64| s.is_finite() && (0.0..=86_400.0).contains(&s);
        match *self {
            WaitSpec::Constant(s) if ok(s) => Ok(()),
            WaitSpec::Between(a, b) if ok(a) && ok(b) && a <= b => Ok(()),
            WaitSpec::Pacing(s) if ok(s) => Ok(()),
            // From one task a day to a million a second.
            WaitSpec::Throughput(n) if n.is_finite() && (1.0 / 86_400.0..=1e6).contains(&n) => {
                Ok(())
            }
            WaitSpec::Constant(s) => Err(format!("wait of {s} s is not between 0 and 86400")),
            WaitSpec::Between(a, b) => Err(format!(
                "between({a}, {b}) needs 0 <= a <= b <= 86400 seconds"
            )),
            WaitSpec::Pacing(s) => Err(format!("pacing({s}) needs 0 to 86400 seconds")),
            WaitSpec::Throughput(n) => Err(format!(
                "throughput({n}) needs between one task a day (0.0000116) and 1000000 a second"
            )),
        }
    }
}

impl std::fmt::Display for WaitSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitSpec::Constant(s) => write!(f, "{s} s"),
            WaitSpec::Between(a, b) => write!(f, "{a}–{b} s"),
            WaitSpec::Pacing(s) => write!(f, "a task every {s} s"),
            WaitSpec::Throughput(n) => write!(f, "{n} tasks/s"),
        }
    }
}

fn number(v: &Dynamic) -> Option<f64> {
    v.as_float()
        .ok()
        .or_else(|| v.as_int().ok().map(|i| i as f64))
}

fn runtime_error(message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), pos).into()
}

/// `between(a, b)` in a script.
pub(crate) fn between(
    ctx: NativeCallContext,
    a: Dynamic,
    b: Dynamic,
) -> Result<WaitSpec, Box<EvalAltResult>> {
    let (Some(a), Some(b)) = (number(&a), number(&b)) else {
        return Err(runtime_error(
            "between(a, b) takes two numbers of seconds".into(),
            ctx.call_position(),
        ));
    };
    let spec = WaitSpec::Between(a, b);
    spec.check()
        .map_err(|e| runtime_error(e, ctx.call_position()))?;
    Ok(spec)
}

/// `constant(s)` in a script.
pub(crate) fn constant(ctx: NativeCallContext, s: Dynamic) -> Result<WaitSpec, Box<EvalAltResult>> {
    let spec = WaitSpec::Constant(number(&s).ok_or_else(|| {
        runtime_error(
            "constant(s) takes a number of seconds".into(),
            ctx.call_position(),
        )
    })?);
    spec.check()
        .map_err(|e| runtime_error(e, ctx.call_position()))?;
    Ok(spec)
}

/// `pacing(s)` and `throughput(n)` in a script.
fn paced(
    ctx: &NativeCallContext,
    v: &Dynamic,
    what: &str,
    make: fn(f64) -> WaitSpec,
) -> Result<WaitSpec, Box<EvalAltResult>> {
    let spec = make(
        number(v)
            .ok_or_else(|| runtime_error(format!("{what} takes a number"), ctx.call_position()))?,
    );
    spec.check()
        .map_err(|e| runtime_error(e, ctx.call_position()))?;
    Ok(spec)
}

/// `pacing(s)` in a script: a task every `s` seconds, from start to start.
pub(crate) fn pacing(ctx: NativeCallContext, s: Dynamic) -> Result<WaitSpec, Box<EvalAltResult>> {
    paced(&ctx, &s, "pacing(s)", WaitSpec::Pacing)
}

/// `throughput(n)` in a script: `n` tasks a second.
pub(crate) fn throughput(
    ctx: NativeCallContext,
    n: Dynamic,
) -> Result<WaitSpec, Box<EvalAltResult>> {
    paced(&ctx, &n, "throughput(n)", WaitSpec::Throughput)
}

/// A user class as its script declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDecl {
    pub name: String,
    pub tier: Tier,
    pub weight: u32,
    pub wait: WaitSpec,
    /// Where `user_class(..)` is called, for messages about the class.
    pub line: usize,
}

/// The options `user_class` accepts.
const CLASS_KEYS: [&str; 3] = ["tier", "weight", "wait"];

/// Reads `user_class(name, #{tier, weight, wait})`; errors point at the call.
pub(crate) fn class_from_call(
    name: &str,
    options: &Map,
    pos: Position,
) -> Result<ClassDecl, Box<EvalAltResult>> {
    let fail = |m: String| runtime_error(format!("user_class: {m}"), pos);
    if name.trim().is_empty() {
        return Err(fail("the class needs a name".into()));
    }
    if let Some(key) = options.keys().find(|k| !CLASS_KEYS.contains(&k.as_str())) {
        return Err(fail(format!(
            "unknown option `{key}` (expected {})",
            CLASS_KEYS.join(", ")
        )));
    }
    let tier = match options.get("tier") {
        None => {
            return Err(fail(
                "`tier` is missing (guest, user, developer or admin)".into(),
            ));
        }
        Some(t) => t
            .clone()
            .into_string()
            .map_err(|_| fail("`tier` must be a string".into()))?
            .parse::<Tier>()
            .map_err(|e| fail(e.to_string()))?,
    };
    let weight = match options.get("weight") {
        None => 1,
        Some(w) => match w.as_int() {
            Ok(w) if (1..=1_000_000).contains(&w) => w as u32,
            Ok(w) => {
                return Err(fail(format!(
                    "weight {w} must be a positive whole number (at most 1000000)"
                )));
            }
            Err(_) => return Err(fail("`weight` must be a whole number".into())),
        },
    };
    let wait = match options.get("wait") {
        None => WaitSpec::Constant(0.0),
        Some(w) if w.is::<WaitSpec>() => w.clone().cast::<WaitSpec>(),
        Some(w) => match number(w) {
            Some(s) => {
                let spec = WaitSpec::Constant(s);
                spec.check().map_err(fail)?;
                spec
            }
            None => {
                return Err(fail(
                    "`wait` must be between(a, b), constant(s) or a number of seconds".into(),
                ));
            }
        },
    };
    Ok(ClassDecl {
        name: name.trim().to_string(),
        tier,
        weight,
        wait,
        line: pos.line().unwrap_or(0),
    })
}

/// One weighted task: a function marked `/// @task(N)` (or `/// @task` for weight 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDecl {
    pub name: String,
    pub weight: u32,
    /// The doc comment without the marker, for `stress check`.
    pub doc: String,
}

/// Line (1-based) of `fn name` in `source`, and of the `@task` marker above it.
pub(crate) fn fn_lines(source: &str, name: &str) -> (usize, usize) {
    let lines: Vec<&str> = source.lines().collect();
    let fn_line = lines
        .iter()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix("fn ")
                .or_else(|| l.strip_prefix("private fn "))
                .is_some_and(|rest| {
                    rest.trim_start()
                        .strip_prefix(name)
                        .is_some_and(|r| r.trim_start().starts_with('('))
                })
        })
        .unwrap_or(0);
    let marker = (0..fn_line)
        .rev()
        .take_while(|&i| lines[i].trim_start().starts_with("//"))
        .find(|&i| lines[i].contains("@task"))
        .unwrap_or(fn_line);
    (fn_line + 1, marker + 1)
}

/// Parses the marker in a doc comment: `Ok(None)` when there is none, the weight otherwise.
fn task_weight(comment: &str) -> Result<Option<u32>, String> {
    let Some(at) = comment.find("@task") else {
        return Ok(None);
    };
    let rest = &comment[at + "@task".len()..];
    let Some(args) = rest.strip_prefix('(') else {
        return if rest.starts_with(|c: char| c.is_whitespace()) || rest.is_empty() {
            Ok(Some(1))
        } else {
            Err(format!(
                "`@task{}` is not a task marker; write @task or @task(N)",
                rest.split_whitespace().next().unwrap_or("")
            ))
        };
    };
    let Some(end) = args.find(')') else {
        return Err("`@task(` is missing its `)`".into());
    };
    match args[..end].trim().parse::<i64>() {
        Ok(w) if (1..=1_000_000).contains(&w) => Ok(Some(w as u32)),
        Ok(w) => Err(format!("task weight {w} must be a positive whole number")),
        Err(_) => Err(format!(
            "`@task({})`: the weight must be a whole number",
            &args[..end]
        )),
    }
}

/// The tasks of a compiled script, in source order, with their weights.
pub(crate) fn tasks(
    ast: &rhai::AST,
    file: &str,
    source: &str,
) -> Result<Vec<TaskDecl>, ScriptError> {
    let mut tasks = Vec::new();
    let mut seen = Vec::new();
    for f in ast.iter_functions() {
        let comment = f.comments.join("\n");
        let (fn_line, marker_line) = fn_lines(source, f.name);
        let at = |line: usize, m: String| ScriptError {
            file: file.into(),
            line,
            col: 1,
            message: m,
        };
        let weight = task_weight(&comment).map_err(|m| at(marker_line, m))?;
        if matches!(f.name, "on_start" | "on_stop") && !f.params.is_empty() {
            return Err(at(
                fn_line,
                format!(
                    "{}() takes no parameters; use `this` for the user's state",
                    f.name
                ),
            ));
        }
        let entry = weight.is_some() || matches!(f.name, "on_start" | "on_stop");
        if entry && f.access == rhai::FnAccess::Private {
            return Err(at(
                fn_line,
                format!(
                    "{}() is private, but the runner calls it; drop `private`",
                    f.name
                ),
            ));
        }
        let Some(weight) = weight else { continue };
        if !f.params.is_empty() {
            return Err(at(
                fn_line,
                format!(
                    "task {}({}) must take no parameters; use `this` for the user's state",
                    f.name,
                    f.params.join(", ")
                ),
            ));
        }
        if seen.contains(&f.name) {
            return Err(at(fn_line, format!("task {} is defined twice", f.name)));
        }
        seen.push(f.name);
        let doc = comment
            .lines()
            .map(|l| l.trim_start_matches('/').trim())
            .filter(|l| !l.starts_with("@task") && !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        tasks.push((
            fn_line,
            TaskDecl {
                name: f.name.to_string(),
                weight,
                doc,
            },
        ));
    }
    // In source order: Rhai lists functions in hash order.
    tasks.sort_by_key(|(line, _)| *line);
    Ok(tasks.into_iter().map(|(_, t)| t).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_markers() {
        assert_eq!(task_weight("/// @task(5)\n/// Browse."), Ok(Some(5)));
        assert_eq!(task_weight("/// @task"), Ok(Some(1)));
        assert_eq!(task_weight("/// Just a helper."), Ok(None));
        assert!(
            task_weight("/// @task(0)")
                .unwrap_err()
                .contains("positive")
        );
        assert!(task_weight("/// @task(-2)").is_err());
        assert!(
            task_weight("/// @task(x)")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(task_weight("/// @tasks").is_err());
    }

    #[test]
    fn wait_specs() {
        assert_eq!(WaitSpec::parse("0"), Ok(WaitSpec::Constant(0.0)));
        assert_eq!(WaitSpec::parse("1..5"), Ok(WaitSpec::Between(1.0, 5.0)));
        assert!(WaitSpec::parse("5..1").is_err());
        assert!(WaitSpec::parse("-1").is_err());
        assert!(WaitSpec::parse("soon").is_err());
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        use rand::SeedableRng;
        for _ in 0..100 {
            let d = WaitSpec::Between(1.0, 2.0).after(Duration::ZERO, &mut rng);
            assert!((1.0..=2.0).contains(&d.as_secs_f64()));
        }
    }

    #[test]
    fn pacing_counts_from_the_start_of_the_last_task() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        use rand::SeedableRng;
        let ms = Duration::from_millis;
        assert_eq!(WaitSpec::Pacing(2.0).after(ms(500), &mut rng), ms(1500));
        assert_eq!(WaitSpec::Pacing(2.0).after(ms(2500), &mut rng), ms(0));
        assert_eq!(WaitSpec::Throughput(4.0).after(ms(100), &mut rng), ms(150));
        assert_eq!(WaitSpec::Constant(1.0).after(ms(900), &mut rng), ms(1000));
        assert!(WaitSpec::Throughput(0.0).check().is_err());
        assert!(WaitSpec::Pacing(-1.0).check().is_err());
    }

    #[test]
    fn finds_the_lines_of_a_task() {
        let src = "// x\n/// @task(2)\n/// Doc.\nfn browse() {}\n";
        assert_eq!(fn_lines(src, "browse"), (4, 2));
    }
}
