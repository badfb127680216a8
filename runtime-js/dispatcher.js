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
  serve(glue, signal, data.shared);
};

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
  const record = { worker, request: 0, glue: null, settled: false };
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
    if (data.type === "started") record.settled = true;
    else if (data.type === "failed") fail(data.error);
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
}
