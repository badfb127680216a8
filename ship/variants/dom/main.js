// Starts the app on the page (`mode: "main"`): its start function (src/lib.rs) builds the
// page, and its threads run on workers. Then counts the primes below 300,000 once, calling
// the app's export directly, and reports done(ok, detail) for people and `wbspawn check`.
import { done, start } from "/_wbspawn/bootstrap.js";

const GLUE = "/pkg/{{lib_name}}.js";
const LIMIT = 300_000;
const PRIMES_BELOW_LIMIT = 25_997;

try {
  await start(GLUE, { mode: "main" });
  // The glue start() initialized: one module per URL.
  const { count_primes: countPrimes } = await import(GLUE);
  const total = await countPrimes(LIMIT);
  done(total === PRIMES_BELOW_LIMIT, `${total} primes below ${LIMIT.toLocaleString("en")}`);
} catch (error) {
  document.querySelector("main").append(String(error));
  done(false, String(error));
}
