"""The app's output as the browser's console shows it, for `wbspawn check`.

The runtime's dispatcher writes each line the app prints to the console from one file,
`stdio.js` (`assets/stdio.<hash>.js` in a dist), as `[thread] text`: stdout as a log, stderr
as a warning. Every engine reports where a console message came from, so those lines are told
apart from the page's own messages by that file alone; the app's exit is read from the page
(`<html data-wbspawn-exit>`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from wbspawn.check.browser import ConsoleMessage
from wbspawn.output import OutputLine, Stream

# The runtime's stdio.js, at its dev-server URL or content-hashed in a dist, with the
# engine's `:line` (and `:column`) after it.
_STDIO: Final = re.compile(r"/stdio(?:\.[0-9a-f]+)?\.js(?::\d+)*$")
_TAGGED: Final = re.compile(r"^\[(?P<thread>[^\]]*)\] (?P<text>.*)$", re.DOTALL)


def output_lines(console: Sequence[ConsoleMessage]) -> list[OutputLine]:
    """The lines the app printed, in order, from a page's console messages."""
    lines: list[OutputLine] = []
    for message in console:
        if message.location is None or not _STDIO.search(message.location):
            continue
        if message.level == "error":
            continue
        tagged = _TAGGED.match(message.text)
        if tagged is None:
            continue
        stream: Stream = "stderr" if message.level == "warning" else "stdout"
        lines.append(OutputLine(stream, tagged["thread"], tagged["text"]))
    return lines
