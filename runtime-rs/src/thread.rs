//! Starting threads: `spawn`, `Builder`, and `current`.
//!
//! Where std's threads are wbspawn's (the build used the patched std), a spawn goes through
//! `std::thread::Builder`, so the thread is a std thread in every respect (its own
//! thread-locals, dropped when it ends; `std::thread::current()`; park and unpark), and the
//! handle wbspawn returns adds what std's does not have (`join_async`, `JoinError`). Without
//! the patch the same pool runs the thread directly.

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config;
use crate::join::{JoinHandle, Slot};
use crate::pool::{self, Job};
use crate::record::{Record, Thread, ThreadId};

std::thread_local! {
    // Identity of a thread wbspawn did not start (the app's own thread).
    static UNSPAWNED: Arc<Record> = Record::new(unspawned_id(), None, None);
}

fn unspawned_id() -> ThreadId {
    #[cfg(target_arch = "wasm32")]
    if crate::config::patched_std() {
        return ThreadId::from_std(std::thread::current().id().as_u64());
    }
    ThreadId::next()
}

/// The thread this code runs on.
pub fn current() -> Thread {
    let record = crate::current::record().unwrap_or_else(|| UNSPAWNED.with(Arc::clone));
    Thread { record }
}

/// Thread factory, as `std::thread::Builder`: a name and a stack size.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    /// The page's id of a JS object the thread gets (transfer.rs), or 0.
    transfer: u32,
}

impl Builder {
    /// A builder with no name and the default stack (2 MiB).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread (visible through `current().name()` and in panic messages).
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Asks for at least `size` bytes of stack. Up to the default (2 MiB) the thread runs on a
    /// pool worker; above it, on a dedicated worker booted with that stack (rounded up to 64 KiB
    /// pages) that exits when the thread ends.
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Gives the thread the JS object `transfer` holds (an `OffscreenCanvas`, say), which it
    /// takes with [`Transfer::take`](crate::Transfer::take). The thread runs on a worker of
    /// its own, which the page posts the object to before the thread starts: the page must not
    /// wait for the thread (`join`) before returning to its event loop; await `join_async`.
    #[cfg(target_arch = "wasm32")]
    pub fn transfer(mut self, transfer: &crate::Transfer) -> Builder {
        self.transfer = transfer.id();
        self
    }

    /// Spawns the thread. Fails for a name with a NUL byte, a stack above 256 MiB, or a stack
    /// the memory has no room left for.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: `f` and `T` borrow nothing that could go away.
        unsafe { self.spawn_unchecked(f) }
    }

    /// # Safety
    /// The thread must finish before anything `f` or `T` borrows goes away.
    pub(crate) unsafe fn spawn_unchecked<'a, F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'a,
        T: Send + 'a,
    {
        if self.name.as_deref().is_some_and(|name| name.contains('\0')) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "thread name may not contain interior null bytes",
            ));
        }
        if let Some(size) = self.stack_size {
            config::check_stack_size(size)?;
        }
        crate::panic::install_hook();
        let result: Slot<T> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&result);
        let body = move || {
            // Catches nothing when panics abort; in unwinding builds the worker survives the
            // panic, the thread's locks are released (and poisoned) and `join` gets the payload.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(f));
            if outcome.is_err() {
                if let Some(record) = crate::current::record() {
                    record.completion.mark_panicked();
                }
            }
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        };
        // SAFETY: the caller's promise.
        let record = unsafe { self.start(body) }?;
        Ok(JoinHandle::new(record, result))
    }

    /// Starts `body` as a std thread where std's threads are wbspawn's, else on the pool.
    ///
    /// # Safety
    /// As `spawn_unchecked`.
    unsafe fn start<'a>(self, body: impl FnOnce() + Send + 'a) -> io::Result<Arc<Record>> {
        let transfer = self.transfer;
        // SAFETY: the caller's promise.
        pool::with_transfer(transfer, || unsafe { self.start_now(body) })
    }

    /// # Safety
    /// As `spawn_unchecked`.
    unsafe fn start_now<'a>(self, body: impl FnOnce() + Send + 'a) -> io::Result<Arc<Record>> {
        #[cfg(target_arch = "wasm32")]
        if crate::config::patched_std() {
            let mut builder = std::thread::Builder::new();
            if let Some(name) = self.name {
                builder = builder.name(name);
            }
            if let Some(size) = self.stack_size {
                builder = builder.stack_size(size);
            }
            // SAFETY: the caller's promise. std's handle is dropped at once (detached): the
            // returned record is what wbspawn's handle waits on.
            drop(unsafe { builder.spawn_unchecked(body) }?);
            return crate::record::take_last_spawned().ok_or_else(|| {
                io::Error::other("std did not start the thread through wbspawn's hooks")
            });
        }
        let record = Record::new(ThreadId::next(), self.name, crate::current::id());
        let body: Box<dyn FnOnce() + Send + 'a> = Box::new(body);
        // SAFETY: only the lifetime changes; the caller guarantees the thread ends in time
        // (the same erasure std's scoped threads do).
        let run: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(body) };
        let job = Job {
            run,
            record: Arc::clone(&record),
            fresh_thread_locals: false,
            on_death: None,
        };
        pool::submit(job, config::stack_for(self.stack_size))?;
        Ok(record)
    }
}

