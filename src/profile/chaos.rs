//! Telegram's rules and the chaos phase, as a profile states them: the flood limits the Bot API
//! stand-in holds the bot to, faults it injects into the bot's calls (for the whole run or in
//! time windows), webhook cuts, and whether failed webhook deliveries are redelivered.
//!
//! These are data only: `botapi::gate` applies the limits and faults, the virtual users cut
//! and redeliver, and the results measure each window ([`Windows`] says which is which).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::ProfileError;

/// What the stand-in does with a call Telegram would refuse for flooding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FloodMode {
    /// Not checked.
    Off,
    /// Counted (per chat, per group, overall) and answered as usual.
    #[default]
    Report,
    /// Answered with Telegram's 429 and `retry_after`; calls before it elapsed are violations.
    Enforce,
}

impl FloodMode {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "report" => Ok(Self::Report),
            "enforce" => Ok(Self::Enforce),
            other => Err(format!(
                "`{other}` is not a flood mode (enforce, report or off)"
            )),
        }
    }
}

/// Telegram's flood limits (the Bot FAQ): about one message a second in a chat with short
/// bursts, 20 a minute in a group, about 30 a second overall.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FloodLimits {
    pub mode: FloodMode,
    /// Messages per second in one private chat, and the burst allowed above it.
    pub per_chat: f64,
    pub chat_burst: f64,
    /// Messages per minute in one group, and the burst.
    pub group_per_minute: f64,
    pub group_burst: f64,
    /// Messages per second over all chats, and the burst.
    pub global: f64,
    pub global_burst: f64,
}

impl Default for FloodLimits {
    fn default() -> Self {
        Self {
            mode: FloodMode::Report,
            per_chat: 1.0,
            chat_burst: 3.0,
            group_per_minute: 20.0,
            group_burst: 20.0,
            global: 30.0,
            global_burst: 30.0,
        }
    }
}

impl FloodLimits {
    fn validate(&self) -> Result<(), ProfileError> {
        let fields = [
            ("flood.per_chat", self.per_chat),
            ("flood.chat_burst", self.chat_burst),
            ("flood.group_per_minute", self.group_per_minute),
            ("flood.group_burst", self.group_burst),
            ("flood.global", self.global),
            ("flood.global_burst", self.global_burst),
        ];
        for (field, v) in fields {
            if !(v.is_finite() && v > 0.0) {
                return Err(super::err(field, format!("{v} is not a positive number")));
            }
            if !(MIN_RATE..=MAX_RATE).contains(&v) {
                return Err(super::err(
                    field,
                    format!("{v} is not between {MIN_RATE} and {MAX_RATE}"),
                ));
            }
        }
        for (field, v) in [
            ("flood.chat_burst", self.chat_burst),
            ("flood.group_burst", self.group_burst),
            ("flood.global_burst", self.global_burst),
        ] {
            if v < 1.0 {
                return Err(super::err(
                    field,
                    "a burst of less than one message refuses all",
                ));
            }
        }
        Ok(())
    }
}

/// The rates and bursts a `[flood]` table may give.
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 1e6;
/// The latest a fault window may start or last (100 days).
const MAX_WINDOW: Duration = Duration::from_secs(100 * 86_400);

/// A fault the stand-in injects into the bot's calls for a chat.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "delay_ms")]
pub enum FaultKind {
    /// 500 Internal Server Error.
    #[serde(rename = "5xx")]
    ServerError,
    /// The answer comes this much later.
    Slow(#[serde(serialize_with = "millis")] Duration),
    /// The connection is dropped without an answer.
    Reset,
    /// No answer until the bot gives up ([`TIMEOUT_HOLD`] at most).
    Timeout,
    /// 403 "Forbidden: bot was blocked by the user", for a share of chats (not of calls).
    Blocked,
    /// 400 "Bad Request: chat not found".
    ChatNotFound,
    /// 429 with `retry_after`, whatever the rate.
    Flood,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// How long a `timeout` fault holds the bot's call before answering 504.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(60);
/// A `slow` fault's delay when the spec gives none.
pub const DEFAULT_SLOW: Duration = Duration::from_secs(2);

impl FaultKind {
    /// The name results use.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ServerError => "5xx",
            Self::Slow(_) => "slow",
            Self::Reset => "reset",
            Self::Timeout => "timeout",
            Self::Blocked => "blocked",
            Self::ChatNotFound => "chat_not_found",
            Self::Flood => "flood",
        }
    }

