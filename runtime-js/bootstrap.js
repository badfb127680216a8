// wbspawn's page side. The page never runs the app's wasm itself: `start` puts it in a worker
// (where blocking is allowed) and returns a handle whose calls are promises.
//
//   import { start, done } from "/_wbspawn/bootstrap.js";
//   const app = await start("/pkg/demo.js");
//   const counts = await app.call("count_primes", 4, 1_000_000);
//   done(true, "all good");

const appWorkerUrl = new URL("./app-worker.js", import.meta.url);
const dispatcherUrl = new URL("./dispatcher.js", import.meta.url);
const threadWorkerUrl = new URL("./thread-worker.js", import.meta.url);

/**
 * Starts the app whose wasm-bindgen (`--target web`) glue is at `pkgUrl`.
 *
 * Options: `wasmUrl` (default: the glue's `_bg.wasm` beside it), `maxWorkers` (cap on thread
 * workers, 128), `prestart` (workers booted ahead, default `navigator.hardwareConcurrency`),
 * `idleTimeoutMs` (how long a worker beyond `prestart` waits for work before it retires, 10000).
 * Resolves once the app's instance is ready; the app may spawn and join at once (its first
 * threads start as soon as the prestarted workers are up, a few ms later).
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

  // Every worker of the app is created here, on the page's thread, never inside a worker.
  // Firefox makes a worker that calls `new Worker()` wait for its main thread, and while a
  // debugger is attached (DevTools, or WebDriver BiDi in CI) that wait now and then never ends:
  // start-up froze with no error in a few loads out of a hundred. From the page's thread it
  // never does. So the dispatcher asks the page for each thread worker, with the port it
  // drives that worker through, and the app worker reaches the dispatcher over a channel.
  const worker = new Worker(appWorkerUrl, { type: "module", name: "wbspawn-app" });
  const dispatcher = new Worker(dispatcherUrl, { type: "module", name: "wbspawn-dispatcher" });
  const threadWorkers = new Map();
  const calls = new Map();
  let nextCall = 1;
  let fatal = null;
  const failAll = (error) => {
    fatal = error;
    for (const { reject } of calls.values()) reject(error);
    calls.clear();
  };

  // A thread worker, driven by the dispatcher through `port`; it loads the glue at once.
  const createThreadWorker = (id, name, port) => {
    const thread = new Worker(threadWorkerUrl, { type: "module", name });
    threadWorkers.set(id, thread);
    thread.onmessage = ({ data: note }) => {
      if (note.type === "exit") threadWorkers.delete(id);
    };
    thread.onerror = (event) => {
      event.preventDefault();
      const message = event.message || `could not load ${threadWorkerUrl}`;
      dispatcher.postMessage({ type: "worker-error", id, message });
    };
    thread.postMessage({ type: "connect", port, pkgUrl: glueUrl.href }, [port]);
  };
  dispatcher.onmessage = ({ data }) => {
    if (data.type === "create-worker") {
      createThreadWorker(data.id, data.name, data.port);
    } else if (data.type === "terminate-worker") {
      threadWorkers.get(data.id)?.terminate();
      threadWorkers.delete(data.id);
    }
  };
  // The first spawn's worker starts now, beside the app's, so that it is ready when the app
  // is. Only one: on few cores every worker started now delays the app's own start (the
  // others start when the app is ready; docs/architecture.md, "What start-up costs").
  const early = [];
  if (settings.prestart > 0 && settings.maxWorkers > 0) {
    const channel = new MessageChannel();
    const standby = { id: 1, name: "wbspawn-worker-1", port: channel.port2 };
    early.push(standby);
    createThreadWorker(standby.id, standby.name, channel.port1);
  }
  const toDispatcher = new MessageChannel();
  dispatcher.postMessage(
    { type: "app", pkgUrl: glueUrl.href, port: toDispatcher.port2, early },
    [toDispatcher.port2, ...early.map((standby) => standby.port)],
  );

  let ready = false;
  const started = new Promise((resolve, reject) => {
    // During start-up, a dispatcher that fails (its script did not load) fails start(); later,
    // the calls fail with it (no thread could start), and the browser reports the error too.
    dispatcher.onerror = (event) => {
      const why = `the wbspawn dispatcher failed: ${event.message || dispatcherUrl}`;
      if (ready) {
        failAll(new Error(`wbspawn: ${why}`));
        return;
      }
      event.preventDefault();
      reject(new Error(`wbspawn: the app failed to start: ${why}`));
    };
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
    worker.postMessage(
      { type: "start", pkgUrl: glueUrl.href, settings, dispatcher: toDispatcher.port1 },
      [toDispatcher.port1],
    );
  });
  sendWasm(worker, wasmUrl);
  let exports;
  try {
    exports = await started;
  } catch (error) {
    // The workers this start made must not outlive it.
    for (const each of [worker, dispatcher, ...threadWorkers.values()]) each.terminate();
    throw error;
  }
  ready = true;

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
    /** Stops the app's worker and every worker of its threads. */
    terminate() {
      for (const each of [worker, dispatcher, ...threadWorkers.values()]) each.terminate();
      threadWorkers.clear();
      failAll(new Error("wbspawn: the app was terminated"));
    },
  };
}

// The page fetches the app's wasm while the app worker starts (a worker takes tens of ms to
// start, more on few cores) and hands it the response's body as a stream: the worker compiles
// it as it arrives, without waiting for a fetch of its own. An engine that cannot transfer a
// stream (WebKit) gets the bytes whole once they are here, never a second download.
function sendWasm(worker, wasmUrl) {
  fetch(wasmUrl)
    .then(async (response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      try {
        worker.postMessage({ type: "wasm", body: response.body }, [response.body]);
      } catch {
        const bytes = await response.arrayBuffer();
        worker.postMessage({ type: "wasm", bytes }, [bytes]);
      }
    })
    .catch((error) => {
      worker.postMessage({ type: "wasm", error: `${wasmUrl}: ${error.message ?? error}` });
    });
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
