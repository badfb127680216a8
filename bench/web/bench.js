// Starts one runtime's bench app in a worker and exposes `window.bench.call(name, ...args)`.
// wbspawn runs through its bootstrap; wasm-bindgen-spawn 0.0.2 in a classic worker with its
// supported `--target no-modules` output, as its documentation sets it up.
import { done, start } from "/_wbspawn/bootstrap.js";

const params = new URLSearchParams(location.search);

function startPeer() {
  const worker = new Worker("/peer-worker.js", { name: "peer-app" });
  const pending = new Map();
  let next = 1;
  worker.onmessage = ({ data }) => {
    const call = pending.get(data.id);
    pending.delete(data.id);
    if (data.ok) call.resolve(data.value);
    else call.reject(new Error(data.error));
  };
  const call = (name, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, name, args });
    });
  return call("ready").then(() => ({ call }));
}

async function main() {
  const runtime = params.get("runtime");
  if (runtime === "wbspawn") {
    const options = {};
    for (const key of ["prestart", "idleTimeoutMs", "maxWorkers"]) {
      if (params.has(key)) options[key] = Number(params.get(key));
    }
    return start("/bench-pkg/wbspawn/wbspawn_bench.js", options);
  }
  if (runtime === "peer") return startPeer();
  throw new Error(`unknown runtime ${runtime}`);
}

main().then(
  (app) => {
    window.bench = app;
    done(true, "ready");
  },
  (error) => done(false, String(error)),
);
