// wbspawn's page side. By default the page never runs the app's wasm itself: `start` puts it
// in a worker (where blocking is allowed) and returns a handle whose calls are promises. An app
// whose Rust owns the page (its DOM, a canvas) starts with `mode: "main"`: its instance runs
// on the page, its threads on workers as always.
//
//   import { start, done } from "/_wbspawn/bootstrap.js";
//   const app = await start("/pkg/demo.js");
//   const counts = await app.call("count_primes", 4, 1_000_000);
//   done(true, "all good");

const appWorkerUrl = new URL("./app-worker.js", import.meta.url);
const dispatcherUrl = new URL("./dispatcher.js", import.meta.url);
const threadWorkerUrl = new URL("./thread-worker.js", import.meta.url);
const RELAY_WARNING_MS = 10_000;
// How long a worker whose lock the page got may still be saying it left.
const LEAVING_MS = 1000;
// What `process::abort` ends the app with (process.rs), as a shell reports SIGABRT.
const ABORT_CODE = 134;

/**
 * Starts the app whose wasm-bindgen (`--target web`) glue is at `pkgUrl`.
 *
 * Options: `wasmUrl` (default: the glue's `_bg.wasm` beside it), `maxWorkers` (cap on thread
 * workers, at least 1, default 128), `prestart` (workers booted ahead, default
 * `navigator.hardwareConcurrency`), `idleTimeoutMs` (how long a worker beyond `prestart` waits
 * for work before it retires, at least 1, default 10000), `args` (strings: the program's
 * `std::env::args()` after its name, default none), `mode` (`"worker"`, the default: the
 * app's instance runs in a worker of its own and the page calls it through `app.call`;
 * `"main"`: it runs on the page, whose own code may import the glue and call it directly, and
 * whose waits spin, docs/main-thread.md). Resolves once the app's instance is
 * ready; the app may spawn and join at once (its first threads start as soon as the
 * prestarted workers are up, a few ms later). Rejects an option it does not know or a value
 * out of range, naming it.
 *
 * What the program prints (stdout, stderr) goes to the console, tagged with its thread, and
 * is dispatched as `wbspawn:output` events (`detail`: `[{stream, thread, text}]`). Each panic
 * is a `wbspawn:panicked` event (`detail`: `{thread, location, message}`), whatever the app's
 * panic hook prints (std reports panics to the runtime first). When it
 * calls `std::process::exit` or `abort`, every worker stops: `app.exited` resolves with
 * `{code, aborted}`, pending and later calls reject, `<html data-wbspawn-exit="code">` is set
 * and a `wbspawn:exit` event is dispatched.
 */
