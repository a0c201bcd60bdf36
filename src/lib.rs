//! `stress`: a load tester for Telegram bots whose virtual users are Rhai scripts.
//!
//! The pipeline (see DESIGN.md): scripts and a profile drive virtual users, whose host calls
//! build Telegram updates ([`telegram`]) and POST them to a bot's webhook; the Bot API stand-in
//! ([`botapi`]) catches the bot's replies; the demo bot ([`target`]) is the bot to test when the
//! user brings none, started in-process by [`local`].

pub mod botapi;
pub mod chat;
pub mod check;
pub mod cli;
pub mod config;
pub mod control;
pub mod load;
pub mod local;
pub mod output;
pub mod profile;
pub mod reload;
mod run;
pub mod scheduler;
pub mod script;
pub mod selfcheck;
pub mod stats;
pub mod target;
pub mod telegram;
pub mod threshold;
pub mod transport;
pub mod vu;

pub use run::{EXIT_THRESHOLD, EXIT_USAGE, exit_code, run};
