// The dispatcher: the one worker that decides when thread workers start.
//
// A browser starts a worker only once its creator returns to the event loop, so a thread that
// spawns and then blocks in `join` could never start a worker itself. The dispatcher never
// blocks: it sleeps in `Atomics.waitAsync` on a signal word in shared memory, and when a spawn
// bumps it, takes the boot requests the pool queued and starts one worker per request. The
// page constructs each worker on its request (bootstrap.js says why no worker constructs
// one) and hands it one end of a channel whose other end the dispatcher keeps.
//
// It keeps standby workers: started, their scripts and the app's glue loaded, but with no wasm
// instance (so no stack in the shared memory). A boot request goes to a standby, which only
// has to instantiate the module; a new standby is started right away. The page starts this
// dispatcher once the app is ready. The prestarted workers (the page made them with the app,
// and the app worker booted each with a request) report here; the first brings the memory
// and any prestart requests left over.
import { describe, joinMemory } from "./instance.js";
import { PIECE_WAIT_MS, piecesWaiting, printOutput, printPieces } from "./stdio.js";

// The dispatcher's instance only moves boot requests around.
const DISPATCHER_STACK = 128 * 1024;
let workersCreated = 0;
// Workers asked for but not yet started or failed, by id: the page reports their load errors.
const unsettled = new Map();
const standbys = [];
// Set after a standby failed to load: creating more would fail the same way, so boot requests
// then create their workers directly and report the error themselves.
let standbyBroken = false;
// This dispatcher's instance of the app, once it has one: a worker that fails to start is
// reported to the pool through it.
let setGlue;
const dispatcherGlue = new Promise((resolve) => (setGlue = resolve));
let glueNow = null;
// The thread table's reader (inspect.js), loaded once this worker serves boot requests: not
// on the way to the first thread (in Firefox a worker's module loads go through the page's
// thread, which may already be busy with the app).
let inspect = null;

// From the page: the app (its glue's URL, the first thread worker or, if that one could not
// load, a port from the app worker; the standbys it made and how many workers it made in all),
// and load errors of the workers it made for us.
self.onmessage = ({ data }) => {
  if (data.type === "app") {
    const glueLoaded = import(data.pkgUrl);
    // A failure is reported by joinMemory, which awaits it.
    glueLoaded.catch(() => {});
    workersCreated = data.pageMade;
    for (const standby of data.standbys) standbys.push(createWorker(standby));
    // The memory comes with the first message of any prestarted worker (or of the app
    // worker's port, if none loaded); later messages only bring boot requests.
    let began = false;
    const appArrived = ({ shared, requests }) => {
      if (began) {
        for (const { request, stackSize } of requests) boot(request, stackSize, shared);
        return;
      }
      began = true;
      begin(shared, requests, glueLoaded);
    };
    if (data.relay) createWorker(data.relay, appArrived, true);
    else data.appPort.onmessage = ({ data: app }) => appArrived(app);
    for (const booted of data.early) createWorker(booted, appArrived);
  } else if (data.type === "worker-error") {
    unsettled.get(data.id)?.fail(data.message);
  } else if (data.type === "state") {
    data.reply.postMessage(poolState());
  } else if (data.type === "worker-killed") {
    try {
      glueNow?.__wbspawn_worker_killed(data.id);
    } catch (error) {
      console.error(`wbspawn: a killed worker's thread could not be reported: ${describe(error)}`);
    }
  }
};

// The pool as the dispatcher sees it (bootstrap.js, `poolState`): what a page or a test shows
// when threads seem stuck. This worker never blocks for long, so it answers while the app's
// threads wait; a question always gets an answer, if need be the error.
function poolState() {
  try {
    return readPoolState();
  } catch (error) {
    return { error: describe(error) };
  }
}

function readPoolState() {
  const state = {
    started: glueNow !== null,
    workersCreated,
    // Booted and not started yet (a standby has no request until it is booted).
    starting: [...unsettled.values()]
      .filter((record) => record.request !== 0)
      .map((record) => record.name),
    standbys: standbys.length,
    bootMs: Math.round(bootMs * 10) / 10,
    bootsFailed,
  };
  if (glueNow === null) return state;
  const [queued, live, idle, maxWorkers, taken, booting, dead, leakedKiB] =
    glueNow.__wbspawn_pool_watch();
  // The names of the threads on workers now: a hung program's report says who is stuck.
  const threads = glueNow.__wbspawn_running_threads();
  // Every thread and what it does (inspect.js), and the deadlock it shows.
  const table = inspect?.readTable(glueNow) ?? [];
  const deadlock = inspect?.findDeadlock(table, queued + booting) ?? capStall;
  // The table as people read it, one line a thread (`wbspawn check` prints these on a hang).
  const lines = inspect?.describeTable(table) ?? [];
  // The shared memory's size: the heap, every thread's stack and what the app allocated.
  const memoryBytes = glueNow.__wbspawn_memory().buffer.byteLength;
  return {
    ...state, queued, live, idle, booting, maxWorkers, taken, dead, leakedKiB, memoryBytes, threads,
    table, lines, deadlock,
  };
}

