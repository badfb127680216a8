// The dispatcher: the one worker that creates thread workers.
//
// A browser starts a worker only once its creator returns to the event loop, so a thread that
// spawns and then blocks in `join` could never start a worker itself. The dispatcher never
// blocks: it sleeps in `Atomics.waitAsync` on a signal word in shared memory, and when a spawn
// bumps it, takes the boot requests the pool queued and starts one worker per request.
//
// It keeps one standby worker: started, its scripts and the app's glue loaded, but with no wasm
// instance (so no stack in the shared memory). A boot request goes to the standby, which only
// has to instantiate the module; a new standby is started right away.
import { describe, joinMemory } from "./instance.js";

// The dispatcher's instance only moves boot requests around.
const DISPATCHER_STACK = 128 * 1024;
const threadWorkerUrl = new URL("./thread-worker.js", import.meta.url);
let workersCreated = 0;
let standby = null;
// Set after a standby failed to load: creating more would fail the same way, so boot requests
// then create their workers directly and report the error themselves.
let standbyBroken = false;

self.onmessage = async ({ data }) => {
  let glue;
  try {
    ({ glue } = await joinMemory(data.shared, DISPATCHER_STACK));
  } catch (error) {
    self.postMessage({ type: "failed", error: describe(error) });
    return;
  }
  const signal = new Int32Array(data.shared.memory.buffer, glue.__wbspawn_dispatcher_started(), 1);
  standby = createWorker(data.shared);
  self.postMessage({ type: "ready" });
  watchForStalls(glue);
  serve(glue, signal, data.shared);
};

// Nothing in the pool can tell a thread that waits for a worker from a deadlock, so the
// dispatcher watches from outside: if jobs wait, no worker is free, the cap is reached and no
// job was taken for STALL_MS, every worker may be blocked on a queued thread. Say so once per
// stall, naming the setting that helps; a silent hang is the worst way to fail.
const WATCH_MS = 1000;
const STALL_MS = 5000;

function watchForStalls(glue) {
  let lastTaken = -1;
  let stalledFor = 0;
  let reported = false;
  setInterval(() => {
    const [queued, live, idle, maxWorkers, taken] = glue.__wbspawn_pool_watch();
    if (queued === 0 || idle > 0 || live < maxWorkers || taken !== lastTaken) {
      lastTaken = taken;
      stalledFor = 0;
      reported = false;
      return;
    }
    stalledFor += WATCH_MS;
    if (stalledFor >= STALL_MS && !reported) {
      reported = true;
      console.error(
        `wbspawn: ${queued} thread(s) have waited ${stalledFor / 1000} s for a worker while all ` +
          `${live} workers allowed (maxWorkers = ${maxWorkers}) are busy. If those workers wait ` +
          "for the queued threads, the app is deadlocked: raise maxWorkers in start()'s options.",
      );
    }
  }, WATCH_MS);
}

// A browser may queue a new worker without starting it (Firefox past its per-site cap,
// dom.workers.maxPerDomain) and say nothing: a thread waiting for it would hang silently.
const BOOT_WARNING_MS = 10000;

async function serve(glue, signal, shared) {
  for (;;) {
    // Read the signal before draining: a request queued after the drain changes it, and then
    // waitAsync returns at once instead of sleeping through it.
    const seen = Atomics.load(signal, 0);
    for (let request; (request = glue.__wbspawn_take_boot_request()) !== 0; ) {
      boot(glue, request, shared);
    }
    const wait = Atomics.waitAsync(signal, 0, seen);
    if (wait.async) await wait.value;
  }
}

// A worker with its scripts and the glue loading. Its handlers report to `record.request` once
// it is given one; before that, a failure only retires the standby.
function createWorker(shared) {
  workersCreated += 1;
  const worker = new Worker(threadWorkerUrl, {
    type: "module",
    name: `wbspawn-worker-${workersCreated}`,
  });
  const record = { worker, request: 0, glue: null, settled: false, slow: null };
  const fail = (why) => {
    if (record.settled) return;
    record.settled = true;
    worker.terminate();
    if (record.request === 0) {
      standby = null;
      standbyBroken = true;
      return;
    }
    console.error(`wbspawn: ${worker.name || "a worker"} failed to start: ${why}`);
    record.glue.__wbspawn_boot_failed(record.request, why);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(event.message || `could not load ${threadWorkerUrl}`);
  };
  worker.onmessage = ({ data }) => {
    if (data.type === "started") {
      record.settled = true;
      clearTimeout(record.slow);
    } else if (data.type === "failed") {
      clearTimeout(record.slow);
      fail(data.error);
    }
  };
  worker.postMessage({ type: "prepare", pkgUrl: shared.pkgUrl });
  return record;
}

function boot(glue, request, shared) {
  const record = standby ?? createWorker(shared);
  standby = standbyBroken ? null : createWorker(shared);
  record.request = request;
  record.glue = glue;
  const stackSize = glue.__wbspawn_boot_stack_size(request);
  record.worker.postMessage({ type: "start", shared, stackSize, request });
  record.slow = setTimeout(() => {
    if (record.settled) return;
    console.error(
      `wbspawn: ${record.worker.name} has not started ${BOOT_WARNING_MS / 1000} s after it was ` +
        `created (${workersCreated} workers so far): the browser may limit workers per site ` +
        "(Firefox: dom.workers.maxPerDomain). Threads that need it wait until it starts; " +
        "lower maxWorkers in start()'s options to stay under the limit.",
    );
  }, BOOT_WARNING_MS);
}
