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

// Whether this is the page's main thread (an app started with `mode: "main"`), where
// Atomics.wait throws and wait.rs spins instead.
export function onPage() {
  return typeof document !== "undefined";
}

// The page's main thread waited `ms` (`still`: and waits on). Names the first frame of the
// app's own code (`module`'s function names where the engine's stack has none: WebKit's).
export function warnPageWait(module, ms, still) {
  const site = callSite(new Error().stack ?? "", module);
  const where = site ? ` in ${site}` : "";
  const time = ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
  if (still) {
    console.error(
      `wbspawn: the page's main thread has waited ${time}${where} and waits on; if it waits ` +
        "for a thread that has no worker yet, it waits for good (the page creates workers, " +
        "between its tasks): await JoinHandle::join_async instead, or raise start()'s prestart",
    );
  } else {
    console.warn(
      `wbspawn: the page's main thread waited ${time}${where}: the page could not draw or take ` +
        "input meanwhile (a frame is 16 ms); await JoinHandle::join_async instead, or do the " +
        "work on a thread",
    );
  }
}

// std, the runtime and the thread libraries wait on someone's behalf.
const LIBRARY_FRAME =
  /^<?(std|core|alloc|wbspawn|rayon|rayon_core|crossbeam\w*|dlmalloc|wasm_bindgen)\b|^__(wbspawn|rust|wbg|wbindgen)/;

// The first wasm frame of a stack that is not a library's. Chromium: "at app.wasm.name (url)";
// Firefox: "app.wasm.name@url"; WebKit: "<?>.wasm-function[index]@[wasm code]".
function callSite(stack, module) {
  for (const line of stack.split("\n")) {
    if (!/wasm/.test(line)) continue;
    const index = /wasm-function\[(\d+)\]/.exec(line);
    const name = index
      ? functionNames(module).get(Number(index[1])) ?? ""
      : line.trim().replace(/^at /, "").replace(/ \(.*$/, "").replace(/@.*$/, "").replace(/^[\w-]+\.wasm\./, "");
    const plain = name.replace(/::h[0-9a-f]{16}$/, "");
    if (plain && !LIBRARY_FRAME.test(plain)) return plain;
  }
  return "";
}

const namesOf = new WeakMap();

// A module's function names by index, from its "name" section (subsection 1).
function functionNames(module) {
  if (!(module instanceof WebAssembly.Module)) return new Map();
  if (namesOf.has(module)) return namesOf.get(module);
  const names = new Map();
  for (const section of WebAssembly.Module.customSections(module, "name")) {
    const bytes = new Uint8Array(section);
    let at = 0;
    const leb = () => {
      let value = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = bytes[at++];
        value += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) return value;
      }
    };
    while (at < bytes.length) {
      const id = bytes[at++];
      const end = leb() + at;
      if (id === 1) {
        const decoder = new TextDecoder();
        for (let count = leb(); count > 0; count -= 1) {
          const index = leb();
          const length = leb();
          names.set(index, decoder.decode(bytes.subarray(at, at + length)));
          at += length;
        }
      }
      at = end;
    }
  }
  namesOf.set(module, names);
  return names;
}

// Objects the page keeps for threads (transfer.rs), by id; bootstrap.js posts each to the
// worker of the thread it was given to. A worker keeps what it was posted the same way.
const transfers = (globalThis.wbspawnTransfers ??= new Map());
let nextTransfer = 1;

export function keepForTransfer(value) {
  const id = nextTransfer++;
  transfers.set(id, value);
  return id;
}

export function takeTransferred(id) {
  const value = transfers.get(id);
  transfers.delete(id);
  return value;
}
