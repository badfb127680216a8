//! wasm-bindgen-rayon's bench app for the main thread: the shared rayon kernels on its global
//! pool, started with `initThreadPool(n)` from the page and called there (rayon's
//! `web_spin_lock`), as its documentation shows for apps that own the page.

#[path = "../../common/kernels.rs"]
mod kernels;

#[path = "../../common/rayon_exports.rs"]
mod rayon_exports;

pub use wasm_bindgen_rayon::init_thread_pool;
