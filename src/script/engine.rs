//! The sandboxed Rhai engine: the standard package, the host functions, explicit limits, and
//! nothing else (no `eval`, no file or process access; `print` goes to the log).

use std::sync::OnceLock;

use super::host::LogLevel;
use rhai::packages::{Package, StandardPackage};
use rhai::{Engine, OptimizationLevel, Position, Shared};

/// Resource limits for every script call. Explicit, so debug and release builds behave alike
/// (Rhai's own defaults differ between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations per call of a task (the counter restarts at each call).
    pub max_operations: u64,
    pub max_call_levels: usize,
    /// Expression depth at the top level and inside functions.
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    /// In bytes.
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            // The coroutine stacks (see `vu::stack`) leave room for this many call levels with
            // margin, in release and debug builds alike. A task is entered as a call through its
            // script's module, one level of the 25: a script has 24 of its own.
            max_call_levels: 25,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_string_size: 256 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
        }
    }
}

fn standard_package() -> &'static Shared<rhai::Module> {
    static PACKAGE: OnceLock<Shared<rhai::Module>> = OnceLock::new();
    PACKAGE.get_or_init(|| StandardPackage::new().as_shared_module())
}

/// A fresh engine with the standard library, the limits and the sandbox rules, but no host
/// functions yet.
pub(crate) fn base_engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(standard_package().clone());
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_modules(64)
        .set_optimization_level(OptimizationLevel::Simple)
        .set_fail_on_invalid_map_property(false);
    engine.disable_symbol("eval");
    engine.on_print(|text| super::host::logged(LogLevel::Info, text, None, Position::NONE));
    engine.on_debug(|text, source, pos| super::host::logged(LogLevel::Debug, text, source, pos));
    engine
}
