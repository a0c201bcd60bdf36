//! User classes written in Rhai: compiling scripts, reading their declarations (class, tier,
//! weight, wait time, `@task(N)` weights), and the sandboxed engines tasks run on.
//!
//! A script's top level runs once, at load: its `import`s, its constants and its
//! `user_class(..)` declaration. The module that run makes is registered on an engine of the
//! class's own, and tasks are called through it (the top level is not run again): each call
//! carries the script's environment (imports, `global::` constants) and pays for nothing but
//! the task (docs/design-notes.md). Calls resolve names through caches earlier tasks of the
//! class warmed (`vu::caches`), unless a name means different functions in different places of
//! the class (`shadow`).

mod calls;
mod decl;
mod engine;
mod error;
pub mod host;
mod imports;
mod reply;
mod set;
mod shadow;
pub mod shipped;
pub mod state;
mod table;

pub use decl::{ClassDecl, TaskDecl, WaitSpec};
pub use engine::Limits;
pub use error::{ScriptError, locate, place_in_function};
pub use reply::Reply;
pub use set::{ClassScript, Found, ScriptSet, compile, compile_any, discover};
#[cfg(test)]
pub use shadow::fixture;
pub use table::{ClassSlot, ClassTable, ReloadOutcome};
