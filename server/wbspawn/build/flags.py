"""Compiler flags for wasm with shared memory.

Cargo fingerprints RUSTFLAGS: any byte that differs between two builds rebuilds every crate,
so these strings are constants and never assembled from options (the sysroot's path, the one
part that varies, is the same for every build against that std: sysroot.py).
"""

from __future__ import annotations

from typing import Final, Literal

Panic = Literal["abort", "unwind"]
PANIC_VALUES: Final = ("abort", "unwind")

TARGET: Final = "wasm32-unknown-unknown"

# Since rust-lang/rust#147225 (Oct 2025) `+atomics` alone no longer makes the linker
# produce an imported, shared memory: every piece is passed explicitly, as in the
# wasm-bindgen examples. The TLS exports are what wasm-bindgen's threads transform
# needs to give each worker its own stack and thread-locals.
RUSTFLAGS: Final = " ".join(
    (
        "-C target-feature=+atomics,+bulk-memory",
        "-C link-arg=--shared-memory",
        "-C link-arg=--max-memory=1073741824",
        "-C link-arg=--import-memory",
        "-C link-arg=--export=__heap_base",
        "-C link-arg=--export=__wasm_init_tls",
        "-C link-arg=--export=__tls_size",
        "-C link-arg=--export=__tls_align",
        "-C link-arg=--export=__tls_base",
    )
)

# An unwinding build: panics unwind through wasm exception handling (Chromium 95+, Firefox
# 100+, Safari 15.2+), so a panicking thread releases its locks and its worker is reused.
# Not the default: the code is larger and slower, and the browsers that run it fewer.
UNWIND_RUSTFLAGS: Final = RUSTFLAGS + " -C panic=unwind -C target-feature=+exception-handling"

# No precompiled std has atomics, so std is built with the flags above (once, into a sysroot
# every app's build uses: sysroot.py), with the panic runtime that matches the strategy, and
# libtest for `wbspawn test`.
BUILD_STD_CRATES: Final = "std,panic_abort,test"
UNWIND_BUILD_STD_CRATES: Final = "std,panic_unwind,test"

# Cargo judges a path crate fresh by mtimes, and two checkouts of one project (clones, git
# worktrees) share the target dir of their crate name with the same artifact names: the one
# whose files are older than the other's last build would be handed the other's code.
# Content hashes do not lie about which source an artifact came from.
FRESHNESS_ARGS: Final = ("-Zchecksum-freshness",)


def rustflags(panic: Panic = "abort") -> str:
    return UNWIND_RUSTFLAGS if panic == "unwind" else RUSTFLAGS


def build_std_crates(panic: Panic = "abort") -> str:
    return UNWIND_BUILD_STD_CRATES if panic == "unwind" else BUILD_STD_CRATES


# Cargo renders rustc's diagnostics to stderr (kept for the user) and writes only
# machine-readable artifact messages to stdout (parsed for the .wasm path and progress).
# Colours always: stderr is a pipe, and the overlay shows them (ansi.py); a terminal that is
# not a tty gets them stripped. Not part of cargo's fingerprint: no rebuild.
MESSAGE_ARGS: Final = ("--message-format=json-render-diagnostics", "--color=always")


# Debug builds without DWARF: wasm-bindgen drops it (wbspawn never passes --keep-debug), so
# rustc generating it, the linker writing it (three quarters of a debug .wasm) and
# wasm-bindgen reading it past were all lost time on every edit (the demo's Rust edit went
# from about 920 ms to 840 ms to reach the page in `make bench-devloop`). Function names stay:
# they are the linker's name section, not debug info, and the browser's stack traces use them.
DEV_PROFILE_ARGS: Final = ("--config", "profile.dev.debug=0")


def cargo_build_args(*, release: bool) -> list[str]:
    """Arguments after `cargo` for the library build (against a sysroot: `build_env`)."""
    args = ["build", "--lib", "--target", TARGET, *FRESHNESS_ARGS]
    args += ["--release"] if release else DEV_PROFILE_ARGS
    return [*args, *MESSAGE_ARGS]


def sysroot_build_args(panic: Panic = "abort", *, release: bool = True) -> list[str]:
    """Arguments after `cargo` for the build that compiles std into a sysroot."""
    build_std = f"-Zbuild-std={build_std_crates(panic)}"
    args = ["build", "--lib", "--target", TARGET, build_std]
    if release:
        args.append("--release")
    return [*args, *MESSAGE_ARGS]


def build_env(rustflags_with_sysroot: str) -> dict[str, str]:
    """Environment for `cargo build`, on top of the toolchain's."""
    return {"RUSTFLAGS": rustflags_with_sysroot}


# Cargo takes CARGO_ENCODED_RUSTFLAGS over RUSTFLAGS: one left in the user's shell would
# silently drop the shared-memory flags.
OVERRIDING_ENV: Final = ("CARGO_ENCODED_RUSTFLAGS",)
