// Starts the app on the page (`mode: "main"`): its start function (src/lib.rs) puts its
// button on the page, and its threads run on workers. Then counts the primes below 300,000
// once, calling the app's export directly, shows the answer and reports done(ok, detail) for
// people and `wbspawn check`.
import { done, start } from "/_wbspawn/bootstrap.js";

const GLUE = "/pkg/{{lib_name}}.js";
const LIMIT = 300_000;
const PRIMES_BELOW_LIMIT = 25_997;
const result = document.getElementById("result");

try {
  await start(GLUE, { mode: "main" });
  // The glue start() initialized: one module per URL.
  const { count_primes: countPrimes } = await import(GLUE);
  const total = await countPrimes(LIMIT);
  const text = `${total} primes below ${LIMIT.toLocaleString("en")}`;
  result.textContent = text;
  done(total === PRIMES_BELOW_LIMIT, text);
} catch (error) {
  result.textContent = String(error);
  done(false, String(error));
}
