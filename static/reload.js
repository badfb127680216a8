// wbspawn's live-reload client. The dev server adds it to every HTML page it returns; it
// listens on /_wbspawn/ws (messages: docs/dev-server.md) and
//   - reloads the page after a good build or an HTML/JS change, or as a quick build starts
//     (the server then holds the build's files until it ends: this page waits for them),
//   - swaps a changed stylesheet in place (the page keeps its state),
//   - shows rustc's errors over the page when a build fails, until the next good build,
//   - reconnects when the server goes away, and reloads once it is back,
//   - passes what the app prints (and its exit) to the server, for its terminal,
//   - offers the thread inspector (inspector.js) once the page started an app.
// Everything it draws lives in a shadow root, so the app's CSS and its own do not mix.

import { shadowHost } from "/_wbspawn/static/shadow-ui.js";

const WS_PATH = "/_wbspawn/ws";
const OVERLAY_CSS = "/_wbspawn/static/overlay.css";
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

// The state this page was served in (the server puts it in this script's URL): a `hello` that
// names another means the page is stale. The server restarted, or it announced a build or a
// changed file while this page was loading (before its socket opened) or disconnected.
let served = new URL(import.meta.url).searchParams.get("served");
// Whether this page has heard from a server: only then is its going away worth a word.
let seen = false;
let retryMs = RETRY_MIN_MS;
let leaving = false;
// The socket while it is open, and what the app reported meanwhile (the runtime dispatches it
// as events: bootstrap.js). A page that prints without end must not fill memory while the
// server is away: past the limit the oldest reports go.
let open = null;
const unsent = [];
const UNSENT_LIMIT = 1000;

function report(message) {
  if (open !== null) {
    open.send(JSON.stringify(message));
    return;
  }
  unsent.push(message);
  if (unsent.length > UNSENT_LIMIT) unsent.shift();
}

addEventListener("wbspawn:output", (event) => report({ type: "output", lines: event.detail }));
addEventListener("wbspawn:exit", (event) => report({ type: "exit", ...event.detail }));

addEventListener("pagehide", () => {
  leaving = true;
});

