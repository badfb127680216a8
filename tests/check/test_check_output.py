"""`wbspawn check` tells the app's output from the page's own console messages."""

from __future__ import annotations

from wbspawn.check.browser import ConsoleMessage
from wbspawn.check.output import output_lines
from wbspawn.output import OutputLine

DEV = "http://127.0.0.1:8000/_wbspawn/stdio.js:17"
VERSIONED = "http://127.0.0.1:8000/_wbspawn/v/0123456789abcdef/stdio.js:17"
DIST = "http://127.0.0.1:8000/assets/stdio.0a1b2c3d4e.js:1:230"


def test_lines_from_the_runtimes_stdio_are_the_apps_output() -> None:
    console = [
        ConsoleMessage("log", "[main] hello", DEV),
        # Firefox reports console.log as info.
        ConsoleMessage("info", "[printer-1] line 0", DIST),
        ConsoleMessage("warning", "[printer-1] on stderr", DEV),
        ConsoleMessage("warning", "[main] [src/lib.rs:3:5] x = 1", DEV),
        # The dev server serves the runtime under a versioned path (serve/runtimefiles.py).
        ConsoleMessage("log", "[main] versioned", VERSIONED),
    ]
    assert output_lines(console) == [
        OutputLine("stdout", "main", "hello"),
        OutputLine("stdout", "printer-1", "line 0"),
        OutputLine("stderr", "printer-1", "on stderr"),
        OutputLine("stderr", "main", "[src/lib.rs:3:5] x = 1"),
        OutputLine("stdout", "main", "versioned"),
    ]


def test_the_pages_own_messages_are_not_output() -> None:
    console = [
        ConsoleMessage("log", "[main] looks like output", "http://127.0.0.1:8000/main.js:3"),
        ConsoleMessage("log", "[main] no location", None),
        ConsoleMessage("warning", "wbspawn: 3 line(s) of output were dropped", DEV),
        ConsoleMessage("error", "[main] an error is never output", DEV),
        ConsoleMessage("log", "[main] not stdio", "http://127.0.0.1:8000/_wbspawn/stdio.jsx:1"),
    ]
    assert output_lines(console) == []
