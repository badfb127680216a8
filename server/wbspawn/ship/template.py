"""`wbspawn new DIR`: a new app from the template (ship/template/), ready for `wbspawn serve`.

`--template NAME` picks a variant: the files of ship/variants/NAME/ replace or join the
template's (the default, "worker", has none: the template itself). A variant may build on
another: "yew" is the "dom" app (its page starts the instance on the main thread) with Yew
rendering the page, so it lays its files over dom's.

The app depends on the runtime as `wbspawn = "0.1"`, the way it will once the crate is on
crates.io. Until then, and always when built by `wbspawn serve`, `check` or `build`, cargo
gets that dependency from the crate source inside this Python package (build/cargo.py,
`runtime_patch_args`): the Rust half of the runtime then always matches the browser half the
same package serves. wasm-bindgen is pinned to exactly the version the runtime pins, which
is the CLI `make setup` installs.

Template files hold `{{name}}`-style placeholders; `gitignore` becomes `.gitignore` and
`cargo/` `.cargo/` (a dotfile inside a package is easy to lose on the way). `.cargo/config.toml`
points cargo's own commands (`cargo test` with `wbspawn test-runner`) at the same crate
source, by this machine's path.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wbspawn import assets
from wbspawn.errors import WbspawnError

RENAMED: Final = {"gitignore": ".gitignore", "cargo": ".cargo"}
# `--template`: what each variant makes.
TEMPLATES: Final = {
    "worker": "the app in a worker, its exports called from the page (std::thread)",
    "dom": "Rust that owns the page (web-sys), a count on every thread behind a button",
    "yew": "a Yew app on the page, a rayon count behind a button",
}
# The variants' directories each one lays over the template, in order.
_LAYERS: Final = {"worker": (), "dom": ("dom",), "yew": ("dom", "yew")}
_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
# Cargo's rules for a package name, and names cargo refuses (`cargo new` says the same).
_CRATE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_RESERVED = frozenset(
    {
        "std",
        "core",
        "alloc",
        "proc_macro",
        "test",
        "self",
        "super",
        "crate",
        "wbspawn",
        "wasm_bindgen",
        "wasm-bindgen",
    }
)


@dataclass(frozen=True)
class NewApp:
    dir: Path
    name: str
    files: list[str]


def crate_name(name: str, *, given: bool) -> str:
    """`name` if cargo accepts it as a package name, else a WbspawnError with the fix."""
    fix = "pass a name that starts with a letter and has only letters, digits, - and _"
    how = "" if given else " (taken from the directory's name): pass --name NAME, or "
    if not _CRATE_NAME.match(name):
        raise WbspawnError(f"{name!r} cannot name a crate{how or ': '}{fix}")
    if name.lower() in _RESERVED or name.replace("-", "_").lower() in _RESERVED:
        raise WbspawnError(f"{name!r} is taken by Rust or a dependency{how or ': '}pick another")
    return name


def runtime_versions(runtime_rs: Path) -> tuple[str, str]:
    """(wbspawn's version requirement, e.g. "0.1"; the exact wasm-bindgen version) from the
    crate this package carries."""
    manifest = runtime_rs / "Cargo.toml"
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        version = str(data["package"]["version"])
        bindgen = str(data["target"]['cfg(target_arch = "wasm32")']["dependencies"]["wasm-bindgen"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise WbspawnError(f"cannot read {manifest} ({exc}): reinstall wbspawn") from exc
    major, minor, *_ = version.split(".")
    # Cargo's caret requirement: 0.1 accepts 0.1.x, 1.2 accepts 1.x.
    requirement = f"{major}.{minor}" if major == "0" else major
    return requirement, bindgen.removeprefix("=")


def new_app(
    target: Path,
    *,
    name: str | None = None,
    template: Path | None = None,
    variant: str = "worker",
) -> NewApp:
    """Writes a new app into `target` (which must not exist, or be empty): the template, with
    `variant`'s files over it."""
    if variant not in TEMPLATES:
        known = ", ".join(TEMPLATES)
        raise WbspawnError(f"there is no template {variant!r}: pick one of {known}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WbspawnError(f"{target} already exists and is not empty: pick a new directory")
    crate = crate_name(name or target.resolve().name, given=name is not None)
    source = assets.ship_dir() / "template" if template is None else template
    overlays = [assets.ship_dir() / "variants" / layer for layer in _LAYERS[variant]]
    wbspawn_version, bindgen_version = runtime_versions(assets.runtime_rs_dir())
    values = {
        "name": crate,
        "lib_name": crate.replace("-", "_"),
        "wbspawn_version": wbspawn_version,
        "wasm_bindgen_version": bindgen_version,
        # A TOML string: where cargo's own commands find the crate (.cargo/config.toml).
        "runtime_path": json.dumps(str(assets.runtime_rs_dir())),
    }
    rendered: dict[Path, bytes] = {}
    for root in (source, *overlays):
        for path in _files(root):
            rel = path.relative_to(root)
            rel = Path(*(RENAMED.get(part, part) for part in rel.parts))
            rendered[rel] = _render(path, values)
    target.mkdir(parents=True, exist_ok=True)
    for rel, data in rendered.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    return NewApp(dir=target, name=crate, files=[r.as_posix() for r in sorted(rendered)])


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _render(path: Path, values: dict[str, str]) -> bytes:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # a binary file, copied as it is

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise WbspawnError(f"template {path} uses an unknown {{{{{key}}}}}: reinstall wbspawn")
        return values[key]

    return _PLACEHOLDER.sub(value, text).encode()
