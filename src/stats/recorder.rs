//! One worker thread's recorder: the samples of the current interval, keyed by request name,
//! task, check and error location. Owned by the thread (an `Rc<RefCell<..>>`, never shared
//! across threads); [`Recorder::take`] hands the interval to the aggregator.

use std::collections::HashMap;
use std::time::Duration;

use ahash::RandomState;

use hdrhistogram::Histogram;

use super::hist;
use super::names::{LocalNames, NameKind, OTHER};
use crate::report::{ErrorKind, LogLine};
use crate::script::ScriptError;

/// Requests of one name (a command such as `/help`, or a kind such as `text`).
#[derive(Debug, Clone)]
pub struct RequestStats {
    /// Webhook latency of every request, failed or not.
    pub latency: Histogram<u64>,
    pub failures: [u64; ErrorKind::ALL.len()],
    /// Time from the send to the bot's first reply, when one came.
    pub reply: Histogram<u64>,
    /// Requests whose reply was awaited and did not come in time.
    pub no_reply: u64,
    /// Of `latency`: waiting for a connection (or a polling bot's fetch), and the rest (the
    /// network and the bot).
    pub queue: Histogram<u64>,
    /// Requests that found a connection free: zeros of `queue`, counted here (an increment)
    /// and put in the histogram when the interval is merged.
    pub unqueued: u64,
    pub service: Histogram<u64>,
    /// Time from the send to the bot's last reply to it, when one came.
    pub last_reply: Histogram<u64>,
    /// Replies credited to these requests (a bot may send several per update).
    pub reply_messages: u64,
    /// Replies that came after their send had returned (after the user's next send).
    pub late_replies: u64,
    /// Time from the send to the bot's first acknowledgement (a callback's answer, a chat
    /// action), when one came.
    pub ack: Histogram<u64>,
    /// Requests the host refused to send (counted, with no latency).
    pub unsent: u64,
    /// Bytes of the bot's answers (the webhook response bodies).
    pub bytes: u64,
    /// With `--redeliver`: deliveries repeated after a failed one, updates given up on, and
    /// replies the bot sent again for an update it had answered.
    pub redeliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
}

impl Default for RequestStats {
    fn default() -> Self {
        Self {
            latency: hist::new(),
            failures: [0; ErrorKind::ALL.len()],
            reply: hist::new(),
            no_reply: 0,
            queue: hist::lazy(),
            unqueued: 0,
            service: hist::lazy(),
            last_reply: hist::lazy(),
            reply_messages: 0,
            late_replies: 0,
            ack: hist::lazy(),
            unsent: 0,
            bytes: 0,
            redeliveries: 0,
            lost: 0,
            duplicates: 0,
        }
    }
}

impl RequestStats {
    pub fn count(&self) -> u64 {
        self.latency.len() + self.unsent
    }

    pub fn failed(&self) -> u64 {
        self.failures.iter().sum()
    }

    /// A request whose outcome is known: its latency, its failure if any, the answer's size.
    fn answered(&mut self, latency: Duration, error: Option<ErrorKind>, bytes: u64) {
        hist::record(&mut self.latency, latency);
        self.bytes += bytes;
        if let Some(kind) = error {
            self.failures[kind.index()] += 1;
        }
    }

    pub fn merge(&mut self, other: &RequestStats) {
        hist::merge(&mut self.latency, &other.latency);
        hist::merge(&mut self.reply, &other.reply);
        for (a, b) in self.failures.iter_mut().zip(other.failures) {
            *a += b;
        }
        self.no_reply += other.no_reply;
        hist::merge(&mut self.queue, &other.queue);
        if other.unqueued > 0 {
            // The histogram's lowest value stands for zero, as `hist::record` clamps it.
            self.queue.saturating_record_n(1, other.unqueued);
        }
        hist::merge(&mut self.service, &other.service);
        hist::merge(&mut self.last_reply, &other.last_reply);
        self.reply_messages += other.reply_messages;
        self.late_replies += other.late_replies;
        hist::merge(&mut self.ack, &other.ack);
        self.unsent += other.unsent;
        self.bytes += other.bytes;
        self.redeliveries += other.redeliveries;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
    }
}

