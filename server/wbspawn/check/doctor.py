"""`wbspawn doctor [APP_DIR]`: is every tool the build and `check` need here, and which version.

Each check is independent (one missing piece does not hide the others) and prints either
what it found or what is missing and the command that fixes it. Firefox and WebKit are needed
only for `wbspawn check --browser firefox|webkit|all` (and this repo's `make test`), wasm-opt
only for `wbspawn build`'s optimizer: a missing one is reported with its fix but does not fail
the doctor. What wbspawn builds for the machine itself (std for wasm, the stack-check pass)
is shown with where it is and its size, or as what the first build will make.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wbspawn import assets
from wbspawn.build import binaryen, flags, rusttool, stackcheck, stdpatch, sysroot, toolchain
from wbspawn.build.bindgen import locked_wasm_bindgen_version
from wbspawn.build.cargo import manifest_patch_args, read_crate_info, wasm_bindgen_requirement
from wbspawn.build.toolchain import DEBIAN_PACKAGES, SETUP_HINT, Toolchain
from wbspawn.check import engines
from wbspawn.config import default_cache_dir
from wbspawn.errors import WbspawnError
from wbspawn.terminal import Terminal


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # Missing and not required: said, with its fix, but the doctor still passes.
    required: bool = True


def _version(args: list[str], env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=30, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WbspawnError(f"`{' '.join(args)}` failed: {exc}") from exc
    if proc.returncode != 0:
        raise WbspawnError(f"`{' '.join(args)}` failed: {proc.stderr.strip()[:200]}")
    return proc.stdout.strip()


def check_compiler() -> tuple[Finding, Toolchain | None]:
    try:
        tc = toolchain.discover()
    except WbspawnError as exc:
        return Finding(
            "compiler", False, "no toolchain that can build wasm threads", str(exc)
        ), None
    env = tc.subprocess_env()
    try:
        rustc = _version([str(tc.rustc), "--version"], env)
        cargo = _version([str(tc.cargo), "--version"], env)
    except WbspawnError as exc:
        return Finding("compiler", False, str(exc), f"reinstall the toolchain: {SETUP_HINT}"), tc
    kinds = {
        "debian": "Debian's rustc-web",
        "rustup-nightly": "rustup nightly",
        "env": "WBSPAWN_CARGO/WBSPAWN_RUSTC",
    }
    detail = f"{rustc}, {cargo} ({kinds[tc.kind]}: {tc.rustc})"
    return Finding("compiler", True, detail), tc


def _sysroot(tc: Toolchain) -> Path:
    return Path(_version([str(tc.rustc), "--print", "sysroot"], tc.subprocess_env()))


def _std_fix(tc: Toolchain) -> str:
    if tc.kind == "rustup-nightly":
        return "run `rustup component add rust-src --toolchain nightly`"
    return f"run `apt-get install rust-web-src` or {SETUP_HINT}"


def check_std_sources(tc: Toolchain | None) -> Finding:
    if tc is None:
        return Finding("std sources", False, "no compiler to look for them with", SETUP_HINT)
    try:
        library = _sysroot(tc) / "lib" / "rustlib" / "src" / "rust" / "library"
    except WbspawnError as exc:
        return Finding("std sources", False, str(exc), _std_fix(tc))
    if not library.is_dir():
        # -Zbuild-std recompiles std with atomics: it needs the sources.
        return Finding("std sources", False, f"{library} is missing", _std_fix(tc))
    return Finding("std sources", True, str(library))


def check_linker(tc: Toolchain | None) -> Finding:
    fix = f"run `apt-get install lld-22` or {SETUP_HINT}"
    if tc is None:
        return Finding("wasm linker", False, "no compiler to look for it with", fix)
    candidates: list[Path] = []
    with contextlib.suppress(WbspawnError):
        candidates += sorted((_sysroot(tc) / "lib" / "rustlib").glob("*/bin/rust-lld"))
    if found := shutil.which("rust-lld", path=tc.path or None):
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return Finding("wasm linker", True, str(candidate))
    return Finding("wasm linker", False, "rust-lld not found", fix)


def check_wasm_bindgen(tc: Toolchain | None, app_dir: Path | None) -> Finding:
    required: str | None = None
    note = ""
    if app_dir is not None and tc is not None:
        try:
            crate = read_crate_info(app_dir, tc, tc.subprocess_env())
        except WbspawnError as exc:
            note = f" (cannot read the app's Cargo.toml: {exc})"
        else:
            if crate.lockfile.is_file():
                try:
                    required = locked_wasm_bindgen_version(crate.lockfile, crate.name)
                except WbspawnError as exc:
                    note = f" (cannot read the app's Cargo.lock: {exc})"
            else:
                # Before the first build there is no lockfile: the manifest's exact pin
                # (`wbspawn new` writes one) says what the build will lock, if it pins.
                required = wasm_bindgen_requirement(app_dir / "Cargo.toml")
                note = (
                    " the app's Cargo.toml pins (no Cargo.lock yet: the first build locks it)"
                    if required
                    else "; the app has no Cargo.lock yet: its first build locks a "
                    "wasm-bindgen version, which this CLI must equal"
                )
    pin = f" --version ={required}" if required else ""
    fix = f"run `cargo install wasm-bindgen-cli{pin} --locked`"
    try:
        path = toolchain.find_wasm_bindgen(version=required)
        found = toolchain.wasm_bindgen_version(path)
    except WbspawnError as exc:
        return Finding("wasm-bindgen", False, str(exc).split(":")[0] + note, fix)
    if required is not None and found != required:
        return Finding(
            "wasm-bindgen",
            False,
            f"{found} ({path}) but {app_dir}'s Cargo.lock has wasm-bindgen {required}",
            fix,
        )
    matches = (
        ", matches the version" if required and note else ", matches Cargo.lock" if required else ""
    )
    return Finding("wasm-bindgen", True, f"{found} ({path}){matches}{note}")


def check_cargo_test(app_dir: Path) -> Finding:
    """Whether a plain `cargo test` of the app runs its tests in a browser: `.cargo/config.toml`
    sets `wbspawn test-runner` as the wasm target's runner, and a wbspawn dependency by
    version comes from this package's crate (as `wbspawn new` writes both)."""
    config = app_dir / ".cargo" / "config.toml"
    fix = (
        f'in {config}: `[target.wasm32-unknown-unknown] runner = "wbspawn test-runner"`, '
        f'and `[patch.crates-io] wbspawn = {{ path = "{assets.runtime_rs_dir()}" }}` if '
        "the crate depends on wbspawn by version; `wbspawn test` works without either"
    )
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Finding("cargo test", False, f"not set up: no {config}", fix, required=False)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Finding("cargo test", False, f"cannot read {config} ({exc})", fix, required=False)
    runner = data.get("target", {}).get(flags.TARGET, {}).get("runner")
    words = runner if isinstance(runner, list) else str(runner or "").split()
    if "test-runner" not in words:
        return Finding(
            "cargo test", False, f"{config} sets no wbspawn test-runner", fix, required=False
        )
    patched = data.get("patch", {}).get("crates-io", {}).get("wbspawn", {})
    path = patched.get("path") if isinstance(patched, dict) else None
    if manifest_patch_args(app_dir) and (
        path is None or Path(path).resolve() != assets.runtime_rs_dir().resolve()
    ):
        where = f"points at {path}" if path else "has no [patch.crates-io] wbspawn"
        return Finding(
            "cargo test",
            False,
            f"{config} {where}, not this wbspawn's crate",
            fix,
            required=False,
        )
    return Finding(
        "cargo test",
        True,
        f'runs in a browser (`eval "$(wbspawn env {app_dir})"; cargo test`, {config})',
    )


