//! Hot reload: watches every script of the run, the folders they and their modules live in, and
//! the profile file; on a change (debounced, so editors that truncate or write through a rename
//! are seen once, whole) it compiles again and publishes. A broken edit never stops the run: the
//! previous version keeps running and the error, with its file:line:col, is shown and recorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use notify::{EventKind, RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::scheduler::SchedulerCmd;
use crate::script::ClassTable;
use crate::stats::aggregate::StatsMsg;
use crate::telegram::Tier;

/// Quiet time after the last file event before reloading: long enough for an editor's
/// truncate-then-write or write-then-rename to settle, short next to the 250 ms aim.
const DEBOUNCE: Duration = Duration::from_millis(25);

/// The longest a stream of events can hold a reload back.
const MAX_DEBOUNCE: Duration = Duration::from_millis(250);

/// What started a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A file changed.
    Watch,
    /// The control API or a key.
    Request,
}

/// One reload, as the results record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadEvent {
    /// The script version running after it (unchanged when nothing could be published).
    pub version: u64,
    /// Seconds since the run's start.
    pub t_s: f64,
    pub trigger: Trigger,
    /// The files whose change started it (empty for a request).
    pub files: Vec<String>,
    /// Whether everything compiled (or the profile parsed).
    pub ok: bool,
    /// `file:line:col: message` for each script or profile that failed.
    pub errors: Vec<String>,
}

/// The command-line flags that override every profile, edited ones included.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
    pub run_time: Option<Duration>,
}

/// The reloader's inputs and outputs.
pub struct Reloader {
    pub table: Arc<ClassTable>,
    /// The profile file to watch, when the run's profile came from one.
    pub profile_file: Option<PathBuf>,
    pub overrides: Overrides,
    pub pools: crate::telegram::TierPools,
    pub scheduler: mpsc::UnboundedSender<SchedulerCmd>,
    pub stats: mpsc::UnboundedSender<StatsMsg>,
    /// "Reload now" from the control API or a key; answered with the event.
    pub requests: mpsc::UnboundedReceiver<oneshot::Sender<ReloadEvent>>,
    pub started: Instant,
    pub quiet: bool,
}

fn display(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

/// The folders to watch: each script folder (or a script's own folder) and the modules folder.
fn folders(paths: &[PathBuf], stdlib: Option<&Path>, profile: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.clone()
            } else {
                p.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf()
            }
        })
        .chain(stdlib.map(Path::to_path_buf))
        .chain(profile.and_then(Path::parent).map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d.to_path_buf()
            }
        }))
        .filter_map(|d| d.canonicalize().ok())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

impl Reloader {
    fn tiers(&self) -> (Vec<u32>, Vec<Tier>) {
        let slots = self.table.slots();
        (
            slots.iter().map(|s| s.weight()).collect(),
            slots.iter().map(|s| s.load().decl.tier).collect(),
        )
    }

    fn say(&self, text: &str) {
        if !self.quiet {
            // Clear the live line first, so the message stands on its own.
            eprintln!("\r\x1b[2K{text}");
        }
    }

    /// Compiles the scripts again and tells everyone what came of it.
    async fn reload_scripts(&self, files: Vec<PathBuf>, trigger: Trigger) -> ReloadEvent {
        let before = self.tiers();
        let table = self.table.clone();
        let outcome = match tokio::task::spawn_blocking(move || table.reload()).await {
            Ok(outcome) => outcome,
            Err(e) => crate::script::ReloadOutcome {
                version: self.table.version(),
                errors: vec![crate::script::ScriptError {
                    file: files.first().cloned().unwrap_or_default(),
                    line: 0,
                    col: 0,
                    message: format!("compiling panicked (a bug): {e}"),
                }],
                ..Default::default()
            },
        };
        let after = self.tiers();
        if after != before {
            let (weights, tiers) = after;
            let _ = self
                .scheduler
                .send(SchedulerCmd::Classes { weights, tiers });
        }
        let event = ReloadEvent {
            version: outcome.version,
            t_s: self.started.elapsed().as_secs_f64(),
            trigger,
            files: display(&files),
            ok: outcome.is_ok(),
            errors: outcome.errors.iter().map(ToString::to_string).collect(),
        };
        for w in &outcome.warnings {
            self.say(&format!("reload warning: {w}"));
        }
        if event.ok {
            self.say(&format!(
                "reload: scripts version {} ({} classes published{}{})",
                event.version,
                outcome.published.len(),
                if outcome.added.is_empty() {
                    String::new()
                } else {
                    format!(", {} new", outcome.added.len())
                },
                if outcome.removed.is_empty() {
                    String::new()
                } else {
                    format!(", {} removed", outcome.removed.len())
                },
            ));
        } else {
            for e in &event.errors {
                self.say(&format!(
                    "reload failed: {e} (the previous version keeps running)"
                ));
            }
        }
        let _ = self.stats.send(StatsMsg::Reload(event.clone()));
        event
    }

