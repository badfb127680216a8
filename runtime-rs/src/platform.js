// The browser functions the runtime imports (one module, so each worker fetches one file).

// Calls `wake` once the i32 at byte `address` of `memory` stops being `expected` (it is
// notified by the thread that finishes). Atomics.waitAsync never blocks, so this works on a
// page's main thread too, where Atomics.wait throws.
export function waitAsync(memory, address, expected, wake) {
  const result = Atomics.waitAsync(new Int32Array(memory.buffer), address >>> 2, expected);
  if (result.async) {
    result.value.then(() => wake());
  } else {
    wake();
  }
}

// Each worker's performance.now() counts from its own start (its timeOrigin); timeOrigin +
// now() is the page's one monotonic clock in every worker, in ms since the Unix epoch.
const origin = performance.timeOrigin;

export function monotonicMs() {
  return origin + performance.now();
}

export function wallMs() {
  return Date.now();
}

// The arguments the app worker was given for the program before the runtime was configured
// (app-worker.js sets them first, so that `#[wasm_bindgen(start)]` sees them too).
export function startArgs() {
  return self.wbspawnArgs ?? null;
}

// The browser's thread count, for `available_parallelism()` before start() has passed the
// page's in (a rayon pool built in `#[wasm_bindgen(start)]`); 0 where it is not known.
export function hardwareConcurrency() {
  return self.navigator?.hardwareConcurrency ?? 0;
}
