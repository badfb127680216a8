//! The worker pool: queued thread bodies, the workers that run them, and the requests for new
//! workers that the dispatcher serves.
//!
//! Everything here lives in shared memory and is plain `std` (a `Mutex`, a `Condvar`), so a spawn
//! never posts a message: it queues the job, wakes an idle worker, and if none is free tells the
//! dispatcher that a job waits by bumping a signal word (see `platform::wake_dispatcher`). The
//! spawner can therefore block in `join` at once. Host builds run the same code on native
//! threads, which is what `cargo test` exercises.
//!
//! Workers are provisioned by demand, counted when the dispatcher grants boots
//! (`grant_boots`), not when the job was queued: a worker that is just finishing its thread
//! (the threads of a rayon pool that was just dropped, say) takes a queued job a moment later,
//! and then no new worker is needed. Prestarted and dedicated workers are asked for
//! explicitly.

use std::alloc::Layout;
use std::collections::VecDeque;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};
use std::time::Duration;

use crate::completion::Ended;
use crate::config::{self, DEFAULT_STACK_SIZE};
use crate::current::{self, DeathHandler, Running};
use crate::locks::{Guard, Lock};
use crate::record::Record;

/// One thread to run: its body and its record.
pub(crate) struct Job {
    pub(crate) run: Box<dyn FnOnce() + Send>,
    pub(crate) record: Arc<Record>,
    /// A std thread: the worker gives it fresh thread-locals, and resets them again after
    /// std's thread exit has dropped them (a native thread would get a new set from the OS).
    pub(crate) fresh_thread_locals: bool,
    /// A std thread's way to complete its packet if it never returns from its closure.
    pub(crate) on_death: Option<DeathHandler>,
}

impl Job {
    /// The job can never run: its thread ends with `why`, and a std thread's packet says so.
    fn fail(self, why: String) {
        // Dropped, not run: what the closure captured (a channel's sender, an Arc) is released
        // as it would be after a run. A std thread's body holds only a raw pointer to std's
        // start data, which its death handler drops in its place.
        drop(self.run);
        if let Some(on_death) = self.on_death {
            on_death.never_started(why.clone());
        }
        self.record.completion.finish(Ended::Died {
            panicked: false,
            why,
        });
    }
}

/// A worker the dispatcher should start. A request that carries a job is a *dedicated* worker
/// (a thread that asked for a bigger stack than pool workers have, or that is given a JS
/// object: transfer.rs): it runs that job and exits.
pub(crate) struct BootRequest {
    pub(crate) stack_size: u32,
    pub(crate) job: Option<Job>,
    /// The page's id of the object the page posts to the worker before its thread runs, or 0.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // only wasm has JS objects
    pub(crate) transfer: u32,
    /// Memory for the worker's stack, held from the spawn until the worker is started.
    reserved: Option<Reservation>,
    /// The bytes counted in `UNCLAIMED` for this worker, from `release_memory` to its start.
    unclaimed: usize,
}

/// Bytes given back for workers that have not allocated their stacks yet (between
/// `release_memory` and the worker's start): a new reservation must leave room for them, or
/// it takes memory such a worker's start is about to allocate, and that start fails.
static UNCLAIMED: AtomicUsize = AtomicUsize::new(0);

impl BootRequest {
    /// Whether there is memory for the worker's stack; if so it is given back now, for the
    /// worker to allocate a moment later. wasm-bindgen's start allocates the stack while it
    /// holds the lock every instance's start takes: an allocation that fails there traps with
    /// the lock held, and no worker could ever start again. So the memory is tried here.
    pub(crate) fn release_memory(&mut self) -> bool {
        let Some(reserved) = self
            .reserved
            .take()
            .or_else(|| Reservation::try_new(self.stack_size))
        else {
            return false;
        };
        self.unclaimed = reserved.layout.size();
        UNCLAIMED.fetch_add(self.unclaimed, Ordering::SeqCst);
        true
    }

    /// The worker has allocated its stack (or will never): others may have that room again.
    fn claimed(&mut self) {
        UNCLAIMED.fetch_sub(std::mem::take(&mut self.unclaimed), Ordering::SeqCst);
    }
}

/// Memory a worker's start will allocate: its stack (with the stack checks' guard) and its
/// thread-locals, allocated and held so that nothing else takes it first.
struct Reservation {
    at: NonNull<u8>,
    layout: Layout,
}

/// Beyond the stack: the stack checks' guard (64 KiB, instance.js) and the thread-locals.
const RESERVE_EXTRA: usize = 128 << 10;

