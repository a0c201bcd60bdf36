//! The aggregator: the one owner of the run's totals and per-second history. Workers send it
//! their intervals; it merges them (exactly: HDR histograms add) and publishes a [`Snapshot`]
//! for the live display once a second.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::names::NAME_LIMIT;
use super::recorder::{Interval, RequestStats};
use super::summarize::summarize;
use crate::report::{
    HistoryPoint, LimitRow, LogLine, Percentiles, ReloadEvent, RunInfo, Snapshot, WindowPoint, thin,
};

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

/// What workers (and the reloader, and the control API) tell the aggregator.
#[derive(Debug)]
pub enum StatsMsg {
    Interval(Box<Interval>),
    VuDone(VuReport),
    Reload(ReloadEvent),
    /// Start the statistics over (the dashboard's "reset"): requests, failures, checks,
    /// script errors and task counts are zeroed at the second it arrives, which the history
    /// marks; the history, logs and reloads carry on. Samples a worker gathered in the second
    /// before and had not yet sent count after it.
    Reset,
}

/// Log lines kept for the result: the latest ones.
const MAX_LOGS: usize = 500;

/// Reload records kept: the latest ones.
const MAX_RELOADS: usize = 1_000;

/// History points kept: an hour at one a second, older seconds merged past that ([`thin`]).
const MAX_HISTORY: usize = 3_600;

/// Seconds in the "current" percentile window (as Locust's).
const WINDOW: usize = 10;

/// Seconds of per-task counts kept for the "last 60 s" distribution.
const RECENT: u64 = 60;

/// Per class: how its users' sequences came out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassRuns {
    pub vus: u64,
    pub iterations: u64,
    /// Order-independent combination of every user's (number, sequence digest).
    pub digest: u64,
}

/// The run's statistics, owned by the aggregator task.
pub struct Aggregator {
    pub totals: Interval,
    /// All requests together.
    pub all: RequestStats,
    pub history: Vec<HistoryPoint>,
    pub runs: HashMap<String, ClassRuns>,
    pub reloads: Vec<ReloadEvent>,
    pending: BTreeMap<u64, Interval>,
    /// Second of the run → the version a reload published in it.
    reload_marks: BTreeMap<u64, u64>,
    /// Seconds of the run in which the statistics were reset.
    reset_marks: std::collections::BTreeSet<u64>,
    /// When the statistics were last reset (seconds since the start): rates count from here.
    pub reset_at: Option<f64>,
    /// Per settled second of the last [`RECENT`]: calls per class and task.
    recent: std::collections::VecDeque<(u64, TaskCalls)>,
    /// Second of the run → users running when it ended.
    users_at: BTreeMap<u64, u32>,
    /// The last second turned into a history point.
    settled: u64,
    /// Reload records left out, the oldest first ([`MAX_RELOADS`]).
    reloads_dropped: u64,
    /// History points merged into others ([`MAX_HISTORY`]).
    history_merged: u64,
    /// The latest lines scripts logged.
    pub logs: std::collections::VecDeque<LogLine>,
    /// Log lines not kept: past a call site's rate, or pushed out of the ring.
    logs_dropped: u64,
    /// Per second, for Locust's history CSV.
    pub window_points: Vec<WindowPoint>,
    window: std::collections::VecDeque<hdrhistogram::Histogram<u64>>,
    cumulative: RequestStats,
    users: watch::Receiver<u32>,
    started: Instant,
    /// What the live summary says about the run besides the statistics.
    live_info: LiveInfo,
}

/// Calls in one second: class, task, count.
type TaskCalls = Vec<(Box<str>, Box<str>, u64)>;

/// Describes the run as it is now, for each live snapshot.
pub type LiveInfo = Box<dyn Fn() -> RunInfo + Send + Sync>;