    pub const NAMES: [&'static str; 7] = [
        "5xx",
        "slow",
        "reset",
        "timeout",
        "blocked",
        "chat_not_found",
        "flood",
    ];

    /// Index in [`NAMES`](Self::NAMES).
    pub fn index(&self) -> usize {
        Self::NAMES
            .iter()
            .position(|n| *n == self.name())
            .expect("every kind is named")
    }
}

/// One fault and the share of calls (of chats, for `blocked`) it hits.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    pub rate: f64,
}

impl FaultSpec {
    /// `KIND=RATE` (`5xx=20%`, `reset=0.05`), or for slow `slow=DURATION[@RATE]` (`slow=2s`
    /// slows every call, `slow=2s@10%` one in ten). Kinds: 5xx, slow, reset, timeout, blocked,
    /// chat_not_found, flood.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (kind, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("`{spec}`: expected KIND=RATE (for example 5xx=20%)"))?;
        let kind = kind.trim();
        let value = value.trim();
        if kind == "slow" {
            let (delay, rate) = match value.split_once('@') {
                Some((d, r)) => (d, rate(spec, r)?),
                None if value.ends_with('%') || value.parse::<f64>().is_ok() => {
                    ("", rate(spec, value)?)
                }
                None => (value, 1.0),
            };
            let delay = if delay.is_empty() {
                DEFAULT_SLOW
            } else {
                humantime::parse_duration(delay.trim())
                    .map_err(|e| format!("`{spec}`: `{delay}` is not a duration ({e})"))?
            };
            return Ok(Self {
                kind: FaultKind::Slow(delay),
                rate,
            });
        }
        let kind = match kind {
            "5xx" | "500" => FaultKind::ServerError,
            "reset" => FaultKind::Reset,
            "timeout" => FaultKind::Timeout,
            "blocked" => FaultKind::Blocked,
            "chat_not_found" => FaultKind::ChatNotFound,
            "flood" | "429" => FaultKind::Flood,
            other => {
                return Err(format!(
                    "`{spec}`: unknown fault `{other}` (kinds: {})",
                    FaultKind::NAMES.join(", ")
                ));
            }
        };
        Ok(Self {
            kind,
            rate: rate(spec, value)?,
        })
    }
}

/// `20%` or `0.2`, between 0 and 1.
fn rate(spec: &str, s: &str) -> Result<f64, String> {
    let s = s.trim();
    let value = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("`{spec}`: `{s}` is not a rate (20% or 0.2)"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("`{spec}`: the rate must be between 0% and 100%"));
    }
    Ok(value)
}

/// A time window of the run with faults of its own.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultWindow {
    /// How results call it (`5xx at 20%`, `webhook cut`), given or made up from its faults.
    pub name: String,
    /// From the run's start, as written (before [`Windows::scaled`]).
    pub at: Duration,
    pub duration: Duration,
    /// Faults injected into the bot's calls during the window, on top of the run's.
    pub botapi: Vec<FaultSpec>,
    /// The tool delivers nothing to the webhook during the window, as if it were unreachable.
    pub cut_webhook: bool,
}

impl FaultWindow {
    pub fn end(&self) -> Duration {
        self.at.saturating_add(self.duration)
    }

    /// A name from what the window does.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .botapi
            .iter()
            .map(|f| match f.kind {
                FaultKind::Slow(d) => format!(
                    "Bot API slow {} at {}%",
                    humantime::format_duration(d),
                    f.rate * 100.0
                ),
                k => format!("Bot API {} at {}%", k.name(), f.rate * 100.0),
            })
            .collect();
        if self.cut_webhook {
            parts.push("webhook cut".into());
        }
        parts.join(", ")
    }
}

/// How failed webhook deliveries are repeated, as Telegram does: the same update again after
/// a backoff that doubles up to `max_backoff`, until it succeeds or `attempts` are spent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Redeliver {
    #[serde(serialize_with = "millis")]
    pub backoff: Duration,
    #[serde(serialize_with = "millis")]
    pub max_backoff: Duration,
    /// Deliveries in all, the first included.
    pub attempts: u32,
}

impl Default for Redeliver {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(16),
            attempts: 8,
        }
    }
}

