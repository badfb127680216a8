//! `std::thread` on wbspawn's workers: the functions a patched std calls to start and join its
//! threads (see `runtime-rs/std-patches/` and `docs/std-threads.md`).
//!
//! std cannot start a Web Worker; its patched `sys/thread/wasm.rs` declares these functions and
//! this crate defines them, so every std thread is a pool job like `wbspawn::spawn`'s. They are
//! `extern "Rust"` on both sides: std and this crate are built by the same compiler in the same
//! build (-Zbuild-std), so Rust types may cross.
//!
//! Without the patch nothing here is called, and `config::patched_std()` says so:
//! `wbspawn::spawn` then runs its threads on the pool directly.

#[cfg(target_arch = "wasm32")]
pub(crate) use imp::*;

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::cell::RefCell;
    use std::io;
    use std::num::NonZeroU64;
    use std::ptr::NonNull;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::config;
    use crate::current::{self, DeathHandler, OnDeath};
    use crate::pool::{self, Job};
    use crate::record::{Record, ThreadId};

    std::thread_local! {
        // The record of the thread this thread just spawned through std: `wbspawn::spawn` hands
        // it to its JoinHandle (std's own handle does not expose it).
        static LAST_SPAWNED: RefCell<Option<Arc<Record>>> = const { RefCell::new(None) };
    }

    /// The record of the thread the last std spawn on this thread created.
    pub(crate) fn take_last_spawned() -> Option<Arc<Record>> {
        LAST_SPAWNED.with(RefCell::take)
    }

    struct Start {
        start: unsafe fn(*mut u8),
        arg: *mut u8,
    }

    // SAFETY: `arg` is std's boxed ThreadInit, made to be sent to the new thread.
    unsafe impl Send for Start {}

    /// Runs `start(arg)` on a worker with at least `stack_size` bytes of stack; if the thread
    /// cannot start, or dies before its closure returned, `on_death` instead.
    ///
    /// # Safety
    /// `start(arg)` must be sound to call once on another thread, and `on_death` (std's) to
    /// call once instead of it or after it died.
    #[no_mangle]
    pub unsafe fn __wbspawn_thread_spawn(
        stack_size: usize,
        name: Option<&str>,
        id: NonZeroU64,
        start: unsafe fn(*mut u8),
        arg: *mut u8,
        on_death: OnDeath,
    ) -> io::Result<NonNull<u8>> {
        config::check_stack_size(stack_size)?;
        crate::panic::install_hook();
        let record = Record::new(ThreadId::from_std(id), name.map(str::to_string));
        let entry = Start { start, arg };
        let job = Job {
            run: Box::new(move || {
                let entry = entry;
                // SAFETY: the caller's promise; this runs once.
                unsafe { (entry.start)(entry.arg) }
            }),
            record: Arc::clone(&record),
            fresh_thread_locals: true,
            // SAFETY: the caller's promise.
            on_death: Some(unsafe { DeathHandler::new(on_death) }),
        };
        pool::submit(job, config::stack_for(Some(stack_size)));
        LAST_SPAWNED.with(|last| *last.borrow_mut() = Some(Arc::clone(&record)));
        let handle = Arc::into_raw(record).cast_mut().cast::<u8>();
        // SAFETY: `Arc::into_raw` never returns null.
        Ok(unsafe { NonNull::new_unchecked(handle) })
    }

    /// # Safety
    /// `handle` came from `__wbspawn_thread_spawn` and is given back once.
    unsafe fn record(handle: NonNull<u8>) -> Arc<Record> {
        // SAFETY: see above.
        unsafe { Arc::from_raw(handle.as_ptr().cast_const().cast::<Record>()) }
    }

    /// Blocks until the thread's `start` returned or its worker died.
    ///
    /// # Safety
    /// As `record`.
    #[no_mangle]
    pub unsafe fn __wbspawn_thread_join(handle: NonNull<u8>) {
        // SAFETY: the caller's promise.
        let record = unsafe { record(handle) };
        crate::join::wait_for(&record);
    }

    /// # Safety
    /// As `record`.
    #[no_mangle]
    pub unsafe fn __wbspawn_thread_detach(handle: NonNull<u8>) {
        // SAFETY: the caller's promise.
        drop(unsafe { record(handle) });
    }

    /// `navigator.hardwareConcurrency`, as the page passed it in.
    #[no_mangle]
    pub fn __wbspawn_available_parallelism() -> usize {
        config::parallelism()
    }

    #[no_mangle]
    pub fn __wbspawn_thread_closure_returned() {
        current::closure_returned();
    }

    #[no_mangle]
    pub fn __wbspawn_thread_scope(
        scope: *const (),
        wait: Option<unsafe fn(*const (), Duration) -> bool>,
    ) {
        current::scope(scope, wait);
    }
}