def check_std_threads(tc: Toolchain | None, cache_dir: Path | None = None) -> Finding:
    fix = (
        "use a compiler whose std wbspawn has a patch for: Debian's rustc-web 1.96 "
        f"({SETUP_HINT}); see docs/std-threads.md"
    )
    if tc is None:
        return Finding("std threads", False, "no compiler to check", fix)
    try:
        threads = stdpatch.prepare(tc, default_cache_dir() if cache_dir is None else cache_dir)
    except WbspawnError as exc:
        return Finding("std threads", False, str(exc), fix)
    if not threads.enabled:
        return Finding("std threads", False, threads.describe(), fix)
    return Finding("std threads", True, threads.describe().removeprefix("std threads: "))


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def check_built_std(cache_dir: Path | None = None) -> Finding:
    """std for wasm, built once per machine (build/sysroot.py): which, where, how big."""
    cache = default_cache_dir() if cache_dir is None else cache_dir
    built = sysroot.cached(cache)
    if not built:
        return Finding(
            "std for wasm",
            True,
            f"not built yet: the first build compiles it into {sysroot.sysroots_dir(cache)} "
            "(about a minute on 2 cores; once per compiler, std patch and panic mode)",
        )
    each = ", ".join(
        f"rustc {s.about.get('rustc', '?')} {s.about.get('panic', '?')} "
        f"{s.about.get('profile', '?')} ({_mib(s.size_bytes)})"
        for s in built
    )
    total = _mib(sum(s.size_bytes for s in built))
    return Finding(
        "std for wasm",
        True,
        f"built: {each}, {total} in {sysroot.sysroots_dir(cache)}; `wbspawn clean` removes it",
    )


