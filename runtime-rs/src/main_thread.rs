//! Running a closure on the page's main thread from any thread, for an app whose instance runs
//! on the page (`start(..., {mode: "main"})`): a worker cannot touch the DOM or a JS object that
//! lives on the page, and a UI framework's state often lives there too.
//!
//! Calls queue in shared memory and bump a word the page waits on with `Atomics.waitAsync`
//! between its tasks (app-worker.js, `pumpMainCalls`); the page then runs them in order. A
//! main thread that is itself waiting (spinning, wait.rs) for the very thread that called
//! would never get back to its event loop, so its spin runs queued calls too, as Emscripten's
//! main thread runs proxied calls while it waits; only not while it holds one of the runtime's
//! own locks, which a call might need.
//!
//! A call that panics on the page is reported to its caller, which panics with its message (as
//! `join().unwrap()` would); with panics that abort the page's instance trapped, and the page
//! says so (`__wbspawn_main_call_died`).

// The page calls in here (js_exports.rs); a native host has no page, and runs the logic in the
// tests below.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use crate::completion::{Completion, Ended};
use crate::platform::Waiter;

/// A queued call, its closure and result type erased.
trait Call: Send + Sync {
    /// Runs the closure (on the page's thread) and finishes the call.
    fn run(&self);
    /// The page's instance trapped while running it: finishes the call as failed.
    fn died(&self, why: &str);
}

struct Typed<R> {
    job: Mutex<Option<Box<dyn FnOnce() -> R + Send>>>,
    result: Mutex<Option<Result<R, String>>>,
    completion: Completion,
}

impl<R: Send> Call for Typed<R> {
    fn run(&self) {
        let job = self
            .job
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(job) = job else { return };
        // Caught where panics unwind; where they abort, the page's instance traps and the page
        // reports it (`died`).
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
            .map_err(|payload| crate::join::payload_message(payload.as_ref()).to_string());
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        self.completion.finish(Ended::Returned);
    }

    fn died(&self, why: &str) {
        let mut result = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        if result.is_none() {
            *result = Some(Err(why.to_string()));
        }
        drop(result);
        self.completion.finish(Ended::Returned);
    }
}

impl<R> Typed<R> {
    fn take(&self) -> R {
        let result = self
            .result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match result {
            Some(Ok(value)) => value,
            Some(Err(message)) => panic!("the closure run on the main thread panicked: {message}"),
            None => unreachable!("a finished call has its result"),
        }
    }
}

static QUEUE: Mutex<VecDeque<Arc<dyn Call>>> = Mutex::new(VecDeque::new());
/// Bumped for every queued call; the page `Atomics.waitAsync`s on it.
static SIGNAL: AtomicU32 = AtomicU32::new(0);
/// Calls queued and not yet taken: the page's spin looks here before it takes the lock.
static WAITING: AtomicU32 = AtomicU32::new(0);
/// Set once the page takes calls (mode "main"); before, nobody would run one.
static PUMPING: AtomicBool = AtomicBool::new(false);
/// The calls the page is running now, innermost last (a call's own wait may run another).
static RUNNING: Mutex<Vec<Arc<dyn Call>>> = Mutex::new(Vec::new());

/// Whether the current thread is the page's main thread (an app started with mode "main").
pub fn is_main_thread() -> bool {
    crate::platform::on_page()
}

/// Runs `f` on the page's main thread and returns its value; the calling thread waits
/// (on the main thread itself, `f` simply runs). For an app started with
/// `start(pkgUrl, { mode: "main" })`, whose page owns the DOM and the JS objects a worker
/// cannot reach.
///
/// # Panics
/// If the app's instance does not run on the page (worker mode: nobody would run `f`), or if
/// `f` panicked there (with its message).
pub fn run_on_main_thread<F, R>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if is_main_thread() {
        return f();
    }
    let call = queue(Box::new(f));
    call.completion.wait();
    call.take()
}

/// Runs `f` on the page's main thread; the future resolves with its value and never blocks
/// (it waits with `Atomics.waitAsync`, as `JoinHandle::join_async` does). On the main thread
/// itself, `f` runs when the future is first polled.
///
/// # Panics
/// As [`run_on_main_thread`]; the future panics when polled.
pub fn run_on_main_thread_async<F, R>(f: F) -> MainThreadFuture<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    MainThreadFuture {
        state: FutureState::Unsent(Some(Box::new(f))),
    }
}

/// The future returned by [`run_on_main_thread_async`].
pub struct MainThreadFuture<R> {
    state: FutureState<R>,
}

enum FutureState<R> {
    Unsent(Option<Box<dyn FnOnce() -> R + Send>>),
    Sent {
        call: Arc<Typed<R>>,
        waiter: Option<Waiter>,
    },
}

impl<R> std::fmt::Debug for MainThreadFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sent = matches!(self.state, FutureState::Sent { .. });
        f.debug_struct("MainThreadFuture")
            .field("sent", &sent)
            .finish()
    }
}

// Boxes and Arcs only: nothing in it is pinned.
impl<R> Unpin for MainThreadFuture<R> {}

// The closure runs once: on the page under `catch_unwind`, or, on the main thread itself,
// taken out of the future first, so a panic leaves the future finished and nothing
// half-changed. Without this an unwinding build could not await it in an async export
// (wasm-bindgen asks for an unwind-safe future there).
impl<R> std::panic::UnwindSafe for MainThreadFuture<R> {}
impl<R> std::panic::RefUnwindSafe for MainThreadFuture<R> {}