impl Redeliver {
    /// The wait before delivery number `attempt + 1` (after `attempt` failed ones, from 1).
    pub fn backoff_after(&self, attempt: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        doubled.min(self.max_backoff)
    }
}

/// The chaos a profile asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chaos {
    pub flood: FloodLimits,
    /// Faults for the whole run.
    pub faults: Vec<FaultSpec>,
    pub windows: Vec<FaultWindow>,
    /// Failed webhook deliveries are repeated (`--redeliver`).
    pub redeliver: Option<Redeliver>,
}

impl Chaos {
    pub fn validate(&self) -> Result<(), ProfileError> {
        self.flood.validate()?;
        for (i, w) in self.windows.iter().enumerate() {
            if w.at > MAX_WINDOW || w.duration > MAX_WINDOW {
                return Err(super::err(
                    format!("faults[{i}]"),
                    "a fault window must start and end within 100 days",
                ));
            }
            if w.duration.is_zero() {
                return Err(super::err(
                    format!("faults[{i}].duration"),
                    "a fault window must last longer than zero",
                ));
            }
            if w.botapi.is_empty() && !w.cut_webhook {
                return Err(super::err(
                    format!("faults[{i}]"),
                    "the window injects nothing (give botapi = [\"5xx=20%\"] or cut_webhook = true)",
                ));
            }
        }
        if let Some(r) = &self.redeliver
            && (r.attempts == 0 || r.backoff.is_zero())
        {
            return Err(super::err(
                "redeliver",
                "needs at least one attempt and a backoff above zero",
            ));
        }
        Ok(())
    }

    /// Whether anything is injected at any time.
    pub fn injects(&self) -> bool {
        !self.faults.is_empty() || !self.windows.is_empty()
    }
}

/// The fault windows of one run on its clock: placed in proportion to the run's length when a
/// `--run-time` compresses or stretches the profile, and started when the run starts.
#[derive(Debug, Default)]
pub struct Windows {
    windows: Vec<FaultWindow>,
    /// Whole-run faults.
    always: Vec<FaultSpec>,
    start: OnceLock<Instant>,
}

impl Windows {
    /// `chaos`'s windows for a run of `run_time` whose profile lasts `planned`.
    pub fn scaled(chaos: &Chaos, planned: Duration, run_time: Duration) -> Self {
        let factor = if planned.is_zero() {
            1.0
        } else {
            run_time.as_secs_f64() / planned.as_secs_f64()
        };
        let windows = chaos
            .windows
            .iter()
            .map(|w| FaultWindow {
                at: w.at.mul_f64(factor),
                duration: w.duration.mul_f64(factor),
                ..w.clone()
            })
            .collect();
        Self {
            windows,
            always: chaos.faults.clone(),
            start: OnceLock::new(),
        }
    }

    /// The run's clock starts (once; later calls are ignored).
    pub fn start(&self, at: Instant) {
        let _ = self.start.set(at);
    }

