//! `stress init [DIR]`: a starter project to edit, as `locust --init` and `k6 new` write one:
//! the shipped classes, the modules they import, the profiles and a README.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::InitArgs;
use crate::script::shipped::{self, PROFILES, SCRIPTS, STARTER_README, STDLIB};

/// Writes the project; an existing file stops it (naming the file) unless `--force`.
pub fn command(args: InitArgs) -> anyhow::Result<ExitCode> {
    let readme: &[shipped::ShippedFile] = &[("README.md", STARTER_README)];
    let all: Vec<shipped::ShippedFile> = SCRIPTS
        .iter()
        .chain(STDLIB)
        .chain(PROFILES)
        .chain(readme)
        .copied()
        .collect();
    if !args.force
        && let Some((path, _)) = all.iter().find(|(p, _)| args.dir.join(p).exists())
    {
        anyhow::bail!(
            "{} exists; nothing was written (--force replaces the shipped files)",
            args.dir.join(path).display()
        );
    }
    shipped::write(&args.dir, &all, true)
        .with_context(|| format!("writing the project in {}", args.dir.display()))?;
    println!(
        "wrote {} files in {}: scripts/ (4 classes), stdlib/, profiles/, README.md\n\
         next: cd {} && stress run --run-time 30s",
        all.len(),
        args.dir.display(),
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
