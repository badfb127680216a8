//! The browser side: the exports the runtime's worker scripts call, and the signal word the
//! dispatcher waits on.
//!
//! Boot requests cross to JS as pointers to boxed `BootRequest`s: the dispatcher reads a request's
//! stack size, starts a worker, and the worker hands the pointer back to
//! `__wbspawn_worker_main`, which takes ownership.

use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::Waker;

use wasm_bindgen::prelude::*;

use crate::config::{self, Settings};
use crate::pool::{self, BootRequest};
use crate::thread::Inner;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn warn(message: &str);
}

#[wasm_bindgen(module = "/src/wait_async.js")]
extern "C" {
    #[wasm_bindgen(js_name = waitAsync)]
    fn wait_async_js(memory: &JsValue, address: u32, expected: i32, wake: &JsValue);
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

pub(crate) fn notify_word(word: &AtomicU32) {
    // SAFETY: the pointer is a live, aligned word in the shared memory.
    unsafe {
        core::arch::wasm32::memory_atomic_notify(word.as_ptr().cast::<i32>(), u32::MAX);
    }
}

/// Wakes `waker` once `thread` finishes, without blocking (`Atomics.waitAsync`).
pub(crate) fn wake_when_finished(thread: &Arc<Inner>, waker: Waker) {
    let (word, running) = thread.completion.word();
    // Called at most once: the closure frees itself then. If the thread never finishes, it
    // stays, as does the promise JS holds for it.
    let wake = Closure::once_into_js(move || waker.wake());
    wait_async_js(
        &wasm_bindgen::memory(),
        word.as_ptr() as usize as u32,
        running as i32,
        &wake,
    );
}

pub(crate) fn check_can_wait(finished: bool) {
    if !finished && !DISPATCHER_STARTED.load(Ordering::Acquire) {
        panic!(
            "wbspawn: join() would wait forever because no dispatcher has started; start the app \
             with start() from wbspawn's bootstrap.js"
        );
    }
}

std::thread_local! {
    // The last panic on this instance, for the app worker to put in the rejected call's error.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(crate) fn record_panic(message: &str, info: &PanicHookInfo<'_>) {
    let text = match info.location() {
        Some(location) => format!("panicked at {location}:\n{message}"),
        None => format!("panicked:\n{message}"),
    };
    let _ = LAST_PANIC.try_with(|last| last.replace(Some(text)));
}

/// std's default hook writes to stderr, which goes nowhere here: say it in the console instead.
/// A warning, not an error: the panic reaches `join` as a value the program can handle.
pub(crate) fn report_thread_panic(
    name: &str,
    message: &str,
    location: Option<&str>,
    _previous: impl FnOnce(),
) {
    let location = location.map(|at| format!(" at {at}")).unwrap_or_default();
    warn(&format!(
        "wbspawn: thread '{name}' panicked{location}:\n{message}"
    ));
}

/// Stores the host's settings and boots `keep_workers` workers ahead of the first spawn.
#[wasm_bindgen(js_name = __wbspawn_configure)]
pub fn configure(parallelism: u32, max_workers: u32, idle_timeout_ms: u32, keep_workers: u32) {
    config::apply(Settings {
        parallelism,
        max_workers,
        idle_timeout_ms,
        keep_workers,
    });
    pool::prestart(config::keep_workers());
}

/// The shared memory, for the bootstrap to hand to the dispatcher.
#[wasm_bindgen(js_name = __wbspawn_memory)]
pub fn memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Marks the dispatcher as running and returns the byte address of the signal word it waits on.
#[wasm_bindgen(js_name = __wbspawn_dispatcher_started)]
pub fn dispatcher_started() -> u32 {
    DISPATCHER_STARTED.store(true, Ordering::Release);
    DISPATCH_SIGNAL.as_ptr() as usize as u32
}

/// The next boot request as an opaque handle, or 0 when none is pending.
#[wasm_bindgen(js_name = __wbspawn_take_boot_request)]
pub fn take_boot_request() -> u32 {
    match pool::take_boot_request() {
        Some(request) => Box::into_raw(Box::new(request)) as usize as u32,
        None => 0,
    }
}

fn peek(request: u32) -> &'static BootRequest {
    // SAFETY: `request` came from `take_boot_request` and is consumed (by `worker_main` or
    // `boot_failed`) only after the dispatcher's last peek; the runtime's JS keeps to that.
    unsafe { &*(request as usize as *const BootRequest) }
}

fn take(request: u32) -> BootRequest {
    // SAFETY: as in `peek`; the runtime's JS consumes each handle exactly once.
    *unsafe { Box::from_raw(request as usize as *mut BootRequest) }
}

/// Stack size in bytes for the worker that serves `request`.
#[wasm_bindgen(js_name = __wbspawn_boot_stack_size)]
pub fn boot_stack_size(request: u32) -> u32 {
    peek(request).stack_size
}

/// The worker for `request` could not start (script or module failed to load).
#[wasm_bindgen(js_name = __wbspawn_boot_failed)]
pub fn boot_failed(request: u32, why: String) {
    pool::boot_failed(take(request), &why);
}

/// Entry of every thread worker: runs jobs until the worker retires.
#[wasm_bindgen(js_name = __wbspawn_worker_main)]
pub fn worker_main(request: u32) {
    pool::run_worker(take(request));
}

/// Called by a thread worker after its instance trapped (a panic, which the hook has already
/// reported, or another trap, which `why` describes).
#[wasm_bindgen(js_name = __wbspawn_worker_crashed)]
pub fn worker_crashed(why: String) {
    pool::worker_lost(&why);
}

/// The message of the last panic on this instance, if any (taken once).
#[wasm_bindgen(js_name = __wbspawn_take_panic_message)]
pub fn take_panic_message() -> Option<String> {
    LAST_PANIC.try_with(RefCell::take).ok().flatten()
}
