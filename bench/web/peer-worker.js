// wasm-bindgen-spawn's app worker (a classic worker: the peer supports --target no-modules).
/* global wasm_bindgen */
importScripts("/bench-pkg/peer/peer_bench.js");

const pkg = `${self.location.origin}/bench-pkg/peer`;
const ready = (async () => {
  await wasm_bindgen({ module_or_path: `${pkg}/peer_bench_bg.wasm` });
  await wasm_bindgen.peer_init(`${pkg}/peer_bench_bg.wasm`, `${pkg}/peer_bench.js`);
})();

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    ready.then(
      () => self.postMessage({ type: "ready" }),
      (error) => self.postMessage({ type: "failed", error: String(error) }),
    );
    return;
  }
  try {
    await ready;
    const value = wasm_bindgen[data.name](...data.args);
    self.postMessage({ id: data.id, ok: true, value: ArrayBuffer.isView(value) ? Array.from(value) : value });
  } catch (error) {
    self.postMessage({ id: data.id, ok: false, error: String(error) });
  }
};
