"""Finding and starting Chromium, for `wbspawn check` and `wbspawn doctor`.

Playwright drives the system's Chromium (Debian's `chromium` package, which `make setup`
installs), never a browser Playwright downloads: CI machines and this project's own have no
network beyond package registries.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

from wbspawn.build.toolchain import Which, find_executable
from wbspawn.errors import WbspawnError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

DEFAULT_PATH: Final = Path("/usr/bin/chromium")
INSTALL_HINT: Final = "run `apt-get install chromium` (or `make setup`), or set WBSPAWN_CHROMIUM"

# No sandbox: CI containers run as root, where Chromium's sandbox refuses to start. The rest
# keep a headless run from calling home (and from waiting on a network that is not there).
LAUNCH_ARGS: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium(
    environ: Mapping[str, str] | None = None,
    *,
    which: Which = shutil.which,
    default: Path = DEFAULT_PATH,
) -> Path:
    """WBSPAWN_CHROMIUM, else `chromium` on PATH, else /usr/bin/chromium."""
    return find_executable(
        "WBSPAWN_CHROMIUM",
        "chromium",
        [default],
        os.environ if environ is None else environ,
        which,
        what="a Chromium executable",
        missing=f"Chromium not found: {INSTALL_HINT}",
    )


_VERSION = re.compile(r"(Chromium|Google Chrome|Chrome)\s+(\d+(?:\.\d+)+)")


def chromium_version(path: Path) -> str:
    """`Chromium 156.0.8078.79` from `chromium --version` (or a WbspawnError)."""
    try:
        proc = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WbspawnError(f"`{path} --version` failed ({exc}): {INSTALL_HINT}") from exc
    match = _VERSION.search(proc.stdout)
    if match is None:
        shown = (proc.stdout or proc.stderr).strip()[:120]
        raise WbspawnError(f"`{path} --version` printed {shown!r}: {INSTALL_HINT}")
    return f"{match.group(1)} {match.group(2)}"


def launch(playwright: Playwright, path: Path) -> Browser:
    """Headless Chromium at `path`, or a WbspawnError saying why it would not start."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        return playwright.chromium.launch(
            executable_path=str(path), args=list(LAUNCH_ARGS), headless=True
        )
    except PlaywrightError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WbspawnError(f"cannot start Chromium ({path}): {first}: {INSTALL_HINT}") from exc
