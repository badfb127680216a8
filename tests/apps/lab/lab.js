// Starts the lab app with runtime options from the query string, exposes it as
// window.wbspawnApp, and reports done(true) once it is ready.
import { done, start } from "/_wbspawn/bootstrap.js";

const options = {};
for (const [key, value] of new URLSearchParams(location.search)) {
  if (["prestart", "idleTimeoutMs", "maxWorkers"].includes(key)) options[key] = Number(value);
}

start("/pkg/lab.js", options).then(
  (app) => {
    window.wbspawnApp = app;
    done(true, `ready with ${JSON.stringify(options)}`);
  },
  (error) => done(false, String(error)),
);
