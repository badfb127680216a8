//! Threads that die, and what must stay sound after: stacks other threads still borrow, locks
//! the dead thread held, waits on threads that never start, and a storm of deaths in a rayon
//! workload.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use wasm_bindgen::prelude::*;

use crate::{payload_text, MARKER};

/// Traps: the instance ends with no panic and no unwinding, in either panic mode.
fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort()
}

// --- waiting on threads ------------------------------------------------------------------------

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between polls (an executor with no event loop, as a
/// thread that blocks has none).
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        thread::park();
    }
}

/// A spawned thread blocks on `join_async` of a thread it spawned: the value, which needs the
/// waker woken from the other thread's end (the spawned thread has no event loop to run).
#[wasm_bindgen]
pub fn join_async_in_thread() -> u32 {
    thread::spawn(|| {
        let inner = wbspawn::spawn(|| {
            thread::sleep(Duration::from_millis(20));
            5
        });
        block_on(inner.join_async()).unwrap_or(0)
    })
    .join()
    .unwrap_or(0)
}

/// A thread that sends on a channel, whose worker cannot start: what `recv` says.
#[wasm_bindgen]
pub fn recv_from_a_thread_that_never_starts() -> String {
    let (tx, rx) = mpsc::channel::<u32>();
    if let Err(error) = thread::Builder::new().spawn(move || tx.send(1)) {
        return format!("spawn failed: {error}");
    }
    format!("{:?}", rx.recv())
}

/// A thread-local whose destructor spawns a thread and joins it, as natively allowed: what the
/// spawned thread returned (0 if spawning failed).
#[wasm_bindgen]
pub fn spawn_in_a_thread_local_destructor(api: &str) -> u32 {
    struct SpawnsOnDrop(bool);
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            let value = if self.0 {
                thread::spawn(|| 42).join().unwrap_or(0)
            } else {
                wbspawn::spawn(|| 42).join().unwrap_or(0)
            };
            SPAWNED_ON_DROP.store(value, Ordering::SeqCst);
        }
    }
    thread_local! {
        static GUARD: Cell<Option<SpawnsOnDrop>> = const { Cell::new(None) };
    }
    static SPAWNED_ON_DROP: AtomicU32 = AtomicU32::new(0);
    SPAWNED_ON_DROP.store(0, Ordering::SeqCst);
    let std_api = api == "std";
    let outcome =
        thread::spawn(move || GUARD.with(|guard| guard.set(Some(SpawnsOnDrop(std_api))))).join();
    match outcome {
        Ok(()) => SPAWNED_ON_DROP.load(Ordering::SeqCst),
        Err(_) => 0,
    }
}

// --- what start-up leaves --------------------------------------------------------------------

static PARALLELISM_AT_START: AtomicU32 = AtomicU32::new(0);

/// Called by the lab's start: what std says before the runtime has started.
pub(crate) fn note_parallelism_at_start() {
    let n = thread::available_parallelism().map_or(0, |n| n.get() as u32);
    PARALLELISM_AT_START.store(n, Ordering::SeqCst);
}

/// `std::thread::available_parallelism()` as the lab's `#[wasm_bindgen(start)]` saw it.
#[wasm_bindgen]
pub fn parallelism_at_start() -> u32 {
    PARALLELISM_AT_START.load(Ordering::SeqCst)
}

/// A scope in `#[wasm_bindgen(start)]`, before the runtime can start any thread: it must fail
/// at once with the runtime's message, not wait forever.
pub(crate) fn scope_in_start(api: &str) {
    if api == "std" {
        thread::scope(|s| {
            s.spawn(|| 1);
        });
    } else {
        wbspawn::scope(|s| {
            s.spawn(|| 1);
        });
    }
}

// --- panic hooks -------------------------------------------------------------------------------

/// Replaces every panic hook with one that does nothing and calls no other, as an app's own
/// hook (console_error_panic_hook) does.
#[wasm_bindgen]
pub fn replace_panic_hook() {
    std::panic::set_hook(Box::new(|_| {}));
}

// --- memory ------------------------------------------------------------------------------------

