//! `stress`: a load tester for Telegram bots whose virtual users are Rhai scripts.
//!
//! The modules form layers, and a module only uses the layers above it in this list (the test
//! `layers` in `tests/it` checks it; ARCHITECTURE.md walks through the data flow):
//!
//! 1. vocabulary: [`telegram`] (Bot API objects, updates, test-user pools), [`profile`] (load
//!    shapes, flag overrides, the pool-capacity rule), [`script`] (compiled user classes);
//! 2. the results model: [`report`] (everything a result file holds, and the views of it);
//! 3. the runtime: [`server`] (the HTTP server loop with its timeouts), [`stats`], [`botapi`] (the Bot API stand-in), [`demo_bot`], [`transport`],
//!    [`harness`] (in-process bot stacks for checks and tests), [`vu`] (virtual users and their
//!    worker threads), [`scheduler`], [`reload`];
//! 4. evaluation and presentation: [`threshold`], [`output`], [`control`];
//! 5. the commands: [`cli`] (what the user typed), [`config`] (typed, checked values), [`cmd`]
//!    (one module per subcommand).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod profile;
pub mod script;
pub mod telegram;

pub mod report;

pub mod botapi;
pub mod demo_bot;
pub mod harness;
pub(crate) mod reload;
pub mod scheduler;
pub mod server;
pub mod stats;
pub mod transport;
pub mod vu;

pub(crate) mod control;
pub mod output;
pub mod threshold;

pub mod cli;
pub mod cmd;
pub mod config;

pub use cmd::{EXIT_THRESHOLD, EXIT_USAGE, exit_code, run};
