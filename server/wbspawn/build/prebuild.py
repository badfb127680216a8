"""`wbspawn prebuild`: std and the runtime's dependencies built before the first app.

A sysroot (sysroot.py) spares every app the std build, but the first app of a std still
compiles the runtime's dependency graph for itself: wasm-bindgen, its macros and syn for the
host, js-sys, the wbspawn crate. On 2 cores that is about 15 s, most of it syn and the
macros one after the other. Those crates are the same for every `wbspawn new` app, and cargo
reuses them from the shared target dir (pipeline.py) for any app whose graph resolves to the
same versions and features. So the prebuild builds a throwaway `wbspawn new` app of each
template (`--template`: the dom one adds web-sys and wasm-bindgen-futures), as `wbspawn
serve` would, into that target dir: the next fresh app compiles only its own crate. Not the
yew template's: Yew and rayon are about 160 crates, a minute or two on 2 cores that every
prebuild would pay for an app most users never make; its first build compiles them.

The throwaway app is removed afterwards, and so is its output: what stays is what any first
build would have left (the sysroot, the stack-check pass, the target dir), so the cache
stays safe to delete and a build after the prebuild is what it would have been anyway.
An app whose dependencies differ (other versions, more web-sys features) compiles the
difference, as with any shared target dir.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from wbspawn.build.pipeline import BuildResult, build
from wbspawn.build.process import LineSink
from wbspawn.build.toolchain import Toolchain
from wbspawn.config import Config
from wbspawn.errors import WbspawnError
from wbspawn.ship.template import new_app

# The throwaway app's crate name: its own compiled crate is the one part nobody reuses.
SEED_NAME = "wbspawn-prebuild"
# The templates whose dependencies are prebuilt (see above for the one left out).
PREBUILT = ("worker", "dom")


def prebuild(
    config: Config, toolchain: Toolchain, *, on_cargo_line: LineSink | None = None
) -> list[BuildResult]:
    """Builds a fresh `wbspawn new` app of each `PREBUILT` template with `config`'s settings
    (profile, panic mode, std, stack checks) and cache, then removes the apps and their
    output."""
    seeds = config.cache_dir / "prebuild"
    try:
        seeds.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="app-", dir=seeds))
    except OSError as exc:
        raise WbspawnError(
            f"cannot write into {seeds} ({exc}): check the disk and WBSPAWN_CACHE_DIR"
        ) from exc
    results = []
    try:
        for variant in PREBUILT:
            app = new_app(workdir / variant / SEED_NAME, name=SEED_NAME, variant=variant).dir
            result = build(replace(config, app_dir=app), toolchain, on_cargo_line=on_cargo_line)
            shutil.rmtree(result.out_dir.parent, ignore_errors=True)
            results.append(result)
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
