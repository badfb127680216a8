"""Where the browser assets live: inside the wheel, or at the repo root when editable."""

from __future__ import annotations

from pathlib import Path

from wbspawn.errors import WbspawnError

_PACKAGE_DIR = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    # A wheel carries them as wbspawn/_assets/<name> (see hatch_build.py); an editable
    # install runs from server/wbspawn/, two levels below the repo root that holds them.
    candidates = (_PACKAGE_DIR / "_assets" / name, _PACKAGE_DIR.parents[1] / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = " or ".join(str(c) for c in candidates)
    raise WbspawnError(
        f"wbspawn's {name}/ assets not found (looked in {looked}): reinstall wbspawn"
    )


def runtime_js_dir() -> Path:
    return asset_dir("runtime-js")


def static_dir() -> Path:
    return asset_dir("static")


def ship_dir() -> Path:
    """`wbspawn new`'s template (template/) and the dist's browser files (isolate.js, sw.js)."""
    return asset_dir("ship")


def runtime_rs_dir() -> Path:
    """The wbspawn crate's source, which builds of apps outside this repository use."""
    return asset_dir("runtime-rs")
