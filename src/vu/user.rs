//! One virtual user's life: `on_start`, then weighted tasks separated by the class's wait, then
//! `on_stop`. The user takes the newest script version at the start of each task, so a reload
//! reaches it between tasks and never in the middle of one.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::Either;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rhai::Dynamic;
use tokio::sync::Notify;

use super::arrivals::Arrivals;
use super::ctx::VuCtx;
use super::task::{Entry, RunningTask, Step};
use super::timer::Timer;
use super::{Io, Resume, RoundTrip};
use crate::botapi::delivery::UpdateType;
use crate::botapi::{self, BotApi, ChatInbox, Settle};
use crate::report::ErrorKind;
use crate::script::state::{self, data_size};
use crate::script::{ClassScript, ClassSlot, ClassTable, ScriptError, WaitSpec};
use crate::stats::Recorder;
use crate::stats::aggregate::{StatsMsg, VuReport};
use crate::stats::recorder::{ReplyDetails, ReplyOutcome};
use crate::telegram::{Sender, Tier, TierPools, UpdateFactory, UpdateIds};
use crate::transport::{Posted, Transport};

/// Which user to start: its number in the run, its class, and its place in its tier's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VuSpec {
    pub vu: u64,
    pub class: usize,
    /// Its tier, as the scheduler allocated its pool id for (a reload may change the class's).
    pub tier: Tier,
    /// The n-th user of its class in this run (seeds its randomness).
    pub index_in_class: u64,
    /// Index of its test-user id in its tier's pool.
    pub pool_index: u64,
}

/// How users behave, for the whole run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    /// Wait for the bot's first reply after each send (the stand-in is on).
    pub await_replies: bool,
    pub reply_timeout: Duration,
    /// Once answered, a send collects until the chat has been quiet this long
    /// (`--reply-settle`; [`Settle`](crate::botapi::Settle)); zero with the demo bot.
    pub reply_settle: Duration,
    /// Replaces every class's wait between tasks (`--wait`).
    pub wait_override: Option<WaitSpec>,
    /// Each user stops after this many tasks.
    pub iterations: Option<u64>,
    /// `wait()` inside tasks returns at once (dry runs, `--wait 0`).
    pub skip_waits: bool,
    /// The most a user's state (`this`) may hold after a task, in bytes
    /// ([`data_size`](crate::script::state::data_size)).
    pub state_limit: usize,
    /// The open model: task starts over the run (`--arrival-rate`, an open profile); users
    /// start a task only when given a start, and wait for none between tasks.
    pub arrivals: Option<crate::profile::ArrivalPlan>,
    /// Failed webhook deliveries are repeated (`--redeliver`).
    pub redeliver: Option<crate::profile::chaos::Redeliver>,
    /// The run's fault windows: a webhook cut withholds delivery.
    pub windows: Arc<crate::profile::chaos::Windows>,
}

/// A user's stop switch, pressed by its worker.
#[derive(Debug, Default)]
pub(crate) struct Control {
    stop: Cell<bool>,
    notify: Notify,
}

impl Control {
    pub fn stop(&self) {
        self.stop.set(true);
        self.notify.notify_one();
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.get()
    }

    async fn stopped(&self) {
        while !self.stop.get() {
            self.notify.notified().await;
        }
    }
}

/// What a user needs from its worker.
pub(crate) struct Env {
    pub classes: Arc<ClassTable>,
    pub transport: Rc<Transport>,
    pub api: Arc<BotApi>,
    pub update_ids: Arc<UpdateIds>,
    pub pools: Rc<TierPools>,
    pub recorder: Rc<RefCell<Recorder>>,
    pub options: RunOptions,
    /// This worker's share of the coroutine stacks the process may map at once.
    pub stacks: Rc<tokio::sync::Semaphore>,
    /// The worker's precise wait timer; tokio's coarser one if it could not be made.
    pub timer: Option<Timer>,
    /// In the open model (`--arrival-rate`), where a free user gets its next start.
    pub arrivals: Option<Rc<Arrivals>>,
}

