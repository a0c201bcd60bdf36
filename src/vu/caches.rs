//! Rhai's function-resolution caches, kept per class and per thread between tasks.
//!
//! `Engine::call_fn` starts every call with empty caches, so each task resolved every function
//! it called afresh: about 400 instructions a name, a dozen names a request for the shipped
//! scripts (and Rhai caches a name only on its second use within one cache, so a short task
//! never gained from caching at all). A task now borrows a cache that earlier tasks of the same
//! class warmed, and returns it when it ends (`Lease`).
//!
//! A cache belongs to one class: the names it holds were resolved against that class's engine
//! and functions. A reload makes a new class, which starts with an empty pool; the pool of a
//! class no longer alive goes at the next trim. Like the coroutine stacks (`vu::stack`), a
//! pool keeps as many caches as tasks of its class ran at once in the last second.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use rhai::Caches;

use crate::script::ClassScript;

/// Free caches always kept per class and thread.
const POOL_MIN: usize = 4;

/// One class's free caches on this thread, and how many were in use at most since the last
/// trim.
struct Pool {
    /// Held weakly, so the class's allocation (and so its address) stays its own while the
    /// pool exists, and a class that is gone is noticed.
    class: Weak<ClassScript>,
    /// Boxed: a `Caches` is ~400 bytes inline, moved in and out on every task.
    #[allow(
        clippy::vec_box,
        reason = "a cache moves in and out of the pool on every task"
    )]
    free: Vec<Box<Caches>>,
    in_use: usize,
    peak: usize,
}

thread_local! {
    static POOLS: RefCell<Vec<Pool>> = const { RefCell::new(Vec::new()) };
}

fn with_pool<R>(class: &Arc<ClassScript>, f: impl FnOnce(&mut Pool) -> R) -> R {
    POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        let at = match pools
            .iter()
            .position(|pool| Weak::as_ptr(&pool.class) == Arc::as_ptr(class))
        {
            Some(at) => at,
            None => {
                pools.push(Pool {
                    class: Arc::downgrade(class),
                    free: Vec::new(),
                    in_use: 0,
                    peak: 0,
                });
                pools.len() - 1
            }
        };
        f(&mut pools[at])
    })
}

/// The caches one task resolves names through. Taken from the class's pool when the class
/// allows warm caches (`ClassScript::warm_caches`), and given back when the task ends however
/// it ends (a task abandoned or panicking unwinds through here too).
pub struct Lease<'a> {
    class: &'a Arc<ClassScript>,
    caches: Option<Box<Caches>>,
}

impl<'a> Lease<'a> {
    pub fn new(class: &'a Arc<ClassScript>) -> Self {
        let caches = if class.warm_caches {
            with_pool(class, |pool| {
                pool.in_use += 1;
                pool.peak = pool.peak.max(pool.in_use);
                pool.free.pop().unwrap_or_default()
            })
        } else {
            Box::default()
        };
        Self {
            class,
            caches: Some(caches),
        }
    }

    pub fn caches(&mut self) -> &mut Caches {
        self.caches.as_mut().expect("held until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (true, Some(caches)) = (self.class.warm_caches, self.caches.take()) {
            with_pool(self.class, |pool| {
                pool.in_use = pool.in_use.saturating_sub(1);
                pool.free.push(caches);
            });
        }
    }
}

/// Drops the free caches the last period did not need, and the pools of classes that are gone
/// (called once a second, with `stack::trim`).
pub fn trim() {
    POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        // A class's running tasks hold it, so a class that is gone has none.
        pools.retain(|pool| pool.class.strong_count() > 0);
        for pool in pools.iter_mut() {
            let keep = pool.peak.saturating_sub(pool.in_use).max(POOL_MIN);
            pool.free.truncate(keep);
            pool.peak = pool.in_use;
        }
    });
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::script::{Limits, compile};

    fn class(name: &str) -> Arc<ClassScript> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shadow");
        Arc::new(compile(&dir.join(name), None, &Limits::default()).expect("compiles"))
    }

    /// A lease whose cache is marked (one resolution level pushed), so it can be told apart.
    fn marked(class: &Arc<ClassScript>) -> usize {
        let mut lease = Lease::new(class);
        let len = lease.caches().fn_resolution_caches_len();
        lease.caches().push_fn_resolution_cache();
        len
    }

    fn free(class: &Arc<ClassScript>) -> usize {
        with_pool(class, |pool| pool.free.len())
    }

    #[test]
    fn a_class_gets_back_the_caches_its_tasks_warmed_and_no_other_class_does() {
        let (calm, other) = (class("calm.rhai"), class("calm.rhai"));
        assert_eq!(marked(&calm), 0, "a new cache");
        assert_eq!(marked(&calm), 1, "the cache the last task left");
        assert_eq!(marked(&other), 0, "another class (a reload) starts empty");
        // Two tasks at once hold two caches; both come back.
        let (a, b) = (Lease::new(&calm), Lease::new(&calm));
        assert_eq!(free(&calm), 0);
        drop((a, b));
        assert_eq!(free(&calm), 2);
    }

    #[test]
    fn a_class_with_a_clash_never_shares_its_caches() {
        let clash = class("clash.rhai");
        assert_eq!(marked(&clash), 0);
        assert_eq!(marked(&clash), 0, "fresh again");
        assert_eq!(free(&clash), 0);
    }

    #[test]
    fn trim_keeps_what_the_last_second_needed_and_forgets_classes_that_are_gone() {
        let calm = class("calm.rhai");
        let leases: Vec<Lease> = (0..10).map(|_| Lease::new(&calm)).collect();
        drop(leases);
        trim();
        assert_eq!(free(&calm), 10, "ten ran at once in the last second");
        trim();
        assert_eq!(free(&calm), POOL_MIN, "none ran since");
        let gone = class("calm.rhai");
        marked(&gone);
        drop(gone);
        trim();
        POOLS.with(|p| assert_eq!(p.borrow().len(), 1, "only the live class's pool"));
    }
}
