//! The runtime's own locks, counted per thread.
//!
//! A thread that dies while it holds one (a stack overflow or a failed allocation inside the
//! runtime: a trap unwinds nothing) leaves it held forever, and the crash handler, which
//! takes the same locks, would wait on it forever. Each thread counts the runtime locks it
//! holds, so its crash handler can tell (`held`) before it takes any, without taking one.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, WaitTimeoutResult};
use std::time::Duration;

std::thread_local! {
    // No destructor: readable to the end of a thread, and by a crash handler after it.
    static HELD: Cell<u32> = const { Cell::new(0) };
}

fn count(change: i32) {
    let _ = HELD.try_with(|held| held.set(held.get().wrapping_add_signed(change)));
}

/// How many runtime locks the current thread holds (asked by the crash path in the browser).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn held() -> u32 {
    HELD.try_with(Cell::get).unwrap_or(0)
}

/// A `Mutex` whose holders are counted. Poisoning is ignored: the runtime's own code never
/// panics with one held, and a lock a dead thread poisoned still guards consistent state.
pub(crate) struct Lock<T>(Mutex<T>);

impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Lock<T> {
        Lock(Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> Guard<'_, T> {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Counted once held: a trap while still waiting for the lock leaves it to its holder.
        count(1);
        Guard(Some(guard))
    }
}

pub(crate) struct Guard<'a, T>(Option<MutexGuard<'a, T>>);

impl<'a, T> Guard<'a, T> {
    fn inner(&self) -> &MutexGuard<'a, T> {
        match self.0.as_ref() {
            Some(guard) => guard,
            None => unreachable!("a guard holds its lock until dropped"),
        }
    }

    /// `Condvar::wait`: the lock is given up while waiting (and not counted meanwhile).
    pub(crate) fn wait(&mut self, condvar: &Condvar) {
        self.wait_with(|guard| {
            (
                condvar.wait(guard).unwrap_or_else(PoisonError::into_inner),
                (),
            )
        });
    }

    /// `Condvar::wait_timeout`.
    pub(crate) fn wait_timeout(
        &mut self,
        condvar: &Condvar,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_with(|guard| {
            condvar
                .wait_timeout(guard, timeout)
                .unwrap_or_else(PoisonError::into_inner)
        })
    }

    /// `Condvar::wait_timeout_while`.
    pub(crate) fn wait_timeout_while(
        &mut self,
        condvar: &Condvar,
        timeout: Duration,
        condition: impl FnMut(&mut T) -> bool,
    ) -> WaitTimeoutResult {
        self.wait_with(|guard| {
            condvar
                .wait_timeout_while(guard, timeout, condition)
                .unwrap_or_else(PoisonError::into_inner)
        })
    }

    fn wait_with<R>(
        &mut self,
        wait: impl FnOnce(MutexGuard<'a, T>) -> (MutexGuard<'a, T>, R),
    ) -> R {
        let Some(guard) = self.0.take() else {
            unreachable!("a guard holds its lock until dropped")
        };
        count(-1);
        let (guard, result) = wait(guard);
        count(1);
        self.0 = Some(guard);
        result
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.inner()
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match self.0.as_mut() {
            Some(guard) => guard,
            None => unreachable!("a guard holds its lock until dropped"),
        }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if self.0.take().is_some() {
            count(-1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_counted_and_a_wait_gives_the_lock_up() {
        static LOCK: Lock<u32> = Lock::new(0);
        static READY: Condvar = Condvar::new();
        assert_eq!(held(), 0);
        let mut guard = LOCK.lock();
        *guard += 1;
        assert_eq!(held(), 1);
        let waited = guard.wait_timeout(&READY, Duration::from_millis(1));
        assert!(waited.timed_out());
        assert_eq!((held(), *guard), (1, 1));
        drop(guard);
        assert_eq!(held(), 0);
    }
}