def check_stack_checks(tc: Toolchain | None, cache_dir: Path | None = None) -> Finding:
    """The stack-check pass: built, or built by the first build."""
    cache = default_cache_dir() if cache_dir is None else cache_dir
    fix = f"a host toolchain builds it: {SETUP_HINT}"
    if tc is None:
        return Finding("stack checks", False, "no compiler to build the pass with", fix)
    built = sorted(rusttool.tools_dir(cache).glob(f"{stackcheck.TOOL_BINARY}-*"))
    if built:
        return Finding("stack checks", True, f"wbspawn's pass ({built[-1]})")
    return Finding(
        "stack checks",
        True,
        f"wbspawn's pass, built with cargo by the first build into {rusttool.tools_dir(cache)} "
        "(about 20 s)",
    )


def check_wasm_opt() -> Finding:
    """binaryen's wasm-opt: `wbspawn build`'s optimizer, nothing else."""
    try:
        found = binaryen.find()
    except WbspawnError as exc:
        return Finding("wasm-opt", False, str(exc), binaryen.INSTALL_HINT, required=False)
    if found.path is None:
        detail = f"{found.reason.split(':')[0]} (needed for `wbspawn build`'s optimizer)"
        return Finding("wasm-opt", False, detail, binaryen.INSTALL_HINT, required=False)
    return Finding("wasm-opt", True, f"binaryen {found.version} ({found.path}): release builds")


def check_browser(name: str) -> Finding:
    """One engine: its version and where it is. Chromium runs `wbspawn check` by default;
    the others only with --browser."""
    engine = engines.engine(name)
    required = engine.name == "chromium"
    try:
        path = engine.find()
        version = engine.version(path)
    except WbspawnError as exc:
        detail = str(exc).split(":")[0]
        if not required:
            detail += f" (needed for `wbspawn check --browser {engine.name}`)"
        return Finding(engine.name, False, detail, engine.install_hint, required=required)
    return Finding(engine.name, True, f"{version} ({path})", required=required)


def check_playwright() -> Finding:
    if importlib.util.find_spec("playwright") is None:
        return Finding(
            "playwright", False, "the Python package is missing", "run `pip install wbspawn`"
        )
    from importlib.metadata import version

    return Finding("playwright", True, f"{version('playwright')} (drives Chromium)")


def diagnose(app_dir: Path | None = None) -> list[Finding]:
    compiler, tc = check_compiler()
    return [
        compiler,
        check_std_sources(tc),
        check_linker(tc),
        check_wasm_bindgen(tc, app_dir),
        *([check_cargo_test(app_dir)] if app_dir is not None else []),
        check_std_threads(tc),
        check_built_std(),
        check_stack_checks(tc),
        check_wasm_opt(),
        *(check_browser(name) for name in engines.ENGINES),
        check_playwright(),
    ]


def report(findings: list[Finding], terminal: Terminal, write: Callable[[str], None]) -> int:
    """Prints one line per finding (and its fix); 0 if all are ok, else 1."""
    width = max(len(f.name) for f in findings)
    for finding in findings:
        if finding.ok:
            mark = terminal.paint("ok     ", "green")
        elif finding.required:
            mark = terminal.paint("MISSING", "red", "bold")
        else:
            mark = terminal.paint("absent ", "yellow")
        write(f"  {mark}  {finding.name.ljust(width)}  {finding.detail}")
        if not finding.ok and finding.fix:
            write(f"  {' ' * 7}  {' ' * width}  fix: {finding.fix}")
    missing = [f.name for f in findings if not f.ok and f.required]
    absent = [f.name for f in findings if not f.ok and not f.required]
    browsers = " ".join(engine.packages for engine in engines.ENGINES.values())
    if missing:
        write(
            f"wbspawn doctor: {len(missing)} missing ({', '.join(missing)}); "
            f"on Debian, `make setup` installs them all ({DEBIAN_PACKAGES} {browsers})"
        )
        return 1
    tools = [name for name in absent if name != "cargo test"]
    if tools:
        write(
            "wbspawn doctor: the build and `wbspawn check` have what they need; "
            f"not installed: {', '.join(tools)} (only for `wbspawn check --browser` "
            "and `wbspawn build`'s optimizer)"
        )
        return 0
    if absent:
        write(
            "wbspawn doctor: the build and `wbspawn check` have what they need; a plain "
            "`cargo test` is not set up to run in a browser (`wbspawn test` is)"
        )
        return 0
    write("wbspawn doctor: everything the build and `wbspawn check` need is here")
    return 0
