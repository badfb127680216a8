//! The rest of std that threaded code touches, beyond threads: the clock and everything that
//! waits with a timeout, standard output and error, the program's arguments and its end, and
//! what a browser cannot do (files, sockets, processes).

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasm_bindgen::prelude::*;

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

// --- time -------------------------------------------------------------------------------------

/// `Instant::elapsed` around a `thread::sleep(ms)` on a spawned thread, in ms.
#[wasm_bindgen]
pub fn instant_around_sleep(sleep_ms: u32) -> f64 {
    thread::spawn(move || {
        let start = Instant::now();
        thread::sleep(Duration::from_millis(u64::from(sleep_ms)));
        ms(start.elapsed())
    })
    .join()
    .unwrap()
}

/// Instants handed between threads in a relay of `hops` threads, each reading the clock after
/// the one before: how many readings were earlier than the one before them (0 on one clock).
#[wasm_bindgen]
pub fn instants_across_threads(hops: u32) -> u32 {
    let mut last = Instant::now();
    let mut backwards = 0;
    for _ in 0..hops {
        let before = last;
        let (now, went_back) = thread::spawn(move || {
            let now = Instant::now();
            (now, now < before)
        })
        .join()
        .unwrap();
        backwards += u32::from(went_back || Instant::now() < now);
        last = now;
    }
    backwards
}

/// Threads reading the clock as fast as they can for a while, each checking that it never
/// goes back: `[readings, readings that went back, distinct readings]`.
#[wasm_bindgen]
pub fn clock_monotonic_under_load(threads: u32, millis: u32) -> Vec<f64> {
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let (mut readings, mut back, mut distinct) = (0u64, 0u64, 0u64);
                let mut last = start;
                while start.elapsed() < Duration::from_millis(u64::from(millis)) {
                    let now = Instant::now();
                    readings += 1;
                    back += u64::from(now < last);
                    distinct += u64::from(now > last);
                    last = now;
                }
                (readings, back, distinct)
            })
        })
        .collect();
    let (mut readings, mut back, mut distinct) = (0, 0, 0);
    for handle in handles {
        let (r, b, d) = handle.join().unwrap();
        readings += r;
        back += b;
        distinct += d;
    }
    vec![readings as f64, back as f64, distinct as f64]
}

/// The smallest step between two different `Instant` readings seen in `samples`, in µs.
#[wasm_bindgen]
pub fn clock_resolution_us(samples: u32) -> f64 {
    let mut smallest = Duration::MAX;
    let mut last = Instant::now();
    for _ in 0..samples {
        let now = Instant::now();
        if now > last {
            smallest = smallest.min(now - last);
            last = now;
        }
    }
    smallest.as_secs_f64() * 1e6
}

/// `SystemTime::now()` since the Unix epoch, in ms (the page compares it with Date.now()).
#[wasm_bindgen]
pub fn system_time_ms() -> f64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    ms(since)
}

/// A `recv_timeout(ms)` nobody sends to, on a spawned thread: `[timed out, waited ms]`.
#[wasm_bindgen]
pub fn recv_timeout(timeout_ms: u32) -> Vec<f64> {
    thread::spawn(move || {
        let (_tx, rx) = mpsc::channel::<u32>();
        let start = Instant::now();
        let timed_out = rx.recv_timeout(Duration::from_millis(u64::from(timeout_ms)))
            == Err(RecvTimeoutError::Timeout);
        vec![f64::from(u8::from(timed_out)), ms(start.elapsed())]
    })
    .join()
    .unwrap()
}

/// `Condvar::wait_timeout_while` on a condition nobody makes true: `[timed out, waited ms]`.
/// On the app's own thread (`on_app_thread`) or a spawned one.
#[wasm_bindgen]
pub fn condvar_wait_timeout_while(timeout_ms: u32, on_app_thread: bool) -> Vec<f64> {
    let wait = move || {
        let pair = (Mutex::new(false), Condvar::new());
        let start = Instant::now();
        let guard = pair.0.lock().unwrap();
        let (_guard, result) = pair
            .1
            .wait_timeout_while(
                guard,
                Duration::from_millis(u64::from(timeout_ms)),
                |ready| !*ready,
            )
            .unwrap();
        vec![f64::from(u8::from(result.timed_out())), ms(start.elapsed())]
    };
    if on_app_thread {
        wait()
    } else {
        thread::spawn(wait).join().unwrap()
    }
}

