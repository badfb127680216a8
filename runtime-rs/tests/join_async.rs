//! `join_async` keeps one waiter per handle and drops it with the future. A test binary of its
//! own with a single test: the waiter count is process-wide.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

struct Nothing;

impl Wake for Nothing {
    fn wake(self: Arc<Self>) {}
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
// In the browser a waiter goes when its thread's event loop runs, which a test that blocks
// (as this one must, to look) never lets it do.
#[cfg_attr(
    target_arch = "wasm32",
    ignore = "a dropped waiter goes on the thread's event loop, which a blocking test never runs"
)]
fn join_async_waiters() {
    one_waiter_however_often_polled_none_once_dropped();
    a_finished_future_leaves_no_waiter();
}

fn one_waiter_however_often_polled_none_once_dropped() {
    let waker = Waker::from(Arc::new(Nothing));
    let mut cx = Context::from_waker(&waker);
    let (tx, rx) = mpsc::channel::<()>();
    let mut future = wbspawn::spawn(move || rx.recv().unwrap()).join_async();
    for _ in 0..200 {
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
    }
    assert_eq!(wbspawn::join_async_waiters(), 1);
    // A future dropped before its thread ends releases its waiter at once, not when (or if)
    // the thread ends.
    drop(future);
    eventually("the waiter to go", || wbspawn::join_async_waiters() == 0);
    tx.send(()).unwrap();
}

fn a_finished_future_leaves_no_waiter() {
    let waker = Waker::from(Arc::new(Nothing));
    let mut cx = Context::from_waker(&waker);
    let (tx, rx) = mpsc::channel::<u8>();
    let mut future = wbspawn::spawn(move || rx.recv().unwrap() + 1).join_async();
    assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
    tx.send(6).unwrap();
    let value = loop {
        if let Poll::Ready(value) = Pin::new(&mut future).poll(&mut cx) {
            break value;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(value.unwrap(), 7);
    eventually("the waiter to go", || wbspawn::join_async_waiters() == 0);
}
