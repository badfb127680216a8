//! The thread a worker runs right now, and what must happen if the worker dies under it.
//!
//! A worker runs many threads one after another. While one runs, a `Running` on the worker's
//! own stack says which, and collects what the thread registers for its death: std's hook that
//! completes its packet, and the scopes it has open. The thread-local here is a bare pointer
//! (no destructor): std's thread exit destroys every thread-local that has one, and the worker
//! still needs this one after that.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::num::NonZeroU64;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::activity::{Activity, Doing};
use crate::completion::Ended;
use crate::locks::Lock;
use crate::record::{Record, ThreadId};

/// Completes the std packet of a thread that never returned from its closure, with the
/// panic's payload, releasing the closure's reference to it or not (std's
/// `thread::lifecycle::die`, and its data).
pub(crate) type OnDeath = (unsafe fn(*const (), Box<dyn Any + Send>, bool), *const ());

/// Drops the closure of a std thread that never started (std's `thread_discard`, and its
/// argument).
pub(crate) type Discard = (unsafe fn(*mut u8), *mut u8);

/// A std thread's `OnDeath` and `Discard`, owned by its job until the thread's closure
/// returns.
pub(crate) struct DeathHandler {
    on_death: OnDeath,
    discard: Discard,
}

// SAFETY: std made the pair to be called on whichever thread finds the thread lost.
unsafe impl Send for DeathHandler {}

impl DeathHandler {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // made by the std hooks
    /// # Safety
    /// `on_death` and `discard` are std's, for one thread, and are used at most once.
    pub(crate) unsafe fn new(on_death: OnDeath, discard: Discard) -> DeathHandler {
        DeathHandler { on_death, discard }
    }

    /// The thread died in its closure: its packet gets `message` as its panic, and the
    /// closure's reference to the packet is released here (the dead closure is never dropped).
    pub(crate) fn complete(self, message: String) {
        let (die, data) = self.on_death;
        // SAFETY: the thread never returned from its closure and never will (see `new`).
        unsafe { die(data, Box::new(message), true) };
    }

    /// The thread never started: its packet gets `message`, then its closure is dropped,
    /// releasing what it captured (a channel's sender must not outlive a spawn that failed).
    pub(crate) fn never_started(self, message: String) {
        let (die, data) = self.on_death;
        let (discard, arg) = self.discard;
        // SAFETY: the thread never ran (see `new`); the closure, dropped next, still holds
        // its reference to the packet.
        unsafe {
            die(data, Box::new(message), false);
            discard(arg);
        }
    }
}
/// Waits at most about the given time for every thread of the scope at `data` to end; true
/// once they all have.
pub(crate) type ScopeWait = unsafe fn(*const (), Duration) -> bool;

/// How long a dead thread's scope may keep it from being reported before the console hears.
const SCOPE_WAIT_WARNING: Duration = Duration::from_secs(2);

pub(crate) struct Running {
    pub(crate) record: Arc<Record>,
    exit: Cell<Option<DeathHandler>>,
    scopes: RefCell<Vec<(*const (), ScopeWait)>>,
}

std::thread_local! {
    static RUNNING: Cell<*const Running> = const { Cell::new(ptr::null()) };
}

impl Running {
    pub(crate) fn new(record: Arc<Record>, exit: Option<DeathHandler>) -> Running {
        Running {
            record,
            exit: Cell::new(exit),
            scopes: RefCell::new(Vec::new()),
        }
    }

    /// Makes this the current thread until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered<'_> {
        RUNNING.with(|running| running.set(ptr::from_ref(self)));
        Entered(self)
    }
}

pub(crate) struct Entered<'a>(&'a Running);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // `try_with`: after std's thread exit on a worker whose thread-locals were not yet
        // reset this still works (the cell has no destructor), but never panic in a drop.
        let _ = RUNNING.try_with(|running| running.set(ptr::null()));
        let _ = self.0;
    }
}

fn with<R>(f: impl FnOnce(&Running) -> R) -> Option<R> {
    let running = RUNNING.try_with(Cell::get).ok()?;
    // SAFETY: the pointer is set only while the `Running` it points to is alive on this
    // worker's stack (see `Entered`), and a worker runs one thread at a time.
    (!running.is_null()).then(|| f(unsafe { &*running }))
}

/// The record of the thread running here; `None` on a thread the runtime did not start.
pub(crate) fn record() -> Option<Arc<Record>> {
    with(|running| Arc::clone(&running.record))
}

/// The id of the thread running here: a spawned thread's, the app's own thread's (once
/// marked), or `None` (a worker between threads, the dispatcher).
pub(crate) fn id() -> Option<ThreadId> {
    with(|running| running.record.id).or_else(|| {
        let on_app = APP_THREAD.try_with(Cell::get).unwrap_or(false);
        let id = NonZeroU64::new(APP_ID.load(Ordering::Relaxed))?;
        on_app.then(|| ThreadId::from_std(id))
    })
}

