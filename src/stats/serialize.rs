//! The aggregator's histograms as a result file carries them ([`Histograms`]): built once, at
//! the end of a run, for `stress merge` and `stress compare`; never on the hot path.

use crate::report::Histograms;
use crate::report::histograms::{ENCODING, LatencyHistograms, encode, encode_some};

use super::aggregate::Aggregator;
use super::recorder::RequestStats;

fn latency(r: &RequestStats) -> LatencyHistograms {
    LatencyHistograms {
        latency: encode(&r.latency),
        queue: encode_some(&r.queue),
        service: encode_some(&r.service),
        reply: encode_some(&r.reply),
        last_reply: encode_some(&r.last_reply),
        ack: encode_some(&r.ack),
    }
}

/// Every histogram of the run: the totals, each request name, each class's tasks, and the
/// wait lateness.
pub fn histograms(agg: &Aggregator) -> Histograms {
    Histograms {
        encoding: ENCODING.into(),
        totals: latency(&agg.all),
        requests: agg
            .totals
            .requests
            .iter()
            .map(|(name, r)| (name.to_string(), latency(r)))
            .collect(),
        tasks: agg
            .totals
            .tasks
            .iter()
            .map(|(class, tasks)| {
                let tasks = tasks
                    .iter()
                    .map(|(task, t)| (task.to_string(), encode(&t.duration)))
                    .collect();
                (class.to_string(), tasks)
            })
            .collect(),
        wait_lateness: agg.totals.lateness.as_ref().and_then(encode_some),
    }
}
