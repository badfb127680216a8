//! The runtime lab: one export per question the browser tests ask about the runtime's
//! behaviour. Most run the same check through `std::thread` and through `wbspawn`'s own API
//! (`api` is "std" or "wbspawn"): one runtime serves both.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::task::{Context, Waker};
use std::thread;
use std::time::Duration;

use wasm_bindgen::prelude::*;

mod deaths;
mod page;
mod std_web;
mod stuck;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn now_ms() -> f64;
}

// --- set-up and state -------------------------------------------------------------------------

static HOOK_CALLS: AtomicU32 = AtomicU32::new(0);

/// Runs once, on the app's instance, before wbspawn's own set-up: a panic hook of the app's,
/// as `console_error_panic_hook` would be. wbspawn's hook must chain to it.
///
/// With `?args=["exit-in-start","7"]` it prints a line and ends the program instead, before
/// start() has finished (env::args() is there already); with `?args=["scope-in-start","std"]`
/// (or "wbspawn") it opens a thread scope, which cannot run before start() has finished.
#[wasm_bindgen(start)]
pub fn install_counting_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    deaths::note_parallelism_at_start();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("scope-in-start") {
        deaths::scope_in_start(args.get(2).map_or("std", String::as_str));
    }
    if args.get(1).map(String::as_str) == Some("exit-in-start") {
        println!("exiting in start");
        std::process::exit(args.get(2).and_then(|code| code.parse().ok()).unwrap_or(1));
    }
}

/// How often the app's own panic hook ran.
#[wasm_bindgen]
pub fn hook_calls() -> u32 {
    HOOK_CALLS.load(Ordering::SeqCst)
}

#[wasm_bindgen]
pub fn std_threads_enabled() -> bool {
    wbspawn::std_threads_enabled()
}

#[wasm_bindgen]
pub fn panic_strategy() -> String {
    if cfg!(panic = "unwind") {
        "unwind"
    } else {
        "abort"
    }
    .to_string()
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

/// `[live, idle, queued]` of the worker pool.
#[wasm_bindgen]
pub fn pool() -> Vec<u32> {
    let stats = wbspawn::pool_stats();
    vec![stats.live as u32, stats.idle as u32, stats.queued as u32]
}

/// Spawns through std or wbspawn, joins, and returns the value or the panic message.
fn run<T: Send + 'static>(
    api: &str,
    name: Option<&str>,
    stack: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match api {
        "std" => {
            let mut builder = thread::Builder::new();
            if let Some(name) = name {
                builder = builder.name(name.to_string());
            }
            if let Some(stack) = stack {
                builder = builder.stack_size(stack);
            }
            let handle = builder.spawn(f).map_err(|e| format!("spawn failed: {e}"))?;
            handle.join().map_err(|payload| payload_text(&*payload))
        }
        _ => {
            let mut builder = wbspawn::Builder::new();
            if let Some(name) = name {
                builder = builder.name(name.to_string());
            }
            if let Some(stack) = stack {
                builder = builder.stack_size(stack);
            }
            let handle = builder.spawn(f).map_err(|e| format!("spawn failed: {e}"))?;
            handle.join().map_err(|error| error.to_string())
        }
    }
}

pub(crate) fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}

// --- std semantics ----------------------------------------------------------------------------

