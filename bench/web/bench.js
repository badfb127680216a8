// Starts one runtime's bench app and exposes `window.bench.call(name, ...args)`:
//   wbspawn      through its bootstrap (`start()`);
//   peer         wasm-bindgen-spawn 0.0.2, in a classic worker with its `--target no-modules`
//                output, as its documentation sets it up;
//   rayon-peer   wasm-bindgen-rayon 1.3 in a module worker, `initThreadPool(threads)`;
//   bare         a module worker that only instantiates wbspawn's bench wasm: the floor for
//                any runtime's start-up.
//   bare-pair    the same, with a second module worker (one that loads nothing) started at the
//                same moment: the floor for a runtime that needs a second worker at start-up,
//                as one whose app may block needs a worker to start threads for it.
//   wbspawn-main wbspawn with the app's instance on the page (`mode: "main"`), called there.
//   rayon-peer-main  wasm-bindgen-rayon 1.3 on the page: `init()`, `initThreadPool(threads)`
//                and calls from the page, rayon's waits spinning (`web_spin_lock`), as its
//                README shows for an app that owns the page.
// `window.benchReady` is when the app could take its first call (ms since navigation), and
// `window.benchFrame` when the page drew its first frame after that. With
// `?first=1` the page makes its first parallel call the moment it is ready, as an app would,
// and `window.benchFirst` is when the result came (ms since navigation): no driver round trip
// in between, and no pause a real page does not have. With `?inspect=1` (wbspawn) the page
// asks `poolState()` twice a second, as the dev server's thread inspector does while open.
import { done, start } from "/_wbspawn/bootstrap.js";

const params = new URLSearchParams(location.search);

// A worker that answers {id, name, args} with {id, ok, value|error}, after {type: "ready"}.
function workerApp(url, options, init) {
  const worker = new Worker(url, options);
  const pending = new Map();
  let next = 1;
  return new Promise((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(event.message || `${url} failed`));
    worker.onmessage = ({ data }) => {
      if (data.type === "ready") {
        resolve({ call });
        return;
      }
      if (data.type === "failed") {
        reject(new Error(data.error));
        return;
      }
      const waiting = pending.get(data.id);
      pending.delete(data.id);
      if (data.ok) waiting.resolve(data.value);
      else waiting.reject(new Error(data.error));
    };
    const call = (name, ...args) =>
      new Promise((ok, fail) => {
        const id = next++;
        pending.set(id, { resolve: ok, reject: fail });
        worker.postMessage({ id, name, args });
      });
    worker.postMessage({ type: "init", ...init });
  });
}

async function main() {
  const runtime = params.get("runtime");
  if (runtime === "wbspawn") {
    const options = {};
    for (const key of ["prestart", "idleTimeoutMs", "maxWorkers"]) {
      if (params.has(key)) options[key] = Number(params.get(key));
    }
    const app = await start("/bench-pkg/wbspawn/wbspawn_bench.js", options);
    if (params.has("inspect")) setInterval(() => app.poolState(), 500);
    return app;
  }
  if (runtime === "wbspawn-main") {
    const options = { mode: "main" };
    for (const key of ["prestart", "idleTimeoutMs", "maxWorkers"]) {
      if (params.has(key)) options[key] = Number(params.get(key));
    }
    const glue = "/bench-pkg/wbspawn/wbspawn_bench.js";
    await start(glue, options);
    return onPage(await import(glue));
  }
  if (runtime === "rayon-peer-main") {
    const glue = await import("/bench-pkg/rayon-peer-main/rayon_peer_main_bench.js");
    await glue.default();
    await glue.initThreadPool(Number(params.get("threads") || navigator.hardwareConcurrency));
    return onPage(glue);
  }
  if (runtime === "peer") return workerApp("/peer-worker.js", { name: "peer-app" }, {});
  if (runtime === "rayon-peer") {
    const threads = Number(params.get("threads") || navigator.hardwareConcurrency);
    return workerApp("/rayon-peer-worker.js", { type: "module", name: "rayon-app" }, { threads });
  }
  if (runtime === "bare") return workerApp("/bare-worker.js", { type: "module", name: "bare" }, {});
  if (runtime === "bare-pair") {
    const app = workerApp("/bare-worker.js", { type: "module", name: "bare" }, {});
    window.idleWorker = new Worker("/idle-worker.js", { type: "module", name: "idle" });
    return app;
  }
  throw new Error(`unknown runtime ${runtime}`);
}

// An app whose instance is on the page: its exports, called there.
function onPage(glue) {
  return { call: async (name, ...args) => glue[name](...args) };
}

// ms from a click to the end of what its handler runs: export `name(heavy)` of the app (on
// the page, for the main-thread runtimes: a blocking rayon call spins there, an async one
// awaits a thread).
window.clickJob = (name, heavy) =>
  new Promise((resolve, reject) => {
    const button = document.createElement("button");
    document.body.append(button);
    let clicked = 0;
    button.onclick = () => {
      window.bench.call(name, heavy).then(
        () => resolve(performance.now() - clicked),
        (error) => reject(error),
      );
    };
    clicked = performance.now();
    button.click();
    button.remove();
  });

// The first parallel result of each runtime's app (a rayon pool of `threads`).
function firstResult(app) {
  const runtime = params.get("runtime");
  if (runtime === "wbspawn") return app.call("rayon_first", Number(params.get("threads") || 0));
  return app.call("rayon_first_result");
}

main().then(
  async (app) => {
    window.benchReady = performance.now();
    window.bench = app;
    requestAnimationFrame(() => {
      window.benchFrame = performance.now();
    });
    if (params.has("first")) {
      await firstResult(app);
      window.benchFirst = performance.now();
    }
    done(true, "ready");
  },
  (error) => done(false, String(error)),
);
