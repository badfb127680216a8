//! The finish line of one spawned thread: the worker marks it, `join` waits on it.
//!
//! It is type-erased (the value itself lives in the `JoinHandle`'s slot) so that the panic hook,
//! which knows nothing of `T`, can finish a thread with its panic message.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::thread::JoinError;

const RUNNING: u32 = 0;
const FINISHED: u32 = 1;

pub(crate) struct Completion {
    // Mirrors `outcome` so `is_finished` (and a future `Atomics.waitAsync` on its address) need no lock.
    state: AtomicU32,
    outcome: Mutex<Option<Result<(), JoinError>>>,
    finished: Condvar,
}

impl Completion {
    pub(crate) const fn new() -> Self {
        Completion {
            state: AtomicU32::new(RUNNING),
            outcome: Mutex::new(None),
            finished: Condvar::new(),
        }
    }

    fn outcome(&self) -> MutexGuard<'_, Option<Result<(), JoinError>>> {
        // Nothing can panic while holding this lock, but a poisoned lock must not hide a result.
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how the thread ended. Only the first call counts: a panic hook that already
    /// recorded the message wins over the worker's later, less precise report of the crash.
    pub(crate) fn finish(&self, outcome: Result<(), JoinError>) -> bool {
        let mut slot = self.outcome();
        if slot.is_some() {
            return false;
        }
        *slot = Some(outcome);
        self.state.store(FINISHED, Ordering::Release);
        drop(slot);
        self.finished.notify_all();
        // Wakes `join_async`, which waits on the state word itself.
        crate::platform::notify_word(&self.state);
        true
    }

    /// The word `join_async` waits on: `RUNNING` until the thread finishes.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm waitAsync
    pub(crate) fn state_word(&self) -> (&AtomicU32, u32) {
        (&self.state, RUNNING)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.load(Ordering::Acquire) == FINISHED
    }

    /// Blocks until the thread finished and returns how it ended.
    pub(crate) fn wait(&self) -> Result<(), JoinError> {
        let mut slot = self.outcome();
        loop {
            if let Some(outcome) = slot.as_ref() {
                return outcome.clone();
            }
            slot = self
                .finished
                .wait(slot)
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
        assert!(c.finish(Err(JoinError::crashed("first"))));
        assert!(!c.finish(Ok(())));
        assert!(c.is_finished());
        assert_eq!(c.wait().unwrap_err().message(), "first");
    }

    #[test]
    fn wait_blocks_until_finished() {
        let c = Arc::new(Completion::new());
        let c2 = Arc::clone(&c);
        let t = std::thread::spawn(move || c2.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.finish(Ok(()));
        assert!(t.join().unwrap().is_ok());
    }
}
