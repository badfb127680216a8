//! The finish line of one thread: the worker marks it, `join` waits on it.
//!
//! It is type-erased (the thread's value lives in its `JoinHandle`'s slot) so that the pool,
//! the panic hook and the crash handler, which know nothing of `T`, can record how a thread
//! ended.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Condvar;
use std::task::Waker;

use crate::locks::{Guard, Lock};

const RUNNING: u32 = 0;
const FINISHED: u32 = 1;

/// How a thread ended, as far as the runtime knows (its value or payload is in its slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Its body returned (with a value, or with a panic it caught at the top).
    Returned,
    /// Its worker died under it: a panic that aborted (`panicked`), or another trap (`why`).
    Died { panicked: bool, why: String },
}

/// A panic as the panic hook saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PanicReport {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

/// Everything `join` needs besides the slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) ended: Ended,
    /// The last panic the hook saw on the thread (it may have been caught).
    pub(crate) last_panic: Option<PanicReport>,
    /// Whether the thread's body ended in a panic (caught at the top, or fatal).
    pub(crate) panicked: bool,
}

#[derive(Default)]
struct State {
    ended: Option<Ended>,
    last_panic: Option<PanicReport>,
    body_panicked: bool,
    /// The task of a `join_async` future waiting here, woken by the thread that finishes: the
    /// waiting task's own event loop may be blocked (an executor that parks its thread), and
    /// then nothing it listens to (`Atomics.waitAsync`) would ever run.
    waker: Option<Waker>,
}

pub(crate) struct Completion {
    // Mirrors `state.ended` so `is_finished` and `join_async`'s waitAsync need no lock.
    word: AtomicU32,
    state: Lock<State>,
    finished: Condvar,
}

impl Completion {
    pub(crate) const fn new() -> Self {
        Completion {
            word: AtomicU32::new(RUNNING),
            state: Lock::new(State {
                ended: None,
                last_panic: None,
                body_panicked: false,
                waker: None,
            }),
            finished: Condvar::new(),
        }
    }

    fn state(&self) -> Guard<'_, State> {
        // A poisoned lock must not hide a result (a crash handler runs with the dead thread's
        // panic count set, which poisons): `Lock` ignores poisoning.
        self.state.lock()
    }

    /// Records how the thread ended. Only the first call counts.
    pub(crate) fn finish(&self, ended: Ended) -> bool {
        let mut state = self.state();
        if state.ended.is_some() {
            return false;
        }
        state.ended = Some(ended);
        self.word.store(FINISHED, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        self.finished.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
        // Wakes `join_async`, which waits on the word itself.
        crate::platform::notify_word(&self.word);
        true
    }

    /// Wakes `waker` when the thread finishes (it replaces the one before); true if it has
    /// already finished, and then nothing is kept.
    pub(crate) fn wake_when_finished(&self, waker: &Waker) -> bool {
        let mut state = self.state();
        if state.ended.is_some() {
            return true;
        }
        if !state.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        false
    }

    /// Forgets the waker `wake_when_finished` kept (its future went away).
    pub(crate) fn forget_waker(&self) {
        self.state().waker = None;
    }

    /// The panic hook's report; the thread may still catch the panic.
    pub(crate) fn record_panic(&self, report: PanicReport) {
        self.state().last_panic = Some(report);
    }

    /// The thread's body ended in a panic it did not catch itself.
    pub(crate) fn mark_panicked(&self) {
        self.state().body_panicked = true;
    }

    pub(crate) fn last_panic(&self) -> Option<PanicReport> {
        self.state().last_panic.clone()
    }

    /// The word `join_async` waits on, and its value while the thread runs.
    pub(crate) fn word(&self) -> (&AtomicU32, u32) {
        (&self.word, RUNNING)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.word.load(Ordering::Acquire) == FINISHED
    }

    /// Blocks until the thread finished or about `timeout` passed (the caller looks again).
    pub(crate) fn wait_timeout(&self, timeout: std::time::Duration) {
        let mut state = self.state();
        if state.ended.is_none() {
            state.wait_timeout(&self.finished, timeout);
        }
    }

    /// Blocks until the thread finished.
    pub(crate) fn wait(&self) -> Outcome {
        let mut state = self.state();
        loop {
            if let Some(ended) = state.ended.clone() {
                let panicked = state.body_panicked || matches!(ended, Ended::Died { .. });
                return Outcome {
                    ended,
                    last_panic: state.last_panic.clone(),
                    panicked,
                };
            }
            state.wait(&self.finished);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn died(why: &str) -> Ended {
        Ended::Died {
            panicked: false,
            why: why.into(),
        }
    }

    #[test]
    fn first_finish_wins() {
        let c = Completion::new();
        assert!(!c.is_finished());
        assert!(c.finish(died("first")));
        assert!(!c.finish(Ended::Returned));
        assert!(c.is_finished());
        assert_eq!(c.wait().ended, died("first"));
    }

    #[test]
    fn a_caught_panic_is_remembered_but_does_not_make_the_thread_panicked() {
        let c = Completion::new();
        let report = PanicReport {
            message: "boom".into(),
            location: Some("a.rs:1:1".into()),
        };
        c.record_panic(report.clone());
        c.finish(Ended::Returned);
        let outcome = c.wait();
        assert_eq!(outcome.last_panic, Some(report));
        assert!(!outcome.panicked);
    }

    #[test]
    fn a_body_that_panicked_or_a_death_counts_as_panicked() {
        let c = Completion::new();
        c.mark_panicked();
        c.finish(Ended::Returned);
        assert!(c.wait().panicked);
        let d = Completion::new();
        d.finish(died("trap"));
        assert!(d.wait().panicked);
    }

    #[test]
    fn wait_blocks_until_finished() {
        let c = Arc::new(Completion::new());
        let c2 = Arc::clone(&c);
        let t = std::thread::spawn(move || c2.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.finish(Ended::Returned);
        assert_eq!(t.join().unwrap().ended, Ended::Returned);
    }
}