/// Spawns a thread running `f` and returns its `JoinHandle`, as `std::thread::spawn`.
///
/// The thread starts on an idle pool worker at once, or on a new worker as soon as the dispatcher
/// has booted one. Beyond the worker cap (128 by default) it waits in a queue for a worker to come
/// free; if every worker is itself blocked waiting for a queued thread, that wait never ends (the
/// runtime says so in the console).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(error) => panic!("failed to spawn thread: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::JoinError;
    use std::future::Future;
    use std::sync::mpsc;
    use std::sync::{Barrier, Condvar};
    use std::task::{Context, Poll};

    #[test]
    fn spawn_join_returns_values() {
        let handles: Vec<_> = (0..16u64).map(|i| spawn(move || i * i)).collect();
        let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(values, (0..16u64).map(|i| i * i).collect::<Vec<_>>());
    }

    #[test]
    fn nested_spawns_three_deep() {
        let depth = spawn(|| spawn(|| spawn(|| 3).join().unwrap()).join().unwrap())
            .join()
            .unwrap();
        assert_eq!(depth, 3);
    }

    #[test]
    fn panic_gives_err_with_message_and_location() {
        let err = spawn(|| -> u32 { panic!("boom {}", 42) })
            .join()
            .unwrap_err();
        assert_eq!(err.message(), "boom 42");
        match &err {
            JoinError::Panicked { location, .. } => {
                assert!(location.as_deref().unwrap_or("").contains("thread.rs"))
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        assert!(err.to_string().contains("boom 42"));
        // The pool keeps working after a panic.
        assert_eq!(spawn(|| 7).join().unwrap(), 7);
    }

    #[test]
    fn unwinding_releases_locks_poisons_them_and_keeps_the_payload() {
        // Host builds unwind, as a wasm build with panic=unwind does.
        let shared = Arc::new(Mutex::new(0u32));
        let held = Arc::clone(&shared);
        let err = spawn(move || {
            let _guard = held.lock().unwrap();
            std::panic::panic_any(42u64);
        })
        .join()
        .unwrap_err();
        assert_eq!(err.message(), "Box<dyn Any>");
        assert_eq!(err.into_payload().unwrap().downcast_ref::<u64>(), Some(&42));
        assert!(
            shared.lock().is_err(),
            "the panicking thread's lock is poisoned"
        );
    }

    #[test]
    fn names_ids_and_current() {
        let handle = Builder::new()
            .name("worker-a".into())
            .spawn(|| {
                let me = current();
                (me.name().map(str::to_string), me.id())
            })
            .unwrap();
        let id = handle.thread().id();
        let (name, seen_id) = handle.join().unwrap();
        assert_eq!(name.as_deref(), Some("worker-a"));
        assert_eq!(seen_id, id);
        // A worker reused for an unnamed spawn does not keep the old name.
        assert_eq!(
            spawn(|| current().name().map(str::to_string))
                .join()
                .unwrap(),
            None
        );
        assert_ne!(spawn(|| current().id()).join().unwrap(), id);
    }

    #[test]
    fn bad_builder_input_is_an_error() {
        assert!(Builder::new().name("a\0b".into()).spawn(|| ()).is_err());
        assert!(Builder::new().stack_size(usize::MAX).spawn(|| ()).is_err());
    }

    #[test]
    fn big_stack_runs_on_a_dedicated_worker() {
        let h = Builder::new().stack_size(8 << 20).spawn(|| {
            let big = [1u8; 4 << 20];
            big.iter().map(|&b| b as u32).sum::<u32>()
        });
        assert_eq!(h.unwrap().join().unwrap(), 4 << 20);
    }

    #[test]
    fn channels_mutex_condvar_across_threads() {
        let (tx, rx) = mpsc::channel();
        let producer = spawn(move || (0..100).for_each(|i| tx.send(i).unwrap()));
        let consumer = spawn(move || rx.iter().collect::<Vec<_>>());
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());

        let counter = Arc::new(Mutex::new(0u32));
        let barrier = Arc::new(Barrier::new(4));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (c, b) = (Arc::clone(&counter), Arc::clone(&barrier));
                spawn(move || {
                    b.wait();
                    (0..1000).for_each(|_| *c.lock().unwrap() += 1)
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*counter.lock().unwrap(), 4000);

        let pair = Arc::new((Mutex::new(None), Condvar::new()));
        let p2 = Arc::clone(&pair);
        let waiter = spawn(move || {
            let (lock, cv) = &*p2;
            let guard = cv
                .wait_while(lock.lock().unwrap(), |v: &mut Option<u32>| v.is_none())
                .unwrap();
            guard.unwrap()
        });
        *pair.0.lock().unwrap() = Some(99);
        pair.1.notify_all();
        assert_eq!(waiter.join().unwrap(), 99);
    }

    /// Polls a future to completion on this thread, parking between wake-ups.
    fn block_on<F: Future>(future: F) -> F::Output {
        use std::task::{Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }

    #[test]
    fn join_async_resolves_with_the_value_or_the_panic() {
        let (tx, rx) = mpsc::channel::<()>();
        let slow = spawn(move || {
            rx.recv().unwrap();
            5
        });
        assert!(!slow.is_finished());
        let waiting = slow.join_async();
        tx.send(()).unwrap();
        assert_eq!(block_on(waiting).unwrap(), 5);

        let done = spawn(|| 6);
        while !done.is_finished() {
            std::thread::yield_now();
        }
        assert_eq!(block_on(done.join_async()).unwrap(), 6);

        let err = block_on(spawn(|| -> u8 { panic!("async boom") }).join_async()).unwrap_err();
        assert_eq!(err.message(), "async boom");
    }

    #[test]
    fn a_panic_the_thread_catches_itself_is_not_a_panic_of_the_thread() {
        let value = spawn(|| {
            let caught = std::panic::catch_unwind(|| panic!("caught inside"));
            assert!(caught.is_err());
            42
        })
        .join();
        assert_eq!(value.unwrap(), 42);
    }

    #[test]
    fn join_async_keeps_one_waiter_however_often_polled_and_drop_releases_it() {
        use std::task::{Wake, Waker};
        struct Nothing;
        impl Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        let waker = Waker::from(Arc::new(Nothing));
        let mut cx = Context::from_waker(&waker);
        let (tx, rx) = mpsc::channel::<()>();
        let before = crate::join_async_waiters();
        let mut future = spawn(move || rx.recv().unwrap()).join_async();
        for _ in 0..200 {
            assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
        }
        // Other tests may wait at the same time; this one adds exactly one waiter.
        assert!(crate::join_async_waiters() <= before + 1);
        drop(future);
        tx.send(()).unwrap();
    }
}