/// `n` threads at once; thread `i` returns `i * i`.
#[wasm_bindgen]
pub fn spawn_join(api: &str, n: u32) -> Vec<u32> {
    if api == "std" {
        let handles: Vec<_> = (0..n).map(|i| thread::spawn(move || i * i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    } else {
        let handles: Vec<_> = (0..n).map(|i| wbspawn::spawn(move || i * i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }
}

/// A three-stage pipeline over channels (std threads): `0..n` doubled, in order.
#[wasm_bindgen]
pub fn pipeline(n: u32) -> Vec<u32> {
    let (tx, rx) = mpsc::channel::<u32>();
    let (tx2, rx2) = mpsc::sync_channel::<u32>(4);
    let producer = thread::spawn(move || (0..n).for_each(|i| tx.send(i).unwrap()));
    let middle = thread::spawn(move || rx.iter().for_each(|i| tx2.send(i * 2).unwrap()));
    let consumer = thread::spawn(move || rx2.iter().collect::<Vec<u32>>());
    producer.join().unwrap();
    middle.join().unwrap();
    consumer.join().unwrap()
}

/// The name and id a named thread sees, through std and through wbspawn, and whether the id
/// matches its handle's: `["name|name", ids equal]`.
#[wasm_bindgen]
pub fn names_and_ids(api: &str) -> Vec<String> {
    let seen = move || {
        let std_name = thread::current().name().map(str::to_string);
        let wb_name = wbspawn::current().name().map(str::to_string);
        let std_id = thread::current().id();
        (std_name, wb_name, std_id, wbspawn::current().id())
    };
    let (std_name, wb_name, std_id, wb_id, handle_std, handle_wb) = if api == "std" {
        let h = thread::Builder::new()
            .name("lab-thread".into())
            .spawn(seen)
            .unwrap();
        let id = h.thread().id();
        let (a, b, c, d) = h.join().unwrap();
        (a, b, c, d, Some(id), None)
    } else {
        let h = wbspawn::Builder::new()
            .name("lab-thread".into())
            .spawn(seen)
            .unwrap();
        let id = h.thread().id();
        let (a, b, c, d) = h.join().unwrap();
        (a, b, c, d, None, Some(id))
    };
    vec![
        format!(
            "{}|{}",
            std_name.unwrap_or_default(),
            wb_name.unwrap_or_default()
        ),
        (handle_std.is_none_or(|id| id == std_id) && handle_wb.is_none_or(|id| id == wb_id))
            .to_string(),
        (std_id != thread::current().id()).to_string(),
        (format!("ThreadId({})", wb_id.as_u64()) == format!("{std_id:?}")).to_string(),
    ]
}

/// Ids of `n` threads spawned one after another (on reused workers): all distinct.
#[wasm_bindgen]
pub fn sequential_ids(api: &str, n: u32) -> u32 {
    let mut ids: Vec<String> = (0..n)
        .map(|_| {
            run(api, None, None, || format!("{:?}", thread::current().id())).unwrap_or_default()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len() as u32
}

/// `[is_finished while it runs, is_finished after it ended]`.
#[wasm_bindgen]
pub fn is_finished(api: &str) -> Vec<String> {
    let (tx, rx) = mpsc::channel::<()>();
    let body = move || rx.recv().unwrap();
    let (running, ended) = if api == "std" {
        let h = thread::spawn(body);
        let running = h.is_finished();
        tx.send(()).unwrap();
        while !h.is_finished() {
            thread::sleep(Duration::from_millis(1));
        }
        (running, h.is_finished())
    } else {
        let h = wbspawn::spawn(body);
        let running = h.is_finished();
        tx.send(()).unwrap();
        while !h.is_finished() {
            thread::sleep(Duration::from_millis(1));
        }
        (running, h.is_finished())
    };
    vec![running.to_string(), ended.to_string()]
}

/// A thread parks until unparked; true once it returned.
#[wasm_bindgen]
pub fn park_unpark() -> bool {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&flag);
    let h = thread::spawn(move || {
        while !seen.load(Ordering::Acquire) {
            thread::park();
        }
        true
    });
    thread::sleep(Duration::from_millis(20));
    flag.store(true, Ordering::Release);
    h.thread().unpark();
    h.join().unwrap()
}

/// Milliseconds a `thread::sleep(ms)` took, in a spawned thread; and `yield_now` returns.
#[wasm_bindgen]
pub fn sleep_ms(ms: u32) -> f64 {
    thread::spawn(move || {
        thread::yield_now();
        let t0 = now_ms();
        thread::sleep(Duration::from_millis(u64::from(ms)));
        now_ms() - t0
    })
    .join()
    .unwrap()
}

/// `[std::thread::available_parallelism, wbspawn::available_parallelism]`.
#[wasm_bindgen]
pub fn parallelism() -> Vec<u32> {
    let std_count = thread::available_parallelism().map_or(0, |n| n.get() as u32);
    let wb_count = wbspawn::available_parallelism().map_or(0, |n| n.get() as u32);
    vec![std_count, wb_count]
}

/// A thread asks for `mib` MiB of stack and uses `mib - 1` MiB of it.
#[wasm_bindgen]
pub fn big_stack(api: &str, mib: u32) -> Result<u32, JsValue> {
    let bytes = (mib as usize) << 20;
    run(api, None, Some(bytes), move || {
        use_stack((mib as usize - 1) << 20)
    })
    .map_err(|e| JsValue::from_str(&e))
}

/// Uses about `bytes` of stack: recursion in 16 KiB frames, each written to.
#[inline(never)]
fn use_stack(bytes: usize) -> u32 {
    const FRAME: usize = 16 << 10;
    let mut block = [0u8; FRAME];
    // Through a reference, so the block is neither optimized away nor copied.
    std::hint::black_box(&mut block);
    block[0] = 1;
    let below = if bytes > FRAME {
        use_stack(bytes - FRAME)
    } else {
        0
    };
    std::hint::black_box(&block);
    below + u32::from(block[0])
}

/// A thread that recurses without end; the message `join` gives.
#[wasm_bindgen]
pub fn overflow(api: &str) -> String {
    run(api, Some("deep"), None, || use_stack(usize::MAX / 2))
        .map_or_else(|e| e, |v| format!("returned {v}"))
}

/// A thread that panics; the message `join` gives.
#[wasm_bindgen]
pub fn panicking_thread(api: &str) -> String {
    run(api, Some("doomed"), None, || -> u32 {
        panic!("deliberate panic {}", 7)
    })
    .map_or_else(|e| e, |v| format!("returned {v}"))
}

/// A thread that panics while the app's panic hook prints nothing (`console_error_panic_hook`
/// prints to the console, not to stderr); the message `join` gives.
#[wasm_bindgen]
pub fn panicking_thread_under_a_silent_hook() -> String {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let said = run("std", Some("hushed"), None, || -> u32 {
        panic!("a panic no hook printed")
    })
    .map_or_else(|e| e, |v| format!("returned {v}"));
    panic::set_hook(previous);
    said
}

/// A thread that traps without a panic; the message `join` gives.
#[wasm_bindgen]
pub fn trap(api: &str) -> String {
    run(api, None, None, || {
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[allow(unreachable_code)]
        0u32
    })
    .map_or_else(|e| e, |v| format!("returned {v}"))
}

// --- thread-locals ----------------------------------------------------------------------------

static DROPS: AtomicU32 = AtomicU32::new(0);

struct Dropper;

impl Drop for Dropper {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

// One of each kind std has: a const one, a lazily initialized one, one with a destructor.
#[allow(clippy::missing_const_for_thread_local)] // lazy on purpose: its state must reset too
mod locals {
    use super::*;
    thread_local! {
        pub static LAZY: RefCell<Vec<u32>> = RefCell::new(Vec::new());
    }
}
use locals::LAZY;

thread_local! {
    static COUNT: Cell<u32> = const { Cell::new(0) };
    static DROPPER: Dropper = const { Dropper };
}

/// `n` threads one after another (so on reused workers) each bump two thread-locals and read
/// them back: 1001 every time if each thread starts with fresh ones.
#[wasm_bindgen]
pub fn fresh_thread_locals(api: &str, n: u32) -> Vec<u32> {
    (0..n)
        .map(|_| {
            run(api, None, None, || {
                COUNT.with(|c| c.set(c.get() + 1));
                LAZY.with(|v| v.borrow_mut().push(1));
                COUNT.with(Cell::get) * 1000 + LAZY.with(|v| v.borrow().len() as u32)
            })
            .unwrap_or(0)
        })
        .collect()
}

/// How many thread-local destructors ran for `n` threads that each touched one.
#[wasm_bindgen]
pub fn thread_local_drops(api: &str, n: u32) -> u32 {
    let before = DROPS.load(Ordering::SeqCst);
    for _ in 0..n {
        run(api, None, None, || DROPPER.with(|_| ())).unwrap();
    }
    DROPS.load(Ordering::SeqCst) - before
}

// --- scopes -----------------------------------------------------------------------------------

/// Sums `0..n` in four scoped threads that borrow the vector.
#[wasm_bindgen]
pub fn scoped_sum(api: &str, n: u32) -> f64 {
    let numbers: Vec<u64> = (0..u64::from(n)).collect();
    let chunk = numbers.len().div_ceil(4).max(1);
    if api == "std" {
        thread::scope(|s| {
            let hs: Vec<_> = numbers
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().sum::<u64>()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>() as f64
        })
    } else {
        wbspawn::scope(|s| {
            let hs: Vec<_> = numbers
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().sum::<u64>()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>() as f64
        })
    }
}

/// A scope whose one thread panics while another takes 100 ms, run in a thread of its own:
/// `[what that thread's join says, whether the slow thread had finished by then]`.
#[wasm_bindgen]
pub fn scope_with_a_panicking_thread(api: &str) -> Vec<String> {
    let slow_done = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&slow_done);
    let scoped = api.to_string();
    let outcome = run(api, Some("scope-owner"), None, move || {
        let slow = || {
            thread::sleep(Duration::from_millis(100));
            seen.store(true, Ordering::SeqCst);
        };
        if scoped == "std" {
            thread::scope(|s| {
                s.spawn(|| panic!("a scoped thread fails"));
                s.spawn(slow);
            });
        } else {
            wbspawn::scope(|s| {
                s.spawn(|| panic!("a scoped thread fails"));
                s.spawn(slow);
            });
        }
    });
    vec![
        outcome.map_or_else(|e| e, |()| "no panic".to_string()),
        slow_done.load(Ordering::SeqCst).to_string(),
    ]
}

/// A scoped thread that catches its own panic: the scope must not panic (unwinding builds).
#[wasm_bindgen]
pub fn scope_with_a_caught_panic(api: &str) -> String {
    let body = || {
        let caught = panic::catch_unwind(|| panic!("caught inside"));
        caught.is_err()
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        if api == "std" {
            thread::scope(|s| s.spawn(body).join().unwrap())
        } else {
            wbspawn::scope(|s| s.spawn(body).join().unwrap())
        }
    }));
    match result {
        Ok(caught) => format!("scope returned, caught={caught}"),
        Err(payload) => format!("scope panicked: {}", payload_text(&*payload)),
    }
}

/// A thread that catches a panic and returns 42 (unwinding builds).
#[wasm_bindgen]
pub fn caught_inside(api: &str) -> String {
    run(api, None, None, || {
        let _ = panic::catch_unwind(|| panic!("caught inside"));
        42u32
    })
    .map_or_else(|e| format!("Err: {e}"), |v| format!("Ok({v})"))
}

/// Catches a panic on the app's own thread, then returns an `Err` to JS.
#[wasm_bindgen]
pub fn caught_on_the_app_then_err() -> Result<(), JsValue> {
    let _ = panic::catch_unwind(|| panic!("caught on the app's thread"));
    Err(JsValue::from_str("an ordinary error"))
}

// --- the dead scope owner (use after free) ----------------------------------------------------

pub(crate) const MARKER: u32 = 0x5EED_F00D;
static STOP: AtomicBool = AtomicBool::new(false);
static OWNER: Mutex<Option<thread::JoinHandle<()>>> = Mutex::new(None);
static WB_OWNER: Mutex<Option<wbspawn::JoinHandle<()>>> = Mutex::new(None);

/// Starts a thread that opens a scope whose thread writes markers into an array on the
/// owner's stack until `dead_owner_stop`, and then panics (aborts) while the scope is open.
#[wasm_bindgen]
pub fn dead_owner_start(api: &str) {
    STOP.store(false, Ordering::SeqCst);
    fn owner(std_scope: bool) {
        let mut stack_array = [0u32; 8192];
        let array = &mut stack_array;
        let write = move || {
            while !STOP.load(Ordering::Relaxed) {
                for word in array.iter_mut() {
                    // Volatile: the writes must really happen while the owner is dead.
                    unsafe { std::ptr::write_volatile(word, MARKER) };
                }
                thread::sleep(Duration::from_millis(1));
            }
        };
        if std_scope {
            thread::scope(|s| {
                s.spawn(write);
                thread::sleep(Duration::from_millis(20));
                panic!("the scope's owner dies");
            });
        } else {
            wbspawn::scope(|s| {
                s.spawn(write);
                thread::sleep(Duration::from_millis(20));
                panic!("the scope's owner dies");
            });
        }
    }
    if api == "std" {
        *OWNER.lock().unwrap() = Some(thread::spawn(|| owner(true)));
    } else {
        *WB_OWNER.lock().unwrap() = Some(wbspawn::spawn(|| owner(false)));
    }
}

/// Whether the owner's death has been reported to its joiner.
#[wasm_bindgen]
pub fn dead_owner_reported() -> bool {
    let std_done = OWNER
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|h| h.is_finished());
    let wb_done = WB_OWNER
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|h| h.is_finished());
    std_done || wb_done
}

/// Allocates 64 MiB of zeroed memory, waits, and counts markers that appear in it: any
/// means a scoped thread writes into memory that was freed and handed out again.
#[wasm_bindgen]
pub fn markers_in_fresh_memory() -> u32 {
    let blocks: Vec<Vec<u32>> = (0..64).map(|_| vec![0u32; (1 << 20) / 4]).collect();
    thread::sleep(Duration::from_millis(30));
    blocks
        .iter()
        .map(|block| block.iter().filter(|&&w| w == MARKER).count() as u32)
        .sum()
}

/// Stops the scoped thread, then joins the owner: what its join says.
#[wasm_bindgen]
pub fn dead_owner_stop() -> String {
    STOP.store(true, Ordering::SeqCst);
    if let Some(h) = OWNER.lock().unwrap().take() {
        return h
            .join()
            .map_or_else(|p| format!("Err: {}", payload_text(&*p)), |()| "Ok".into());
    }
    if let Some(h) = WB_OWNER.lock().unwrap().take() {
        return h
            .join()
            .map_or_else(|e| format!("Err: {e}"), |()| "Ok".into());
    }
    "no owner".to_string()
}

// --- rayon, crossbeam -------------------------------------------------------------------------

/// rayon's global pool with no set-up: `[threads, par_iter, par_sort, join, scope]`.
#[wasm_bindgen]
pub fn rayon_global() -> Vec<String> {
    use rayon::prelude::*;
    let sum: u64 = (0..100_000u64).into_par_iter().map(|x| x * 3).sum();
    let mut numbers: Vec<u32> = (0..200_000).rev().collect();
    numbers.par_sort_unstable();
    let (a, b) = rayon::join(|| 20, || 22);
    let hits = AtomicU32::new(0);
    rayon::scope(|s| {
        for _ in 0..8 {
            s.spawn(|_| {
                hits.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    vec![
        rayon::current_num_threads().to_string(),
        (sum == 3 * 99_999 * 100_000 / 2).to_string(),
        numbers.windows(2).all(|w| w[0] <= w[1]).to_string(),
        (a + b).to_string(),
        hits.into_inner().to_string(),
    ]
}

/// Builds and drops a rayon pool of `size` threads `rounds` times; the most pool workers seen.
#[wasm_bindgen]
pub fn rayon_pool_churn(rounds: u32, size: u32) -> u32 {
    let mut most = 0;
    for _ in 0..rounds {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(size as usize)
            .build()
            .unwrap();
        pool.install(|| rayon::join(|| 1, || 2));
        drop(pool);
        most = most.max(wbspawn::pool_stats().live as u32);
    }
    most
}

/// `crossbeam_utils::thread::scope` with two borrowing threads.
#[wasm_bindgen]
pub fn crossbeam_scope() -> u32 {
    let numbers = [1u32, 2, 3, 4];
    crossbeam_utils::thread::scope(|s| {
        let a = s.spawn(|_| numbers[..2].iter().sum::<u32>());
        let b = s.spawn(|_| numbers[2..].iter().sum::<u32>());
        a.join().unwrap() + b.join().unwrap()
    })
    .unwrap()
}

// --- the pool ---------------------------------------------------------------------------------

/// `n` spawn+join pairs one after another from this thread.
#[wasm_bindgen]
pub fn sequential(api: &str, n: u32) -> u32 {
    (0..n)
        .map(|i| run(api, None, None, move || i % 7).unwrap_or(0))
        .sum()
}

/// `n` spawn+join pairs one after another: `[pool workers alive before, the most alive
/// during]` (a joined thread's worker must be free for the next spawn: no new worker boots).
#[wasm_bindgen]
pub fn sequential_pool_growth(api: &str, n: u32) -> Vec<u32> {
    let before = wbspawn::pool_stats().live as u32;
    let mut most = before;
    for i in 0..n {
        run(api, None, None, move || i).unwrap();
        most = most.max(wbspawn::pool_stats().live as u32);
    }
    vec![before, most]
}

/// `threads` threads that all wait for each other (a barrier): with fewer workers allowed
/// than that, the last ones can never start.
#[wasm_bindgen]
pub fn all_wait_for_each_other(threads: u32) -> u32 {
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().is_ok() as u32).sum()
}

// --- join_async -------------------------------------------------------------------------------

static GATE: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

/// Polls a pending `join_async` future `polls` times (as `select!` does), then drops it:
/// `[waiters while pending, waiters right after the drop]`. The thread is let go after.
#[wasm_bindgen]
pub fn join_async_polls(polls: u32) -> Vec<u32> {
    let (tx, rx) = mpsc::channel::<()>();
    *GATE.lock().unwrap() = Some(tx);
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = wbspawn::spawn(move || {
        let _ = rx.recv();
    })
    .join_async();
    for _ in 0..polls {
        let _ = Pin::new(&mut future).poll(&mut cx);
    }
    let pending = wbspawn::join_async_waiters() as u32;
    drop(future);
    vec![pending, wbspawn::join_async_waiters() as u32]
}

/// Waiters registered right now.
#[wasm_bindgen]
pub fn join_async_waiters() -> u32 {
    wbspawn::join_async_waiters() as u32
}

/// Lets the thread of `join_async_polls` end.
#[wasm_bindgen]
pub fn join_async_release() {
    if let Some(tx) = GATE.lock().unwrap().take() {
        let _ = tx.send(());
    }
}

// --- values the page cannot receive -----------------------------------------------------------

/// Returns a JS function, which cannot cross to the page.
#[wasm_bindgen]
pub fn returns_a_function() -> JsValue {
    Closure::<dyn Fn()>::new(|| {}).into_js_value()
}
