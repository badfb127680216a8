// The dispatcher: the one worker that creates thread workers.
//
// A browser starts a worker only once its creator returns to the event loop, so a thread that
// spawns and then blocks in `join` could never start a worker itself. The dispatcher never
// blocks: it sleeps in `Atomics.waitAsync` on a signal word in shared memory, and when a spawn
// bumps it, takes the boot requests the pool queued and creates one worker per request.
import { describe, joinMemory } from "./instance.js";

// The dispatcher's instance only moves boot requests around.
const DISPATCHER_STACK = 128 * 1024;
const threadWorkerUrl = new URL("./thread-worker.js", import.meta.url);
const workers = new Set();

self.onmessage = async ({ data }) => {
  let glue;
  try {
    ({ glue } = await joinMemory(data.shared, DISPATCHER_STACK));
  } catch (error) {
    self.postMessage({ type: "failed", error: describe(error) });
    return;
  }
  const signal = new Int32Array(data.shared.memory.buffer, glue.__wbspawn_dispatcher_started(), 1);
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

function boot(glue, request, shared) {
  const stackSize = glue.__wbspawn_boot_stack_size(request);
  const id = glue.__wbspawn_boot_worker_id(request);
  const worker = new Worker(threadWorkerUrl, { type: "module", name: `wbspawn-worker-${id}` });
  workers.add(worker);
  let started = false;
  const fail = (why) => {
    if (started) return;
    started = true;
    workers.delete(worker);
    worker.terminate();
    console.error(`wbspawn: worker ${id} failed to start: ${why}`);
    glue.__wbspawn_boot_failed(request, why);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(event.message || `could not load ${threadWorkerUrl}`);
  };
  worker.onmessage = ({ data }) => {
    if (data.type === "started") started = true;
    else if (data.type === "failed") fail(data.error);
    else if (data.type === "exited") workers.delete(worker);
  };
  worker.postMessage({ shared, stackSize, request });
}