/// `count` threads with `mib` MiB stacks each, alive at once: per spawn, "ok" or the error;
/// then every thread that started is let go and joined.
#[wasm_bindgen]
pub fn big_stacks(api: &str, count: u32, mib: u32) -> Vec<String> {
    static RELEASE: AtomicBool = AtomicBool::new(false);
    RELEASE.store(false, Ordering::SeqCst);
    let wait = || {
        while !RELEASE.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(2));
        }
    };
    let size = (mib as usize) << 20;
    let mut said = Vec::new();
    let mut std_handles = Vec::new();
    let mut wb_handles = Vec::new();
    for _ in 0..count {
        if api == "std" {
            match thread::Builder::new().stack_size(size).spawn(wait) {
                Ok(handle) => {
                    std_handles.push(handle);
                    said.push("ok".to_string());
                }
                Err(error) => said.push(format!("Err: {error}")),
            }
        } else {
            match wbspawn::Builder::new().stack_size(size).spawn(wait) {
                Ok(handle) => {
                    wb_handles.push(handle);
                    said.push("ok".to_string());
                }
                Err(error) => said.push(format!("Err: {error}")),
            }
        }
    }
    RELEASE.store(true, Ordering::SeqCst);
    for handle in std_handles {
        if let Err(payload) = handle.join() {
            said.push(format!("join: {}", payload_text(&*payload)));
        }
    }
    for handle in wb_handles {
        if let Err(error) = handle.join() {
            said.push(format!("join: {error}"));
        }
    }
    said
}

// --- dead threads and their locks -------------------------------------------------------------

