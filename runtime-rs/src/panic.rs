//! The panic hook that turns a panic into `join`'s `Err`.
//!
//! By default wasm32-unknown-unknown aborts on panic: the worker's instance traps and nothing
//! unwinds, so the hook (which runs before the abort) is the only place that sees the message.
//! It records it as the current thread's outcome and hands over to the previous hook. In an
//! unwinding build the spawned closure catches the unwind, and the recorded message becomes the
//! outcome once the thread has finished unwinding.

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::thread;

pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = message_of(info);
            crate::platform::record_panic(&message, info);
            match thread::current_spawned() {
                Some(current) => {
                    let location = info.location().map(ToString::to_string);
                    crate::platform::report_thread_panic(
                        current.name_for_messages(),
                        &message,
                        location.as_deref(),
                        || previous(info),
                    );
                    current.completion.panicked(message, location);
                }
                None => previous(info),
            }
        }));
    });
}

fn message_of(info: &PanicHookInfo<'_>) -> String {
    info.payload_as_str().unwrap_or("Box<dyn Any>").to_string()
}
