// What every thread does, read by the dispatcher from shared memory (`__wbspawn_thread_table`,
// activity.rs), and the deadlocks it shows: the thread inspector's data (`poolState().table`,
// `poolState().deadlock`) and the console's word when threads are stuck.
//
// A row's state is one of running, joining (`on`: the joined thread's id), lock, condvar,
// parked (a channel, `park`, a scope; `on`: the futex's address), each of those three with
// " (timeout)" when the wait has one, and sleeping (`on`: when it ends, ms since the epoch).
// The runtime counts each thread's changes; a state is timed from when this module first saw
// its count, so the table is read every second (the dispatcher's watchdog) whether or not
// anyone looks.

// States that end only when another thread acts.
const BLOCKED = new Set(["joining", "lock", "condvar", "parked"]);
// How long threads must have stood still before they are called deadlocked: a cycle of joins
// can never resolve, but the table is read while threads change, so it is confirmed once.
const CYCLE_MS = 900;
const ALL_BLOCKED_MS = 2000;

const firstSeen = new Map();

/** The table now: one object per live thread, the app's own thread (`main`) first. */
export function readTable(glue, now = performance.now()) {
  const flat = glue.__wbspawn_thread_table();
  const rows = [];
  const live = new Set();
  for (let at = 0; at + 6 < flat.length; at += 7) {
    const [id, name, state, on, changes, spawnedBy, worker] = flat.slice(at, at + 7);
    live.add(id);
    let seen = firstSeen.get(id);
    if (seen === undefined || seen.changes !== changes) {
      seen = { changes, since: now };
      firstSeen.set(id, seen);
    }
    rows.push({
      id: Number(id),
      name: name === "" ? null : name,
      state,
      on: state === "sleeping" ? sleepLeft(Number(on), now) : on,
      forMs: Math.round(now - seen.since),
      spawnedBy: spawnedBy === "" ? null : Number(spawnedBy),
      worker: Number(worker),
    });
  }
  for (const id of firstSeen.keys()) if (!live.has(id)) firstSeen.delete(id);
  return rows;
}

function sleepLeft(untilEpochMs, now) {
  const left = untilEpochMs - (performance.timeOrigin + now);
  return `${Math.max(0, Math.round(left))} ms left`;
}

/**
 * The deadlock the table shows, or null: `{ kind, threads, message }`.
 * - "joins": threads each joining the next, in a cycle.
 * - "blocked": every thread (the app's own too) blocked on another for seconds: nothing
 *   that runs is left to wake any of them.
 * Threads blocked while the app's own thread is free are no verdict: that thread may still
 * send, unlock or notify what they wait for (an idle pool waits so), and which futex is a
 * lock is a guess (activity.rs). `waiting`: threads not on a worker yet (queued, or their
 * worker booting): a thread joined before its row exists may still start.
 */
export function findDeadlock(rows, waiting = 0) {
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const start of rows) {
    const path = [];
    let at = start;
    while (at !== undefined && at.state === "joining" && !path.includes(at)) {
      path.push(at);
      at = byId.get(Number(at.on));
    }
    if (at === undefined || !path.includes(at)) continue;
    const cycle = path.slice(path.indexOf(at));
    if (cycle.some((row) => row.forMs < CYCLE_MS)) continue;
    return {
      kind: "joins",
      threads: cycle.map((row) => row.id),
      message:
        "wbspawn: deadlock: these threads join each other, and none can end:\n" +
        describeTable(cycle, rows).map((line) => `  ${line}`).join("\n"),
    };
  }
  if (waiting > 0 || rows.length === 0) return null;
  // A join of a thread with no row: it has not started (or just ended), so it may still end.
  const stuck = (row) =>
    BLOCKED.has(row.state) &&
    row.forMs >= ALL_BLOCKED_MS &&
    (row.state !== "joining" || byId.has(Number(row.on)));
  if (!rows.every(stuck)) return null;
  const lines = describeTable(rows).map((line) => `  ${line}`).join("\n");
  return {
    kind: "blocked",
    threads: rows.map((row) => row.id),
    message: `wbspawn: deadlock: every thread has waited ${seconds(rows)} s on another:\n${lines}`,
  };
}

function seconds(rows) {
  return (Math.min(...rows.map((row) => row.forMs)) / 1000).toFixed(1);
}

/** A thread as people name it: `main (#1)`, `'worker-3' (#4)`, `#5`. */
export function label(row) {
  if (row.spawnedBy === null && row.name === "main") return `main (#${row.id})`;
  return row.name === null ? `#${row.id}` : `'${row.name}' (#${row.id})`;
}

/** The table as people read it: one line a row (`rows`), each naming joined threads from `all`. */
export function describeTable(rows, all = rows) {
  const byId = new Map(all.map((row) => [row.id, row]));
  return rows.map((row) => describeRow(row, byId));
}

/** One line for a row: who it is and what it does, e.g. `'a' (#3) joins 'b' (#4) for 2.1 s`. */
export function describeRow(row, byId = new Map()) {
  const timed = row.state.endsWith(" (timeout)");
  const state = row.state.replace(" (timeout)", "");
  const what = {
    // The app's own thread is "running" between calls too, idle in its event loop.
    running: row.spawnedBy === null ? "runs, or waits for the page's events" : "runs",
    joining: `joins ${byId.has(Number(row.on)) ? label(byId.get(Number(row.on))) : `#${row.on}`}`,
    lock: `waits for a lock (${row.on})`,
    condvar: `waits on a condvar (${row.on})`,
    parked: `is parked: a channel, park or a scope (${row.on})`,
    sleeping: `sleeps (${row.on})`,
  }[state] ?? `${row.state} ${row.on}`;
  const since = state === "running" ? "" : ` for ${(row.forMs / 1000).toFixed(1)} s`;
  return `${label(row)} ${what}${timed ? ", with a timeout" : ""}${since}`;
}
