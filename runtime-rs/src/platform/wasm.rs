//! The browser: the dispatcher's signal word, `Atomics.waitAsync`, the console, and resetting
//! a worker's thread-local storage between threads.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use wasm_bindgen::prelude::*;

use super::LIVE_WAITERS;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(message: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

#[wasm_bindgen(module = "/src/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = waitAsync)]
    fn wait_async_js(memory: &JsValue, address: u32, expected: i32, wake: &JsValue);
    /// The page's monotonic clock, the same in every worker: ms since the Unix epoch.
    #[wasm_bindgen(js_name = monotonicMs)]
    pub(crate) fn monotonic_ms() -> f64;
    /// The wall clock (`Date.now()`).
    #[wasm_bindgen(js_name = wallMs)]
    pub(crate) fn wall_ms() -> f64;
    /// The program's arguments as the app worker got them, before the runtime is configured.
    #[wasm_bindgen(js_name = startArgs)]
    pub(crate) fn start_args() -> Option<Vec<String>>;
    /// `navigator.hardwareConcurrency`, 0 where the browser does not say.
    #[wasm_bindgen(js_name = hardwareConcurrency)]
    pub(crate) fn hardware_concurrency() -> u32;
    #[wasm_bindgen(js_name = onPage)]
    fn on_page_js() -> bool;
    /// Tells the console that the page's main thread waited `ms` (or, `still`, has been
    /// waiting that long), naming the call site (by `module`'s names where the stack has none).
    #[wasm_bindgen(js_name = warnPageWait)]
    fn warn_page_wait_js(module: &JsValue, ms: f64, still: bool);
}

extern "C" {
    /// The linker's: copies the thread-local initialization image to `base` and makes `base`
    /// this instance's thread-local block.
    fn __wasm_init_tls(base: *mut u8);
}

/// Bumped for every batch of boot requests; the dispatcher `Atomics.waitAsync`s on it.
static DISPATCH_SIGNAL: AtomicI32 = AtomicI32::new(0);
static DISPATCHER_STARTED: AtomicBool = AtomicBool::new(false);

pub(crate) fn wake_dispatcher() {
    DISPATCH_SIGNAL.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the pointer is a live, aligned static in the shared memory.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(DISPATCH_SIGNAL.as_ptr(), u32::MAX);
    }
}

/// Marks the dispatcher as running; the byte address of the signal word it waits on.
pub(crate) fn dispatcher_started() -> u32 {
    DISPATCHER_STARTED.store(true, Ordering::Release);
    DISPATCH_SIGNAL.as_ptr() as usize as u32
}

pub(crate) fn dispatcher_running() -> bool {
    DISPATCHER_STARTED.load(Ordering::Acquire)
}

/// Bumped when lines of output wait for the dispatcher (stdio.rs), which `Atomics.waitAsync`s
/// on it.
static OUTPUT_SIGNAL: AtomicI32 = AtomicI32::new(0);

pub(crate) fn wake_output() {
    OUTPUT_SIGNAL.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the pointer is a live, aligned static in the shared memory.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(OUTPUT_SIGNAL.as_ptr(), u32::MAX);
    }
}

/// The byte address of the output word, for the dispatcher.
pub(crate) fn output_word() -> u32 {
    OUTPUT_SIGNAL.as_ptr() as usize as u32
}

/// Bumped whenever a worker takes a queued job: the dispatcher, deciding whether a busy worker
/// will take a waiting job, waits on it.
static PROGRESS: AtomicI32 = AtomicI32::new(0);

pub(crate) fn note_progress() {
    PROGRESS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the pointer is a live, aligned static in the shared memory.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(PROGRESS.as_ptr(), u32::MAX);
    }
}

/// The byte address of the progress word, for the dispatcher.
pub(crate) fn progress_word() -> u32 {
    PROGRESS.as_ptr() as usize as u32
}

pub(crate) fn notify_word(word: &AtomicU32) {
    // SAFETY: the pointer is a live, aligned word in the shared memory.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(word.as_ptr().cast::<i32>(), u32::MAX);
    }
}

const UNKNOWN: u8 = 0;
const WORKER: u8 = 1;
const PAGE: u8 = 2;

std::thread_local! {
    // Per instance: where it runs, asked of JS once (`reset_thread_locals` keeps the answer:
    // only workers reset, and a worker's idle wait after each thread must not ask again).
    static WHERE: std::cell::Cell<u8> = const { std::cell::Cell::new(UNKNOWN) };
}

/// Whether this instance runs on the page's main thread (where waits may not block).
pub(crate) fn on_page() -> bool {
    WHERE.with(|place| {
        if place.get() == UNKNOWN {
            place.set(if on_page_js() { PAGE } else { WORKER });
        }
        place.get() == PAGE
    })
}

/// Says on the console that the page's main thread waited `ms` (`still`: and waits on).
pub(crate) fn warn_page_wait(ms: f64, still: bool) {
    warn_page_wait_js(&wasm_bindgen::module(), ms, still);
}

pub(crate) fn warn(message: &str) {
    console_warn(message);
}

pub(crate) fn error(message: &str) {
    console_error(message);
}

