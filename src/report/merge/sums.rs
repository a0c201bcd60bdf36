//! Adding the shards up: their histograms decoded and summed, percentiles read from the sums,
//! the demo bot's and stand-in's counts summed as JSON, and the resilience sections joined.

use hdrhistogram::Histogram;

use super::super::histograms::{LatencyHistograms, decode, encode, encode_some};
use super::super::{Percentiles, Resilience};

/// The histograms of one request name (or the totals), decoded.
#[derive(Default)]
pub(super) struct LatencySums {
    pub(super) latency: Option<Histogram<u64>>,
    pub(super) queue: Option<Histogram<u64>>,
    pub(super) service: Option<Histogram<u64>>,
    pub(super) reply: Option<Histogram<u64>>,
    pub(super) last_reply: Option<Histogram<u64>>,
    pub(super) ack: Option<Histogram<u64>>,
}

pub(super) fn add(
    into: &mut Option<Histogram<u64>>,
    text: Option<&String>,
    at: &str,
) -> Result<(), String> {
    let Some(text) = text else { return Ok(()) };
    let h = decode(text).map_err(|e| format!("{at}: {e}"))?;
    match into {
        Some(sum) => sum
            .add(&h)
            .map_err(|e| format!("{at}: cannot be added: {e:?}")),
        None => {
            *into = Some(h);
            Ok(())
        }
    }
}

impl LatencySums {
    pub(super) fn add(&mut self, set: &LatencyHistograms, at: &str) -> Result<(), String> {
        add(
            &mut self.latency,
            Some(&set.latency),
            &format!("{at}.latency"),
        )?;
        add(&mut self.queue, set.queue.as_ref(), &format!("{at}.queue"))?;
        add(
            &mut self.service,
            set.service.as_ref(),
            &format!("{at}.service"),
        )?;
        add(&mut self.reply, set.reply.as_ref(), &format!("{at}.reply"))?;
        let last = set.last_reply.as_ref();
        add(&mut self.last_reply, last, &format!("{at}.last_reply"))?;
        add(&mut self.ack, set.ack.as_ref(), &format!("{at}.ack"))
    }

    pub(super) fn encoded(&self) -> LatencyHistograms {
        let some = |h: &Option<Histogram<u64>>| h.as_ref().and_then(encode_some);
        LatencyHistograms {
            latency: self.latency.as_ref().map(encode).unwrap_or_default(),
            queue: some(&self.queue),
            service: some(&self.service),
            reply: some(&self.reply),
            last_reply: some(&self.last_reply),
            ack: some(&self.ack),
        }
    }
}

pub(super) fn of(h: &Option<Histogram<u64>>) -> Percentiles {
    h.as_ref()
        .map_or_else(Percentiles::default, Percentiles::of)
}

pub(super) fn of_some(h: &Option<Histogram<u64>>) -> Option<Percentiles> {
    h.as_ref().filter(|h| !h.is_empty()).map(Percentiles::of)
}

pub(super) fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

pub(super) fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Sums two JSON values of the same shape: integers add, other numbers take the larger,
/// objects merge by key, anything else keeps the first (the demo bot's and the stand-in's
/// counts).
pub(super) fn sum_json(into: &mut serde_json::Value, from: &serde_json::Value) {
    use serde_json::Value;
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(mine) => sum_json(mine, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                *a = (x + y).into();
            } else if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64())
                && let Some(n) = serde_json::Number::from_f64(x.max(y))
            {
                *a = n;
            }
        }
        (slot @ Value::Null, b) => *slot = b.clone(),
        _ => {}
    }
}

pub(super) fn worst(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Adds a shard's resilience section: every shard has the same fault windows (on its own
/// clock), so a window's counts add up; its p95s and its recovery are the worst shard's.
pub(super) fn add_resilience(into: &mut Option<Resilience>, from: &Resilience) {
    let Some(sum) = into else {
        *into = Some(from.clone());
        return;
    };
    sum.redeliveries += from.redeliveries;
    sum.lost_updates += from.lost_updates;
    sum.duplicate_replies += from.duplicate_replies;
    sum.violations += from.violations;
    sum.flood_refused += from.flood_refused;
    for w in &from.windows {
        let Some(m) = sum
            .windows
            .iter_mut()
            .find(|m| m.name == w.name && m.start_s == w.start_s)
        else {
            sum.windows.push(w.clone());
            continue;
        };
        m.requests += w.requests;
        m.failures += w.failures;
        m.replies_lost += w.replies_lost;
        m.duplicate_replies += w.duplicate_replies;
        m.redeliveries += w.redeliveries;
        m.lost_updates += w.lost_updates;
        m.violations += w.violations;
        m.flood_refused += w.flood_refused;
        m.blocked_calls += w.blocked_calls;
        m.before_p95_ms = worst(m.before_p95_ms, w.before_p95_ms);
        m.worst_p95_ms = worst(m.worst_p95_ms, w.worst_p95_ms);
        // Recovered when the last shard had; never, if one never did.
        m.recovery_s = match (m.recovery_s, w.recovery_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
}