// SAFETY: a plain allocation, freed by whichever thread drops it.
unsafe impl Send for Reservation {}

impl Reservation {
    fn try_new(stack_size: u32) -> Option<Reservation> {
        let layout = Layout::from_size_align(stack_size as usize + RESERVE_EXTRA, 16).ok()?;
        // SAFETY: the layout is not zero-sized. A null result is a failed allocation, not an
        // abort: only `handle_alloc_error` aborts.
        let at = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
        let reservation = Reservation { at, layout };
        // Room for the stacks given back to workers not yet started, too (see `UNCLAIMED`).
        let pending = UNCLAIMED.load(Ordering::SeqCst);
        if pending > 0 {
            let probe = Layout::from_size_align(pending, 16).ok()?;
            // SAFETY: as above; the probe is freed at once with its own layout.
            let room = unsafe { std::alloc::alloc(probe) };
            if room.is_null() {
                return None;
            }
            // SAFETY: allocated just above with `probe`.
            unsafe { std::alloc::dealloc(room, probe) };
        }
        Some(reservation)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: allocated in `try_new` with this layout.
        unsafe { std::alloc::dealloc(self.at.as_ptr(), self.layout) }
    }
}

/// A spawn that cannot get memory for its stack fails at once, as a native spawn does.
fn out_of_memory(stack_size: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "not enough memory left for a thread with a {} MiB stack",
            f64::from(stack_size) / f64::from(1u32 << 20)
        ),
    )
}

struct State {
    queue: VecDeque<Job>,
    /// Workers to start whatever the queue says: prestarted ones and dedicated ones.
    boots: VecDeque<BootRequest>,
    /// Pool workers parked in `WORK.wait_timeout`.
    idle: usize,
    /// Pool workers requested and not yet running `run_worker`.
    booting: usize,
    /// Pool workers alive or booting (dedicated workers are not counted: they never take queued jobs).
    live: usize,
    /// Jobs taken from the queue so far: the dispatcher's watchdog sees progress in it.
    taken: u64,
    /// Workers whose thread died: their stacks and thread-locals are never freed.
    dead: usize,
    /// The bytes those hold.
    leaked: u64,
}

static STATE: Lock<State> = Lock::new(State {
    queue: VecDeque::new(),
    boots: VecDeque::new(),
    idle: 0,
    booting: 0,
    live: 0,
    taken: 0,
    dead: 0,
    leaked: 0,
});
static WORK: Condvar = Condvar::new();

fn lock() -> Guard<'static, State> {
    // A crash handler that runs on a dead instance poisons what it unlocks (std counts it as
    // panicking); the counters are still consistent, and `Lock` carries on.
    STATE.lock()
}

impl State {
    fn request_boot(
        &mut self,
        stack_size: u32,
        job: Option<Job>,
        reserved: Option<Reservation>,
        transfer: u32,
    ) {
        if job.is_none() {
            self.booting += 1;
            self.live += 1;
        }
        self.boots.push_back(BootRequest {
            stack_size,
            job,
            transfer,
            reserved,
            unclaimed: 0,
        });
    }

    /// Queued jobs that no idle or booting worker will take, as far as the cap allows more.
    fn demand(&self) -> usize {
        let waiting = self.queue.len().saturating_sub(self.idle + self.booting);
        waiting.min(config::max_workers().saturating_sub(self.live))
    }
}

/// Queues a thread. Never blocks for long and never posts a message. Fails, dropping the job
/// unrun, when the thread needs a worker of its own and the memory for its stack is not
/// there.
pub(crate) fn submit(job: Job, stack_size: u32) -> io::Result<()> {
    let transfer = PENDING_TRANSFER.with(|pending| pending.replace(0));
    let reserved = if stack_size > DEFAULT_STACK_SIZE || transfer != 0 {
        Some(Reservation::try_new(stack_size).ok_or_else(|| out_of_memory(stack_size))?)
    } else {
        None
    };
    let mut state = lock();
    let wake = if reserved.is_some() {
        state.request_boot(stack_size, Some(job), reserved, transfer);
        true
    } else {
        state.queue.push_back(job);
        if state.idle > 0 {
            WORK.notify_one();
        }
        state.demand() > 0
    };
    drop(state);
    if wake {
        wake_dispatcher();
    }
    Ok(())
}

