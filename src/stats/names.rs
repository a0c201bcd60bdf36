//! Bounds on the names samples are kept under. A request's name comes from the script (the
//! command it sends), and so do check names and script errors: a script that makes a new one
//! every task (`send_command("/item_" + n)`) would otherwise grow a histogram per name, per
//! worker and per second, and a table, a JSON file and a `/metrics` page without end. Past
//! [`NAME_LIMIT`] distinct names of a kind, samples are counted under [`OTHER`], and the
//! results say which limit was hit first where (the script line that made the name).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Distinct names of each kind (requests, checks, script-error locations) a run keeps apart.
pub const NAME_LIMIT: usize = 1_000;

/// The name every sample past the limit is counted under.
pub const OTHER: &str = "(other)";

/// The kinds of names with a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameKind {
    Request,
    Check,
    ScriptError,
}

impl NameKind {
    pub const ALL: [NameKind; 3] = [NameKind::Request, NameKind::Check, NameKind::ScriptError];

    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::Request => "request names",
            NameKind::Check => "check names",
            NameKind::ScriptError => "script error locations",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One kind's names across the whole run, shared by the workers. A worker asks only for a
/// name it has not seen yet; once the limit is reached the set is frozen and read without a
/// lock.
#[derive(Debug)]
struct Registry {
    names: Mutex<HashSet<Box<str>>>,
    frozen: OnceLock<HashSet<Box<str>>>,
    limit: usize,
}

impl Registry {
    fn new(limit: usize) -> Self {
        Self {
            names: Mutex::new(HashSet::new()),
            frozen: OnceLock::new(),
            limit,
        }
    }

    fn admit(&self, name: &str) -> bool {
        if let Some(frozen) = self.frozen.get() {
            return frozen.contains(name);
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.contains(name) {
            return true;
        }
        if names.len() >= self.limit {
            let _ = self.frozen.set(names.clone());
            return false;
        }
        names.insert(name.into());
        true
    }
}

/// The run's name registries, one per [`NameKind`].
#[derive(Debug)]
pub struct NameLimits {
    registries: [Registry; 3],
}

impl Default for NameLimits {
    fn default() -> Self {
        Self::new(NAME_LIMIT)
    }
}

impl NameLimits {
    pub fn new(limit: usize) -> Self {
        Self {
            registries: [
                Registry::new(limit),
                Registry::new(limit),
                Registry::new(limit),
            ],
        }
    }

    pub fn limit(&self) -> usize {
        self.registries[0].limit
    }

    /// Whether `name` of `kind` is kept apart (otherwise it counts under [`OTHER`]).
    pub fn admit(&self, kind: NameKind, name: &str) -> bool {
        self.registries[kind.index()].admit(name)
    }
}

/// A worker's view of the registries: the names it already admitted, without asking again.
#[derive(Debug)]
pub struct LocalNames {
    shared: std::sync::Arc<NameLimits>,
    known: [HashSet<Box<str>, ahash::RandomState>; 3],
}

impl LocalNames {
    pub fn new(shared: std::sync::Arc<NameLimits>) -> Self {
        Self {
            shared,
            known: Default::default(),
        }
    }

    /// `name` if it is kept apart, else [`OTHER`].
    pub fn admit<'a>(&mut self, kind: NameKind, name: &'a str) -> &'a str {
        let known = &mut self.known[kind.index()];
        if known.contains(name) {
            return name;
        }
        if self.shared.admit(kind, name) {
            known.insert(name.into());
            name
        } else {
            OTHER
        }
    }

    pub fn limit(&self) -> usize {
        self.shared.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn names_past_the_limit_are_others_across_workers() {
        let shared = Arc::new(NameLimits::new(3));
        let mut a = LocalNames::new(shared.clone());
        let mut b = LocalNames::new(shared);
        assert_eq!(a.admit(NameKind::Request, "/a"), "/a");
        assert_eq!(b.admit(NameKind::Request, "/b"), "/b");
        assert_eq!(a.admit(NameKind::Request, "/c"), "/c");
        assert_eq!(
            b.admit(NameKind::Request, "/d"),
            OTHER,
            "the limit is the run's"
        );
        assert_eq!(
            b.admit(NameKind::Request, "/a"),
            "/a",
            "a known name stays itself"
        );
        assert_eq!(a.admit(NameKind::Request, "/e"), OTHER);
        assert_eq!(
            a.admit(NameKind::Check, "/d"),
            "/d",
            "each kind has its own"
        );
    }
}
