//! wbspawn's demo app. Each export shows one thing threads can do; the page (`main.js`) runs
//! them in turn, checks the answers and reports `done(...)`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use wasm_bindgen::prelude::*;

/// Threads the browser says can run at once.
#[wasm_bindgen]
pub fn parallelism() -> u32 {
    wbspawn::available_parallelism().map_or(1, |n| n.get() as u32)
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    (2..)
        .take_while(|d| d * d <= n)
        .all(|d| !n.is_multiple_of(d))
}

/// Splits `[0, limit)` into one range per thread; returns each thread's count of primes.
#[wasm_bindgen]
pub fn count_primes(threads: u32, limit: u32) -> Vec<u32> {
    let threads = threads.max(1);
    let chunk = limit.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (start, end) = (i * chunk, ((i + 1) * chunk).min(limit));
            wbspawn::spawn(move || (start..end).filter(|&n| is_prime(n)).count() as u32)
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("prime counter panicked"))
        .collect()
}

/// Spawns `n` threads at once; thread `i` returns `i * i`.
#[wasm_bindgen]
pub fn spawn_join(n: u32) -> Vec<u32> {
    let handles: Vec<_> = (0..n).map(|i| wbspawn::spawn(move || i * i)).collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread panicked"))
        .collect()
}

/// Each thread spawns the next, `depth` deep; returns the depth the innermost one saw.
#[wasm_bindgen]
pub fn nested(depth: u32) -> u32 {
    fn level(current: u32, depth: u32) -> u32 {
        if current == depth {
            return current;
        }
        wbspawn::spawn(move || level(current + 1, depth))
            .join()
            .expect("nested thread panicked")
    }
    level(0, depth)
}

