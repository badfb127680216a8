// wasm-bindgen-rayon 1.3's app worker, set up as its README shows: init the module, then
// `initThreadPool(n)` (which must run off the page's main thread to let rayon block).
import init, * as app from "/bench-pkg/rayon-peer/rayon_peer_bench.js";

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    try {
      await init();
      await app.initThreadPool(data.threads);
      self.postMessage({ type: "ready" });
    } catch (error) {
      self.postMessage({ type: "failed", error: String(error) });
    }
    return;
  }
  try {
    const value = app[data.name](...data.args);
    self.postMessage({ id: data.id, ok: true, value: ArrayBuffer.isView(value) ? Array.from(value) : value });
  } catch (error) {
    self.postMessage({ id: data.id, ok: false, error: String(error) });
  }
};
