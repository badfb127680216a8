//! Scoped threads, as `std::thread::scope`: threads that may borrow from the caller's stack
//! because `scope` does not return before all of them finished.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::completion::Ended;
use crate::thread::{Builder, Inner, JoinError, JoinHandle, Thread};

/// A scope to spawn scoped threads in; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    // Every thread spawned in the scope, with whether its handle was joined (a panic in a
    // thread nobody joined makes `scope` panic, as in std).
    threads: Mutex<Vec<(Arc<Inner>, Arc<AtomicBool>)>>,
    // Invariant lifetimes, as std's Scope: 'scope must not shrink or grow behind our back.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// An owned permission to join a scoped thread.
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<T>,
    joined: Arc<AtomicBool>,
    scope: PhantomData<&'scope ()>,
}

/// Creates a scope for spawning threads that borrow local variables, as `std::thread::scope`.
///
/// All threads spawned in the scope are joined before `scope` returns. If one of them panicked
/// and was not joined explicitly, `scope` panics after all have finished. Like `join`, the
/// final wait blocks, so call it from the app's worker or a spawned thread.
///
/// ```
/// let mut numbers = vec![1, 2, 3];
/// let total = std::sync::atomic::AtomicU32::new(0);
/// wbspawn::scope(|s| {
///     s.spawn(|| total.fetch_add(numbers.iter().sum(), std::sync::atomic::Ordering::Relaxed));
///     s.spawn(|| total.fetch_add(10, std::sync::atomic::Ordering::Relaxed));
/// });
/// numbers.push(4);
/// assert_eq!(total.into_inner(), 16);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        threads: Mutex::new(Vec::new()),
        scope: PhantomData,
        env: PhantomData,
    };
    // The threads borrow from the caller: they must all end before this frame does, even if
    // `f` unwinds (host builds; on wasm a panic aborts the whole instance anyway).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&scope)));
    let unjoined_panic = scope.wait_all();
    match result {
        Err(payload) => std::panic::resume_unwind(payload),
        Ok(_) if unjoined_panic => panic!("a scoped thread panicked"),
        Ok(value) => value,
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a scoped thread; see [`Builder::spawn_scoped`] for a named one.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        match Builder::new().spawn_scoped(self, f) {
            Ok(handle) => handle,
            // Only a bad name or stack size fails, and this sets neither.
            Err(error) => panic!("failed to spawn scoped thread: {error}"),
        }
    }

    pub(crate) fn register<T>(&'scope self, handle: JoinHandle<T>) -> ScopedJoinHandle<'scope, T> {
        let joined = Arc::new(AtomicBool::new(false));
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Arc::clone(&handle.thread.inner), Arc::clone(&joined)));
        ScopedJoinHandle {
            handle,
            joined,
            scope: PhantomData,
        }
    }

    /// Waits for every thread spawned in the scope, including those spawned by scoped threads
    /// while waiting. Returns whether one of them panicked without being joined.
    fn wait_all(&self) -> bool {
        let mut waited = 0;
        let mut unjoined_panic = false;
        loop {
            let next = self
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(waited)
                .cloned();
            let Some((thread, joined)) = next else {
                return unjoined_panic;
            };
            crate::platform::check_can_wait(thread.completion.is_finished());
            let ended = thread.completion.wait();
            unjoined_panic |= ended != Ended::Returned && !joined.load(Ordering::Acquire);
            waited += 1;
        }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish; `Err` if it panicked, with the panic message.
    pub fn join(self) -> Result<T, JoinError> {
        self.joined.store(true, Ordering::Release);
        self.handle.join()
    }

    /// Whether the thread has finished. Does not block.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        self.handle.thread()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn scoped_threads_borrow_and_are_joined() {
        let data: Vec<u64> = (1..=100).collect();
        let total = AtomicU64::new(0);
        let halves = scope(|s| {
            let (a, b) = data.split_at(50);
            let first = s.spawn(|| a.iter().sum::<u64>());
            let second = s.spawn(|| b.iter().sum::<u64>());
            s.spawn(|| total.fetch_add(1, Ordering::Relaxed));
            (first.join().unwrap(), second.join().unwrap())
        });
        assert_eq!(halves.0 + halves.1, 5050);
        assert_eq!(total.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn scoped_threads_may_spawn_more_scoped_threads() {
        let count = AtomicU64::new(0);
        scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    s.spawn(|| count.fetch_add(1, Ordering::Relaxed));
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn joined_panic_is_an_err_and_unjoined_panic_panics_the_scope() {
        let message = scope(|s| {
            s.spawn(|| -> u32 { panic!("scoped boom") })
                .join()
                .unwrap_err()
        });
        assert_eq!(message.message(), "scoped boom");

        let outcome = std::panic::catch_unwind(|| {
            scope(|s| {
                s.spawn(|| panic!("nobody joins me"));
            })
        });
        assert!(outcome.is_err());
    }
}
