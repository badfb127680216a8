//! {{name}}: plain `std::thread`, running on Web Workers that share one wasm memory.

use std::thread;

use wasm_bindgen::prelude::*;
// Links wbspawn's runtime, which starts std's threads in the browser.
use wbspawn as _;

/// How many threads run at once here (the browser's `navigator.hardwareConcurrency`).
#[wasm_bindgen]
pub fn threads() -> u32 {
    thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Counts the primes below `limit` on `threads` threads; one count per thread.
#[wasm_bindgen]
pub fn count_primes(threads: u32, limit: u32) -> Vec<u32> {
    let threads = threads.max(1);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|me| {
                // Blocks of 1024 numbers dealt out in turn: every thread gets a fair share
                // of small and large numbers.
                scope.spawn(move || {
                    (2..limit)
                        .filter(|n| (n / 1024) % threads == me && is_prime(*n))
                        .count() as u32
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut divisor = 2;
    while divisor <= n / divisor {
        if n % divisor == 0 {
            return false;
        }
        divisor += 1;
    }
    true
}
