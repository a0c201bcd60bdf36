//! `stress`: a load tester for Telegram bots whose virtual users are Rhai scripts.
//!
//! The pipeline (see DESIGN.md): scripts and a profile drive virtual users, whose host calls
//! build Telegram updates ([`telegram`]) and POST them to a bot's webhook; the Bot API stand-in
//! ([`botapi`]) catches the bot's replies; the demo bot ([`target`]) is the bot to test when the
//! user brings none.

pub mod botapi;
pub mod telegram;
