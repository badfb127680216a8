//! What a thread is doing, for the thread inspector and the deadlock watch (`poolState`'s
//! `table`, the dispatcher's watchdog).
//!
//! Each thread's record holds an `Activity`: a few words of shared memory that the thread
//! itself writes when it starts and ends a wait (a join, a futex wait from std's locks,
//! condvars and parking, a sleep) and that the dispatcher reads without stopping anyone. A
//! wait costs three more stores and two after; nothing is read or written between waits.
//! The dispatcher times a state by the change count: it notes when it first saw each count.
//!
//! What a futex wait is for is not said by std; it is guessed from the value std waits on:
//! std's Mutex waits while its word is 2 (locked, with waiters), thread parking (channels,
//! scopes, `park`) while it is `u32::MAX`, an RwLock reader or writer with waiter bits set
//! (2^30 and up); anything else (a Condvar's counter, a `Once`'s state, an RwLock writer's
//! notify counter) reads as a condvar. A Condvar whose counter is 2 or past 2^30 reads as a
//! lock: the guess labels rows, and no verdict rests on it. The word's address tells two
//! waits apart.

// The table is read by the wasm exports; a native host only runs the logic in the tests.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// What a thread is doing, as the table says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doing {
    Running,
    /// Blocked in `join` on the thread with this id.
    Joining(u64),
    /// Blocked in a futex wait on the word at `addr` while it holds `expected`; `timed`: with
    /// a timeout (`wait_timeout`, `park_timeout`, `recv_timeout`).
    Waiting {
        addr: u32,
        expected: u32,
        timed: bool,
    },
    /// In `thread::sleep` until this time (ms on the page's clock, since the Unix epoch).
    Sleeping {
        until_ms: u64,
    },
}

const RUNNING: u32 = 0;
const JOINING: u32 = 1;
const WAITING: u32 = 2;
const WAITING_TIMED: u32 = 3;
const SLEEPING: u32 = 4;

/// std's futex Mutex word while locked with waiters.
const MUTEX_CONTENDED: u32 = 2;
/// std's futex Parker word while parked.
const PARKED: u32 = u32::MAX;
/// The lowest of std's futex RwLock waiter bits.
const RWLOCK_WAITERS: u32 = 1 << 30;

pub(crate) struct Activity {
    kind: AtomicU32,
    detail: AtomicU64,
    /// Bumped at every change, after it.
    changes: AtomicU32,
}

impl Activity {
    pub(crate) const fn new() -> Activity {
        Activity {
            kind: AtomicU32::new(RUNNING),
            detail: AtomicU64::new(0),
            changes: AtomicU32::new(0),
        }
    }

    /// Notes `doing` if the thread was running (a wait inside a join stays the join), and
    /// whether it did: the caller then notes `Running` when the wait ends.
    pub(crate) fn begin(&self, doing: Doing) -> bool {
        if self.kind.load(Ordering::Relaxed) != RUNNING {
            return false;
        }
        self.set(doing);
        true
    }

    pub(crate) fn set(&self, doing: Doing) {
        let (kind, detail) = match doing {
            Doing::Running => (RUNNING, 0),
            Doing::Joining(id) => (JOINING, id),
            Doing::Waiting {
                addr,
                expected,
                timed,
            } => (
                if timed { WAITING_TIMED } else { WAITING },
                u64::from(addr) << 32 | u64::from(expected),
            ),
            Doing::Sleeping { until_ms } => (SLEEPING, until_ms),
        };
        self.detail.store(detail, Ordering::Relaxed);
        self.kind.store(kind, Ordering::Relaxed);
        // Release: a reader that sees the count sees the state it counts.
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// (what the thread does, how many changes so far). A reader racing a change may get the
    /// new kind with the old detail for a moment; the next reading is right.
    pub(crate) fn read(&self) -> (Doing, u32) {
        let changes = self.changes.load(Ordering::Acquire);
        let kind = self.kind.load(Ordering::Relaxed);
        let detail = self.detail.load(Ordering::Relaxed);
        let doing = match kind {
            JOINING => Doing::Joining(detail),
            WAITING | WAITING_TIMED => Doing::Waiting {
                addr: (detail >> 32) as u32,
                expected: detail as u32,
                timed: kind == WAITING_TIMED,
            },
            SLEEPING => Doing::Sleeping { until_ms: detail },
            _ => Doing::Running,
        };
        (doing, changes)
    }
}

/// One row of the table, as strings for the dispatcher: `[state, on]`, e.g. `["joining",
/// "7"]`, `["lock", "0x1a2b0"]`, `["sleeping", "1733500000123"]`, `["running", ""]`.
pub(crate) fn describe(doing: Doing) -> [String; 2] {
    match doing {
        Doing::Running => ["running".into(), String::new()],
        Doing::Joining(id) => ["joining".into(), id.to_string()],
        Doing::Waiting {
            addr,
            expected,
            timed,
        } => {
            let what = match expected {
                PARKED => "parked",
                MUTEX_CONTENDED => "lock",
                e if e >= RWLOCK_WAITERS => "lock",
                _ => "condvar",
            };
            let state = if timed {
                format!("{what} (timeout)")
            } else {
                what.to_string()
            };
            [state, format!("{addr:#x}")]
        }
        Doing::Sleeping { until_ms } => ["sleeping".into(), until_ms.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_with_its_count() {
        let a = Activity::new();
        assert_eq!(a.read(), (Doing::Running, 0));
        assert!(a.begin(Doing::Joining(7)));
        assert_eq!(a.read(), (Doing::Joining(7), 1));
        a.set(Doing::Running);
        let waiting = Doing::Waiting {
            addr: 0x1a2b0,
            expected: 2,
            timed: false,
        };
        a.set(waiting);
        assert_eq!(a.read(), (waiting, 3));
    }

    #[test]
    fn a_wait_inside_a_join_stays_the_join() {
        let a = Activity::new();
        assert!(a.begin(Doing::Joining(3)));
        assert!(!a.begin(Doing::Sleeping { until_ms: 5 }));
        assert_eq!(a.read().0, Doing::Joining(3));
    }

    #[test]
    fn waits_are_told_apart_by_the_value_std_waits_on() {
        let wait = |expected, timed| Doing::Waiting {
            addr: 16,
            expected,
            timed,
        };
        assert_eq!(
            describe(wait(2, false)),
            ["lock".to_string(), "0x10".into()]
        );
        assert_eq!(describe(wait(u32::MAX, true))[0], "parked (timeout)");
        assert_eq!(describe(wait(1 << 30 | 1, false))[0], "lock");
        assert_eq!(describe(wait(5, false))[0], "condvar");
        assert_eq!(
            describe(Doing::Joining(9)),
            ["joining".to_string(), "9".into()]
        );
    }
}
