// The rayon kernels as the page calls them, shared by both browser rayon bench apps (wbspawn's
// and wasm-bindgen-rayon's) through `#[path]`, so both time the kernels alike. Each app
// includes kernels.rs as `crate::kernels`.

use wasm_bindgen::prelude::*;

use crate::kernels;

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

/// Threads in the global pool.
#[wasm_bindgen]
pub fn rayon_threads() -> u32 {
    rayon::current_num_threads() as u32
}

/// What a click handler runs on the calling thread (the page's, in the main-thread benches):
/// the smallest rayon job (`heavy` false) or the Mandelbrot kernel; its checksum.
#[wasm_bindgen]
pub fn rayon_click(heavy: bool) -> f64 {
    if heavy {
        kernels::mandelbrot() as f64
    } else {
        kernels::first_result() as f64
    }
}
