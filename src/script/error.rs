//! Script errors with the file, line and column they come from.

use std::fmt;
use std::path::PathBuf;

use rhai::{EvalAltResult, Position};

/// A script that cannot be used, or a task that failed, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScriptError {
    pub file: PathBuf,
    /// 1-based; 0 when the error has no position in the file.
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl ScriptError {
    pub fn new(file: impl Into<PathBuf>, pos: Position, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: pos.line().unwrap_or(0),
            col: pos.position().unwrap_or(0),
            message: message.into(),
        }
    }

    /// `file:line:col`, or `file:line`, or `file` as far as the position is known.
    pub fn location(&self) -> String {
        match (self.line, self.col) {
            (0, _) => self.file.display().to_string(),
            (l, 0) => format!("{}:{l}", self.file.display()),
            (l, c) => format!("{}:{l}:{c}", self.file.display()),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.message)
    }
}

/// Where a runtime error really happened: the innermost function call's source and position,
/// not the call site in the task that led to it.
pub fn locate(default_file: &str, err: &EvalAltResult) -> ScriptError {
    let mut file = default_file.to_string();
    let mut err = err;
    while let EvalAltResult::ErrorInFunctionCall(_, source, inner, _)
    | EvalAltResult::ErrorInModule(source, inner, _) = err
    {
        if !source.is_empty() {
            file = source.clone();
        }
        err = inner;
    }
    let message = innermost_message(err);
    ScriptError::new(file, err.position(), message)
}

/// The error's own text, without Rhai's trailing " (line 3, position 5)", with a hint for the
/// limits a runaway script hits.
fn innermost_message(err: &EvalAltResult) -> String {
    let hint = match err {
        EvalAltResult::ErrorTooManyOperations(_) => {
            " (the task ran past its operation limit: an endless loop?)"
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            " (calls nested past the call-depth limit: endless recursion?)"
        }
        EvalAltResult::ErrorDataTooLarge(..) => " (past the sandbox's size limit)",
        _ => "",
    };
    let text = match err {
        // A script's `throw` or a host function's refusal: the message is the whole story.
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        _ => err.to_string(),
    };
    let text = match text.rfind(" (line ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    };
    format!("{text}{hint}")
}

/// Rhai reports the limits' errors (operations, stack, sizes) at the position of the outermost
/// call, which for a task is none: such an error is placed on the line of the function that
/// was called instead.
pub fn place_in_function(
    err: &mut ScriptError,
    script_file: &std::path::Path,
    function: &str,
    line: usize,
) {
    if err.line == 0 && err.file == script_file && line > 0 {
        err.line = line;
        err.col = 0;
        err.message = format!("{} in {function}()", err.message);
    }
}
