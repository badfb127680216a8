"""What a built dist is: `.wbspawn-dist.json` at its root, written by `wbspawn build`.

It marks the directory as a dist (so `wbspawn build` may replace it, and `wbspawn preview`
and `wbspawn check` know what they were given), and records what a server needs to serve it
as the generated host configs do: the crate, the pages and the header rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from wbspawn import __version__
from wbspawn.errors import WbspawnError
from wbspawn.ship.hosting import Rules

MANIFEST: Final = ".wbspawn-dist.json"
FORMAT: Final = 1


@dataclass(frozen=True)
class Dist:
    root: Path
    crate: str
    # Dist-relative paths of the HTML pages; "index.html" first when there is one.
    pages: tuple[str, ...]
    rules: Rules
    # The app's URL paths -> the dist's files (e.g. "/main.js" -> "assets/main.1f2e3d4c5b.js").
    files: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "wbspawn": __version__,
            "crate": self.crate,
            "pages": list(self.pages),
            "rules": self.rules.to_json(),
            "files": self.files,
        }


def is_dist(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def read_dist(path: Path) -> Dist:
    """The dist at `path`, or a WbspawnError naming the fix."""
    manifest = path / MANIFEST
    if not path.is_dir():
        raise WbspawnError(f"no such directory: {path}")
    if not manifest.is_file():
        raise WbspawnError(
            f"{path} is not a dist built by wbspawn (no {MANIFEST}): "
            "run `wbspawn build APP_DIR` and pass its output directory"
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        return Dist(
            root=path.resolve(),
            crate=str(data["crate"]),
            pages=tuple(str(p) for p in data["pages"]),
            rules=Rules.from_json(data["rules"]),
            files={str(k): str(v) for k, v in data["files"].items()},
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WbspawnError(
            f"cannot read {manifest} ({exc}): rebuild it with `wbspawn build`"
        ) from exc


def find_dist(path: Path) -> Path:
    """`path` if it is a dist, else `path/dist` if that is one (an app's default output)."""
    if not path.is_dir():
        raise WbspawnError(f"no such directory: {path}")
    if is_dist(path):
        return path
    if is_dist(path / "dist"):
        return path / "dist"
    if (path / "Cargo.toml").is_file():
        raise WbspawnError(f"{path} has no dist yet: run `wbspawn build {path}` first")
    raise WbspawnError(
        f"{path} is not a dist built by wbspawn (no {MANIFEST}): run `wbspawn build APP_DIR` "
        "and pass its output directory"
    )


def write_manifest(dist: Dist, into: Path) -> None:
    (into / MANIFEST).write_text(json.dumps(dist.to_json(), indent=2) + "\n", encoding="utf-8")