/// Calls of one task.
#[derive(Debug, Clone)]
pub struct TaskStats {
    pub duration: Histogram<u64>,
    /// Calls that ended in a script error.
    pub errors: u64,
}

impl Default for TaskStats {
    fn default() -> Self {
        Self {
            duration: hist::new(),
            errors: 0,
        }
    }
}

impl TaskStats {
    pub fn count(&self) -> u64 {
        self.duration.len()
    }

    pub fn merge(&mut self, other: &TaskStats) {
        hist::merge(&mut self.duration, &other.duration);
        self.errors += other.errors;
    }
}

/// Where a script error happened, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorKey {
    pub class: String,
    /// `file:line:col`.
    pub location: String,
    pub message: String,
}

/// Which failures count together: one request name, one kind, one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailureKey {
    pub name: Box<str>,
    pub kind: ErrorKind,
    /// The bot's status, 0 when there was no answer.
    pub status: u16,
}

/// Passed and failed counts of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCounts {
    pub passed: u64,
    pub failed: u64,
}

/// Samples by name. Every sample looks its name up, so the hash is aHash (already built for
/// rhai) rather than SipHash: names come from the scripts, not from an adversary.
pub type ByName<V> = HashMap<Box<str>, V, RandomState>;

/// Everything recorded during one interval.
#[derive(Debug, Clone, Default)]
pub struct Interval {
    /// Seconds since the run's start at the end of the interval.
    pub second: u64,
    pub requests: ByName<RequestStats>,
    /// Class name, then task name.
    pub tasks: ByName<ByName<TaskStats>>,
    pub checks: ByName<CheckCounts>,
    pub errors: HashMap<ErrorKey, u64>,
    /// How late users woke from their waits (none recorded yet: `None`).
    pub lateness: Option<Histogram<u64>>,
    /// Names counted under [`OTHER`] because their kind's limit was reached.
    pub overflows: std::collections::BTreeMap<NameKind, Overflow>,
    /// Failed requests by name, kind and HTTP status (0 without an answer): how many, and the
    /// latest one's message.
    pub failures: HashMap<FailureKey, (u64, String), RandomState>,
    /// Lines scripts logged ([`LOG_LINES_PER_INTERVAL`] at most).
    pub logs: Vec<LogLine>,
    /// Lines past a call site's rate or the interval's room: counted, not kept.
    pub logs_suppressed: u64,
    /// Task starts the open model (`--arrival-rate`) dropped for want of a free user, by class.
    pub dropped: ByName<u64>,
}

/// Lines one call site (`file:line:col`) may log per second; past it they are counted only,
/// so a `log()` in a hot task cannot flood the terminal or the result.
pub const LOG_LINES_PER_SITE: u32 = 5;

/// Lines a worker keeps per interval (second) for the result.
pub const LOG_LINES_PER_INTERVAL: usize = 100;

/// Samples past a kind's name limit: the first such name, where the script made it, and how
/// many samples were counted under [`OTHER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    pub first: String,
    /// `file:line:col` of the call (or the error) that made it.
    pub at: String,
    pub samples: u64,
}

