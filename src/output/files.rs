//! Result files on disk: every path is checked before a run starts, a file is replaced whole
//! (written beside it, then renamed over it) so a reader never sees half of one, and the JSON
//! result is rewritten as a partial checkpoint while the run goes on, so a killed process or
//! a lost machine leaves a valid result at most one interval old.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::Format;
use crate::report::{Snapshot, Summary};

impl Format {
    /// The flag that names this format's path.
    pub fn flag(self) -> &'static str {
        match self {
            Format::Json => "--json",
            Format::Csv => "--csv",
            Format::Html => "--html",
            Format::Markdown => "--markdown",
            Format::Junit => "--junit",
        }
    }

    /// The files a path of this format stands for (a CSV prefix stands for three).
    pub fn files(self, path: &Path) -> Vec<PathBuf> {
        match self {
            Format::Csv => super::csv::paths(path).to_vec(),
            Format::Json | Format::Html | Format::Markdown | Format::Junit => {
                vec![path.to_path_buf()]
            }
        }
    }

    /// Checks, before a run, that its files can be written: each is not a folder, its folder
    /// exists, and a file can be created in it.
    pub fn check(self, path: &Path) -> Result<(), String> {
        for file in self.files(path) {
            check_writable(&file)?;
        }
        Ok(())
    }
}

fn check_writable(file: &Path) -> Result<(), String> {
    if file.is_dir() {
        return Err(format!("{} is a folder, not a file", file.display()));
    }
    let dir = folder_of(file);
    if !dir.is_dir() {
        return Err(format!(
            "{}: the folder {} does not exist",
            file.display(),
            dir.display()
        ));
    }
    let probe = temporary_beside(file);
    std::fs::File::create(&probe).map_err(|e| {
        format!(
            "{}: cannot create a file in {}: {e}",
            file.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    if file.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .map_err(|e| format!("{}: cannot write it: {e}", file.display()))?;
    }
    Ok(())
}

fn folder_of(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A name beside `file` that no other process of this tool uses at the same time.
fn temporary_beside(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "result".into(), |n| n.to_string_lossy().into_owned());
    folder_of(file).join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Replaces `file` with `bytes` whole: written and synced beside it, then renamed over it.
pub fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = temporary_beside(file);
    let written = (|| {
        let mut f = std::fs::File::create(&temporary)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temporary, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The JSON of a result, as `--json` writes it.
pub fn json(summary: &Summary) -> anyhow::Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(summary)?;
    out.push(b'\n');
    Ok(out)
}

/// Writes every output, each attempted even when another failed; returns the failures.
pub fn write_all(summary: &Summary, outputs: &[(Format, PathBuf)]) -> Vec<anyhow::Error> {
    outputs
        .iter()
        .filter_map(|(format, path)| format.write(summary, path).err())
        .collect()
}

/// Rewrites `path` with the run so far, marked partial, every `every` until `stop` turns
/// true, and once at the start so the file is valid from the first second. A failed write is
/// reported once and tried again at the next interval.
pub async fn checkpoint(
    path: PathBuf,
    mut snapshots: watch::Receiver<Snapshot>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut warned = false;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let mut summary = Summary::clone(&snapshots.borrow_and_update().summary);
        summary.partial = true;
        let target = path.clone();
        let result = match json(&summary) {
            Ok(bytes) => tokio::task::spawn_blocking(move || write_atomically(&target, &bytes))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
                .with_context(|| format!("--json: writing the checkpoint {}", path.display())),
            Err(e) => Err(e),
        };
        match result {
            Err(e) if !warned => {
                warned = true;
                eprintln!(
                    "warning: {e:#} (tried again every {})",
                    humantime::format_duration(every)
                );
            }
            Ok(()) => warned = false,
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_before_the_run() {
        let dir = std::env::temp_dir().join(format!("stress-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Format::Json.check(&dir.join("out.json")).is_ok());
        assert!(!dir.join("out.json").exists(), "checking creates nothing");
        let e = Format::Json
            .check(&dir.join("missing/out.json"))
            .unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let e = Format::Html.check(&dir).unwrap_err();
        assert!(e.contains("is a folder"), "{e}");
        std::fs::create_dir_all(dir.join("x_stats.csv")).unwrap();
        let e = Format::Csv.check(&dir.join("x")).unwrap_err();
        assert!(e.contains("x_stats.csv is a folder"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("stress-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.json");
        write_atomically(&file, b"{\"a\":1}").unwrap();
        write_atomically(&file, b"{\"a\":2}").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"{\"a\":2}");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn every_output_is_attempted_when_one_fails() {
        let dir = std::env::temp_dir().join(format!("stress-all-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let summary = crate::output::sample_summary().await;
        let outputs = vec![
            (Format::Json, dir.join("gone/r.json")),
            (Format::Csv, dir.join("r")),
            (Format::Html, dir.join("r.html")),
        ];
        let failed = write_all(&summary, &outputs);
        assert_eq!(failed.len(), 1);
        assert!(
            format!("{:#}", failed[0]).contains("--json"),
            "{:#}",
            failed[0]
        );
        assert!(dir.join("r_stats.csv").is_file() && dir.join("r.html").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
