//! wbspawn's bench app: the shared measurements over `wbspawn::spawn`.

#[path = "../../common/measure.rs"]
mod measure;

mod rt {
    pub struct Handle<T>(wbspawn::JoinHandle<T>);

    pub fn spawn<F, T>(f: F) -> Handle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Handle(wbspawn::spawn(f))
    }

    impl<T> Handle<T> {
        pub fn join(self) -> T {
            self.0.join().expect("bench thread panicked")
        }
    }
}
