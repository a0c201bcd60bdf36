//! Which slice of a test a result holds: `--shard i/n` on a run, the shards a merge combined.

use serde::{Deserialize, Serialize};

/// Shard `index` (1-based) of `count`, as `--shard index/count` named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// In a merged result: the shards it holds (every index from 1 to `count` unless some
    /// were missing and `--allow-missing` let the merge go on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<u32>,
}