export async function start(pkgUrl, options = {}) {
  checkOptions(options);
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
    // As a shell passes them: the program's name first (the glue's, `demo` for demo.js).
    args: [glueUrl.pathname.split("/").pop().replace(/\.js$/, ""), ...(options.args ?? [])],
    mode: options.mode ?? "worker",
  };

  // Every worker of the app is created here, on the page's thread, never inside a worker.
  // Firefox makes a worker that calls `new Worker()` wait for its main thread, and while a
  // debugger is attached (DevTools, or WebDriver BiDi in CI) that wait now and then never ends:
  // start-up froze with no error in a few loads out of a hundred. From the page's thread it
  // never does. So the dispatcher asks the page for each thread worker, with the port it
  // drives that worker through.
  //
  // The app worker and the prestarted thread workers start now; the dispatcher once the app
  // is ready (docs/architecture.md, "What start-up costs": on few cores every worker started
  // with the app delays the app's own start, but rayon's first job waits for every thread of
  // its pool, so the workers it needs must not start late). The app's module and memory never
  // pass through the page (Firefox refuses a WebAssembly.Module to a page whose CSP lacks
  // 'wasm-unsafe-eval'), and no message is posted on a port before it has reached the worker
  // that reads it (Firefox did not always deliver one that was; docs/browsers.md). So the app
  // worker hands them, with a boot request each, to the prestarted workers over channels the
  // page made with both, once each has loaded; the first of them (the relay) passes the memory
  // on to the dispatcher when the page has made it, and each tells the dispatcher it booted.
  const onPage = settings.mode === "main";
  const worker = onPage ? hostOnPage() : new Worker(appWorkerUrl, { type: "module", name: "wbspawn-app" });
  const threadWorkers = new Map();
  const calls = new Map();
  let nextCall = 1;
  let fatal = null;
  const failAll = (error) => {
    fatal = error;
    for (const { reject } of calls.values()) reject(error);
    calls.clear();
  };
  // `poolState` questions waiting for the dispatcher, and why it can no longer answer (set
  // when it failed or the app was terminated: a question posted then would wait forever).
  const stateQuestions = new Set();
  let noStates = null;
  const endStates = (error) => {
    noStates = error;
    for (const reject of stateQuestions) reject(error);
    stateQuestions.clear();
  };
  // The program's end (process::exit, abort), once its last lines are out: every worker
  // stops, as every thread of a process does.
  let setExited;
  const exited = new Promise((resolve) => (setExited = resolve));
  const exit = (end) => {
    const error = announceExit(end);
    stopped = true;
    for (const each of [worker, dispatcher, ...threadWorkers.values()]) each?.terminate();
    threadWorkers.clear();
    failAll(error);
    endStates(error);
    setExited(end);
  };

  // Until the dispatcher exists, what the page has for it waits here.
  let dispatcher = null;
  const forDispatcher = [];
  const tellDispatcher = (message) => {
    if (dispatcher) dispatcher.postMessage(message);
    else forDispatcher.push(message);
  };

  // The first thread worker: it relays the app's memory once it has loaded ("connected"; until
  // then the app worker waits, so a worker that cannot load loses nothing). The other end of
  // its port to the dispatcher waits here until the dispatcher exists, and it posts nothing on
  // that port before "go", which follows the move.
  const RELAY = 1;
  const relayChannel = new MessageChannel();
  const relayToDispatcher = new MessageChannel();
  let relayState = "loading";
  // The other prestarted workers, booted by the app worker directly (not by the dispatcher,
  // which is not there yet): each one's channel from the app worker, its port to the
  // dispatcher, and whether it has loaded.
  const early = [];
  // Set once start() has failed: a late event must not start workers nothing would end.
  let stopped = false;
  // A browser may queue a worker without starting it (Firefox past its per-site cap, which
  // the site's other tabs share); the app waits for this one, so say so rather than hang.
  const relayLate = setTimeout(() => {
    if (relayState !== "loading" || stopped) return;
    console.error(
      `wbspawn: the app's first thread worker has not started ${RELAY_WARNING_MS / 1000} s ` +
        "after it was created, and start() waits for it: the browser may limit workers per " +
        "site (Firefox: dom.workers.maxPerDomain, shared by the site's tabs); close other tabs " +
        "of this site or lower maxWorkers in start()'s options.",
    );
  }, RELAY_WARNING_MS);

  // A thread worker, connected by `links`: its port to the dispatcher and, for the first one,
  // its port from the app worker.
  const createThreadWorker = (id, name, links) => {
    const thread = new Worker(threadWorkerUrl, { type: "module", name });
    threadWorkers.set(id, thread);
    const lock = `${lockPrefix}-${id}`;
    thread.onmessage = ({ data: note }) => {
      if (note.type === "exit") {
        threadWorkers.delete(id);
      } else if (note.type === "holding") {
        watchLock(id, lock);
      } else if (note.type === "crashed") {
        // A thread's death other than by a panic (a trap, a stack overflow).
        self.dispatchEvent(new CustomEvent("wbspawn:crashed", { detail: note.text }));
      } else if (note.type === "fatal") {
        // A thread died holding a lock every other thread needs: nothing could go on.
        if (!stopped) exit({ code: ABORT_CODE, aborted: true, why: note.error });
      } else if (note.type === "connected" && id === RELAY && relayState === "loading") {
        relayState = "connected";
        clearTimeout(relayLate);
        worker.postMessage({ type: "relay" });
      } else if (note.type === "connected") {
        decideEarly(id, true);
      }
    };
    thread.onerror = (event) => {
      event.preventDefault();
      const message = event.message || `could not load ${threadWorkerUrl}`;
      if (stopped) return;
      if (decideEarly(id, false)) {
        // Its boot request goes the dispatcher's way instead (the app worker sends it).
        thread.terminate();
        threadWorkers.delete(id);
        return;
      }
      if (id === RELAY && relayState === "loading") {
        // The app worker then hands its memory straight to the dispatcher, started now; the
        // threads' workers will fail to load the same way, and their spawns say so.
        relayState = "failed";
        clearTimeout(relayLate);
        thread.terminate();
        threadWorkers.delete(id);
        const channel = new MessageChannel();
        startDispatcher({ appPort: channel.port1 }, [channel.port1]);
        worker.postMessage({ type: "relay", instead: channel.port2 }, [channel.port2]);
        return;
      }
      tellDispatcher({ type: "worker-error", id, message });
    };
    thread.postMessage(
      { type: "connect", pkgUrl: glueUrl.href, id, lock, ...links },
      Object.values(links),
    );
  };

  // A browser may end a worker without a word (out of memory, a crashed process): no error,
  // no message, and the thread it ran would never be joined. Each started thread worker holds
  // a Web Lock of its own until it ends, whichever way; once the page gets it, a worker that
  // did not say it was leaving ("exit") is gone unannounced, and the dispatcher reports its
  // thread dead.
  const lockPrefix = `wbspawn-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const watchLock = (id, lock) => {
    navigator.locks?.request(lock, async () => {
      // Its "exit" may still be on its way.
      await new Promise((resolve) => setTimeout(resolve, LEAVING_MS));
      if (stopped || !threadWorkers.has(id)) return;
      threadWorkers.delete(id);
      console.error(
        `wbspawn: the browser ended thread worker ${id} without a word (out of memory?); its ` +
          "thread, if it ran one, is reported dead",
      );
      tellDispatcher({ type: "worker-killed", id });
    });
  };
  // The workers the page makes before the dispatcher asks for any take the first ids.
  let pageMade = 0;
  pageMade += 1;
  createThreadWorker(RELAY, `wbspawn-worker-${RELAY}`, {
    app: relayChannel.port1,
    port: relayToDispatcher.port2,
  });
  const prestart = Math.min(settings.prestart, settings.maxWorkers);
  for (let index = 0; index < prestart - 1; index += 1) {
    pageMade += 1;
    const id = pageMade;
    const fromApp = new MessageChannel();
    const toDispatcher = new MessageChannel();
    const name = `wbspawn-worker-${id}`;
    early.push({
      id,
      name,
      port: toDispatcher.port1,
      appPort: fromApp.port2,
      state: "loading",
    });
    createThreadWorker(id, name, { app: fromApp.port1, port: toDispatcher.port2 });
  }
  // Tells the app worker whether prestarted worker `id` loaded (it then boots it) or not (its
  // request goes to the dispatcher); false if `id` is not one still loading.
  function decideEarly(id, loaded) {
    const index = early.findIndex((each) => each.id === id && each.state === "loading");
    if (index < 0) return false;
    early[index].state = loaded ? "connected" : "failed";
    worker.postMessage({ type: "early", index, loaded });
    return true;
  }

  // `from`: where the dispatcher gets the app's memory (the relay, or the app worker itself).
  const startDispatcher = (from, transfer) => {
    dispatcher = new Worker(dispatcherUrl, { type: "module", name: "wbspawn-dispatcher" });
    dispatcher.onmessage = ({ data }) => {
      if (data.type === "create-worker") {
        createThreadWorker(data.id, data.name, { port: data.port });
      } else if (data.type === "terminate-worker") {
        threadWorkers.get(data.id)?.terminate();
        threadWorkers.delete(data.id);
      } else if (data.type === "transfer") {
        passTransfer(data.id, threadWorkers.get(data.worker));
      } else if (data.type === "output") {
        announceOutput(data);
      } else if (data.type === "exit") {
        exit(data);
      } else if (data.type === "deadlock") {
        // Named by the dispatcher's watchdog (inspect.js); the dev server's inspector shows it.
        self.dispatchEvent(new CustomEvent("wbspawn:deadlock", { detail: data.deadlock }));
      }
    };
    // No thread can start without it: the calls fail, and the browser reports the error too.
    dispatcher.onerror = (event) => {
      const error = new Error(`wbspawn: the dispatcher failed: ${event.message || dispatcherUrl}`);
      failAll(error);
      endStates(error);
    };
    // The prestarted workers booted by the app worker, which report to the dispatcher.
    const booted = early
      .filter((each) => each.state !== "failed")
      .map(({ id, name, port }) => ({ id, name, port }));
    dispatcher.postMessage(
      { type: "app", pkgUrl: glueUrl.href, ...from, early: booted, standbys: [], pageMade },
      [...transfer, ...booted.map((each) => each.port)],
    );
    for (const message of forDispatcher.splice(0)) dispatcher.postMessage(message);
  };
  const startDispatcherForRelay = () => {
    const port = relayToDispatcher.port1;
    startDispatcher({ relay: { id: RELAY, name: `wbspawn-worker-${RELAY}`, port } }, [port]);
    for (const id of [RELAY, ...early.map((each) => each.id)]) {
      threadWorkers.get(id)?.postMessage({ type: "go" });
    }
  };

  const started = new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === "ready") {
        if (!dispatcher) startDispatcherForRelay();
        resolve(data.exports);
      } else if (data.type === "failed") {
        const error = new Error(`wbspawn: the app failed to start: ${data.error}`);
        const fail = () => {
          if (data.exitCode !== undefined) {
            announceExit({ code: data.exitCode, aborted: false });
            error.exitCode = data.exitCode;
          }
          reject(error);
        };
        // No dispatcher took what the program printed before it failed: print it here.
        if (data.output?.length) printLate(data.output).finally(fail);
        else fail();
      } else if (data.type === "result") {
        const pending = calls.get(data.id);
        calls.delete(data.id);
        if (data.ok) pending.resolve(data.value);
        else {
          const error = new Error(data.error);
          if (data.exitCode !== undefined) error.exitCode = data.exitCode;
          pending.reject(error);
        }
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new Error(`wbspawn: the app worker failed: ${event.message || appWorkerUrl}`);
      failAll(error);
      reject(error);
    };
    const earlyPorts = early.map((each) => each.appPort);
    worker.postMessage(
      { type: "start", pkgUrl: glueUrl.href, settings, relay: relayChannel.port2, early: earlyPorts },
      [relayChannel.port2, ...earlyPorts],
    );
  });
  sendWasm(worker, wasmUrl);
  let exports;
  try {
    exports = await started;
  } catch (error) {
    // The workers this start made must not outlive it.
    stopped = true;
    clearTimeout(relayLate);
    for (const each of [worker, dispatcher, ...threadWorkers.values()]) each?.terminate();
    throw error;
  }

  const app = {
    /** Where the app's instance runs: "worker" or "main" (the page's thread). */
    mode: onPage ? "main" : "worker",
    /** Names of the functions the app exports. */
    exports,
    /** Resolves with `{code, aborted}` once the program ended (`std::process::exit`, `abort`). */
    exited,
    /**
     * Calls an exported function in the app's worker (on the page with mode "main"); resolves
     * with its return value.
     */
    call(name, ...args) {
      if (fatal) return Promise.reject(fatal);
      return new Promise((resolve, reject) => {
        const id = nextCall++;
        calls.set(id, { resolve, reject });
        worker.postMessage({ type: "call", id, name, args });
      });
    },
    /**
     * Runs the program's `fn main` in the app's worker (a binary's: `wbspawn test` builds
     * test binaries so); resolves with `{code, aborted}` when the program ends, by main's
     * return or `process::exit`, as `exited` does. Rejects if the app has no main.
     */
    main() {
      if (fatal) return Promise.reject(fatal);
      return new Promise((resolve, reject) => {
        const id = nextCall++;
        // The program's end rejects every call; for main it is the answer.
        const ended = (error) => (error.exitCode !== undefined ? exited.then(resolve) : reject(error));
        calls.set(id, { resolve, reject: ended });
        worker.postMessage({ type: "main", id });
      });
    },
    /**
     * What the thread pool is doing, for when threads seem stuck: jobs queued, workers alive,
     * idle and booting, the cap, jobs taken so far, workers still starting. Answered by the
     * dispatcher, which never blocks for long, also after the app's worker failed; `started`
     * is false until it has joined the app's memory.
     */
    poolState() {
      if (noStates) return Promise.reject(noStates);
      if (!dispatcher) return Promise.resolve({ started: false });
      return new Promise((resolve, reject) => {
        const channel = new MessageChannel();
        stateQuestions.add(reject);
        channel.port1.onmessage = ({ data }) => {
          stateQuestions.delete(reject);
          channel.port1.close();
          resolve(data);
        };
        dispatcher.postMessage({ type: "state", reply: channel.port2 }, [channel.port2]);
      });
    },
    /**
     * Ends the thread worker with id `id` as a browser that kills it would, with no word to
     * the runtime (tests of what follows). False if there is no such worker.
     */
    killWorkerForTesting(id) {
      const thread = threadWorkers.get(id);
      thread?.terminate();
      return thread !== undefined;
    },
    /** Stops the app's worker and every worker of its threads. */
    terminate() {
      for (const each of [worker, dispatcher, ...threadWorkers.values()]) each?.terminate();
      threadWorkers.clear();
      const error = new Error("wbspawn: the app was terminated");
      failAll(error);
      endStates(error);
    },
  };
  // The app the page started last, for tools that did not start it: the dev server's thread
  // inspector and `wbspawn check`, which read its `poolState()`.
  self.__wbspawnApp = app;
  self.dispatchEvent(new CustomEvent("wbspawn:started"));
  return app;
}

// With mode "main" the app's host (app-worker.js) runs on the page's thread, and this stands in
// for its worker: the same messages, passed in order, each in a task of its own as a worker's
// would be, never with a copy.
function hostOnPage() {
  const host = { onmessage: null, onerror: null };
  let ended = false;
  const answer = (data) => setTimeout(() => ended || host.onmessage?.({ data }));
  const handler = import(appWorkerUrl).then(({ appHost }) => appHost(answer));
  handler.catch((error) => {
    if (!ended) host.onerror?.({ message: `${appWorkerUrl}: ${error.message ?? error}`, preventDefault() {} });
  });
  host.postMessage = (data) => {
    handler.then((handle) => ended || handle(data), () => {});
  };
  host.terminate = () => {
    ended = true;
  };
  return host;
}

// Posts the object the app kept for a thread (transfer.rs, platform.js keeps it in
// `wbspawnTransfers` on the page) to the worker that runs the thread: moved where it can be
// (an OffscreenCanvas, a MessagePort, an ArrayBuffer), copied where it cannot.
function passTransfer(id, worker) {
  const value = self.wbspawnTransfers?.get(id);
  self.wbspawnTransfers?.delete(id);
  if (!worker) return;
  try {
    worker.postMessage({ type: "transfer", id, value }, [value]);
  } catch {
    try {
      worker.postMessage({ type: "transfer", id, value });
    } catch (error) {
      // The thread must not wait for good: it gets nothing (`Transfer::take` is None).
      console.error(`wbspawn: a thread's object cannot be posted to its worker: ${error.message}`);
      worker.postMessage({ type: "transfer", id, value: undefined });
    }
  }
}

