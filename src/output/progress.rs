//! The live one-line status: users, RPS, p50/p95, failures, elapsed/remaining. Redrawn in place
//! once a second on a terminal; every ten seconds as a plain line otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::sync::watch;

use crate::report::Snapshot;

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The status line for a snapshot.
pub fn line(s: &Snapshot, run_time: Duration) -> String {
    let totals = &s.summary.totals;
    let failed = if totals.requests == 0 {
        0.0
    } else {
        totals.failures as f64 * 100.0 / totals.requests as f64
    };
    format!(
        "users {:>5} | last second: {:>6} req/s | whole run: p50 {:>7.1} ms, p95 {:>7.1} ms, failures {} ({failed:.1}%), script errors {} | {} / {}",
        s.users,
        s.rps(),
        totals.latency_ms.p50,
        totals.latency_ms.p95,
        totals.failures,
        totals.script_errors,
        clock(elapsed(s)),
        clock(run_time),
    )
}

fn elapsed(s: &Snapshot) -> Duration {
    Duration::from_secs_f64(s.summary.duration_s.max(0.0))
}

/// Shows snapshots until the sender is dropped.
pub async fn show(mut rx: watch::Receiver<Snapshot>, run_time: Duration) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_plain = Duration::ZERO;
    while rx.changed().await.is_ok() {
        let snapshot = rx.borrow_and_update().clone();
        let text = line(&snapshot, run_time);
        let mut err = std::io::stderr().lock();
        if terminal {
            let _ = write!(err, "\r\x1b[2K{text}");
        } else if elapsed(&snapshot) >= last_plain + Duration::from_secs(10) {
            last_plain = elapsed(&snapshot);
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }
    if terminal {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}
