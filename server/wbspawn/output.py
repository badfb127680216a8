"""What the app prints: lines of its standard output and error, and its exit.

The browser runtime passes them on from the app's threads (runtime-js/stdio.js); the dev
server gets them from the page over the reload websocket (serve/reload.py) and `wbspawn check`
from the browser's console (check/output.py). Both print them as `[thread] text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class OutputLine:
    """A line the app printed."""

    stream: Stream
    thread: str
    text: str

    def tagged(self) -> str:
        return f"[{self.thread}] {self.text}"


@dataclass(frozen=True)
class AppExit:
    """The program ended: `std::process::exit(code)`, or `abort` (`aborted`, code 134)."""

    code: int
    aborted: bool

    def describe(self) -> str:
        if self.aborted:
            return f"the app aborted (code {self.code})"
        return f"the app exited with code {self.code}"