function socketUrl() {
  const url = new URL(WS_PATH, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

function connect() {
  const socket = new WebSocket(socketUrl());
  socket.addEventListener("open", () => {
    retryMs = RETRY_MIN_MS;
    open = socket;
    for (const message of unsent.splice(0)) socket.send(JSON.stringify(message));
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(message);
  });
  socket.addEventListener("close", () => {
    open = null;
    if (leaving) return;
    if (seen) badge.show("wbspawn: server gone, reconnecting…");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  });
}

function reload() {
  leaving = true;
  location.reload();
}

function handle(message) {
  switch (message.type) {
    case "hello":
      if (served !== null && served !== message.served) {
        reload();
        return;
      }
      served = message.served ?? null;
      seen = true;
      badge.hide();
      break;
    case "building":
      badge.show("wbspawn: building…");
      overlay.building();
      break;
    case "reload":
      reload();
      break;
    case "built": // a good build this page reloaded for as it started: it runs it now
      badge.hide();
      overlay.hide();
      break;
    case "css":
      swapStylesheet(message.path);
      break;
    case "build-failed":
      badge.hide();
      overlay.show(message);
      break;
    default:
      break; // newer servers may send more types
  }
}

// Replaces <link rel="stylesheet"> elements whose path is `path` (every same-origin one when
// none matches: the file may be @import-ed). The new link loads before the old one goes, so the
// page never shows unstyled.
function swapStylesheet(path) {
  const links = [...document.querySelectorAll('link[rel~="stylesheet"][href]')].filter(
    (link) => new URL(link.href, location.href).origin === location.origin,
  );
  const matching = links.filter((link) => new URL(link.href, location.href).pathname === path);
  for (const link of matching.length ? matching : links) {
    const url = new URL(link.href, location.href);
    url.searchParams.set("wbspawn", String(Date.now()));
    const fresh = link.cloneNode();
    fresh.href = url.href;
    const drop = () => link.remove();
    fresh.addEventListener("load", drop, { once: true });
    fresh.addEventListener("error", drop, { once: true });
    link.after(fresh);
  }
}

const overlayHost = (id) => shadowHost(id, OVERLAY_CSS);

function mount(host) {
  if (!host.isConnected) document.documentElement.append(host);
}

const badge = (() => {
  let ui = null;
  return {
    show(text) {
      ui ??= overlayHost("wbspawn-badge");
      ui.root.querySelector(".badge")?.remove();
      const el = document.createElement("div");
      el.className = "badge";
      el.textContent = text;
      ui.root.append(el);
      mount(ui.host);
    },
    hide() {
      ui?.host.remove();
    },
  };
})();

const overlay = (() => {
  let ui = null;
  let current = null;
  const dismiss = () => {
    ui?.host.remove();
  };
  const hide = () => {
    current = null;
    dismiss();
  };
  addEventListener("keydown", (event) => {
    if (event.key === "Escape") dismiss();
  });
  return {
    hide,
    show(message) {
      current = message;
      ui ??= overlayHost("wbspawn-overlay");
      const panel = document.createElement("div");
      panel.className = "panel";
      panel.setAttribute("role", "alertdialog");
      panel.setAttribute("aria-label", "Build failed");

      const header = document.createElement("header");
      const title = document.createElement("h1");
      title.textContent = "Build failed";
      const state = document.createElement("span");
      state.className = "state";
      const close = document.createElement("button");
      close.className = "close";
      close.type = "button";
      close.title = "Dismiss (Esc)";
      close.textContent = "×";
      close.addEventListener("click", dismiss);
      header.append(title, state, close);
      panel.append(header);

      if (message.locations?.length) {
        const list = document.createElement("ul");
        list.className = "locations";
        for (const location of message.locations) {
          const item = document.createElement("li");
          item.textContent = location;
          list.append(item);
        }
        panel.append(list);
      }
      const pre = document.createElement("pre");
      pre.className = "diagnostics";
      // `html` is escaped by the server (ansi.py): only its own <span class> tags are markup.
      pre.innerHTML = message.html;
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = "The last good build keeps running underneath. Fix the error and save: this goes away by itself.";
      panel.append(pre, hint);

      ui.root.querySelector(".panel")?.remove();
      ui.root.append(panel);
      mount(ui.host);
    },
    building() {
      if (!current || !ui?.host.isConnected) return;
      const state = ui.root.querySelector(".state");
      if (state) state.textContent = "rebuilding…";
    },
  };
})();

// The thread inspector (inspector.js, loaded the first time it opens): a "threads" button
// once the page started an app (bootstrap.js says so), and Alt+T. A deadlock the runtime names
// opens it.
const threads = (() => {
  let ui = null;
  let inspector = null;
  let panics = 0;
  const load = () => (inspector ??= import("/_wbspawn/static/inspector.js"));
  const toggle = () => load().then((module) => module.toggle());
  return {
    offer() {
      ui ??= overlayHost("wbspawn-threads");
      if (!ui.root.querySelector(".threads-button")) {
        const button = document.createElement("button");
        button.className = "threads-button";
        button.type = "button";
        button.title = "Threads (Alt+T)";
        button.textContent = "threads";
        button.addEventListener("click", toggle);
        ui.root.append(button);
      }
      mount(ui.host);
    },
    toggle,
    alert() {
      this.offer();
      ui.root.querySelector(".threads-button").classList.add("alert");
      load().then((module) => module.show());
    },
    // A thread panicked: counted on the button, listed in the inspector (opened by a person).
    panicked(panic) {
      this.offer();
      panics += 1;
      const button = ui.root.querySelector(".threads-button");
      button.classList.add("alert");
      button.textContent = `threads · ${panics} ${panics === 1 ? "death" : "deaths"}`;
      load().then((module) => module.addPanic(panic));
    },
  };
})();

// A thread's panic, as the runtime reports it (bootstrap.js): listed whatever the app's panic
// hook prints (`console_error_panic_hook`, which Yew sets, prints nothing to stderr). A long
// message is cut to its first lines.
const PANIC_LINES = 20;
addEventListener("wbspawn:panicked", ({ detail: { thread, location, message } }) => {
  threads.panicked({ thread, location, message: message.split("\n").slice(0, PANIC_LINES) });
});
// A thread that died other than by a panic: "thread 'NAME' crashed: WHY" (bootstrap.js).
addEventListener("wbspawn:crashed", (event) => {
  const crash = /^thread '(.*)' crashed: (.*)$/s.exec(event.detail);
  if (crash) threads.panicked({ thread: crash[1], location: "", message: [crash[2]], crashed: true });
});

addEventListener("wbspawn:started", () => threads.offer());
addEventListener("wbspawn:deadlock", () => threads.alert());
addEventListener("keydown", (event) => {
  if (event.altKey && event.code === "KeyT" && self.__wbspawnApp) {
    event.preventDefault();
    threads.toggle();
  }
});

connect();
