//! The host functions scripts call, and how they reach the virtual user that runs them.
//!
//! Engines are shared by every virtual user of a class (and across threads), so the functions
//! cannot capture a user. The user running a task is instead installed in a thread-local slot
//! while its coroutine is resumed ([`enter`]); a host function finds it there. Outside a task
//! (at a script's top level, which runs once at load) the slot is empty and the functions say so.
//!
//! Checklist for a new host function: register it in [`register`], give [`Host`] a method if it
//! needs the user, list it in the function table of README.md's "Writing user classes", and
//! use it in a test.

use std::cell::Cell;
use std::ptr::NonNull;
use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext, Position};

use super::decl::{WaitSpec, between, constant};
use crate::telegram::Tier;
use crate::telegram::build::MediaKind;

/// What a script asks to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outgoing<'a> {
    Text(&'a str),
    Command {
        command: &'a str,
        args: &'a str,
    },
    Media {
        kind: MediaKind,
        caption: Option<&'a str>,
    },
    Callback(&'a str),
}

/// Where in a script a host function was called: the script's or module's file, and the
/// position of the call.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub source: Option<&'a str>,
    pub pos: Position,
}

impl<'a> Site<'a> {
    fn of(ctx: &'a NativeCallContext<'_>) -> Self {
        Self {
            source: ctx.call_source(),
            pos: ctx.call_position(),
        }
    }
}

impl std::fmt::Display for Site<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.source.unwrap_or("the script");
        match (self.pos.line(), self.pos.position()) {
            (Some(line), Some(col)) => write!(f, "{source}:{line}:{col}"),
            (Some(line), None) => write!(f, "{source}:{line}"),
            _ => write!(f, "{source}"),
        }
    }
}

