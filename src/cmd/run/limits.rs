//! The process's file-descriptor limit, raised to what a run's connections need.

use rustix::process::{Resource, getrlimit, setrlimit};

use crate::config::ConfigError;

/// Makes sure the process may open the sockets the run needs: `--max-connections` to the bot,
/// as many again when the demo bot answers in this process, and room for the rest. Raises the
/// soft limit when the hard one allows; otherwise says which flag to lower.
pub(super) fn file_descriptors(
    max_connections: u32,
    in_process_bot: bool,
) -> Result<(), ConfigError> {
    let per = if in_process_bot { 2 } else { 1 };
    let need = u64::from(max_connections) * per + 256;
    // `None` is no limit.
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|current| current >= need) {
        return Ok(());
    }
    if limit.maximum.is_some_and(|max| max < need) {
        return Err(ConfigError {
            flag: "--max-connections",
            message: format!(
                "{max_connections} connections need about {need} file descriptors, but this \
                 process may open {} (hard limit {}; see `ulimit -n`)",
                limit.current.unwrap_or(u64::MAX),
                limit.maximum.unwrap_or(u64::MAX)
            ),
        });
    }
    limit.current = Some(need);
    // A refusal leaves the old limit; the run then reports the sockets it could not open.
    let _ = setrlimit(Resource::Nofile, limit);
    Ok(())
}
