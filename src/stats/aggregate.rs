//! The aggregator: the one owner of the run's totals and per-second history. Workers send it
//! their intervals; it merges them (exactly: HDR histograms add) and publishes a [`Snapshot`]
//! for the live display once a second.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::hist::Latency;
use super::recorder::{Interval, RequestStats};

/// A virtual user's life, reported when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VuReport {
    pub class: String,
    pub vu: u64,
    pub iterations: u64,
    pub requests: u64,
    /// Hash of the sequence of request names the user sent, in order.
    pub digest: u64,
}

/// What workers tell the aggregator.
#[derive(Debug)]
pub enum StatsMsg {
    Interval(Interval),
    VuDone(VuReport),
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Seconds since the start (the end of the second this point covers).
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
    pub script_errors: u64,
}

/// What the live display shows.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub users: u32,
    pub requests: u64,
    pub failures: u64,
    /// Requests in the last complete second.
    pub rps: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub script_errors: u64,
}

/// Per class: how its users' sequences came out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassRuns {
    pub vus: u64,
    pub iterations: u64,
    /// Order-independent combination of every user's (number, sequence digest).
    pub digest: u64,
}

/// The run's statistics, owned by the aggregator task.
#[derive(Debug)]
pub struct Aggregator {
    pub totals: Interval,
    /// All requests together.
    pub all: RequestStats,
    pub history: Vec<HistoryPoint>,
    pub runs: HashMap<String, ClassRuns>,
    pending: BTreeMap<u64, Interval>,
    users: watch::Receiver<u32>,
    started: Instant,
}

fn mix(vu: u64, digest: u64) -> u64 {
    // splitmix64 of the pair, so the sum over users does not cancel out.
    let mut z = vu.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ digest;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Aggregator {
    pub fn new(users: watch::Receiver<u32>, started: Instant) -> Self {
        Self {
            totals: Interval::default(),
            all: RequestStats::default(),
            history: Vec::new(),
            runs: HashMap::new(),
            pending: BTreeMap::new(),
            users,
            started,
        }
    }

    fn add(&mut self, interval: Interval) {
        for r in interval.requests.values() {
            self.all.merge(r);
        }
        self.totals.merge(&interval);
        self.pending
            .entry(interval.second)
            .or_default()
            .merge(&interval);
    }

    fn vu_done(&mut self, report: VuReport) {
        let runs = self.runs.entry(report.class).or_default();
        runs.vus += 1;
        runs.iterations += report.iterations;
        runs.digest = runs.digest.wrapping_add(mix(report.vu, report.digest));
    }

    /// Turns every pending second up to `upto` into a history point.
    fn settle(&mut self, upto: u64) {
        let users = *self.users.borrow();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let (t, interval) = entry.remove_entry();
            let mut all = RequestStats::default();
            for r in interval.requests.values() {
                all.merge(r);
            }
            let lat = Latency::of(&all.latency);
            let tasks = interval
                .tasks
                .values()
                .flat_map(|t| t.values())
                .map(|t| t.count())
                .sum();
            self.history.push(HistoryPoint {
                t,
                users,
                requests: all.count(),
                failures: all.failed(),
                p50_ms: lat.p50,
                p95_ms: lat.p95,
                p99_ms: lat.p99,
                reply_p95_ms: (!all.reply.is_empty()).then(|| Latency::of(&all.reply).p95),
                tasks,
                script_errors: interval.errors.values().sum(),
            });
        }
    }

    fn snapshot(&self) -> Snapshot {
        let lat = Latency::of(&self.all.latency);
        Snapshot {
            elapsed: self.started.elapsed(),
            users: *self.users.borrow(),
            requests: self.all.count(),
            failures: self.all.failed(),
            rps: self.history.last().map_or(0, |p| p.requests),
            p50_ms: lat.p50,
            p95_ms: lat.p95,
            script_errors: self.totals.errors.values().sum(),
        }
    }

    /// The aggregator's loop: runs until every worker has dropped its sender, then settles the
    /// last seconds and returns the totals.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<StatsMsg>,
        snapshots: watch::Sender<Snapshot>,
    ) -> Self {
        let mut tick = tokio::time::interval_at(
            (self.started + Duration::from_secs(1)).into(),
            Duration::from_secs(1),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(StatsMsg::Interval(i)) => self.add(i),
                    Some(StatsMsg::VuDone(r)) => self.vu_done(r),
                    None => break,
                },
                _ = tick.tick() => {
                    // Workers flush on their own one-second ticks; a second is complete once
                    // the next has begun everywhere.
                    let now = self.started.elapsed().as_secs();
                    self.settle(now.saturating_sub(2));
                    snapshots.send_replace(self.snapshot());
                }
            }
        }
        self.settle(u64::MAX);
        snapshots.send_replace(self.snapshot());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::recorder::{Recorder, ReplyOutcome};

    #[tokio::test]
    async fn merges_workers_and_builds_history() {
        let (_users_tx, users) = watch::channel(7);
        let agg = Aggregator::new(users, Instant::now());
        let (tx, rx) = mpsc::unbounded_channel();
        let (snap_tx, _snap_rx) = watch::channel(Snapshot::default());
        for worker in 0..2u64 {
            for second in 1..=3 {
                let mut r = Recorder::default();
                for _ in 0..(10 * worker + second) {
                    r.request(
                        "/help",
                        Duration::from_millis(3),
                        None,
                        ReplyOutcome::NotAwaited,
                    );
                }
                r.task("Guest", "browse", Duration::from_millis(1), false);
                tx.send(StatsMsg::Interval(r.take(second))).unwrap();
            }
            tx.send(StatsMsg::VuDone(VuReport {
                class: "Guest".into(),
                vu: worker,
                iterations: 3,
                requests: 3,
                digest: 42,
            }))
            .unwrap();
        }
        drop(tx);
        let agg = agg.run(rx, snap_tx).await;
        assert_eq!(agg.all.count(), (1 + 2 + 3) + (11 + 12 + 13));
        let per_second: Vec<u64> = agg.history.iter().map(|p| p.requests).collect();
        assert_eq!(per_second, vec![12, 14, 16]);
        assert!(agg.history.iter().all(|p| p.users == 7 && p.tasks == 2));
        assert_eq!(agg.runs["Guest"].vus, 2);
        assert_eq!(agg.totals.tasks["Guest"]["browse"].count(), 6);
    }
}