impl<R: Send + 'static> Future for MainThreadFuture<R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        if let FutureState::Unsent(job) = &mut this.state {
            let Some(job) = job.take() else {
                panic!("MainThreadFuture polled after it completed");
            };
            if is_main_thread() {
                return Poll::Ready(job());
            }
            this.state = FutureState::Sent {
                call: queue(job),
                waiter: None,
            };
        }
        let FutureState::Sent { call, waiter } = &mut this.state else {
            unreachable!("sent above");
        };
        if call.completion.wake_when_finished(cx.waker()) {
            return Poll::Ready(call.take());
        }
        match waiter {
            Some(waiter) => waiter.set_waker(cx.waker()),
            None => {
                let (word, running) = call.completion.word();
                let keep: Arc<dyn Send + Sync> = call.clone();
                // SAFETY: `keep` owns the word; if the call finishes between the check above
                // and this, the wait sees the changed word and wakes at once.
                *waiter =
                    Some(unsafe { Waiter::register(word, running, cx.waker().clone(), keep) });
            }
        }
        Poll::Pending
    }
}

impl<R> Drop for MainThreadFuture<R> {
    fn drop(&mut self) {
        if let FutureState::Sent { call, .. } = &self.state {
            call.completion.forget_waker();
        }
    }
}

fn queue<R: Send + 'static>(job: Box<dyn FnOnce() -> R + Send>) -> Arc<Typed<R>> {
    assert!(
        PUMPING.load(Ordering::Acquire),
        "wbspawn: run_on_main_thread needs the app's instance on the page: start it with \
         start(pkgUrl, {{ mode: \"main\" }}) (in worker mode there is no main thread to run it)"
    );
    let call = Arc::new(Typed {
        job: Mutex::new(Some(job)),
        result: Mutex::new(None),
        completion: Completion::new(),
    });
    QUEUE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push_back(call.clone());
    WAITING.fetch_add(1, Ordering::SeqCst);
    SIGNAL.fetch_add(1, Ordering::SeqCst);
    crate::platform::notify_word(&SIGNAL);
    call
}

/// The page takes calls from now on; the address of the word it waits on.
pub(crate) fn start_pumping() -> u32 {
    PUMPING.store(true, Ordering::Release);
    SIGNAL.as_ptr() as usize as u32
}

/// Runs every queued call, in order (on the page's thread). From a spin: only when no call is
/// queued would it not take a lock, and it never waits for the queue's (`try_lock`).
pub(crate) fn run_queued(from_a_wait: bool) {
    if WAITING.load(Ordering::Acquire) == 0 {
        return;
    }
    if from_a_wait && crate::locks::held() > 0 {
        return;
    }
    loop {
        let next = match QUEUE.try_lock() {
            Ok(mut queue) => queue.pop_front(),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner().pop_front(),
            Err(std::sync::TryLockError::WouldBlock) if from_a_wait => return,
            Err(std::sync::TryLockError::WouldBlock) => QUEUE
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front(),
        };
        let Some(call) = next else { return };
        WAITING.fetch_sub(1, Ordering::SeqCst);
        running().push(call.clone());
        call.run();
        running().pop();
    }
}

fn running() -> std::sync::MutexGuard<'static, Vec<Arc<dyn Call>>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The page's instance trapped while running calls (a panic that aborts): each call it was
/// running fails with `why`, so its caller does not wait for good.
pub(crate) fn calls_died(why: &str) {
    let dead: Vec<_> = running().drain(..).collect();
    for call in dead {
        call.died(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};
    use std::thread;

    // The test thread plays the page: it runs queued calls until `caller` ends.
    fn serve_until_done<T>(caller: thread::JoinHandle<T>) -> thread::Result<T> {
        while !caller.is_finished() {
            run_queued(false);
            thread::yield_now();
        }
        caller.join()
    }

    #[test]
    fn a_thread_gets_what_the_main_thread_computed() {
        start_pumping();
        let caller = thread::spawn(|| run_on_main_thread(|| 6 * 7));
        assert_eq!(serve_until_done(caller).unwrap(), 42);
    }

    #[test]
    fn calls_run_in_the_order_they_were_made() {
        start_pumping();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let caller = thread::spawn(|| {
            (0..5)
                .map(|_| run_on_main_thread(|| NEXT.fetch_add(1, Ordering::SeqCst)))
                .collect::<Vec<_>>()
        });
        let seen = serve_until_done(caller).unwrap();
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }

    #[test]
    fn a_panic_on_the_main_thread_reaches_its_caller() {
        start_pumping();
        let caller = thread::spawn(|| run_on_main_thread(|| -> u32 { panic!("no DOM here") }));
        let payload = serve_until_done(caller).unwrap_err();
        let message = crate::join::payload_message(payload.as_ref()).to_string();
        assert!(
            message.contains("main thread panicked: no DOM here"),
            "{message}"
        );
    }

    struct Unpark(thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    #[test]
    fn the_future_resolves_with_the_value() {
        start_pumping();
        let caller = thread::spawn(|| {
            let mut future = run_on_main_thread_async(|| "from the page".to_string());
            let waker = Waker::from(Arc::new(Unpark(thread::current())));
            let mut cx = Context::from_waker(&waker);
            loop {
                if let Poll::Ready(value) = Pin::new(&mut future).poll(&mut cx) {
                    return value;
                }
                thread::park();
            }
        });
        assert_eq!(serve_until_done(caller).unwrap(), "from the page");
    }

    #[test]
    fn a_call_whose_instance_died_fails_its_caller() {
        let call = Arc::new(Typed::<u32> {
            job: Mutex::new(None),
            result: Mutex::new(None),
            completion: Completion::new(),
        });
        running().push(call.clone());
        calls_died("RuntimeError: unreachable");
        call.completion.wait();
        let payload =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.take())).unwrap_err();
        let message = crate::join::payload_message(payload.as_ref()).to_string();
        assert!(message.ends_with("RuntimeError: unreachable"), "{message}");
    }
}
