"""Standalone copies of the workspace's apps, for tests and benchmarks that edit them."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / "examples" / "demo"
STD_THREADS_DIR = REPO / "examples" / "std-threads"
# Exports the runtime's browser tests ask questions through (tests/apps/lab).
LAB_DIR = REPO / "tests" / "apps" / "lab"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _resolve_workspace(value: Any, inherited: dict[str, Any], root: Path) -> Any:
    if not (isinstance(value, dict) and value.get("workspace") is True):
        return value
    base = inherited
    if isinstance(base, dict) and "path" in base:
        base = {**base, "path": str((root / base["path"]).resolve())}
    if isinstance(base, str):
        base = {"version": base}
    extra = {k: v for k, v in value.items() if k != "workspace"}
    return {**base, **extra} if isinstance(base, dict) else base


def copy_app(source: Path, dest: Path, workspace_root: Path = REPO) -> Path:
    """A standalone copy of a workspace member app (its web files and src/).

    Outside the workspace `x.workspace = true` means nothing: the copy's Cargo.toml spells
    the inherited values out, path dependencies (the runtime) become absolute, and the
    repo's Cargo.lock goes beside it so the locked wasm-bindgen matches the installed CLI.
    The crate name stays, so the build shares the cached target dir (std is built once).
    """
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("target", ".*"))
    manifest = tomllib.loads((source / "Cargo.toml").read_text())
    workspace = tomllib.loads((workspace_root / "Cargo.toml").read_text())["workspace"]
    package = {
        key: (workspace["package"][key] if isinstance(v, dict) and v.get("workspace") else v)
        for key, v in manifest["package"].items()
    }
    lines = ["[package]", *(f"{k} = {_toml_value(v)}" for k, v in package.items())]
    for table in ("lib",):
        if table in manifest:
            lines += ["", f"[{table}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in manifest[table].items()]
    for table in ("dependencies", "dev-dependencies"):
        deps = manifest.get(table, {})
        if not deps:
            continue
        lines += ["", f"[{table}]"]
        for name, spec in deps.items():
            inherited = workspace.get("dependencies", {}).get(name)
            resolved = _resolve_workspace(spec, inherited, workspace_root)
            lines.append(f"{name} = {_toml_value(resolved)}")
    (dest / "Cargo.toml").write_text("\n".join(lines) + "\n")
    shutil.copyfile(workspace_root / "Cargo.lock", dest / "Cargo.lock")
    return dest
