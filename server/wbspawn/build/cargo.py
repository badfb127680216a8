"""`cargo metadata` and `cargo build` for the app crate, and what rustc had to say."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wbspawn import __version__, ansi, assets
from wbspawn.build import flags
from wbspawn.build.process import (
    LineSink,
    Runner,
    StreamRunner,
    run_captured,
    run_streaming,
)
from wbspawn.build.toolchain import Toolchain
from wbspawn.config import Config
from wbspawn.errors import BuildError, WbspawnError

CDYLIB_FIX = '[lib] crate-type = ["cdylib", "rlib"]'

# Cargo's own status lines ("   Compiling foo v0.1.0", right-aligned verbs). The dev server
# shows progress from the JSON messages instead; what is left is what rustc has to say.
_CARGO_STATUS = re.compile(
    r"^\s+(Compiling|Checking|Fresh|Finished|Blocking|Running|Updating|Downloading|"
    r"Downloaded|Locking|Adding|Removing|Unpacking|Building|Dirty|Documenting)\s"
)


# rustc says this for every crate built with the shared-memory flags (and, unwinding, the
# exception-handling one): it is about the flags, never about the user's code, and would bury
# their own warnings.
_FLAG_WARNING = re.compile(
    r"^warning: unstable feature specified for `-Ctarget-feature`: `(atomics|exception-handling)`"
)
# Cargo's per-crate tally ("`demo` (lib) generated 1 warning", `(test "threads")`), which
# counts the ones above.
_SUMMARY = re.compile(r"^warning: `[^`]+` \([\w \"-]+\) generated \d+ warnings?")


def cargo_diagnostics(stderr: str) -> str:
    """Cargo's stderr without its progress lines, tallies and the flags' own warning: what
    rustc has to say about the code (colours kept)."""
    kept: list[str] = []
    skipping = False
    for line in stderr.splitlines():
        plain = ansi.plain(line)
        if skipping:
            skipping = bool(plain.strip())  # the warning's block ends at a blank line
            continue
        if _FLAG_WARNING.match(plain):
            skipping = True
        elif not _CARGO_STATUS.match(plain) and not _SUMMARY.match(plain):
            kept.append(line)
    return "\n".join(kept).strip("\n")


@dataclass(frozen=True)
class CrateInfo:
    name: str  # package name, e.g. "my-app"
    lib_name: str  # lib target name, e.g. "my_app": names the .wasm and the .js
    package_id: str
    lockfile: Path
    # The app depends on `wbspawn = "0.x"` from crates.io (as `wbspawn new` writes it), not
    # on a path: cargo gets the crate from wbspawn's own package (`runtime_patch_args`).
    runtime_from_registry: bool = False


CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def runtime_patch_args(crate: CrateInfo | None) -> list[str]:
    """cargo arguments that build a crates.io dependency on wbspawn from the crate source
    this Python package carries, so the Rust half of the runtime always matches the browser
    half that `serve`, `check` and `build` ship. Nothing for a path dependency (an app
    beside a wbspawn checkout), which the user chose on purpose: an unused patch would also
    be written into its Cargo.lock."""
    if crate is None or not crate.runtime_from_registry:
        return []
    return _patch_args()


def _patch_args() -> list[str]:
    path = json.dumps(str(assets.runtime_rs_dir()))  # a TOML string
    return ["--config", f"patch.crates-io.wbspawn.path={path}"]


def manifest_patch_args(app_dir: Path) -> list[str]:
    """`runtime_patch_args` from the app's Cargo.toml alone, without running cargo (for
    the watcher's `cargo metadata`): a `wbspawn` dependency given by version."""
    try:
        data = tomllib.loads((app_dir / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    tables = [data.get("dependencies", {})]
    for target in data.get("target", {}).values():
        if isinstance(target, dict):
            tables.append(target.get("dependencies", {}))
    for table in tables:
        spec = table.get("wbspawn") if isinstance(table, dict) else None
        if isinstance(spec, str) or (
            isinstance(spec, dict) and not {"path", "git", "workspace", "registry"} & set(spec)
        ):
            return _patch_args()
    return []


def wasm_bindgen_requirement(manifest: Path) -> str | None:
    """The wasm-bindgen version `manifest` pins exactly (`"=0.2.129"`, as `wbspawn new`
    writes it), if it does: what its first build will lock."""
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    spec = data.get("dependencies", {}).get("wasm-bindgen")
    if isinstance(spec, dict):
        spec = spec.get("version")
    if isinstance(spec, str) and spec.startswith("="):
        return spec[1:].strip()
    return None


def crate_manifest(app_dir: Path) -> Path:
    """The crate's Cargo.toml; a WbspawnError if `app_dir` has none."""
    manifest = app_dir / "Cargo.toml"
    if not manifest.is_file():
        raise WbspawnError(f"no Cargo.toml in {app_dir}: pass the directory of a Rust crate")
    return manifest


def read_crate_info(
    app_dir: Path, toolchain: Toolchain, env: Mapping[str, str], *, run: Runner = run_captured
) -> CrateInfo:
    manifest = crate_manifest(app_dir)
    metadata = read_metadata(app_dir, toolchain, env, deps=False, run=run)
    return crate_info_from_metadata(metadata, manifest)


def read_metadata(
    app_dir: Path,
    toolchain: Toolchain,
    env: Mapping[str, str],
    *,
    deps: bool,
    run: Runner = run_captured,
    extra_args: Sequence[str] = (),
) -> dict[str, Any]:
    """`cargo metadata` for the crate in app_dir; with `deps`, every package it depends on
    (pass `runtime_patch_args` as `extra_args` then, or cargo looks for wbspawn on
    crates.io)."""
    manifest = app_dir / "Cargo.toml"
    args = [str(toolchain.cargo), "metadata", "--format-version", "1", *extra_args]
    if not deps:
        args.append("--no-deps")
    proc = run(args, app_dir, env)
    if proc.returncode != 0:
        raise BuildError(
            f"`cargo metadata` failed in {app_dir}: fix {manifest} (errors above)",
            proc.stderr,
        )
    try:
        metadata: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise BuildError(f"`cargo metadata` printed invalid JSON ({exc})", proc.stderr) from exc
    return metadata


def crate_info_from_metadata(
    metadata: dict[str, Any], manifest: Path, *, cdylib: bool = True
) -> CrateInfo:
    """The crate of `manifest`. An app must build a cdylib; with `cdylib` false (a crate
    whose tests are built, which links no module of its own) any crate will do."""
    wanted = manifest.resolve()
    package = next(
        (p for p in metadata.get("packages", []) if Path(p["manifest_path"]).resolve() == wanted),
        None,
    )
    if package is None:
        # A virtual workspace manifest has members but no package of its own.
        raise WbspawnError(
            f"{manifest} defines no package: pass the directory of the crate to serve"
        )
    name: str = package["name"]
    lib = next((t for t in package.get("targets", []) if _is_lib_target(t)), None)
    if not cdylib:
        lib = {"name": (lib or {"name": name})["name"], "crate_types": ["cdylib"]}
    if lib is None:
        raise WbspawnError(
            f"crate {name} has no library target: add src/lib.rs and `{CDYLIB_FIX}` to {manifest}"
        )
    if "cdylib" not in lib.get("crate_types", lib.get("kind", [])):
        raise WbspawnError(
            f"crate {name} does not build a cdylib, which wasm needs: "
            f"add `{CDYLIB_FIX}` to {manifest}"
        )
    return CrateInfo(
        name=name,
        lib_name=str(lib["name"]).replace("-", "_"),
        package_id=str(package.get("id", "")),
        lockfile=Path(metadata["workspace_root"]) / "Cargo.lock",
        runtime_from_registry=any(
            dep.get("name") == "wbspawn" and dep.get("source") == CRATES_IO
            for dep in package.get("dependencies", [])
        ),
    )


_LIB_KINDS = frozenset({"lib", "rlib", "cdylib", "dylib", "staticlib"})


def _is_lib_target(target: dict[str, Any]) -> bool:
    return bool(_LIB_KINDS.intersection(target.get("kind", [])))


def cargo_build(
    config: Config,
    toolchain: Toolchain,
    crate: CrateInfo,
    env: Mapping[str, str],
    *,
    run: Runner = run_captured,
    on_line: LineSink | None = None,
    stream: StreamRunner = run_streaming,
    target: Path,
    rustflags: str,
) -> tuple[Path, str]:
    """Build the lib for wasm into the `target` dir, with `rustflags` (the shared-memory
    flags and the sysroot): the .wasm cargo reports, and rustc's warnings."""
    build_env = {
        **env,
        **flags.build_env(rustflags),
        "CARGO_TARGET_DIR": str(target),
    }
    args = [
        str(toolchain.cargo),
        *flags.cargo_build_args(release=config.release),
        *runtime_patch_args(crate),
    ]
    if on_line is None:
        proc = run(args, config.app_dir, build_env)
    else:
        proc = stream(args, config.app_dir, build_env, on_line)
    if proc.returncode != 0:
        raise BuildError(cargo_failure(crate.name, proc.stderr), cargo_diagnostics(proc.stderr))
    wasm = wasm_artifact(proc.stdout, crate)
    if wasm is None:
        raise BuildError(
            f"cargo build of {crate.name} reported no .wasm file: check that the crate "
            f"builds a cdylib (`{CDYLIB_FIX}`)",
            proc.stderr,
        )
    return wasm, cargo_diagnostics(proc.stderr)


# The linker's words when the patched std finds no runtime to call: its hooks are named for
# the version of their signatures (`__wbspawn_v2_thread_spawn`; the first had no number).
_MISSING_RUNTIME = re.compile(r"undefined symbol: __wbspawn_(?:v(\d+)_)?")


def cargo_failure(crate_name: str, stderr: str) -> str:
    """The one line for a failed cargo build."""
    missing = _MISSING_RUNTIME.search(ansi.plain(stderr))
    if missing:
        version = missing.group(1) or "1"
        return (
            f"{crate_name} is built with wbspawn's std, whose threads, clock and output the "
            f"wbspawn crate provides, but links no wbspawn crate with the runtime hooks this "
            f"std calls (v{version}): add wbspawn to [dependencies] and `use wbspawn as _;` to "
            f"src/lib.rs; a wbspawn from a path or git must be version {__version__}, as this "
            "server is"
        )
    return f"cargo build failed for {crate_name} (rustc's errors are above)"


def artifacts(cargo_stdout: str) -> Iterator[dict[str, Any]]:
    """cargo's `compiler-artifact` messages (`--message-format=json...`), in order; its
    other lines (other messages, anything not JSON) skipped."""
    for line in cargo_stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("reason") == "compiler-artifact":
            yield message


def wasm_artifact(cargo_stdout: str, crate: CrateInfo) -> Path | None:
    """The .wasm from cargo's `compiler-artifact` messages for this crate's lib."""
    for message in artifacts(cargo_stdout):
        if crate.package_id and message.get("package_id") not in (crate.package_id, None):
            continue
        for filename in message.get("filenames", []):
            if filename.endswith(".wasm"):
                return Path(filename)
    return None