/// Where a user's end goes: its report to the aggregator, its number to the scheduler.
pub(crate) struct EndSink {
    pub stats: tokio::sync::mpsc::UnboundedSender<StatsMsg>,
    pub ended: tokio::sync::mpsc::UnboundedSender<u64>,
}

pub(crate) struct Vu {
    // Boxed: running tasks point at it.
    ctx: Box<VuCtx>,
    /// Taken by a user that ends on its own; a user abandoned at the stop deadline (its future
    /// dropped) still reports through it, so its iterations and sequence are not lost.
    end: Option<EndSink>,
    state: Dynamic,
    class: Arc<ClassSlot>,
    /// The class's place in the table.
    class_index: usize,
    control: Rc<Control>,
    env: Rc<Env>,
    inbox: ChatInbox,
    iterations: u64,
    /// The name of the last request sent, for the late replies to it.
    last_sent: Option<String>,
}

fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Drop for Vu {
    fn drop(&mut self) {
        // Abandoned at the deadline: what it did still counts.
        self.finish();
    }
}

impl Vu {
    pub fn new(
        spec: VuSpec,
        env: Rc<Env>,
        control: Rc<Control>,
        end: EndSink,
    ) -> Result<Self, String> {
        let class = env.classes.slot(spec.class);
        let script = class.load();
        let tier = spec.tier;
        let user_id = env
            .pools
            .id(tier, spec.pool_index)
            .map_err(|e| format!("class {}: {e}", script.decl.name))?;
        // Seeded by (run seed, class, n-th user of the class): the same seed replays the same
        // users, whatever the timing.
        let mut rng = SmallRng::seed_from_u64(mix(
            mix(env.options.seed, name_hash(&script.decl.name)),
            spec.index_in_class,
        ));
        let sender = Sender::generate(user_id, tier, &mut rng);
        let inbox = env.api.hub().subscribe(user_id);
        let factory = UpdateFactory::new(env.update_ids.clone(), inbox.message_ids(), sender);
        let ctx = Box::new(VuCtx {
            vu: spec.vu,
            class: Rc::from(script.decl.name.as_str()),
            tier,
            rng,
            factory,
            pools: env.pools.clone(),
            recorder: env.recorder.clone(),
            keyboard: None,
            yielder: std::ptr::null(),
            skip_waits: env.options.skip_waits,
            requests: 0,
            digest: 0,
            running: None,
        });
        drop(script);
        Ok(Self {
            ctx,
            end: Some(end),
            state: Dynamic::from_map(Default::default()),
            class,
            class_index: spec.class,
            control,
            env,
            inbox,
            iterations: 0,
            last_sent: None,
        })
    }

    fn done(&self) -> bool {
        self.control.is_stopped()
            || self
                .env
                .options
                .iterations
                .is_some_and(|n| self.iterations >= n)
    }

    /// What the user did so far, for the aggregator.
    fn report(&self) -> VuReport {
        VuReport {
            class: self.class.load().decl.name.clone(),
            vu: self.ctx.vu,
            iterations: self.iterations,
            requests: self.ctx.requests,
            digest: self.ctx.digest,
        }
    }

