// Starts the demo app with runtime options from the query string and exposes it as
// window.wbspawnApp; done(true) once it is ready. Used by tests and for poking at the runtime.
import { done, start } from "/_wbspawn/bootstrap.js";

const options = {};
for (const [key, value] of new URLSearchParams(location.search)) {
  if (["prestart", "idleTimeoutMs", "maxWorkers"].includes(key)) options[key] = Number(value);
}

start("/pkg/demo.js", options).then(
  (app) => {
    window.wbspawnApp = app;
    done(true, `ready with ${JSON.stringify(options)}`);
  },
  (error) => done(false, String(error)),
);
