//! What a run shows and writes: the live progress line, the final table, and result files.
//! One file per format behind [`Format`]; a new format is a new variant there.

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
}

impl Format {
    pub fn render(self, summary: &Summary) -> anyhow::Result<Vec<u8>> {
        match self {
            Format::Json => {
                let mut out = serde_json::to_vec_pretty(summary)?;
                out.push(b'\n');
                Ok(out)
            }
        }
    }

    /// Writes the result to `path`; `flag` names the option in errors.
    pub fn write(self, summary: &Summary, path: &Path, flag: &str) -> anyhow::Result<()> {
        let bytes = self.render(summary)?;
        std::fs::write(path, bytes).with_context(|| format!("{flag}: writing {}", path.display()))
    }
}
