//! What differs between the browser and a native host, as primitives the layers above share:
//! waking the dispatcher, notifying and awaiting a word of shared memory, the console, and
//! fresh thread-local storage for a worker's next thread.
//!
//! Nothing here knows about threads, pools or panics; host builds exist so `cargo test` can
//! run the pool's logic on native threads.

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
mod host;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use host::*;

/// How many `join_async` waiters are registered and not yet released (tests count them).
pub(crate) static LIVE_WAITERS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);
