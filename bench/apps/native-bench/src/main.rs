//! The rayon kernels (and std's spawn+join) as a native program on the same machine:
//! `native-bench THREADS` prints one JSON object with the best of several runs.

#[path = "../../common/kernels.rs"]
#[allow(dead_code)] // first_result is for the browsers' start-up measurement
mod kernels;

use std::time::Instant;

fn best_ms(runs: u32, mut run: impl FnMut() -> (f64, u64)) -> (f64, u64) {
    let mut best = f64::INFINITY;
    let mut checksum = 0;
    for _ in 0..runs {
        let (ms, sum) = run();
        best = best.min(ms);
        checksum = sum;
    }
    (best, checksum)
}

fn timed(f: impl FnOnce() -> u64) -> (f64, u64) {
    let t0 = Instant::now();
    let sum = f();
    (t0.elapsed().as_secs_f64() * 1000.0, sum)
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("the global pool is built once");
    let (mandelbrot_ms, mandelbrot_sum) = best_ms(5, || timed(kernels::mandelbrot));
    let (sort_ms, sort_sum) = best_ms(5, || {
        let mut numbers = kernels::sort_input();
        timed(|| kernels::sort(&mut numbers))
    });
    // std::thread::spawn + join of a trivial thread: the mean of 2,000 after 100 unmeasured.
    for _ in 0..100 {
        std::thread::spawn(|| 1u32).join().expect("joined");
    }
    let t0 = Instant::now();
    for _ in 0..2000 {
        std::thread::spawn(|| 1u32).join().expect("joined");
    }
    let spawn_us = t0.elapsed().as_secs_f64() * 1e6 / 2000.0;
    // Instant::now: nanoseconds per reading over a million.
    const READS: u32 = 1_000_000;
    let t0 = Instant::now();
    for _ in 0..READS {
        std::hint::black_box(Instant::now());
    }
    let instant_ns = t0.elapsed().as_secs_f64() * 1e9 / f64::from(READS);
    println!(
        "{{\"threads\": {threads}, \"mandelbrot_ms\": {mandelbrot_ms}, \"mandelbrot_checksum\": {mandelbrot_sum}, \
         \"sort_ms\": {sort_ms}, \"sort_checksum\": {sort_sum}, \"spawn_join_us\": {spawn_us}, \
         \"instant_ns\": {instant_ns}}}"
    );
}
