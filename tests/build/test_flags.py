from __future__ import annotations

from wbspawn.build import flags

# Copied from the toolchain notes: a byte of difference recompiles every crate.
EXPECTED_RUSTFLAGS = (
    "-C target-feature=+atomics,+bulk-memory "
    "-C link-arg=--shared-memory -C link-arg=--max-memory=1073741824 -C link-arg=--import-memory "
    "-C link-arg=--export=__heap_base -C link-arg=--export=__wasm_init_tls "
    "-C link-arg=--export=__tls_size -C link-arg=--export=__tls_align "
    "-C link-arg=--export=__tls_base"
)


def test_rustflags_are_byte_stable() -> None:
    assert flags.RUSTFLAGS == EXPECTED_RUSTFLAGS
    assert flags.build_env("x --sysroot=/s") == {"RUSTFLAGS": "x --sysroot=/s"}


def test_target() -> None:
    assert flags.TARGET == "wasm32-unknown-unknown"


def test_debug_build_args() -> None:
    assert flags.cargo_build_args(release=False) == [
        "build",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "-Zchecksum-freshness",
        # No DWARF: wasm-bindgen would drop it.
        "--config",
        "profile.dev.debug=0",
        "--message-format=json-render-diagnostics",
        "--color=always",
    ]


def test_release_build_args() -> None:
    args = flags.cargo_build_args(release=True)
    assert "--release" in args
    assert "profile.dev.debug=0" not in args
    assert args[:5] == flags.cargo_build_args(release=False)[:5]


def test_encoded_rustflags_are_dropped() -> None:
    # Cargo prefers CARGO_ENCODED_RUSTFLAGS over RUSTFLAGS.
    assert "CARGO_ENCODED_RUSTFLAGS" in flags.OVERRIDING_ENV


def test_unwinding_adds_exception_handling_and_the_unwind_runtime() -> None:
    assert flags.rustflags("abort") == EXPECTED_RUSTFLAGS
    assert flags.rustflags("unwind") == (
        EXPECTED_RUSTFLAGS + " -C panic=unwind -C target-feature=+exception-handling"
    )
    args = flags.sysroot_build_args("unwind")
    assert "-Zbuild-std=std,panic_unwind,test" in args
    assert "-Zbuild-std=std,panic_abort,test" in flags.sysroot_build_args("abort")


def test_the_std_is_built_once_for_release_and_apps_build_without_build_std() -> None:
    assert "--release" in flags.sysroot_build_args()
    assert not any(a.startswith("-Zbuild-std") for a in flags.cargo_build_args(release=True))
