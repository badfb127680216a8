"""Finding a Rust toolchain that can build wasm with threads, and the wasm-bindgen CLI.

A thread-capable build needs a compiler that accepts `-Zbuild-std` (nightly, or stable
with RUSTC_BOOTSTRAP=1), the std sources to rebuild (rust-src) and a wasm linker. The
probes take their filesystem root, environment, runner and `which` as arguments so tests
can fake a machine in a temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wbspawn.build.flags import TARGET
from wbspawn.errors import WbspawnError

ToolchainKind = Literal["rustup-nightly", "debian", "env"]

# Runs a command and returns its stdout; raises OSError or CalledProcessError on failure.
Runner = Callable[[Sequence[str]], str]
Which = Callable[[str], str | None]

SETUP_HINT = "`make setup`"
DEBIAN_PACKAGES = "rustc-web cargo-web rust-web-src lld-22"
RUSTUP_INSTALL = f"rustup toolchain install nightly -c rust-src -t {TARGET}"


def run_stdout(args: Sequence[str]) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True).stdout


@dataclass(frozen=True)
class Toolchain:
    kind: ToolchainKind
    cargo: Path
    rustc: Path
    # Added to the environment of every cargo call (RUSTC, RUSTC_BOOTSTRAP, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    # PATH for cargo calls, with the chosen toolchain's bin dir first: rustup's
    # ~/.cargo/bin usually comes first and would mix cargo and rustc versions.
    path: str = ""

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env.update(self.env)
        if self.path:
            env["PATH"] = self.path
        return env


def _path_with_first(bin_dir: Path, environ: Mapping[str, str]) -> str:
    rest = [p for p in environ.get("PATH", "").split(os.pathsep) if p and p != str(bin_dir)]
    return os.pathsep.join([str(bin_dir), *rest])


def discover(
    environ: Mapping[str, str] | None = None,
    *,
    root: Path = Path("/"),
    run: Runner = run_stdout,
    which: Which = shutil.which,
) -> Toolchain:
    """The first complete toolchain of: env override, rustup nightly, Debian's rustc-web."""
    env = os.environ if environ is None else environ
    from_env = env_toolchain(env)
    if from_env is not None:
        return from_env
    nightly = rustup_nightly_toolchain(env, run=run, which=which)
    if nightly is not None:
        return nightly
    return debian_toolchain(env, root=root)


def env_toolchain(environ: Mapping[str, str]) -> Toolchain | None:
    cargo_var, rustc_var = environ.get("WBSPAWN_CARGO"), environ.get("WBSPAWN_RUSTC")
    if not cargo_var and not rustc_var:
        return None
    if not cargo_var or not rustc_var:
        missing = "WBSPAWN_RUSTC" if cargo_var else "WBSPAWN_CARGO"
        raise WbspawnError(
            f"{missing} is not set but its partner is: set both WBSPAWN_CARGO and WBSPAWN_RUSTC"
        )
    cargo, rustc = Path(cargo_var), Path(rustc_var)
    for var, path in (("WBSPAWN_CARGO", cargo), ("WBSPAWN_RUSTC", rustc)):
        if not path.is_file():
            raise WbspawnError(f"{var}={path} does not exist: point it at an executable")
    return Toolchain(
        kind="env",
        cargo=cargo,
        rustc=rustc,
        # Used as-is: whatever it is, build-std must be allowed.
        env={"RUSTC_BOOTSTRAP": "1", "RUSTC": str(rustc)},
        path=_path_with_first(cargo.parent, environ),
    )


def rustup_nightly_toolchain(
    environ: Mapping[str, str], *, run: Runner = run_stdout, which: Which = shutil.which
) -> Toolchain | None:
    """rustup's nightly if it has rust-src and the wasm32 target, else None."""
    rustup = which("rustup")
    if rustup is None:
        return None
    try:
        out = run([rustup, "run", "nightly", "rustc", "--print", "sysroot"])
    except (OSError, subprocess.CalledProcessError):
        return None  # no nightly installed
    sysroot = Path(out.strip())
    if not sysroot_is_complete(sysroot):
        return None
    bin_dir = sysroot / "bin"
    cargo, rustc = bin_dir / "cargo", bin_dir / "rustc"
    if not cargo.is_file() or not rustc.is_file():
        return None
    return Toolchain(
        kind="rustup-nightly",
        cargo=cargo,
        rustc=rustc,
        # The toolchain's own binaries, not the rustup proxies: a rust-toolchain.toml in
        # the app must not switch cargo and rustc under us.
        env={"RUSTC": str(rustc), "RUSTUP_TOOLCHAIN": "nightly"},
        path=_path_with_first(bin_dir, environ),
    )


