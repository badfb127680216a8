// The page `wbspawn test` opens for each test binary: it starts the binary (a module whose
// `main` is libtest's) with the runtime, passes libtest its arguments (`?arg=...`, in order)
// and runs main. What libtest prints reaches the console as every program's output does
// (stdio.js), and the program's end sets `<html data-wbspawn-exit>`: `wbspawn test` reads
// both. The page also shows the output, for a person who opens it.

const logEl = document.getElementById("log");
addEventListener("wbspawn:output", ({ detail }) => {
  for (const { text } of detail) logEl.textContent += `${text}\n`;
});

try {
  const res = await fetch("/_wbspawn/app.json");
  if (!res.ok) throw new Error(`GET /_wbspawn/app.json: ${res.status} ${res.statusText}`);
  const meta = await res.json();
  const args = new URLSearchParams(location.search).getAll("arg");
  const { start } = await import("/_wbspawn/bootstrap.js");
  const app = await start(meta.pkg, { args });
  // For `wbspawn test`'s report of a test that hangs: which threads run, what the pool does.
  self.wbspawnApp = app;
  await app.main();
} catch (error) {
  // The end of a program that failed to start (an exit in `#[wasm_bindgen(start)]`) is
  // reported by the runtime; anything else is the page's failure.
  if (error?.exitCode === undefined) {
    console.error(`wbspawn test: ${error?.message ?? error}`);
  }
}