    /// The user's whole life; its report goes to the aggregator and its end to the scheduler.
    pub async fn run(mut self) {
        let script = self.class.load_full();
        if script.has_on_start {
            if let Err(e) = self.call(&script, Entry::OnStart).await {
                self.ctx
                    .recorder
                    .borrow_mut()
                    .script_error(&script.decl.name, &e);
            }
        }
        drop(script);
        if let Some(arrivals) = &self.env.arrivals {
            arrivals.join(self.class_index);
        }
        while !self.done() {
            // In the open model a task starts when given a start, and its time counts from when
            // it was due (the start may have waited for this user's previous task).
            let started = match self.env.arrivals.clone() {
                Some(arrivals) => match self.next_start(&arrivals).await {
                    Some(due) => due,
                    None => break,
                },
                None => Instant::now(),
            };
            let script = self.class.load_full();
            let task = script.pick_task(&mut self.ctx.rng);
            let result = self.call(&script, Entry::Task(task)).await;
            // One clock read for both the task's time and pacing's wait.
            let took = started.elapsed();
            {
                let mut recorder = self.ctx.recorder.borrow_mut();
                recorder.task(
                    &script.decl.name,
                    &script.tasks[task].name,
                    took,
                    result.is_err(),
                );
                if let Err(e) = &result {
                    recorder.script_error(&script.decl.name, e);
                }
            }
            self.iterations += 1;
            if self.done() {
                break;
            }
            if self.env.arrivals.is_some() {
                continue;
            }
            let wait = self
                .env
                .options
                .wait_override
                .unwrap_or(script.decl.wait)
                .after(took, &mut self.ctx.rng);
            self.pause(wait).await;
        }
        if let Some(arrivals) = &self.env.arrivals {
            arrivals.leave(self.class_index);
        }
        let script = self.class.load_full();
        if script.has_on_stop {
            self.ctx.skip_waits = true;
            if let Err(e) = self.call(&script, Entry::OnStop).await {
                self.ctx
                    .recorder
                    .borrow_mut()
                    .script_error(&script.decl.name, &e);
            }
        }
        drop(script);
        self.finish();
    }

    /// Sends the user's report and end, once.
    fn finish(&mut self) {
        if let Some(end) = self.end.take() {
            self.count_late_replies();
            let _ = end.stats.send(StatsMsg::VuDone(self.report()));
            let _ = end.ended.send(self.ctx.vu);
        }
    }

    /// Runs one script function to its end, performing the I/O it asks for.
    async fn call(&mut self, script: &Arc<ClassScript>, entry: Entry) -> Result<(), ScriptError> {
        // A stack for the task's whole run (the mapping limit, see `stack::max_running_tasks`).
        // Through acquire() even when a permit is free: its Acquire future spends the task's
        // share of tokio's budget, so a user whose tasks never suspend (no request, or every
        // one refused, and no wait) still gives the worker's thread up.
        let stacks = self.env.stacks.clone();
        let _stack = stacks
            .acquire()
            .await
            .expect("the stack semaphore is never closed");
        self.ctx.running = Some((script.clone(), entry));
        // The state as it was, to undo a task that grows it past the limit.
        let before = self.state.clone();
        let state = std::mem::take(&mut self.state);
        let ctx: *mut VuCtx = &mut *self.ctx;
        // SAFETY: the user owns its context and outlives the task, which is dropped before this
        // function returns; the context is not touched here while the task is resumed.
        let mut task = match unsafe { RunningTask::new(script.clone(), entry, ctx, state) } {
            Ok(t) => t,
            Err((state, e)) => {
                self.state = state;
                return Err(e);
            }
        };
        let mut input = Resume::Start;
        loop {
            match task.resume(input) {
                // Boxed: an idle user's future stays small (it is sized for its largest await).
                Step::Io(Io::Post {
                    name,
                    body,
                    callback,
                }) => {
                    input = Resume::Posted(Box::pin(self.exchange(name, body, callback)).await);
                }
                Step::Io(Io::Sleep(d)) => {
                    self.pause(d).await;
                    input = Resume::Slept;
                }
                Step::Done(result) => {
                    self.state = task.into_state();
                    return match self.over_limit(script, entry) {
                        Some(e) => {
                            self.state = before;
                            Err(e)
                        }
                        None => result,
                    };
                }
            }
        }
    }

    /// The error for a state past `--state-limit` after `entry` ran, if it is.
    fn over_limit(&self, script: &ClassScript, entry: Entry) -> Option<ScriptError> {
        let limit = self.env.options.state_limit;
        let size = data_size(&self.state);
        (size > limit).then(|| {
            let name = entry.name(script);
            ScriptError {
                file: script.file.clone(),
                line: script.line_of(name),
                col: 0,
                message: format!(
                    "the user's state (`this`) held {} after {name}(), over --state-limit {}; \
                     the task's changes to it were undone",
                    state::bytes(size),
                    state::bytes(limit)
                ),
            }
        })
    }

