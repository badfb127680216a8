// The program's standard output and error, as the dispatcher takes them from the runtime
// (runtime-rs/src/stdio.rs): each line goes to the console, tagged with its thread, stdout as
// console.log and stderr as console.warn. Not console.error: writing to stderr is not a
// failure (a program logs there, std prints a caught panic there), and `wbspawn check` fails
// on console errors. `wbspawn check` tells these lines from the page's own console messages
// by this file's name (check/output.py).

// `flat`: the runtime's triples, `[kind, thread, text]`. Returns the lines, and the program's
// end if it came (nothing follows it).
export function printOutput(flat) {
  const lines = [];
  let end = null;
  for (let at = 0; at + 2 < flat.length && end === null; at += 3) {
    const [kind, thread, text] = [flat[at], flat[at + 1], flat[at + 2]];
    if (kind === "out" || kind === "err") {
      const stream = kind === "out" ? "stdout" : "stderr";
      (stream === "stdout" ? console.log : console.warn)(`[${thread}] ${text}`);
      lines.push({ stream, thread, text });
    } else if (kind === "dropped") {
      console.warn(
        `wbspawn: ${text} line(s) of output were dropped: nothing took them for 10 s (the page's ` +
          "dispatcher was not running, or could not keep up)",
      );
    } else if (kind === "exit" || kind === "abort") {
      end = { code: Number(text), aborted: kind === "abort" };
    }
  }
  return { lines, end };
}