std::thread_local! {
    // The transfer the next spawn of this thread carries (transfer.rs): set around the spawn,
    // which reaches `submit` through std's hooks on the same thread.
    static PENDING_TRANSFER: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Gives the spawns `spawn` makes (one) the transfer `id`; none after it returns.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // only wasm has JS objects
pub(crate) fn with_transfer<R>(id: u32, spawn: impl FnOnce() -> R) -> R {
    PENDING_TRANSFER.with(|pending| pending.set(id));
    let spawned = spawn();
    PENDING_TRANSFER.with(|pending| pending.set(0));
    spawned
}

/// Boots `count` pool workers ahead of demand, within the cap.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn prestart(count: usize) {
    let mut state = lock();
    let mut requested = false;
    while state.live < count.min(config::max_workers()) {
        state.request_boot(DEFAULT_STACK_SIZE, None, None, 0);
        requested = true;
    }
    drop(state);
    if requested {
        wake_dispatcher();
    }
}

/// Holds the pool's lock for as long as the guard lives (tests: a thread that dies with it).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the wasm test hooks
pub(crate) fn hold_lock() -> Guard<'static, impl Sized> {
    lock()
}

/// In the browser the dispatcher worker starts workers; on a native host the pool starts OS
/// threads itself, right away.
fn wake_dispatcher() {
    #[cfg(target_arch = "wasm32")]
    crate::platform::wake_dispatcher();
    #[cfg(not(target_arch = "wasm32"))]
    start_native_workers();
}

#[cfg(not(target_arch = "wasm32"))]
fn start_native_workers() {
    grant_boots(Grant::All);
    while let Some(mut request) = take_boot_request() {
        if !request.release_memory() {
            boot_failed(request, "not enough memory left for its stack");
            continue;
        }
        let stack = request.stack_size as usize;
        let (tx, rx) = std::sync::mpsc::channel();
        let started = crate::platform::start_native(
            stack,
            Box::new(move || {
                if let Ok(request) = rx.recv() {
                    run_worker(request, 0);
                }
            }),
        );
        let request = match started {
            Ok(()) => match tx.send(request) {
                Ok(()) => continue,
                Err(std::sync::mpsc::SendError(request)) => request,
            },
            Err(_) => request,
        };
        boot_failed(request, "the worker thread could not start");
    }
}

/// Called by the dispatcher: the next worker to start, if any.
pub(crate) fn take_boot_request() -> Option<BootRequest> {
    lock().boots.pop_front()
}

/// How many of the missing workers `grant_boots` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Every one: the jobs should start now (native hosts start threads at once).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // the native wake_dispatcher's
    All,
    /// Every one if no worker can come free by itself, else half (the dispatcher's choice once
    /// busy workers had their grace and did not take the jobs).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the dispatcher's
    Share,
}

/// Turns the queue's demand into boot requests.
pub(crate) fn grant_boots(grant: Grant) {
    let mut state = lock();
    let missing = state.demand();
    let count = match grant {
        Grant::All => missing,
        Grant::Share => share(missing, demand_kind(missing, state.live, state.booting)),
    };
    for _ in 0..count {
        state.request_boot(DEFAULT_STACK_SIZE, None, None, 0);
    }
}

/// The boots to grant for `missing` workers. When busy workers may yet come free, half of
/// them, rounded up: booting one for every waiting job assumes no busy worker ends its thread
/// soon, and when a dropped rayon pool's threads end a moment after the grace, the next
/// pool's threads find them and the boots were for nothing (a pool of 2 built and dropped in
/// a loop grew to 4 workers in WebKit). What still waits gets the next half after another
/// grace.
fn share(missing: usize, kind: Demand) -> usize {
    match kind {
        Demand::None => 0,
        Demand::Maybe => missing.div_ceil(2),
        Demand::Now => missing,
    }
}

/// Whether queued jobs need workers that none idle or booting will give them, and whether a
/// busy worker may yet take them (the dispatcher then waits a moment before it starts any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Demand {
    None,
    /// Jobs wait, and some workers run threads that may end any moment, or were just woken
    /// for the queue and have not taken their job yet.
    Maybe,
    /// Jobs wait, and no worker will come free by itself (all are still booting).
    Now,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn demand() -> Demand {
    let state = lock();
    demand_kind(state.demand(), state.live, state.booting)
}

/// `missing` workers for queued jobs, with `live` pool workers of which `booting` have not
/// started yet.
fn demand_kind(missing: usize, live: usize, booting: usize) -> Demand {
    if missing == 0 {
        Demand::None
    } else if live > booting {
        // Idle workers count as busy here: a burst queues faster than the woken ones take
        // jobs, and they may drain it with no new worker.
        Demand::Maybe
    } else {
        Demand::Now
    }
}

