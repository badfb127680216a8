//! Waiting for a thread: `JoinHandle`, its future, and `JoinError`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::activity::Doing;
use crate::completion::{Ended, Outcome};
use crate::platform::Waiter;
use crate::record::{Record, Thread};

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
    /// The thread's worker died without a Rust panic (a trap such as an out-of-bounds access,
    /// a stack overflow or a failed allocation), or could not be started.
    Crashed(String),
}

impl JoinError {
    fn new(outcome: Outcome, payload: Option<Box<dyn Any + Send + 'static>>) -> JoinError {
        let report = outcome.last_panic;
        match (outcome.ended, payload) {
            // The panic that escaped the body: its payload says what it was, the hook where.
            (_, Some(payload)) => JoinError::Panicked {
                message: payload_message(&*payload).to_string(),
                location: report.and_then(|report| report.location),
                payload: Some(payload),
            },
            (
                Ended::Died {
                    panicked: true,
                    why,
                },
                None,
            ) => match report {
                Some(report) => JoinError::Panicked {
                    message: report.message,
                    location: report.location,
                    payload: None,
                },
                None => JoinError::Crashed(why),
            },
            (Ended::Died { why, .. }, None) => JoinError::Crashed(why),
            (Ended::Returned, None) => {
                JoinError::Crashed("the thread ended without a result".to_string())
            }
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

/// Waits until the thread has ended. Panics with an explanation instead of waiting forever
/// for a thread that can never start (no dispatcher: the app was not started through the
/// bootstrap).
pub(crate) fn wait_for(record: &Record) -> Outcome {
    if !record.completion.is_finished() && !crate::platform::dispatcher_running() {
        panic!(
            "wbspawn: join would wait forever because no dispatcher has started; start the app \
             with start() from wbspawn's bootstrap.js"
        );
    }
    let joining = Doing::Joining(record.id.as_u64().get());
    let noted = crate::current::with_activity(|activity| activity.begin(joining)).unwrap_or(false);
    let outcome = record.completion.wait();
    if noted {
        crate::current::with_activity(|activity| activity.set(Doing::Running));
    }
    outcome
}

/// An owned permission to join a thread (wait for it to finish and take its result).
///
/// Dropping it detaches the thread, which then runs to completion on its own.
pub struct JoinHandle<T> {
    pub(crate) thread: Thread,
    result: Slot<T>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(record: Arc<Record>, result: Slot<T>) -> JoinHandle<T> {
        JoinHandle {
            thread: Thread { record },
            result,
        }
    }

    /// Waits for the thread to finish. `Err` if it panicked, with the panic message.
    ///
    /// This blocks (`Atomics.wait`), which browsers allow in workers only. On the page's main
    /// thread (an app started with `mode: "main"`) it spins instead, and the page stands still
    /// until the thread ends: await [`join_async`](Self::join_async) there.
    pub fn join(self) -> Result<T, JoinError> {
        let record = &self.thread.record;
        let outcome = wait_for(record);
        // The body fills the slot before the thread is marked finished.
        let slot = self
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match slot {
            Some(Ok(value)) => Ok(value),
            Some(Err(payload)) => Err(JoinError::new(outcome, Some(payload))),
            None => Err(JoinError::new(outcome, None)),
        }
    }

    /// Waits for the thread without blocking: a future that resolves to what `join` returns.
    ///
    /// In the browser it sleeps in `Atomics.waitAsync`, so it may be awaited where blocking is
    /// not allowed (a page's main thread) or not wanted (an async export that should let the
    /// app's worker handle other calls meanwhile). However often it is polled, it keeps one
    /// waiter; dropping it releases that waiter.
    pub fn join_async(self) -> JoinFuture<T> {
        JoinFuture {
            waiter: None,
            handle: Some(self),
        }
    }

    /// Whether the thread has finished (returned, panicked or crashed). Does not block.
    pub fn is_finished(&self) -> bool {
        self.thread.record.completion.is_finished()
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
pub struct JoinFuture<T> {
    // Declared first: dropped before the handle, while the record it watches is still held.
    waiter: Option<Waiter>,
    handle: Option<JoinHandle<T>>,
}

impl<T> fmt::Debug for JoinFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFuture")
            .field("handle", &self.handle)
            .field("waiting", &self.waiter.is_some())
            .finish()
    }
}

// Only handles, a waiter and Arcs: nothing in it is pinned.
impl<T> Unpin for JoinFuture<T> {}

impl<T> Future for JoinFuture<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(handle) = this.handle.as_ref() else {
            panic!("JoinFuture polled after it completed");
        };
        // Woken by the finishing thread itself, and by `Atomics.waitAsync` on the event loop.
        if handle
            .thread
            .record
            .completion
            .wake_when_finished(cx.waker())
        {
            this.waiter = None;
            let Some(handle) = this.handle.take() else {
                unreachable!("checked above");
            };
            return Poll::Ready(handle.join());
        }
        match &this.waiter {
            Some(waiter) => waiter.set_waker(cx.waker()),
            None => {
                let record = Arc::clone(&handle.thread.record);
                let (word, running) = record.completion.word();
                // SAFETY: `record`, moved into the waiter, owns the word. If the thread
                // finishes between the check above and this, the wait sees the changed word
                // and wakes at once.
                let waiter =
                    unsafe { Waiter::register(word, running, cx.waker().clone(), record.clone()) };
                this.waiter = Some(waiter);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for JoinFuture<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.thread.record.completion.forget_waker();
        }
    }
}

/// How many `join_async` waiters exist right now (one per pending `JoinFuture` at most).
#[doc(hidden)]
pub fn join_async_waiters() -> usize {
    crate::platform::LIVE_WAITERS.load(std::sync::atomic::Ordering::Relaxed)
}
