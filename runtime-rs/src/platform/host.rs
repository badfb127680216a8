//! Native threads stand in for Web Workers, and the dispatcher is a plain function call.

use std::panic::PanicHookInfo;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::task::Waker;

use crate::pool;
use crate::thread::Inner;

/// Serves every pending boot request at once with a native thread.
pub(crate) fn wake_dispatcher() {
    while let Some(request) = pool::take_boot_request() {
        let worker = std::thread::Builder::new()
            .name("wbspawn-worker".to_string())
            .stack_size(request.stack_size as usize);
        // The request moves into the thread; keep what a failure report needs.
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = worker.spawn(move || {
            if let Ok(request) = rx.recv() {
                pool::run_worker(request);
            }
        });
        match spawned {
            Ok(_) => {
                if let Err(std::sync::mpsc::SendError(request)) = tx.send(request) {
                    pool::boot_failed(request, "the worker thread exited at start");
                }
            }
            Err(error) => pool::boot_failed(request, &error.to_string()),
        }
    }
}

pub(crate) fn notify_word(_word: &AtomicU32) {}

/// A native thread stands in for `Atomics.waitAsync`.
pub(crate) fn wake_when_finished(thread: &Arc<Inner>, waker: Waker) {
    let thread = Arc::clone(thread);
    std::thread::spawn(move || {
        // The outcome itself is read by the future once it is polled again.
        let _ = thread.completion.wait();
        waker.wake();
    });
}

pub(crate) fn check_can_wait(_finished: bool) {}

pub(crate) fn record_panic(_message: &str, _info: &PanicHookInfo<'_>) {}

pub(crate) fn report_thread_panic(
    _name: &str,
    _message: &str,
    _location: Option<&str>,
    previous: impl FnOnce(),
) {
    previous();
}