/// A thread spawned by a thread (that main spawned) spawns threads of its own and joins them,
/// while its parent is still running.
#[wasm_bindgen]
pub fn spawn_from_grandchild(n: u32) -> u32 {
    wbspawn::spawn(move || {
        wbspawn::spawn(move || {
            let handles: Vec<_> = (1..=n).map(|i| wbspawn::spawn(move || i)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .sum::<u32>()
        })
        .join()
        .unwrap_or(0)
    })
    .join()
    .unwrap_or(0)
}

/// A three-stage pipeline over channels: a producer sends `0..n`, a middle thread doubles, a
/// consumer collects. Returns what the consumer received, in order of arrival.
#[wasm_bindgen]
pub fn pipeline(n: u32) -> Vec<u32> {
    let (tx, rx) = mpsc::channel::<u32>();
    let (tx2, rx2) = mpsc::sync_channel::<u32>(4);
    let producer = wbspawn::spawn(move || {
        for i in 0..n {
            tx.send(i).expect("middle stage hung up");
        }
    });
    let middle = wbspawn::spawn(move || {
        for i in rx {
            tx2.send(i * 2).expect("consumer hung up");
        }
    });
    let consumer = wbspawn::spawn(move || rx2.iter().collect::<Vec<u32>>());
    producer.join().expect("producer panicked");
    middle.join().expect("middle stage panicked");
    consumer.join().expect("consumer panicked")
}

/// `threads` threads each add 1 to a shared `Mutex` counter `per_thread` times.
#[wasm_bindgen]
pub fn mutex_counter(threads: u32, per_thread: u32) -> u32 {
    let counter = Arc::new(Mutex::new(0u32));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let counter = Arc::clone(&counter);
            wbspawn::spawn(move || {
                for _ in 0..per_thread {
                    *counter.lock().expect("counter poisoned") += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("counter thread panicked");
    }
    let total = *counter.lock().expect("counter poisoned");
    total
}

/// Two threads hand a token back and forth `rounds` times through a `Mutex` + `Condvar`.
/// Returns the number of hand-offs the second thread saw.
#[wasm_bindgen]
pub fn condvar_handoff(rounds: u32) -> u32 {
    // The token is the round number; even rounds belong to thread A, odd ones to thread B.
    let shared = Arc::new((Mutex::new(0u32), Condvar::new()));
    let seen_by_b = Arc::new(AtomicU32::new(0));
    let player = |parity: u32, seen: Option<Arc<AtomicU32>>| {
        let shared = Arc::clone(&shared);
        wbspawn::spawn(move || {
            let (lock, cv) = &*shared;
            loop {
                let mut turn = lock.lock().expect("poisoned");
                while *turn < 2 * rounds && *turn % 2 != parity {
                    turn = cv.wait(turn).expect("poisoned");
                }
                if *turn >= 2 * rounds {
                    return;
                }
                *turn += 1;
                if let Some(seen) = &seen {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
                cv.notify_all();
            }
        })
    };
    let a = player(0, None);
    let b = player(1, Some(Arc::clone(&seen_by_b)));
    a.join().expect("player A panicked");
    b.join().expect("player B panicked");
    seen_by_b.load(Ordering::Relaxed)
}

/// A thread panics on purpose; returns the message `join` reported.
#[wasm_bindgen]
pub fn caught_panic() -> String {
    let handle = wbspawn::Builder::new()
        .name("doomed".to_string())
        .spawn(|| -> u32 { panic!("deliberate panic number {}", 42) })
        .expect("spawn failed");
    match handle.join() {
        Ok(value) => format!("no panic (got {value})"),
        Err(error) => error.message().to_string(),
    }
}

/// `n` spawn+join pairs one after another; returns the sum of what the threads returned.
#[wasm_bindgen]
pub fn sequential(n: u32) -> u32 {
    (0..n)
        .map(|i| {
            wbspawn::spawn(move || i % 7)
                .join()
                .expect("thread panicked")
        })
        .sum()
}

/// The names threads see through `wbspawn::current()`.
#[wasm_bindgen]
pub fn thread_names(n: u32) -> Vec<String> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            wbspawn::Builder::new()
                .name(format!("named-{i}"))
                .spawn(|| wbspawn::current().name().unwrap_or("").to_string())
                .expect("spawn failed")
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect()
}

/// Panics on the app's own thread: the page's `call` rejects with this message.
#[wasm_bindgen]
pub fn panic_in_app() {
    panic!("the app itself panicked");
}

/// Bytes of wasm memory right now (it only grows).
#[wasm_bindgen]
pub fn memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    let pages = core::arch::wasm32::memory_size(0);
    #[cfg(not(target_arch = "wasm32"))]
    let pages = 0;
    (pages * 65536) as f64
}

/// Pool workers alive now (booting, running or parked).
#[wasm_bindgen]
pub fn live_workers() -> u32 {
    wbspawn::pool_stats().live as u32
}

/// Ids of `n` threads spawned one after another (on reused workers): all distinct.
#[wasm_bindgen]
pub fn sequential_thread_ids(n: u32) -> Vec<f64> {
    (0..n)
        .map(|_| {
            wbspawn::spawn(|| wbspawn::current().id().as_u64().get() as f64)
                .join()
                .expect("thread panicked")
        })
        .collect()
}

/// Sums `0..n` with scoped threads that borrow a local vector, one per quarter.
#[wasm_bindgen]
pub fn scoped_sum(n: u32) -> f64 {
    let numbers: Vec<u64> = (0..u64::from(n)).collect();
    let quarter = numbers.len().div_ceil(4).max(1);
    wbspawn::scope(|s| {
        let handles: Vec<_> = numbers
            .chunks(quarter)
            .map(|chunk| s.spawn(move || chunk.iter().sum::<u64>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scoped thread panicked"))
            .sum::<u64>() as f64
    })
}

static GATE: Mutex<bool> = Mutex::new(false);
static GATE_OPENED: Condvar = Condvar::new();

/// Spawns a thread that waits for `open_gate()` and awaits it with `join_async`: the app's
/// worker stays free meanwhile, so the page's call to `open_gate` gets through.
#[wasm_bindgen]
pub async fn await_gated_thread() -> u32 {
    *GATE.lock().expect("gate poisoned") = false;
    let gated = wbspawn::spawn(|| {
        let mut open = GATE.lock().expect("gate poisoned");
        while !*open {
            open = GATE_OPENED.wait(open).expect("gate poisoned");
        }
        7
    });
    gated.join_async().await.unwrap_or(0)
}

/// Opens the gate `await_gated_thread` waits on.
#[wasm_bindgen]
pub fn open_gate() {
    *GATE.lock().expect("gate poisoned") = true;
    GATE_OPENED.notify_all();
}

/// "unwind" or "abort": how this build handles panics.
#[wasm_bindgen]
pub fn panic_strategy() -> String {
    if cfg!(panic = "unwind") {
        "unwind"
    } else {
        "abort"
    }
    .to_string()
}

/// What a thread that panics while holding a lock leaves behind, in an unwinding build:
/// `[join's message, the payload, "poisoned" if the lock was released poisoned]`.
/// (When panics abort, the lock would stay locked forever: this refuses to try.)
#[wasm_bindgen]
pub fn panic_aftermath() -> Result<Vec<String>, JsValue> {
    if !cfg!(panic = "unwind") {
        return Err(JsValue::from_str(
            "built with panic=abort: a lock held by a panicking thread stays locked",
        ));
    }
    let shared = Arc::new(Mutex::new(0u32));
    let held = Arc::clone(&shared);
    let error = wbspawn::spawn(move || {
        let _guard = held.lock().expect("fresh lock");
        std::panic::panic_any(String::from("payload 7"));
    })
    .join()
    .err()
    .ok_or_else(|| JsValue::from_str("the thread did not panic"))?;
    let message = error.message().to_string();
    let payload = error
        .into_payload()
        .and_then(|payload| payload.downcast::<String>().ok())
        .map_or_else(|| "no payload".to_string(), |payload| *payload);
    let lock = if shared.lock().is_err() {
        "poisoned"
    } else {
        "not poisoned"
    };
    Ok(vec![message, payload, lock.to_string()])
}
