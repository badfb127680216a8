//! The finish line of one spawned thread: the worker marks it, `join` waits on it.
//!
//! It is type-erased (the value itself lives in the `JoinHandle`'s slot) so that the panic hook,
//! which knows nothing of `T`, can record how a thread ended.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

const RUNNING: u32 = 0;
const FINISHED: u32 = 1;

/// How a thread ended, as far as the runtime knows (the value or payload is in the slot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Returned,
    Panicked {
        message: String,
        location: Option<String>,
    },
    Crashed(String),
}

#[derive(Default)]
struct State {
    ended: Option<Ended>,
    // What the panic hook saw, kept until the thread finishes unwinding (unwinding builds).
    panic: Option<(String, Option<String>)>,
}

pub(crate) struct Completion {
    // Mirrors `state.ended` so `is_finished` and `join_async`'s waitAsync need no lock.
    word: AtomicU32,
    state: Mutex<State>,
    finished: Condvar,
}

impl Completion {
    pub(crate) const fn new() -> Self {
        Completion {
            word: AtomicU32::new(RUNNING),
            state: Mutex::new(State {
                ended: None,
                panic: None,
            }),
            finished: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing can panic while holding this lock, but a poisoned lock must not hide a result.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how the thread ended. Only the first call counts: a panic already recorded
    /// wins over the worker's later, less precise report.
    pub(crate) fn finish(&self, ended: Ended) -> bool {
        let mut state = self.state();
        if state.ended.is_some() {
            return false;
        }
        let ended = match (ended, state.panic.take()) {
            (Ended::Returned, Some((message, location))) => Ended::Panicked { message, location },
            (ended, _) => ended,
        };
        state.ended = Some(ended);
        self.word.store(FINISHED, Ordering::Release);
        drop(state);
        self.finished.notify_all();
        // Wakes `join_async`, which waits on the word itself.
        crate::platform::notify_word(&self.word);
        true
    }

    /// The panic hook's report. With unwinding the thread is still running (its value slot and
    /// locks are settled only when the unwind is caught), so the report waits for `finish`; when
    /// panics abort, nothing else will run on this thread, so it finishes the thread now.
    pub(crate) fn panicked(&self, message: String, location: Option<String>) {
        if cfg!(panic = "unwind") {
            self.state().panic = Some((message, location));
        } else {
            self.finish(Ended::Panicked { message, location });
        }
    }

    /// The word `join_async` waits on, and its value while the thread runs.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm waitAsync
    pub(crate) fn word(&self) -> (&AtomicU32, u32) {
        (&self.word, RUNNING)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.word.load(Ordering::Acquire) == FINISHED
    }

    /// Blocks until the thread finished and returns how it ended.
    pub(crate) fn wait(&self) -> Ended {
        let mut state = self.state();
        loop {
            if let Some(ended) = state.ended.as_ref() {
                return ended.clone();
            }
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn first_finish_wins() {
        let c = Completion::new();
        assert!(!c.is_finished());
        assert!(c.finish(Ended::Crashed("first".into())));
        assert!(!c.finish(Ended::Returned));
        assert!(c.is_finished());
        assert_eq!(c.wait(), Ended::Crashed("first".into()));
    }

    #[test]
    fn a_recorded_panic_turns_the_finish_into_a_panic() {
        let c = Completion::new();
        c.panicked("boom".into(), Some("a.rs:1:1".into()));
        c.finish(Ended::Returned);
        assert_eq!(
            c.wait(),
            Ended::Panicked {
                message: "boom".into(),
                location: Some("a.rs:1:1".into())
            }
        );
    }

    #[test]
    fn wait_blocks_until_finished() {
        let c = Arc::new(Completion::new());
        let c2 = Arc::clone(&c);
        let t = std::thread::spawn(move || c2.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.finish(Ended::Returned);
        assert_eq!(t.join().unwrap(), Ended::Returned);
    }
}
