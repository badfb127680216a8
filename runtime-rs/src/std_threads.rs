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
mod imp {
    use std::io;
    use std::num::NonZeroU64;
    use std::ptr::NonNull;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::config;
    use crate::current::{self, DeathHandler, Discard, OnDeath};
    use crate::pool::{self, Job};
    use crate::record::{self, Record, ThreadId};

    struct Start {
        start: unsafe fn(*mut u8),
        arg: *mut u8,
    }

    // SAFETY: `arg` is std's boxed ThreadInit, made to be sent to the new thread.
    unsafe impl Send for Start {}

    /// Runs `start(arg)` on a worker with at least `stack_size` bytes of stack; if the thread
    /// dies before its closure returned, `on_death` after it; if it cannot start, `on_death`
    /// and then `discard(arg)` instead. Fails for a thread of a `thread::scope` before the app
    /// has started (see `scope::check_started`), or a stack the memory has no room for.
    ///
    /// # Safety
    /// `start(arg)` must be sound to call once on another thread, and `on_death` and `discard`
    /// (std's) to call as said.
    #[no_mangle]
    // The std patch's interface: plain arguments keep it free of shared types.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn __wbspawn_v2_thread_spawn(
        stack_size: usize,
        name: Option<&str>,
        id: NonZeroU64,
        scoped: bool,
        start: unsafe fn(*mut u8),
        arg: *mut u8,
        on_death: OnDeath,
        discard: unsafe fn(*mut u8),
    ) -> io::Result<NonNull<u8>> {
        config::check_stack_size(stack_size)?;
        if scoped {
            crate::scope::check_started()?;
        }
        crate::panic::install_hook();
        let record = Record::new(
            ThreadId::from_std(id),
            name.map(str::to_string),
            current::id(),
        );
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
            on_death: Some(unsafe { DeathHandler::new(on_death, (discard, arg) as Discard) }),
        };
        pool::submit(job, config::stack_for(Some(stack_size)))?;
        record::set_last_spawned(&record);
        let handle = Arc::into_raw(record).cast_mut().cast::<u8>();
        // SAFETY: `Arc::into_raw` never returns null.
        Ok(unsafe { NonNull::new_unchecked(handle) })
    }

    /// # Safety
    /// `handle` came from `__wbspawn_v2_thread_spawn` and is given back once.
    unsafe fn record(handle: NonNull<u8>) -> Arc<Record> {
        // SAFETY: see above.
        unsafe { Arc::from_raw(handle.as_ptr().cast_const().cast::<Record>()) }
    }

    /// Blocks until the thread's `start` returned or its worker died.
    ///
    /// # Safety
    /// As `record`.
    #[no_mangle]
    pub unsafe fn __wbspawn_v2_thread_join(handle: NonNull<u8>) {
        // SAFETY: the caller's promise.
        let record = unsafe { record(handle) };
        crate::join::wait_for(&record);
    }

    /// # Safety
    /// As `record`.
    #[no_mangle]
    pub unsafe fn __wbspawn_v2_thread_detach(handle: NonNull<u8>) {
        // SAFETY: the caller's promise.
        drop(unsafe { record(handle) });
    }

    /// `navigator.hardwareConcurrency`, as the page passed it in.
    #[no_mangle]
    pub fn __wbspawn_v2_available_parallelism() -> usize {
        config::parallelism()
    }

    #[no_mangle]
    pub fn __wbspawn_v2_thread_closure_returned() {
        current::closure_returned();
    }

    #[no_mangle]
    pub fn __wbspawn_v2_thread_scope(
        scope: *const (),
        wait: Option<unsafe fn(*const (), Duration) -> bool>,
    ) {
        current::scope(scope, wait);
    }
}
