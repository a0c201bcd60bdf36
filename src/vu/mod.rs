//! Virtual users: a script reads like blocking code while its I/O is async.
//!
//! A running task is a stackful coroutine (corosensei) on a pooled stack; when a host function
//! needs I/O it suspends the coroutine with an [`Io`] request, the user's async driver performs
//! it on the worker's current-thread runtime and resumes the coroutine with the result. Between
//! tasks a user is its state and a timer. Workers (one thread and runtime per core) own the
//! users; only the scheduler starts and stops them.

mod arrivals;
mod caches;
mod ctx;
mod stack;
mod task;
mod timer;
mod user;
mod worker;

pub use user::{RunOptions, VuSpec};
pub use worker::{OPEN_MODEL_WARMUP, TransportSpec, Worker, WorkerCmd, WorkerShared};

use std::time::Duration;

use bytes::Bytes;

use crate::stats::recorder::ReplyOutcome;
use crate::telegram::BotEvent;
use crate::transport::Posted;

/// What a suspended task asks its driver to do.
#[derive(Debug)]
pub(crate) enum Io {
    /// `name` is the request's name in the statistics (a command or a kind).
    Post {
        name: String,
        body: Bytes,
        /// A callback query, which the bot may answer with answerCallbackQuery alone.
        callback: bool,
    },
    Sleep(Duration),
}

/// What the driver resumes a task with.
#[derive(Debug)]
pub(crate) enum Resume {
    Start,
    Posted(RoundTrip),
    Slept,
}

/// One update's round trip as a task sees it.
#[derive(Debug)]
pub(crate) struct RoundTrip {
    pub posted: Posted,
    /// What the bot did in this chat (replies, chat actions), in order.
    pub events: Vec<BotEvent>,
    pub reply: ReplyOutcome,
}
