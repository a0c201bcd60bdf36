//! Coroutine stacks, pooled per thread. A stack is held only while a task runs; a virtual user
//! between tasks holds none (ARCHITECTURE.md: a VU between tasks is its state and a timer).
//!
//! Stacks are large in address space and small in touched memory. Rhai's call-level and
//! expression-depth limits (`script::Limits`) keep a script far from the guard page
//! (docs/design-notes.md has the stack a call level takes).

use std::cell::RefCell;

use corosensei::stack::DefaultStack;

/// Address space per stack. The worst a script can do within the limits is every call level
/// inside a maximally deep expression; each build gets about twice the stack that takes
/// (docs/design-notes.md), rounded up. Only the pages a task touches cost memory.
#[cfg(not(debug_assertions))]
pub const STACK_SIZE: usize = 4 << 20;
#[cfg(debug_assertions)]
pub const STACK_SIZE: usize = 16 << 20;

/// Free stacks always kept per thread.
const POOL_MIN: usize = 16;

/// A thread's free stacks, and how many were in use at most since the last trim.
#[derive(Default)]
struct StackPool {
    free: Vec<DefaultStack>,
    in_use: usize,
    peak: usize,
}

thread_local! {
    static POOL: RefCell<StackPool> = RefCell::new(StackPool::default());
}

/// A stack from this thread's pool, or a new one.
pub fn take() -> std::io::Result<DefaultStack> {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let stack = match pool.free.pop() {
            Some(stack) => stack,
            None => DefaultStack::new(STACK_SIZE)?,
        };
        pool.in_use += 1;
        pool.peak = pool.peak.max(pool.in_use);
        Ok(stack)
    })
}

/// Returns a stack to this thread's pool.
pub fn give(stack: DefaultStack) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        pool.in_use = pool.in_use.saturating_sub(1);
        pool.free.push(stack);
    });
}

/// A stack given up without being returned (its task panicked).
pub fn lost() {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        pool.in_use = pool.in_use.saturating_sub(1);
    });
}

/// Unmaps the free stacks the last period did not need (called once a second): a burst of
/// concurrent tasks does not leave its stacks' touched pages behind once users go idle.
pub fn trim() {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let keep = pool.peak.saturating_sub(pool.in_use).max(POOL_MIN);
        if pool.free.len() > keep {
            pool.free.truncate(keep);
        }
        pool.peak = pool.in_use;
    });
}

/// Mappings kept free for everything else in the process (libraries, the heap, sockets).
const MAPS_RESERVED: usize = 8_192;

/// How many tasks may run at once in the whole process: each running task's stack is two
/// memory mappings (the stack and its guard page), and the kernel caps a process's mappings
/// (`vm.max_map_count`, 65,530 by default). Past this, tasks wait for a stack instead of
/// failing to map one.
pub fn max_running_tasks() -> usize {
    let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65_530);
    (max_maps.saturating_sub(MAPS_RESERVED) / 2).max(64)
}
