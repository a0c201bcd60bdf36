//! Merging shards: exact sums, refusals that name their files and fields.

use rand::{Rng, SeedableRng};

use super::super::histograms::{LatencyHistograms, decode};
use super::*;

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap()
}

/// Shard `index` of `count` holding `samples` (µs) of `/help`.
fn shard(index: u32, count: u32, samples: &[u64]) -> ShardFile {
    let mut h = hist();
    for s in samples {
        h.record(*s).unwrap();
    }
    let row = RequestRow {
        name: "/help".into(),
        count: samples.len() as u64,
        latency_ms: Percentiles::of(&h),
        ..RequestRow::default()
    };
    let set = LatencyHistograms {
        latency: encode(&h),
        ..LatencyHistograms::default()
    };
    ShardFile {
        label: format!("shard-{index}.json"),
        summary: Summary {
            schema: SCHEMA.into(),
            seed: 7,
            test_digest: "abc".into(),
            duration_s: 10.0,
            shard: Some(ShardInfo {
                index,
                count,
                merged: Vec::new(),
            }),
            totals: Totals {
                requests: samples.len() as u64,
                latency_ms: Percentiles::of(&h),
                ..Totals::default()
            },
            requests: vec![row],
            histograms: Some(Histograms {
                encoding: ENCODING.into(),
                totals: set.clone(),
                requests: [("/help".to_string(), set)].into(),
                tasks: BTreeMap::new(),
                wait_lateness: None,
            }),
            ..Summary::default()
        },
    }
}

#[test]
fn merged_percentiles_are_those_of_all_the_samples_within_the_histograms_precision() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    // Three shards with different distributions, as three machines would see.
    let parts: Vec<Vec<u64>> = [(500, 3_000), (2_000, 40_000), (10_000, 900_000)]
        .into_iter()
        .map(|(low, high)| (0..5_000).map(|_| rng.random_range(low..high)).collect())
        .collect();
    let files: Vec<ShardFile> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| shard(i as u32 + 1, 3, p))
        .collect();
    let merged = merge(&files, MergeOptions::default()).unwrap();
    assert!(merged.warnings.is_empty());
    let s = merged.summary;
    let mut all: Vec<u64> = parts.concat();
    all.sort_unstable();
    assert_eq!(s.totals.requests, all.len() as u64);
    assert_eq!(s.requests[0].count, all.len() as u64);
    let l = s.requests[0].latency_ms;
    assert_eq!(l.count, all.len() as u64);
    for (q, got) in [(0.5, l.p50), (0.9, l.p90), (0.95, l.p95), (0.99, l.p99)] {
        let exact = all[((q * all.len() as f64).ceil() as usize).max(1) - 1] as f64 / 1e3;
        // Two significant digits: within 1% of the exact sample.
        assert!(
            (got - exact).abs() <= exact * 0.01,
            "p{}: {got} ms against {exact} ms",
            q * 100.0
        );
    }
    assert_eq!(s.totals.latency_ms, l, "the totals' histogram merged too");
    assert_eq!(s.shard.unwrap().merged, vec![1, 2, 3]);
    let again = decode(&s.histograms.unwrap().totals.latency).unwrap();
    assert_eq!(
        again.len(),
        all.len() as u64,
        "the merged file's histogram holds all"
    );
}

#[test]
fn fault_windows_add_their_counts_and_keep_the_worst_recovery() {
    let window = |lost, recovery| super::super::WindowOutcome {
        name: "bot API 5xx".into(),
        start_s: 60.0,
        end_s: 120.0,
        replies_lost: lost,
        worst_p95_ms: Some(lost as f64),
        recovery_s: recovery,
        ..Default::default()
    };
    let shard = |lost, recovery| Resilience {
        windows: vec![window(lost, recovery)],
        lost_updates: lost,
        ..Resilience::default()
    };
    let mut sum = None;
    add_resilience(&mut sum, &shard(3, Some(2.0)));
    add_resilience(&mut sum, &shard(5, Some(4.0)));
    let r = sum.clone().unwrap();
    assert_eq!((r.lost_updates, r.windows[0].replies_lost), (8, 8));
    assert_eq!(r.windows[0].worst_p95_ms, Some(5.0));
    assert_eq!(
        r.windows[0].recovery_s,
        Some(4.0),
        "when the last shard recovered"
    );
    add_resilience(&mut sum, &shard(1, None));
    assert_eq!(
        sum.unwrap().windows[0].recovery_s,
        None,
        "one shard never did"
    );
}

#[test]
fn files_of_other_tests_duplicates_missing_shards_and_checkpoints_are_refused() {
    let ok = |i| shard(i, 3, &[1_000, 2_000]);
    let err = |files: Vec<ShardFile>, options| merge(&files, options).unwrap_err();

    let mut other_seed = ok(2);
    other_seed.summary.seed = 8;
    let e = err(vec![ok(1), other_seed, ok(3)], MergeOptions::default());
    assert!(
        e.contains("shard-1.json and shard-2.json") && e.contains("seed 7 and 8"),
        "{e}"
    );

    let mut other_scripts = ok(3);
    other_scripts.summary.test_digest = "xyz".into();
    let e = err(vec![ok(1), ok(2), other_scripts], MergeOptions::default());
    assert!(
        e.contains("test_digest") && e.contains("shard-3.json"),
        "{e}"
    );

    let mut other_count = ok(2);
    other_count.summary.shard.as_mut().unwrap().count = 4;
    let e = err(vec![ok(1), other_count], MergeOptions::default());
    assert!(e.contains("shard count 3 and 4"), "{e}");

    let e = err(vec![ok(1), ok(1), ok(3)], MergeOptions::default());
    assert!(e.contains("both shard 1/3"), "{e}");

    let e = err(vec![ok(1), ok(3)], MergeOptions::default());
    assert!(
        e.contains("shard 2 of 3 missing") && e.contains("--allow-missing"),
        "{e}"
    );
    let allowed = MergeOptions {
        allow_missing: true,
        ..MergeOptions::default()
    };
    let m = merge(&[ok(1), ok(3)], allowed).unwrap();
    assert!(
        m.warnings[0].contains("shard 2 of 3 missing"),
        "{:?}",
        m.warnings
    );
    assert_eq!(m.summary.totals.requests, 4);

    let mut partial = ok(2);
    partial.summary.partial = true;
    let e = err(vec![ok(1), partial.clone(), ok(3)], MergeOptions::default());
    assert!(e.contains("shard-2.json: a partial result") && e.contains("--allow-partial"));
    let allowed = MergeOptions {
        allow_partial: true,
        ..MergeOptions::default()
    };
    assert!(
        merge(&[ok(1), partial, ok(3)], allowed)
            .unwrap()
            .summary
            .partial
    );

    let mut whole = ok(1);
    whole.summary.shard = None;
    let e = err(vec![whole], MergeOptions::default());
    assert!(e.contains("not a shard's result"), "{e}");

    let mut broken = ok(2);
    broken.summary.histograms.as_mut().unwrap().totals.latency = "!!".into();
    let e = err(vec![ok(1), broken, ok(3)], MergeOptions::default());
    assert!(e.contains("shard-2.json: histograms.totals.latency"), "{e}");
}
