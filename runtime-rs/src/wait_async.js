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
