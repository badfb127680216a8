from __future__ import annotations


class WbspawnError(Exception):
    """A mistake the user can fix.

    The message is one line that names what is wrong and how to fix it; the CLI prints it
    as ``wbspawn: error: <message>`` without a traceback.
    """


class BuildError(WbspawnError):
    """A failed cargo or wasm-bindgen run; `diagnostics` is the tool's full stderr."""

    def __init__(self, message: str, diagnostics: str = "") -> None:
        super().__init__(message)
        self.diagnostics = diagnostics
