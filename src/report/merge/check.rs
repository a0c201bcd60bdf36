//! The refusals of a merge: files of different tests, a shard twice, missing shards,
//! checkpoints, files without histograms; each names the files and the field at fault.

use std::collections::BTreeMap;

use super::super::SCHEMA;
use super::super::histograms::ENCODING;
use super::{MergeOptions, ShardFile};

/// Checks that the files are the shards of one test, each once, and finished.
pub(super) fn check(files: &[ShardFile], options: MergeOptions) -> Result<Vec<String>, String> {
    let Some(first) = files.first() else {
        return Err("no result files to merge".into());
    };
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    let shard_of = |f: &ShardFile| {
        f.summary.shard.clone().ok_or_else(|| {
            format!(
                "{}: not a shard's result (no `shard` field): run each shard with --shard i/n",
                f.label
            )
        })
    };
    let first_shard = shard_of(first)?;
    for f in files {
        let s = &f.summary;
        if s.schema != SCHEMA {
            return Err(format!(
                "{}: schema `{}`, this stress reads `{SCHEMA}`",
                f.label, s.schema
            ));
        }
        let shard = shard_of(f)?;
        if !shard.merged.is_empty() {
            return Err(format!(
                "{}: already a merged result (of shards {:?}); merge the shards' own files",
                f.label, shard.merged
            ));
        }
        for (field, a, b) in [
            ("seed", first.summary.seed.to_string(), s.seed.to_string()),
            (
                "test_digest (the scripts and the profile)",
                first.summary.test_digest.clone(),
                s.test_digest.clone(),
            ),
            (
                "shard count",
                first_shard.count.to_string(),
                shard.count.to_string(),
            ),
        ] {
            if a != b {
                return Err(format!(
                    "{} and {} are not shards of one test: {field} {a} and {b}",
                    first.label, f.label
                ));
            }
        }
        if let Some(other) = seen.insert(shard.index, &f.label) {
            return Err(format!(
                "{other} and {} are both shard {}/{}",
                f.label, shard.index, shard.count
            ));
        }
        if s.partial && !options.allow_partial {
            return Err(format!(
                "{}: a partial result (`partial: true`, a checkpoint of a shard that did not \
                 finish); give --allow-partial to merge it anyway",
                f.label
            ));
        }
        if s.histograms.is_none() {
            return Err(format!(
                "{}: no `histograms` (a checkpoint, or a file from an older stress): its \
                 percentiles cannot be merged",
                f.label
            ));
        }
        if s.histograms
            .as_ref()
            .is_some_and(|h| h.encoding != ENCODING)
        {
            return Err(format!(
                "{}: histograms.encoding is not `{ENCODING}`",
                f.label
            ));
        }
    }
    let missing: Vec<String> = (1..=first_shard.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "shard{} {} of {} missing (have {} file{})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            first_shard.count,
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        if !options.allow_missing {
            return Err(format!(
                "{message}; give --allow-missing to merge the shards there are"
            ));
        }
        warnings.push(format!("{message}: the result is not the whole test's"));
    }
    Ok(warnings)
}
