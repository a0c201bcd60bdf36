//! Rhai's function-resolution caches, kept per class and per thread between tasks.
//!
//! `Engine::call_fn` starts every call with empty caches, so a task on fresh caches resolves
//! every function it calls from scratch; and Rhai caches a name only on its second use within
//! one cache, so a short task gains nothing from caching at all. A task borrows a cache that
//! earlier tasks of the same class warmed, and returns it when it ends (`Lease`); what that
//! saves is in docs/design-notes.md.
//!
//! A cache belongs to one class: the names it holds were resolved against that class's engine
//! and functions. A reload makes a new class, which starts with an empty pool; the pools of
//! classes that are gone go at the next `prune` (once a second). Warm caches cost memory for
//! every class on every thread, so a class has at most [`POOL_MAX`] of them per thread, lent or
//! free: tasks past that many at once (a burst of users starting together) run on fresh caches
//! and leave nothing behind.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use rhai::Caches;

use crate::script::ClassScript;

/// Warm caches a class may have per thread, lent and free together.
pub const POOL_MAX: usize = 64;

/// One class's caches on this thread.
struct CachePool {
    /// Held weakly, so the class's allocation (and so its address) stays its own while the
    /// pool exists, and a class that is gone is noticed.
    class: Weak<ClassScript>,
    /// Boxed: a `Caches` is hundreds of bytes inline, moved in and out on every task.
    #[allow(
        clippy::vec_box,
        reason = "a cache moves in and out of the pool on every task"
    )]
    free: Vec<Box<Caches>>,
    /// Caches of this pool that tasks hold now.
    lent: usize,
}

thread_local! {
    static POOLS: RefCell<Vec<CachePool>> = const { RefCell::new(Vec::new()) };
}

fn with_pool<R>(class: &Arc<ClassScript>, f: impl FnOnce(&mut CachePool) -> R) -> R {
    POOLS.with(|p| {
        let mut pools = p.borrow_mut();
        let at = match pools
            .iter()
            .position(|pool| Weak::as_ptr(&pool.class) == Arc::as_ptr(class))
        {
            Some(at) => at,
            None => {
                pools.push(CachePool {
                    class: Arc::downgrade(class),
                    free: Vec::new(),
                    lent: 0,
                });
                pools.len() - 1
            }
        };
        f(&mut pools[at])
    })
}

/// Drops the pools of classes that are gone (a reload replaced them), with their caches.
pub fn prune() {
    // A class's running tasks hold it, so a class that is gone has no cache lent.
    POOLS.with(|p| p.borrow_mut().retain(|pool| pool.class.strong_count() > 0));
}

/// A task's caches: the pool's, or its own.
#[allow(
    clippy::large_enum_variant,
    reason = "a task's own caches live on its coroutine stack; boxing them would allocate per task"
)]
enum Held {
    Pooled(Box<Caches>),
    Own(Caches),
}

/// The caches one task resolves names through: a warm one from the class's pool when the class
/// allows it (`ClassScript::warm_caches`) and the pool has one to lend, given back when the
/// task ends however it ends (a task abandoned or panicking unwinds through here too).
pub struct Lease<'a> {
    class: &'a Arc<ClassScript>,
    held: Option<Held>,
}

impl<'a> Lease<'a> {
    pub fn new(class: &'a Arc<ClassScript>) -> Self {
        let held = if class.warm_caches {
            with_pool(class, |pool| match pool.free.pop() {
                Some(caches) => {
                    pool.lent += 1;
                    Held::Pooled(caches)
                }
                None if pool.lent < POOL_MAX => {
                    pool.lent += 1;
                    Held::Pooled(Box::default())
                }
                None => Held::Own(Caches::new()),
            })
        } else {
            Held::Own(Caches::new())
        };
        Self {
            class,
            held: Some(held),
        }
    }

    pub fn caches(&mut self) -> &mut Caches {
        match self.held.as_mut().expect("held until dropped") {
            Held::Pooled(caches) => caches,
            Held::Own(caches) => caches,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(Held::Pooled(caches)) = self.held.take() {
            with_pool(self.class, |pool| {
                pool.lent -= 1;
                pool.free.push(caches);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str) -> Arc<ClassScript> {
        Arc::new(crate::script::fixture(name))
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
    fn a_burst_of_tasks_keeps_at_most_the_pool_max_and_gone_classes_are_pruned() {
        let calm = class("calm.rhai");
        let mut burst: Vec<Lease> = (0..POOL_MAX + 10).map(|_| Lease::new(&calm)).collect();
        for lease in &mut burst {
            lease.caches().push_fn_resolution_cache();
        }
        drop(burst);
        assert_eq!(
            free(&calm),
            POOL_MAX,
            "the ten past the limit were their own"
        );
        let gone = class("calm.rhai");
        marked(&gone);
        drop(gone);
        prune();
        POOLS.with(|p| assert_eq!(p.borrow().len(), 1, "the live class's pool only"));
    }
}
