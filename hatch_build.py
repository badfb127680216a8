"""Ship the browser assets inside the standard wheel, not inside editable installs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# Repo dir -> path inside the wheel; wbspawn/assets.py looks for these names.
ASSET_DIRS = {
    "runtime-js": "wbspawn/_assets/runtime-js",
    "runtime-rs": "wbspawn/_assets/runtime-rs",
    "static": "wbspawn/_assets/static",
    # `wbspawn new`'s template and the dist's isolation gate and service worker.
    "ship": "wbspawn/_assets/ship",
    # The stack-check pass's source, built for the machine by the first build (rusttool.py).
    "stackcheck": "wbspawn/_assets/stackcheck",
}


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        for name, target in ASSET_DIRS.items():
            source = root / name
            if not source.is_dir():
                raise FileNotFoundError(f"cannot build the wheel: {source} is missing")
            build_data["force_include"][str(source)] = target
