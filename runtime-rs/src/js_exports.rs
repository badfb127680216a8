//! The functions the runtime's worker scripts (`runtime-js/`) call, as wasm-bindgen exports.
//!
//! Boot requests cross to JS as pointers to boxed `BootRequest`s: the dispatcher reads a request's
//! stack size, starts a worker, and the worker hands the pointer back to
//! `__wbspawn_worker_main`, which takes ownership.

use wasm_bindgen::prelude::*;

use crate::config::{self, Settings};
use crate::pool::{self, BootRequest};

/// Stores the host's settings and the program's arguments (`env::args()`), and boots
/// `keep_workers` workers ahead of the first spawn.
#[wasm_bindgen(js_name = __wbspawn_configure)]
pub fn configure(
    parallelism: u32,
    max_workers: u32,
    idle_timeout_ms: u32,
    keep_workers: u32,
    args: Vec<String>,
) {
    crate::panic::install_hook();
    // The thread that configures is the app's own: the inspector's `main`.
    crate::current::mark_app_thread(crate::thread::current().id());
    crate::process::set_args(args);
    config::apply(Settings {
        parallelism,
        max_workers,
        idle_timeout_ms,
        keep_workers,
    });
    pool::prestart(config::keep_workers());
}

/// The shared memory, for the bootstrap to hand to the dispatcher.
#[wasm_bindgen(js_name = __wbspawn_memory)]
pub fn memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Marks the dispatcher as running and returns the byte address of the signal word it waits on.
#[wasm_bindgen(js_name = __wbspawn_dispatcher_started)]
pub fn dispatcher_started() -> u32 {
    crate::platform::dispatcher_started()
}

/// The page takes calls that threads make to the main thread (mode "main"); returns the byte
/// address of the word it waits on for them.
#[wasm_bindgen(js_name = __wbspawn_main_calls_start)]
pub fn main_calls_start() -> u32 {
    crate::main_thread::start_pumping()
}

/// Runs the calls threads queued for the main thread (on the page, between its tasks).
#[wasm_bindgen(js_name = __wbspawn_run_main_calls)]
pub fn run_main_calls() {
    crate::main_thread::run_queued(false);
}

/// The page's instance trapped running calls for threads (`why`): their callers are told.
#[wasm_bindgen(js_name = __wbspawn_main_calls_died)]
pub fn main_calls_died(why: String) {
    crate::main_thread::calls_died(&why);
}

/// `[queued, live, idle, maxWorkers, taken, booting, dead, leakedKiB]`, for the dispatcher's
/// watchdog and `poolState`.
#[wasm_bindgen(js_name = __wbspawn_pool_watch)]
pub fn pool_watch() -> Vec<u32> {
    pool::watch().to_vec()
}

/// The names of the threads running on workers now, for `poolState` (`threads`).
#[wasm_bindgen(js_name = __wbspawn_running_threads)]
pub fn running_threads() -> Vec<String> {
    crate::current::running_threads()
}

/// Every live thread and what it does, for `poolState`'s `table`: seven strings a row, `[id,
/// name, state, on, changes, spawnedBy, worker]` (activity.rs says what state and on are;
/// spawnedBy is "" for the app's own thread).
#[wasm_bindgen(js_name = __wbspawn_thread_table)]
pub fn thread_table() -> Vec<String> {
    let mut flat = Vec::new();
    for row in crate::current::table() {
        let [state, on] = crate::activity::describe(row.doing);
        flat.extend([
            row.id.to_string(),
            row.name,
            state,
            on,
            row.changes.to_string(),
            row.spawned_by.map(|by| by.to_string()).unwrap_or_default(),
            row.worker.to_string(),
        ]);
    }
    flat
}

/// A binary's `fn main` (a test binary's: libtest) returned `code`, called from the app
/// worker: the program ends with that code after every line it printed, as a native
/// process's `main` returning does. Never returns.
#[wasm_bindgen(js_name = __wbspawn_main_returned)]
pub fn main_returned(code: i32) {
    std::process::exit(code)
}

/// The byte address of the word bumped when output waits to be taken.
#[wasm_bindgen(js_name = __wbspawn_output_word)]
pub fn output_word() -> u32 {
    crate::platform::output_word()
}

/// Lines of output taken at once, at most.
const OUTPUT_BATCH: usize = 4096;