std::thread_local! {
    // Whether this is the app's own thread (the app worker's, or the page's in mode "main").
    static APP_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// What the app's own thread does (it has no record the dispatcher could reach).
static APP_ACTIVITY: Activity = Activity::new();
/// Its id (0 until marked).
static APP_ID: AtomicU64 = AtomicU64::new(0);

/// This is the app's own thread, with id `id` (the instance `start()` configured).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // marked by the wasm exports
pub(crate) fn mark_app_thread(id: ThreadId) {
    APP_ID.store(id.as_u64().get(), Ordering::Relaxed);
    let _ = APP_THREAD.try_with(|app| app.set(true));
}

/// Runs `f` on what this thread does: a spawned thread's activity, or the app's own thread's;
/// `None` on a worker between threads and on the dispatcher, which nobody waits for.
pub(crate) fn with_activity<R>(f: impl FnOnce(&Activity) -> R) -> Option<R> {
    let running = RUNNING.try_with(Cell::get).ok()?;
    if !running.is_null() {
        // SAFETY: as in `with`.
        let running = unsafe { &*running };
        return Some(f(&running.record.activity));
    }
    APP_THREAD
        .try_with(Cell::get)
        .ok()
        .and_then(|on_app| on_app.then(|| f(&APP_ACTIVITY)))
}

/// One row of the inspector's table.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm exports
pub(crate) struct Row {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) doing: Doing,
    pub(crate) changes: u32,
    pub(crate) spawned_by: Option<u64>,
    /// The page's id of its worker (0: the app's own thread).
    pub(crate) worker: u32,
}

/// Every live thread and what it does: the app's own thread first (once marked), then the
/// threads running on workers, in the order their workers started.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm exports
pub(crate) fn table() -> Vec<Row> {
    let mut rows = Vec::new();
    let app = APP_ID.load(Ordering::Relaxed);
    if app != 0 {
        let (doing, changes) = APP_ACTIVITY.read();
        rows.push(Row {
            id: app,
            name: "main".to_string(),
            doing,
            changes,
            spawned_by: None,
            worker: 0,
        });
    }
    for on in ON_WORKERS.lock().iter().filter(|on| on.running != 0) {
        // SAFETY: as in `running_threads`.
        let record = unsafe { &(*(on.running as *const Running)).record };
        let (doing, changes) = record.activity.read();
        rows.push(Row {
            id: record.id.as_u64().get(),
            name: record.name.clone().unwrap_or_default(),
            doing,
            changes,
            spawned_by: record.spawned_by.map(|by| by.as_u64().get()),
            worker: on.worker,
        });
    }
    rows
}

/// std's hook: the thread's closure returned, so std completes its packet itself.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the std hooks
pub(crate) fn closure_returned() {
    with(|running| running.exit.set(None));
}

/// How often a wait for a dead thread's scope looks at the clock.
const SCOPE_WAIT_SLICE: Duration = Duration::from_millis(100);

/// A scope opens on this thread (`Some(wait)`) or closes (`None`).
pub(crate) fn scope(data: *const (), wait: Option<ScopeWait>) {
    with(|running| {
        let Ok(mut scopes) = running.scopes.try_borrow_mut() else {
            return;
        };
        match wait {
            Some(wait) => scopes.push((data, wait)),
            None => {
                if let Some(at) = scopes.iter().rposition(|&(open, _)| open == data) {
                    scopes.remove(at);
                }
            }
        }
    });
}

/// A worker of the page's (by the page's id for it) and the `Running` of the thread it runs
/// now (its address, 0 between threads). A worker the browser ends without a word (out of
/// memory, a crashed process) runs none of its own code again: the dispatcher learns of it
/// and reports its thread's death from here (`killed`).
struct OnWorker {
    worker: u32,
    running: usize,
    pool_worker: bool,
}

static ON_WORKERS: Lock<Vec<OnWorker>> = Lock::new(Vec::new());

/// This worker (`worker`, 0 on a native host: nothing there ends a worker silently) is alive
/// until the guard is dropped.
pub(crate) fn worker_alive(worker: u32, pool_worker: bool) -> WorkerAlive {
    if worker != 0 {
        ON_WORKERS.lock().push(OnWorker {
            worker,
            running: 0,
            pool_worker,
        });
    }
    WorkerAlive(worker)
}

pub(crate) struct WorkerAlive(u32);

impl WorkerAlive {
    /// This worker runs `running` until the guard is dropped.
    pub(crate) fn runs<'a>(&'a self, running: &'a Running) -> Runs<'a> {
        self.set(ptr::from_ref(running) as usize);
        Runs(self)
    }

    fn set(&self, running: usize) {
        if self.0 == 0 {
            return;
        }
        if let Some(on) = ON_WORKERS.lock().iter_mut().find(|on| on.worker == self.0) {
            on.running = running;
        }
    }
}

impl Drop for WorkerAlive {
    fn drop(&mut self) {
        if self.0 != 0 {
            ON_WORKERS.lock().retain(|on| on.worker != self.0);
        }
    }
}

pub(crate) struct Runs<'a>(&'a WorkerAlive);

impl Drop for Runs<'_> {
    fn drop(&mut self) {
        self.0.set(0);
    }
}

