// wbspawn's service worker, for hosts that cannot send headers (GitHub Pages, a plain static
// server). Threads need SharedArrayBuffer, which a browser gives only to a cross-origin
// isolated page: one whose document and worker scripts come with
// Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp.
// A service worker may answer the page's requests with responses of its own, so this one
// fetches each same-origin response and hands it on with those headers added. The page
// registers it and reloads once (assets/isolate.*.js); on a host that sends the headers it is
// never registered.
//
// `wbspawn build` writes this file into the dist with the headers filled in (the same ones
// the generated host configs send); it is not content-hashed: a service worker must keep its
// URL, and browsers check it for updates on every navigation.

const HEADERS = /* wbspawn:headers */ {};

// Take over at once: the page reloads as soon as this worker is active, and that reload must
// already go through it.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  // A request that may only be answered from the cache cannot be fetched again here
  // (Chromium throws for it outside same-origin mode).
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  // Cross-origin responses are opaque or governed by their own server's headers: no header
  // added here would make them loadable under COEP, so they pass untouched.
  if (new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(isolated(request));
});

async function isolated(request) {
  const response = await fetch(request);
  // Opaque and redirect responses cannot be rebuilt; a redirected response rebuilt here
  // would lose its final URL, against which a module resolves its own imports.
  if (response.status === 0 || response.redirected) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(HEADERS)) headers.set(name, value);
  // Hosts that know no .wasm type send application/octet-stream, and
  // WebAssembly.compileStreaming refuses anything but application/wasm.
  if (new URL(request.url).pathname.endsWith(".wasm")) headers.set("Content-Type", "application/wasm");
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}
