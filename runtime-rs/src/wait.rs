//! Every wait and sleep of std's (its locks, condvars, parking, channels, joins and
//! `thread::sleep`), through the patched std (`__wbspawn_v2_futex_wait`, `__wbspawn_v2_sleep`):
//! the thread notes what it waits on for the inspector (activity.rs), then waits.
//!
//! A worker blocks, as std would (`memory.atomic.wait`). The page's main thread may not: there
//! `memory.atomic.wait` traps. An app whose instance runs on the page (`start(..., {mode:
//! "main"})`: an egui, Leptos or plain DOM app) still takes contended locks, joins threads and
//! sleeps there; rayon's `par_iter` from an event handler waits for its job. On the page the
//! wait spins on the word until it changes or the time is up, as Emscripten's main thread does.
//! A spin keeps the page from drawing and from taking input, and the page creates every
//! worker, so a wait for a thread whose worker is not yet made waits for good: debug builds say
//! on the console when a wait took longer than a frame, and every build says so when one has
//! gone on for seconds, naming the call site in both. `JoinHandle::join_async` is the way that
//! never spins. While it spins, the page runs the calls threads queued for it (main_thread.rs),
//! and leaves the app's code if a thread ended the program (process.rs).

// Only the patched std calls in here, on wasm; the pure part is tested on the host.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

/// Longer than one frame at 60 Hz: the page missed a frame.
pub(crate) const FRAME_MS: f64 = 16.7;
/// A wait this long on the page is a freeze, whatever the build.
pub(crate) const STUCK_MS: f64 = 2000.0;
/// Loads of the word between two readings of the clock (a clock reading is a call into JS).
const SPINS_PER_LOOK: u32 = 256;

/// What a spin that ended after `waited_ms` should tell the console: nothing, or that the page
/// missed frames (debug builds only: `dev`).
pub(crate) fn worth_a_warning(waited_ms: f64, dev: bool) -> bool {
    dev && waited_ms > FRAME_MS
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::{worth_a_warning, SPINS_PER_LOOK, STUCK_MS};
    use crate::activity::Doing;
    use crate::{current, platform};

    /// std's `futex_wait`: waits until `futex` no longer holds `expected` (true) or `timeout`
    /// passed (false). Always `Some`: the runtime waits itself.
    #[no_mangle]
    pub fn __wbspawn_v2_futex_wait(
        futex: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Option<bool> {
        let noted = note(Doing::Waiting {
            addr: futex.as_ptr() as usize as u32,
            expected,
            timed: timeout.is_some(),
        });
        let woken = if platform::on_page() {
            spin(|| futex.load(Ordering::Acquire) != expected, timeout)
        } else {
            block(futex, expected, timeout)
        };
        done(noted);
        Some(woken)
    }

    /// std's `thread::sleep`: lets `dur` pass, and true (the runtime slept).
    #[no_mangle]
    pub fn __wbspawn_v2_sleep(dur: Duration) -> bool {
        let until_ms = platform::monotonic_ms() + dur.as_secs_f64() * 1000.0;
        let noted = note(Doing::Sleeping {
            until_ms: until_ms as u64,
        });
        if platform::on_page() {
            spin(|| false, Some(dur));
        } else {
            // As std sleeps: a wait on a word nobody notifies, in slices a wait can take.
            let mut nanos = dur.as_nanos();
            let never = AtomicU32::new(0);
            while nanos > 0 {
                let slice = nanos.min(i64::MAX as u128);
                block(&never, 0, Some(Duration::from_nanos(slice as u64)));
                nanos -= slice;
            }
        }
        done(noted);
        true
    }

    /// Notes `doing` for this thread; whether it did (a wait inside a join stays the join).
    fn note(doing: Doing) -> bool {
        current::with_activity(|activity| activity.begin(doing)).unwrap_or(false)
    }

    fn done(noted: bool) {
        if noted {
            current::with_activity(|activity| activity.set(Doing::Running));
        }
    }

    /// Blocks as std's futex_wait does on a worker.
    fn block(futex: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
        let timeout = timeout
            .and_then(|t| t.as_nanos().try_into().ok())
            .unwrap_or(-1);
        // SAFETY: a live, aligned word the caller lends for the call; 0 (woken) and 1 (not the
        // expected value) mean the wait is over, 2 that it timed out.
        unsafe {
            core::arch::wasm32::memory_atomic_wait32(
                futex.as_ptr().cast(),
                expected as i32,
                timeout,
            ) < 2
        }
    }

    /// Spins until `done()` (true) or `timeout` (false).
    fn spin(done: impl Fn() -> bool, timeout: Option<Duration>) -> bool {
        if done() {
            return true;
        }
        let start = platform::monotonic_ms();
        let limit_ms = timeout.map(|t| t.as_secs_f64() * 1000.0);
        let mut said_stuck = false;
        let woken = 'spin: loop {
            // Calls queued for this thread: the thread this one waits for may be their caller.
            crate::main_thread::run_queued(true);
            // The thread this one waits for may have ended the program instead of waking it.
            crate::process::stop_page_if_ended();
            for _ in 0..SPINS_PER_LOOK {
                if done() {
                    break 'spin true;
                }
                core::hint::spin_loop();
            }
            let waited = platform::monotonic_ms() - start;
            if limit_ms.is_some_and(|limit| waited >= limit) {
                break false;
            }
            if !said_stuck && waited >= STUCK_MS {
                said_stuck = true;
                platform::warn_page_wait(waited, true);
            }
        };
        let waited = platform::monotonic_ms() - start;
        if worth_a_warning(waited, cfg!(debug_assertions)) {
            platform::warn_page_wait(waited, false);
        }
        woken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_within_a_frame_says_nothing() {
        assert!(!worth_a_warning(3.0, true));
    }

    #[test]
    fn a_wait_past_a_frame_warns_in_debug_builds_only() {
        assert!(worth_a_warning(40.0, true));
        assert!(!worth_a_warning(40.0, false));
    }
}