    /// The open model's next start for this user, or `None` once it is told to stop.
    async fn next_start(&self, arrivals: &Arrivals) -> Option<Instant> {
        tokio::select! {
            due = arrivals.next_start(self.class_index) => due,
            _ = self.control.stopped() => None,
        }
    }

    /// Sleeps, or less if the user is told to stop.
    async fn pause(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let due = Instant::now() + d;
        let timer = match &self.env.timer {
            Some(timer) => Either::Left(timer.sleep_until(due)),
            None => Either::Right(tokio::time::sleep_until(due.into())),
        };
        tokio::select! {
            _ = timer => {
                // How late the timer woke the user: the scheduler's own precision, reported.
                // Not for a user already told to stop: its next task will not run, and a stop
                // wakes every user at once, which makes the timers late by far more than any
                // wait of the run itself (docs/design-notes.md).
                if !self.control.is_stopped() {
                    let late = Instant::now().saturating_duration_since(due);
                    self.env.recorder.borrow_mut().lateness(late);
                }
            }
            _ = self.control.stopped() => {}
        }
    }

    /// POSTs an update and collects what the bot did in this chat in answer. The request is
    /// recorded as soon as its answer is in, and recorded as abandoned if the run's stop
    /// deadline drops it while in flight: nothing sent goes uncounted.
    /// Counts the replies that came for the last update after its send returned.
    fn count_late_replies(&self) {
        let late = self.inbox.drain_late();
        if let (Some(name), true) = (&self.last_sent, late > 0) {
            self.env.recorder.borrow_mut().late_replies(name, late);
        }
    }

    /// Records one delivery of an update: its latency and failure, or that it was not sent.
    fn record_posted(&self, name: &str, posted: &Posted) {
        let mut recorder = self.env.recorder.borrow_mut();
        if posted.error() == Some(ErrorKind::NotDelivered) {
            // Never sent: counted, with no latency to pull the percentiles down.
            recorder.unsent(name, ErrorKind::NotDelivered);
        } else {
            recorder.served(
                name,
                posted.queued,
                posted.latency,
                posted.error(),
                posted.bytes(),
            );
        }
        if let (Some(kind), Some(message)) = (posted.error(), posted.failure_message()) {
            recorder.failure(name, kind, posted.status(), message);
        }
    }

