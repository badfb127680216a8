//! The clock behind std's `Instant` and `SystemTime`: the patched std asks for it
//! (`__wbspawn_clock_*`), where std on wasm32-unknown-unknown would panic.
//!
//! Each worker's `performance.now()` counts from that worker's own start, so a reading taken
//! on one thread would mean nothing on another. `timeOrigin + now()` is one clock in every
//! worker (platform.js), but the engines round both terms to their timer resolution (5 µs in
//! Chromium, 20 µs in Firefox when cross-origin isolated, coarser in WebKit), so two workers
//! can read it a few µs apart. A shared high-water mark keeps it from going back across
//! threads: a thread that reads the clock after another thread did (a message, a lock, a join
//! in between) never reads an earlier time, as with one OS clock.

// Only the patched std calls in here, on wasm; a native host's std has real streams, a clock and
// a process of its own, and runs the logic in the tests below.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, Ordering};

/// The latest time any thread has read, in ns.
pub(crate) struct HighWater(AtomicU64);

impl HighWater {
    pub(crate) const fn new() -> HighWater {
        HighWater(AtomicU64::new(0))
    }

    /// `raw`, or the latest time already handed out if that is later.
    pub(crate) fn observe(&self, raw: u64) -> u64 {
        // Relaxed is enough: a reading that happened before this one (through whatever
        // synchronised the two threads) is seen by coherence of this one atomic.
        let seen = self.0.load(Ordering::Relaxed);
        if raw <= seen {
            return seen;
        }
        self.0.fetch_max(raw, Ordering::Relaxed).max(raw)
    }
}

/// Milliseconds (a JS timestamp) as whole nanoseconds; negative or NaN as 0.
pub(crate) fn ms_to_ns(ms: f64) -> u64 {
    // `as` saturates, and maps NaN to 0.
    (ms * 1e6) as u64
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::time::Duration;

    use super::{ms_to_ns, HighWater};

    static HIGH_WATER: HighWater = HighWater::new();

    /// Time on the page's monotonic clock (since the Unix epoch, as `timeOrigin` counts), the
    /// same for every thread, never going back.
    #[no_mangle]
    pub fn __wbspawn_v2_clock_monotonic() -> Duration {
        let raw = ms_to_ns(crate::platform::monotonic_ms());
        Duration::from_nanos(HIGH_WATER.observe(raw))
    }

    /// Time since the Unix epoch on the browser's wall clock (`Date.now()`, whole ms).
    #[no_mangle]
    pub fn __wbspawn_v2_clock_system() -> Duration {
        Duration::from_nanos(ms_to_ns(crate::platform::wall_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_clock_never_goes_back() {
        let clock = HighWater::new();
        assert_eq!(clock.observe(10), 10);
        assert_eq!(clock.observe(25), 25);
        // Another worker's reading, a little behind: the clock stands still instead.
        assert_eq!(clock.observe(20), 25);
        assert_eq!(clock.observe(26), 26);
    }

    #[test]
    fn a_reading_on_one_thread_bounds_every_later_one_on_another() {
        let clock = Arc::new(HighWater::new());
        let first = {
            let clock = Arc::clone(&clock);
            std::thread::spawn(move || clock.observe(1_000))
                .join()
                .unwrap()
        };
        // This thread's own clock is behind; joined after the other's reading, it still
        // reads no earlier.
        assert!(clock.observe(900) >= first);
    }

    #[test]
    fn milliseconds_become_nanoseconds() {
        assert_eq!(ms_to_ns(1.5), 1_500_000);
        assert_eq!(ms_to_ns(-3.0), 0);
        assert_eq!(ms_to_ns(f64::NAN), 0);
        // A timeOrigin-based reading, near 2026 in ms since the epoch, fits.
        assert_eq!(ms_to_ns(1.8e12), 1_800_000_000_000_000_000);
    }
}