/// The shape that hung before the clock existed: a spawned thread waits (with a timeout) for
/// a flag the app's thread sets after `after_ms`, under the same lock. `Instant::now` panicked
/// inside `wait_timeout_while` with that lock held, the dead thread never released it, and the
/// app's thread blocked on it forever instead of reaching the join. `[timed out, waited ms]`.
#[wasm_bindgen]
pub fn condvar_handshake(after_ms: u32) -> Vec<f64> {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let waiting = Arc::clone(&pair);
    let waiter = thread::spawn(move || {
        let start = Instant::now();
        let guard = waiting.0.lock().unwrap();
        let (_guard, result) = waiting
            .1
            .wait_timeout_while(guard, Duration::from_secs(30), |ready| !*ready)
            .unwrap();
        vec![f64::from(u8::from(result.timed_out())), ms(start.elapsed())]
    });
    thread::sleep(Duration::from_millis(u64::from(after_ms)));
    *pair.0.lock().unwrap() = true;
    pair.1.notify_one();
    waiter.join().unwrap()
}

/// `thread::park_timeout(ms)` with nobody unparking: the ms it took.
#[wasm_bindgen]
pub fn park_timeout(timeout_ms: u32) -> f64 {
    thread::spawn(move || {
        let start = Instant::now();
        thread::park_timeout(Duration::from_millis(u64::from(timeout_ms)));
        ms(start.elapsed())
    })
    .join()
    .unwrap()
}

/// crossbeam-channel's timers: `[after(ms) fired after ms, select! default(timeout) waited ms,
/// recv_timeout timed out (1), tick count in 5 ticks' time]`.
#[wasm_bindgen]
pub fn crossbeam_timeouts(timeout_ms: u32) -> Vec<f64> {
    use crossbeam_channel::{after, select, tick, unbounded, RecvTimeoutError};
    thread::spawn(move || {
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let start = Instant::now();
        after(timeout).recv().unwrap();
        let after_ms = ms(start.elapsed());

        let (_tx, rx) = unbounded::<u32>();
        let start = Instant::now();
        select! {
            recv(rx) -> _ => {},
            default(timeout) => {},
        }
        let select_ms = ms(start.elapsed());

        let timed_out = rx.recv_timeout(timeout) == Err(RecvTimeoutError::Timeout);

        let ticker = tick(timeout / 5);
        let stop = after(timeout + timeout / 10);
        let mut ticks = 0.0;
        loop {
            select! {
                recv(ticker) -> _ => ticks += 1.0,
                recv(stop) -> _ => break,
            }
        }
        vec![after_ms, select_ms, f64::from(u8::from(timed_out)), ticks]
    })
    .join()
    .unwrap()
}

/// parking_lot's timed lock and condvar: `[try_lock_for timed out (1), waited ms,
/// Condvar::wait_for timed out (1)]`.
#[wasm_bindgen]
pub fn parking_lot_timeouts(timeout_ms: u32) -> Vec<f64> {
    let lock = Arc::new(parking_lot::Mutex::new(0u32));
    let holder = Arc::clone(&lock);
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        let _guard = holder.lock();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    let timeout = Duration::from_millis(u64::from(timeout_ms));
    let waiter = Arc::clone(&lock);
    let (timed_out, waited) = thread::spawn(move || {
        let start = Instant::now();
        let got = waiter.try_lock_for(timeout).is_some();
        (!got, ms(start.elapsed()))
    })
    .join()
    .unwrap();
    release_tx.send(()).unwrap();
    handle.join().unwrap();
    let condvar_timed_out = thread::spawn(move || {
        let mutex = parking_lot::Mutex::new(());
        let condvar = parking_lot::Condvar::new();
        let mut guard = mutex.lock();
        condvar.wait_for(&mut guard, timeout).timed_out()
    })
    .join()
    .unwrap();
    vec![
        f64::from(u8::from(timed_out)),
        waited,
        f64::from(u8::from(condvar_timed_out)),
    ]
}

// --- output -----------------------------------------------------------------------------------