    async fn exchange(&mut self, name: String, body: Bytes, callback: bool) -> RoundTrip {
        struct InFlight<'a> {
            recorder: &'a RefCell<Recorder>,
            name: &'a str,
            started: Instant,
            done: bool,
        }
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                if !self.done {
                    let mut recorder = self.recorder.borrow_mut();
                    recorder.request(
                        self.name,
                        self.started.elapsed(),
                        Some(ErrorKind::Abandoned),
                        0,
                    );
                    recorder.failure(
                        self.name,
                        ErrorKind::Abandoned,
                        0,
                        ErrorKind::Abandoned.describe().into(),
                    );
                }
            }
        }
        // Late answers to an earlier update are not answers to this one.
        self.count_late_replies();
        let recorder = self.env.recorder.clone();
        let mut in_flight = InFlight {
            recorder: &recorder,
            name: &name,
            started: Instant::now(),
            done: false,
        };
        let kind = if callback {
            UpdateType::CallbackQuery
        } else {
            UpdateType::Message
        };
        let allowed = self.env.api.delivery().allows(kind);
        let webhook = !matches!(&*self.env.transport, Transport::Polling(_));
        let redeliver = self.env.options.redeliver.filter(|_| allowed && webhook);
        let mut body = body;
        // The first delivery's times: the user's send, and when the bot first had the update.
        let mut first: Option<(Instant, Instant)> = None;
        // When each later delivery began, for telling repeated replies apart.
        let mut redelivered_at = Vec::new();
        let mut attempt = 1;
        let posted = loop {
            in_flight.done = false;
            in_flight.started = Instant::now();
            let payload = match redeliver {
                Some(_) => body.clone(),
                None => std::mem::take(&mut body),
            };
            let posted = if !allowed {
                Posted::not_delivered(format!(
                    "the bot's allowed_updates exclude {}: Telegram would not deliver it",
                    kind.name()
                ))
            } else if webhook && self.env.options.windows.cut_at(Instant::now()) {
                Posted::not_delivered("the webhook is cut (a fault window)".into())
            } else {
                self.env.transport.post(payload).await
            };
            in_flight.done = true;
            self.record_posted(&name, &posted);
            if first.is_some() {
                redelivered_at.push(posted.delivered());
            }
            first.get_or_insert((posted.sent(), posted.delivered()));
            let success = matches!(&posted.result, Ok(r) if (200..300).contains(&r.status));
            let Some(rule) = redeliver.filter(|_| !success) else {
                break posted;
            };
            if attempt >= rule.attempts {
                recorder.borrow_mut().lost(&name);
                break posted;
            }
            // Telegram keeps the update and delivers it again later; the chat's later updates
            // wait (this user sends nothing meanwhile). Once the run is stopping, the wait is
            // cut short: the delivery is part of the task, which --stop-timeout bounds.
            recorder.borrow_mut().redelivered(&name);
            self.pause(rule.backoff_after(attempt)).await;
            attempt += 1;
        };
        let success = matches!(&posted.result, Ok(r) if (200..300).contains(&r.status));
        if let (true, Ok(response)) = (success, &posted.result) {
            // A method call in the answer's body is the bot's reply, as with Telegram.
            let _ = botapi::webhook_reply(
                &self.env.api,
                response.content_type.as_deref(),
                response.body.clone(),
            )
            .await;
        }
        // Events from before the update was delivered (it may have waited for a connection)
        // are late answers to an earlier one; the reply is awaited only when asked for. With
        // redelivery, the answer counts from the first delivery.
        let (sent, delivered) = first.expect("one delivery at least");
        let settle = (success && self.env.options.await_replies).then(|| Settle {
            deadline: posted.delivered() + self.env.options.reply_timeout,
            quiet: self.env.options.reply_settle,
            callback,
        });
        let mut collected = self.inbox.collect(delivered, settle).await;
        let duplicates = botapi::hub::duplicates(&collected.events, &redelivered_at);
        // Reply times count from the send, also for a polling bot that fetched it later.
        let wait = delivered.saturating_duration_since(sent);
        for d in [
            &mut collected.first,
            &mut collected.last,
            &mut collected.ack,
            &mut collected.callback_answer,
        ] {
            *d = d.map(|d| d + wait);
        }
        let reply = match (collected.first, settle) {
            (Some(d), _) => ReplyOutcome::After(d),
            // A callback answered by answerCallbackQuery alone was answered.
            (None, Some(s)) if s.callback && collected.callback_answer.is_some() => {
                ReplyOutcome::After(collected.callback_answer.expect("checked"))
            }
            (None, Some(_)) => ReplyOutcome::Missing,
            (None, None) => ReplyOutcome::NotAwaited,
        };
        {
            let mut recorder = recorder.borrow_mut();
            let details = ReplyDetails {
                last: collected.last,
                replies: collected.replies,
                ack: collected.ack,
            };
            recorder.reply(&name, reply, details);
            if duplicates > 0 {
                recorder.duplicates(&name, duplicates);
            }
            if collected.late > 0 {
                recorder.late_replies(self.last_sent.as_deref().unwrap_or(&name), collected.late);
            }
        }
        drop(in_flight);
        self.last_sent = Some(name);
        let events = collected.events;
        RoundTrip {
            posted,
            events,
            reply,
        }
    }
}
