//! The worker pool: queued thread bodies, the workers that run them, and the requests for new
//! workers that the dispatcher serves.
//!
//! Everything here lives in shared memory and is plain `std` (a `Mutex`, a `Condvar`), so a spawn
//! never posts a message: it queues the job, wakes an idle worker, and if none is free asks the
//! dispatcher for a new one by bumping a signal word (see `platform::wake_dispatcher`). The spawner
//! can therefore block in `join` at once. Host builds run the same code on native threads, which
//! is what `cargo test` exercises.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::completion::Ended;
use crate::config::{self, DEFAULT_STACK_SIZE};
use crate::thread::{self, Inner};

/// One spawned thread body and the identity it runs under.
pub(crate) struct Job {
    pub(crate) run: Box<dyn FnOnce() + Send>,
    pub(crate) thread: Arc<Inner>,
}

/// A worker the dispatcher should start. A request that carries a job is a *dedicated* worker
/// (a thread that asked for a bigger stack than pool workers have): it runs that job and exits.
pub(crate) struct BootRequest {
    pub(crate) stack_size: u32,
    pub(crate) job: Option<Job>,
}

struct State {
    queue: VecDeque<Job>,
    boots: VecDeque<BootRequest>,
    /// Pool workers parked in `WORK.wait_timeout`.
    idle: usize,
    /// Pool workers requested and not yet running `worker_loop`.
    booting: usize,
    /// Pool workers alive or booting (dedicated workers are not counted: they never take queued jobs).
    live: usize,
}

static STATE: Mutex<State> = Mutex::new(State {
    queue: VecDeque::new(),
    boots: VecDeque::new(),
    idle: 0,
    booting: 0,
    live: 0,
});
static WORK: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, State> {
    // The pool's own code never panics with the lock held; if a user panic hook did, the counters
    // are still consistent, so carry on rather than take every later spawn down with it.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn request_boot(&mut self, stack_size: u32, job: Option<Job>) {
        if job.is_none() {
            self.booting += 1;
            self.live += 1;
        }
        self.boots.push_back(BootRequest { stack_size, job });
    }

    /// Requests pool workers until every queued job has an idle or booting worker to take it,
    /// as far as the worker cap allows. Jobs beyond the cap wait for a worker to come free.
    fn provision(&mut self) -> bool {
        let mut requested = false;
        while self.queue.len() > self.idle + self.booting && self.live < config::max_workers() {
            self.request_boot(DEFAULT_STACK_SIZE, None);
            requested = true;
        }
        requested
    }
}

/// Queues a thread body. Never blocks for long and never posts a message.
pub(crate) fn submit(job: Job, stack_size: u32) {
    let mut state = lock();
    let wake = if stack_size > DEFAULT_STACK_SIZE {
        state.request_boot(stack_size, Some(job));
        true
    } else {
        state.queue.push_back(job);
        if state.idle > 0 {
            WORK.notify_one();
        }
        state.provision()
    };
    drop(state);
    if wake {
        crate::platform::wake_dispatcher();
    }
}

/// Boots `count` pool workers ahead of demand, within the cap.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn prestart(count: usize) {
    let mut state = lock();
    let mut requested = false;
    while state.live < count.min(config::max_workers()) {
        state.request_boot(DEFAULT_STACK_SIZE, None);
        requested = true;
    }
    drop(state);
    if requested {
        crate::platform::wake_dispatcher();
    }
}

/// Called by the dispatcher: the next worker to start, if any.
pub(crate) fn take_boot_request() -> Option<BootRequest> {
    lock().boots.pop_front()
}

/// Called by the dispatcher when a worker it created never reached `run_worker`.
pub(crate) fn boot_failed(request: BootRequest, why: &str) {
    let error = || Ended::Crashed(format!("worker failed to start: {why}"));
    if let Some(job) = request.job {
        job.thread.completion.finish(error());
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
        job.thread.completion.finish(error());
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
    static ROLE: std::cell::Cell<Role> = const { std::cell::Cell::new(Role::None) };
}

/// The body of every worker. Returns when the worker retires; the caller then frees its
/// instance's stack and TLS.
pub(crate) fn run_worker(request: BootRequest) {
    crate::panic::install_hook();
    if let Some(job) = request.job {
        ROLE.with(|role| role.set(Role::Dedicated));
        run_job(job);
        ROLE.with(|role| role.set(Role::None));
        return;
    }
    ROLE.with(|role| role.set(Role::Pool));
    let mut state = lock();
    state.booting -= 1;
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            // A panic that aborts never returns here (the worker script retires the worker);
            // one that unwinds was caught in the job, and the worker is as good as new.
            run_job(job);
            state = lock();
            continue;
        }
        state.idle += 1;
        let timeout = Duration::from_millis(u64::from(config::idle_timeout_ms()));
        let (guard, waited) = WORK
            .wait_timeout(state, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        state = guard;
        state.idle -= 1;
        if waited.timed_out() && state.queue.is_empty() && state.live > config::keep_workers() {
            state.live -= 1;
            ROLE.with(|role| role.set(Role::None));
            return;
        }
    }
}

/// Runs one thread body under its identity. The body catches its own unwinding panics.
fn run_job(job: Job) {
    let Job { run, thread } = job;
    thread::set_current(Some(Arc::clone(&thread)));
    run();
    // A panic the hook recorded turns this into `Ended::Panicked`.
    thread.completion.finish(Ended::Returned);
    thread::set_current(None);
}

/// The current worker's instance trapped (a panic that aborts, or another trap): finish its
/// job if the panic hook did not, take the worker out of the counts, and replace it if work
/// waits.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn worker_lost(why: &str) {
    if let Some(thread) = thread::take_current() {
        thread.completion.finish(Ended::Crashed(why.to_string()));
    }
    if ROLE.with(|role| role.replace(Role::None)) != Role::Pool {
        return;
    }
    let mut state = lock();
    state.live -= 1;
    let wake = state.provision();
    drop(state);
    if wake {
        crate::platform::wake_dispatcher();
    }
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
}

/// The worker pool's counters right now.
pub fn pool_stats() -> PoolStats {
    let state = lock();
    PoolStats {
        live: state.live,
        idle: state.idle,
        queued: state.queue.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prestart_boots_workers_ahead_of_spawns() {
        prestart(2);
        let live = pool_stats().live;
        assert!(live >= 2, "live workers after prestart: {live}");
    }
}
