// Starts the lab app with runtime options from the query string, exposes it as
// window.wbspawnApp, and reports done(true) once it is ready. With `?app=none` it starts
// nothing: for tests that start their own app and count what it makes.
import { done, start } from "/_wbspawn/bootstrap.js";

const params = new URLSearchParams(location.search);
const options = {};
for (const [key, value] of params) {
  if (["prestart", "idleTimeoutMs", "maxWorkers"].includes(key)) options[key] = Number(value);
  if (key === "args") options.args = JSON.parse(value);
  if (key === "mode") options.mode = value;
}

if (params.get("app") === "none") {
  done(true, "no app started");
} else {
  start("/pkg/lab.js", options).then(
    (app) => {
      window.wbspawnApp = app;
      done(true, `ready with ${JSON.stringify(options)}`);
    },
    (error) => done(false, String(error)),
  );
}
