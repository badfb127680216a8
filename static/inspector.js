// The dev server's thread inspector: every live thread of the app and what it does, the pool's
// figures, and any deadlock the runtime named, over the page. reload.js loads this module the
// first time the inspector opens (Alt+T, or its "threads" button), so a page that never opens
// it pays nothing; while it is closed nothing here runs.
//
// The rows come from `poolState()` of the app the page started last (bootstrap.js keeps it),
// which the runtime's dispatcher answers from shared memory: it answers while every thread of
// the app is blocked (runtime-js/inspect.js says what each field means).

import { shadowHost } from "/_wbspawn/static/shadow-ui.js";

const STYLE = "/_wbspawn/static/inspector.css";
const REFRESH_MS = 500;
const COLUMNS = ["id", "name", "state", "on", "for", "spawned by", "worker"];

let ui = null;
let timer = null;
// The app's threads' deaths so far, newest last: panics and crashes (traps, stack overflows),
// as the runtime reports them (reload.js).
const panics = [];
const PANICS_KEPT = 50;
// The last reading, for spawns per second.
let last = null;

function build() {
  const { host, root } = shadowHost("wbspawn-inspector", STYLE);
  const panel = document.createElement("section");
  panel.className = "inspector";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Threads");
  const header = document.createElement("header");
  const title = document.createElement("h1");
  title.textContent = "Threads";
  const pool = document.createElement("span");
  pool.className = "pool";
  const close = document.createElement("button");
  close.className = "close";
  close.type = "button";
  close.title = "Close (Alt+T)";
  close.textContent = "×";
  close.addEventListener("click", () => hide());
  header.append(title, pool, close);
  const deadlock = document.createElement("pre");
  deadlock.className = "deadlock";
  deadlock.hidden = true;
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const column of COLUMNS) {
    const th = document.createElement("th");
    th.textContent = column;
    head.append(th);
  }
  table.createTBody();
  const panicList = document.createElement("ul");
  panicList.className = "panics";
  panel.append(header, deadlock, table, panicList);
  root.append(panel);
  return { host, root, pool, deadlock, body: table.tBodies[0], panicList };
}

function label(row) {
  if (row === undefined) return "";
  return row.name === null ? `#${row.id}` : `${row.name} (#${row.id})`;
}

function render(state) {
  const now = performance.now();
  const spawnsPerS = last === null ? 0 : ((state.taken - last.taken) * 1000) / (now - last.at);
  last = { taken: state.taken, at: now };
  ui.pool.textContent =
    `workers ${state.live} live, ${state.idle} idle, ${state.booting} booting (cap ${state.maxWorkers})` +
    ` · ${state.queued} queued · ${Math.max(0, spawnsPerS).toFixed(1)} spawns/s` +
    ` · memory ${(state.memoryBytes / 2 ** 20).toFixed(1)} MiB` +
    ` · ${state.dead} died, ${state.leakedKiB} KiB of stacks leaked`;
  ui.deadlock.hidden = state.deadlock === null;
  ui.deadlock.textContent = state.deadlock?.message ?? "";
  ui.deadlock.className = `deadlock ${state.deadlock?.kind === "locks" ? "maybe" : ""}`;
  const byId = new Map(state.table.map((row) => [row.id, row]));
  const stuck = new Set(state.deadlock?.threads ?? []);
  const rows = state.table.map((row) => {
    const tr = document.createElement("tr");
    tr.className = `state-${row.state.split(" ")[0]}${stuck.has(row.id) ? " stuck" : ""}`;
    tr.dataset.id = row.id;
    const on = row.state === "joining" ? label(byId.get(Number(row.on))) || `#${row.on}` : row.on;
    const cells = [
      row.id,
      row.name ?? "",
      row.state,
      on,
      row.state === "running" ? "" : `${(row.forMs / 1000).toFixed(1)} s`,
      row.spawnedBy === null ? "" : label(byId.get(row.spawnedBy)) || `#${row.spawnedBy}`,
      row.worker === 0 ? "app" : row.worker,
    ];
    for (const cell of cells) tr.insertCell().textContent = String(cell);
    return tr;
  });
  for (const name of state.starting) {
    const tr = document.createElement("tr");
    tr.className = "state-booting";
    for (const cell of ["", name, "booting", "", "", "", ""]) tr.insertCell().textContent = cell;
    rows.push(tr);
  }
  ui.body.replaceChildren(...rows);
}

function renderPanics() {
  ui.panicList.replaceChildren(
    ...panics.map(({ thread, location, message, crashed }) => {
      const item = document.createElement("li");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = `'${thread}' ${crashed ? "crashed" : "panicked"}`;
      const where = document.createElement("span");
      where.className = "location";
      where.textContent = location;
      const what = document.createElement("pre");
      what.textContent = message.join("\n");
      item.append(who, ...(location ? [" at ", where] : []), what);
      return item;
    }),
  );
}

/** A thread's death ({thread, location, message: lines, crashed}), shown from now on. */
export function addPanic(panic) {
  panics.push(panic);
  if (panics.length > PANICS_KEPT) panics.shift();
  if (ui) renderPanics();
}

async function refresh() {
  const app = self.__wbspawnApp;
  if (!app || !ui?.host.isConnected) return;
  try {
    const state = await app.poolState();
    if (ui.host.isConnected && state.table) render(state);
  } catch (error) {
    ui.pool.textContent = `no answer: ${error.message ?? error}`;
  }
}

export function show() {
  if (ui === null) {
    ui = build();
    renderPanics();
  }
  if (!ui.host.isConnected) document.documentElement.append(ui.host);
  last = null;
  refresh();
  timer ??= setInterval(refresh, REFRESH_MS);
}

export function hide() {
  ui?.host.remove();
  clearInterval(timer);
  timer = null;
}

export function toggle() {
  if (ui?.host.isConnected) hide();
  else show();
}
