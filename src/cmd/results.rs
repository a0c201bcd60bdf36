//! Result files read back (`stress merge`, `stress compare`, `stress run --baseline`): a file
//! that is missing or not a result is a usage error naming the flag and the file.

use std::path::Path;

use crate::config::ConfigError;
use crate::report::{SCHEMA, Summary};

/// Reads a `--json` result; `flag` names where the path came from.
pub(crate) fn read(flag: &'static str, path: &Path) -> Result<Summary, ConfigError> {
    let bad = |message: String| ConfigError {
        flag,
        message: format!("{}: {message}", path.display()),
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if let Ok(summary) = serde_json::from_slice::<Summary>(&bytes)
        && summary.schema == SCHEMA
    {
        return Ok(summary);
    }
    // Not a result this stress reads: say why.
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(bad(format!(
                "schema `{other}`, this stress reads `{SCHEMA}`"
            )));
        }
        None => return Err(bad("not a stress result (no `schema` field)".into())),
    }
    serde_json::from_value(value).map_err(|e| bad(format!("not a valid result: {e}")))
}
