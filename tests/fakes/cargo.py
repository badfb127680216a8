"""A stand-in for `cargo metadata` and `cargo build` that runs in milliseconds.

Reads the crate's Cargo.toml for the package name and crate types. Knobs (environment):
FAKE_CARGO_FAIL=1 makes `build` fail with a rustc-style error; FAKE_CARGO_LOG=PATH
appends one JSON line per call with the arguments and the build-relevant environment.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
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


def metadata() -> int:
    manifest, name, lib_name, crate_types = crate()
    target = {"name": lib_name, "kind": crate_types, "crate_types": crate_types}
    package = {
        "name": name,
        "version": "0.1.0",
        "id": package_id(manifest, name),
        "manifest_path": str(manifest),
        "targets": [target],
    }
    print(json.dumps({"packages": [package], "workspace_root": str(manifest.parent), "version": 1}))
    return 0


def build(args: list[str]) -> int:
    manifest, name, lib_name, _ = crate()
    print(f"   Compiling {name} v0.1.0 ({manifest.parent})", file=sys.stderr)
    if os.environ.get("FAKE_CARGO_FAIL"):
        print("error[E0425]: cannot find value `x` in this scope", file=sys.stderr)
        print(" --> src/lib.rs:1:1", file=sys.stderr)
        return 101
    profile = "release" if "--release" in args else "debug"
    out = Path(os.environ["CARGO_TARGET_DIR"]) / "wasm32-unknown-unknown" / profile
    out.mkdir(parents=True, exist_ok=True)
    wasm = out / f"{lib_name}.wasm"
    wasm.write_bytes(b"\0asm\x01\0\0\0")
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
            f.write(json.dumps({"args": args, "env": env, "cwd": str(Path.cwd())}) + "\n")
    if args[:1] == ["metadata"]:
        return metadata()
    if args[:1] == ["build"]:
        return build(args)
    print(f"fake cargo: unsupported {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
