// Runs each export once in the app's worker and checks its answer.
import { done, start } from "/_wbspawn/bootstrap.js";

const log = document.getElementById("log");
const say = (line) => (log.textContent += `${line}\n`);

const app = await start("/pkg/std_threads.js");
window.wbspawnApp = app;
const cores = navigator.hardwareConcurrency;
const checks = [
  ["available_parallelism", () => app.call("parallelism"), (v) => v === cores],
  ["spawn + join", () => app.call("squares", 8), (v) => v.join() === "0,1,4,9,16,25,36,49"],
  ["Builder::name", () => app.call("named", 3), (v) => v.join() === "worker-0,worker-1,worker-2"],
  ["thread::scope", () => app.call("scoped_sum", 100_000), (v) => v === 4_999_950_000],
  ["mpsc channel", () => app.call("channel", 1000), (v) => v === 499_500],
  ["rayon par_iter", () => app.call("rayon_sum_of_squares", 1000), (v) => v === 332_833_500],
  ["rayon par_sort_unstable", () => app.call("rayon_sort", 100_000), (v) => v === true],
  ["rayon threads", () => app.call("rayon_threads"), (v) => v === cores],
];
let failed = 0;
for (const [name, run, ok] of checks) {
  try {
    const value = await run();
    const good = ok(value);
    failed += good ? 0 : 1;
    say(`${good ? "ok  " : "FAIL"} ${name}: ${JSON.stringify(value)}`);
  } catch (error) {
    failed += 1;
    say(`FAIL ${name}: ${error}`);
  }
}
done(failed === 0, failed === 0 ? `${checks.length} checks passed` : `${failed} checks failed`);