def sysroot_is_complete(sysroot: Path) -> bool:
    rustlib = sysroot / "lib" / "rustlib"
    return (rustlib / "src" / "rust" / "library").is_dir() and (rustlib / TARGET).is_dir()


def debian_toolchain(environ: Mapping[str, str], *, root: Path = Path("/")) -> Toolchain:
    """Debian's rustc-web (a stable rustc new enough for wasm threads), or a WbspawnError."""
    usr_bin = root / "usr" / "bin"
    cargo, rustc = usr_bin / "cargo", usr_bin / "rustc"
    if not cargo.is_file() or not rustc.is_file():
        raise WbspawnError(
            "no Rust toolchain that can build wasm threads found: run "
            f"`apt-get install {DEBIAN_PACKAGES}` or {SETUP_HINT} "
            f"(or `{RUSTUP_INSTALL}`)"
        )
    library = root / "usr" / "lib" / "rustlib" / "src" / "rust" / "library"
    if not library.is_dir():
        raise WbspawnError(
            f"Rust std sources not found ({library}): "
            f"run `apt-get install rust-web-src` or {SETUP_HINT}"
        )
    rust_lld = usr_bin / "rust-lld"
    if not rust_lld.exists():
        raise WbspawnError(
            f"wasm linker not found ({rust_lld}): run `apt-get install lld-22` or {SETUP_HINT}"
        )
    return Toolchain(
        kind="debian",
        cargo=cargo,
        rustc=rustc,
        # A stable compiler: RUSTC_BOOTSTRAP=1 unlocks -Zbuild-std.
        env={"RUSTC_BOOTSTRAP": "1", "RUSTC": str(rustc)},
        path=_path_with_first(usr_bin, environ),
    )


def find_executable(
    variable: str,
    name: str,
    fallbacks: Sequence[Path],
    environ: Mapping[str, str],
    which: Which,
    *,
    what: str,
    missing: str,
) -> Path:
    """`$variable` if set (it must exist), else `name` on PATH, else the first fallback that
    exists; `missing` is the error when none does."""
    if override := environ.get(variable):
        path = Path(override)
        if not path.is_file():
            raise WbspawnError(f"{variable}={path} does not exist: point it at {what}")
        return path
    if found := which(name):
        return Path(found)
    for fallback in fallbacks:
        if fallback.is_file():
            return fallback
    raise WbspawnError(missing)


def find_wasm_bindgen(
    environ: Mapping[str, str] | None = None,
    *,
    which: Which = shutil.which,
    home: Path | None = None,
    version: str | None = None,
) -> Path:
    """The wasm-bindgen CLI; `version` (from Cargo.lock) only improves the error message."""
    pin = f" --version ={version}" if version else ""
    return find_executable(
        "WBSPAWN_WASM_BINDGEN",
        "wasm-bindgen",
        [(Path.home() if home is None else home) / ".cargo" / "bin" / "wasm-bindgen"],
        os.environ if environ is None else environ,
        which,
        what="the wasm-bindgen CLI",
        missing=f"wasm-bindgen CLI not found: run `cargo install wasm-bindgen-cli{pin} --locked`",
    )


_VERSION_RE = re.compile(r"^wasm-bindgen\s+(\d+\.\d+\.\d+\S*)", re.MULTILINE)


def parse_wasm_bindgen_version(output: str) -> str:
    match = _VERSION_RE.search(output)
    if match is None:
        raise WbspawnError(
            f"cannot read the wasm-bindgen version from {output.strip()!r}: "
            "reinstall it with `cargo install wasm-bindgen-cli --locked`"
        )
    return match.group(1)


def wasm_bindgen_version(path: Path, *, run: Runner = run_stdout) -> str:
    """`0.2.130` from `wasm-bindgen 0.2.130`."""
    try:
        out = run([str(path), "--version"])
    except (OSError, subprocess.CalledProcessError) as exc:
        raise WbspawnError(
            f"{path} --version failed ({exc}): reinstall it with "
            "`cargo install wasm-bindgen-cli --locked`"
        ) from exc
    return parse_wasm_bindgen_version(out)
