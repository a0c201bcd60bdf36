//! `stress pools`: the test-user ids of each tier, to seed a real bot's database.

use std::process::ExitCode;

use crate::cli::PoolsArgs;
use crate::config::{self, ConfigError};
use crate::telegram::Tier;

/// Prints the pools.
pub fn command(args: PoolsArgs) -> anyhow::Result<ExitCode> {
    let pools = config::pools(&args.pools)?;
    let tiers: Vec<Tier> = match &args.tier {
        Some(t) => vec![t.parse().map_err(|e| ConfigError {
            flag: "--tier",
            message: format!("{e}"),
        })?],
        None => Tier::ALL.to_vec(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for tier in tiers {
        use std::io::Write;
        let r = pools.range(tier);
        if args.ids {
            for id in pools.list(tier) {
                writeln!(out, "{tier}\t{id}")?;
            }
        } else {
            let test = pools.test_ids(tier);
            writeln!(
                out,
                "{tier}\t{}..{}\t{} ids: {} for users, {}..{} for test_user_id",
                r.start,
                r.end,
                r.end - r.start,
                pools.user_capacity(tier),
                test.start,
                test.end
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
