#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// `memory.atomic.notify` for the dispatcher's signal word. Building threads for wasm needs a
// nightly (or bootstrapped) compiler for -Zbuild-std anyway.
#![cfg_attr(target_arch = "wasm32", feature(stdarch_wasm_atomic_wait))]

// Without `atomics` the linker produces an unshared memory and every "thread" would get a private
// copy of the heap: fail at compile time instead of at the first spawn.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
compile_error!(
    "wbspawn needs shared memory: build with RUSTFLAGS=\"-C target-feature=+atomics,+bulk-memory ...\" \
     and -Zbuild-std=std,panic_abort (wbspawn-serve does this for you)"
);

mod completion;
mod config;
mod panic;
mod platform;
mod pool;
mod scope;
mod thread;

pub use config::available_parallelism;
pub use pool::{pool_stats, PoolStats};
pub use scope::{scope, Scope, ScopedJoinHandle};
pub use thread::{current, spawn, Builder, JoinError, JoinFuture, JoinHandle, Thread, ThreadId};
