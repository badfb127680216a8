//! wasm-bindgen-rayon's bench app: the shared rayon kernels on its global pool, which the page
//! sizes with `initThreadPool(n)` as its documentation shows.

#[path = "../../common/kernels.rs"]
mod kernels;

use wasm_bindgen::prelude::*;
pub use wasm_bindgen_rayon::init_thread_pool;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance)]
    fn now() -> f64;
}

/// `[ms, checksum]` of the Mandelbrot kernel.
#[wasm_bindgen]
pub fn rayon_mandelbrot() -> Vec<f64> {
    let t0 = now();
    let checksum = kernels::mandelbrot();
    vec![now() - t0, checksum as f64]
}

/// `[ms, checksum]` of the sort kernel (the input is made before the clock starts).
#[wasm_bindgen]
pub fn rayon_sort() -> Vec<f64> {
    let mut numbers = kernels::sort_input();
    let t0 = now();
    let checksum = kernels::sort(&mut numbers);
    vec![now() - t0, checksum as f64]
}

/// The first parallel result (see `kernels::first_result`).
#[wasm_bindgen]
pub fn rayon_first_result() -> f64 {
    kernels::first_result() as f64
}

/// Threads in the global pool.
#[wasm_bindgen]
pub fn rayon_threads() -> u32 {
    rayon::current_num_threads() as u32
}
