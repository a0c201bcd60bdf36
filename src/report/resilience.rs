//! The resilience section: for each fault window, what the bot lost, repeated and violated,
//! and how soon it recovered.
//!
//! A window's counts cover the window and its aftermath, until the next window starts (or the
//! run ends): replies lost and duplicates come after the fault. Recovery is the first second
//! after the window whose reply p95 (the request p95 when replies were not awaited) is back
//! within 10% of before the chaos. "Before" is the 90th percentile of the per-second p95s of
//! the 30 seconds before the first window (the bot undisturbed, not a previous window's
//! aftermath), so a second as good as most seconds before counts as recovered, whatever the
//! second-to-second noise.

use serde::{Deserialize, Serialize};

use super::{FloodReport, HistoryPoint, Totals};
use crate::profile::chaos::FaultWindow;

/// Seconds before a window that say what "before" was.
const BASELINE_SECONDS: u64 = 30;
/// Back "within 10% of before".
const RECOVERED_WITHIN: f64 = 1.10;

/// How one fault window went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowOutcome {
    pub name: String,
    /// From the run's start.
    pub start_s: f64,
    pub end_s: f64,
    /// What the window injected (`5xx=20%`, `webhook cut`).
    pub faults: Vec<String>,
    /// Counted from the window's start until the next window's (or the end).
    pub requests: u64,
    pub failures: u64,
    /// Sends whose awaited reply never came.
    pub replies_lost: u64,
    pub duplicate_replies: u64,
    pub redeliveries: u64,
    /// Updates whose deliveries all failed.
    pub lost_updates: u64,
    /// Calls for a chat told to wait by a 429 before the wait was over.
    pub violations: u64,
    /// Messages over Telegram's flood limits (refused with `enforce`).
    pub flood_refused: u64,
    /// Calls answered 403 (blocked by the user).
    pub blocked_calls: u64,
    /// Reply p95 before the chaos (see the module's header) and the worst second after the
    /// window's start.
    pub before_p95_ms: Option<f64>,
    pub worst_p95_ms: Option<f64>,
    /// Seconds from the window's end to the first second back within 10% of before; none when
    /// that never came before the next window or the end.
    pub recovery_s: Option<f64>,
}

/// The resilience section of a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resilience {
    pub windows: Vec<WindowOutcome>,
    /// The whole run's.
    pub redeliveries: u64,
    pub lost_updates: u64,
    pub duplicate_replies: u64,
    pub violations: u64,
    pub flood_refused: u64,
}

impl Resilience {
    /// The section for a run with `windows` (placed on the run's clock), from its history,
    /// totals and the stand-in's gate counts.
    pub fn of(
        windows: &[FaultWindow],
        history: &[HistoryPoint],
        totals: &Totals,
        flood: Option<&FloodReport>,
    ) -> Self {
        let mut outcomes = Vec::new();
        let before = windows
            .first()
            .and_then(|w| before(history, w.at.as_secs_f64()));
        for (i, w) in windows.iter().enumerate() {
            let start = w.at.as_secs_f64();
            let end = w.end().as_secs_f64();
            let until = windows
                .get(i + 1)
                .map_or(f64::INFINITY, |n| n.at.as_secs_f64());
            // A point covers the second that ends at `t`.
            let span: Vec<&HistoryPoint> = history
                .iter()
                .filter(|p| p.t as f64 > start && p.t as f64 <= until)
                .collect();
            let sum = |f: fn(&HistoryPoint) -> u64| span.iter().map(|p| f(p)).sum::<u64>();
            let gate = flood.and_then(|f| f.spans.get(i + 1));
            let worst = span
                .iter()
                .filter_map(|p| p95(p))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let recovery = before.and_then(|b| {
                span.iter()
                    .filter(|p| p.t as f64 > end)
                    .find(|p| p95(p).is_some_and(|v| v <= b * RECOVERED_WITHIN))
                    .map(|p| p.t as f64 - end)
            });
            let mut faults: Vec<String> = w
                .botapi
                .iter()
                .map(|f| format!("{}={}%", f.kind.name(), f.rate * 100.0))
                .collect();
            if w.cut_webhook {
                faults.push("webhook cut".into());
            }
            outcomes.push(WindowOutcome {
                name: w.name.clone(),
                start_s: start,
                end_s: end,
                faults,
                requests: sum(|p| p.requests),
                failures: sum(|p| p.failures),
                replies_lost: sum(|p| p.no_reply),
                duplicate_replies: sum(|p| p.duplicates),
                redeliveries: sum(|p| p.redeliveries),
                lost_updates: sum(|p| p.lost),
                violations: gate.map_or(0, |g| g.violations),
                flood_refused: gate.map_or(0, |g| g.refused()),
                blocked_calls: gate.map_or(0, |g| g.blocked_calls),
                before_p95_ms: before,
                worst_p95_ms: worst,
                recovery_s: recovery,
            });
        }
        Self {
            windows: outcomes,
            redeliveries: totals.redeliveries,
            lost_updates: totals.lost_updates,
            duplicate_replies: totals.duplicate_replies,
            violations: flood.map_or(0, |f| f.total.violations),
            flood_refused: flood.map_or(0, |f| f.total.refused()),
        }
    }

