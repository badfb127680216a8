"""`wbspawn build APP_DIR [--out DIR]`: a release build, ready for any static host.

1. The app is built as `wbspawn serve --release` would build it (build/pipeline.py: cargo,
   wasm-bindgen, the stack checks).
2. A copy of wasm-bindgen's output gets the wasm optimized (wasmopt.py).
3. From the app's pages, every file they lead to is renamed by its content and every
   reference rewritten (hashing.py); public/ is copied as it is.
4. The host configs (hosting.py), the service worker for hosts without headers and the
   manifest (manifest.py) are written beside them.
5. All of it goes into a staging directory beside DIR, which replaces DIR only once it is
   complete: a failed build leaves DIR as it was.

DIR is replaced whole, so it must be new, empty, or an earlier dist (it has the manifest):
`--out ~` must never delete a home directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from wbspawn import assets
from wbspawn.build import toolchain as toolchain_mod
from wbspawn.build.pipeline import BuildResult, build
from wbspawn.build.toolchain import Toolchain
from wbspawn.config import Config
from wbspawn.errors import WbspawnError
from wbspawn.serve.app import PUBLIC_DIR
from wbspawn.ship import hosting, sizes, wasmopt
from wbspawn.ship.hashing import Assembled, assemble
from wbspawn.ship.manifest import MANIFEST, Dist, is_dist, write_manifest
from wbspawn.ship.site import SERVICE_WORKER, Site
from wbspawn.swapdir import swap_in
from wbspawn.terminal import CargoProgress, Terminal

_HEADERS_MARK = "/* wbspawn:headers */ {}"


@dataclass(frozen=True)
class DistResult:
    dist: Dist
    build: BuildResult
    optimized: wasmopt.Optimized
    sizes: list[sizes.Size]
    warnings: list[str]
    duration_s: float


def build_dist(
    config: Config, *, terminal: Terminal | None = None, toolchain: Toolchain | None = None
) -> DistResult:
    """Builds APP_DIR for release into `config.dist`, replacing it only on success."""
    term = Terminal() if terminal is None else terminal
    started = time.monotonic()
    out = config.dist
    check_out_dir(config.app_dir, out)
    release = replace(config, release=True)
    tools = toolchain_mod.discover() if toolchain is None else toolchain

    term.building(config.app_dir.name, "release")
    progress = CargoProgress()

    def on_line(line: str) -> None:
        if progress.feed(line):
            term.progress(progress)

    result = build(release, tools, on_cargo_line=on_line)
    term.warnings(result.diagnostics)
    term.built(result, progress)
    for note in (result.std_threads, result.stack_checks):
        term.line(note, "dim")

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    # mkdtemp makes it private (0700); a web server's workers must read the dist.
    staging.chmod(0o777 & ~_umask())
    work = Path(tempfile.mkdtemp(prefix="wbspawn-dist-"))
    try:
        pkg = work / "pkg"
        shutil.copytree(result.out_dir, pkg)
        optimized = wasmopt.optimize(pkg / result.wasm_name, config.wasm_opt)
        if optimized.level != "off":
            term.line(
                f"wasm-opt -{optimized.level}: {sizes.human(optimized.before)} -> "
                f"{sizes.human(optimized.after)} in {optimized.seconds:.1f} s",
                "dim",
            )
        dist, assembled = _assemble(config, result, pkg, staging, out)
        warnings = [str(w) for w in assembled.warnings]
        for warning in warnings:
            term.warn(warning)
        measured = [sizes.measure(path, data) for path, data in sorted(assembled.files.items())]
        swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return DistResult(
        dist=replace(dist, root=out),
        build=result,
        optimized=optimized,
        sizes=measured,
        warnings=warnings,
        duration_s=time.monotonic() - started,
    )


def _assemble(
    config: Config, result: BuildResult, pkg: Path, staging: Path, out: Path
) -> tuple[Dist, Assembled]:
    ship = assets.ship_dir()
    headers = hosting.rules_for(config.coep, config.headers, ()).headers
    site = Site(
        app_dir=config.app_dir,
        pkg_dir=pkg,
        runtime_js_dir=assets.runtime_js_dir(),
        static_dir=assets.static_dir(),
        ship_dir=ship,
        excluded=(out, staging),
    )
    assembled = assemble(
        site,
        service_worker=service_worker(ship, dict(headers)),
        crate=result.crate_name,
        glue_url=f"/pkg/{result.js_name}",
        wasm_url=f"/pkg/{result.wasm_name}",
        mode=config.mode,
    )
    for path, data in assembled.files.items():
        if path in hosting.CONFIG_FILES or path == MANIFEST:
            raise WbspawnError(
                f"the app's {path} would be replaced by the one `wbspawn build` writes: "
                "remove it (add its headers with --header or [package.metadata.wbspawn])"
            )
        target = staging / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    pages = sorted(
        (name for url, name in assembled.names.items() if name.endswith(".html")),
        key=lambda p: (p != "index.html", p),
    )
    unhashed = [*pages, SERVICE_WORKER.removeprefix("/")]
    rules = hosting.rules_for(config.coep, config.headers, unhashed)
    for name, text in hosting.configs(rules, result.crate_name).items():
        (staging / name).write_text(text, encoding="utf-8")
    dist = Dist(
        root=staging,
        crate=result.crate_name,
        pages=tuple(pages),
        rules=rules,
        files=dict(sorted(assembled.names.items())),
    )
    write_manifest(dist, staging)
    return dist, assembled


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def service_worker(ship: Path, headers: dict[str, str]) -> bytes:
    template = (ship / "sw.js").read_text(encoding="utf-8")
    if _HEADERS_MARK not in template:
        raise WbspawnError(f"{ship / 'sw.js'} has no {_HEADERS_MARK}: reinstall wbspawn")
    return template.replace(_HEADERS_MARK, json.dumps(headers, indent=2)).encode()


def check_out_dir(app_dir: Path, out: Path) -> None:
    """Refuses an output directory whose replacement would destroy anything but a dist."""
    out = out.resolve()
    app = app_dir.resolve()
    if out == app or app.is_relative_to(out):
        raise WbspawnError(
            f"--out {out} holds the app itself, which the build would replace: "
            "pass a directory of its own, e.g. the default APP_DIR/dist"
        )
    for inside in ("src", "target", PUBLIC_DIR):
        if out.is_relative_to(app / inside):
            raise WbspawnError(
                f"--out {out} is inside the app's {inside}/: pass a directory outside it"
            )
    if out.exists() and not out.is_dir():
        raise WbspawnError(f"--out {out} is a file: pass a directory")
    if out.is_dir() and any(out.iterdir()) and not is_dist(out):
        raise WbspawnError(
            f"{out} exists and is not a dist built by wbspawn (no {MANIFEST}), so the build "
            "will not replace it: remove it, or pass --out a new or empty directory"
        )
