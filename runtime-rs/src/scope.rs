//! Scoped threads, as `std::thread::scope`: threads that may borrow from the caller's stack
//! because `scope` does not return before all of them finished.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::join::{JoinError, JoinHandle};
use crate::locks::{Guard, Lock};
use crate::record::{Record, Thread};
use crate::thread::Builder;

/// A scope to spawn scoped threads in; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    threads: ScopeThreads,
    // Invariant lifetimes, as std's Scope: 'scope must not shrink or grow behind our back.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Every thread spawned in the scope, with whether its handle was joined (a panic in a thread
/// nobody joined makes `scope` panic, as in std).
struct ScopeThreads(Lock<Vec<(Arc<Record>, Arc<AtomicBool>)>>);

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
/// If the thread that owns the scope dies (a panic when panics abort, or a trap), the scope's
/// threads still run to their end, and the dead thread's stack, which they may borrow from,
/// is freed (and its death reported) only after that.
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
        threads: ScopeThreads(Lock::new(Vec::new())),
        scope: PhantomData,
        env: PhantomData,
    };
    let data = std::ptr::from_ref(&scope.threads).cast::<()>();
    // If this thread dies inside `f`, the runtime waits for the scope's threads (through
    // `wait_for_threads`) before it frees this frame.
    crate::current::scope(data, Some(wait_for_threads));
    // The threads borrow from the caller: they must all end before this frame does, even if
    // `f` unwinds.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&scope)));
    let unjoined_panic = scope.threads.wait_all();
    crate::current::scope(data, None);
    match result {
        Err(payload) => std::panic::resume_unwind(payload),
        Ok(_) if unjoined_panic => panic!("a scoped thread panicked"),
        Ok(value) => value,
    }
}

/// A scoped thread can run only once the app has started (its workers come from the app
/// worker once `#[wasm_bindgen(start)]` has returned), and the scope cannot end before it
/// has: spawned earlier, it would wait forever. Such a spawn fails instead, before anything
/// is queued (std's `Scope::spawn` and ours then panic with this message).
pub(crate) fn check_started() -> io::Result<()> {
    if crate::platform::dispatcher_running() {
        return Ok(());
    }
    Err(io::Error::other(
        "wbspawn: a scoped thread cannot run before the app has started: the scope would wait \
         forever. Move the scope out of #[wasm_bindgen(start)] into an export the page calls \
         after start() (or spawn unscoped threads there and join them later)",
    ))
}

/// `current::ScopeWait` for a wbspawn scope.
///
/// # Safety
/// `data` points to the `ScopeThreads` of a scope still open on the dead thread's stack.
unsafe fn wait_for_threads(data: *const (), timeout: Duration) -> bool {
    // SAFETY: see above.
    let threads = unsafe { &*data.cast::<ScopeThreads>() };
    threads.wait_some(timeout)
}

impl ScopeThreads {
    fn list(&self) -> Guard<'_, Vec<(Arc<Record>, Arc<AtomicBool>)>> {
        self.0.lock()
    }

    /// Waits for every thread spawned in the scope, including those spawned by scoped threads
    /// while waiting. Returns whether one of them panicked without being joined.
    fn wait_all(&self) -> bool {
        let mut waited = 0;
        let mut unjoined_panic = false;
        loop {
            let next = self.list().get(waited).cloned();
            let Some((record, joined)) = next else {
                return unjoined_panic;
            };
            let outcome = crate::join::wait_for(&record);
            unjoined_panic |= outcome.panicked && !joined.load(Ordering::Acquire);
            waited += 1;
        }
    }

    /// Waits up to about `timeout` for the scope's threads; true once all have ended.
    fn wait_some(&self, timeout: Duration) -> bool {
        let pending = self
            .list()
            .iter()
            .find(|(record, _)| !record.completion.is_finished())
            .map(|(record, _)| Arc::clone(record));
        match pending {
            None => true,
            Some(record) => {
                record.completion.wait_timeout(timeout);
                false
            }
        }
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
            Err(error) => panic!("failed to spawn scoped thread: {error}"),
        }
    }

    fn register<T>(&'scope self, handle: JoinHandle<T>) -> ScopedJoinHandle<'scope, T> {
        let joined = Arc::new(AtomicBool::new(false));
        self.threads
            .list()
            .push((Arc::clone(&handle.thread.record), Arc::clone(&joined)));
        ScopedJoinHandle {
            handle,
            joined,
            scope: PhantomData,
        }
    }
}

impl Builder {
    /// Spawns a thread in `scope` (see [`crate::scope`]): it may borrow from outside the scope.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        check_started()?;
        // SAFETY: `scope()` does not return before every thread registered here finished.
        let handle = unsafe { self.spawn_unchecked(f) }?;
        Ok(scope.register(handle))
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