/// Called by the dispatcher when a worker it created never reached `run_worker`.
pub(crate) fn boot_failed(mut request: BootRequest, why: &str) {
    request.claimed();
    let error = || format!("worker failed to start: {why}");
    if let Some(job) = request.job {
        job.fail(error());
        return;
    }
    let mut state = lock();
    state.booting -= 1;
    state.live -= 1;
    // With no worker left, nothing would ever take the queued jobs: fail them rather than let
    // their joins hang. (No retry: a worker that cannot start once, such as a missing script,
    // would fail again.)
    let orphans: Vec<Job> = if state.live == 0 {
        state.queue.drain(..).collect()
    } else {
        Vec::new()
    };
    drop(state);
    for job in orphans {
        job.fail(error());
    }
}

/// What the current worker instance is, so a crash report knows whose count to fix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    None,
    Pool,
    Dedicated,
}

std::thread_local! {
    // No destructor, and set again after every reset of the thread-locals (see `run_job`).
    static ROLE: std::cell::Cell<Role> = const { std::cell::Cell::new(Role::None) };
}

fn set_role(role: Role) {
    ROLE.with(|cell| cell.set(role));
}

/// The body of every worker. Returns when the worker retires; the caller then frees its
/// instance's stack and thread-locals.
///
/// `worker` is the page's id for the worker (0 on a native host).
pub(crate) fn run_worker(mut request: BootRequest, worker: u32) {
    // wasm-bindgen's start allocated this worker's stack before this runs.
    request.claimed();
    crate::panic::install_hook();
    let alive = current::worker_alive(worker, request.job.is_none());
    if let Some(job) = request.job {
        set_role(Role::Dedicated);
        let record = run_job(job, Role::Dedicated, &alive);
        record.completion.finish(Ended::Returned);
        set_role(Role::None);
        return;
    }
    set_role(Role::Pool);
    let mut state = lock();
    state.booting -= 1;
    loop {
        if let Some(job) = state.queue.pop_front() {
            state.taken += 1;
            drop(state);
            // The dispatcher may be waiting to see whether busy workers take the queue.
            crate::platform::note_progress();
            // A panic that aborts never returns here (the worker script reports the crash);
            // one that unwinds was caught in the job, and the worker is as good as new.
            let record = run_job(job, Role::Pool, &alive);
            state = lock();
            // Finished under the pool's lock: the joiner may spawn again at once, and must
            // then find this worker idle rather than ask for a new one.
            record.completion.finish(Ended::Returned);
            continue;
        }
        state.idle += 1;
        let timeout = Duration::from_millis(u64::from(config::idle_timeout_ms()));
        let waited = state.wait_timeout(&WORK, timeout);
        state.idle -= 1;
        if waited.timed_out() && state.queue.is_empty() && state.live > config::keep_workers() {
            state.live -= 1;
            set_role(Role::None);
            return;
        }
    }
}

/// Runs one thread under its identity; returns its record for the caller to finish.
fn run_job(job: Job, role: Role, alive: &current::WorkerAlive) -> Arc<Record> {
    let Job {
        run,
        record,
        fresh_thread_locals,
        on_death,
    } = job;
    if fresh_thread_locals {
        crate::platform::reset_thread_locals();
        set_role(role);
    }
    let running = Running::new(record, on_death);
    {
        let _entered = running.enter();
        let _runs = alive.runs(&running);
        // The body catches its own unwinding panics.
        run();
    }
    if fresh_thread_locals {
        // What the thread left of its own (see record.rs), before the reset forgets it.
        drop(crate::record::take_last_spawned());
        // std's thread exit dropped the thread's thread-locals (and the pool's own with them):
        // back to the initial state before the worker touches any again.
        crate::platform::reset_thread_locals();
        set_role(role);
    }
    running.record
}