/// The output waiting, oldest first, as triples of strings: `["out" | "err", thread, text]`
/// for a line, `["panic", thread name, "location\nmessage"]` for a panic (std reports every
/// panic before any hook runs), `["dropped", "", count]` for lines nobody took in time, and `["exit" |
/// "abort", "", code]` for the end of the program (nothing follows it).
#[wasm_bindgen(js_name = __wbspawn_take_output)]
pub fn take_output() -> Vec<String> {
    use crate::stdio::{Item, Stream};
    let mut flat = Vec::new();
    for item in crate::stdio::take(OUTPUT_BATCH) {
        let (kind, thread, text) = match item {
            Item::Line {
                stream,
                thread,
                text,
                whole,
            } => {
                // `+`: a piece the thread's next line on the stream continues (stdio.js).
                let kind = match (stream, whole) {
                    (Stream::Stderr, true) => "err",
                    (Stream::Stderr, false) => "err+",
                    (Stream::Stdout, true) => "out",
                    (Stream::Stdout, false) => "out+",
                };
                (kind, thread, text)
            }
            Item::Panic {
                thread,
                location,
                message,
            } => ("panic", thread, format!("{location}\n{message}")),
            Item::Dropped(count) => ("dropped", String::new(), count.to_string()),
            Item::Ended { code, aborted } => {
                let kind = if aborted { "abort" } else { "exit" };
                (kind, String::new(), code.to_string())
            }
        };
        flat.extend([kind.to_string(), thread, text]);
    }
    flat
}

/// The code the program ended with (`process::exit`, `abort`), if it has ended.
#[wasm_bindgen(js_name = __wbspawn_exit_code)]
pub fn exit_code() -> Option<i32> {
    crate::process::exit_code()
}

/// The byte address of the word bumped whenever a worker takes a queued job.
#[wasm_bindgen(js_name = __wbspawn_progress_word)]
pub fn progress_word() -> u32 {
    crate::platform::progress_word()
}

/// Whether queued jobs need new workers: 0 no, 1 maybe (busy workers may take them in a
/// moment), 2 yes.
#[wasm_bindgen(js_name = __wbspawn_boot_demand)]
pub fn boot_demand() -> u32 {
    match pool::demand() {
        pool::Demand::None => 0,
        pool::Demand::Maybe => 1,
        pool::Demand::Now => 2,
    }
}

/// Asks for pool workers for queued jobs that no worker will take: every missing one if no
/// worker can come free by itself, else half (the dispatcher calls it once busy workers had
/// their grace); `take_boot_request` hands them out.
#[wasm_bindgen(js_name = __wbspawn_grant_boots)]
pub fn grant_boots() {
    pool::grant_boots(pool::Grant::Share);
}

/// The next boot request as an opaque handle, or 0 when none is pending.
#[wasm_bindgen(js_name = __wbspawn_take_boot_request)]
pub fn take_boot_request() -> u32 {
    match pool::take_boot_request() {
        Some(request) => Box::into_raw(Box::new(request)) as usize as u32,
        None => 0,
    }
}

fn peek(request: u32) -> &'static BootRequest {
    // SAFETY: `request` came from `take_boot_request` and is consumed (by `worker_main` or
    // `boot_failed`) only after the dispatcher's last peek; the runtime's JS keeps to that.
    unsafe { &*(request as usize as *const BootRequest) }
}

fn take(request: u32) -> BootRequest {
    // SAFETY: as in `peek`; the runtime's JS consumes each handle exactly once.
    *unsafe { Box::from_raw(request as usize as *mut BootRequest) }
}

/// Stack size in bytes for the worker that serves `request`.
#[wasm_bindgen(js_name = __wbspawn_boot_stack_size)]
pub fn boot_stack_size(request: u32) -> u32 {
    peek(request).stack_size
}

/// The page's id of the JS object the worker for `request` must have before its thread runs
/// (transfer.rs), or 0.
#[wasm_bindgen(js_name = __wbspawn_boot_transfer)]
pub fn boot_transfer(request: u32) -> u32 {
    peek(request).transfer
}

/// Whether the memory has room for the stack of the worker for `request`, asked right before
/// the worker is started (a reservation made at the spawn is given back for it now). If not,
/// the caller fails the request with `boot_failed` instead of starting a worker whose start
/// would trap (pool.rs, `BootRequest::release_memory`, says why that must not happen).
#[wasm_bindgen(js_name = __wbspawn_boot_memory)]
pub fn boot_memory(request: u32) -> bool {
    // SAFETY: as in `peek`; nothing else touches the request meanwhile.
    let request = unsafe { &mut *(request as usize as *mut BootRequest) };
    request.release_memory()
}