/// How loud a script's line is: `log()` and `print()` say, `debug()` whispers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Debug,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// The virtual user a task runs as, seen from the host functions.
pub trait Host {
    /// Sends an update and returns the reply object (a [`super::Reply`]).
    fn send(&mut self, out: Outgoing<'_>, site: Site<'_>) -> Result<Dynamic, Box<EvalAltResult>>;
    /// Pauses the task (suspends its coroutine).
    fn wait(&mut self, duration: Duration);
    fn rng(&mut self) -> &mut SmallRng;
    fn check(&mut self, name: &str, passed: bool, site: Site<'_>);
    /// A line the script logged (`log`, `print`, `debug`).
    fn log(&mut self, level: LogLevel, text: &str, site: Site<'_>);
    fn user_id(&self) -> i64;
    fn tier(&self) -> Tier;
    fn vu(&self) -> u64;
    /// A test-user id of `tier` for /grant and /revoke, from the end of its pool.
    fn test_user_id(&mut self, tier: Tier) -> Result<i64, String>;
}

type HostPtr = NonNull<dyn Host + 'static>;

thread_local! {
    static CURRENT: Cell<Option<HostPtr>> = const { Cell::new(None) };
}

/// Runs `f` (which resumes a task's coroutine) with `host` as the user its host functions see.
///
/// # Safety
/// `host` must point to a live `Host` that stays valid, and that nothing but the host functions
/// called inside `f` touches, until `f` returns.
pub(crate) unsafe fn enter<R>(host: *mut (dyn Host + 'static), f: impl FnOnce() -> R) -> R {
    struct Restore(Option<HostPtr>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let previous = CURRENT.with(|c| c.replace(NonNull::new(host)));
    let _restore = Restore(previous);
    f()
}

/// A line from Rhai's own `print` or `debug`: the running user's when a task runs (with the
/// task's source and position, where Rhai gives them), the tool's log otherwise.
pub(crate) fn logged(level: LogLevel, text: &str, source: Option<&str>, pos: Position) {
    let site = Site { source, pos };
    match CURRENT.with(Cell::get) {
        // SAFETY: as in `with_host`: a pointer set by `enter` for exactly the resume of a task
        // on this thread, and Rhai calls its print and debug callbacks inside that resume.
        Some(mut ptr) => unsafe { ptr.as_mut() }.log(level, text, site),
        None => tracing::info!(target: "script", "{site}: {text}"),
    }
}

fn error(message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), pos).into()
}

/// The user running the current task, or an error naming the function for top-level calls.
fn with_host<R>(
    ctx: &NativeCallContext,
    f: impl FnOnce(&mut dyn Host) -> Result<R, Box<EvalAltResult>>,
) -> Result<R, Box<EvalAltResult>> {
    let Some(mut ptr) = CURRENT.with(Cell::get) else {
        return Err(error(
            format!(
                "{}() can only be called inside a task, on_start or on_stop, not at a script's top level",
                ctx.fn_name()
            ),
            ctx.call_position(),
        ));
    };
    // SAFETY: `enter` installs a pointer to a live host for exactly the duration of a resume
    // on this thread, and host functions only run inside that resume. Nothing else holds a
    // reference to the host meanwhile: the driver does not touch it while the task runs.
    let host = unsafe { ptr.as_mut() };
    f(host)
}

type Res<T> = Result<T, Box<EvalAltResult>>;

fn seconds(ctx: &NativeCallContext, v: &Dynamic) -> Res<Duration> {
    if let Some(spec) = v.clone().try_cast::<WaitSpec>() {
        return with_host(ctx, |h| Ok(spec.after(Duration::ZERO, h.rng())));
    }
    let s = v
        .as_float()
        .ok()
        .or_else(|| v.as_int().ok().map(|i| i as f64))
        .ok_or_else(|| {
            error(
                format!("wait() takes seconds or a wait spec, not {}", v.type_name()),
                ctx.call_position(),
            )
        })?;
    if !(s.is_finite() && (0.0..=86_400.0).contains(&s)) {
        return Err(error(
            format!("wait({s}): seconds must be between 0 and 86400"),
            ctx.call_position(),
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

fn media_kind(ctx: &NativeCallContext, kind: &str) -> Res<MediaKind> {
    kind.parse::<MediaKind>()
        .map_err(|e| error(format!("send_media: {e}"), ctx.call_position()))
}

fn tier_arg(ctx: &NativeCallContext, tier: &str) -> Res<Tier> {
    tier.parse::<Tier>()
        .map_err(|e| error(format!("{}: {e}", ctx.fn_name()), ctx.call_position()))
}

/// Registers every host function on `engine`. `user_class` is not among them: it exists only
/// while a script's top level runs (see `set.rs`).
pub(crate) fn register(engine: &mut Engine) {
    super::reply::register(engine);
    engine.register_type_with_name::<WaitSpec>("Wait");
    engine.register_fn("between", between);
    engine.register_fn("constant", constant);
    engine.register_fn("pacing", super::decl::pacing);
    engine.register_fn("throughput", super::decl::throughput);

    engine.register_fn("send_text", |ctx: NativeCallContext, text: &str| {
        let site = Site::of(&ctx);
        with_host(&ctx, |h| h.send(Outgoing::Text(text), site))
    });
    engine.register_fn("send_command", |ctx: NativeCallContext, command: &str| {
        let site = Site::of(&ctx);
        with_host(&ctx, |h| {
            h.send(Outgoing::Command { command, args: "" }, site)
        })
    });
    engine.register_fn(
        "send_command",
        |ctx: NativeCallContext, command: &str, args: &str| {
            let site = Site::of(&ctx);
            with_host(&ctx, |h| h.send(Outgoing::Command { command, args }, site))
        },
    );
    engine.register_fn("send_media", |ctx: NativeCallContext, kind: &str| {
        let kind = media_kind(&ctx, kind)?;
        let site = Site::of(&ctx);
        with_host(&ctx, |h| {
            h.send(
                Outgoing::Media {
                    kind,
                    caption: None,
                },
                site,
            )
        })
    });
    engine.register_fn(
        "send_media",
        |ctx: NativeCallContext, kind: &str, caption: &str| {
            let kind = media_kind(&ctx, kind)?;
            let site = Site::of(&ctx);
            with_host(&ctx, |h| {
                h.send(
                    Outgoing::Media {
                        kind,
                        caption: Some(caption),
                    },
                    site,
                )
            })
        },
    );
    engine.register_fn("send_callback", |ctx: NativeCallContext, data: &str| {
        let site = Site::of(&ctx);
        with_host(&ctx, |h| h.send(Outgoing::Callback(data), site))
    });

    engine.register_fn("wait", |ctx: NativeCallContext, v: Dynamic| -> Res<()> {
        let d = seconds(&ctx, &v)?;
        with_host(&ctx, |h| {
            h.wait(d);
            Ok(())
        })
    });

    engine.register_fn(
        "pick",
        // By reference: `pick(list)` on a variable does not copy the list.
        |ctx: NativeCallContext, items: &mut Array| -> Res<Dynamic> {
            if items.is_empty() {
                return Err(error(
                    "pick([]): the array is empty".into(),
                    ctx.call_position(),
                ));
            }
            with_host(&ctx, |h| {
                let i = h.rng().random_range(0..items.len());
                Ok(items[i].clone())
            })
        },
    );
    engine.register_fn(
        "chance",
        |ctx: NativeCallContext, p: Dynamic| -> Res<bool> {
            let p = p
                .as_float()
                .ok()
                .or_else(|| p.as_int().ok().map(|i| i as f64))
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| {
                    error(
                        "chance(p) takes a probability between 0 and 1".into(),
                        ctx.call_position(),
                    )
                })?;
            with_host(&ctx, |h| Ok(h.rng().random_bool(p)))
        },
    );
    engine.register_fn(
        "rand_int",
        |ctx: NativeCallContext, a: i64, b: i64| -> Res<i64> {
            if a > b {
                return Err(error(
                    format!("rand_int({a}, {b}): the first bound is above the second"),
                    ctx.call_position(),
                ));
            }
            with_host(&ctx, |h| Ok(h.rng().random_range(a..=b)))
        },
    );

    engine.register_fn(
        "check",
        |ctx: NativeCallContext, name: &str, passed: bool| -> Res<bool> {
            let site = Site::of(&ctx);
            with_host(&ctx, |h| {
                h.check(name, passed, site);
                Ok(passed)
            })
        },
    );
    // `print` and `debug` are Rhai's own statements: the engine hands them to `logged`.
    engine.register_fn("log", |ctx: NativeCallContext, v: Dynamic| -> Res<()> {
        let text = if v.is_string() {
            v.into_immutable_string().unwrap_or_default()
        } else {
            ImmutableString::from(v.to_string())
        };
        let site = Site::of(&ctx);
        if CURRENT.with(Cell::get).is_none() {
            // At a script's top level (while loading): no user to name.
            tracing::info!(target: "script", "{site}: {text}");
            return Ok(());
        }
        with_host(&ctx, |h| {
            h.log(LogLevel::Info, &text, site);
            Ok(())
        })
    });

    engine.register_fn("user_id", |ctx: NativeCallContext| {
        with_host(&ctx, |h| Ok(h.user_id()))
    });
    engine.register_fn("tier", |ctx: NativeCallContext| {
        with_host(&ctx, |h| Ok(h.tier().as_str().to_string()))
    });
    engine.register_fn("vu", |ctx: NativeCallContext| {
        with_host(&ctx, |h| Ok(h.vu() as i64))
    });
    engine.register_fn("test_user_id", |ctx: NativeCallContext, tier: &str| {
        let tier = tier_arg(&ctx, tier)?;
        let pos = ctx.call_position();
        with_host(&ctx, |h| h.test_user_id(tier).map_err(|e| error(e, pos)))
    });
}