async function begin(shared, requests, glueLoaded) {
  for (const { request, stackSize } of requests) boot(request, stackSize, shared);
  if (standbys.length === 0 && !standbyBroken) standbys.push(createWorker());
  let glue;
  try {
    ({ glue } = await joinMemory(shared, DISPATCHER_STACK, glueLoaded));
  } catch (error) {
    console.error(`wbspawn: the dispatcher failed to start: ${describe(error)}; no new thread can start`);
    return;
  }
  setGlue(glue);
  glueNow = glue;
  const signal = new Int32Array(shared.memory.buffer, glue.__wbspawn_dispatcher_started(), 1);
  const progress = new Int32Array(shared.memory.buffer, glue.__wbspawn_progress_word(), 1);
  watchForStalls(glue);
  import("./inspect.js").then(
    (module) => (inspect = module),
    (error) => console.error(`wbspawn: the thread table could not load: ${describe(error)}`),
  );
  pumpOutput(glue, new Int32Array(shared.memory.buffer, glue.__wbspawn_output_word(), 1));
  serve(glue, signal, progress, shared);
}

// The program's output: what its threads wrote to stdout and stderr waits in shared memory
// (no thread touches the console itself: a blocked one has no event loop). Each batch goes to
// the console (stdio.js) and on to the page, which hands it to the dev server. The program's
// end comes after its last lines; the page then stops every worker.
async function pumpOutput(glue, word) {
  for (;;) {
    // Read before taking: a line queued after the take changes the word, and the wait below
    // returns at once instead of sleeping through it.
    const seen = Atomics.load(word, 0);
    const flat = glue.__wbspawn_take_output();
    if (flat.length > 0) {
      const { lines, panics, end } = printOutput(flat);
      if (lines.length > 0 || panics.length > 0) self.postMessage({ type: "output", lines, panics });
      if (end !== null) {
        self.postMessage({ type: "exit", ...end });
        return;
      }
      // More may wait; let boot requests and questions through between batches.
      await nextTask();
      continue;
    }
    // Pieces of lines wait for their rest only so long (stdio.js).
    const waiting = piecesWaiting();
    const wait = Atomics.waitAsync(word, 0, seen, waiting ? PIECE_WAIT_MS : Infinity);
    const woke = wait.async ? await wait.value : wait.value;
    if (waiting && woke === "timed-out") {
      const lines = printPieces();
      if (lines.length > 0) self.postMessage({ type: "output", lines, panics: [] });
    }
  }
}

// Resolves after the tasks queued now have run (a message to oneself: no timer clamping).
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

// Nothing in the pool can tell a thread that waits for a worker from a deadlock, so the
// dispatcher watches from outside: if jobs wait, no worker is free, the cap is reached and no
// job was taken for STALL_MS, every worker may be blocked on a queued thread. Say so once per
// stall, naming the setting that helps; a silent hang is the worst way to fail.
const WATCH_MS = 1000;
const STALL_MS = 5000;
// The stall at the cap the watchdog named, while it lasts: `poolState().deadlock` (kind "cap").
let capStall = null;

