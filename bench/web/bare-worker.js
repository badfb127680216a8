// The floor for start-up: a module worker that fetches, compiles and instantiates wbspawn's
// bench wasm through its glue, and nothing else (no dispatcher, no pool, no thread).
import init from "/bench-pkg/wbspawn/wbspawn_bench.js";

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    try {
      // The glue makes the shared memory, as the app worker's first instance does.
      await init({ module_or_path: "/bench-pkg/wbspawn/wbspawn_bench_bg.wasm" });
      self.postMessage({ type: "ready" });
    } catch (error) {
      self.postMessage({ type: "failed", error: String(error) });
    }
    return;
  }
  self.postMessage({ id: data.id, ok: false, error: "the bare worker runs nothing" });
};
