//! What a thread's panic leaves for `join`.
//!
//! By default wasm32-unknown-unknown aborts on panic: the worker's instance traps and nothing
//! unwinds, so the panic's report (before the abort) is the only place that sees the message
//! and location; it is recorded on the current thread's record. The patched std reports every
//! panic here itself (`__wbspawn_v2_panicked`), before the panic hook, so the app may set any
//! hook (`console_error_panic_hook` replaces std's) and `join` still gets the message. Without
//! the patch, a panic hook of the runtime's does it, handing over to the hook installed before
//! it; a hook the app sets after that replaces it. In an unwinding build the thread may still
//! catch the panic; the record only says what the last panic was, the thread's result says
//! whether it escaped.

use std::cell::RefCell;
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::completion::PanicReport;

std::thread_local! {
    // The last panic on a thread the runtime did not start (the app's own), for the app
    // worker to put in a rejected call's error.
    static LAST_UNSPAWNED: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    if crate::config::patched_std() {
        return; // std reports every panic itself (`hooks` below)
    }
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            report(info);
            previous(info);
        }));
    });
}

fn report(info: &PanicHookInfo<'_>) {
    let message = info.payload_as_str().unwrap_or("Box<dyn Any>").to_string();
    let location = info.location().map(ToString::to_string);
    let record = crate::current::record();
    // On a native host (the runtime's own tests) nothing takes the queue. The app's own
    // thread (the page's, or the app worker's) has no record; its output says "main" too
    // (stdio.rs).
    if cfg!(target_arch = "wasm32") {
        let name = record
            .as_ref()
            .map_or("main", |record| record.name_for_messages());
        crate::stdio::panicked(name, location.as_deref(), &message);
    }
    match record {
        Some(record) => {
            let at = location
                .as_deref()
                .map(|at| format!(" at {at}"))
                .unwrap_or_default();
            // A warning, not an error: the panic reaches `join` as a value the program can
            // handle. Only without the patched std: with it, std's default hook writes the
            // panic to stderr, which the runtime passes on (stdio.rs), as on a native host.
            if cfg!(target_arch = "wasm32") && !crate::config::patched_std() {
                crate::platform::warn(&format!(
                    "wbspawn: thread '{}' panicked{at}:\n{message}",
                    record.name_for_messages()
                ));
            }
            record
                .completion
                .record_panic(PanicReport { message, location });
        }
        None => {
            let text = match location {
                Some(at) => format!("panicked at {at}:\n{message}"),
                None => format!("panicked:\n{message}"),
            };
            let _ = LAST_UNSPAWNED.try_with(|last| last.replace(Some(text)));
        }
    }
}

/// The last panic on this (unspawned) thread since the previous call, if any.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the app worker asks
pub(crate) fn take_unspawned_panic() -> Option<String> {
    LAST_UNSPAWNED.try_with(RefCell::take).ok().flatten()
}

#[cfg(target_arch = "wasm32")]
mod hooks {
    use std::panic::PanicHookInfo;

    /// The patched std's report of a panic, before any panic hook runs.
    #[no_mangle]
    pub fn __wbspawn_v2_panicked(info: &PanicHookInfo<'_>) {
        super::report(info);
    }
}
