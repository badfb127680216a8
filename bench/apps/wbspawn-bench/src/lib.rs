//! wbspawn's bench app: the shared spawn measurements over `wbspawn::spawn`, the same over
//! `std::thread::spawn`, and the shared rayon kernels on rayon's global pool (std threads).

#[path = "../../common/measure.rs"]
mod measure;

#[path = "../../common/kernels.rs"]
mod kernels;

#[path = "../../common/rayon_exports.rs"]
mod rayon_exports;

use wasm_bindgen::prelude::*;

mod rt {
    pub struct Handle<T>(wbspawn::JoinHandle<T>);

    pub fn spawn<F, T>(f: F) -> Handle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Handle(wbspawn::spawn(f))
    }

    impl<T> Handle<T> {
        pub fn join(self) -> T {
            self.0.join().expect("bench thread panicked")
        }
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance)]
    fn now() -> f64;
}

/// `rayon_click` on a thread, awaited: the way that never makes the caller (the page) wait.
#[wasm_bindgen]
pub async fn rayon_click_async(heavy: bool) -> f64 {
    wbspawn::spawn(move || rayon_exports::rayon_click(heavy))
        .join_async()
        .await
        .expect("bench thread panicked")
}

fn std_spawn_join() -> u32 {
    std::thread::spawn(|| 1u32)
        .join()
        .expect("bench thread panicked")
}

/// `bench_warm` through `std::thread::spawn`: microseconds per spawn+join.
#[wasm_bindgen]
pub fn bench_std_warm(samples: u32, warmup: u32) -> Vec<f64> {
    for _ in 0..warmup {
        std_spawn_join();
    }
    (0..samples)
        .map(|_| {
            let t0 = now();
            std_spawn_join();
            (now() - t0) * 1000.0
        })
        .collect()
}

/// `bench_sequential` through `std::thread::spawn`: wall time in ms of `n` spawn+join pairs.
#[wasm_bindgen]
pub fn bench_std_sequential(n: u32) -> f64 {
    let t0 = now();
    let total: u32 = (0..n).map(|_| std_spawn_join()).sum();
    assert_eq!(total, n);
    now() - t0
}

/// Sizes rayon's global pool (as wasm-bindgen-rayon's `initThreadPool` does), then returns the
/// first parallel result.
#[wasm_bindgen]
pub fn rayon_first(threads: u32) -> f64 {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads as usize)
        .build_global()
        .expect("the global pool is built once per page");
    kernels::first_result() as f64
}

/// Pool workers alive (booting, running or parked).
#[wasm_bindgen]
pub fn live_workers() -> u32 {
    wbspawn::pool_stats().live as u32
}

/// Nanoseconds per reading of each clock, over `n` readings on the calling thread:
/// `[std::time::Instant::now (wbspawn's clock), web_time::Instant::now, SystemTime::now]`.
#[wasm_bindgen]
pub fn bench_clocks(n: u32) -> Vec<f64> {
    fn per_call<T>(n: u32, read: impl Fn() -> T) -> f64 {
        let t0 = now();
        for _ in 0..n {
            std::hint::black_box(read());
        }
        (now() - t0) * 1e6 / f64::from(n)
    }
    vec![
        per_call(n, std::time::Instant::now),
        per_call(n, web_time::Instant::now),
        per_call(n, std::time::SystemTime::now),
    ]
}