function watchForStalls(glue) {
  let lastTaken = -1;
  let stalledFor = 0;
  let reported = false;
  // The deadlock said last (its threads): each is said once.
  let saidDeadlock = "";
  setInterval(() => {
    const [queued, live, idle, maxWorkers, taken, booting] = glue.__wbspawn_pool_watch();
    // Read every tick, so each state is timed from (about) when it began.
    const table = inspect?.readTable(glue) ?? [];
    const deadlock = inspect?.findDeadlock(table, queued + booting) ?? null;
    const key = deadlock === null ? "" : `${deadlock.kind} ${deadlock.threads.join(",")}`;
    if (key !== saidDeadlock && deadlock !== null) {
      console.error(deadlock.message);
      self.postMessage({ type: "deadlock", deadlock });
    }
    saidDeadlock = key;
    if (queued === 0 || idle > 0 || live < maxWorkers || taken !== lastTaken) {
      lastTaken = taken;
      stalledFor = 0;
      reported = false;
      capStall = null;
      return;
    }
    stalledFor += WATCH_MS;
    if (stalledFor >= STALL_MS && !reported) {
      reported = true;
      capStall = {
        kind: "cap",
        threads: table.map((row) => row.id),
        message:
          `wbspawn: ${queued} thread(s) have waited ${stalledFor / 1000} s for a worker while all ` +
          `${live} workers allowed (maxWorkers = ${maxWorkers}) are busy. If those workers wait ` +
          "for the queued threads, the app is deadlocked: raise maxWorkers in start()'s options. " +
          "The threads on them:\n" +
          (inspect?.describeTable(table) ?? []).map((line) => `  ${line}`).join("\n"),
      };
      console.error(capStall.message);
      self.postMessage({ type: "deadlock", deadlock: capStall });
    }
  }, WATCH_MS);
}

// A browser may queue a new worker without starting it (Firefox past its per-site cap,
// dom.workers.maxPerDomain) and say nothing: a thread waiting for it would hang silently.
const BOOT_WARNING_MS = 10000;

// While other workers run threads, a queued job gets up to twice as long as a boot takes for
// one of them to take it before a new worker is started: one that is just finishing (a
// dropped rayon pool's threads end a moment after the drop, a burst of short threads drains
// fast) takes it, and no worker is booted that is not needed; one that is not would not have
// started the job much later than a new worker. After the grace the pool boots half the
// missing workers (pool.rs, `grant_boots`), and after each further grace half of those still
// missing. Boots are timed as they happen (engines differ by an order of magnitude:
// WebKit wakes a waiting thread far more slowly than Chromium), within these bounds. The
// wait ends as soon as the queue is served. With no thread running, or for prestarted and
// dedicated workers, nothing waits.
const MIN_GRACE_MS = 20;
const MAX_GRACE_MS = 200;
// A moving average of recent boots, from the request to the worker's "started".
let bootMs = MIN_GRACE_MS;
// Boots that failed so far (a standby's failure is not counted: it had no request).
let bootsFailed = 0;
const NO_DEMAND = 0;
const MAYBE = 1;

async function serve(glue, signal, progress, shared) {
  for (;;) {
    // Read the signal before draining: a request queued after the drain changes it, and then
    // waitAsync returns at once instead of sleeping through it.
    const seen = Atomics.load(signal, 0);
    drain(glue, shared);
    // A worker that fails to start is not tried again until the next spawn asks (pool.rs,
    // `boot_failed`): one that cannot load would fail every time.
    const failedBefore = bootsFailed;
    while ((await bootsNeeded(glue, progress)) && bootsFailed === failedBefore) {
      glue.__wbspawn_grant_boots();
      drain(glue, shared);
    }
    const wait = Atomics.waitAsync(signal, 0, seen);
    if (wait.async) await wait.value;
  }
}

// Whether to boot workers for the queue now: at once if no worker can come free, after the
// grace if busy workers may yet take the jobs and have not. Never once the queue was served
// in the meantime: a job queued after that (a rayon pool spawns its threads one by one, and
// the previous pool's ending threads take them as they come) is another signal, and gets a
// grace of its own; booting for it at once grew a rayon pool built and dropped in a loop
// past its size + 1 in WebKit.
async function bootsNeeded(glue, progress) {
  const grace = Math.min(Math.max(2 * bootMs, MIN_GRACE_MS), MAX_GRACE_MS);
  const deadline = performance.now() + grace;
  for (;;) {
    const seen = Atomics.load(progress, 0);
    const demand = glue.__wbspawn_boot_demand();
    if (demand !== MAYBE) return demand !== NO_DEMAND;
    const left = deadline - performance.now();
    if (left <= 0) return true;
    const wait = Atomics.waitAsync(progress, 0, seen, left);
    if (wait.async) await wait.value;
  }
}

function drain(glue, shared) {
  for (let request; (request = glue.__wbspawn_take_boot_request()) !== 0; ) {
    const stackSize = glue.__wbspawn_boot_stack_size(request);
    if (glue.__wbspawn_boot_memory(request)) {
      boot(request, stackSize, shared, glue.__wbspawn_boot_transfer(request));
      continue;
    }
    // Its start would trap with a lock every later start waits for: fail its thread instead.
    const why = `not enough memory left for its ${stackSize / 2 ** 20} MiB stack`;
    bootsFailed += 1;
    console.error(`wbspawn: a new worker cannot start: ${why}`);
    glue.__wbspawn_boot_failed(request, why);
  }
}

