//! Telegram's rules at the stand-in's door: every call the bot makes for a chat passes the
//! gate, which holds it to the flood limits and injects the run's faults.
//!
//! Flood limits are generic cell rate algorithms (GCRA): a chat's state is the time its next
//! message is due (plus the burst's tolerance), so a chat costs a few words and a check is a
//! comparison. Private chats get the per-chat rate, groups (negative ids) the per-group one,
//! and every message the overall rate, which is one atomic (no lock shared by all chats).
//! `report` counts what Telegram would have refused; `enforce` answers it with 429 and
//! `retry_after`, and counts a call that comes back before then as a violation, answered with
//! a `retry_after` that doubles for each (as Telegram's grows for a bot that keeps pushing).
//!
//! Faults are drawn per call from the run's seed, the chat and the chat's call count, so a
//! replay with the same seed hits the same calls of each chat; `blocked` picks chats, not
//! calls. Everything is counted per span of the run (before the first fault window, then each
//! window with its aftermath) for the results' resilience section.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::ApiError;
use crate::profile::chaos::{FaultKind, FloodLimits, FloodMode, TIMEOUT_HOLD, Windows};
use crate::report::{FloodReport, GateSpan};

const SHARDS: usize = 64;
/// A flood refusal's `retry_after` stops doubling here (seconds).
const MAX_RETRY_AFTER: u64 = 300;
/// The `retry_after` of an injected `flood` fault (seconds).
const INJECTED_RETRY_AFTER: u64 = 3;

/// The rules a stand-in applies: the limits, the run's fault windows, the seed faults are
/// drawn from.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub flood: FloodLimits,
    pub windows: Arc<Windows>,
    pub seed: u64,
}

/// What the gate says to one call.
#[derive(Debug, PartialEq)]
pub enum Admission {
    Pass,
    /// Answer late, then as usual.
    Slow(Duration),
    /// Refused with this error.
    Refuse(ApiError),
    /// Drop the connection without an answer.
    Reset,
    /// Hold the call, then answer 504.
    Hold(Duration),
}

/// One chat's standing with the gate.
#[derive(Debug, Default, Clone, Copy)]
struct ChatState {
    /// GCRA: when the chat's next message is due, in ns since the gate's epoch.
    tat: u64,
    /// After a 429: calls before this are violations.
    retry_until: u64,
    /// Violations since the chat last waited as told, and the wait it was first told.
    strikes: u32,
    base_retry: u64,
    /// Calls, for drawing faults.
    calls: u64,
    /// Refusals for flooding.
    refused: u32,
    /// Messages in the current second, and the most in any one.
    second: u32,
    in_second: u32,
    peak: u32,
    /// Answered 403 (blocked) and not unblocked since.
    forbidden: bool,
}

#[derive(Debug, Default)]
struct SpanCounters {
    messages: AtomicU64,
    refused_chat: AtomicU64,
    refused_group: AtomicU64,
    refused_global: AtomicU64,
    violations: AtomicU64,
    blocked_calls: AtomicU64,
    injected: [AtomicU64; FaultKind::NAMES.len()],
}

/// The flood limits and faults, with their counts.
#[derive(Debug)]
pub struct Gate {
    limits: FloodLimits,
    windows: Arc<Windows>,
    seed: u64,
    epoch: Instant,
    chats: Vec<Mutex<HashMap<i64, ChatState, ahash::RandomState>>>,
    /// The overall GCRA's due time.
    global_tat: AtomicU64,
    /// (second << 32) | messages in it, and the most messages in any second.
    this_second: AtomicU64,
    peak_second: AtomicU64,
    max_retry_after: AtomicU64,
    spans: Vec<SpanCounters>,
}

/// Messages are what flood limits count: sends, copies and forwards (not edits, deletes,
/// chat actions or answers to callbacks).
fn is_message(method: &str) -> bool {
    let lower = |p: &str| method.len() > p.len() && method[..p.len()].eq_ignore_ascii_case(p);
    lower("send") && !method.eq_ignore_ascii_case("sendChatAction")
        || lower("copyMessage")
        || lower("forwardMessage")
}

/// A GCRA step: with the next message due at `tat`, is one allowed at `now`? Returns the new
/// due time, or how long until one would be.
fn gcra(tat: u64, now: u64, interval: u64, tolerance: u64) -> Result<u64, u64> {
    let due = tat.max(now);
    if due - now > tolerance {
        Err(due - now - tolerance)
    } else {
        Ok(due.saturating_add(interval))
    }
}

