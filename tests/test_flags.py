from __future__ import annotations

from wbspawn.build import flags

# Copied from the toolchain notes: a byte of difference recompiles std on every build.
EXPECTED_RUSTFLAGS = (
    "-C target-feature=+atomics,+bulk-memory "
    "-C link-arg=--shared-memory -C link-arg=--max-memory=1073741824 -C link-arg=--import-memory "
    "-C link-arg=--export=__heap_base -C link-arg=--export=__wasm_init_tls "
    "-C link-arg=--export=__tls_size -C link-arg=--export=__tls_align "
    "-C link-arg=--export=__tls_base"
)


def test_rustflags_are_byte_stable() -> None:
    assert flags.RUSTFLAGS == EXPECTED_RUSTFLAGS
    assert flags.build_env() == {"RUSTFLAGS": EXPECTED_RUSTFLAGS}


def test_target() -> None:
    assert flags.TARGET == "wasm32-unknown-unknown"


def test_debug_build_args() -> None:
    assert flags.cargo_build_args(release=False) == [
        "build",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "-Zbuild-std=std,panic_abort",
        "-Zchecksum-freshness",
        "--message-format=json-render-diagnostics",
        "--color=always",
    ]


def test_release_build_args() -> None:
    args = flags.cargo_build_args(release=True)
    assert "--release" in args
    assert args[:6] == flags.cargo_build_args(release=False)[:6]


def test_encoded_rustflags_are_dropped() -> None:
    # Cargo prefers CARGO_ENCODED_RUSTFLAGS over RUSTFLAGS.
    assert "CARGO_ENCODED_RUSTFLAGS" in flags.OVERRIDING_ENV


def test_unwinding_adds_exception_handling_and_the_unwind_runtime() -> None:
    assert flags.rustflags("abort") == EXPECTED_RUSTFLAGS
    assert flags.rustflags("unwind") == (
        EXPECTED_RUSTFLAGS + " -C panic=unwind -C target-feature=+exception-handling"
    )
    assert flags.build_env("unwind") == {"RUSTFLAGS": flags.UNWIND_RUSTFLAGS}
    args = flags.cargo_build_args(release=False, panic="unwind")
    assert "-Zbuild-std=std,panic_unwind" in args
    assert "-Zbuild-std=std,panic_abort" not in args
