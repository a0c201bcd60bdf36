//! Latency percentiles in milliseconds, read from an HDR histogram: the shape every latency
//! figure of a result has.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p66: f64,
    pub p75: f64,
    pub p80: f64,
    pub p90: f64,
    pub p95: f64,
    pub p98: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let q = |q: f64| ms(h.value_at_quantile(q));
        Self {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean().round() / 1e3,
            p50: q(0.50),
            p66: q(0.66),
            p75: q(0.75),
            p80: q(0.80),
            p90: q(0.90),
            p95: q(0.95),
            p98: q(0.98),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: ms(h.max()),
        }
    }
}
