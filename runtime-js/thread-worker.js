// A thread worker: joins the shared memory, then runs spawned threads until it retires.
//
// Rust does the waiting and the work (`__wbspawn_worker_main` parks in shared memory between
// threads); this script only starts the instance and cleans up after it.
import { describe, joinMemory } from "./instance.js";

self.onmessage = async ({ data }) => {
  let glue, wasm;
  try {
    ({ glue, wasm } = await joinMemory(data.shared, data.stackSize));
  } catch (error) {
    self.postMessage({ type: "failed", error: describe(error) });
    self.close();
    return;
  }
  self.postMessage({ type: "started" });
  try {
    glue.__wbspawn_worker_main(data.request);
  } catch (error) {
    // The instance trapped: a panic (the hook has already given the thread its message) or
    // another trap. Either way this instance is done; report it so the thread's join returns.
    try {
      glue.__wbspawn_worker_crashed(describe(error));
    } catch {
      // Nothing more this instance can do; the pool recovers when the next worker boots.
    }
  }
  // Frees this instance's stack and TLS in the shared heap; without it every retired worker
  // would leak them.
  wasm.__wbindgen_thread_destroy();
  self.postMessage({ type: "exited" });
  self.close();
};
