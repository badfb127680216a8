"""The one settings object: built at the CLI edge, passed down to every component."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    # Outside the repo so the target dir (std rebuilt for atomics: minutes on 2 cores)
    # survives `git clean` and never triggers a file watcher in the app dir.
    if env := os.environ.get("WBSPAWN_CACHE_DIR"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "wbspawn"
    return Path.home() / ".cache" / "wbspawn"


@dataclass(frozen=True)
class Config:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    release: bool = False
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Dev-loop options (watch, extra headers, COEP mode, ...) go here as fields with
    # defaults, so callers that build a Config today keep working.

    def __post_init__(self) -> None:
        # Resolved once so cache keys and the "stay inside APP_DIR" checks agree.
        object.__setattr__(self, "app_dir", Path(self.app_dir).expanduser().resolve())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().resolve())

    @property
    def profile(self) -> str:
        return "release" if self.release else "debug"
