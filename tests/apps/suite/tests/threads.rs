//! Integration tests of the threaded code: every one passes, except the one that hangs on
//! purpose (ignored unless asked for).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn spawn_and_join() {
    let handle = thread::spawn(|| 6 * 7);
    assert_eq!(handle.join().unwrap(), 42);
}

#[test]
fn channels_between_many_threads() {
    let (tx, rx) = mpsc::channel();
    for i in 0..16u64 {
        let tx = tx.clone();
        thread::spawn(move || tx.send(i).unwrap());
    }
    drop(tx);
    assert_eq!(rx.iter().sum::<u64>(), 120);
}

#[test]
fn recv_timeout_times_out() {
    let (_tx, rx) = mpsc::channel::<()>();
    let started = Instant::now();
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn scoped_threads_borrow() {
    let mut counts = [0u32; 4];
    thread::scope(|scope| {
        for (i, count) in counts.iter_mut().enumerate() {
            scope.spawn(move || *count = i as u32 * 10);
        }
    });
    assert_eq!(counts, [0, 10, 20, 30]);
}

#[test]
fn a_barrier_and_a_mutex() {
    let barrier = Arc::new(Barrier::new(3));
    let total = Arc::new(Mutex::new(0));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let (barrier, total) = (Arc::clone(&barrier), Arc::clone(&total));
            thread::spawn(move || {
                barrier.wait();
                *total.lock().unwrap() += i;
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(*total.lock().unwrap(), 3);
}

#[test]
fn rayon_pool() {
    let seen = AtomicUsize::new(0);
    rayon::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|_| {
                seen.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(seen.load(Ordering::Relaxed), 8);
    assert_eq!(suite::parallel_sum(&[1, 2, 3]), 6);
}

#[test]
fn sleeps_at_least_as_long_as_asked() {
    let started = Instant::now();
    thread::sleep(Duration::from_millis(30));
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[test]
#[ignore = "hangs on purpose: wbspawn test --timeout names it"]
fn hangs_forever() {
    let (_tx, rx) = mpsc::channel::<()>();
    rx.recv().unwrap();
}
