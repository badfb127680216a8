"""Compiler flags for wasm with shared memory.

Cargo fingerprints RUSTFLAGS: any byte that differs between two builds recompiles the
whole std (build-std), so these strings are constants and never assembled from options.
"""

from __future__ import annotations

from typing import Final

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

# No precompiled std has atomics, so std is rebuilt with the flags above.
BUILD_STD_ARGS: Final = ("-Zbuild-std=std,panic_abort",)


def cargo_build_args(*, release: bool) -> list[str]:
    """Arguments after `cargo` for the library build."""
    args = ["build", "--lib", "--target", TARGET, *BUILD_STD_ARGS]
    if release:
        args.append("--release")
    # Cargo renders rustc's diagnostics to stderr (kept for the user) and writes only
    # machine-readable artifact messages to stdout (parsed for the .wasm path and progress).
    # Colours always: stderr is a pipe, and the overlay shows them (ansi.py); a terminal that
    # is not a tty gets them stripped. Not part of cargo's fingerprint: no rebuild.
    args += ["--message-format=json-render-diagnostics", "--color=always"]
    return args


def build_env() -> dict[str, str]:
    """Environment for `cargo build`, on top of the toolchain's."""
    return {"RUSTFLAGS": RUSTFLAGS}


# Cargo takes CARGO_ENCODED_RUSTFLAGS over RUSTFLAGS: one left in the user's shell would
# silently drop the shared-memory flags.
OVERRIDING_ENV: Final = ("CARGO_ENCODED_RUSTFLAGS",)
