// wbspawn's page side. The page never runs the app's wasm itself: `start` puts it in a worker
// (where blocking is allowed) and returns a handle whose calls are promises.
//
//   import { start, done } from "/_wbspawn/bootstrap.js";
//   const app = await start("/pkg/demo.js");
//   const counts = await app.call("count_primes", 4, 1_000_000);
//   done(true, "all good");

const appWorkerUrl = new URL("./app-worker.js", import.meta.url);

/**
 * Starts the app whose wasm-bindgen (`--target web`) glue is at `pkgUrl`.
 *
 * Options: `wasmUrl` (default: the glue's `_bg.wasm` beside it), `maxWorkers` (cap on thread
 * workers, 128), `prestart` (workers booted ahead, default `navigator.hardwareConcurrency`),
 * `idleTimeoutMs` (how long a worker beyond `prestart` waits for work before it retires, 10000).
 * Resolves once the dispatcher runs, so the app may spawn and join at once.
 */
export async function start(pkgUrl, options = {}) {
  if (!self.crossOriginIsolated) {
    throw new Error(
      "wbspawn needs SharedArrayBuffer: serve the page with Cross-Origin-Opener-Policy: same-origin " +
        "and Cross-Origin-Embedder-Policy: require-corp (wbspawn-serve does)",
    );
  }
  const glueUrl = new URL(pkgUrl, location.href);
  const wasmUrl = new URL(options.wasmUrl ?? glueUrl.href.replace(/\.js$/, "_bg.wasm"), location.href);
  const cores = navigator.hardwareConcurrency || 1;
  const settings = {
    parallelism: cores,
    maxWorkers: options.maxWorkers ?? 128,
    prestart: options.prestart ?? cores,
    idleTimeoutMs: options.idleTimeoutMs ?? 10_000,
  };

  const worker = new Worker(appWorkerUrl, { type: "module", name: "wbspawn-app" });
  const calls = new Map();
  let nextCall = 1;
  let fatal = null;
  const failAll = (error) => {
    fatal = error;
    for (const { reject } of calls.values()) reject(error);
    calls.clear();
  };

  const exports = await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === "ready") resolve(data.exports);
      else if (data.type === "failed") reject(new Error(`wbspawn: the app failed to start: ${data.error}`));
      else if (data.type === "result") {
        const pending = calls.get(data.id);
        calls.delete(data.id);
        if (data.ok) pending.resolve(data.value);
        else pending.reject(new Error(data.error));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`wbspawn: the app worker failed: ${event.message || appWorkerUrl}`);
      failAll(error);
      reject(error);
    };
    worker.postMessage({ type: "start", pkgUrl: glueUrl.href, wasmUrl: wasmUrl.href, settings });
  });

  return {
    /** Names of the functions the app exports. */
    exports,
    /** Calls an exported function in the app's worker; resolves with its return value. */
    call(name, ...args) {
      if (fatal) return Promise.reject(fatal);
      return new Promise((resolve, reject) => {
        const id = nextCall++;
        calls.set(id, { resolve, reject });
        worker.postMessage({ type: "call", id, name, args });
      });
    },
    /** Stops the app's worker (its threads stop with it). */
    terminate() {
      worker.terminate();
      failAll(new Error("wbspawn: the app was terminated"));
    },
  };
}

/**
 * Marks the page as finished: `<html data-wbspawn-status="pass|fail" data-wbspawn-detail="...">`,
 * plus a `wbspawn:done` event. Test runners and `wbspawn check` wait for this.
 */
export function done(ok, detail = "") {
  const root = document.documentElement;
  root.dataset.wbspawnDetail = String(detail);
  root.dataset.wbspawnStatus = ok ? "pass" : "fail";
  window.dispatchEvent(new CustomEvent("wbspawn:done", { detail: { ok: Boolean(ok), detail: String(detail) } }));
}
