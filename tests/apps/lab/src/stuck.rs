//! Threads that wait on each other for good, and threads caught mid-wait: what the thread
//! inspector's table and the runtime's deadlock watch show (test_runtime_inspect.py).

use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use wasm_bindgen::prelude::*;

/// 'ping' joins 'pong', which joins 'ping': neither ever ends. Returns at once.
#[wasm_bindgen]
pub fn join_cycle() {
    let (to_ping, pongs) = mpsc::channel::<thread::JoinHandle<()>>();
    let ping = thread::Builder::new()
        .name("ping".into())
        .spawn(move || {
            if let Ok(pong) = pongs.recv() {
                let _ = pong.join();
            }
        })
        .expect("spawn ping");
    let pong = thread::Builder::new()
        .name("pong".into())
        .spawn(move || {
            let _ = ping.join();
        })
        .expect("spawn pong");
    to_ping.send(pong).expect("ping waits for pong's handle");
}

/// 'a-then-b' locks A then B, 'b-then-a' B then A, each after the other has its first: they
/// wait for each other's lock for good. With `then_join`, the caller joins the first of them
/// (and never returns); without, it returns at once.
#[wasm_bindgen]
pub fn lock_order_deadlock(then_join: bool) {
    let a = Arc::new(Mutex::new(()));
    let b = Arc::new(Mutex::new(()));
    let both_hold_one = Arc::new(Barrier::new(2));
    let locker = |name: &str, first: &Arc<Mutex<()>>, second: &Arc<Mutex<()>>| {
        let (first, second, both) = (first.clone(), second.clone(), both_hold_one.clone());
        thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _held = first.lock();
                both.wait();
                let _never = second.lock();
            })
            .expect("spawn a locker")
    };
    let a_then_b = locker("a-then-b", &a, &b);
    let _b_then_a = locker("b-then-a", &b, &a);
    if then_join {
        let _ = a_then_b.join();
    }
}

/// A thread per state the table tells apart, each holding it until `release_states` lets
/// it go: 'holder' takes a lock and waits on a channel, 'locker' waits for that lock, 'sleeper'
/// sleeps, 'joiner' joins 'sleeper'. Returns once all four are in their waits.
#[wasm_bindgen]
pub fn hold_states() {
    static HELD: Mutex<()> = Mutex::new(());
    let (release, receiving) = mpsc::channel::<()>();
    let (held, holding) = mpsc::channel::<()>();
    let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
        thread::Builder::new()
            .name(name.into())
            .spawn(body)
            .expect("spawn a waiter")
    };
    spawn(
        "holder",
        Box::new(move || {
            let _held = HELD.lock();
            let _ = held.send(());
            let _ = receiving.recv();
        }),
    );
    let _ = holding.recv();
    spawn(
        "locker",
        Box::new(|| {
            let _unused = HELD.lock();
        }),
    );
    let sleeper = spawn(
        "sleeper",
        Box::new(|| thread::sleep(Duration::from_secs(3))),
    );
    spawn(
        "joiner",
        Box::new(move || {
            let _ = sleeper.join();
        }),
    );
    // Long enough for every thread to start and settle into its wait.
    thread::sleep(Duration::from_millis(400));
    *RELEASE.lock().expect("the lab's lock") = Some(release);
}

static RELEASE: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

/// Lets `hold_states`'s threads go.
#[wasm_bindgen]
pub fn release_states() {
    drop(RELEASE.lock().expect("the lab's lock").take());
}
