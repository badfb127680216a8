//! Moving a JS object from the page to one thread (the main-thread mode): an `OffscreenCanvas`
//! a thread draws on, a `MessagePort`, an `ArrayBuffer`.
//!
//! A worker's JS objects are its own; one crosses to another worker only by `postMessage`, and
//! a thread has no event loop to take a message while it runs. So the page keeps the object
//! (`Transfer::new`), the thread that gets it runs on a worker of its own (the spawn becomes a
//! dedicated boot request carrying the object's id: `Builder::transfer`), the dispatcher tells
//! the page which worker that is, and the page posts the object there (transferred, where it is
//! transferable) before the worker starts the thread, which takes it (`Transfer::take`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = keepForTransfer)]
    fn keep_for_transfer(value: JsValue) -> u32;
    #[wasm_bindgen(js_name = takeTransferred)]
    fn take_transferred(id: u32) -> JsValue;
}

/// A JS object on its way from the page to one thread; see [`Builder::transfer`].
///
/// [`Builder::transfer`]: crate::Builder::transfer
#[derive(Debug)]
pub struct Transfer {
    id: u32,
}

impl Transfer {
    /// Keeps `value` on the page for the thread a [`Builder::transfer`] spawn starts. A
    /// transfer no thread takes stays on the page.
    ///
    /// # Panics
    /// Off the page's main thread (the app must start with `mode: "main"`): only the page can
    /// post to the thread's worker.
    ///
    /// [`Builder::transfer`]: crate::Builder::transfer
    pub fn new(value: JsValue) -> Transfer {
        assert!(
            crate::is_main_thread(),
            "wbspawn: Transfer::new runs on the page's main thread (start the app with \
             start(pkgUrl, {{ mode: \"main\" }})): only the page can pass a JS object to a thread"
        );
        Transfer {
            id: keep_for_transfer(value),
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The object, on the thread it was given to; `None` on any other thread (it never
    /// reached this worker).
    pub fn take(self) -> Option<JsValue> {
        let value = take_transferred(self.id);
        (!value.is_undefined()).then_some(value)
    }
}
