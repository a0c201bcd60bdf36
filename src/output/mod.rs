//! What a run shows and writes: the live progress line, the final table, and result files.
//! One file per format behind [`Format`]; a new format is a new variant there.

pub mod csv;
pub mod progress;
pub mod table;

use std::path::Path;

use anyhow::Context;

use crate::stats::Summary;

/// The file formats a run can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `--json`: the full result, schema `schema/result.v1.json`.
    Json,
    /// `--csv PREFIX`: Locust's three CSV files.
    Csv,
}

impl Format {
    /// Writes the result to `path` (for CSV, a prefix of three files).
    pub fn write(self, summary: &Summary, path: &Path) -> anyhow::Result<()> {
        match self {
            Format::Json => {
                let mut out = serde_json::to_vec_pretty(summary)?;
                out.push(b'\n');
                std::fs::write(path, out)
                    .with_context(|| format!("--json: writing {}", path.display()))
            }
            Format::Csv => csv::write(summary, path),
        }
    }
}
