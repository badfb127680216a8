"""The browser engines, by name: where each comes from, how to find it and start it.

    with engines.launch("firefox") as browser:
        page = browser.new_page()
        page.open(url)
        page.evaluate("crossOriginIsolated")

`check`, `doctor`, the tests and the benchmarks all go through here; an engine's own options
(Firefox prefs, a shared Playwright) are in its module's `launch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wbspawn.check import chromium, firefox, webkit
from wbspawn.check.browser import ENGINE_NAMES, Browser, EngineName
from wbspawn.errors import WbspawnError


@dataclass(frozen=True)
class Engine:
    name: EngineName
    # The Debian packages it needs, for doctor and the docs.
    packages: str
    install_hint: str
    find: Callable[[], Path]
    version: Callable[[Path], str]
    start: Callable[[Path], Browser]

    def launch(self) -> Browser:
        """Finds the engine and starts it; a WbspawnError names what is missing."""
        return self.start(self.find())


ENGINES: Final[dict[EngineName, Engine]] = {
    "chromium": Engine(
        "chromium",
        "chromium",
        chromium.INSTALL_HINT,
        chromium.find_chromium,
        chromium.chromium_version,
        chromium.launch,
    ),
    "firefox": Engine(
        "firefox",
        "firefox-esr",
        firefox.INSTALL_HINT,
        firefox.find,
        firefox.version,
        firefox.launch,
    ),
    "webkit": Engine(
        "webkit",
        "libwebkit2gtk-4.1-0 xvfb",
        webkit.INSTALL_HINT,
        webkit.find,
        webkit.version,
        webkit.launch,
    ),
}


def engine(name: str) -> Engine:
    for known in ENGINE_NAMES:
        if known == name:
            return ENGINES[known]
    raise WbspawnError(f"no browser engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


def launch(name: str) -> Browser:
    return engine(name).launch()
