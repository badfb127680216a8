//! An app whose instance runs on the page (`start(..., {mode: "main"})`): what its main thread
//! may do. The page may not block, so each wait here spins (wait.rs in the runtime).

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(
    inline_js = "export function has_document() { return typeof document !== 'undefined'; }
export function page_title() { return document.title; }
export function offscreen_canvas() {
    return document.createElement('canvas').transferControlToOffscreen();
}
export function paint(canvas) {
    const context = canvas.getContext('2d');
    context.fillStyle = 'rgb(0, 128, 255)';
    context.fillRect(0, 0, canvas.width, canvas.height);
    const [r, g, b] = context.getImageData(0, 0, 1, 1).data;
    const where = typeof document === 'undefined' ? 'a worker' : 'the page';
    return `${r},${g},${b} in ${where}`;
}"
)]
extern "C" {
    fn has_document() -> bool;
    fn page_title() -> String;
    fn offscreen_canvas() -> JsValue;
    fn paint(canvas: &JsValue) -> String;
}

/// Whether this call runs on the page's main thread (true there, false in the app worker).
#[wasm_bindgen]
pub fn on_page_thread() -> bool {
    has_document()
}

/// A thread holds a lock for `hold_ms` while the caller asks for it: `[the ms the caller
/// waited, the count the caller found behind the lock]` (1: the holder had let go first).
#[wasm_bindgen]
pub fn contended_lock(hold_ms: u32) -> Vec<f64> {
    let lock = Arc::new(Mutex::new(0u32));
    let (taken, holding) = mpsc::channel();
    let holder = {
        let lock = Arc::clone(&lock);
        thread::spawn(move || {
            let mut guard = lock.lock().unwrap();
            taken.send(()).unwrap();
            thread::sleep(Duration::from_millis(u64::from(hold_ms)));
            *guard += 1;
        })
    };
    holding.recv().unwrap();
    let started = std::time::Instant::now();
    let found = {
        let mut count = lock.lock().unwrap();
        *count += 1;
        *count - 1
    };
    let waited = started.elapsed().as_secs_f64() * 1000.0;
    holder.join().unwrap();
    vec![waited, f64::from(found)]
}

/// rayon's global pool from the caller: `[sum of 0..n, distinct threads that took part]`.
#[wasm_bindgen]
pub fn rayon_sum(n: u32) -> Vec<f64> {
    use rayon::prelude::*;
    let threads = Mutex::new(std::collections::HashSet::new());
    let sum: f64 = (0..n)
        .into_par_iter()
        .with_max_len(64)
        .map(|x| {
            threads.lock().unwrap().insert(thread::current().id());
            f64::from(x)
        })
        .sum();
    vec![sum, threads.into_inner().unwrap().len() as f64]
}

/// `x * x` from a thread, awaited: the caller never waits.
#[wasm_bindgen]
pub async fn square_on_a_thread(x: u32) -> u32 {
    wbspawn::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        x * x
    })
    .join_async()
    .await
    .unwrap_or(0)
}

/// Sleeps `ms` on the caller's thread: the ms that passed.
#[wasm_bindgen]
pub fn sleep_here(ms: u32) -> f64 {
    let started = std::time::Instant::now();
    thread::sleep(Duration::from_millis(u64::from(ms)));
    started.elapsed().as_secs_f64() * 1000.0
}

/// A thread reads the page's title through the main thread while the main thread waits for
/// that thread (a blocking join: its spin runs the call): `[title, the thread's is_main_thread]`.
#[wasm_bindgen]
pub fn title_from_a_thread() -> Vec<String> {
    let here = wbspawn::is_main_thread();
    let thread = thread::spawn(|| {
        let on_main = wbspawn::is_main_thread();
        let title = wbspawn::run_on_main_thread(page_title);
        vec![title, on_main.to_string()]
    });
    match thread.join() {
        Ok(mut answer) => {
            answer.push(here.to_string());
            answer
        }
        Err(payload) => vec![panic_text(payload.as_ref())],
    }
}

/// The same, awaited: the main thread stays free and takes the call between its tasks.
#[wasm_bindgen]
pub async fn title_from_a_thread_async() -> String {
    let thread = wbspawn::spawn(|| wbspawn::run_on_main_thread(page_title));
    match thread.join_async().await {
        Ok(title) => title,
        Err(error) => error.to_string(),
    }
}

/// A thread's call panics on the main thread: what the thread's join says.
#[wasm_bindgen]
pub async fn main_thread_call_panics() -> String {
    let thread =
        wbspawn::spawn(|| wbspawn::run_on_main_thread(|| -> u32 { panic!("the page said no") }));
    match thread.join_async().await {
        Ok(value) => format!("returned {value}"),
        Err(error) => error.to_string(),
    }
}

/// A canvas of the page moved to a thread (`transferControlToOffscreen`), which paints it: the
/// colour it reads back, and where it ran. (`Transfer` exists on wasm only: the lab's host
/// build, for clippy, has no JS objects to move.)
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub async fn paint_on_a_thread() -> String {
    // The spawn's `io::Error` stays out of the future: an unwinding build's async exports
    // must be unwind-safe, and it is not.
    match spawn_painter() {
        Ok(thread) => thread.join_async().await.unwrap_or_else(|e| e.to_string()),
        Err(error) => error,
    }
}

#[cfg(target_arch = "wasm32")]
fn spawn_painter() -> Result<wbspawn::JoinHandle<String>, String> {
    let canvas = wbspawn::Transfer::new(offscreen_canvas());
    wbspawn::Builder::new()
        .transfer(&canvas)
        .spawn(move || match canvas.take() {
            Some(canvas) => paint(&canvas),
            None => "the canvas did not reach the thread".to_string(),
        })
        .map_err(|error| error.to_string())
}

/// `run_on_main_thread_async` awaited on the main thread itself (it runs at once), in an
/// async export: which an unwinding build accepts only for an unwind-safe future.
#[wasm_bindgen]
pub async fn title_through_the_future() -> String {
    wbspawn::run_on_main_thread_async(page_title).await
}

/// `Transfer::new` off the page: what its panic says.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub fn transfer_off_the_page() -> String {
    let thread = thread::spawn(|| wbspawn::Transfer::new(JsValue::NULL));
    match thread.join() {
        Ok(_) => "made".to_string(),
        Err(payload) => panic_text(payload.as_ref()),
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
        .unwrap_or_else(|| "Box<dyn Any>".to_string())
}