/// A thread that dies holding the worker pool's lock ("pool") or std's allocator lock
/// ("allocator"): nothing could go on, so the app must end with a message.
#[wasm_bindgen]
pub fn die_holding(lock: &str) {
    let allocator = lock == "allocator";
    thread::spawn(move || {
        // The hook only marks the allocator's lock as held, and any allocation elsewhere
        // unmarks it: first let the page's call, which allocates its answer, be over.
        thread::sleep(Duration::from_millis(100));
        #[cfg(target_arch = "wasm32")]
        if allocator {
            wbspawn::testing::die_holding_the_allocator();
        } else {
            wbspawn::testing::die_holding_the_pool_lock();
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = allocator;
    });
}

/// Whether the patched std marks the allocator's holder: another thread allocates without
/// pause while this one looks, for up to two seconds.
#[wasm_bindgen]
pub fn allocator_holder_seen() -> bool {
    static DONE: AtomicBool = AtomicBool::new(false);
    DONE.store(false, Ordering::SeqCst);
    let allocating = thread::spawn(|| {
        while !DONE.load(Ordering::Relaxed) {
            let block = std::hint::black_box(vec![1u8; 4096]);
            drop(block);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        seen = allocator_owner() != 0;
    }
    DONE.store(true, Ordering::SeqCst);
    let _ = allocating.join();
    seen
}

#[cfg(target_arch = "wasm32")]
fn allocator_owner() -> usize {
    wbspawn::testing::allocator_owner()
}

#[cfg(not(target_arch = "wasm32"))]
fn allocator_owner() -> usize {
    0
}

// --- a worker the browser ends ----------------------------------------------------------------

static DOOMED: Mutex<Option<thread::JoinHandle<()>>> = Mutex::new(None);

/// Starts a thread that waits forever: the page's id for its worker, which the test then
/// ends as a browser killing it would.
#[wasm_bindgen]
pub fn doomed_worker_start() -> u32 {
    static WORKER: AtomicU32 = AtomicU32::new(0);
    WORKER.store(0, Ordering::SeqCst);
    let handle = thread::spawn(|| {
        #[cfg(target_arch = "wasm32")]
        WORKER.store(wbspawn::testing::worker_id(), Ordering::SeqCst);
        loop {
            thread::park();
        }
    });
    *DOOMED.lock().unwrap() = Some(handle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while WORKER.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    WORKER.load(Ordering::SeqCst)
}

/// Joins the thread of `doomed_worker_start`: what its join says.
#[wasm_bindgen]
pub fn doomed_worker_join() -> String {
    match DOOMED.lock().unwrap().take() {
        Some(handle) => match handle.join() {
            Ok(()) => "Ok".to_string(),
            Err(payload) => format!("Err: {}", payload_text(&*payload)),
        },
        None => "no thread".to_string(),
    }
}

// --- dead lenders ------------------------------------------------------------------------------

static LENDER_STOP: AtomicBool = AtomicBool::new(false);
static WRITERS: AtomicU32 = AtomicU32::new(0);

/// Writes the marker into `words` until told to stop, as a thread working on borrowed memory.
fn write_markers(words: &mut [u32]) {
    WRITERS.fetch_add(1, Ordering::SeqCst);
    while !LENDER_STOP.load(Ordering::Relaxed) {
        for word in words.iter_mut() {
            // SAFETY: a plain write to memory this thread borrows; volatile so that it happens.
            unsafe { std::ptr::write_volatile(word, MARKER) };
        }
        thread::sleep(Duration::from_millis(1));
    }
    WRITERS.fetch_sub(1, Ordering::SeqCst);
}

/// A thread lends an array on its stack to another thread, which writes into it, and dies
/// (traps) while it does: the other half of a `rayon::join` that a second worker stole
/// ("rayon"), or a thread of a `crossbeam_utils::thread::scope` ("crossbeam"). Nothing tells
/// the runtime about either borrow. Returns once the writer is writing.
#[wasm_bindgen]
pub fn dead_lender_start(kind: &str) {
    static POOL: OnceLock<Mutex<Option<rayon::ThreadPool>>> = OnceLock::new();
    LENDER_STOP.store(false, Ordering::SeqCst);
    let before = WRITERS.load(Ordering::SeqCst);
    if kind == "rayon" {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a rayon pool of two");
        pool.spawn(|| {
            let mut lent = [0u32; 8192];
            let lent = &mut lent;
            rayon::join(
                || {
                    // Dies only once the other half was stolen and is writing.
                    while WRITERS.load(Ordering::SeqCst) == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                    thread::sleep(Duration::from_millis(10));
                    trap()
                },
                || write_markers(lent),
            );
        });
        // Kept: dropping it would only tell its one live worker to end.
        *POOL.get_or_init(|| Mutex::new(None)).lock().unwrap() = Some(pool);
    } else {
        thread::spawn(|| {
            let mut lent = [0u32; 8192];
            let lent = &mut lent;
            let _ = crossbeam_utils::thread::scope(|s| {
                s.spawn(|_| write_markers(lent));
                while WRITERS.load(Ordering::SeqCst) == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
                thread::sleep(Duration::from_millis(10));
                trap()
            });
        });
    }
    while WRITERS.load(Ordering::SeqCst) == before {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Stops the writers of `dead_lender_start` and waits until they have.
#[wasm_bindgen]
pub fn dead_lender_stop() {
    LENDER_STOP.store(true, Ordering::SeqCst);
    while WRITERS.load(Ordering::SeqCst) != 0 {
        thread::sleep(Duration::from_millis(1));
    }
}

/// `[dead, leakedKiB]` of the pool's stats.
#[wasm_bindgen]
pub fn deaths() -> Vec<u32> {
    let stats = wbspawn::pool_stats();
    vec![stats.dead as u32, (stats.leaked_bytes >> 10) as u32]
}

// --- the storm ---------------------------------------------------------------------------------

/// A small xorshift: the storm's choices, the same for the same seed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(sides)) as u32
    }
}

/// How a storm thread ends early.
#[derive(Clone, Copy)]
enum Death {
    Panic,
    Overflow,
    Trap,
}

/// Recurses until the stack is gone, allocating nothing (an overflow inside the allocator
/// would hold its lock: a death that ends the app, on purpose, and not the storm's to test).
#[inline(never)]
#[allow(unconditional_recursion)] // it ends by overflowing, on purpose
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    frame[0].wrapping_add(recurse(depth + 1))
}

fn die(death: Death) {
    match death {
        Death::Panic => panic!("storm"),
        Death::Overflow => {
            std::hint::black_box(recurse(0));
        }
        Death::Trap => trap(),
    }
}

static STORM_WRITERS: AtomicU32 = AtomicU32::new(0);

/// Writes the marker into `lent` until `stop` is set and 20 ms after, as a thread still
/// working on memory a dead thread lent it.
fn write_lent(lent: &mut [u32], stop: &AtomicBool) {
    STORM_WRITERS.fetch_add(1, Ordering::SeqCst);
    let mut after: Option<Instant> = None;
    while after.is_none_or(|since| since.elapsed() < Duration::from_millis(20)) {
        if after.is_none() && stop.load(Ordering::SeqCst) {
            after = Some(Instant::now());
        }
        for word in lent.iter_mut() {
            // SAFETY: a plain write to memory this thread borrows; volatile so that it happens.
            unsafe { std::ptr::write_volatile(word, MARKER) };
        }
        thread::yield_now();
    }
    STORM_WRITERS.fetch_sub(1, Ordering::SeqCst);
}

/// Where a storm thread dies.
#[derive(Clone, Copy)]
enum Site {
    /// In a `rayon::join` whose other half a second worker stole and runs on lent memory.
    Join,
    /// In a `rayon::scope`, while its jobs run.
    RayonScope,
    /// Owning a `thread::scope` whose thread runs on lent memory.
    StdScope,
    /// Right after a channel send.
    Send,
    /// Holding freshly allocated memory.
    Allocation,
}

/// The storm's victim: dies at `site`, never returns.
fn storm_workload(site: Site, death: Death) {
    let mut lent = [0u32; 1024];
    let stop = AtomicBool::new(false);
    let lent = &mut lent;
    match site {
        Site::Join => {
            rayon::join(
                || {
                    thread::sleep(Duration::from_millis(1));
                    stop.store(true, Ordering::SeqCst);
                    die(death)
                },
                || write_lent(lent, &stop),
            );
        }
        Site::RayonScope => rayon::scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    let v: Vec<u64> = (0..1000).collect();
                    std::hint::black_box(v.iter().sum::<u64>());
                });
            }
            die(death);
        }),
        Site::StdScope => thread::scope(|s| {
            s.spawn(|| write_lent(lent, &stop));
            thread::sleep(Duration::from_millis(1));
            stop.store(true, Ordering::SeqCst);
            die(death);
        }),
        Site::Send => {
            let (tx, rx) = mpsc::channel();
            let _ = tx.send(vec![MARKER; 256]);
            die(death);
            drop(rx);
        }
        Site::Allocation => {
            let held = vec![MARKER; 64 << 10];
            std::hint::black_box(&held);
            die(death);
        }
    }
}

