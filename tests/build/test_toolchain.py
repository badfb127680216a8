from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from wbspawn.build.toolchain import (
    Runner,
    Toolchain,
    Which,
    discover,
    find_wasm_bindgen,
    parse_wasm_bindgen_version,
    wasm_bindgen_version,
)
from wbspawn.errors import WbspawnError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return path


def make_sysroot(sysroot: Path, *, rust_src: bool = True, wasm_target: bool = True) -> Path:
    touch(sysroot / "bin" / "cargo")
    touch(sysroot / "bin" / "rustc")
    if rust_src:
        (sysroot / "lib" / "rustlib" / "src" / "rust" / "library").mkdir(parents=True)
    if wasm_target:
        (sysroot / "lib" / "rustlib" / "wasm32-unknown-unknown").mkdir(parents=True)
    return sysroot


def make_debian(
    root: Path, *, compiler: bool = True, rust_src: bool = True, lld: bool = True
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if compiler:
        touch(root / "usr" / "bin" / "cargo")
        touch(root / "usr" / "bin" / "rustc")
    if rust_src:
        (root / "usr" / "lib" / "rustlib" / "src" / "rust" / "library").mkdir(parents=True)
    if lld:
        touch(root / "usr" / "bin" / "rust-lld")
    return root


def rustup_reporting(sysroot: Path | None) -> tuple[Which, Runner]:
    """A `which` that finds rustup and a runner whose nightly has `sysroot` (None: absent)."""

    def which(name: str) -> str | None:
        return "/fake/rustup" if name == "rustup" else None

    def run(args: Sequence[str]) -> str:
        assert list(args) == ["/fake/rustup", "run", "nightly", "rustc", "--print", "sysroot"]
        if sysroot is None:
            raise subprocess.CalledProcessError(1, list(args))
        return f"{sysroot}\n"

    return which, run


def no_rustup(name: str) -> str | None:
    return None


def must_not_run(args: Sequence[str]) -> str:
    raise AssertionError(f"unexpected run: {args}")


BASE_ENV = {"PATH": "/home/u/.cargo/bin:/usr/bin:/bin"}


def test_env_override_wins(tmp_path: Path) -> None:
    cargo, rustc = touch(tmp_path / "my" / "cargo"), touch(tmp_path / "my" / "rustc")
    which, run = rustup_reporting(make_sysroot(tmp_path / "nightly"))
    env = {**BASE_ENV, "WBSPAWN_CARGO": str(cargo), "WBSPAWN_RUSTC": str(rustc)}

    tc = discover(env, root=make_debian(tmp_path / "root"), run=run, which=which)

    assert tc.kind == "env"
    assert (tc.cargo, tc.rustc) == (cargo, rustc)
    assert tc.env == {"RUSTC_BOOTSTRAP": "1", "RUSTC": str(rustc)}
    assert tc.path.split(":")[0] == str(cargo.parent)


def test_env_override_needs_both(tmp_path: Path) -> None:
    env = {"WBSPAWN_CARGO": str(touch(tmp_path / "cargo"))}
    with pytest.raises(WbspawnError, match="set both WBSPAWN_CARGO and WBSPAWN_RUSTC"):
        discover(env, root=tmp_path, run=must_not_run, which=no_rustup)


def test_env_override_must_exist(tmp_path: Path) -> None:
    env = {"WBSPAWN_CARGO": str(tmp_path / "nope"), "WBSPAWN_RUSTC": str(touch(tmp_path / "r"))}
    with pytest.raises(WbspawnError, match=r"WBSPAWN_CARGO=.*nope does not exist"):
        discover(env, root=tmp_path, run=must_not_run, which=no_rustup)


def test_complete_rustup_nightly_is_chosen(tmp_path: Path) -> None:
    sysroot = make_sysroot(tmp_path / "nightly")
    which, run = rustup_reporting(sysroot)

    tc = discover(BASE_ENV, root=make_debian(tmp_path / "root"), run=run, which=which)

    assert tc.kind == "rustup-nightly"
    assert tc.cargo == sysroot / "bin" / "cargo"
    assert tc.rustc == sysroot / "bin" / "rustc"
    assert tc.env["RUSTC"] == str(sysroot / "bin" / "rustc")
    assert "RUSTC_BOOTSTRAP" not in tc.env
    assert tc.path.split(":") == [str(sysroot / "bin"), "/home/u/.cargo/bin", "/usr/bin", "/bin"]


@pytest.mark.parametrize(
    "missing", [{"rust_src": False}, {"wasm_target": False}], ids=["no-rust-src", "no-wasm32"]
)
def test_incomplete_nightly_falls_back_to_debian(tmp_path: Path, missing: dict[str, bool]) -> None:
    which, run = rustup_reporting(make_sysroot(tmp_path / "nightly", **missing))
    tc = discover(BASE_ENV, root=make_debian(tmp_path / "root"), run=run, which=which)
    assert tc.kind == "debian"


def test_missing_nightly_falls_back_to_debian(tmp_path: Path) -> None:
    which, run = rustup_reporting(None)
    tc = discover(BASE_ENV, root=make_debian(tmp_path / "root"), run=run, which=which)
    assert tc.kind == "debian"


def test_debian_toolchain(tmp_path: Path) -> None:
    root = make_debian(tmp_path / "root")

    tc = discover(BASE_ENV, root=root, run=must_not_run, which=no_rustup)

    usr_bin = root / "usr" / "bin"
    assert tc == Toolchain(
        kind="debian",
        cargo=usr_bin / "cargo",
        rustc=usr_bin / "rustc",
        env={"RUSTC_BOOTSTRAP": "1", "RUSTC": str(usr_bin / "rustc")},
        path=f"{usr_bin}:/home/u/.cargo/bin:/usr/bin:/bin",
    )


def test_no_compiler_at_all(tmp_path: Path) -> None:
    root = make_debian(tmp_path / "root", compiler=False)
    with pytest.raises(WbspawnError) as info:
        discover(BASE_ENV, root=root, run=must_not_run, which=no_rustup)
    message = str(info.value)
    assert "apt-get install rustc-web cargo-web rust-web-src lld-22" in message
    assert "make setup" in message
    assert "rustup toolchain install nightly -c rust-src -t wasm32-unknown-unknown" in message


def test_missing_std_sources(tmp_path: Path) -> None:
    root = make_debian(tmp_path / "root", rust_src=False)
    library = root / "usr" / "lib" / "rustlib" / "src" / "rust" / "library"
    with pytest.raises(WbspawnError) as info:
        discover(BASE_ENV, root=root, run=must_not_run, which=no_rustup)
    assert str(info.value) == (
        f"Rust std sources not found ({library}): "
        "run `apt-get install rust-web-src` or `make setup`"
    )


def test_missing_linker(tmp_path: Path) -> None:
    root = make_debian(tmp_path / "root", lld=False)
    with pytest.raises(WbspawnError, match=r"rust-lld\).*apt-get install lld-22"):
        discover(BASE_ENV, root=root, run=must_not_run, which=no_rustup)


def test_subprocess_env_puts_toolchain_first() -> None:
    tc = Toolchain("debian", Path("/usr/bin/cargo"), Path("/usr/bin/rustc"), {"A": "1"}, "/x:/y")
    env = tc.subprocess_env({"PATH": "/old", "HOME": "/h", "A": "0"})
    assert env == {"PATH": "/x:/y", "HOME": "/h", "A": "1"}


def test_wasm_bindgen_from_env(tmp_path: Path) -> None:
    tool = touch(tmp_path / "wb")
    env = {"WBSPAWN_WASM_BINDGEN": str(tool)}
    assert find_wasm_bindgen(env, which=lambda _: "/elsewhere", home=tmp_path) == tool


def test_wasm_bindgen_from_path(tmp_path: Path) -> None:
    found = find_wasm_bindgen({}, which=lambda _: "/opt/bin/wasm-bindgen", home=tmp_path)
    assert found == Path("/opt/bin/wasm-bindgen")


def test_wasm_bindgen_from_cargo_home(tmp_path: Path) -> None:
    tool = touch(tmp_path / ".cargo" / "bin" / "wasm-bindgen")
    assert find_wasm_bindgen({}, which=no_rustup, home=tmp_path) == tool


def test_wasm_bindgen_missing_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(WbspawnError) as info:
        find_wasm_bindgen({}, which=no_rustup, home=tmp_path, version="0.2.129")
    assert "cargo install wasm-bindgen-cli --version =0.2.129 --locked" in str(info.value)


def test_wasm_bindgen_version() -> None:
    assert wasm_bindgen_version(Path("wb"), run=lambda _: "wasm-bindgen 0.2.130\n") == "0.2.130"


def test_wasm_bindgen_version_unreadable() -> None:
    with pytest.raises(WbspawnError, match="cannot read the wasm-bindgen version"):
        parse_wasm_bindgen_version("something else")