    fn reload_profile(&self, path: &Path) {
        let o = &self.overrides;
        let loaded = crate::profile::file::load(path)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                p.with_overrides(o.users, o.spawn_rate, o.run_time)
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .and_then(|p| {
                let slots = self.table.slots();
                let classes: Vec<_> = slots
                    .iter()
                    .map(|s| (s.load().decl.tier, s.weight()))
                    .collect();
                crate::config::pool_capacity(&classes, p.peak_users(), &self.pools)
                    .map(|()| p)
                    .map_err(|e| format!("{}: {e}", path.display()))
            });
        let event = match loaded {
            Ok(profile) => {
                self.say(&format!(
                    "reload: profile {} ({} users at most, {} in all)",
                    path.display(),
                    profile.peak_users(),
                    humantime::format_duration(profile.run_time())
                ));
                let _ = self.scheduler.send(SchedulerCmd::Profile(profile));
                Ok(())
            }
            Err(e) => {
                let e = format!("{}: {e}", path.display());
                self.say(&format!("reload failed: {e} (the previous profile stays)"));
                Err(e)
            }
        };
        let _ = self.stats.send(StatsMsg::Reload(ReloadEvent {
            version: self.table.version(),
            t_s: self.started.elapsed().as_secs_f64(),
            trigger: Trigger::Watch,
            files: vec![path.display().to_string()],
            ok: event.is_ok(),
            errors: event.err().into_iter().collect(),
        }));
    }

    /// Watches until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let (paths, stdlib) = self.table.sources();
        let profile = self
            .profile_file
            .as_ref()
            .and_then(|p| p.canonicalize().ok());
        let (tx, mut events) = mpsc::unbounded_channel();
        // Without a watcher (inotify limits, say) the run goes on, and "reload now" still works.
        let watcher = (|| -> anyhow::Result<notify::RecommendedWatcher> {
            let mut watcher =
                notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                    let _ = tx.send(res);
                })
                .context("starting the file watcher")?;
            for dir in folders(&paths, stdlib.as_deref(), profile.as_deref()) {
                watcher
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .with_context(|| format!("watching {}", dir.display()))?;
            }
            Ok(watcher)
        })();
        let _watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                self.say(&format!(
                    "warning: files are not watched ({e:#}); reload with the control API or `r`"
                ));
                None
            }
        };
        let relevant = |path: &Path| {
            path.extension().is_some_and(|x| x == "rhai") || Some(path) == profile.as_deref()
        };
        loop {
            enum Next {
                File(Option<notify::Result<notify::Event>>),
                Request(oneshot::Sender<ReloadEvent>),
                Stop,
            }
            let next = tokio::select! {
                e = events.recv() => Next::File(e),
                Some(reply) = self.requests.recv() => Next::Request(reply),
                _ = stopped(&mut stop) => Next::Stop,
            };
            let first = match next {
                Next::File(Some(e)) => e,
                Next::Stop => break,
                Next::File(None) => {
                    // No watcher: serve requests until the end.
                    tokio::select! {
                        Some(reply) = self.requests.recv() => {
                            let event = self.reload_scripts(Vec::new(), Trigger::Request).await;
                            let _ = reply.send(event);
                            continue;
                        }
                        _ = stopped(&mut stop) => break,
                    }
                }
                Next::Request(reply) => {
                    let event = self.reload_scripts(Vec::new(), Trigger::Request).await;
                    let _ = reply.send(event);
                    continue;
                }
            };
            let mut changed: Vec<PathBuf> = Vec::new();
            // A lost event (a queue overflow, an error) could hide a change: reload everything.
            let mut rescan = false;
            let mut take = |res: notify::Result<notify::Event>| -> bool {
                match res {
                    Ok(e) if e.need_rescan() => {
                        rescan = true;
                        true
                    }
                    Ok(e)
                        if matches!(
                            e.kind,
                            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                        ) =>
                    {
                        let before = changed.len();
                        changed.extend(e.paths.into_iter().filter(|p| relevant(p)));
                        changed.len() > before
                    }
                    Ok(_) => false,
                    Err(_) => {
                        rescan = true;
                        true
                    }
                }
            };
            if !take(first) {
                continue;
            }
            // Debounce: wait until relevant events stop for a moment, but not for ever (a busy
            // folder must not hold a reload back), and not past the end of the run.
            let cap = tokio::time::Instant::now() + MAX_DEBOUNCE;
            let mut quiet_until = tokio::time::Instant::now() + DEBOUNCE;
            loop {
                let until = quiet_until.min(cap);
                tokio::select! {
                    e = tokio::time::timeout_at(until, events.recv()) => match e {
                        Ok(Some(res)) => {
                            if take(res) {
                                quiet_until = tokio::time::Instant::now() + DEBOUNCE;
                            }
                        }
                        _ => break,
                    },
                    _ = stopped(&mut stop) => break,
                }
            }
            if *stop.borrow() {
                break;
            }
            changed.sort();
            changed.dedup();
            let profile_changed = changed
                .iter()
                .any(|p| Some(p.as_path()) == profile.as_deref());
            let scripts: Vec<PathBuf> = changed
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
                .collect();
            if !scripts.is_empty() || rescan {
                self.reload_scripts(scripts, Trigger::Watch).await;
            }
            if profile_changed && let Some(path) = &self.profile_file {
                self.reload_profile(path);
            }
        }
        Ok(())
    }
}
