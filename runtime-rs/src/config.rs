//! Runtime settings, written once by the host (the JS bootstrap) before the dispatcher starts.
//!
//! They live in statics in shared memory, so every worker's instance reads the same values.

use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// Stack of a pool worker. wasm-bindgen allocates it once per instance, so it is fixed per worker.
pub(crate) const DEFAULT_STACK_SIZE: u32 = 2 << 20;
/// wasm-bindgen requires thread stacks in whole wasm pages.
pub(crate) const STACK_ALIGN: u32 = 64 << 10;
/// Largest stack `Builder::stack_size` accepts (a quarter of the 1 GiB maximum memory).
pub(crate) const MAX_STACK_SIZE: usize = 256 << 20;

/// The error for a requested stack size above `MAX_STACK_SIZE`, whichever API asked.
pub(crate) fn check_stack_size(size: usize) -> io::Result<()> {
    if size > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("stack size above the {} MiB limit", MAX_STACK_SIZE >> 20),
        ));
    }
    Ok(())
}

static PARALLELISM: AtomicU32 = AtomicU32::new(0);
static MAX_WORKERS: AtomicU32 = AtomicU32::new(128);
static IDLE_TIMEOUT_MS: AtomicU32 = AtomicU32::new(10_000);
static KEEP_WORKERS: AtomicU32 = AtomicU32::new(0);

/// Settings the host passes in; zero means "keep the default".
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Settings {
    pub parallelism: u32,
    pub max_workers: u32,
    pub idle_timeout_ms: u32,
    pub keep_workers: u32,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the wasm exports
pub(crate) fn apply(settings: Settings) {
    let set = |cell: &AtomicU32, value: u32| {
        if value != 0 {
            cell.store(value, Ordering::Relaxed);
        }
    };
    set(&PARALLELISM, settings.parallelism);
    set(&MAX_WORKERS, settings.max_workers);
    set(&IDLE_TIMEOUT_MS, settings.idle_timeout_ms);
    set(&KEEP_WORKERS, settings.keep_workers);
}

pub(crate) fn max_workers() -> usize {
    MAX_WORKERS.load(Ordering::Relaxed).max(1) as usize
}

pub(crate) fn idle_timeout_ms() -> u32 {
    IDLE_TIMEOUT_MS.load(Ordering::Relaxed)
}

pub(crate) fn keep_workers() -> usize {
    KEEP_WORKERS.load(Ordering::Relaxed) as usize
}

/// The number of threads that can run at once: `navigator.hardwareConcurrency` in the browser
/// (as `start()` passes it in, or the browser's own before that), `std::thread::
/// available_parallelism` elsewhere.
///
/// Like std's function of the same name, it is a hint for sizing work, not a limit on spawns,
/// and it fails only when the number cannot be known (in the browser: where the browser does
/// not say).
pub fn available_parallelism() -> io::Result<NonZeroUsize> {
    let configured = PARALLELISM.load(Ordering::Relaxed) as usize;
    match NonZeroUsize::new(configured) {
        Some(count) => Ok(count),
        #[cfg(not(target_arch = "wasm32"))]
        None => std::thread::available_parallelism(),
        // Before `start()` (in `#[wasm_bindgen(start)]`, say) the browser answers itself, as
        // it will through `start()`: a pool sized there gets every thread.
        #[cfg(target_arch = "wasm32")]
        None => {
            NonZeroUsize::new(crate::platform::hardware_concurrency() as usize).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "the browser does not say how many threads can run at once \
                     (navigator.hardwareConcurrency)",
                )
            })
        }
    }
}

/// What std's `available_parallelism` reports through the std hooks: at least 1, so that std
/// (and crates sizing pools by it, such as rayon) always gets an answer.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // called by the std hooks
pub(crate) fn parallelism() -> usize {
    available_parallelism().map_or(1, NonZeroUsize::get)
}

/// Whether the build uses wbspawn's patched std, whose threads, clock and output are this
/// crate's (`docs/std-threads.md`): the patched std asks this crate for the parallelism, the
/// unpatched one answers "unsupported" by itself. Never on a native host.
pub(crate) fn patched_std() -> bool {
    if cfg!(not(target_arch = "wasm32")) {
        return false;
    }
    const UNKNOWN: u8 = 0;
    const ON: u8 = 1;
    const OFF: u8 = 2;
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::thread::available_parallelism().is_ok();
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// Rounds a requested stack size up to whole wasm pages, at least the default.
pub(crate) fn stack_for(requested: Option<usize>) -> u32 {
    let requested = requested.unwrap_or(0).min(MAX_STACK_SIZE) as u32;
    requested.max(DEFAULT_STACK_SIZE).div_ceil(STACK_ALIGN) * STACK_ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes_round_up_to_pages() {
        assert_eq!(stack_for(None), DEFAULT_STACK_SIZE);
        assert_eq!(stack_for(Some(1)), DEFAULT_STACK_SIZE);
        assert_eq!(
            stack_for(Some(DEFAULT_STACK_SIZE as usize + 1)),
            DEFAULT_STACK_SIZE + STACK_ALIGN
        );
        assert_eq!(stack_for(Some(usize::MAX)), MAX_STACK_SIZE as u32);
    }

    #[test]
    fn configured_parallelism_wins_and_std_answers_otherwise() {
        // Host: nothing configured yet in this test binary's first use, std answers.
        let native = std::thread::available_parallelism().unwrap();
        if PARALLELISM.load(Ordering::Relaxed) == 0 {
            assert_eq!(available_parallelism().unwrap(), native);
        }
        apply(Settings {
            parallelism: 3,
            ..Settings::default()
        });
        assert_eq!(available_parallelism().unwrap().get(), 3);
        assert_eq!(parallelism(), 3);
    }
}