/// Prints from the app's thread and from `threads` named threads, `lines` lines each, in
/// every way std has: println!, a line in pieces under stdout's lock, eprint! and eprintln!
/// (pieces of one stderr line, which wbspawn keeps together per thread), dbg!, and
/// io::stdout()/stderr() writes. Each line says who wrote it and its number.
#[wasm_bindgen]
pub fn print_from_threads(threads: u32, lines: u32) {
    println!("main says hello");
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            thread::Builder::new()
                .name(format!("printer-{t}"))
                .spawn(move || {
                    for i in 0..lines {
                        match i % 4 {
                            0 => println!("printer-{t} line {i}"),
                            1 => {
                                // Pieces of one line under one lock, as on any platform: std's
                                // stdout is one buffer, and another thread's print! may come
                                // between two of this one's.
                                let mut out = std::io::stdout().lock();
                                write!(out, "printer-{t} ").unwrap();
                                write!(out, "line ").unwrap();
                                writeln!(out, "{i}").unwrap();
                            }
                            2 => {
                                let mut out = std::io::stdout();
                                writeln!(out, "printer-{t} line {i}").unwrap();
                            }
                            _ => {
                                let mut out = std::io::stdout().lock();
                                out.write_all(format!("printer-{t} line {i}\n").as_bytes())
                                    .unwrap();
                            }
                        }
                    }
                    eprint!("printer-{t} ");
                    eprintln!("done on stderr");
                    let mut err = std::io::stderr();
                    writeln!(err, "printer-{t} stderr write").unwrap();
                })
                .unwrap()
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let value = 6 * 7;
    dbg!(value);
    println!("main says goodbye");
}

/// Prints `text` without a newline on an unnamed thread that then ends: the line appears at
/// the thread's end. And `print!` then `flush()` on the app's thread.
#[wasm_bindgen]
pub fn print_unfinished(text: &str) {
    let owned = text.to_string();
    thread::spawn(move || print!("{owned}")).join().unwrap();
    print!("flushed by hand");
    std::io::stdout().flush().unwrap();
}

/// A named thread that panics (std prints the panic to stderr, once): its join's message.
#[wasm_bindgen]
pub fn panic_message_printed() -> String {
    thread::Builder::new()
        .name("loud".into())
        .spawn(|| -> u32 { panic!("printed once") })
        .unwrap()
        .join()
        .map_or_else(
            |payload| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            },
            |v| format!("returned {v}"),
        )
}

// --- the program ------------------------------------------------------------------------------

/// `std::env::args()`, as the program sees it: on the app's thread and on a spawned one.
#[wasm_bindgen]
pub fn args() -> Vec<String> {
    let here: Vec<String> = std::env::args().collect();
    let there: Vec<String> = thread::spawn(|| std::env::args().collect()).join().unwrap();
    assert_eq!(here, there, "every thread sees the same arguments");
    here
}

/// Prints a line, then `process::exit(code)`, from a spawned thread (`from_thread`) or the app's.
#[wasm_bindgen]
pub fn exit_with(code: i32, from_thread: bool) {
    let end = move || {
        println!("last words before exit({code})");
        std::process::exit(code);
    };
    if from_thread {
        thread::Builder::new()
            .name("exiter".into())
            .spawn(end)
            .unwrap()
            .join()
            .unwrap();
        // Never reached: the program ends in the thread.
        println!("after the exiting thread");
    } else {
        end();
    }
}

/// `process::abort()` on a spawned thread, after a line.
#[wasm_bindgen]
pub fn abort_in_thread() {
    thread::spawn(|| {
        eprintln!("about to abort");
        std::process::abort();
    })
    .join()
    .unwrap();
}

/// What std answers where a browser cannot: files, sockets, processes, the environment.
/// Each is `area: error` (never a hang).
#[wasm_bindgen]
pub fn unsupported() -> Vec<String> {
    let fs = std::fs::read("/etc/hostname").map(|_| ()).err();
    let write = std::fs::write("out.txt", b"x").err();
    let net = std::net::TcpStream::connect("127.0.0.1:80")
        .map(|_| ())
        .err();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").map(|_| ()).err();
    let process = std::process::Command::new("ls").output().map(|_| ()).err();
    let cwd = std::env::current_dir().map(|_| ()).err();
    let var = std::env::var("HOME").err().map(|e| e.to_string());
    let mut answers: Vec<String> = [
        ("fs::read", fs),
        ("fs::write", write),
        ("TcpStream::connect", net),
        ("UdpSocket::bind", udp),
        ("Command::output", process),
        ("env::current_dir", cwd),
    ]
    .into_iter()
    .map(|(what, error)| {
        let kind = error.map_or("Ok".to_string(), |e| format!("{:?}", e.kind()));
        format!("{what}: {kind}")
    })
    .collect();
    answers.push(format!("env::var: {}", var.unwrap_or_else(|| "Ok".into())));
    answers
}
