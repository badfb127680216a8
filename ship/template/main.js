// Starts the app in a worker (its threads may block there; the page never does), counts the
// primes below 300,000 on every thread the browser offers, and reports done(ok, detail) for
// people and for `wbspawn check`.
import { done, start } from "/_wbspawn/bootstrap.js";

const LIMIT = 300_000;
const PRIMES_BELOW_LIMIT = 25_997;
const result = document.getElementById("result");

try {
  const app = await start("/pkg/{{lib_name}}.js");
  const threads = await app.call("threads");
  const started = performance.now();
  const counts = await app.call("count_primes", threads, LIMIT);
  const ms = performance.now() - started;
  const total = counts.reduce((a, b) => a + b, 0);
  const text = `${total} primes below ${LIMIT.toLocaleString("en")} on ${threads} threads ` +
    `(per thread: ${counts.join(", ")}) in ${ms.toFixed(0)} ms`;
  result.textContent = text;
  done(total === PRIMES_BELOW_LIMIT, text);
} catch (error) {
  result.textContent = String(error);
  done(false, String(error));
}
