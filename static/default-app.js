// The page served at `/` when the app has no index.html of its own: it loads the app's
// wasm through the runtime and runs its exported `main`, if any, showing what the program
// prints as a terminal would. A program that ends with std::process::exit(0) has passed.

const statusEl = document.getElementById("status");
const logEl = document.getElementById("log");

function log(line) {
  logEl.textContent += `${line}\n`;
}

function setStatus(text, state) {
  statusEl.textContent = text;
  statusEl.dataset.state = state;
}

function show(value) {
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value); // BigInt, cycles
  }
}

// Until bootstrap.js has loaded there is no runtime to report to.
let done = () => {};

addEventListener("wbspawn:output", ({ detail }) => {
  for (const { thread, text } of detail) log(`[${thread}] ${text}`);
});

try {
  const res = await fetch("/_wbspawn/app.json");
  if (!res.ok) throw new Error(`GET /_wbspawn/app.json: ${res.status} ${res.statusText}`);
  const meta = await res.json();
  setStatus(`loading ${meta.crate}…`, "loading");

  const runtime = await import("/_wbspawn/bootstrap.js");
  done = runtime.done;
  const app = await runtime.start(meta.pkg, meta.mode ? { mode: meta.mode } : {});
  log(`${meta.crate} exports: ${app.exports.join(", ") || "(nothing)"}`);

  if (app.exports.includes("main")) {
    const started = performance.now();
    const result = await app.call("main");
    const ms = (performance.now() - started).toFixed(1);
    log(`main() -> ${show(result)} (${ms} ms)`);
    setStatus(`${meta.crate}: main() finished`, "ok");
    done(true, show(result));
  } else {
    setStatus(`${meta.crate} loaded (no main export to run)`, "ok");
    done(true, "loaded; no main export");
  }
} catch (err) {
  if (err?.exitCode === 0) {
    setStatus("the program exited with code 0", "ok");
    done(true, "exited with code 0");
  } else {
    log(err?.stack ?? String(err));
    setStatus(`error: ${err}`, "error");
    done(false, String(err));
  }
}
