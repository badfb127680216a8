//! {{name}}: a Yew app that owns the page, with its heavy work on rayon's pool, whose threads
//! are `std::thread`s run on Web Workers sharing one wasm memory.
//!
//! The app's instance runs on the page's main thread (`start(..., { mode: "main" })` in
//! main.js), which must never wait long: a click hands the count to a thread of its own and
//! awaits it (`join_async`), so the page keeps drawing and taking input while rayon counts.

use rayon::prelude::*;
use wasm_bindgen::prelude::*;
use yew::prelude::*;

/// What a click counts the primes below.
const LIMIT: u32 = 3_000_000;

/// A button that counts the primes below 3,000,000 on rayon's pool, and the answer.
#[function_component]
fn App() -> Html {
    let said = use_state(String::new);
    let onclick = {
        let said = said.clone();
        Callback::from(move |_: MouseEvent| {
            let said = said.clone();
            said.set("counting…".into());
            yew::platform::spawn_local(async move {
                let started = now_ms();
                let (total, threads) = count(LIMIT).await;
                let ms = now_ms() - started;
                said.set(format!(
                    "{total} primes below 3,000,000 on {threads} threads in {ms:.0} ms"
                ));
            });
        })
    };
    html! {
        <section>
            <button {onclick}>{ "Count primes below 3,000,000 with rayon" }</button>
            <p class="said">{ (*said).clone() }</p>
        </section>
    }
}

/// Renders the app at the end of the page's `<main>`. Runs once, on the page, when the app
/// starts.
#[wasm_bindgen(start)]
pub fn render() -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or("no document: this app runs on a page")?;
    let main = document
        .query_selector("main")?
        .ok_or("the page has no <main>")?;
    // Yew empties the element it renders into: one of its own, after the page's heading and
    // the paragraph main.js writes to.
    let root = document.create_element("div")?;
    main.append_child(&root)?;
    yew::Renderer::<App>::with_root(root).render();
    Ok(())
}

/// Counts the primes below `limit` on rayon's pool, without making the caller wait.
#[wasm_bindgen]
pub async fn count_primes(limit: u32) -> u32 {
    count(limit).await.0
}

/// (the primes below `limit`, the threads that counted them). rayon blocks the thread that
/// calls it until the work is done, so that is a thread of its own (a thread may block; the
/// page may not).
async fn count(limit: u32) -> (u32, usize) {
    let counting = wbspawn::spawn(move || {
        let total = (2..limit).into_par_iter().filter(|n| is_prime(*n)).count();
        (total as u32, rayon::current_num_threads())
    });
    counting.join_async().await.unwrap_or((0, 0))
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

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map_or(0.0, |performance| performance.now())
}
