//! What differs between the browser and a native host: how workers are started, how panics end.
//!
//! The pool and the API above are the same on both; host builds exist so `cargo test` can run
//! the pool's logic on native threads.

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

#[cfg(not(target_arch = "wasm32"))]
mod host;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use host::*;