// Asks the page for a new worker: its id, name and the port this dispatcher drives it by.
function requestWorker() {
  workersCreated += 1;
  const id = workersCreated;
  const name = `wbspawn-worker-${id}`;
  // Messages posted before the page has made the worker wait in the channel.
  const channel = new MessageChannel();
  self.postMessage({ type: "create-worker", id, name, port: channel.port2 }, [channel.port2]);
  return { id, name, port: channel.port1 };
}

// A worker with its scripts and the glue loading: one the page made with the app or with this
// dispatcher, or one it is asked for now. Its handlers report to `record.request` once it is
// given one; before that, a failure only retires the standby. A prestarted worker's first
// message is the app's memory, for `appArrived`, saying which request it booted with (0:
// none, it is a standby); `relays` marks the one that also passes the memory on, without
// which no thread past the prestarted ones can start.
function createWorker({ id, name, port } = requestWorker(), appArrived = null, relays = false) {
  const record = { id, name, port, request: 0, since: 0, settled: false, slow: null };
  // Without what the first worker relays no thread past the first can start: say so if it
  // fails or never comes, rather than hang in silence.
  let relayWait = null;
  const relayLost = (why) => {
    console.error(
      `wbspawn: ${name} did not pass the app's memory on (${why}); no new thread can start`,
    );
  };
  if (relays) {
    relayWait = setTimeout(() => relayLost(`nothing within ${BOOT_WARNING_MS / 1000} s`), BOOT_WARNING_MS);
  }
  const settle = () => {
    record.settled = true;
    unsettled.delete(id);
    clearTimeout(record.slow);
  };
  record.fail = (why) => {
    if (relayWait !== null) {
      clearTimeout(relayWait);
      relayWait = null;
      relayLost(why);
    }
    if (record.settled) return;
    settle();
    self.postMessage({ type: "terminate-worker", id });
    if (record.request === 0) {
      const at = standbys.indexOf(record);
      if (at >= 0) standbys.splice(at, 1);
      standbyBroken = true;
      return;
    }
    bootsFailed += 1;
    console.error(`wbspawn: ${name} failed to start: ${why}`);
    dispatcherGlue.then((glue) => glue.__wbspawn_boot_failed(record.request, why));
  };
  unsettled.set(id, record);
  port.onmessage = ({ data }) => {
    if (data.type === "app") {
      clearTimeout(relayWait);
      relayWait = null;
      port.postMessage({ type: "relayed" });
      if (data.booting !== 0) {
        watchBoot(record, data.booting, performance.now());
        // Its boot began before this dispatcher heard of it: no sample for the boot time,
        // which would shrink the grace below and boot workers that are not needed.
        record.untimed = true;
      }
      else standbys.unshift(record);
      appArrived(data);
    } else if (data.type === "requests") {
      appArrived(data);
    } else if (data.type === "started") {
      // Only a worker given a boot request is told to start, so `since` is set.
      if (!record.untimed) bootMs = 0.75 * bootMs + 0.25 * (performance.now() - record.since);
      settle();
    }
    else if (data.type === "failed") record.fail(data.error);
  };
  return record;
}

// `transfer`: the page's id of a JS object the thread gets (transfer.rs), which only the page
// can post to the worker; the worker waits for it before it starts the thread.
function boot(request, stackSize, shared, transfer = 0) {
  const record = standbys.shift() ?? createWorker();
  if (standbys.length === 0 && !standbyBroken) standbys.push(createWorker());
  if (transfer !== 0) self.postMessage({ type: "transfer", id: transfer, worker: record.id });
  record.port.postMessage({ type: "start", shared, stackSize, request, transfer });
  watchBoot(record, request, performance.now());
}

// The worker of `record` was told to start with `request` at `since`: time its boot, and say
// so if it never starts.
function watchBoot(record, request, since) {
  record.request = request;
  record.since = since;
  record.slow = setTimeout(() => {
    if (record.settled) return;
    console.error(
      `wbspawn: ${record.name} has not started ${BOOT_WARNING_MS / 1000} s after it was ` +
        `created (${workersCreated} workers so far): the browser may limit workers per site ` +
        "(Firefox: dom.workers.maxPerDomain). Threads that need it wait until it starts; " +
        "lower maxWorkers in start()'s options to stay under the limit.",
    );
  }, BOOT_WARNING_MS);
}
