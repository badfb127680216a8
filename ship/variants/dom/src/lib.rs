//! {{name}}: Rust that owns the page (web-sys), with the heavy work on `std::thread`s that run
//! on Web Workers sharing one wasm memory.
//!
//! The app's instance runs on the page's main thread (`start(..., { mode: "main" })` in
//! main.js), which must never wait long: a click starts the count on a thread and awaits it
//! (`join_async`), so the page keeps drawing and taking input meanwhile.

use std::thread;

use wasm_bindgen::prelude::*;
use web_sys::{Document, HtmlElement};

/// Builds the page: a button that counts the primes below a limit on every thread, and where
/// the answer goes. Runs once, on the page, when the app starts.
#[wasm_bindgen(start)]
pub fn build_page() -> Result<(), JsValue> {
    let document = document()?;
    // index.html's paragraph for the answer; the button goes before it.
    let result = document
        .get_element_by_id("result")
        .ok_or("the page has no #result")?;
    let button: HtmlElement = document.create_element("button")?.dyn_into()?;
    button.set_text_content(Some("Count primes below 3,000,000"));
    result.before_with_node_1(&button)?;
    let on_click = Closure::<dyn FnMut()>::new(move || {
        let result = result.clone();
        result.set_text_content(Some("counting…"));
        wasm_bindgen_futures::spawn_local(async move {
            let started = now_ms();
            let total = count_primes(3_000_000).await;
            let ms = now_ms() - started;
            let threads = threads();
            result.set_text_content(Some(&format!(
                "{total} primes below 3,000,000 on {threads} threads in {ms:.0} ms"
            )));
        });
    });
    button.set_onclick(Some(on_click.as_ref().unchecked_ref()));
    // The button keeps the handler for the page's whole life.
    on_click.forget();
    Ok(())
}

/// How many threads count at once (the browser's `navigator.hardwareConcurrency`).
#[wasm_bindgen]
pub fn threads() -> u32 {
    thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Counts the primes below `limit` on every thread, without making the caller wait: the
/// work runs on a thread of its own, which splits it over scoped threads and blocks while
/// they run (a thread may block; the page may not).
#[wasm_bindgen]
pub async fn count_primes(limit: u32) -> u32 {
    let threads = threads();
    let counting = wbspawn::spawn(move || {
        thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|me| {
                    // Blocks of 1024 numbers dealt out in turn: every thread gets a fair share
                    // of small and large numbers.
                    scope.spawn(move || {
                        (2..limit)
                            .filter(|n| (n / 1024) % threads == me && is_prime(*n))
                            .count() as u32
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        })
    });
    counting.join_async().await.unwrap_or(0)
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut divisor = 2;
    while divisor <= n / divisor {
        if n % divisor == 0 {
            return false;
        }
        divisor += 1;
    }
    true
}

fn document() -> Result<Document, JsValue> {
    web_sys::window()
        .and_then(|window| window.document())
        .ok_or_else(|| "no document: this app runs on a page".into())
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map_or(0.0, |performance| performance.now())
}