/// `(interval, tolerance)` in ns for `per_second` messages a second with bursts of `burst`.
fn shape(per_second: f64, burst: f64) -> (u64, u64) {
    let interval = (1e9 / per_second) as u64;
    (interval, ((burst - 1.0).max(0.0) * interval as f64) as u64)
}

/// A uniform draw in [0, 1) from the seed, a chat and a count (SplitMix64).
fn draw(seed: u64, chat: i64, n: u64) -> f64 {
    let mut z = seed
        ^ (chat as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn too_many(retry_after: u64) -> ApiError {
    ApiError {
        code: 429,
        description: format!("Too Many Requests: retry after {retry_after}"),
        retry_after: Some(retry_after),
    }
}

impl Gate {
    pub fn new(rules: Rules) -> Self {
        let spans = (0..rules.windows.spans())
            .map(|_| SpanCounters::default())
            .collect();
        Self {
            limits: rules.flood,
            windows: rules.windows,
            seed: rules.seed,
            epoch: Instant::now(),
            chats: (0..SHARDS).map(|_| Mutex::default()).collect(),
            global_tat: AtomicU64::new(0),
            this_second: AtomicU64::new(0),
            peak_second: AtomicU64::new(0),
            max_retry_after: AtomicU64::new(0),
            spans,
        }
    }

    pub fn windows(&self) -> &Arc<Windows> {
        &self.windows
    }

    /// Whether limits are checked or faults injected (and so reported).
    pub fn active(&self) -> bool {
        self.limits.mode != FloodMode::Off || self.windows.injects()
    }

    /// Judges a call of `method` for the chat `chat_id`.
    pub fn admit(&self, method: &str, chat_id: i64) -> Admission {
        if !self.active() {
            return Admission::Pass;
        }
        self.admit_at(method, chat_id, Instant::now())
    }

    /// [`admit`](Self::admit) at `at`.
    fn admit_at(&self, method: &str, chat_id: i64, at: Instant) -> Admission {
        let now = at.saturating_duration_since(self.epoch).as_nanos() as u64;
        let span = &self.spans[self.windows.span_at(at).min(self.spans.len() - 1)];
        let message = is_message(method);
        let shard = &self.chats[(chat_id.unsigned_abs() as usize) % SHARDS];
        let mut chats = shard.lock().expect("gate shard");
        let chat = chats.entry(chat_id).or_default();
        chat.calls += 1;
        // A bot told to wait in this chat that did not. (A 429 for the overall rate tells the
        // chat it was sent to; other chats were told nothing, and the overall GCRA refuses
        // their excess by itself.)
        let told_to_wait = now < chat.retry_until;
        if told_to_wait {
            span.violations.fetch_add(1, Ordering::Relaxed);
            chat.strikes += 1;
        } else if chat.retry_until != 0 {
            chat.strikes = 0;
            chat.retry_until = 0;
        }
        if self.windows.injects()
            && let Some(admission) = self.fault(at, chat_id, chat, span, now)
        {
            return admission;
        }
        if told_to_wait && self.limits.mode == FloodMode::Enforce {
            let wait = chat.retry_until.saturating_sub(now);
            return Admission::Refuse(self.refuse(chat, now, wait, false));
        }
        if !message || self.limits.mode == FloodMode::Off {
            return Admission::Pass;
        }
        self.flood(chat_id, chat, span, now)
    }

    /// The fault a call draws, if any.
    fn fault(
        &self,
        at: Instant,
        chat_id: i64,
        chat: &mut ChatState,
        span: &SpanCounters,
        now: u64,
    ) -> Option<Admission> {
        let mut blocked = false;
        let mut roll = None;
        let mut cumulative = 0.0;
        let mut hit = None;
        for f in self.windows.faults_at(at) {
            if f.kind == FaultKind::Blocked {
                // The same chats for the whole run: a chat's draw does not depend on the call.
                blocked |= draw(self.seed ^ 0xB10C, chat_id, 0) < f.rate;
                continue;
            }
            let u = *roll.get_or_insert_with(|| draw(self.seed, chat_id, chat.calls));
            cumulative += f.rate;
            if hit.is_none() && u < cumulative {
                hit = Some(f.kind);
            }
        }
        if blocked {
            span.blocked_calls.fetch_add(1, Ordering::Relaxed);
            if !chat.forbidden {
                chat.forbidden = true;
                span.injected[FaultKind::Blocked.index()].fetch_add(1, Ordering::Relaxed);
            }
            return Some(Admission::Refuse(ApiError::new(
                403,
                "Forbidden: bot was blocked by the user",
            )));
        }
        chat.forbidden = false;
        let kind = hit?;
        span.injected[kind.index()].fetch_add(1, Ordering::Relaxed);
        Some(match kind {
            FaultKind::ServerError => {
                Admission::Refuse(ApiError::new(500, "Internal Server Error"))
            }
            FaultKind::ChatNotFound => Admission::Refuse(ApiError::bad_request("chat not found")),
            FaultKind::Flood => {
                let wait = INJECTED_RETRY_AFTER * 1_000_000_000;
                Admission::Refuse(self.refuse(chat, now, wait, true))
            }
            FaultKind::Slow(d) => Admission::Slow(d),
            FaultKind::Reset => Admission::Reset,
            FaultKind::Timeout => Admission::Hold(TIMEOUT_HOLD),
            FaultKind::Blocked => unreachable!("handled above"),
        })
    }

    /// A 429 for a chat that must wait `wait_ns`; for a chat that did not wait, the first
    /// wait doubled for each violation.
    fn refuse(&self, chat: &mut ChatState, now: u64, wait_ns: u64, exact: bool) -> ApiError {
        let mut secs = wait_ns.div_ceil(1_000_000_000).clamp(1, MAX_RETRY_AFTER);
        if exact || chat.strikes == 0 || chat.base_retry == 0 {
            chat.base_retry = secs;
        } else {
            secs = (chat.base_retry << chat.strikes.min(16)).clamp(secs, MAX_RETRY_AFTER);
        }
        chat.retry_until = now.saturating_add(secs * 1_000_000_000);
        self.max_retry_after.fetch_max(secs, Ordering::Relaxed);
        too_many(secs)
    }

    /// The flood limits for a message.
    fn flood(
        &self,
        chat_id: i64,
        chat: &mut ChatState,
        span: &SpanCounters,
        now: u64,
    ) -> Admission {
        let l = &self.limits;
        let group = chat_id < 0;
        let (interval, tolerance) = if group {
            shape(l.group_per_minute / 60.0, l.group_burst)
        } else {
            shape(l.per_chat, l.chat_burst)
        };
        let enforce = l.mode == FloodMode::Enforce;
        let chat_tat = match gcra(chat.tat, now, interval, tolerance) {
            Ok(tat) => tat,
            Err(wait) => {
                chat.refused += 1;
                let counter = if group {
                    &span.refused_group
                } else {
                    &span.refused_chat
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return if enforce {
                    Admission::Refuse(self.refuse(chat, now, wait, false))
                } else {
                    self.sent(chat, span, now);
                    Admission::Pass
                };
            }
        };
        let (interval, tolerance) = shape(l.global, l.global_burst);
        let mut tat = self.global_tat.load(Ordering::Relaxed);
        loop {
            match gcra(tat, now, interval, tolerance) {
                Ok(next) => match self.global_tat.compare_exchange_weak(
                    tat,
                    next,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(current) => tat = current,
                },
                Err(wait) => {
                    span.refused_global.fetch_add(1, Ordering::Relaxed);
                    if enforce {
                        return Admission::Refuse(self.refuse(chat, now, wait, false));
                    }
                    break;
                }
            }
        }
        chat.tat = chat_tat;
        self.sent(chat, span, now);
        Admission::Pass
    }

    /// A message that went out: counted in its chat's second and the bot's.
    fn sent(&self, chat: &mut ChatState, span: &SpanCounters, now: u64) {
        span.messages.fetch_add(1, Ordering::Relaxed);
        let second = (now / 1_000_000_000) as u32;
        if chat.second != second {
            chat.second = second;
            chat.in_second = 0;
        }
        chat.in_second += 1;
        chat.peak = chat.peak.max(chat.in_second);
        let mut v = self.this_second.load(Ordering::Relaxed);
        loop {
            let (s, n) = ((v >> 32) as u32, v & 0xFFFF_FFFF);
            // A clock read just before another thread moved on to the next second counts there.
            let (next, count) = if s >= second {
                (v + 1, n + 1)
            } else {
                ((u64::from(second) << 32) | 1, n.max(1))
            };
            match self.this_second.compare_exchange_weak(
                v,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if count > self.peak_second.load(Ordering::Relaxed) {
                        self.peak_second.fetch_max(count, Ordering::Relaxed);
                    }
                    break;
                }
                Err(current) => v = current,
            }
        }
    }

    /// What the gate saw, per span and in all.
    pub fn report(&self) -> FloodReport {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let spans: Vec<GateSpan> = self
            .spans
            .iter()
            .map(|s| GateSpan {
                messages: load(&s.messages),
                refused_chat: load(&s.refused_chat),
                refused_group: load(&s.refused_group),
                refused_global: load(&s.refused_global),
                violations: load(&s.violations),
                blocked_calls: load(&s.blocked_calls),
                injected: FaultKind::NAMES
                    .iter()
                    .zip(&s.injected)
                    .map(|(n, c)| (n.to_string(), load(c)))
                    .filter(|(_, c)| *c > 0)
                    .collect(),
            })
            .collect();
        let (mut chats_refused, mut peak_chat) = (0u64, 0u32);
        for shard in &self.chats {
            for c in shard.lock().expect("gate shard").values() {
                chats_refused += u64::from(c.refused > 0);
                peak_chat = peak_chat.max(c.peak);
            }
        }
        let mut total = GateSpan::default();
        for s in &spans {
            total.add(s);
        }
        FloodReport {
            mode: self.limits.mode,
            limits: self.limits,
            total,
            chats_refused,
            peak_messages_per_s: load(&self.peak_second),
            peak_chat_messages_per_s: u64::from(peak_chat),
            max_retry_after_s: load(&self.max_retry_after),
            spans,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::chaos::{Chaos, FaultSpec, FaultWindow};

    fn gate(mode: FloodMode, faults: &[&str]) -> Gate {
        let chaos = Chaos {
            faults: faults
                .iter()
                .map(|f| FaultSpec::parse(f).unwrap())
                .collect(),
            ..Chaos::default()
        };
        let windows = Windows::scaled(&chaos, Duration::ZERO, Duration::ZERO);
        windows.start(Instant::now());
        Gate::new(Rules {
            flood: FloodLimits {
                mode,
                ..FloodLimits::default()
            },
            windows: Arc::new(windows),
            seed: 7,
        })
    }

    fn code(a: &Admission) -> u16 {
        match a {
            Admission::Refuse(e) => e.code,
            _ => 200,
        }
    }

    #[test]
    fn report_counts_a_burst_over_the_chat_limit_and_lets_it_through() {
        let g = gate(FloodMode::Report, &[]);
        let t = Instant::now();
        let codes: Vec<u16> = (0..10)
            .map(|_| code(&g.admit_at("sendMessage", 5, t)))
            .collect();
        assert!(codes.iter().all(|c| *c == 200));
        let r = g.report();
        // A burst of three is allowed; the other seven came within the same second.
        assert_eq!((r.total.refused_chat, r.total.messages), (7, 10));
        assert_eq!((r.chats_refused, r.peak_chat_messages_per_s), (1, 10));
        assert_eq!(
            code(&g.admit_at("sendChatAction", 5, t)),
            200,
            "not a message"
        );
        assert_eq!(g.report().total.refused_chat, 7);
    }

    #[test]
    fn enforce_answers_429_and_counts_calls_that_did_not_wait() {
        let g = gate(FloodMode::Enforce, &[]);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(code(&g.admit_at("sendMessage", 9, t)), 200);
        }
        let Admission::Refuse(e) = g.admit_at("sendMessage", 9, t) else {
            panic!("the fourth message in a second is refused");
        };
        assert_eq!((e.code, e.retry_after), (429, Some(1)));
        assert_eq!(e.description, "Too Many Requests: retry after 1");
        assert_eq!(
            g.report().total.violations,
            0,
            "a refusal is not a violation"
        );
        // Back at once: a violation, and the wait doubles for each.
        let Admission::Refuse(again) = g.admit_at("sendMessage", 9, t) else {
            panic!("still refused");
        };
        assert_eq!(again.retry_after, Some(2));
        let Admission::Refuse(third) = g.admit_at("sendChatAction", 9, t) else {
            panic!("any call for the chat is refused while it must wait");
        };
        assert_eq!(third.retry_after, Some(4));
        let r = g.report();
        assert_eq!((r.total.violations, r.max_retry_after_s), (2, 4));
        assert_eq!(
            code(&g.admit_at("sendMessage", 10, t)),
            200,
            "other chats go on"
        );
    }

    #[test]
    fn groups_and_the_whole_bot_have_their_own_limits() {
        let g = gate(FloodMode::Report, &[]);
        let t = Instant::now();
        for _ in 0..25 {
            g.admit_at("sendMessage", -100, t);
        }
        assert_eq!(g.report().total.refused_group, 5, "20 a minute, as a burst");
        let g = gate(FloodMode::Report, &[]);
        let t = Instant::now();
        for chat in 1..=40 {
            g.admit_at("sendPhoto", chat, t);
        }
        let r = g.report();
        assert_eq!((r.total.refused_global, r.peak_messages_per_s), (10, 40));
    }

    #[test]
    fn the_overall_limit_tells_only_the_chat_it_refused() {
        let g = gate(FloodMode::Enforce, &[]);
        let t = Instant::now();
        for chat in 1..=30 {
            assert_eq!(code(&g.admit_at("sendMessage", chat, t)), 200);
        }
        let Admission::Refuse(e) = g.admit_at("sendMessage", 31, t) else {
            panic!("the 31st message in a second is over the overall rate");
        };
        assert_eq!(e.retry_after, Some(1));
        // Another chat was told nothing: refused by the rate again, not a violation, and never
        // told to retry after 0.
        let Admission::Refuse(e) = g.admit_at("sendMessage", 32, t) else {
            panic!("still over the overall rate");
        };
        assert_eq!(e.retry_after, Some(1));
        assert_eq!(g.report().total.violations, 0);
        // The chat that was told, back too early: a violation.
        let Admission::Refuse(e) = g.admit_at("sendMessage", 31, t) else {
            panic!("told to wait");
        };
        assert_eq!(e.retry_after, Some(2));
        assert_eq!(g.report().total.violations, 1);
    }

    #[test]
    fn faults_are_drawn_from_the_seed_and_blocked_chats_stay_blocked() {
        let run = || {
            let g = gate(FloodMode::Off, &["5xx=30%", "chat_not_found=10%"]);
            let t = Instant::now();
            (0..200)
                .map(|i| code(&g.admit_at("sendMessage", i % 7, t)))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run(), "the same seed hits the same calls");
        let errors = first.iter().filter(|c| **c == 500).count();
        assert!((40..=80).contains(&errors), "about 30% of 200: {errors}");
        assert!(first.contains(&400));
        let g = gate(FloodMode::Off, &["blocked=50%"]);
        let t = Instant::now();
        let blocked: Vec<bool> = (0..100)
            .map(|c| code(&g.admit_at("sendMessage", c, t)) == 403)
            .collect();
        let again: Vec<bool> = (0..100)
            .map(|c| code(&g.admit_at("sendMessage", c, t)) == 403)
            .collect();
        assert_eq!(blocked, again, "a chat that blocked the bot stays blocked");
        let r = g.report();
        let n = blocked.iter().filter(|b| **b).count() as u64;
        assert!((30..=70).contains(&n), "{n}");
        assert_eq!(
            (r.total.injected["blocked"], r.total.blocked_calls),
            (n, 2 * n)
        );
    }

    #[test]
    fn windows_count_apart_and_faults_wait_for_the_run() {
        let chaos = Chaos {
            windows: vec![FaultWindow {
                name: "w".into(),
                at: Duration::from_secs(3600),
                duration: Duration::from_secs(1),
                botapi: vec![FaultSpec::parse("5xx=100%").unwrap()],
                cut_webhook: false,
            }],
            ..Chaos::default()
        };
        let windows = Arc::new(Windows::scaled(&chaos, Duration::ZERO, Duration::ZERO));
        let g = Gate::new(Rules {
            windows: windows.clone(),
            ..Rules::default()
        });
        let t = Instant::now();
        assert_eq!(code(&g.admit_at("sendMessage", 1, t)), 200, "not started");
        windows.start(t - Duration::from_secs(3600));
        assert_eq!(code(&g.admit_at("sendMessage", 1, t)), 500, "in the window");
        let r = g.report();
        assert_eq!(r.spans.len(), 2);
        assert_eq!((r.spans[0].messages, r.spans[1].injected["5xx"]), (1, 1));
    }
}