fn mix(vu: u64, digest: u64) -> u64 {
    // splitmix64 of the pair, so the sum over users does not cancel out.
    let mut z = vu.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ digest;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Aggregator {
    pub fn new(users: watch::Receiver<u32>, started: Instant, live_info: LiveInfo) -> Self {
        Self {
            totals: Interval::default(),
            all: RequestStats::default(),
            history: Vec::new(),
            runs: HashMap::new(),
            reloads: Vec::new(),
            pending: BTreeMap::new(),
            reload_marks: BTreeMap::new(),
            reset_marks: Default::default(),
            reset_at: None,
            recent: Default::default(),
            users_at: BTreeMap::new(),
            settled: 0,
            reloads_dropped: 0,
            history_merged: 0,
            logs: Default::default(),
            logs_dropped: 0,
            window_points: Vec::new(),
            window: std::collections::VecDeque::new(),
            cumulative: RequestStats::default(),
            users,
            started,
            live_info,
        }
    }

    fn add(&mut self, mut interval: Interval) {
        for line in interval.logs.drain(..) {
            if self.logs.len() == MAX_LOGS {
                self.logs.pop_front();
                self.logs_dropped += 1;
            }
            self.logs.push_back(line);
        }
        self.logs_dropped += std::mem::take(&mut interval.logs_suppressed);
        for r in interval.requests.values() {
            self.all.merge(r);
        }
        self.totals.merge(&interval);
        // A worker running late: its second is in the history already, so it counts in the
        // next one (the totals are exact either way).
        let second = interval.second.max(self.settled + 1);
        self.pending.entry(second).or_default().merge(&interval);
    }

    fn vu_done(&mut self, report: VuReport) {
        let runs = self.runs.entry(report.class).or_default();
        runs.vus += 1;
        runs.iterations += report.iterations;
        runs.digest = runs.digest.wrapping_add(mix(report.vu, report.digest));
    }

    fn reload(&mut self, event: ReloadEvent) {
        if event.ok {
            // Interval k covers the second (k-1, k].
            self.reload_marks
                .insert(event.t_s.ceil().max(1.0) as u64, event.version);
            self.pending
                .entry(event.t_s.ceil().max(1.0) as u64)
                .or_default();
        }
        if self.reloads.len() >= MAX_RELOADS {
            // The latest records matter most (the dashboard shows them); the oldest tenth
            // goes at once, so this happens once per hundred reloads.
            let drop = MAX_RELOADS / 10;
            self.reloads.drain(..drop);
            self.reloads_dropped += drop as u64;
        }
        self.reloads.push(event);
    }

    /// Zeroes the statistics (see [`StatsMsg::Reset`]) and marks the second in the history.
    fn reset(&mut self) {
        let t = self.started.elapsed().as_secs_f64();
        self.totals.requests.clear();
        self.totals.tasks.clear();
        self.totals.checks.clear();
        self.totals.errors.clear();
        self.totals.failures.clear();
        self.totals.lateness = None;
        self.all = RequestStats::default();
        self.cumulative = RequestStats::default();
        self.window.clear();
        self.recent.clear();
        self.reset_at = Some(t);
        // Interval k covers the second (k-1, k].
        let second = (t.ceil() as u64).max(self.settled + 1);
        self.reset_marks.insert(second);
        self.pending.entry(second).or_default();
    }

    /// Task calls per class and task in the last [`RECENT`] settled seconds.
    pub fn recent_tasks(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (class, task, n) in self.recent.iter().flat_map(|(_, calls)| calls) {
            *out.entry(class.to_string())
                .or_default()
                .entry(task.to_string())
                .or_default() += n;
        }
        out
    }

    /// The bounds the run reached, for the summary.
    pub(super) fn limits(&self) -> Vec<LimitRow> {
        let mut rows: Vec<LimitRow> = self
            .totals
            .overflows
            .iter()
            .map(|(kind, o)| LimitRow {
                what: kind.as_str().into(),
                limit: NAME_LIMIT as u64,
                first: o.first.clone(),
                at: o.at.clone(),
                count: o.samples,
            })
            .collect();
        for (what, limit, count) in [
            ("reload records", MAX_RELOADS, self.reloads_dropped),
            ("history", MAX_HISTORY, self.history_merged),
            ("log lines", MAX_LOGS, self.logs_dropped),
        ] {
            if count > 0 {
                rows.push(LimitRow {
                    what: what.into(),
                    limit: limit as u64,
                    first: String::new(),
                    at: String::new(),
                    count,
                });
            }
        }
        rows
    }

    /// Turns every pending second up to `upto` into a history point.
    fn settle(&mut self, upto: u64) {
        let now = *self.users.borrow();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let (t, interval) = entry.remove_entry();
            self.settled = t;
            let users = self.users_at.get(&t).copied().unwrap_or(now);
            self.users_at = self.users_at.split_off(&t);
            let mut all = RequestStats::default();
            for r in interval.requests.values() {
                all.merge(r);
            }
            let lat = Percentiles::of(&all.latency);
            self.cumulative.merge(&all);
            if self.window.len() == WINDOW {
                self.window.pop_front();
            }
            self.window.push_back(all.latency.clone());
            let mut current = super::hist::new();
            for h in &self.window {
                super::hist::merge(&mut current, h);
            }
            self.window_points.push(WindowPoint {
                t,
                users,
                requests: all.count(),
                failures: all.failed(),
                current: Percentiles::of(&current),
                total: Percentiles::of(&self.cumulative.latency),
                total_failures: self.cumulative.failed(),
                total_bytes: self.cumulative.bytes,
            });
            let tasks = interval
                .tasks
                .values()
                .flat_map(|t| t.values())
                .map(|t| t.count())
                .sum();
            let calls = interval
                .tasks
                .iter()
                .flat_map(|(class, tasks)| {
                    tasks
                        .iter()
                        .map(|(task, s)| (class.clone(), task.clone(), s.count()))
                })
                .collect();
            self.recent.push_back((t, calls));
            while self.recent.front().is_some_and(|(s, _)| s + RECENT <= t) {
                self.recent.pop_front();
            }
            self.history.push(HistoryPoint {
                t,
                users,
                requests: all.count(),
                failures: all.failed(),
                p50_ms: lat.p50,
                p95_ms: lat.p95,
                p99_ms: lat.p99,
                reply_p95_ms: (!all.reply.is_empty()).then(|| Percentiles::of(&all.reply).p95),
                tasks,
                dropped: interval.dropped.values().sum(),
                no_reply: all.no_reply,
                redeliveries: all.redeliveries,
                lost: all.lost,
                duplicates: all.duplicates,
                script_errors: interval.errors.values().sum(),
                reload: self.reload_marks.remove(&t),
                reset: self.reset_marks.remove(&t),
            });
            self.history_merged += thin(&mut self.history, MAX_HISTORY) as u64;
            thin(&mut self.window_points, MAX_HISTORY);
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            summary: Arc::new(summarize(self, (self.live_info)())),
            users: *self.users.borrow(),
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
                    Some(StatsMsg::Interval(i)) => self.add(*i),
                    Some(StatsMsg::VuDone(r)) => self.vu_done(r),
                    Some(StatsMsg::Reload(e)) => self.reload(e),
                    Some(StatsMsg::Reset) => self.reset(),
                    None => break,
                },
                _ = tick.tick() => {
                    // Workers flush on their own one-second ticks; a second is complete once
                    // the next has begun everywhere.
                    let now = (self.started.elapsed() + Duration::from_millis(500)).as_secs();
                    self.users_at.insert(now, *self.users.borrow());
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
        let agg = Aggregator::new(users, Instant::now(), Box::new(RunInfo::default));
        let (tx, rx) = mpsc::unbounded_channel();
        let (snap_tx, _snap_rx) = watch::channel(Snapshot::default());
        for worker in 0..2u64 {
            for second in 1..=3 {
                let mut r = Recorder::default();
                for _ in 0..(10 * worker + second) {
                    r.request("/help", Duration::from_millis(3), None, 0);
                    r.reply("/help", ReplyOutcome::NotAwaited, Default::default());
                }
                r.task("Guest", "browse", Duration::from_millis(1), false);
                tx.send(StatsMsg::Interval(Box::new(r.take(second))))
                    .unwrap();
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

    #[tokio::test]
    async fn a_reset_zeroes_the_statistics_and_marks_the_history() {
        let (_users_tx, users) = watch::channel(1);
        let started = Instant::now() - Duration::from_millis(2500);
        let mut agg = Aggregator::new(users, started, Box::new(RunInfo::default));
        let second = |n: u64, t: u64| {
            let mut r = Recorder::default();
            for _ in 0..n {
                r.request("/help", Duration::from_millis(3), None, 0);
                r.task("Guest", "browse", Duration::from_millis(1), false);
            }
            r.take(t)
        };
        agg.add(second(10, 1));
        agg.add(second(10, 2));
        agg.settle(2);
        agg.reset();
        agg.add(second(4, 3));
        agg.settle(3);
        assert_eq!(agg.all.count(), 4, "only what came after the reset");
        assert_eq!(agg.totals.tasks["Guest"]["browse"].count(), 4);
        assert_eq!(agg.history.len(), 3, "the history carries on");
        assert!(agg.history[2].reset && !agg.history[1].reset);
        assert_eq!(agg.recent_tasks()["Guest"]["browse"], 4);
        let s = summarize(
            &agg,
            RunInfo {
                duration_s: 4.5,
                ..RunInfo::default()
            },
        );
        assert_eq!(s.totals.requests, 4);
        assert!((s.totals.rps - 2.0).abs() < 0.01, "rates since the reset");
        assert_eq!(s.duration_s, 4.5);
    }

    #[test]
    fn reload_records_stay_bounded_and_say_so() {
        let (_users_tx, users) = watch::channel(0);
        let mut agg = Aggregator::new(users, Instant::now(), Box::new(RunInfo::default));
        for i in 0..1500 {
            agg.reload(ReloadEvent {
                version: i,
                t_s: i as f64,
                trigger: crate::report::Trigger::Request,
                files: Vec::new(),
                ok: false,
                errors: vec!["x".into()],
            });
        }
        assert!(agg.reloads.len() <= MAX_RELOADS);
        assert_eq!(agg.reloads.last().unwrap().version, 1499, "the latest kept");
        let limits = agg.limits();
        assert_eq!(limits[0].what, "reload records");
        assert_eq!(limits[0].count as usize + agg.reloads.len(), 1500);
    }
}
