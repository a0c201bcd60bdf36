//! Running one script function as a coroutine, driven by the user's async loop.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use corosensei::{Coroutine, CoroutineResult, Yielder};
use rhai::{Caches, Dynamic, EvalAltResult, EvalContext, Scope};

use super::ctx::VuCtx;
use super::{Io, Resume, caches, stack};
use crate::script::host::{self, Host};
use crate::script::{ClassScript, ScriptError, locate, place_in_function};

/// Which function of a script to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    Task(usize),
    OnStart,
    OnStop,
}

impl Entry {
    pub(crate) fn name(self, script: &ClassScript) -> &str {
        match self {
            Entry::Task(i) => &script.tasks[i].name,
            Entry::OnStart => "on_start",
            Entry::OnStop => "on_stop",
        }
    }
}

/// The outcome of one step of a task.
pub(crate) enum Step {
    Io(Io),
    Done(Result<(), ScriptError>),
}

type Output = (Dynamic, Result<(), ScriptError>);

/// Whether a call ended with the script's `exit()`: the task ends there, without an error.
fn ended_by_exit(mut err: &EvalAltResult) -> bool {
    while let EvalAltResult::ErrorInFunctionCall(.., inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = err
    {
        err = inner;
    }
    matches!(err, EvalAltResult::Exit(..))
}

/// Calls the script function `name` with `state` bound to `this`, as
/// `Engine::call_fn_with_options` would, but resolving names through `caches`.
fn call(
    script: &ClassScript,
    caches: &mut Caches,
    name: &str,
    state: &mut Dynamic,
) -> Result<(), Box<EvalAltResult>> {
    let mut global = script.engine.new_global_runtime_state();
    global.source = Some(script.source.clone());
    let mut scope = Scope::new();
    let mut ctx = EvalContext::new(&script.engine, &mut global, caches, &mut scope, None);
    match ctx.call_fn_raw(name, true, true, &mut [state]) {
        Ok(_) => Ok(()),
        // As `call_fn` does: an error inside the called function is reported as its own.
        Err(err) => match *err {
            EvalAltResult::ErrorInFunctionCall(fn_name, _, inner, _) if fn_name == name => {
                Err(inner)
            }
            _ => Err(err),
        },
    }
}

/// A task in progress. Dropping it while suspended unwinds the task's stack cleanly.
pub(crate) struct RunningTask {
    coroutine: Option<Coroutine<Resume, Io, Output, corosensei::stack::DefaultStack>>,
    ctx: *mut VuCtx,
    script: Arc<ClassScript>,
    entry: Entry,
    state: Option<Dynamic>,
}

impl RunningTask {
    /// Prepares `entry` of `script` to run as the user `ctx`, on `state` (bound to `this`).
    ///
    /// # Safety
    /// `ctx` must point to a live `VuCtx` that outlives the task, and that nothing else touches
    /// while [`resume`](Self::resume) runs.
    pub unsafe fn new(
        script: Arc<ClassScript>,
        entry: Entry,
        ctx: *mut VuCtx,
        state: Dynamic,
    ) -> Result<Self, (Dynamic, ScriptError)> {
        let stack = match stack::take() {
            Ok(s) => s,
            Err(e) => {
                let err = ScriptError {
                    file: script.file.clone(),
                    line: script.line_of(entry.name(&script)),
                    col: 0,
                    message: format!(
                        "cannot map a coroutine stack for {}(): {e} (each running task needs \
                         two memory mappings: see `sysctl vm.max_map_count` and `ulimit -v`)",
                        entry.name(&script)
                    ),
                };
                return Err((state, err));
            }
        };
        let s = script.clone();
        let coroutine = Coroutine::with_stack(stack, move |y: &Yielder<Resume, Io>, _: Resume| {
            // SAFETY: `ctx` outlives the task (the user owns both), and the driver does not
            // touch it while the coroutine runs.
            unsafe { (*ctx).yielder = y };
            let mut state = state;
            let name = entry.name(&s);
            let mut lease = caches::Lease::new(&s);
            let result = call(&s, lease.caches(), name, &mut state)
                .or_else(|e| if ended_by_exit(&e) { Ok(()) } else { Err(e) })
                .map_err(|e| {
                    let mut err = locate(&s.source, &e);
                    place_in_function(&mut err, &s.file, name, s.line_of(name));
                    err
                });
            (state, result)
        });
        Ok(Self {
            coroutine: Some(coroutine),
            ctx,
            script,
            entry,
            state: None,
        })
    }

    /// Resumes the task until it asks for I/O or ends.
    pub fn resume(&mut self, input: Resume) -> Step {
        let Some(coroutine) = self.coroutine.as_mut() else {
            return Step::Done(Ok(()));
        };
        let host: *mut (dyn Host + 'static) = self.ctx;
        // SAFETY: `new`'s contract: `ctx` is live and untouched by anyone else during `resume`.
        let step = unsafe {
            host::enter(host, || {
                catch_unwind(AssertUnwindSafe(|| coroutine.resume(input)))
            })
        };
        match step {
            Ok(CoroutineResult::Yield(io)) => Step::Io(io),
            Ok(CoroutineResult::Return((state, result))) => {
                let coroutine = self.coroutine.take().expect("present");
                stack::give(coroutine.into_stack());
                self.state = Some(state);
                Step::Done(result)
            }
            Err(panic) => {
                // The coroutine is finished; its stack is not reused.
                self.coroutine = None;
                stack::lost();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let name = self.entry.name(&self.script);
                Step::Done(Err(ScriptError {
                    file: self.script.file.clone(),
                    line: self.script.line_of(name),
                    col: 0,
                    message: format!("{name}() panicked in a host function (a bug): {what}"),
                }))
            }
        }
    }

    /// The user's state after the task ended (a fresh map if the task panicked).
    pub fn into_state(mut self) -> Dynamic {
        self.state
            .take()
            .unwrap_or_else(|| Dynamic::from_map(Default::default()))
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        if let Some(mut coroutine) = self.coroutine.take() {
            // Abandoned while suspended: the task's frames are unwound (its values dropped),
            // and the stack goes back to the pool rather than being unmapped.
            if coroutine.started() && !coroutine.done() {
                coroutine.force_unwind();
            }
            stack::give(coroutine.into_stack());
        }
    }
}
