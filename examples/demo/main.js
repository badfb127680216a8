// The demo page: starts the app, runs each check through the app's worker, shows what came back
// and how long it took, then reports done(ok, detail) for people and for CI.
import { done, start } from "/_wbspawn/bootstrap.js";

const PRIME_LIMIT = 2_000_000;
const PRIMES_BELOW_LIMIT = 148_933;

// The runtime uses no eval and no Blob URLs, so a strict Content-Security-Policy must never fire.
const violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  violations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`);
});

const results = document.getElementById("results");
const statusLine = document.getElementById("status");
const statusText = document.getElementById("status-text");

function row(label, ok, text, ms) {
  const tr = results.insertRow();
  tr.className = ok ? "pass" : "fail";
  for (const [value, cls] of [[label, ""], [text, ""], [ms === undefined ? "" : `${ms.toFixed(1)} ms`, "time"]]) {
    const td = tr.insertCell();
    td.textContent = value;
    if (cls) td.className = cls;
  }
}

function equal(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Runs one call, checks its result, shows a row. Returns the value.
async function check(app, label, name, args, expect, show = (v) => JSON.stringify(v)) {
  const t0 = performance.now();
  let value;
  let ok;
  let text;
  try {
    value = await app.call(name, ...args);
    ok = expect(value);
    text = show(value);
  } catch (error) {
    ok = false;
    text = String(error);
  }
  row(label, ok, text, performance.now() - t0);
  if (!ok) throw new Error(`${label}: ${text}`);
  return value;
}

async function run() {
  const app = await start("/pkg/demo.js");
  // Handy in the console, and the browser tests drive the app through it.
  window.wbspawnApp = app;
  const n = await app.call("parallelism");
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);

  const one = performance.now();
  await check(app, "primes below 2,000,000, 1 thread", "count_primes", [1, PRIME_LIMIT],
    (v) => sum(v) === PRIMES_BELOW_LIMIT, (v) => `${sum(v)} primes`);
  const single = performance.now() - one;
  const many = performance.now();
  await check(app, `primes below 2,000,000, ${n} threads`, "count_primes", [n, PRIME_LIMIT],
    (v) => v.length === n && sum(v) === PRIMES_BELOW_LIMIT,
    (v) => `${sum(v)} primes, per thread [${v.join(", ")}]`);
  const parallel = performance.now() - many;
  row("speed-up", true, `${(single / parallel).toFixed(2)}× on ${n} threads`);

  await check(app, "spawn 16, join 16", "spawn_join", [16],
    (v) => equal(v, Array.from({ length: 16 }, (_, i) => i * i)));
  await check(app, "mpsc pipeline of 3 threads, 1000 messages", "pipeline", [1000],
    (v) => equal(v, Array.from({ length: 1000 }, (_, i) => 2 * i)), (v) => `${v.length} in order`);
  await check(app, "spawn nested 3 deep", "nested", [3], (v) => v === 3);
  await check(app, "spawn from a spawned thread's child", "spawn_from_grandchild", [10], (v) => v === 55);
  await check(app, "Mutex counter, 8 threads × 10,000", "mutex_counter", [8, 10_000], (v) => v === 80_000);
  await check(app, "Condvar hand-off, 100 rounds", "condvar_handoff", [100], (v) => v === 100);
  await check(app, "panic caught by join", "caught_panic", [],
    (v) => v === "deliberate panic number 42", (v) => `Err("${v}")`);
  await check(app, "200 sequential spawn+join", "sequential", [200], (v) => v === 594);
  if (violations.length) throw new Error(`Content-Security-Policy violations: ${violations.join("; ")}`);
  return n;
}

run().then(
  (n) => {
    statusLine.className = "status pass";
    statusText.textContent = `all checks passed on ${n} threads`;
    done(true, `all checks passed on ${n} threads`);
  },
  (error) => {
    statusLine.className = "status fail";
    statusText.textContent = String(error);
    done(false, String(error));
  },
);
