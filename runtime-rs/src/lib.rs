#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// Wasm-only nightly features, for a build that needs a nightly (or bootstrapped) compiler for
// -Zbuild-std anyway: `memory.atomic.notify` for the dispatcher's signal word, the inline
// `global.get __tls_base` that resets a worker's thread-locals, and std's thread id as a number.
#![cfg_attr(
    target_arch = "wasm32",
    feature(stdarch_wasm_atomic_wait, asm_experimental_arch, thread_id_value)
)]

// Without `atomics` the linker produces an unshared memory and every "thread" would get a private
// copy of the heap: fail at compile time instead of at the first spawn.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
compile_error!(
    "wbspawn needs shared memory: build with RUSTFLAGS=\"-C target-feature=+atomics,+bulk-memory ...\" \
     and -Zbuild-std=std,panic_abort (wbspawn-serve does this for you)"
);

// Layers, top to bottom: the public API (thread, join, scope) and the entry points (std's
// hooks for threads, the clock, stdio and the process; JS exports); the pool; a thread's
// record, its completion, the current thread and the panic hook; the platform.
mod activity;
mod clock;
mod completion;
mod config;
mod current;
mod join;
#[cfg(target_arch = "wasm32")]
mod js_exports;
mod locks;
mod main_thread;
mod panic;
mod platform;
mod pool;
mod process;
mod record;
mod scope;
mod std_threads;
mod stdio;
#[doc(hidden)]
pub mod testing;
mod thread;
#[cfg(target_arch = "wasm32")]
mod transfer;
mod wait;

pub use config::available_parallelism;
#[doc(hidden)]
pub use join::join_async_waiters;
pub use join::{JoinError, JoinFuture, JoinHandle};
pub use main_thread::{
    is_main_thread, run_on_main_thread, run_on_main_thread_async, MainThreadFuture,
};
pub use pool::{pool_stats, PoolStats};
pub use record::{Thread, ThreadId};
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use thread::{current, spawn, Builder};
#[cfg(target_arch = "wasm32")]
pub use transfer::Transfer;

/// Whether `std::thread` runs on wbspawn's workers in this build (the build used wbspawn's
/// patched std; see `docs/std-threads.md`). Without it, `wbspawn::spawn` still works.
pub fn std_threads_enabled() -> bool {
    config::patched_std()
}
