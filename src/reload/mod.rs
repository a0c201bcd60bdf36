//! Hot reload: watches every script of the run, the folders they and their modules live in, and
//! the profile file; on a change (debounced, so editors that truncate or write through a rename
//! are seen once, whole) it compiles again and publishes. A broken edit never stops the run: the
//! previous version keeps running and the error, with its file:line:col, is shown and recorded.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::{ReloadEvent, Trigger};
use anyhow::Context;
use notify::{EventKind, RecursiveMode, Watcher};
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

/// The reloader's inputs and outputs.
pub struct Reloader {
    pub table: Arc<ClassTable>,
    /// The profile file to watch, when the run's profile came from one.
    pub profile_file: Option<PathBuf>,
    pub overrides: crate::profile::Overrides,
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
            if std::io::stderr().is_terminal() {
                eprintln!("\r\x1b[2K{text}");
            } else {
                eprintln!("{text}");
            }
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
                p.with_overrides(o)
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .and_then(|p| {
                let slots = self.table.slots();
                let classes: Vec<_> = slots
                    .iter()
                    .map(|s| (s.load().decl.tier, s.weight()))
                    .collect();
                crate::profile::pool_capacity(&classes, p.peak_users(), &self.pools)
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
        let watcher = watch_folders(
            move |res| {
                let _ = tx.send(res);
            },
            &folders(&paths, stdlib.as_deref(), profile.as_deref()),
        );
        let (_watcher, mut watching) = match watcher {
            Ok(w) => (Some(w), true),
            Err(e) => {
                self.say(&format!(
                    "warning: files are not watched ({e:#}); reload with the control API or `r`"
                ));
                (None, false)
            }
        };
        let mut batch = Debouncer::new(profile.clone());
        loop {
            let due = batch.due();
            tokio::select! {
                e = events.recv(), if watching => match e {
                    Some(e) => batch.add(e, Instant::now()),
                    None => watching = false,
                },
                Some(reply) = self.requests.recv() => {
                    let event = self.reload_scripts(Vec::new(), Trigger::Request).await;
                    let _ = reply.send(event);
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now).into()), if due.is_some() => {
                    let Batch { scripts, profile_changed, rescan } = batch.take();
                    if !scripts.is_empty() || rescan {
                        self.reload_scripts(scripts, Trigger::Watch).await;
                    }
                    if profile_changed && let Some(path) = &self.profile_file {
                        self.reload_profile(path);
                    }
                }
                _ = stopped(&mut stop) => break,
            }
        }
        Ok(())
    }
}

/// Starts a watcher on each folder.
fn watch_folders(
    handler: impl notify::EventHandler,
    dirs: &[PathBuf],
) -> anyhow::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(handler).context("starting the file watcher")?;
    for dir in dirs {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("watching {}", dir.display()))?;
    }
    Ok(watcher)
}

/// What a settled stream of file events asks for.
#[derive(Debug, Default, PartialEq)]
struct Batch {
    /// Scripts that changed, sorted, once each.
    scripts: Vec<PathBuf>,
    profile_changed: bool,
    /// An event was lost (a queue overflow, an error) and could hide a change: reload all.
    rescan: bool,
}

/// Gathers file events into one [`Batch`], due once relevant events stop for [`DEBOUNCE`], or
/// [`MAX_DEBOUNCE`] after the first (a busy folder must not hold a reload back).
#[derive(Debug)]
struct Debouncer {
    profile: Option<PathBuf>,
    batch: Batch,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debouncer {
    fn new(profile: Option<PathBuf>) -> Self {
        Self {
            profile,
            batch: Batch::default(),
            first: None,
            last: None,
        }
    }

    /// Takes one event in; only scripts, the profile file and lost events count.
    fn add(&mut self, event: notify::Result<notify::Event>, now: Instant) {
        let relevant = match event {
            Ok(e) if e.need_rescan() => {
                self.batch.rescan = true;
                true
            }
            Ok(e)
                if matches!(
                    e.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                ) =>
            {
                let mut any = false;
                for path in e.paths {
                    if Some(&path) == self.profile.as_ref() {
                        self.batch.profile_changed = true;
                        any = true;
                    } else if path.extension().is_some_and(|x| x == "rhai") {
                        self.batch.scripts.push(path);
                        any = true;
                    }
                }
                any
            }
            Ok(_) => false,
            Err(_) => {
                self.batch.rescan = true;
                true
            }
        };
        if relevant {
            self.first.get_or_insert(now);
            self.last = Some(now);
        }
    }

    /// When the batch is due, if there is one.
    fn due(&self) -> Option<Instant> {
        Some((self.last? + DEBOUNCE).min(self.first? + MAX_DEBOUNCE))
    }

    /// The batch, which starts a new one.
    fn take(&mut self) -> Batch {
        self.first = None;
        self.last = None;
        let mut batch = std::mem::take(&mut self.batch);
        batch.scripts.sort();
        batch.scripts.dedup();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind};

    fn modified(path: &str) -> notify::Result<notify::Event> {
        Ok(
            notify::Event::new(EventKind::Modify(ModifyKind::Data(DataChange::Any)))
                .add_path(PathBuf::from(path)),
        )
    }

    #[test]
    fn a_batch_is_due_after_a_quiet_moment() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(None);
        assert_eq!(d.due(), None);
        d.add(modified("/s/a.rhai"), t0);
        assert_eq!(d.due(), Some(t0 + DEBOUNCE));
        let t1 = t0 + DEBOUNCE / 2;
        d.add(modified("/s/b.rhai"), t1);
        d.add(modified("/s/a.rhai"), t1);
        assert_eq!(d.due(), Some(t1 + DEBOUNCE));
        assert_eq!(
            d.take(),
            Batch {
                scripts: vec!["/s/a.rhai".into(), "/s/b.rhai".into()],
                profile_changed: false,
                rescan: false,
            }
        );
        assert_eq!(d.due(), None, "taking starts a new batch");
    }

    #[test]
    fn a_busy_folder_cannot_hold_a_reload_back() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(None);
        let mut t = t0;
        while t < t0 + 2 * MAX_DEBOUNCE {
            d.add(modified("/s/a.rhai"), t);
            t += DEBOUNCE / 2;
        }
        assert_eq!(d.due(), Some(t0 + MAX_DEBOUNCE));
    }

    #[test]
    fn only_scripts_the_profile_and_lost_events_count() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(Some("/p/soak.toml".into()));
        d.add(modified("/s/notes.txt"), t0);
        d.add(
            Ok(
                notify::Event::new(EventKind::Access(notify::event::AccessKind::Any))
                    .add_path("/s/a.rhai".into()),
            ),
            t0,
        );
        assert_eq!(d.due(), None, "neither a text file nor a read is a change");
        d.add(modified("/p/soak.toml"), t0);
        d.add(
            Ok(notify::Event::new(EventKind::Create(CreateKind::File))
                .set_flag(notify::event::Flag::Rescan)),
            t0,
        );
        let batch = d.take();
        assert!(batch.profile_changed && batch.rescan && batch.scripts.is_empty());
        d.add(Err(notify::Error::generic("queue overflow")), t0);
        assert!(d.take().rescan);
    }
}
