// The app's own thread. It runs the app's wasm (the first instance, which owns the shared
// memory), sends the module and memory on their way to the dispatcher, and then runs the
// page's calls one at a time. In a worker (the default) the app may block (join, recv, a
// contended Mutex) without freezing the page; with `start(..., {mode: "main"})` the page runs
// this same host on its own thread (bootstrap.js imports `appHost`), and the app's instance
// is the page's: its `#[wasm_bindgen(start)]` and DOM code run there, and its waits spin
// (page_wait.rs).
// No imports: a module's imports are fetched before it runs, and this worker's start is the
// app's critical path.

// The host of one app: takes the page's messages (`handle(data)`) and answers with `post`.
export function appHost(post) {
  let glue = null;
  // The module's own exports (not the glue's wrappers): a binary's renamed `main`.
  let raw = null;
  // Set when a call panicked or trapped: the app's instance stopped mid-way and cannot be
  // trusted again.
  let crashed = null;

  const handle = (data) => {
    if (data.type === "start") {
      start(data).then(
        (exports) => post({ type: "ready", exports }),
        (error) => post({ type: "failed", ...startFailure(error) }),
      );
    } else if (data.type === "relay") {
      relayDecided(data.instead);
    } else if (data.type === "early") {
      earlyKnown[data.index] = data.loaded;
      earlyDecided[data.index](data.loaded);
    } else if (data.type === "wasm") {
      wasmArrived(data);
    } else if (data.type === "call") {
      call(data.name, data.args).then((outcome) => reply(data.id, data.name, outcome));
    } else if (data.type === "main") {
      reply(data.id, "main", runMain());
    }
  };

  // The page's fetch of the wasm: {body} (a stream), {bytes} (where streams cannot be
  // transferred), or {error}.
  let wasmArrived;
  const wasmFetched = new Promise((resolve) => (wasmArrived = resolve));
  // From the page: whether the first thread worker loaded (see handOver), or the port to use
  // instead.
  let relayDecided;
  const relayDecision = new Promise((resolve) => (relayDecided = resolve));
  // From the page: whether each of the other prestarted workers loaded (then it is booted from
  // here), by index; and the answers that have come so far.
  const earlyDecided = [];
  const earlyDecisions = [];
  const earlyKnown = [];

  // The glue once loaded, for a failed start to read the program's end and output from.
  let loading = null;

  async function start({ pkgUrl, settings, relay, early }) {
    for (let index = 0; index < early.length; index += 1) {
      earlyDecisions.push(new Promise((resolve) => (earlyDecided[index] = resolve)));
    }
    // For env::args() in `#[wasm_bindgen(start)]`, which runs before the runtime is configured.
    self.wbspawnArgs = settings.args;
    const [module, loaded] = await Promise.all([compile(), import(pkgUrl)]);
    if (typeof loaded.__wbspawn_memory !== "function") {
      throw new Error(`${pkgUrl} does not link the wbspawn crate: add it to the app's dependencies`);
    }
    loading = loaded;
    const instance = await loaded.default({ module_or_path: module });
    const shared = { pkgUrl, module, memory: loaded.__wbspawn_memory() };
    loaded.__wbspawn_configure(
      settings.parallelism,
      settings.maxWorkers,
      settings.idleTimeoutMs,
      settings.prestart,
      settings.args,
    );
    if (settings.mode === "main") pumpMainCalls(loaded, shared.memory);
    await handOver(loaded, shared, relay, early);
    glue = loaded;
    raw = instance;
    return Object.keys(glue).filter(
      (name) =>
        typeof glue[name] === "function" &&
        !name.startsWith("__wb") &&
        name !== "default" &&
        name !== "initSync",
    );
  }

  // Compiled once here; every worker gets this Module object, never the bytes.
  async function compile() {
    const fetched = await wasmFetched;
    if (fetched.error) throw new Error(fetched.error);
    if (fetched.bytes) return WebAssembly.compile(fetched.bytes);
    const headers = { "Content-Type": "application/wasm" };
    return WebAssembly.compileStreaming(new Response(fetched.body, { headers }));
  }

  // Sends the memory and the prestarted workers' boot requests on their way before the app is
  // ready, and does not wait for them to arrive (only for the page to say where the first goes,
  // normally long settled): the app may spawn at once, its threads queue until the workers are
  // up (a few ms later), and its joins wait for them. The first request and the memory go to
  // the first thread worker (the relay), which boots itself with it and passes the memory and
  // whatever else it got on to the dispatcher once the page has started that (bootstrap.js says
  // why not now), or to the dispatcher itself if that worker could not load. Each of the other
  // prestarted workers that has loaded gets its own request; a request whose worker could not
  // load, or has not yet said it loaded, goes the relay's way too. Never does a request wait
  // here for the page's word: once the app is ready, its first call may block this worker for
  // good (a rayon job waits for every thread of its pool), and a request held here would then
  // never reach a worker (1 page in 7 hung so with a pool of two). A worker that says it loaded
  // after that gets no request, only the memory, and is the dispatcher's first standby.
  async function handOver(glue, shared, relay, early) {
    glue.__wbspawn_dispatcher_started();
    const requests = [];
    for (let request; (request = glue.__wbspawn_take_boot_request()) !== 0; ) {
      const stackSize = glue.__wbspawn_boot_stack_size(request);
      // As the dispatcher does (dispatcher.js, `drain`): a start without memory must not trap.
      if (glue.__wbspawn_boot_memory(request)) requests.push({ request, stackSize });
      else glue.__wbspawn_boot_failed(request, "not enough memory left for its stack");
    }
    const own = requests.splice(1, early.length);
    const port = (await relayDecision) ?? relay;
    const loaded = (index) => earlyKnown[index] === true;
    port.postMessage({ shared, requests: [...requests, ...own.filter((_, i) => !loaded(i))] });
    own.forEach((request, index) => {
      if (loaded(index)) {
        early[index].postMessage({ shared, requests: [request] });
      } else if (earlyKnown[index] === undefined) {
        earlyDecisions[index].then((late) => {
          if (late) early[index].postMessage({ shared, requests: [] });
        });
      }
    });
  }

  // On the page (mode "main"): runs the calls threads make to the main thread
  // (`run_on_main_thread`, main_thread.rs) between the page's tasks, as they come.
  function pumpMainCalls(glue, memory) {
    const view = new Int32Array(memory.buffer);
    const word = glue.__wbspawn_main_calls_start() >>> 2;
    const pump = () => {
      const seen = Atomics.load(view, word);
      try {
        glue.__wbspawn_run_main_calls();
      } catch (error) {
        // A call trapped (a panic that aborts): its caller hears why, not silence.
        glue.__wbspawn_main_calls_died(glue.__wbspawn_take_panic_message() ?? describe(error));
      }
      const wait = Atomics.waitAsync(view, word, seen);
      if (wait.async) wait.value.then(pump);
      else setTimeout(pump);
    };
    pump();
  }

  // A value the structured clone cannot carry (a function, a DOM node, a WebAssembly object)
  // would throw here and leave the page's promise pending forever: reject it instead.
  function reply(id, name, outcome) {
    try {
      post({ type: "result", id, ...outcome });
    } catch (error) {
      const what = typeof outcome.value === "function" ? "a function" : describe(error);
      post({
        type: "result",
        id,
        ok: false,
        error: `${name} returned ${what}, which cannot be sent to the page: return plain data (numbers, strings, arrays, objects)`,
      });
    }
  }

  // Async exports (`pub async fn`) return promises: awaiting them here leaves this worker free to
  // take the page's next calls while the future waits (e.g. in `join_async`).
  async function call(name, args) {
    if (crashed) return { ok: false, error: `the app crashed earlier (${crashed}); reload the page` };
    if (typeof glue?.[name] !== "function" || name.startsWith("__wb")) {
      return { ok: false, error: `the app exports no function "${name}"` };
    }
    // A panic an earlier call caught (catch_unwind) must not be blamed on this one.
    glue.__wbspawn_take_panic_message();
    try {
      return { ok: true, value: cloneable(await glue[name](...args)) };
    } catch (error) {
      // A trap (a panic that aborted, or another) or a panic that unwound out of the export
      // (a wasm exception) left the app's instance mid-way: it cannot be trusted again. Anything
      // else is a value the export threw on purpose (a Rust `Err` returned to JS), even if a
      // panic was caught on the way.
      if (error instanceof WebAssembly.RuntimeError || error instanceof WebAssembly.Exception) {
        const code = glue.__wbspawn_exit_code();
        if (code !== undefined) {
          // The call ended the program (process::exit, abort): the page stops the app once its
          // last lines are out, and reports the code.
          crashed = `wbspawn: the app exited with code ${code}`;
          return { ok: false, error: crashed, exitCode: code };
        }
        crashed = glue.__wbspawn_take_panic_message() ?? describe(error);
        return { ok: false, error: crashed };
      }
      return { ok: false, error: describe(error) };
    }
  }

  // A binary's `fn main` (a test binary's libtest), which wbspawn's build renamed
  // `__wbspawn_main` so that wasm-bindgen would not run it at instantiation, before the runtime
  // could start threads. Called as the C runtime calls it (no argc/argv: std::env::args() reads
  // the runtime's). Its return ends the program with its code after what it printed, as a
  // native process's does, and this worker then waits for the page to stop it: only a main
  // that cannot run gets a reply.
  function runMain() {
    if (crashed) return { ok: false, error: `the app crashed earlier (${crashed}); reload the page` };
    if (typeof raw?.__wbspawn_main !== "function") {
      return { ok: false, error: "the app has no fn main: only a binary's build (wbspawn test) has one" };
    }
    let code;
    try {
      code = raw.__wbspawn_main(0, 0);
    } catch (error) {
      // A trap on main's own thread (a panic when panics abort: std printed it): the program
      // ends as a native one that aborts.
      crashed = describe(error);
      code = 134;
    }
    glue.__wbspawn_main_returned(code);
    return { ok: false, error: "the program did not end" };
  }

  // Why the app did not start, with what it printed: before the runtime is configured no
  // dispatcher takes the program's output, so a start that failed (a panic or an exit in
  // `#[wasm_bindgen(start)]`) would take its last words with it.
  function startFailure(error) {
    const failure = { error: describe(error) };
    if (loading === null) return failure;
    try {
      // A panic in `#[wasm_bindgen(start)]`: its message, not the trap it ended in.
      const panic = loading.__wbspawn_take_panic_message();
      if (panic != null) failure.error = `panicked: ${panic}`;
      failure.output = loading.__wbspawn_take_output();
      const code = loading.__wbspawn_exit_code();
      if (code !== undefined) {
        failure.error = `the app exited with code ${code} while starting`;
        failure.exitCode = code;
      }
    } catch {
      // The instance is beyond asking: the error alone says what happened.
    }
    return failure;
  }

  return handle;
}

// Typed arrays from wasm-bindgen become plain arrays: easier to compare and print on the page.
function cloneable(value) {
  return ArrayBuffer.isView(value) ? Array.from(value) : value;
}

// One line for a thrown value (instance.js has the same for the other workers: see the top).
function describe(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

// In a worker, the host answers the page; imported by the page (mode "main"), nothing runs.
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  const handle = appHost((message) => self.postMessage(message));
  self.onmessage = ({ data }) => handle(data);
}
