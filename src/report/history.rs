//! The run second by second: what the JSON's `history` holds, and the per-second rows of
//! Locust's `_stats_history.csv`. A long run keeps its history bounded by merging its older
//! points in pairs ([`thin`]): a point then covers several seconds (`t` is the end of the last
//! one), its counts are their sums and its percentiles the worst of them.

use serde::{Deserialize, Serialize};

use super::Percentiles;

/// One second of the run (or, in a long run, a few merged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Seconds since the start (the end of the last second this point covers).
    pub t: u64,
    pub users: u32,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Reply latency p95, when replies were awaited.
    pub reply_p95_ms: Option<f64>,
    pub tasks: u64,
    /// Task starts the open model dropped for want of a free user.
    #[serde(default)]
    pub dropped: u64,
    /// Sends whose awaited reply never came.
    #[serde(default)]
    pub no_reply: u64,
    /// With `--redeliver`: repeated deliveries, updates given up on, repeated replies.
    #[serde(default)]
    pub redeliveries: u64,
    #[serde(default)]
    pub lost: u64,
    #[serde(default)]
    pub duplicates: u64,
    pub script_errors: u64,
    /// The script version a reload published during this second, if one did.
    pub reload: Option<u64>,
    /// The statistics were reset during this second (the dashboard's "reset"): totals,
    /// percentiles and failures count from here on.
    #[serde(default)]
    pub reset: bool,
}

/// One second as Locust's `_stats_history.csv` has it: the current percentiles over the last
/// ten seconds (Locust's window), and the totals so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowPoint {
    pub t: u64,
    pub users: u32,
    pub requests: u64,
    pub failures: u64,
    /// The last ten seconds' latency.
    pub current: Percentiles,
    /// Everything up to this second.
    pub total: Percentiles,
    pub total_failures: u64,
    pub total_bytes: u64,
}

/// A point that can take in the one after it.
pub trait Mergeable {
    /// `self` followed by `later`, as one point.
    fn absorb(&mut self, later: &Self);
}

fn worst(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Mergeable for HistoryPoint {
    fn absorb(&mut self, later: &Self) {
        self.t = later.t;
        self.users = later.users;
        self.requests += later.requests;
        self.failures += later.failures;
        self.p50_ms = self.p50_ms.max(later.p50_ms);
        self.p95_ms = self.p95_ms.max(later.p95_ms);
        self.p99_ms = self.p99_ms.max(later.p99_ms);
        self.reply_p95_ms = worst(self.reply_p95_ms, later.reply_p95_ms);
        self.tasks += later.tasks;
        self.dropped += later.dropped;
        self.no_reply += later.no_reply;
        self.redeliveries += later.redeliveries;
        self.lost += later.lost;
        self.duplicates += later.duplicates;
        self.script_errors += later.script_errors;
        self.reload = later.reload.or(self.reload);
        self.reset |= later.reset;
    }
}

impl Mergeable for WindowPoint {
    fn absorb(&mut self, later: &Self) {
        let (requests, failures) = (self.requests, self.failures);
        *self = later.clone();
        self.requests += requests;
        self.failures += failures;
    }
}

/// Keeps `points` at most `max` long by merging the older half in pairs, so the latest
/// seconds keep their detail. Returns how many points were merged away.
pub fn thin<P: Mergeable>(points: &mut Vec<P>, max: usize) -> usize {
    if points.len() <= max || max < 4 {
        return 0;
    }
    let before = points.len();
    let older = points.len() / 2;
    let mut merged: Vec<P> = Vec::with_capacity(before);
    let mut iter = points.drain(..);
    for _ in 0..older / 2 {
        let (Some(mut a), Some(b)) = (iter.next(), iter.next()) else {
            break;
        };
        a.absorb(&b);
        merged.push(a);
    }
    merged.extend(iter);
    *points = merged;
    before - points.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(t: u64, requests: u64, p95: f64) -> HistoryPoint {
        HistoryPoint {
            t,
            users: t as u32,
            requests,
            p95_ms: p95,
            ..HistoryPoint::default()
        }
    }

    #[test]
    fn thinning_keeps_counts_and_the_latest_seconds() {
        let mut points: Vec<HistoryPoint> = (1..=10).map(|t| second(t, t, t as f64)).collect();
        let merged = thin(&mut points, 8);
        assert_eq!(merged, 2);
        assert_eq!(points.len(), 8);
        assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 55);
        let ts: Vec<u64> = points.iter().map(|p| p.t).collect();
        assert_eq!(ts, vec![2, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(points[0].p95_ms, 2.0, "the worst of the merged seconds");
        assert_eq!(points[0].users, 2, "the users at the end of it");
        assert_eq!(thin(&mut points, 8), 0, "within bounds: untouched");
    }

    #[test]
    fn a_day_of_seconds_stays_within_bounds() {
        let mut points = Vec::new();
        let mut merged = 0;
        for t in 1..=86_400 {
            points.push(second(t, 1, 1.0));
            merged += thin(&mut points, 3600);
            assert!(points.len() <= 3600);
        }
        assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 86_400);
        assert_eq!(merged + points.len(), 86_400);
        assert_eq!(points.last().unwrap().t, 86_400);
    }
}