impl Interval {
    pub fn is_empty(&self) -> bool {
        self.lateness.is_none()
            && self.requests.is_empty()
            && self.tasks.is_empty()
            && self.checks.is_empty()
            && self.errors.is_empty()
            && self.overflows.is_empty()
            && self.logs.is_empty()
            && self.logs_suppressed == 0
            && self.failures.is_empty()
            && self.dropped.is_empty()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Interval) {
        for (class, n) in &other.dropped {
            *self.dropped.entry(class.clone()).or_default() += n;
        }
        for (name, r) in &other.requests {
            self.requests.entry(name.clone()).or_default().merge(r);
        }
        for (class, tasks) in &other.tasks {
            let mine = self.tasks.entry(class.clone()).or_default();
            for (task, t) in tasks {
                mine.entry(task.clone()).or_default().merge(t);
            }
        }
        for (name, c) in &other.checks {
            let mine = self.checks.entry(name.clone()).or_default();
            mine.passed += c.passed;
            mine.failed += c.failed;
        }
        for (key, n) in &other.errors {
            *self.errors.entry(key.clone()).or_default() += n;
        }
        if let Some(late) = &other.lateness {
            hist::merge(self.lateness.get_or_insert_with(hist::new), late);
        }
        for (key, (n, message)) in &other.failures {
            let mine = self
                .failures
                .entry(key.clone())
                .or_insert_with(|| (0, String::new()));
            mine.0 += n;
            mine.1.clone_from(message);
        }
        self.logs.extend(other.logs.iter().cloned());
        self.logs_suppressed += other.logs_suppressed;
        for (kind, o) in &other.overflows {
            self.overflows
                .entry(*kind)
                .and_modify(|mine| mine.samples += o.samples)
                .or_insert_with(|| o.clone());
        }
    }
}

/// The rest of what a send collected: its last reply, how many replies, its first
/// acknowledgement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyDetails {
    pub last: Option<Duration>,
    pub replies: u32,
    pub ack: Option<Duration>,
}

/// How a send's reply went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Replies were not awaited (no stand-in, `--no-await-reply`, or the request failed).
    NotAwaited,
    Missing,
    After(Duration),
}

/// A worker thread's recorder.
#[derive(Debug, Default)]
pub struct Recorder {
    current: Interval,
    /// The run's name limits (none: every name is kept apart, for tests and benches).
    names: Option<LocalNames>,
    /// Per log call site (a hash of `file:line:col`): the second and the lines in it.
    log_rate: HashMap<u64, (u64, u32), RandomState>,
    /// The run's start, for the time of a logged line.
    started: Option<std::time::Instant>,
}

