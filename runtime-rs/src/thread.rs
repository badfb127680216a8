//! The std-shaped API: `spawn`, `Builder`, `JoinHandle`, `Thread`, `current`.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::num::NonZeroU64;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::completion::{Completion, Ended};
use crate::config;
use crate::pool::{self, Job};
use crate::scope::{Scope, ScopedJoinHandle};

/// A unique identifier for a spawned thread, never reused within one program run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    fn next() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        // 2^64 spawns cannot happen; saturating keeps this panic-free all the same.
        ThreadId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MAX))
    }

    /// The id as a number (std keeps this unstable; it is handy in the browser's console).
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

pub(crate) struct Inner {
    id: ThreadId,
    name: Option<String>,
    pub(crate) completion: Completion,
}

impl Inner {
    pub(crate) fn name_for_messages(&self) -> &str {
        self.name.as_deref().unwrap_or("<unnamed>")
    }
}

/// A handle to a thread: its id and name.
#[derive(Clone)]
pub struct Thread {
    pub(crate) inner: Arc<Inner>,
}

impl Thread {
    /// The thread's unique id.
    pub fn id(&self) -> ThreadId {
        self.inner.id
    }

    /// The name given with `Builder::name`, if any.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

std::thread_local! {
    // The spawned thread running on this worker right now. Reset after every job, because a
    // worker runs many spawns one after another and each must look like a fresh thread.
    static CURRENT: RefCell<Option<Arc<Inner>>> = const { RefCell::new(None) };
    // Identity of a thread that was not spawned by wbspawn (the app's own thread).
    static UNSPAWNED: Arc<Inner> = Arc::new(Inner {
        id: ThreadId::next(),
        name: None,
        completion: Completion::new(),
    });
}

pub(crate) fn set_current(thread: Option<Arc<Inner>>) {
    CURRENT.with(|current| *current.borrow_mut() = thread);
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn take_current() -> Option<Arc<Inner>> {
    CURRENT.with(|current| current.borrow_mut().take())
}

/// The spawned thread running here, if this is one (the panic hook's question).
pub(crate) fn current_spawned() -> Option<Arc<Inner>> {
    CURRENT
        .try_with(|current| current.try_borrow().ok().and_then(|c| c.clone()))
        .ok()
        .flatten()
}

/// The thread this code runs on.
pub fn current() -> Thread {
    let inner = current_spawned().unwrap_or_else(|| UNSPAWNED.with(Arc::clone));
    Thread { inner }
}

/// What a thread's body left behind: its value, or the payload of the panic it caught.
pub(crate) type Slot<T> = Arc<Mutex<Option<std::thread::Result<T>>>>;

/// Why `join` returned no value.
pub enum JoinError {
    /// The thread panicked. `message` is the panic's message, `location` its `file:line:column`.
    Panicked {
        /// The panic message (`panic!("...")`'s text).
        message: String,
        /// Where it panicked, when known.
        location: Option<String>,
        /// The value the thread panicked with, as `std::thread::JoinHandle::join` returns it.
        /// Only unwinding builds (and native hosts) have it: when panics abort, nothing of the
        /// thread survives but what the panic hook saw.
        payload: Option<Box<dyn Any + Send + 'static>>,
    },
    /// The thread's worker died without a Rust panic (a trap such as an out-of-bounds access or
    /// a failed allocation), or could not be started.
    Crashed(String),
}

impl JoinError {
    fn new(ended: Ended, payload: Option<Box<dyn Any + Send + 'static>>) -> JoinError {
        match ended {
            Ended::Panicked { message, location } => JoinError::Panicked {
                message,
                location,
                payload,
            },
            Ended::Crashed(why) => JoinError::Crashed(why),
            // The panic hook was replaced: only the caught payload tells what happened.
            Ended::Returned => JoinError::Panicked {
                message: payload
                    .as_deref()
                    .map(payload_message)
                    .unwrap_or("the thread finished without a result")
                    .to_string(),
                location: None,
                payload,
            },
        }
    }

    /// The panic message, or the description of the crash.
    pub fn message(&self) -> &str {
        match self {
            JoinError::Panicked { message, .. } | JoinError::Crashed(message) => message,
        }
    }

    /// The panic's payload, where the build unwinds (see [`JoinError::Panicked`]).
    pub fn into_payload(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            JoinError::Panicked { payload, .. } => payload,
            JoinError::Crashed(_) => None,
        }
    }
}

/// A panic payload's text, as std's default hook shows it.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>")
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked {
                message,
                location,
                payload,
            } => f
                .debug_struct("Panicked")
                .field("message", message)
                .field("location", location)
                .field("payload", &payload.as_ref().map(|_| "Box<dyn Any + Send>"))
                .finish(),
            JoinError::Crashed(why) => f.debug_tuple("Crashed").field(why).finish(),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked {
                message,
                location: Some(location),
                ..
            } => write!(f, "thread panicked at {location}: {message}"),
            JoinError::Panicked { message, .. } => write!(f, "thread panicked: {message}"),
            JoinError::Crashed(why) => write!(f, "thread crashed: {why}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// An owned permission to join a thread (wait for it to finish and take its result).
///
/// Dropping it detaches the thread, which then runs to completion on its own.
pub struct JoinHandle<T> {
    pub(crate) thread: Thread,
    result: Slot<T>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish. `Err` if it panicked, with the panic message.
    ///
    /// This blocks (`Atomics.wait`), which browsers allow in workers only: call it from the
    /// app's worker or from another spawned thread, never from a page's main thread.
    pub fn join(self) -> Result<T, JoinError> {
        crate::platform::check_can_wait(self.is_finished());
        let ended = self.thread.inner.completion.wait();
        // The body fills the slot before the thread is marked finished.
        let slot = self
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (ended, slot) {
            (Ended::Returned, Some(Ok(value))) => Ok(value),
            (ended, slot) => Err(JoinError::new(ended, slot.and_then(Result::err))),
        }
    }

    /// Waits for the thread without blocking: a future that resolves to what `join` returns.
    ///
    /// In the browser it sleeps in `Atomics.waitAsync`, so it may be awaited where blocking is
    /// not allowed (a page's main thread) or not wanted (an async export that should let the
    /// app's worker handle other calls meanwhile).
    pub fn join_async(self) -> JoinFuture<T> {
        JoinFuture { handle: Some(self) }
    }

    /// Whether the thread has finished (returned, panicked or crashed). Does not block.
    pub fn is_finished(&self) -> bool {
        self.thread.inner.completion.is_finished()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`JoinHandle::join_async`].
#[derive(Debug)]
pub struct JoinFuture<T> {
    handle: Option<JoinHandle<T>>,
}

impl<T> Future for JoinFuture<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // JoinFuture is Unpin: it holds only Arcs.
        let this = self.get_mut();
        let Some(handle) = this.handle.take() else {
            panic!("JoinFuture polled after it completed");
        };
        if handle.is_finished() {
            return Poll::Ready(handle.join());
        }
        // If the thread finishes between the check and the registration, the wait sees the
        // changed word and wakes at once.
        crate::platform::wake_when_finished(&handle.thread.inner, cx.waker().clone());
        this.handle = Some(handle);
        Poll::Pending
    }
}

/// Thread factory, as `std::thread::Builder`: a name and a stack size.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
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

