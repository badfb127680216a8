//! Hooks the runtime's browser tests (tests/apps/lab) use to put a thread in states no test
//! can reach on purpose: a death while it holds a lock only the runtime takes, a worker the
//! browser ends. Not API.

/// Traps while holding the worker pool's lock, as a stack overflow inside the pool would.
#[cfg(target_arch = "wasm32")]
pub fn die_holding_the_pool_lock() -> ! {
    let _held = crate::pool::hold_lock();
    core::arch::wasm32::unreachable()
}

/// Traps with std's allocator lock marked as this thread's, as a stack overflow inside an
/// allocation would leave it.
#[cfg(target_arch = "wasm32")]
pub fn die_holding_the_allocator() -> ! {
    crate::platform::mark_allocator_held();
    core::arch::wasm32::unreachable()
}

/// Which instance holds std's allocator lock right now (0: none), as the patched std marks it.
#[cfg(target_arch = "wasm32")]
pub fn allocator_owner() -> usize {
    crate::platform::allocator_owner()
}

/// The page's id for the worker this thread runs on (0 off a worker), which the page's
/// `killWorkerForTesting` takes.
#[cfg(target_arch = "wasm32")]
pub fn worker_id() -> u32 {
    crate::current::worker_id()
}
