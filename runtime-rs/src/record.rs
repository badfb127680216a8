//! A thread's identity and finish line, shared by everyone who holds a handle to it: the
//! `JoinHandle`, `Thread` handles, the worker that runs it, std's own `JoinHandle` (through
//! the std hooks) and the panic hook.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::activity::Activity;
use crate::completion::Completion;

/// A unique identifier for a thread, never reused within one program run.
///
/// Where std's threads are on (see `docs/std-threads.md`) it is the number of std's own
/// `ThreadId` for the same thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    /// The next id of wbspawn's own counter (used when std does not number threads for us).
    pub(crate) fn next() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        // 2^64 spawns cannot happen; saturating keeps this panic-free all the same.
        ThreadId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MAX))
    }

    /// The thread numbered `id` (std's own numbers, on wasm; the app's own thread's).
    pub(crate) fn from_std(id: NonZeroU64) -> ThreadId {
        ThreadId(id)
    }

    /// The id as a number (std keeps this unstable; it is handy in the browser's console).
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

pub(crate) struct Record {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
    pub(crate) completion: Completion,
    /// What the thread does now (the inspector's table).
    pub(crate) activity: Activity,
    /// The thread that spawned it; `None`: the app's own thread.
    pub(crate) spawned_by: Option<ThreadId>,
}

impl Record {
    pub(crate) fn new(
        id: ThreadId,
        name: Option<String>,
        spawned_by: Option<ThreadId>,
    ) -> Arc<Record> {
        Arc::new(Record {
            id,
            name,
            completion: Completion::new(),
            activity: Activity::new(),
            spawned_by,
        })
    }

    pub(crate) fn name_for_messages(&self) -> &str {
        self.name.as_deref().unwrap_or("<unnamed>")
    }
}

std::thread_local! {
    // The record of the thread this thread just spawned through std (`Arc::into_raw`, or
    // null): `wbspawn::spawn` hands it to its JoinHandle (std's own handle does not expose
    // it). No destructor, so a thread-local's destructor may still spawn, as natively; the
    // pool drops what is left before it resets a worker's thread-locals.
    static LAST_SPAWNED: Cell<*const Record> = const { Cell::new(std::ptr::null()) };
}

/// Keeps `record` as the thread this thread spawned last through std.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the std hooks'
pub(crate) fn set_last_spawned(record: &Arc<Record>) {
    drop(take_last_spawned());
    LAST_SPAWNED.set(Arc::into_raw(Arc::clone(record)));
}

/// The record of the thread the last std spawn on this thread created.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the std path's
pub(crate) fn take_last_spawned() -> Option<Arc<Record>> {
    let last = LAST_SPAWNED.replace(std::ptr::null());
    // SAFETY: a non-null value came from `Arc::into_raw` above and is taken once.
    (!last.is_null()).then(|| unsafe { Arc::from_raw(last) })
}

/// A handle to a thread: its id and name.
#[derive(Clone)]
pub struct Thread {
    pub(crate) record: Arc<Record>,
}

impl Thread {
    /// The thread's unique id.
    pub fn id(&self) -> ThreadId {
        self.record.id
    }

    /// The name given with `Builder::name`, if any.
    pub fn name(&self) -> Option<&str> {
        self.record.name.as_deref()
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}