/// Gives this instance fresh thread-locals: every `thread_local!` back to its initial state,
/// as a new native thread would see them. Only between threads, when nothing borrows one;
/// values that needed dropping were dropped by std's thread exit before.
pub(crate) fn reset_thread_locals() {
    let base = tls_base() as *mut u8;
    // SAFETY: the block is this instance's own, of the image's size; see above for when.
    unsafe { __wasm_init_tls(base) }
    // Only a worker resets its thread-locals between threads: it need not ask where it is.
    WHERE.with(|place| place.set(WORKER));
}

/// Reads one of the linker's i32 globals (`$attrs`: how the module declares it).
macro_rules! linker_global {
    ($name:literal $(, $attrs:literal)?) => {{
        let value: u32;
        // SAFETY: reads a global; nothing else.
        unsafe {
            core::arch::asm!(
                concat!(".globaltype ", $name, ", i32" $(, ", ", $attrs)?),
                concat!("global.get ", $name),
                "local.set {}",
                out(local) value,
                options(nostack, readonly, preserves_flags),
            );
        }
        value
    }};
}

/// The address of this instance's thread-local block (the linker's `__tls_base` global): one
/// per instance, so it names the instance.
fn tls_base() -> usize {
    linker_global!("__tls_base") as usize
}

/// The size of an instance's thread-local block (the linker's `__tls_size` global), which
/// wasm-bindgen allocates beside its stack.
pub(crate) fn tls_size() -> u32 {
    linker_global!("__tls_size", "immutable")
}

/// Which instance holds the lock of std's allocator: its `tls_base`, or 0. The patched std
/// writes it whenever it takes or gives up the lock (and nothing else does: with an
/// unpatched std, or an allocator of the app's own, it stays 0).
#[no_mangle]
pub static __wbspawn_v2_alloc_owner: AtomicUsize = AtomicUsize::new(0);

/// Whether this instance holds std's allocator lock: if it died so, no allocation anywhere
/// can ever finish again.
pub(crate) fn holds_allocator() -> bool {
    __wbspawn_v2_alloc_owner.load(Ordering::Relaxed) == tls_base()
}

/// The allocator lock's holder right now (tests).
pub(crate) fn allocator_owner() -> usize {
    __wbspawn_v2_alloc_owner.load(Ordering::Relaxed)
}

/// Marks this instance as the allocator lock's holder, as the patched std does (tests).
pub(crate) fn mark_allocator_held() {
    __wbspawn_v2_alloc_owner.store(tls_base(), Ordering::Relaxed);
}

/// This instance's stack pointer (the linker's `__stack_pointer` global).
pub(crate) fn stack_pointer() -> u32 {
    linker_global!("__stack_pointer")
}

/// One `Atomics.waitAsync` on a word, whose waker can be replaced and which can be cancelled.
pub(crate) struct Waiter {
    state: Arc<WaiterState>,
    word: *const AtomicU32,
}

struct WaiterState {
    waker: Mutex<Option<Waker>>,
    cancelled: AtomicBool,
}

impl Waiter {
    /// Wakes `waker` once the word at `word` stops being `running`.
    ///
    /// # Safety
    /// `word` stays valid until the waiter is dropped and the wait resolved; the caller keeps
    /// its owner alive in `keep`.
    pub(crate) unsafe fn register(
        word: &AtomicU32,
        running: u32,
        waker: Waker,
        keep: Arc<dyn Send + Sync>,
    ) -> Waiter {
        let state = Arc::new(WaiterState {
            waker: Mutex::new(Some(waker)),
            cancelled: AtomicBool::new(false),
        });
        // Unwind-safe wrappers: an unwinding build's closures must be, and a waker's wake or a
        // drop of `keep` leaves nothing half-changed here if it panics.
        let on_wake = AssertUnwindSafe(Arc::clone(&state));
        let keep = AssertUnwindSafe(keep);
        LIVE_WAITERS.fetch_add(1, Ordering::Relaxed);
        // Runs once, when the word changes or the waiter is cancelled (which notifies the word);
        // then the closure, and `keep` with it, are freed.
        let wake = Closure::once_into_js(move || {
            let (on_wake, keep) = (on_wake, keep);
            drop(keep);
            LIVE_WAITERS.fetch_sub(1, Ordering::Relaxed);
            if !on_wake.cancelled.load(Ordering::Acquire) {
                let waker = on_wake
                    .waker
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        });
        wait_async_js(
            &wasm_bindgen::memory(),
            word.as_ptr() as usize as u32,
            running as i32,
            &wake,
        );
        Waiter {
            state,
            word: std::ptr::from_ref(word),
        }
    }

    /// The task to wake is now this one (a future may move between tasks).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self
            .state
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

// SAFETY: the word is an atomic in shared memory, usable from any thread; the rest is Sync.
unsafe impl Send for Waiter {}
// SAFETY: as above.
unsafe impl Sync for Waiter {}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.state.cancelled.store(true, Ordering::Release);
        // Resolves the pending waitAsync now, so its closure is freed instead of waiting for a
        // thread that may never finish. Only this waiter waits on the word.
        // SAFETY: `register`'s caller keeps the word alive until the closure ran.
        notify_word(unsafe { &*self.word });
    }
}

/// Milliseconds on the page's monotonic clock.
pub(crate) fn now_ms() -> f64 {
    monotonic_ms()
}