    /// Spawns the thread. Fails for a name with a NUL byte or a stack above 256 MiB.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: `f` and `T` borrow nothing that could go away.
        unsafe { self.spawn_unchecked(f) }
    }

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
        // SAFETY: `scope()` does not return before every thread registered here finished.
        let handle = unsafe { self.spawn_unchecked(f) }?;
        Ok(scope.register(handle))
    }

    /// # Safety
    /// The thread must finish before anything `f` or `T` borrows goes away.
    unsafe fn spawn_unchecked<'a, F, T>(self, f: F) -> io::Result<JoinHandle<T>>
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
        if self
            .stack_size
            .is_some_and(|size| size > config::MAX_STACK_SIZE)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "stack size above the {} MiB limit",
                    config::MAX_STACK_SIZE >> 20
                ),
            ));
        }
        crate::panic::install_hook();
        let inner = Arc::new(Inner {
            id: ThreadId::next(),
            name: self.name,
            completion: Completion::new(),
        });
        let result: Slot<T> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&result);
        let run: Box<dyn FnOnce() + Send + 'a> = Box::new(move || {
            // Catches nothing when panics abort; in unwinding builds the worker survives the
            // panic, the thread's locks are released (and poisoned) and `join` gets the payload.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(f));
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        });
        // SAFETY: only the lifetime changes; the caller guarantees the thread ends in time
        // (the same erasure std's scoped threads do).
        let run: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(run) };
        let job = Job {
            run,
            thread: Arc::clone(&inner),
        };
        pool::submit(job, config::stack_for(self.stack_size));
        Ok(JoinHandle {
            thread: Thread { inner },
            result,
        })
    }
}

/// Spawns a thread running `f` and returns its `JoinHandle`, as `std::thread::spawn`.
///
/// The thread starts on an idle pool worker at once, or on a new worker as soon as the dispatcher
/// has booted one. Beyond the worker cap (128 by default) it waits in a queue for a worker to come
/// free; if every worker is itself blocked waiting for a queued thread, that wait never ends.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        // Only a bad name or stack size fails, and `spawn` sets neither.
        Err(error) => panic!("failed to spawn thread: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Barrier, Condvar};

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
    fn many_sequential_spawns_reuse_workers() {
        for i in 0..200u32 {
            assert_eq!(spawn(move || i + 1).join().unwrap(), i + 1);
        }
        assert!(crate::pool_stats().live <= config::max_workers());
    }
}
