//! The program as a whole: its arguments, and its end. The patched std asks for `env::args()`
//! here, and hands over `process::exit` and `process::abort`, which on
//! wasm32-unknown-unknown would only trap the calling thread.
//!
//! Ending the program is the page's job (only it can stop every worker): the thread that
//! ends it marks the end after its own output, in the output queue (stdio.rs), and traps. The
//! dispatcher passes the lines before it on, then tells the page, which terminates every
//! worker and reports the code. Until then the other threads may run a moment longer; what
//! they print after the end is not shown, as a process's threads print nothing after exit.

// Only the patched std calls in here, on wasm; a native host's std has real streams, a clock and
// a process of its own, and runs the logic in the tests below.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::ffi::OsString;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::locks::Lock;

/// The code a shell reports for a program ended by SIGABRT (128 + 6), as on native.
pub(crate) const ABORT_CODE: i32 = 134;

/// 0 while the program runs; then `ENDED_BIT | code`: the end and its code in one word, so
/// a reader never sees one without the other.
static ENDED: AtomicU64 = AtomicU64::new(0);
const ENDED_BIT: u64 = 1 << 32;

std::thread_local! {
    /// Whether this thread is ending the program (between `end`'s first step and its stop).
    static ENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The program's arguments, once `start()` has configured the runtime.
static ARGS: Lock<Option<Vec<String>>> = Lock::new(None);

pub(crate) fn set_args(args: Vec<String>) {
    *ARGS.lock() = Some(args);
}

/// The code the program ended with, once a thread ended it.
pub(crate) fn exit_code() -> Option<i32> {
    let state = ENDED.load(Ordering::Acquire);
    // The low 32 bits are the code's, as it was stored.
    (state != 0).then_some(state as u32 as i32)
}

/// Marks the program as ended with `code` (the first call counts), after this thread's
/// unfinished lines of output.
pub(crate) fn end(code: i32, aborted: bool) {
    // Waits below (the output queue's lock, on the page a spin) must not stop this thread
    // before it has queued the end (`stop_page_if_ended`).
    let _ = ENDING.try_with(|ending| ending.set(true));
    crate::stdio::flush_thread();
    let state = ENDED_BIT | u64::from(code as u32);
    if ENDED
        .compare_exchange(0, state, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        crate::stdio::end(code, aborted);
    }
}

/// `env::args()`: what the page passed to `start()`, after the program's name.
pub(crate) fn args() -> Vec<OsString> {
    let configured = ARGS.lock().clone();
    #[cfg(target_arch = "wasm32")]
    let configured = configured.or_else(crate::platform::start_args);
    configured
        .unwrap_or_default()
        .into_iter()
        .map(OsString::from)
        .collect()
}

#[cfg(target_arch = "wasm32")]
pub(crate) use hooks::stop_page_if_ended;

#[cfg(target_arch = "wasm32")]
mod hooks {
    use std::ffi::OsString;

    /// Stops this thread where it stands, for good: the page stops its worker once the
    /// dispatcher has passed on the output before the end. Not a trap while that can happen:
    /// an unwinding build's glue (wasm-bindgen) takes a trap for a broken module and refuses
    /// every later call of every thread, the dispatcher's too, so the last lines and the end
    /// would never come out. Before the runtime is configured (in `#[wasm_bindgen(start)]`)
    /// no dispatcher will come: the trap fails the app's start, which reports the end itself.
    /// The page's main thread (the main-thread mode) can neither wait nor be stopped by
    /// anyone: it leaves the app's code with an exception, back to its event loop, where the
    /// dispatcher's word of the end reaches it. Its instance is its own, so the dispatcher's
    /// glue stays whole.
    pub(crate) fn stop() -> ! {
        if crate::platform::on_page() {
            let end = match super::exit_code() {
                Some(super::ABORT_CODE) => "aborted".to_string(),
                code => format!("exited with code {}", code.unwrap_or(1)),
            };
            wasm_bindgen::throw_str(&format!(
                "wbspawn: the app {end}: its code on the page stops here"
            ))
        }
        if crate::platform::dispatcher_running() {
            let never = std::sync::atomic::AtomicI32::new(0);
            loop {
                // SAFETY: a live, aligned word that nobody notifies; a wait without a timeout.
                // Where waiting is not allowed (a page's main thread) it traps, which stops
                // this thread as well.
                unsafe {
                    core::arch::wasm32::memory_atomic_wait32(never.as_ptr(), 0, -1);
                }
            }
        }
        core::arch::wasm32::unreachable()
    }

    /// std's `process::exit` (std has flushed its stdout first).
    #[no_mangle]
    pub fn __wbspawn_v2_exit(code: i32) -> ! {
        super::end(code, false);
        stop()
    }

    /// std's abort: `process::abort` and std's own fatal errors end the program; a panic that
    /// aborts (the target's default) ends only its thread, whose joiner gets the panic.
    #[no_mangle]
    pub fn __wbspawn_v2_abort() -> ! {
        if std::thread::panicking() {
            // The thread's death, which its worker reports to the joiner.
            core::arch::wasm32::unreachable()
        }
        super::end(super::ABORT_CODE, true);
        stop()
    }

    /// On the page: stops its code if a thread ended the program (`stop`). A page that
    /// spins in a wait for a thread that called `process::exit` would otherwise spin for good,
    /// and never hear of the end.
    pub(crate) fn stop_page_if_ended() {
        let ending = super::ENDING
            .try_with(std::cell::Cell::get)
            .unwrap_or(false);
        if super::exit_code().is_some() && !ending {
            stop()
        }
    }

    #[no_mangle]
    pub fn __wbspawn_v2_args() -> Vec<OsString> {
        super::args()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_end_counts() {
        assert_eq!(exit_code(), None);
        end(-2, false);
        end(5, false);
        assert_eq!(exit_code(), Some(-2));
    }

    #[test]
    fn args_are_what_start_passed() {
        set_args(vec!["app".into(), "--fast".into()]);
        assert_eq!(args(), [OsString::from("app"), OsString::from("--fast")]);
    }
}