/// The threads running on workers now, by name (`<unnamed> #id` for one without), in the
/// order their workers started: what a hung program's report names (libtest names each
/// test's thread after the test).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // read by the wasm exports
pub(crate) fn running_threads() -> Vec<String> {
    ON_WORKERS
        .lock()
        .iter()
        .filter(|on| on.running != 0)
        .map(|on| {
            // SAFETY: a published `Running` stays alive while its entry names it: the `Runs`
            // guard clears the entry under this lock before the `Running` can be dropped,
            // and a dead worker's `Running` is never freed.
            let record = unsafe { &(*(on.running as *const Running)).record };
            match &record.name {
                Some(name) => name.clone(),
                None => format!("<unnamed> #{}", record.id.as_u64()),
            }
        })
        .collect()
}

/// The page's id for the worker the current thread runs on (0: none known).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the wasm test hooks
pub(crate) fn worker_id() -> u32 {
    let running = RUNNING.try_with(Cell::get).unwrap_or(ptr::null()) as usize;
    ON_WORKERS
        .lock()
        .iter()
        .find(|on| running != 0 && on.running == running)
        .map_or(0, |on| on.worker)
}

/// The thread of a worker that ended without a word, to be reported dead from elsewhere.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // reported by the wasm exports
pub(crate) struct Orphan(&'static Running);

// SAFETY: nothing of the worker that ran it runs again; whoever holds this is its only user.
unsafe impl Send for Orphan {}

impl Orphan {
    /// As `died`, from another thread (`why`: how the worker ended), waiting for the dead
    /// thread's scopes first.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
    pub(crate) fn died(self, why: &str) -> (Arc<Record>, Ended) {
        died_of(self.0, why, false)
    }
}

/// The worker with the page's id `worker` is gone without a word: whether it was a pool
/// worker, and the thread it ran (if any), taken out of the table.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn killed(worker: u32) -> Option<(bool, Option<Orphan>)> {
    let mut on_workers = ON_WORKERS.lock();
    let at = on_workers.iter().position(|on| on.worker == worker)?;
    let on = on_workers.remove(at);
    // SAFETY: a published `Running` lives on its worker's stack, which a worker that ended
    // without a word never frees, and nothing of that worker runs again to touch it.
    let running = (on.running != 0).then(|| Orphan(unsafe { &*(on.running as *const Running) }));
    Some((on.pool_worker, running))
}

/// The worker died under its current thread (`why`: the trap). Before anything else may
/// free this worker's stack or learn of the death, the threads of every scope the dead
/// thread had open must end: they may borrow from its stack. Then std's packet (if any) is
/// completed with the panic. Returns the thread's record and how it ended.
///
/// Runs on the dead instance, whose memory is intact: a trap unwinds nothing.
pub(crate) fn died(why: &str) -> Option<(Arc<Record>, Ended)> {
    let running = RUNNING.try_with(Cell::get).ok()?;
    if running.is_null() {
        return None;
    }
    // SAFETY: as in `with`; the frame that owns it never runs again, so taking from it here
    // is the last use.
    let running = unsafe { &*running };
    let _ = RUNNING.try_with(|cell| cell.set(ptr::null()));
    let address = ptr::from_ref(running) as usize;
    ON_WORKERS.lock().retain(|on| on.running != address);
    // A dead instance is mid-panic if a panic aborted it: the count std keeps per thread.
    Some(died_of(running, why, std::thread::panicking()))
}

fn died_of(running: &Running, why: &str, panicked: bool) -> (Arc<Record>, Ended) {
    let scopes = running
        .scopes
        .try_borrow_mut()
        .map(|mut scopes| std::mem::take(&mut *scopes))
        .unwrap_or_default();
    for (data, wait) in scopes.into_iter().rev() {
        wait_for_scope(&running.record, data, wait);
    }
    let message = match (panicked, running.record.completion.last_panic()) {
        (true, Some(report)) => report.message,
        _ => format!("thread crashed: {why}"),
    };
    if let Some(exit) = running.exit.take() {
        exit.complete(message);
    }
    let ended = Ended::Died {
        panicked,
        why: why.to_string(),
    };
    (Arc::clone(&running.record), ended)
}

fn wait_for_scope(record: &Record, data: *const (), wait: ScopeWait) {
    let started = crate::platform::now_ms();
    let mut warned = false;
    // SAFETY: std (or wbspawn's scope) registered `wait` for `data` on this very thread, and
    // the dead frame keeps `data` alive.
    while !unsafe { wait(data, SCOPE_WAIT_SLICE) } {
        let waited = crate::platform::now_ms() - started;
        if !warned && waited >= SCOPE_WAIT_WARNING.as_secs_f64() * 1000.0 {
            warned = true;
            crate::platform::error(&format!(
                "wbspawn: thread '{}' died inside a thread scope whose threads still run: they \
                 may borrow from its stack, so its death is reported when they end. If they \
                 wait for something only the dead thread would have done, they wait forever \
                 (build with --panic unwind to let a panic unwind through the scope)",
                record.name_for_messages()
            ));
        }
    }
}