    /// The slowest recovery, with `None` inside when a window never recovered; `None` without
    /// windows.
    pub fn worst_recovery(&self) -> Option<Option<f64>> {
        self.windows
            .iter()
            .map(|w| w.recovery_s)
            .reduce(|a, b| match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            })
    }
}

/// A point's reply p95, or its request p95 when no reply was awaited; none for an empty second.
fn p95(p: &HistoryPoint) -> Option<f64> {
    if p.requests == 0 {
        return None;
    }
    p.reply_p95_ms.or(Some(p.p95_ms))
}

/// The 90th percentile of the per-second p95s in the seconds before `start`.
fn before(history: &[HistoryPoint], start: f64) -> Option<f64> {
    let from = start - BASELINE_SECONDS as f64;
    let mut values: Vec<f64> = history
        .iter()
        .filter(|p| p.t as f64 > from && p.t as f64 <= start)
        .filter_map(p95)
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * 0.9).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::profile::chaos::FaultSpec;

    fn second(t: u64, p95: f64) -> HistoryPoint {
        HistoryPoint {
            t,
            requests: 10,
            p95_ms: p95,
            reply_p95_ms: Some(p95),
            ..HistoryPoint::default()
        }
    }

    #[test]
    fn a_window_counts_its_aftermath_and_recovers_when_p95_is_back() {
        let mut history: Vec<HistoryPoint> = (1..=60).map(|t| second(t, 10.0)).collect();
        // The window is seconds 20-30; p95 climbs, then comes back at second 34.
        for p in &mut history[20..33] {
            p.reply_p95_ms = Some(200.0);
            p.no_reply = 1;
            p.duplicates = 2;
        }
        history[40].lost = 3;
        let window = FaultWindow {
            name: "5xx".into(),
            at: Duration::from_secs(20),
            duration: Duration::from_secs(10),
            botapi: vec![FaultSpec::parse("5xx=20%").unwrap()],
            cut_webhook: false,
        };
        let r = Resilience::of(
            std::slice::from_ref(&window),
            &history,
            &Totals::default(),
            None,
        );
        let w = &r.windows[0];
        assert_eq!(
            (w.replies_lost, w.duplicate_replies, w.lost_updates),
            (13, 26, 3)
        );
        assert_eq!(w.requests, 400, "seconds 21 to 60");
        assert_eq!((w.before_p95_ms, w.worst_p95_ms), (Some(10.0), Some(200.0)));
        assert_eq!(w.recovery_s, Some(4.0), "second 34 is the first back");
        assert_eq!(w.faults, vec!["5xx=20%"]);
        assert_eq!(r.worst_recovery(), Some(Some(4.0)));
        // Never back: no recovery, and the worst says so.
        for p in &mut history[33..] {
            p.reply_p95_ms = Some(50.0);
        }
        let r = Resilience::of(&[window], &history, &Totals::default(), None);
        assert_eq!(r.windows[0].recovery_s, None);
        assert_eq!(r.worst_recovery(), Some(None));
    }
}