fn entry<'a, V: Default>(map: &'a mut ByName<V>, key: &str) -> &'a mut V {
    // Look up by &str first: the key is allocated once per name, not per sample.
    if !map.contains_key(key) {
        map.insert(key.into(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl Recorder {
    /// A recorder that holds names to the run's limits.
    pub fn with_limits(names: LocalNames, started: std::time::Instant) -> Self {
        Self {
            names: Some(names),
            started: Some(started),
            ..Self::default()
        }
    }

    /// Seconds since the run's start.
    pub fn elapsed_s(&self) -> f64 {
        self.started.map_or(0.0, |s| s.elapsed().as_secs_f64())
    }

    /// Whether a line logged now from call site `site` (a hash of its `file:line:col`) is kept
    /// and shown; if not, it is counted as suppressed.
    pub fn admit_log(&mut self, site: u64) -> bool {
        let second = self.elapsed_s() as u64;
        let (at, lines) = self.log_rate.entry(site).or_insert((second, 0));
        if *at != second {
            *at = second;
            *lines = 0;
        }
        *lines += 1;
        let kept = *lines <= LOG_LINES_PER_SITE && self.current.logs.len() < LOG_LINES_PER_INTERVAL;
        if !kept {
            self.current.logs_suppressed += 1;
        }
        kept
    }

    /// A line [`admit_log`](Self::admit_log) let through.
    pub fn log(&mut self, line: LogLine) {
        self.current.logs.push(line);
    }

    /// `name` if its kind's limit leaves room for it, else [`OTHER`] (noted with `at`, the
    /// script line that made it).
    pub fn admit<'a>(
        &mut self,
        kind: NameKind,
        name: &'a str,
        at: impl FnOnce() -> String,
    ) -> &'a str {
        let Some(names) = &mut self.names else {
            return name;
        };
        let admitted = names.admit(kind, name);
        if admitted == OTHER && name != OTHER {
            let limit = names.limit();
            let o = self
                .current
                .overflows
                .entry(kind)
                .or_insert_with(|| Overflow {
                    // A script error's name is its class, location and message, NUL-separated.
                    first: name.replace('\u{0}', ": "),
                    at: at(),
                    samples: 0,
                });
            o.samples += 1;
            if o.samples == 1 {
                warn_once(kind, &o.first, &o.at, limit);
            }
        }
        admitted
    }

    /// One request sent, as soon as its answer (or failure) is known; `bytes` is the size of
    /// the answer's body.
    pub fn request(&mut self, name: &str, latency: Duration, error: Option<ErrorKind>, bytes: u64) {
        entry(&mut self.current.requests, name).answered(latency, error, bytes);
    }

    /// What a failed request came to: its kind, the bot's status (0 without an answer) and a
    /// message a person can act on (the latest is kept).
    pub fn failure(&mut self, name: &str, kind: ErrorKind, status: u16, message: String) {
        let key = FailureKey {
            name: name.into(),
            kind,
            status,
        };
        let entry = self
            .current
            .failures
            .entry(key)
            .or_insert_with(|| (0, String::new()));
        entry.0 += 1;
        entry.1 = message;
    }

    /// [`request`](Self::request) for a request that was sent: its latency is what the user
    /// waited, `queued` for a connection and then `service` (the network and the bot), each
    /// also kept on its own.
    pub fn served(
        &mut self,
        name: &str,
        queued: Duration,
        service: Duration,
        error: Option<ErrorKind>,
        bytes: u64,
    ) {
        let r = entry(&mut self.current.requests, name);
        r.answered(queued + service, error, bytes);
        if queued.is_zero() {
            r.unqueued += 1;
        } else {
            hist::record(&mut r.queue, queued);
        }
        hist::record(&mut r.service, service);
    }

    /// A request the host refused to send.
    pub fn refused(&mut self, name: &str) {
        self.unsent(name, ErrorKind::Refused);
    }

    /// A request that was never sent, for the reason `kind` gives (counted, with no latency).
    pub fn unsent(&mut self, name: &str, kind: ErrorKind) {
        let r = entry(&mut self.current.requests, name);
        r.unsent += 1;
        r.failures[kind.index()] += 1;
    }

    /// How the reply to a request went; with it, what else the send collected: the last reply,
    /// how many, and the first acknowledgement.
    pub fn reply(&mut self, name: &str, reply: ReplyOutcome, more: ReplyDetails) {
        if reply == ReplyOutcome::NotAwaited && more.ack.is_none() {
            return;
        }
        let r = entry(&mut self.current.requests, name);
        match reply {
            ReplyOutcome::NotAwaited => {}
            ReplyOutcome::Missing => r.no_reply += 1,
            ReplyOutcome::After(d) => hist::record(&mut r.reply, d),
        }
        if let Some(d) = more.last {
            hist::record(&mut r.last_reply, d);
        }
        r.reply_messages += u64::from(more.replies);
        if let Some(d) = more.ack {
            hist::record(&mut r.ack, d);
        }
    }

    /// A failed delivery of an update of `name` that will be repeated.
    pub fn redelivered(&mut self, name: &str) {
        entry(&mut self.current.requests, name).redeliveries += 1;
    }

    /// An update of `name` whose deliveries all failed (or were still failing at the end).
    pub fn lost(&mut self, name: &str) {
        entry(&mut self.current.requests, name).lost += 1;
    }

    /// Replies the bot repeated for an update of `name` it had already answered.
    pub fn duplicates(&mut self, name: &str, n: u32) {
        entry(&mut self.current.requests, name).duplicates += u64::from(n);
    }

    /// Replies to a request of `name` that came after its send had returned.
    pub fn late_replies(&mut self, name: &str, n: u32) {
        entry(&mut self.current.requests, name).late_replies += u64::from(n);
    }

    pub fn task(&mut self, class: &str, task: &str, duration: Duration, failed: bool) {
        let t = entry(entry(&mut self.current.tasks, class), task);
        hist::record(&mut t.duration, duration);
        if failed {
            t.errors += 1;
        }
    }

    /// A task start of `class` the open model dropped: no user of the class was free.
    pub fn dropped(&mut self, class: &str) {
        *entry(&mut self.current.dropped, class) += 1;
    }

    /// A wait that ended `late` after it was due.
    pub fn lateness(&mut self, late: Duration) {
        hist::record(self.current.lateness.get_or_insert_with(hist::new), late);
    }

    pub fn check(&mut self, name: &str, passed: bool, at: impl FnOnce() -> String) {
        let name = self.admit(NameKind::Check, name, at);
        let c = entry(&mut self.current.checks, name);
        if passed {
            c.passed += 1;
        } else {
            c.failed += 1;
        }
    }

    pub fn script_error(&mut self, class: &str, err: &ScriptError) {
        let location = err.location();
        let whole = format!("{class}\u{0}{location}\u{0}{}", err.message);
        let kept = self.admit(NameKind::ScriptError, &whole, || location.clone()) != OTHER;
        let key = if kept {
            ErrorKey {
                class: class.to_string(),
                location,
                message: err.message.clone(),
            }
        } else {
            ErrorKey {
                class: class.to_string(),
                location: OTHER.into(),
                message: "errors past the limit of distinct script errors".into(),
            }
        };
        *self.current.errors.entry(key).or_default() += 1;
    }

    /// The interval so far; recording starts afresh (the name limits carry on).
    pub fn take(&mut self, second: u64) -> Interval {
        let mut interval = std::mem::take(&mut self.current);
        interval.second = second;
        interval
    }
}

/// Says on stderr, once per kind for the whole process, that a name limit was reached.
fn warn_once(kind: NameKind, name: &str, at: &str, limit: usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: [AtomicBool; 3] = [const { AtomicBool::new(false) }; 3];
    if !WARNED[kind as usize].swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: more than {limit} {} (the first past it, `{name}`, came from {at}); the \
             rest are counted as `{OTHER}`",
            kind.as_str()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_found_a_connection_free_is_a_zero_of_the_queue() {
        let mut r = Recorder::default();
        let ms = Duration::from_millis;
        for _ in 0..3 {
            r.served("/help", Duration::ZERO, ms(4), None, 10);
        }
        r.served("/help", ms(30), ms(4), None, 10);
        let mut total = Interval::default();
        total.merge(&r.take(1));
        let help = &total.requests["/help"];
        assert_eq!(help.queue.len(), 4, "zeros and the wait, all counted");
        assert_eq!(
            help.queue.value_at_quantile(0.5),
            1,
            "the median found a free one"
        );
        assert!(help.queue.max() >= 30_000);
        assert_eq!(help.latency.len(), 4);
        assert!(help.latency.max() >= 34_000, "the wait is in the latency");
    }

    #[test]
    fn records_and_merges_exactly() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for i in 0..100 {
            a.request("/help", Duration::from_millis(i), None, 10);
            a.reply("/help", ReplyOutcome::Missing, Default::default());
            b.request(
                "/help",
                Duration::from_millis(100 + i),
                Some(ErrorKind::Timeout),
                0,
            );
            b.reply(
                "/help",
                ReplyOutcome::After(Duration::from_millis(5)),
                Default::default(),
            );
        }
        a.refused("/grant");
        a.check("ok", true, String::new);
        b.check("ok", false, String::new);
        let mut total = a.take(1);
        total.merge(&b.take(1));
        let help = &total.requests["/help"];
        assert_eq!(help.count(), 200);
        assert_eq!(help.failed(), 100);
        assert_eq!(help.failures[ErrorKind::Timeout.index()], 100);
        assert_eq!(help.no_reply, 100);
        assert_eq!(help.reply.len(), 100);
        let median = help.latency.value_at_quantile(0.5);
        assert!((99_000..=101_000).contains(&median), "{median}");
        assert_eq!(
            total.checks["ok"],
            CheckCounts {
                passed: 1,
                failed: 1
            }
        );
        assert!(a.take(2).is_empty());
    }
}
