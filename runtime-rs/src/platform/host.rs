//! A native host: OS threads stand in for workers and for `Atomics.waitAsync`, stderr for the
//! console. What `cargo test` runs.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::Waker;

use super::LIVE_WAITERS;

/// Starts a native thread running `body` with `stack_size` bytes of stack.
pub(crate) fn start_native(stack_size: usize, body: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("wbspawn-worker".to_string())
        .stack_size(stack_size)
        .spawn(body)
        .map(drop)
}

/// The host serves boot requests at once; nobody waits for progress.
pub(crate) fn note_progress() {}

pub(crate) fn dispatcher_running() -> bool {
    true
}

/// Nobody takes output on a host: std writes to the real stdout and stderr there.
#[allow(dead_code)] // the wasm std hooks are what queue output
pub(crate) fn wake_output() {}

/// Wakes the OS threads a `Waiter` parks: they wait on a condvar, not on the word itself.
pub(crate) fn notify_word(_word: &AtomicU32) {
    let (lock, changed) = &WORDS;
    // Taking the lock orders the store before a waiter's check: no wake-up is lost.
    drop(lock.lock().unwrap_or_else(PoisonError::into_inner));
    changed.notify_all();
}

// Every host waiter sleeps here and rechecks its word: few waiters, and only in tests.
static WORDS: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

pub(crate) fn warn(message: &str) {
    eprintln!("{message}");
}

pub(crate) fn error(message: &str) {
    eprintln!("{message}");
}

/// A native host has no page.
pub(crate) fn on_page() -> bool {
    false
}

/// Native threads get fresh thread-locals from the OS; nothing to do.
#[allow(dead_code)] // only the wasm pool runs std threads on reused workers
pub(crate) fn reset_thread_locals() {}

/// An OS thread that wakes `waker` once the word stops being `running`, or exits when the
/// waiter is dropped.
pub(crate) struct Waiter {
    state: Arc<WaiterState>,
}

struct WaiterState {
    waker: Mutex<Option<Waker>>,
    cancelled: AtomicBool,
}

impl Waiter {
    /// # Safety
    /// `word` stays valid while `keep` lives (the thread holds `keep`).
    pub(crate) unsafe fn register(
        word: &AtomicU32,
        running: u32,
        waker: Waker,
        keep: Arc<dyn Send + Sync>,
    ) -> Waiter {
        struct Word(*const AtomicU32);
        // SAFETY: an atomic, kept alive by `keep`, which moves along with it.
        unsafe impl Send for Word {}
        let word = Word(std::ptr::from_ref(word));
        let state = Arc::new(WaiterState {
            waker: Mutex::new(Some(waker)),
            cancelled: AtomicBool::new(false),
        });
        let watched = Arc::clone(&state);
        LIVE_WAITERS.fetch_add(1, Ordering::Relaxed);
        std::thread::spawn(move || {
            let word = word;
            // SAFETY: `keep` (moved in here) owns the word.
            let value = || unsafe { &*word.0 }.load(Ordering::Acquire);
            let (lock, changed) = &WORDS;
            let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while value() == running && !watched.cancelled.load(Ordering::Acquire) {
                guard = changed.wait(guard).unwrap_or_else(PoisonError::into_inner);
            }
            drop(guard);
            if !watched.cancelled.load(Ordering::Acquire) {
                let waker = watched
                    .waker
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            drop(keep);
            LIVE_WAITERS.fetch_sub(1, Ordering::Relaxed);
        });
        Waiter { state }
    }

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

impl Drop for Waiter {
    fn drop(&mut self) {
        self.state.cancelled.store(true, Ordering::Release);
        let (lock, changed) = &WORDS;
        // Taking the lock orders the flag before the waiter's next check.
        drop(lock.lock().unwrap_or_else(PoisonError::into_inner));
        changed.notify_all();
    }
}

/// Milliseconds on a monotonic clock.
pub(crate) fn now_ms() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1000.0
}