    pub fn started(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    pub fn windows(&self) -> &[FaultWindow] {
        &self.windows
    }

    /// Whether anything is injected at any time.
    pub fn injects(&self) -> bool {
        !self.always.is_empty() || !self.windows.is_empty()
    }

    fn since_start(&self, now: Instant) -> Option<Duration> {
        self.start.get().map(|s| now.saturating_duration_since(*s))
    }

    /// The faults in force at `now`: the run's, then those of the windows open then. None
    /// before the run starts.
    pub fn faults_at(&self, now: Instant) -> impl Iterator<Item = &FaultSpec> {
        let t = self.since_start(now);
        let open = t.map(|t| {
            self.windows
                .iter()
                .filter(move |w| w.at <= t && t < w.end())
        });
        let always = t.map(|_| self.always.iter());
        always
            .into_iter()
            .flatten()
            .chain(open.into_iter().flatten().flat_map(|w| w.botapi.iter()))
    }

    /// Whether a window cuts the webhook at `now`.
    pub fn cut_at(&self, now: Instant) -> bool {
        self.since_start(now).is_some_and(|t| {
            self.windows
                .iter()
                .any(|w| w.cut_webhook && w.at <= t && t < w.end())
        })
    }

    /// Which part of the run `now` falls in, for counting: 0 before the first window, i + 1
    /// from the start of window i until the next window starts (a window and its aftermath).
    pub fn span_at(&self, now: Instant) -> usize {
        let Some(t) = self.since_start(now) else {
            return 0;
        };
        self.windows.iter().take_while(|w| w.at <= t).count()
    }

    /// How many spans [`span_at`](Self::span_at) counts in.
    pub fn spans(&self) -> usize {
        self.windows.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_bad_ones_say_why() {
        let f = FaultSpec::parse("5xx=20%").unwrap();
        assert_eq!((f.kind, f.rate), (FaultKind::ServerError, 0.2));
        assert_eq!(FaultSpec::parse("reset=0.05").unwrap().rate, 0.05);
        let s = FaultSpec::parse("slow=2s").unwrap();
        assert_eq!(
            (s.kind, s.rate),
            (FaultKind::Slow(Duration::from_secs(2)), 1.0)
        );
        let s = FaultSpec::parse("slow=500ms@10%").unwrap();
        assert_eq!(
            (s.kind, s.rate),
            (FaultKind::Slow(Duration::from_millis(500)), 0.1)
        );
        assert_eq!(
            FaultSpec::parse("slow=30%").unwrap().kind,
            FaultKind::Slow(DEFAULT_SLOW)
        );
        for kind in FaultKind::NAMES {
            let spec = if kind == "slow" {
                "slow=1s@1%".to_string()
            } else {
                format!("{kind}=1%")
            };
            assert_eq!(FaultSpec::parse(&spec).unwrap().kind.name(), kind);
        }
        let e = FaultSpec::parse("boom=1%").unwrap_err();
        assert!(
            e.contains("unknown fault `boom`") && e.contains("chat_not_found"),
            "{e}"
        );
        assert!(
            FaultSpec::parse("5xx=120%")
                .unwrap_err()
                .contains("between")
        );
        assert!(FaultSpec::parse("5xx").unwrap_err().contains("KIND=RATE"));
        assert!(
            FaultSpec::parse("slow=fast")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    #[test]
    fn redelivery_backs_off_doubling_to_its_cap() {
        let r = Redeliver::default();
        let waits: Vec<u64> = (1..=7).map(|a| r.backoff_after(a).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 16, 16]);
    }

    fn window(at: u64, duration: u64, cut: bool) -> FaultWindow {
        FaultWindow {
            name: String::new(),
            at: Duration::from_secs(at),
            duration: Duration::from_secs(duration),
            botapi: if cut {
                vec![]
            } else {
                vec![FaultSpec::parse("5xx=20%").unwrap()]
            },
            cut_webhook: cut,
        }
    }

    #[test]
    fn windows_scale_with_the_run_and_open_on_its_clock() {
        let chaos = Chaos {
            faults: vec![FaultSpec::parse("flood=1%").unwrap()],
            windows: vec![window(120, 60, false), window(240, 30, true)],
            ..Chaos::default()
        };
        let w = Windows::scaled(&chaos, Duration::from_secs(600), Duration::from_secs(120));
        assert_eq!(w.windows()[0].at, Duration::from_secs(24));
        assert_eq!(w.windows()[1].duration, Duration::from_secs(6));
        let t0 = Instant::now();
        assert_eq!(w.faults_at(t0).count(), 0, "nothing before the run starts");
        w.start(t0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(w.faults_at(at(1)).count(), 1, "the run's own fault");
        assert_eq!(w.faults_at(at(25)).count(), 2);
        assert!(!w.cut_at(at(25)) && w.cut_at(at(49)) && !w.cut_at(at(54)));
        let spans: Vec<usize> = [1, 24, 40, 48, 100]
            .iter()
            .map(|s| w.span_at(at(*s)))
            .collect();
        assert_eq!(spans, vec![0, 1, 1, 2, 2]);
        assert_eq!(w.spans(), 3);
    }

    #[test]
    fn an_empty_window_or_bad_limit_names_its_field() {
        let mut chaos = Chaos {
            windows: vec![FaultWindow {
                botapi: vec![],
                ..window(1, 1, false)
            }],
            ..Chaos::default()
        };
        assert_eq!(chaos.validate().unwrap_err().field, "faults[0]");
        chaos.windows.clear();
        chaos.flood.chat_burst = 0.5;
        assert_eq!(chaos.validate().unwrap_err().field, "flood.chat_burst");
    }
}