// Says that the program ended, where people and tools look: the console (as a shell shows it:
// a failure for anything but 0), `<html data-wbspawn-exit>` and a `wbspawn:exit` event. The
// error is what pending and later calls reject with.
function announceExit({ code, aborted, why }) {
  const end = aborted ? `the app aborted (code ${code})` : `the app exited with code ${code}`;
  const error = new Error(`wbspawn: ${end}${why ? `: ${why}` : ""}`);
  error.exitCode = code;
  document.documentElement.dataset.wbspawnExit = String(code);
  if (code === 0) console.info(error.message);
  else console.error(error.message);
  self.dispatchEvent(new CustomEvent("wbspawn:exit", { detail: { code, aborted } }));
  return error;
}

function announceOutput({ lines, panics }) {
  if (lines.length > 0) self.dispatchEvent(new CustomEvent("wbspawn:output", { detail: lines }));
  for (const panic of panics) self.dispatchEvent(new CustomEvent("wbspawn:panicked", { detail: panic }));
}

// The program's output that no dispatcher took, printed from the page as the dispatcher would.
async function printLate(flat) {
  const { printOutput, printPieces } = await import("./stdio.js");
  const { lines, panics } = printOutput(flat);
  announceOutput({ lines: [...lines, ...printPieces()], panics });
}

