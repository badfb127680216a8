// The program's standard output and error, as the dispatcher takes them from the runtime
// (runtime-rs/src/stdio.rs): each line goes to the console, tagged with its thread, stdout as
// console.log and stderr as console.warn. Not console.error: writing to stderr is not a
// failure (a program logs there, std prints a caught panic there), and `wbspawn check` fails
// on console errors. `wbspawn check` tells these lines from the page's own console messages
// by this file's name (check/output.py).
//
// A thread that flushes before its newline (libtest's `test name ... ` then `ok`) sends the
// line in pieces (`out+`, `err+`). The console cannot add to a line it has shown, so the
// pieces wait here for the rest of their line, and are shown as they are only if it does not
// come within PIECE_WAIT_MS (a progress message before a long computation).
export const PIECE_WAIT_MS = 500;

// `stream\0thread` -> the pieces of the line that thread has not finished on that stream.
const pieces = new Map();

// `flat`: the runtime's triples, `[kind, thread, text]`. Returns the lines, the panics (not
// printed: std's report, or the app's hook, has said them), and the program's end if it came
// (nothing follows it).
export function printOutput(flat) {
  const lines = [];
  const panics = [];
  let end = null;
  for (let at = 0; at + 2 < flat.length && end === null; at += 3) {
    const [kind, thread, text] = [flat[at], flat[at + 1], flat[at + 2]];
    if (kind === "out" || kind === "err" || kind === "out+" || kind === "err+") {
      const stream = kind.startsWith("out") ? "stdout" : "stderr";
      const key = `${stream}\0${thread}`;
      const line = (pieces.get(key) ?? "") + text;
      if (kind.endsWith("+")) {
        pieces.set(key, line);
        continue;
      }
      pieces.delete(key);
      lines.push(show(stream, thread, line));
    } else if (kind === "panic") {
      const at = text.indexOf("\n");
      panics.push({ thread, location: text.slice(0, at), message: text.slice(at + 1) });
    } else if (kind === "dropped") {
      console.warn(
        `wbspawn: ${text} line(s) of output were dropped: nothing took them for 10 s (the page's ` +
          "dispatcher was not running, or could not keep up)",
      );
    } else if (kind === "exit" || kind === "abort") {
      lines.push(...printPieces());
      end = { code: Number(text), aborted: kind === "abort" };
    }
  }
  return { lines, panics, end };
}

// Whether pieces wait for the rest of their lines.
export function piecesWaiting() {
  return pieces.size > 0;
}

// Shows the pieces that wait as lines of their own (their line's rest is late, or will never
// come); returns those lines.
export function printPieces() {
  const lines = [];
  for (const [key, text] of pieces) {
    const [stream, thread] = key.split("\0");
    lines.push(show(stream, thread, text));
  }
  pieces.clear();
  return lines;
}

function show(stream, thread, text) {
  (stream === "stdout" ? console.log : console.warn)(`[${thread}] ${text}`);
  return { stream, thread, text };
}
