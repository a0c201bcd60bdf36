//! Latency histograms: microseconds from 1 µs to 1 hour at two significant digits (1%; Locust
//! itself rounds to two digits), fixed in size (docs/design-notes.md), mergeable exactly.

use std::time::Duration;

use hdrhistogram::Histogram;

const HIGHEST_US: u64 = 3_600_000_000;

pub fn new() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 2).expect("valid histogram bounds")
}

/// A histogram of the same precision that grows to the values it is given: for figures many
/// request names may never have (a queue, a last reply, an acknowledgement), so an unused one
/// costs a few hundred bytes instead of [`new`]'s 25 KiB.
pub fn lazy() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 2).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Records a duration, clamped into the histograms' range (a [`lazy`] one grows to it).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HIGHEST_US);
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// Adds `from` into `into`; both come from [`new`], or both from [`lazy`], so this cannot fail.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    into.add(from).expect("histograms with the same bounds");
}
