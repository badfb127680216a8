"""A stand-in for `cargo metadata` and `cargo build` that runs in milliseconds.

Reads the crate's Cargo.toml for the package name, crate types and path dependencies.
`build` fails with a coloured rustc-style error when src/lib.rs contains COMPILE_ERROR.
Knobs (environment):

    FAKE_CARGO_FAIL=1       `build` always fails that way
    FAKE_CARGO_LOG=PATH     appends one JSON line per call: arguments, environment, cwd
    FAKE_CARGO_GATE=PATH    `build` waits while PATH exists (to hold a build mid-way)
    FAKE_CARGO_RUNNING=PATH exists while a build runs; a second build meanwhile fails
    FAKE_CARGO_CHILD=PATH   `build` starts a child process that sleeps (as cargo starts rustc)
                            and writes {"cargo": pid, "child": pid} to PATH

The .wasm it writes carries the crate's directory (in a custom section), so a test can
tell whose build it is. SIGTERM ends it the way it ends cargo, cleaning up on the way.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

LOGGED_ENV = ("RUSTFLAGS", "RUSTC", "RUSTC_BOOTSTRAP", "CARGO_TARGET_DIR", "PATH")


def crate() -> tuple[Path, str, str, list[str]]:
    manifest = Path.cwd() / "Cargo.toml"
    data = tomllib.loads(manifest.read_text())
    name = data["package"]["name"]
    lib = data.get("lib", {})
    return manifest, name, lib.get("name", name.replace("-", "_")), lib.get("crate-type", ["lib"])


def package_id(manifest: Path, name: str) -> str:
    return f"path+file://{manifest.parent}#{name}@0.1.0"


def path_dependencies(manifest: Path) -> list[dict[str, object]]:
    data = tomllib.loads(manifest.read_text())
    packages: list[dict[str, object]] = []
    for dep_name, spec in data.get("dependencies", {}).items():
        if isinstance(spec, dict) and "path" in spec:
            dep_manifest = (manifest.parent / spec["path"]).resolve() / "Cargo.toml"
            packages.append(
                {
                    "name": dep_name,
                    "version": "0.1.0",
                    "id": package_id(dep_manifest, dep_name),
                    "manifest_path": str(dep_manifest),
                    "source": None,
                    "targets": [{"name": dep_name, "kind": ["lib"], "crate_types": ["lib"]}],
                }
            )
    return packages


def metadata(args: list[str]) -> int:
    manifest, name, lib_name, crate_types = crate()
    target = {"name": lib_name, "kind": crate_types, "crate_types": crate_types}
    package: dict[str, object] = {
        "name": name,
        "version": "0.1.0",
        "id": package_id(manifest, name),
        "manifest_path": str(manifest),
        "source": None,
        "targets": [target],
    }
    packages = [package]
    if "--no-deps" not in args:
        packages += path_dependencies(manifest)
    result = {
        "packages": packages,
        "workspace_root": str(manifest.parent),
        "target_directory": str(manifest.parent / "target"),
        "version": 1,
    }
    print(json.dumps(result))
    return 0


def compile_error(manifest: Path) -> bool:
    if os.environ.get("FAKE_CARGO_FAIL"):
        return True
    lib = manifest.parent / "src" / "lib.rs"
    return lib.is_file() and "COMPILE_ERROR" in lib.read_text()


@contextlib.contextmanager
def one_build_at_a_time() -> Iterator[None]:
    marker = os.environ.get("FAKE_CARGO_RUNNING")
    if not marker:
        yield
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        print("fake cargo: two builds at once", file=sys.stderr)
        raise SystemExit(3) from None
    try:
        yield
    finally:
        os.close(fd)
        Path(marker).unlink()


def start_child() -> None:
    marker = os.environ.get("FAKE_CARGO_CHILD")
    if not marker:
        return
    # Its own stdio, like rustc's (cargo reads those): only its process group ties it to us.
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    Path(marker).write_text(json.dumps({"cargo": os.getpid(), "child": child.pid}))


def build(args: list[str]) -> int:
    # Default SIGTERM handling would skip the `finally` that removes FAKE_CARGO_RUNNING.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with one_build_at_a_time():
        start_child()
        gate = os.environ.get("FAKE_CARGO_GATE")
        while gate and Path(gate).exists():
            time.sleep(0.02)
        return build_now(args)


def wasm_module(owner: str) -> bytes:
    """An empty wasm module with one custom section, "fake-cargo", holding `owner`."""
    name, data = b"fake-cargo", owner.encode()
    content = bytes([len(name)]) + name + data
    size = len(content)
    leb = bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        leb.append(byte | (0x80 if size else 0))
        if not size:
            break
    return b"\0asm\x01\0\0\0" + b"\x00" + bytes(leb) + content


def build_std(args: list[str]) -> int:
    """A `-Zbuild-std` build (the sysroot's): an rlib for each crate asked for."""
    crates = next(a for a in args if a.startswith("-Zbuild-std=")).split("=", 1)[1]
    profile = "release" if "--release" in args else "debug"
    deps = Path(os.environ["CARGO_TARGET_DIR"]) / "wasm32-unknown-unknown" / profile / "deps"
    deps.mkdir(parents=True, exist_ok=True)
    for name in [*crates.split(","), "core", "alloc", "wbspawn_sysroot"]:
        print(f"   Compiling {name} v0.0.0", file=sys.stderr)
        (deps / f"lib{name}-0000.rlib").write_bytes(b"!<arch>\n")
        print(json.dumps({"reason": "compiler-artifact", "target": {"name": name}}))
    return 0


def write_lockfile(manifest: Path, name: str) -> None:
    """As cargo's first build of a crate without one: wasm-bindgen locked at the version the
    manifest pins (`"=0.2.129"`, as `wbspawn new` writes it)."""
    lock = manifest.parent / "Cargo.lock"
    if lock.exists():
        return
    spec = tomllib.loads(manifest.read_text()).get("dependencies", {}).get("wasm-bindgen")
    if not isinstance(spec, str):
        return
    lock.write_text(
        f'version = 4\n\n[[package]]\nname = "{name}"\nversion = "0.1.0"\n'
        'dependencies = ["wasm-bindgen"]\n\n[[package]]\nname = "wasm-bindgen"\n'
        f'version = "{spec.lstrip("=")}"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
    )


def build_now(args: list[str]) -> int:
    if any(a.startswith("-Zbuild-std=") for a in args):
        return build_std(args)
    manifest, name, lib_name, _ = crate()
    print(f"   Compiling {name} v0.1.0 ({manifest.parent})", file=sys.stderr)
    if compile_error(manifest):
        print(
            "\x1b[1m\x1b[91merror[E0425]\x1b[0m\x1b[1m: cannot find value `x` in this scope\x1b[0m",
            file=sys.stderr,
        )
        print("\x1b[1m\x1b[94m --> \x1b[0msrc/lib.rs:1:1", file=sys.stderr)
        return 101
    write_lockfile(manifest, name)
    profile = "release" if "--release" in args else "debug"
    out = Path(os.environ["CARGO_TARGET_DIR"]) / "wasm32-unknown-unknown" / profile
    out.mkdir(parents=True, exist_ok=True)
    # Path dependencies (the runtime, for `wbspawn test`'s seed crate) as rlibs.
    (out / "deps").mkdir(exist_ok=True)
    for dependency in path_dependencies(manifest):
        rlib = out / "deps" / f"lib{dependency['name']}-0000.rlib"
        rlib.write_bytes(b"!<arch>\n")
        target = {"name": dependency["name"]}
        print(
            json.dumps({"reason": "compiler-artifact", "target": target, "filenames": [str(rlib)]})
        )
    wasm = out / f"{lib_name}.wasm"
    wasm.write_bytes(wasm_module(str(manifest.parent)))
    artifact = {
        "reason": "compiler-artifact",
        "package_id": package_id(manifest, name),
        "target": {"name": lib_name},
        "filenames": [str(out / f"lib{lib_name}.rlib"), str(wasm)],
        "fresh": False,
    }
    print(json.dumps(artifact))
    print(json.dumps({"reason": "build-finished", "success": True}))
    return 0


def main() -> int:
    args = sys.argv[1:]
    if log := os.environ.get("FAKE_CARGO_LOG"):
        env = {k: os.environ[k] for k in LOGGED_ENV if k in os.environ}
        with Path(log).open("a") as f:
            call = {"args": args, "env": env, "cwd": str(Path.cwd()), "pid": os.getpid()}
            f.write(json.dumps(call) + "\n")
    if args == ["--version"]:
        print("cargo 1.96.0 (fake)")
        return 0
    if args[:1] == ["metadata"]:
        return metadata(args)
    if args[:1] == ["build"]:
        return build(args)
    print(f"fake cargo: unsupported {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
