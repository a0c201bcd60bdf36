//! A result's latency histograms, serialized: HDR's V2 compressed form (deflate), as base64
//! text in the JSON. Percentiles cannot be merged, histograms can, exactly: `stress merge`
//! adds the shards' histograms and reads the whole test's percentiles from the sum, and
//! `stress compare` tests whole distributions against each other. Written once, at the end
//! of a run (never on the hot path or in the live snapshot).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// The `encoding` of every result's histograms.
pub const ENCODING: &str = "hdr-v2-deflate-base64";

/// One request name's histograms (or the totals'); none but `latency` is there when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistograms {
    pub latency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<String>,
}

/// Every latency histogram of a result, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// How each histogram is written: [`ENCODING`].
    pub encoding: String,
    pub totals: LatencyHistograms,
    /// By request name.
    pub requests: BTreeMap<String, LatencyHistograms>,
    /// Task durations, by class and task.
    pub tasks: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_lateness: Option<String>,
}

/// A histogram as text: V2 compressed, then base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory");
    STANDARD.encode(bytes)
}

/// A non-empty histogram as text, or none.
pub fn encode_some(h: &Histogram<u64>) -> Option<String> {
    (!h.is_empty()).then(|| encode(h))
}

/// Reads a histogram [`encode`] wrote; the error says what is wrong with the text.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HDR V2 histogram: {e:?}"))?;
    // Merged histograms grow to the values they are given.
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_round_trip_exactly() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for v in [1, 17, 250, 1_000, 12_345, 999_999, 3_000_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.95), h.value_at_quantile(0.95));
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("aGVsbG8=").unwrap_err().contains("HDR"));
    }
}