// The numeric options and their least value. A misspelt option, or a value such as "4" or 0,
// would otherwise be ignored or misread without a word (the runtime reads 0 as "the default").
const COUNTS = { maxWorkers: 1, prestart: 0, idleTimeoutMs: 1 };
const MOST = 2 ** 31 - 1;

function checkOptions(options) {
  for (const [name, value] of Object.entries(options)) {
    // As `??` reads them below: undefined or null means the default.
    if (value === undefined || value === null) continue;
    if (name === "args") {
      if (!Array.isArray(value) || !value.every((arg) => typeof arg === "string")) {
        throw new TypeError("wbspawn: start()'s option args must be an array of strings");
      }
    } else if (name === "mode") {
      if (value !== "worker" && value !== "main") {
        throw new TypeError(`wbspawn: start()'s option mode must be "worker" or "main", not ${JSON.stringify(value)}`);
      }
    } else if (name === "wasmUrl") {
      if (typeof value !== "string" && !(value instanceof URL)) {
        throw new TypeError(`wbspawn: start()'s option wasmUrl must be a string or a URL, not ${typeof value}`);
      }
    } else if (Object.hasOwn(COUNTS, name)) {
      const least = COUNTS[name];
      if (!Number.isSafeInteger(value) || value < least || value > MOST) {
        throw new RangeError(
          `wbspawn: start()'s option ${name} must be a whole number from ${least} to ${MOST}, not ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
        );
      }
    } else {
      const known = ["wasmUrl", "args", "mode", ...Object.keys(COUNTS)].join(", ");
      throw new TypeError(`wbspawn: start() has no option ${name} (it takes ${known})`);
    }
  }
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