/// The worker for `request` could not start (script or module failed to load).
#[wasm_bindgen(js_name = __wbspawn_boot_failed)]
pub fn boot_failed(request: u32, why: String) {
    pool::boot_failed(take(request), &why);
}

/// Entry of every thread worker (`worker`: the page's id for it): runs jobs until the worker
/// retires.
#[wasm_bindgen(js_name = __wbspawn_worker_main)]
pub fn worker_main(request: u32, worker: u32) {
    pool::run_worker(take(request), worker);
}

/// How far above a stack's limit the stack pointer may be when a stack check traps: the frame
/// that did not fit (frames above this size are rare; such a trap reads as "unreachable").
const OVERFLOW_WINDOW: u32 = 256 << 10;

/// What a thread worker whose instance trapped asks first: whether the dead thread holds a
/// lock its crash report would wait for forever: 0 none, 1 one of the runtime's, 2 std's
/// allocator lock (every allocation, anywhere, now waits forever). Takes no lock and
/// allocates nothing (a string argument would).
#[wasm_bindgen(js_name = __wbspawn_worker_held)]
pub fn worker_held() -> u32 {
    if crate::platform::holds_allocator() {
        2
    } else if crate::locks::held() > 0 {
        1
    } else {
        0
    }
}

/// Called by a thread worker after its instance trapped (a panic, which std has already
/// reported, or another trap, which `why` describes), if `worker_held` said 0. `stack_limit`
/// is the lowest stack pointer the thread's code could use (0 when the build has no stack
/// checks), `stack_size` the stack it had, and `stack_bytes` what its worker allocated for
/// that stack, kept for good with the thread-locals (see `pool::worker_lost`). Returns once
/// the thread's scoped threads, which may borrow from its stack, have ended, with a line for
/// the dev server's inspector when the death was not a panic ("thread 'x' crashed: ..."; ""
/// otherwise: std printed the panic).
#[wasm_bindgen(js_name = __wbspawn_worker_crashed)]
pub fn worker_crashed(why: String, stack_limit: u32, stack_size: u32, stack_bytes: u32) -> String {
    if crate::process::exit_code().is_some() {
        // The program ended (this thread trapped on purpose, or another thread ended it):
        // the page is stopping every worker, nothing is to be reported.
        return String::new();
    }
    // A panic was reported on stderr already (std's hook); anything else only here.
    let shown = crate::current::record()
        .filter(|_| !std::thread::panicking())
        .map(|record| record.name_for_messages().to_string());
    let sp = crate::platform::stack_pointer();
    let overflowed = stack_limit != 0
        && !std::thread::panicking()
        && sp >= stack_limit
        && sp - stack_limit < OVERFLOW_WINDOW;
    let why = if overflowed {
        let mib = f64::from(stack_size) / f64::from(1u32 << 20);
        let why = format!(
            "stack overflow: the thread needed more than its {mib} MiB stack; give it more \
             with std::thread::Builder::stack_size (or wbspawn::Builder::stack_size)"
        );
        crate::platform::error(&format!("wbspawn: {why}"));
        why
    } else {
        why
    };
    let leaked = stack_bytes.saturating_add(crate::platform::tls_size());
    pool::worker_lost(&why, leaked);
    shown.map_or(String::new(), |name| {
        format!("thread '{name}' crashed: {why}")
    })
}

/// The page saw the worker it calls `worker` end without a word (the browser killed it): its
/// thread, if it ran one, is reported dead, and the pool's counts let go of it.
#[wasm_bindgen(js_name = __wbspawn_worker_killed)]
pub fn worker_killed(worker: u32) {
    const WHY: &str = "its worker was ended by the browser (out of memory?)";
    let Some(orphan) = pool::worker_killed(worker) else {
        return;
    };
    let report = move || {
        let (record, ended) = orphan.died(WHY);
        record.completion.finish(ended);
    };
    if let Err(error) = crate::thread::Builder::new()
        .name("wbspawn-reporter".to_string())
        .spawn(report)
    {
        crate::platform::error(&format!(
            "wbspawn: a worker was ended by the browser and its thread's death cannot be \
             reported ({error}): its join waits forever"
        ));
    }
}

/// The message of the last panic on the app's own thread since the last call, if any.
#[wasm_bindgen(js_name = __wbspawn_take_panic_message)]
pub fn take_panic_message() -> Option<String> {
    crate::panic::take_unspawned_panic()
}