/// The current worker's instance trapped (a panic that aborts, or another trap): finish its
/// thread once nothing can still borrow from the worker's stack, count the `leaked` bytes of
/// stack and thread-locals its worker keeps for good, take the worker out of the counts, and
/// replace it if work waits.
///
/// The dead instance's stack is never freed: other threads may hold pointers into it that
/// nothing registered (a `rayon::join` whose other half was stolen, a crossbeam scope, an
/// intrusive waiter), and would write into whatever the memory became next.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn worker_lost(why: &str, leaked: u32) {
    let died = current::died(why);
    let mut state = lock();
    state.dead += 1;
    state.leaked += u64::from(leaked);
    let first = state.dead == 1;
    let pool_worker = ROLE.with(|role| role.replace(Role::None)) == Role::Pool;
    if pool_worker {
        state.live -= 1;
    }
    let wake = pool_worker && state.demand() > 0;
    drop(state);
    if first {
        crate::platform::warn(&format!(
            "wbspawn: a thread died; its worker's stack and thread-locals ({:.1} MiB) stay \
             allocated for good, since other threads may still point into them. Every such \
             death costs as much (pool_stats() counts them); in a --panic unwind build a panic \
             unwinds instead and costs nothing",
            f64::from(leaked) / f64::from(1u32 << 20)
        ));
    }
    if let Some((record, ended)) = died {
        record.completion.finish(ended);
    }
    if wake {
        wake_dispatcher();
    }
}

/// A worker ended without a word (the browser killed it): it leaves the counts, and the
/// thread it ran, if any, is returned, to be reported dead (the report waits for the dead
/// thread's scopes, so its caller, the dispatcher, has it done on a thread of its own).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn worker_killed(worker: u32) -> Option<current::Orphan> {
    let (pool_worker, running) = current::killed(worker)?;
    let mut state = lock();
    if pool_worker {
        state.live -= 1;
        if running.is_none() {
            // Parked between threads: counted idle until it wakes, which it never will.
            state.idle = state.idle.saturating_sub(1);
        }
    }
    if running.is_some() {
        state.dead += 1;
    }
    let wake = pool_worker && state.demand() > 0;
    drop(state);
    if wake {
        wake_dispatcher();
    }
    running
}

/// What the dispatcher's watchdog looks at: jobs queued, workers alive and idle, the cap, how
/// many jobs were ever taken (no change while jobs wait means no worker is free), workers
/// still booting, and, for `poolState`, workers that died and the KiB they keep.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn watch() -> [u32; 8] {
    let state = lock();
    [
        state.queue.len() as u32,
        state.live as u32,
        state.idle as u32,
        config::max_workers() as u32,
        state.taken as u32,
        state.booting as u32,
        state.dead as u32,
        (state.leaked >> 10) as u32,
    ]
}

/// A snapshot of the worker pool, for diagnostics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Pool workers alive, including those still booting (dedicated workers not counted).
    pub live: usize,
    /// Pool workers parked, waiting for a spawn.
    pub idle: usize,
    /// Spawns waiting for a worker.
    pub queued: usize,
    /// Workers whose thread died (a panic when panics abort, or a trap). Each keeps its stack
    /// and thread-locals allocated for good: other threads may still point into them.
    pub dead: usize,
    /// The bytes the dead workers keep.
    pub leaked_bytes: u64,
}

/// The worker pool's counters right now.
pub fn pool_stats() -> PoolStats {
    let state = lock();
    PoolStats {
        live: state.live,
        idle: state.idle,
        queued: state.queue.len(),
        dead: state.dead,
        leaked_bytes: state.leaked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ThreadId;

    #[test]
    fn a_job_that_can_never_run_releases_what_it_captured() {
        // A receiver waiting on the failed thread's sender must see the channel close, not
        // wait forever.
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let record = Record::new(ThreadId::next(), None, None);
        let job = Job {
            run: Box::new(move || {
                let _ = tx.send(1);
            }),
            record: Arc::clone(&record),
            fresh_thread_locals: false,
            on_death: None,
        };
        job.fail("no worker".to_string());
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
        assert!(record.completion.is_finished());
    }

    #[test]
    fn a_burst_on_running_or_idle_workers_waits_to_see_them_take_it() {
        // 64 queued on two idle workers: they were woken and may drain it.
        assert_eq!(demand_kind(62, 2, 0), Demand::Maybe);
        // Nothing running yet: only new workers will take it.
        assert_eq!(demand_kind(3, 0, 0), Demand::Now);
        assert_eq!(demand_kind(1, 2, 2), Demand::Now);
        assert_eq!(demand_kind(0, 2, 0), Demand::None);
    }

    #[test]
    fn after_a_grace_half_the_missing_workers_boot_while_busy_ones_may_come_free() {
        // The next rayon pool's two threads wait on the dropped pool's two: one boot, not two.
        assert_eq!(share(2, Demand::Maybe), 1);
        assert_eq!(share(1, Demand::Maybe), 1);
        assert_eq!(share(62, Demand::Maybe), 31);
        // No worker can come free by itself: every missing one.
        assert_eq!(share(3, Demand::Now), 3);
        assert_eq!(share(0, Demand::None), 0);
    }
}
