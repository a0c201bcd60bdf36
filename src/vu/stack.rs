//! Coroutine stacks, pooled per thread. A stack is held only while a task runs; a virtual user
//! between tasks holds none (DESIGN.md: a VU between tasks is its state and a timer).
//!
//! Stacks are large in address space and small in touched memory. Rhai's call-level and
//! expression-depth limits (`script::Limits`) keep a script far from the guard page: one call
//! level costs ~4 KB of stack in release builds and ~27 KB in debug builds (RHAI_NOTES.md).

use std::cell::RefCell;

use corosensei::stack::DefaultStack;

/// Address space per stack.
#[cfg(not(debug_assertions))]
pub const STACK_SIZE: usize = 1 << 20;
#[cfg(debug_assertions)]
pub const STACK_SIZE: usize = 4 << 20;

/// Free stacks kept per thread; more are unmapped when returned.
const POOL_MAX: usize = 1024;

thread_local! {
    static POOL: RefCell<Vec<DefaultStack>> = const { RefCell::new(Vec::new()) };
}

/// A stack from this thread's pool, or a new one.
pub fn take() -> std::io::Result<DefaultStack> {
    match POOL.with(|p| p.borrow_mut().pop()) {
        Some(stack) => Ok(stack),
        None => DefaultStack::new(STACK_SIZE),
    }
}

/// Returns a stack to this thread's pool.
pub fn give(stack: DefaultStack) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < POOL_MAX {
            pool.push(stack);
        }
    });
}
