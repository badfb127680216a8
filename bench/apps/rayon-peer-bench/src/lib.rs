//! wasm-bindgen-rayon's bench app: the shared rayon kernels on its global pool, which the page
//! sizes with `initThreadPool(n)` as its documentation shows.

#[path = "../../common/kernels.rs"]
mod kernels;

#[path = "../../common/rayon_exports.rs"]
mod rayon_exports;

use wasm_bindgen::prelude::*;
pub use wasm_bindgen_rayon::init_thread_pool;

/// The first parallel result (see `kernels::first_result`).
#[wasm_bindgen]
pub fn rayon_first_result() -> f64 {
    kernels::first_result() as f64
}
