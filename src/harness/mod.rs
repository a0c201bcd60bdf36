//! In-process bot stacks for checks and tests: the demo bot wired to the Bot API stand-in on
//! loopback ports ([`LocalStack`]), and one test user talking to a bot an update at a time
//! ([`ChatUser`]). The load runtime does not use these; `stress run`, `stress selfcheck` and the
//! integration tests do.

mod chat;
mod stack;

pub use chat::{ChatUser, Exchange};
pub use stack::LocalStack;
