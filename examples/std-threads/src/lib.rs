//! Threads as any Rust program writes them: `std::thread`, `std::thread::scope` and rayon's
//! default pool, with nothing wbspawn-specific but the one line that links the runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use rayon::prelude::*;
use wasm_bindgen::prelude::*;
// Links the runtime that starts std's threads on Web Workers.
use wbspawn as _;

/// What `std::thread::available_parallelism` says (the browser's `hardwareConcurrency`).
#[wasm_bindgen]
pub fn parallelism() -> u32 {
    thread::available_parallelism().map_or(0, |n| n.get() as u32)
}

/// `n` threads, each returning its square, joined in order.
#[wasm_bindgen]
pub fn squares(n: u32) -> Vec<u32> {
    let handles: Vec<_> = (0..n).map(|i| thread::spawn(move || i * i)).collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Named threads report their names and distinct ids through `thread::current()`.
#[wasm_bindgen]
pub fn named(n: u32) -> Vec<String> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(|| {
                    let me = thread::current();
                    me.name().unwrap_or("?").to_string()
                })
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Sums `0..n` in scoped threads that borrow the vector.
#[wasm_bindgen]
pub fn scoped_sum(n: u32) -> f64 {
    let numbers: Vec<u64> = (0..u64::from(n)).collect();
    let total = AtomicU64::new(0);
    thread::scope(|s| {
        for chunk in numbers.chunks(numbers.len().div_ceil(4).max(1)) {
            let total = &total;
            s.spawn(move || total.fetch_add(chunk.iter().sum(), Ordering::Relaxed));
        }
    });
    total.into_inner() as f64
}

/// Producer and consumer threads over a channel.
#[wasm_bindgen]
pub fn channel(n: u32) -> u32 {
    let (tx, rx) = mpsc::channel();
    let producer = thread::spawn(move || (0..n).for_each(|i| tx.send(i).unwrap()));
    let consumer = thread::spawn(move || rx.iter().sum::<u32>());
    producer.join().unwrap();
    consumer.join().unwrap()
}

/// rayon's global pool, sized by `available_parallelism`: a parallel sum of squares.
#[wasm_bindgen]
pub fn rayon_sum_of_squares(n: u32) -> f64 {
    (0..u64::from(n))
        .into_par_iter()
        .map(|x| x * x)
        .sum::<u64>() as f64
}

/// rayon's `par_sort_unstable` on `n` numbers in descending order; true if sorted after.
#[wasm_bindgen]
pub fn rayon_sort(n: u32) -> bool {
    let mut numbers: Vec<u32> = (0..n).rev().collect();
    numbers.par_sort_unstable();
    numbers.windows(2).all(|w| w[0] <= w[1])
}

/// Threads in rayon's global pool.
#[wasm_bindgen]
pub fn rayon_threads() -> u32 {
    rayon::current_num_threads() as u32
}
