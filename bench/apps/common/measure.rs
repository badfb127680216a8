// The measurements, shared by both bench apps through `#[path]`: each app provides `crate::rt`
// (`spawn(f) -> Handle<T>`, `Handle::join() -> T`) over its runtime, so both run the same code.
//
// Times come from `performance.now()` inside the threads' worker (5 µs resolution in a
// cross-origin isolated page); the page's messages to the app are never timed.

use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use wasm_bindgen::prelude::*;

use crate::rt;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance)]
    fn now() -> f64;
}

fn sleep_ms(ms: u32) {
    // std's sleep is not guaranteed on wasm32-unknown-unknown; a timed condvar wait is.
    let lock = Mutex::new(());
    let guard = lock.lock().expect("fresh lock");
    let _ = Condvar::new().wait_timeout(guard, Duration::from_millis(u64::from(ms)));
}

fn spawn_join_trivial() -> u32 {
    rt::spawn(|| 1u32).join()
}

/// Spawn+join latency in microseconds, pausing `pause_ms` before each sample (long enough
/// for idle workers to retire, so no worker is free).
#[wasm_bindgen]
pub fn bench_cold(samples: u32, pause_ms: u32) -> Vec<f64> {
    (0..samples)
        .map(|_| {
            sleep_ms(pause_ms);
            let t0 = now();
            spawn_join_trivial();
            (now() - t0) * 1000.0
        })
        .collect()
}

/// Spawn+join latency in microseconds, back to back (after `warmup` unmeasured ones).
#[wasm_bindgen]
pub fn bench_warm(samples: u32, warmup: u32) -> Vec<f64> {
    for _ in 0..warmup {
        spawn_join_trivial();
    }
    (0..samples)
        .map(|_| {
            let t0 = now();
            spawn_join_trivial();
            (now() - t0) * 1000.0
        })
        .collect()
}

/// Wall time in ms of `n` sequential spawn+join pairs.
#[wasm_bindgen]
pub fn bench_sequential(n: u32) -> f64 {
    let t0 = now();
    let total: u32 = (0..n).map(|_| spawn_join_trivial()).sum();
    assert_eq!(total, n);
    now() - t0
}

/// Wall time in ms to spawn `n` threads at once and join them all.
#[wasm_bindgen]
pub fn bench_burst(n: u32) -> f64 {
    let t0 = now();
    let handles: Vec<_> = (0..n).map(|i| rt::spawn(move || i)).collect();
    let total: u32 = handles.into_iter().map(rt::Handle::join).sum();
    assert_eq!(total, n * (n.saturating_sub(1)) / 2);
    now() - t0
}

/// Round trips in microseconds of a message between two threads over `mpsc` channels.
#[wasm_bindgen]
pub fn bench_ping_pong(rounds: u32, warmup: u32) -> Vec<f64> {
    let (to_echo, echo_in) = mpsc::channel::<u32>();
    let (echo_out, back) = mpsc::channel::<u32>();
    let echo = rt::spawn(move || {
        for message in echo_in {
            if echo_out.send(message).is_err() {
                break;
            }
        }
    });
    let pinger = rt::spawn(move || {
        let mut samples = Vec::with_capacity(rounds as usize);
        for i in 0..warmup + rounds {
            let t0 = now();
            to_echo.send(i).expect("echo thread alive");
            let reply = back.recv().expect("echo thread alive");
            assert_eq!(reply, i);
            if i >= warmup {
                samples.push((now() - t0) * 1000.0);
            }
        }
        samples
    });
    let samples = pinger.join();
    echo.join();
    samples
}

fn mandelbrot_row(y: u32, size: u32, max_iter: u32) -> u64 {
    let ci = -1.5 + 3.0 * f64::from(y) / f64::from(size);
    (0..size)
        .map(|x| {
            let cr = -2.0 + 3.0 * f64::from(x) / f64::from(size);
            let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0);
            while n < max_iter && zr * zr + zi * zi <= 4.0 {
                let t = zr * zr - zi * zi + cr;
                zi = 2.0 * zr * zi + ci;
                zr = t;
                n += 1;
            }
            u64::from(n)
        })
        .sum()
}

/// A `size`×`size` Mandelbrot set (rows interleaved over `threads` threads), spawn to last join.
/// Returns [ms, checksum]; the checksum is the same for every thread count.
#[wasm_bindgen]
pub fn bench_mandelbrot(threads: u32, size: u32, max_iter: u32) -> Vec<f64> {
    let threads = threads.max(1);
    let t0 = now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            rt::spawn(move || {
                (t..size)
                    .step_by(threads as usize)
                    .map(|y| mandelbrot_row(y, size, max_iter))
                    .sum::<u64>()
            })
        })
        .collect();
    let checksum: u64 = handles.into_iter().map(rt::Handle::join).sum();
    vec![now() - t0, checksum as f64]
}

/// Bytes of wasm memory now.
#[wasm_bindgen]
pub fn memory_bytes() -> f64 {
    f64::from(core::arch::wasm32::memory_size(0) as u32) * 65536.0
}
