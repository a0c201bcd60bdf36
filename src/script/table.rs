//! The run's classes, versioned: one slot per script file, whose current [`ClassScript`] users
//! load at the start of every task (an atomic pointer load). A reload compiles every script
//! again and publishes each that compiled; one that does not keeps its previous version running.
//! Slots are only ever appended (a new file), or marked removed (a deleted file), so a class's
//! index stays valid for the whole run.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::{ArcSwap, Guard};

use super::error::ScriptError;
use super::set::{ClassScript, compile, compile_any, discover};
use super::{Limits, ScriptSet};

/// One script file's class.
#[derive(Debug)]
pub struct ClassSlot {
    pub file: PathBuf,
    script: ArcSwap<ClassScript>,
    removed: AtomicBool,
}

impl ClassSlot {
    /// The current version (cheap: for every task start).
    pub fn load(&self) -> Guard<Arc<ClassScript>> {
        self.script.load()
    }

    pub fn load_full(&self) -> Arc<ClassScript> {
        self.script.load_full()
    }

    /// The file is gone: its users stop, it starts none.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// The class's weight among classes now (0 once removed).
    pub fn weight(&self) -> u32 {
        if self.is_removed() {
            0
        } else {
            self.load().decl.weight
        }
    }
}

/// What one reload did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadOutcome {
    /// The version published, or the current one if nothing was.
    pub version: u64,
    /// Classes published again (index into the table).
    pub published: Vec<usize>,
    /// Classes that appeared (new files).
    pub added: Vec<usize>,
    /// Classes whose file is gone.
    pub removed: Vec<usize>,
    /// Scripts that failed to compile; their previous version keeps running.
    pub errors: Vec<ScriptError>,
    /// What the published classes' users should know that does not stop them.
    pub warnings: Vec<ScriptError>,
}

impl ReloadOutcome {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The classes of a run.
#[derive(Debug)]
pub struct ClassTable {
    slots: ArcSwap<Vec<Arc<ClassSlot>>>,
    version: AtomicU64,
    paths: Vec<PathBuf>,
    stdlib: Option<PathBuf>,
    limits: Limits,
}

impl ClassTable {
    pub fn new(set: &ScriptSet) -> Self {
        let slots = set
            .classes
            .iter()
            .map(|c| {
                Arc::new(ClassSlot {
                    file: c.file.clone(),
                    script: ArcSwap::new(c.clone()),
                    removed: AtomicBool::new(false),
                })
            })
            .collect();
        Self {
            slots: ArcSwap::from_pointee(slots),
            version: AtomicU64::new(0),
            paths: set.paths.clone(),
            stdlib: set.stdlib.clone(),
            limits: set.limits,
        }
    }

    pub fn slots(&self) -> Arc<Vec<Arc<ClassSlot>>> {
        self.slots.load_full()
    }

    pub fn slot(&self, class: usize) -> Arc<ClassSlot> {
        self.slots.load()[class].clone()
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The weights the scheduler splits users by (0 for a removed class).
    pub fn weights(&self) -> Vec<u32> {
        self.slots.load().iter().map(|s| s.weight()).collect()
    }

    /// The script folders and files being run, and the module folder, for the watcher.
    pub fn sources(&self) -> (Vec<PathBuf>, Option<PathBuf>) {
        (self.paths.clone(), self.stdlib.clone())
    }

    /// Compiles every script again and publishes those that compiled as a new version. Only
    /// the reloader calls this, so reloads never overlap.
    pub fn reload(&self) -> ReloadOutcome {
        let mut outcome = ReloadOutcome {
            version: self.version(),
            ..ReloadOutcome::default()
        };
        // A script named on the command line and since deleted leaves the run; the others
        // still reload.
        let present: Vec<PathBuf> = self
            .paths
            .iter()
            .filter(|p| p.is_dir() || p.exists())
            .cloned()
            .collect();
        let files = match discover(&present) {
            Ok(files) => files,
            Err(e) => {
                outcome.errors.push(e);
                return outcome;
            }
        };
        let version = self.version() + 1;
        let mut slots: Vec<Arc<ClassSlot>> = self.slots.load().as_ref().clone();
        for (i, slot) in slots.iter().enumerate() {
            if !files.iter().any(|f| f.path == slot.file) && !slot.is_removed() {
                slot.removed.store(true, Ordering::Release);
                outcome.removed.push(i);
            }
        }
        let mut compiled = Vec::new();
        for found in &files {
            let (stdlib, limits) = (self.stdlib.as_deref(), &self.limits);
            let result = if found.in_folder {
                compile_any(&found.path, stdlib, limits)
            } else {
                compile(&found.path, stdlib, limits).map(Some)
            };
            match result {
                Ok(Some(mut class)) => {
                    class.version = version;
                    compiled.push(class);
                }
                // A module: the classes that import it were compiled again with it.
                Ok(None) => {
                    if let Some(i) = slots.iter().position(|s| s.file == found.path)
                        && !slots[i].is_removed()
                    {
                        // A class file whose declaration was removed: it leaves the run.
                        slots[i].removed.store(true, Ordering::Release);
                        outcome.removed.push(i);
                    }
                }
                Err(e) => outcome.errors.push(e),
            }
        }
        for class in compiled {
            let index = slots.iter().position(|s| s.file == class.file);
            let clash = slots.iter().enumerate().find(|(i, s)| {
                Some(*i) != index && !s.is_removed() && s.load().decl.name == class.decl.name
            });
            if let Some((_, other)) = clash {
                outcome.errors.push(class.already_declared(&other.file));
                continue;
            }
            outcome.warnings.extend(class.warnings.iter().cloned());
            match index {
                Some(i) => {
                    slots[i].script.store(Arc::new(class));
                    slots[i].removed.store(false, Ordering::Release);
                    outcome.published.push(i);
                }
                None => {
                    slots.push(Arc::new(ClassSlot {
                        file: class.file.clone(),
                        script: ArcSwap::new(Arc::new(class)),
                        removed: AtomicBool::new(false),
                    }));
                    outcome.added.push(slots.len() - 1);
                    outcome.published.push(slots.len() - 1);
                }
            }
        }
        if !outcome.published.is_empty() || !outcome.removed.is_empty() {
            self.slots.store(Arc::new(slots));
            self.version.store(version, Ordering::Release);
            outcome.version = version;
        }
        outcome
    }
}
