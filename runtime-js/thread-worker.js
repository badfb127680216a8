// A thread worker: joins the shared memory, then runs spawned threads until it retires.
//
// It is made ahead of need as a standby: it loads the app's glue as soon as it is connected
// (the first worker: once the app is up), and only on "start" (with a boot request) does it
// instantiate the module. A cold spawn then waits for neither the worker's start nor the
// script fetches. Rust does the waiting and the work (`__wbspawn_worker_main` parks in shared
// memory between threads); this script starts the instance and cleans up after it.
import { describe, joinMemory } from "./instance.js";

let glueLoaded = null;
// The page's id for this worker, and the Web Lock this worker holds while it lives, which
// tells the page when it is gone, even unannounced (bootstrap.js, `watchLock`).
let workerId = 0;
let lockName = null;
// The port this worker is driven through by the dispatcher. The first worker has it from the
// start but may use it only once the page has given the other end to the dispatcher ("go").
let dispatcher = null;
let letPost;
const mayPost = new Promise((resolve) => (letPost = resolve));
// Until the dispatcher has what the first worker relays, that worker must not end: Firefox
// dropped the relayed memory when the worker closed right after (its thread panicked at once).
let relayArrived;
const relayed = new Promise((resolve) => (relayArrived = resolve));

// JS objects the page posted for this worker's thread (transfer.rs), by id: the Rust side
// takes them from this map (platform.js, `takeTransferred`).
const transfers = (globalThis.wbspawnTransfers ??= new Map());
const transferArrived = new Map();
function transferred(id) {
  if (transfers.has(id)) return Promise.resolve();
  return new Promise((resolve) => transferArrived.set(id, resolve));
}

// The page made this worker (on the dispatcher's request, or the first one with the app) and
// passes on the app's glue, which it loads now (the first one: once the app is up), its port
// to the dispatcher and, for the first one, a port from the app worker; everything else comes
// and goes through those ports.
self.onmessage = ({ data }) => {
  if (data.type === "connect") {
    workerId = data.id ?? 0;
    lockName = data.lock ?? null;
    dispatcher = data.port;
    dispatcher.onmessage = ({ data: order }) => {
      if (order.type === "start") run(order);
      else if (order.type === "relayed") relayArrived();
    };
    if (data.app) {
      relay(data.app, data.pkgUrl);
    } else {
      loadGlue(data.pkgUrl);
      letPost();
      relayArrived();
    }
  } else if (data.type === "go") {
    letPost();
  } else if (data.type === "transfer") {
    transfers.set(data.id, data.value);
    transferArrived.get(data.id)?.();
    transferArrived.delete(data.id);
  }
};

// A prestarted worker: the app worker sends it the memory and its boot request as soon as its
// instance is up, and it boots at once (the app's first spawns need no one else). It tells the
// dispatcher, which the page starts once the app is ready (bootstrap.js says why), that it
// booted; the first of them also passes the memory and the remaining requests on to it.
function relay(app, pkgUrl) {
  loadGlue(pkgUrl);
  let booted = false;
  app.onmessage = ({ data: { shared, requests } }) => {
    if (booted) {
      // A request for a prestarted worker that could not load: the dispatcher's to serve.
      mayPost.then(() => dispatcher.postMessage({ type: "requests", shared, requests }));
      return;
    }
    booted = true;
    const first = requests.shift();
    mayPost.then(() =>
      dispatcher.postMessage({ type: "app", shared, requests, booting: first?.request ?? 0 }),
    );
    if (first) run({ shared, ...first });
  };
  self.postMessage({ type: "connected" });
}

function loadGlue(pkgUrl) {
  glueLoaded = import(pkgUrl);
  // A failure is reported when the worker is started and awaits it.
  glueLoaded.catch(() => {});
}

// Tells the page this worker is gone (it keeps the others for `terminate()`), then ends it.
// Synchronous: nothing of this worker may run between the caller's last step and the close.
function exit() {
  self.postMessage({ type: "exit" });
  self.close();
}

// Takes this worker's lock for the rest of its life (without Web Locks, nothing is watched).
function holdLock() {
  if (!lockName || !self.navigator.locks) return Promise.resolve();
  return new Promise((held) => {
    self.navigator.locks.request(lockName, () => {
      held();
      self.postMessage({ type: "holding" });
      return new Promise(() => {});
    });
  });
}

// Lets every callback the thread queued run while its instance is still whole: promise
// continuations (`spawn_local`, `JsFuture`, `join_async`), and whatever they queue in turn,
// run before a task queued after them. Rust code has no event loop while its thread runs;
// what it queued runs only now, between the thread's end and the instance's end.
function drained() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function run({ shared, stackSize, request, transfer = 0 }) {
  let glue, wasm, stack;
  // The thread's object comes from the page, on another channel than this start.
  if (transfer !== 0) await transferred(transfer);
  try {
    ({ glue, wasm, stack } = await joinMemory(shared, stackSize, glueLoaded));
  } catch (error) {
    await mayPost;
    dispatcher.postMessage({ type: "failed", error: describe(error) });
    await relayed;
    exit();
    return;
  }
  // The first worker's report follows its relay of the memory, which the dispatcher needs
  // first; and it must go before the thread's code blocks this worker's events.
  await holdLock();
  await mayPost;
  dispatcher.postMessage({ type: "started" });
  try {
    // The module's export itself, not the glue's wrapper: in a panic=unwind build the wrapper
    // marks the whole module terminated on a trap (a flag in the shared memory, so every
    // thread's later calls would fail); a thread's death is this worker's to report.
    wasm.__wbspawn_worker_main(request, workerId);
  } catch (error) {
    await crashed(error, glue, stack);
    return;
  }
  await relayed;
  await drained();
  // Frees this instance's stack and TLS in the shared heap; without it every retired worker
  // would leak them. Nothing awaits after this: no callback can run on the freed stack.
  stack.open();
  wasm.__wbindgen_thread_destroy();
  stack.fence();
  exit();
}

// The instance trapped: a panic (std has already given the thread its message) or another
// trap, such as a stack check. This instance is done; report it so the thread's join returns.
// Its stack and TLS are never freed: other threads may still point into them (a stolen half
// of a `rayon::join`, a crossbeam scope), and would write into whatever the memory became.
async function crashed(error, glue, stack) {
  stack.release();
  let held;
  try {
    held = glue.__wbspawn_worker_held();
  } catch {
    held = 1;
  }
  if (held !== 0) {
    // The report itself would wait forever for that lock, as would every other thread.
    const lock = held === 2 ? "std's allocator lock" : "a lock of the wbspawn runtime";
    self.postMessage({
      type: "fatal",
      error:
        `a thread died (${describe(error)}) holding ${lock}, which no other thread could ` +
        "ever take again",
    });
    stack.fence();
    self.close();
    return;
  }
  try {
    // The report returns only once nothing registered can borrow from this worker's stack
    // any more (the dead thread's scoped threads).
    const why = describe(error);
    const shown = glue.__wbspawn_worker_crashed(why, stack.limit, stack.usable, stack.size);
    // Not a panic (std printed those): the page passes it on to the dev server's inspector.
    if (shown) self.postMessage({ type: "crashed", text: shown });
  } catch {
    // Nothing more this instance can do; the pool recovers when the next worker boots.
  }
  stack.fence();
  await relayed;
  exit();
}
