"""What the dev server tells the person at the terminal: short coloured status lines.

Status goes to stderr; stdout carries the `serving ... at URL` line first, so a script can
read the URL. What the app prints follows, tagged with its thread (`[main] hello`), on the
stream it was written to, as `cargo run` shows a program's output. Colours follow the usual
conventions: on when the stream is a tty, off with NO_COLOR, forced on with FORCE_COLOR. While
cargo runs, a tty gets one live progress line (crates compiled so far, from cargo's JSON
messages); a log file gets only the outcome.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from wbspawn import ansi
from wbspawn.build.pipeline import BuildResult
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.output import AppExit, OutputLine

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def wants_color(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@dataclass
class CargoProgress:
    """Counts cargo's `compiler-artifact` messages: the crates of this build done so far."""

    compiled: int = 0
    fresh: int = 0
    last: str = ""
    names: list[str] = field(default_factory=list)

    def feed(self, line: str) -> bool:
        """Takes one stdout line; True if it changed the count."""
        if not line.startswith("{"):
            return False
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            return False
        if message.get("reason") != "compiler-artifact":
            return False
        name = str(message.get("target", {}).get("name", "?"))
        if message.get("fresh"):
            self.fresh += 1
        else:
            self.compiled += 1
            self.last = name
            self.names.append(name)
        return True


class Terminal:
    def __init__(
        self,
        err: TextIO | None = None,
        out: TextIO | None = None,
        *,
        color: bool | None = None,
        live: bool | None = None,
    ) -> None:
        self.err = sys.stderr if err is None else err
        self.out = sys.stdout if out is None else out
        self.color = wants_color(self.err) if color is None else color
        isatty = getattr(self.err, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self._lock = threading.Lock()
        self._live_line = False

    # --- formatting ---------------------------------------------------------------------

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def _write(self, text: str, stream: TextIO | None = None) -> None:
        with self._lock:
            target = self.err if stream is None else stream
            if self._live_line:
                self.err.write("\r\x1b[K")
                self._live_line = False
            target.write(text + "\n")
            target.flush()

    def line(self, text: str, *styles: str) -> None:
        self._write(f"{self.paint('wbspawn:', 'bold')} {self.paint(text, *styles)}")

    def tool_output(self, text: str) -> None:
        """A tool's own output (rustc's diagnostics), colours kept only for a colour terminal."""
        if text.strip():
            self._write(text.rstrip("\n") if self.color else ansi.plain(text).rstrip("\n"))

    # --- events -------------------------------------------------------------------------

    def warn(self, text: str) -> None:
        self.line(f"warning: {text}", "yellow")

    def building(self, what: str, profile: str, reason: str = "") -> None:
        why = f" ({reason})" if reason else ""
        self.line(f"building {what} [{profile}]{why}…", "dim")

    def progress(self, progress: CargoProgress) -> None:
        if not self.live:
            return
        text = f"wbspawn: compiling… {progress.compiled} crates done"
        if progress.last:
            text += f" (last: {progress.last})"
        with self._lock:
            self.err.write("\r\x1b[K" + self.paint(text, "dim"))
            self.err.flush()
            self._live_line = True

    def built(self, result: BuildResult, progress: CargoProgress | None = None) -> None:
        crates = ""
        if progress is not None and progress.compiled:
            crates = f", {progress.compiled} crate{'s' if progress.compiled != 1 else ''} compiled"
        checks = f", stack checks {result.stackcheck_s:.2f} s" if result.stackcheck_s else ""
        # A spliced output took no wasm-bindgen run (build/splice.py).
        bindgen = "wasm-bindgen's last output spliced" if result.spliced else "wasm-bindgen"
        self.line(
            f"built {result.crate_name} in {result.duration_s:.1f} s (cargo "
            f"{result.cargo_s:.1f} s, {bindgen} {result.bindgen_s:.2f} s{checks}{crates})",
            "green",
        )

    def warnings(self, diagnostics: str) -> None:
        """rustc's warnings of a good build."""
        self.tool_output(diagnostics)

    def failed(self, error: WbspawnError, seconds: float | None = None) -> None:
        if isinstance(error, BuildError):
            self.tool_output(error.diagnostics)
        took = f" after {seconds:.1f} s" if seconds is not None else ""
        self.line(f"build failed{took}: {error}", "red", "bold")

    def overtaken(self) -> None:
        self.line("build stopped: newer changes came in", "dim")

    def changed(self, paths: Sequence[str], action: str) -> None:
        shown = ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
        self.line(f"{shown} changed: {action}", "dim")

    def app_output(self, lines: Sequence[OutputLine]) -> None:
        """What the app printed: each line on the stream it was written to, tagged."""
        for line in lines:
            stream = self.out if line.stream == "stdout" else self.err
            color = self.color if stream is self.err else wants_color(self.out)
            tag = f"[{line.thread}]"
            shown = f"\x1b[2m{tag}\x1b[0m" if color else tag
            self._write(f"{shown} {line.text}", stream)

    def app_exit(self, end: AppExit) -> None:
        if end.code == 0:
            self.line(end.describe(), "dim")
        else:
            self.line(end.describe(), "red")

    def serving(self, crate: str, url: str) -> None:
        # stdout: the one line a script may want to read (coloured only on a terminal).
        shown = f"\x1b[1;36m{url}\x1b[0m" if self.color and wants_color(self.out) else url
        self._write(f"wbspawn: serving {crate} at {shown}", self.out)
