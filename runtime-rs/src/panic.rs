//! The panic hook that turns a panic into `join`'s `Err`.
//!
//! wasm32-unknown-unknown aborts on panic: the worker's instance traps and no unwinding runs, so
//! the hook (which runs before the abort) is the only place that sees the message. It finishes
//! the current thread with it and then hands over to the previous hook.

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::thread::{self, JoinError};

pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let message = message_of(info);
            crate::platform::record_panic(&message, info);
            match thread::current_spawned() {
                Some(current) => {
                    let error = JoinError::Panicked {
                        message,
                        location: info.location().map(ToString::to_string),
                    };
                    crate::platform::report_thread_panic(
                        current.name_for_messages(),
                        &error,
                        || previous(info),
                    );
                    current.completion.finish(Err(error));
                }
                None => previous(info),
            }
        }));
    });
}

fn message_of(info: &PanicHookInfo<'_>) -> String {
    info.payload_as_str().unwrap_or("Box<dyn Any>").to_string()
}
