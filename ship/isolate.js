// The runtime's page API in a built dist: bootstrap.js's exports, after making sure the page is
// cross-origin isolated. `wbspawn build` points the app's imports of `/_wbspawn/bootstrap.js`
// here, so the app's own code runs only once threads can work.
//
// On a host that sends COOP/COEP (nginx, Netlify, ... with the generated configs) the page is
// isolated already: nothing happens, no reload. On a host that cannot send headers (GitHub
// Pages, a plain static server) this registers wbspawn's service worker, which adds them to
// every response, and reloads the page once. Where that cannot work either (not a secure
// context, no service workers), the page says why in one message and the app does not start:
// without SharedArrayBuffer it could only fail in more confusing ways.
export * from "./bootstrap.js";
import { done } from "./bootstrap.js";

// The service worker sits at the root of the dist so that its scope covers every page.
const serviceWorkerUrl = new URL("../wbspawn-sw.js", import.meta.url);
// Set just before the reload that should bring isolation; if the reloaded page is still not
// isolated, the service worker cannot help here, and reloading again would loop forever.
const RELOADED = "wbspawn:isolation-reload";
const ACTIVATION_TIMEOUT_MS = 10_000;
const HEADERS_HINT =
  "serve it with the headers Cross-Origin-Opener-Policy: same-origin and " +
  "Cross-Origin-Embedder-Policy: require-corp (wbspawn build writes configs for common hosts)";

await isolate();

async function isolate() {
  if (self.crossOriginIsolated) {
    forgetReload();
    return;
  }
  const problem = await reloadUnderServiceWorker();
  const message = `wbspawn: this page cannot run threads: ${problem}.`;
  console.error(message);
  show(message);
  // For test runners and `wbspawn check`: a clear failure now, not a timeout later.
  done(false, message);
  // Never resolves: the app's own modules, which wait for this one, do not run.
  await new Promise(() => {});
}

// Returns why isolation is impossible; when it is possible, reloads and never returns.
async function reloadUnderServiceWorker() {
  if (!self.isSecureContext) {
    return `it is not served over https (nor from localhost), and browsers allow SharedArrayBuffer only in a secure context: open it over https`;
  }
  if (!("serviceWorker" in navigator)) {
    return `it is not cross-origin isolated, and this browser offers no service workers to fix that (private windows may turn them off): ${HEADERS_HINT}`;
  }
  if (reloadedBefore()) {
    return `it is still not cross-origin isolated after reloading under wbspawn's service worker (the host may send conflicting headers): ${HEADERS_HINT}`;
  }
  let registration;
  try {
    registration = await navigator.serviceWorker.register(serviceWorkerUrl, {
      scope: new URL("./", serviceWorkerUrl).href,
    });
  } catch (error) {
    return `wbspawn's service worker (${serviceWorkerUrl.pathname}) could not be registered (${error}): ${HEADERS_HINT}`;
  }
  if (!registration || !(await activated(registration))) {
    return `wbspawn's service worker (${serviceWorkerUrl.pathname}) did not start: ${HEADERS_HINT}`;
  }
  if (!markReload()) {
    return `the page cannot remember that it reloaded (no sessionStorage), so it will not risk a reload loop: ${HEADERS_HINT}`;
  }
  location.reload();
  return new Promise(() => {});
}

function activated(registration) {
  return new Promise((resolve) => {
    const worker = registration.installing ?? registration.waiting ?? registration.active;
    if (!worker) return resolve(false);
    const timer = setTimeout(() => resolve(false), ACTIVATION_TIMEOUT_MS);
    const check = () => {
      if (worker.state === "activated") {
        clearTimeout(timer);
        resolve(true);
      } else if (worker.state === "redundant") {
        clearTimeout(timer);
        resolve(false);
      }
    };
    worker.addEventListener("statechange", check);
    check();
  });
}

// sessionStorage throws in some sandboxed frames and with storage blocked.
function reloadedBefore() {
  try {
    return sessionStorage.getItem(RELOADED) !== null;
  } catch {
    return false;
  }
}

function markReload() {
  try {
    sessionStorage.setItem(RELOADED, String(Date.now()));
    return true;
  } catch {
    return false;
  }
}

function forgetReload() {
  try {
    sessionStorage.removeItem(RELOADED);
  } catch {
    // Nothing was stored.
  }
}

// One banner at the top of the page. Styled through the CSSOM, which a Content-Security-Policy
// without 'unsafe-inline' still allows (a style attribute would be blocked).
function show(message) {
  if (typeof document === "undefined" || !document.body) return;
  const banner = document.createElement("p");
  banner.id = "wbspawn-isolation-error";
  banner.setAttribute("role", "alert");
  banner.textContent = message;
  Object.assign(banner.style, {
    margin: "0",
    padding: "0.75em 1em",
    background: "#fde8e8",
    color: "#7a1010",
    borderBottom: "1px solid #e0a0a0",
    font: "15px/1.4 system-ui, sans-serif",
  });
  document.body.prepend(banner);
}
