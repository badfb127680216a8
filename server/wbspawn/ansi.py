"""ANSI escape sequences to HTML: rustc's coloured diagnostics, shown in the browser overlay.

Colours become classes (`ansi-fg-1`, `ansi-b`, ...) styled by static/overlay.css, never
inline `style` attributes: a page with a strict Content-Security-Policy (`style-src 'self'`)
would drop those. 256-colour and true-colour codes map to the nearest of the 16 basic ones;
rustc only uses the basic ones anyway.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

# CSI sequences (ESC [ params final), OSC sequences such as hyperlinks (ESC ] ... BEL or ST),
# and the two-byte escapes. Only SGR (CSI ... m) carries meaning for us.
_ESCAPE = re.compile(
    r"\x1b(?:\[(?P<params>[0-9;:?]*)[ -/]*(?P<final>[@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])"
)

# xterm's default palette, for mapping 256-colour and RGB codes onto the 16 classes.
_PALETTE: Sequence[tuple[int, int, int]] = (
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
)


def plain(text: str) -> str:
    """The text without any escape sequence (for logs and terminals that are not a tty)."""
    return _ESCAPE.sub("", text)


@dataclass(frozen=True)
class _Style:
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    fg: int | None = None
    bg: int | None = None

    def classes(self) -> str:
        names = [
            name
            for name, on in (
                ("ansi-b", self.bold),
                ("ansi-d", self.dim),
                ("ansi-i", self.italic),
                ("ansi-u", self.underline),
            )
            if on
        ]
        if self.fg is not None:
            names.append(f"ansi-fg-{self.fg}")
        if self.bg is not None:
            names.append(f"ansi-bg-{self.bg}")
        return " ".join(names)


def _nearest(rgb: tuple[int, int, int]) -> int:
    return min(
        range(len(_PALETTE)),
        key=lambda i: sum((a - b) ** 2 for a, b in zip(_PALETTE[i], rgb, strict=True)),
    )


def _color_256(n: int) -> int | None:
    if not 0 <= n <= 255:
        return None
    if n < 16:
        return n
    if n < 232:
        n -= 16
        levels = (0, 95, 135, 175, 215, 255)
        return _nearest((levels[n // 36], levels[n // 6 % 6], levels[n % 6]))
    gray = 8 + (n - 232) * 10
    return _nearest((gray, gray, gray))


def _extended(codes: Iterator[int]) -> int | None:
    """The colour after a 38/48: `5;n` or `2;r;g;b`."""
    mode = next(codes, None)
    if mode == 5:
        return _color_256(next(codes, -1))
    if mode == 2:
        rgb = (next(codes, 0), next(codes, 0), next(codes, 0))
        return _nearest(rgb)
    return None


def _apply(style: _Style, params: str) -> _Style:
    codes = iter(int(p) if p.isdigit() else 0 for p in re.split("[;:]", params or "0"))
    for code in codes:
        if code == 0:
            style = _Style()
        elif code == 1:
            style = replace(style, bold=True)
        elif code == 2:
            style = replace(style, dim=True)
        elif code == 3:
            style = replace(style, italic=True)
        elif code == 4:
            style = replace(style, underline=True)
        elif code == 22:
            style = replace(style, bold=False, dim=False)
        elif code == 23:
            style = replace(style, italic=False)
        elif code == 24:
            style = replace(style, underline=False)
        elif 30 <= code <= 37:
            style = replace(style, fg=code - 30)
        elif 90 <= code <= 97:
            style = replace(style, fg=code - 90 + 8)
        elif code == 39:
            style = replace(style, fg=None)
        elif 40 <= code <= 47:
            style = replace(style, bg=code - 40)
        elif 100 <= code <= 107:
            style = replace(style, bg=code - 100 + 8)
        elif code == 49:
            style = replace(style, bg=None)
        elif code == 38:
            style = replace(style, fg=_extended(codes))
        elif code == 48:
            style = replace(style, bg=_extended(codes))
    return style


def to_html(text: str) -> str:
    """Escaped HTML for a `<pre>`: SGR codes become `<span class="ansi-...">`, others vanish."""
    out: list[str] = []
    style = _Style()

    def emit(chunk: str) -> None:
        if not chunk:
            return
        escaped = html.escape(chunk)
        classes = style.classes()
        out.append(f'<span class="{classes}">{escaped}</span>' if classes else escaped)

    position = 0
    for match in _ESCAPE.finditer(text):
        emit(text[position : match.start()])
        position = match.end()
        if match.group("final") == "m":
            style = _apply(style, match.group("params"))
    emit(text[position:])
    return "".join(out)