/// Runs one storm round at `site` and waits until its victim died or unwound; false if it did
/// neither within 10 s.
fn storm_round(site: Site, death: Death) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    if matches!(site, Site::Join | Site::RayonScope) {
        // A rayon pool of two of its own: a dead job keeps its pool from ever ending (rayon
        // waits for the job), so each round's survivor stays parked; the global pool is left
        // whole.
        let Ok(pool) = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            // A panic that unwinds out of a spawned job ends the job, not the app.
            .panic_handler(|_| {})
            .build()
        else {
            return false;
        };
        let dead_before = wbspawn::pool_stats().dead;
        let (unwound, ended) = mpsc::channel::<()>();
        pool.spawn(move || {
            let _unwound = unwound;
            storm_workload(site, death);
        });
        // An unwinding panic drops the sender; a death keeps it with the dead thread, and
        // the pool's count of deaths says so.
        loop {
            match ended.recv_timeout(Duration::from_millis(2)) {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if wbspawn::pool_stats().dead > dead_before {
                        return true;
                    }
                    if Instant::now() > deadline {
                        return false;
                    }
                }
                _ => return true,
            }
        }
    }
    let victim = thread::Builder::new().spawn(move || storm_workload(site, death));
    victim.is_ok_and(|victim| victim.join().is_err())
}

/// Hundreds of deaths in one page: per round, a thread dies at a random site (inside a
/// `rayon::join` whose other half was stolen, a `rayon::scope`, a `thread::scope`, after a
/// channel send, holding an allocation) by a random death (panic, stack overflow, trap).
/// Right after each death, fresh memory is filled with a canary pattern that must stay intact
/// while whatever borrowed from the dead thread finishes.
/// `[rounds whose thread died or unwound, canary words overwritten]`.
#[wasm_bindgen]
pub fn crash_storm(rounds: u32, seed: u32) -> Vec<u32> {
    const CANARY: u32 = 0xC0DE_CAFE;
    const SITES: [Site; 5] = [
        Site::Join,
        Site::RayonScope,
        Site::StdScope,
        Site::Send,
        Site::Allocation,
    ];
    let mut dice = Dice(u64::from(seed) | 1 << 32);
    let mut died = 0;
    let mut overwritten = 0;
    for _ in 0..rounds {
        let site = SITES[dice.roll(SITES.len() as u32) as usize];
        let death = [Death::Panic, Death::Overflow, Death::Trap][dice.roll(3) as usize];
        if !storm_round(site, death) {
            break;
        }
        died += 1;
        let canary: Vec<Vec<u32>> = (0..8).map(|_| vec![CANARY; (256 << 10) / 4]).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while STORM_WRITERS.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        overwritten += canary
            .iter()
            .map(|block| block.iter().filter(|&&w| w != CANARY).count() as u32)
            .sum::<u32>();
    }
    vec![died, overwritten]
}
