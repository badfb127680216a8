// The app's own thread. It runs the app's wasm (the first instance, which owns the shared
// memory), starts the dispatcher, and then runs the page's calls one at a time. It is a worker
// so that the app may block (join, recv, a contended Mutex) without freezing the page.
import { describe } from "./instance.js";

const dispatcherUrl = new URL("./dispatcher.js", import.meta.url);
let glue = null;
// Set when a call panicked or trapped: the app's instance stopped mid-way and cannot be
// trusted again.
let crashed = null;

self.onmessage = ({ data }) => {
  if (data.type === "start") {
    start(data).then(
      (exports) => self.postMessage({ type: "ready", exports }),
      (error) => self.postMessage({ type: "failed", error: describe(error) }),
    );
  } else if (data.type === "call") {
    call(data.name, data.args).then((outcome) =>
      self.postMessage({ type: "result", id: data.id, ...outcome }),
    );
  }
};

async function start({ pkgUrl, wasmUrl, settings }) {
  const [module, loaded] = await Promise.all([compile(wasmUrl), import(pkgUrl)]);
  if (typeof loaded.__wbspawn_memory !== "function") {
    throw new Error(`${pkgUrl} does not link the wbspawn crate: add it to the app's dependencies`);
  }
  await loaded.default({ module_or_path: module });
  const shared = { pkgUrl, module, memory: loaded.__wbspawn_memory() };
  loaded.__wbspawn_configure(
    settings.parallelism,
    settings.maxWorkers,
    settings.idleTimeoutMs,
    settings.prestart,
  );
  await startDispatcher(shared);
  glue = loaded;
  return Object.keys(glue).filter(
    (name) =>
      typeof glue[name] === "function" &&
      !name.startsWith("__wb") &&
      name !== "default" &&
      name !== "initSync",
  );
}

async function compile(wasmUrl) {
  const response = await fetch(wasmUrl);
  if (!response.ok) throw new Error(`${wasmUrl}: HTTP ${response.status}`);
  // Compiled once here; every worker gets this Module object, never the bytes.
  return WebAssembly.compileStreaming(response);
}

function startDispatcher(shared) {
  return new Promise((resolve, reject) => {
    const dispatcher = new Worker(dispatcherUrl, { type: "module", name: "wbspawn-dispatcher" });
    dispatcher.onmessage = ({ data }) => {
      if (data.type === "ready") resolve(dispatcher);
      else reject(new Error(`the wbspawn dispatcher failed to start: ${data.error}`));
    };
    dispatcher.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`the wbspawn dispatcher failed to start: ${event.message || dispatcherUrl}`));
    };
    dispatcher.postMessage({ shared });
  });
}

// Async exports (`pub async fn`) return promises: awaiting them here leaves this worker free to
// take the page's next calls while the future waits (e.g. in `join_async`).
async function call(name, args) {
  if (crashed) return { ok: false, error: `the app crashed earlier (${crashed}); reload the page` };
  if (typeof glue?.[name] !== "function" || name.startsWith("__wb")) {
    return { ok: false, error: `the app exports no function "${name}"` };
  }
  try {
    return { ok: true, value: cloneable(await glue[name](...args)) };
  } catch (error) {
    const panic = glue.__wbspawn_take_panic_message();
    // A panic or a trap left the app's instance mid-way: it cannot be trusted again. Anything
    // else is a value the export threw on purpose (a Rust `Err` returned to JS).
    if (panic !== undefined || error instanceof WebAssembly.RuntimeError) {
      crashed = panic ?? describe(error);
      return { ok: false, error: crashed };
    }
    return { ok: false, error: describe(error) };
  }
}

// Typed arrays from wasm-bindgen become plain arrays: easier to compare and print on the page.
function cloneable(value) {
  return ArrayBuffer.isView(value) ? Array.from(value) : value;
}
