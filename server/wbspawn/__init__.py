"""wbspawn: real threads for Rust->WebAssembly in the browser, plus a dev server."""

from __future__ import annotations

__version__ = "0.1.0"
