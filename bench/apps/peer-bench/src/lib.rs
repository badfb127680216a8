//! wasm-bindgen-spawn 0.0.2's bench app: the shared measurements over `ThreadCreator::spawn`,
//! set up the way its documentation shows (a global creator, awaited once from JS).

#[path = "../../common/measure.rs"]
mod measure;

mod rt {
    use std::panic::AssertUnwindSafe;
    use std::sync::OnceLock;

    use wasm_bindgen::prelude::*;
    use wasm_bindgen_spawn::{JoinHandle, ThreadCreator};

    static CREATOR: OnceLock<ThreadCreator> = OnceLock::new();

    /// Starts the peer's dispatcher; the returned promise resolves when it is ready.
    #[wasm_bindgen]
    pub fn peer_init(wasm_url: &str, js_url: &str) -> Result<js_sys::Promise, JsValue> {
        let (ready, creator) = ThreadCreator::unready(wasm_url, js_url)?.into_promise_and_inner();
        CREATOR
            .set(creator)
            .map_err(|_| JsValue::from_str("peer_init called twice"))?;
        Ok(ready)
    }

    pub struct Handle<T: Send + 'static>(JoinHandle<T>);

    pub fn spawn<F, T>(f: F) -> Handle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The peer requires UnwindSafe closures; a panic aborts on this target anyway.
        let f = AssertUnwindSafe(f);
        let creator = CREATOR.get().expect("peer_init must run first");
        Handle(
            creator
                .spawn(move || {
                    let f = f;
                    (f.0)()
                })
                .expect("the peer's dispatcher is gone"),
        )
    }

    impl<T: Send + 'static> Handle<T> {
        pub fn join(self) -> T {
            self.0.join().expect("bench thread panicked")
        }
    }
}
