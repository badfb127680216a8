from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import wbspawn
from apps import copy_app
from conftest import CARGO_TOML, CargoChild, FakeTools, wait_gone
from wbspawn import ansi
from wbspawn.build import flags
from wbspawn.build.cargo import (
    CrateInfo,
    cargo_diagnostics,
    cargo_failure,
    crate_info_from_metadata,
    wasm_artifact,
)
from wbspawn.build.pipeline import (
    BuildResult,
    build,
    cache_key,
    output_dir,
    std_key,
    target_dir,
)
from wbspawn.build.process import (
    BuildJob,
    BuildStopped,
    ProcessHook,
    end_process_group,
    run_captured,
    run_streaming,
)
from wbspawn.build.toolchain import Toolchain, discover
from wbspawn.config import Config
from wbspawn.errors import BuildError, WbspawnError


@pytest.fixture
def toolchain(fake_tools: FakeTools) -> Toolchain:
    return discover()


def key(config: Config) -> str:
    """What names the dirs of `config`'s builds: the std it builds against."""
    return std_key(config, discover())


def cargo_calls(tools: FakeTools) -> list[dict[str, Any]]:
    return [json.loads(line) for line in tools.cargo_log.read_text().splitlines()]


def test_build_runs_cargo_then_wasm_bindgen(
    config: Config, toolchain: Toolchain, fake_tools: FakeTools
) -> None:
    result = build(config, toolchain)

    assert (result.crate_name, result.js_name, result.wasm_name) == (
        "demo",
        "demo.js",
        "demo_bg.wasm",
    )
    assert result.sysroot is not None
    assert result.out_dir == output_dir(config, "demo", result.sysroot.key)
    assert sorted(p.name for p in result.out_dir.iterdir()) == [
        "demo.d.ts",
        "demo.js",
        "demo_bg.wasm",
    ]
    assert result.duration_s >= result.cargo_s + result.bindgen_s

    metadata, std_build, cargo_build = cargo_calls(fake_tools)
    assert metadata["args"] == ["metadata", "--format-version", "1", "--no-deps"]
    assert metadata["cwd"] == str(config.app_dir)
    # std first, once, into the sysroot every app's build uses...
    assert std_build["args"] == flags.sysroot_build_args("abort", release=True)
    assert "-Zbuild-std=std,panic_abort,test" in std_build["args"]
    assert std_build["env"]["RUSTFLAGS"] == flags.RUSTFLAGS + " -C embed-bitcode=yes"
    # ...then the app against it, with nothing of std's to build.
    assert cargo_build["args"] == flags.cargo_build_args(release=False)
    assert not any(arg.startswith("-Zbuild-std") for arg in cargo_build["args"])
    sysroot = result.sysroot.path
    assert sysroot == config.cache_dir / "sysroot" / sysroot.name
    assert cargo_build["env"]["RUSTFLAGS"] == f"{flags.RUSTFLAGS} --sysroot={sysroot}"
    assert cargo_build["env"]["RUSTC_BOOTSTRAP"] == "1"
    assert cargo_build["env"]["RUSTC"] == str(fake_tools.rustc)
    assert cargo_build["env"]["CARGO_TARGET_DIR"] == str(target_dir(config, result.sysroot.key))


def test_cache_dirs_are_keyed_by_app_and_profile(crate_dir: Path, cache_dir: Path) -> None:
    debug = Config(app_dir=crate_dir, cache_dir=cache_dir)
    release = Config(app_dir=crate_dir, cache_dir=cache_dir, release=True)
    copy = Config(app_dir=crate_dir.parent, cache_dir=cache_dir)

    assert cache_key(debug) == "debug"
    assert cache_key(release) == "release"
    # A build against another std (compiler, patch, panic mode: the sysroot) has its own.
    assert cache_key(debug, "0f1e2d3c4b") == "debug-0f1e2d3c4b"
    # Every app shares the target dir (dependencies are built once), but not the output.
    assert cache_key(copy) == cache_key(debug)
    assert target_dir(debug) == cache_dir / "target" / "debug"
    assert target_dir(copy) == target_dir(debug)
    # ...but never its output: that is served, and each server serves its own app.
    assert output_dir(debug, "demo").parent.name.startswith("demo-debug-")
    assert output_dir(debug, "demo").name == "pkg"
    assert output_dir(copy, "demo") != output_dir(debug, "demo")
    assert output_dir(Config(app_dir=crate_dir, cache_dir=cache_dir), "demo") == output_dir(
        debug, "demo"
    )
    assert output_dir(release, "demo") != output_dir(debug, "demo")
    # Outside the app: a watcher on APP_DIR never sees build output.
    assert not target_dir(debug).is_relative_to(crate_dir)
    assert not output_dir(debug, "demo").is_relative_to(crate_dir)


def second_app(crate_dir: Path, tmp_path: Path) -> Path:
    """Another app with the same crate name (`demo`), elsewhere."""
    other = tmp_path / "elsewhere" / "demo"
    shutil.copytree(crate_dir, other)
    return other


def built_by(result: BuildResult) -> str:
    """Whose sources the served .wasm was built from (the fake cargo writes it in)."""
    return (result.out_dir / result.wasm_name).read_bytes().split(b"fake-cargo")[1].decode()


def test_two_apps_with_one_crate_name_keep_their_own_output(
    config: Config, toolchain: Toolchain, tmp_path: Path
) -> None:
    other = Config(app_dir=second_app(config.app_dir, tmp_path), cache_dir=config.cache_dir)
    first = build(config, toolchain)
    second = build(other, toolchain)
    assert first.out_dir != second.out_dir
    assert built_by(first) == str(config.app_dir)  # not replaced by the second app's build
    assert built_by(second) == str(other.app_dir)


def test_a_build_holds_the_shared_target_dir_until_wasm_bindgen_has_read_the_wasm(
    config: Config,
    toolchain: Toolchain,
    fake_tools: FakeTools,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another app with the same crate name builds into the same target dir meanwhile:
    its cargo must not overwrite the .wasm before this build's wasm-bindgen has read it."""
    other = Config(app_dir=second_app(config.app_dir, tmp_path), cache_dir=config.cache_dir)
    gate = tmp_path / "bindgen-gate"
    gate.touch()
    monkeypatch.setenv("FAKE_WASM_BINDGEN_GATE", str(gate))
    results: dict[str, BuildResult] = {}
    threads: list[threading.Thread] = []

    def build_in_thread(which: Config) -> None:
        thread = threading.Thread(
            target=lambda: results.__setitem__(str(which.app_dir), build(which, toolchain)),
            daemon=True,
        )
        thread.start()
        threads.append(thread)

    def cargo_ran_for(app: Path) -> bool:
        return any(
            c["args"][:1] == ["build"] and c["cwd"] == str(app) for c in cargo_calls(fake_tools)
        )

    build_in_thread(config)
    try:
        # The first build is past cargo (its staging dir waits for wasm-bindgen) and held.
        staging = output_dir(config, "demo", key(config)).parent
        deadline = time.monotonic() + 30
        while not (staging.is_dir() and any(staging.iterdir())):
            assert time.monotonic() < deadline, "the first build never reached wasm-bindgen"
            time.sleep(0.02)
        build_in_thread(other)
        deadline = time.monotonic() + 1  # room for the second cargo to run, as it must not
        while not cargo_ran_for(other.app_dir) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # and to write its .wasm, if it ran
        second_cargo_ran_meanwhile = cargo_ran_for(other.app_dir)
    finally:
        gate.unlink()
        for thread in threads:
            thread.join(30)
    assert not second_cargo_ran_meanwhile
    assert built_by(results[str(config.app_dir)]) == str(config.app_dir)
    assert built_by(results[str(other.app_dir)]) == str(other.app_dir)


def test_release_build(crate_dir: Path, cache_dir: Path, fake_tools: FakeTools) -> None:
    config = Config(app_dir=crate_dir, cache_dir=cache_dir, release=True)
    build(config, discover())
    assert "--release" in cargo_calls(fake_tools)[-1]["args"]


def test_unwinding_build(crate_dir: Path, cache_dir: Path, fake_tools: FakeTools) -> None:
    config = Config(app_dir=crate_dir, cache_dir=cache_dir, panic="unwind")
    result = build(config, discover())
    std_build, call = cargo_calls(fake_tools)[-2:]
    assert "-Zbuild-std=std,panic_unwind,test" in std_build["args"]
    assert std_build["env"]["RUSTFLAGS"].startswith(flags.UNWIND_RUSTFLAGS)
    assert result.sysroot is not None
    assert "-unwind-" in result.sysroot.path.name
    assert call["env"]["RUSTFLAGS"] == f"{flags.UNWIND_RUSTFLAGS} --sysroot={result.sysroot.path}"
    assert call["env"]["CARGO_TARGET_DIR"] == str(target_dir(config, result.sysroot.key))


def test_rebuild_replaces_the_output(config: Config, toolchain: Toolchain) -> None:
    first = build(config, toolchain)
    (first.out_dir / "stale.js").write_text("")

    second = build(config, toolchain)

    assert second.out_dir == first.out_dir
    assert not (second.out_dir / "stale.js").exists()
    assert (second.out_dir / "demo.js").is_file()
    assert sorted(p.name for p in second.out_dir.parent.iterdir()) == ["bindgen-last", "pkg"]


def test_missing_cargo_toml(tmp_path: Path, cache_dir: Path, toolchain: Toolchain) -> None:
    config = Config(app_dir=tmp_path, cache_dir=cache_dir)
    with pytest.raises(WbspawnError) as info:
        build(config, toolchain)
    assert str(info.value) == f"no Cargo.toml in {tmp_path}: pass the directory of a Rust crate"


def test_crate_that_is_not_a_cdylib(config: Config, toolchain: Toolchain) -> None:
    manifest = config.app_dir / "Cargo.toml"
    manifest.write_text(CARGO_TOML.replace('crate-type = ["cdylib", "rlib"]', ""))

    with pytest.raises(WbspawnError) as info:
        build(config, toolchain)

    assert not isinstance(info.value, BuildError)
    assert "crate demo does not build a cdylib" in str(info.value)
    assert '`[lib] crate-type = ["cdylib", "rlib"]`' in str(info.value)


def test_wasm_bindgen_version_mismatch(
    config: Config, toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WASM_BINDGEN_VERSION", "0.2.99")
    with pytest.raises(WbspawnError) as info:
        build(config, toolchain)
    message = str(info.value)
    assert "wasm-bindgen CLI 0.2.99" in message
    assert "wasm-bindgen 0.2.100 in Cargo.lock" in message
    assert message.endswith("run `cargo install wasm-bindgen-cli --version =0.2.100 --locked`")


def test_no_wasm_bindgen_in_lockfile(config: Config, toolchain: Toolchain) -> None:
    (config.app_dir / "Cargo.lock").write_text('version = 4\n[[package]]\nname = "demo"\n')
    with pytest.raises(WbspawnError, match="does not depend on wasm-bindgen"):
        build(config, toolchain)


def test_cargo_failure_carries_rustc_diagnostics(
    config: Config, toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CARGO_FAIL", "1")
    with pytest.raises(BuildError) as info:
        build(config, toolchain)
    assert str(info.value) == "cargo build failed for demo (rustc's errors are above)"
    diagnostics = ansi.plain(info.value.diagnostics)
    assert "error[E0425]: cannot find value `x` in this scope" in diagnostics
    assert "--> src/lib.rs:1:1" in diagnostics
    assert "Compiling" not in diagnostics  # cargo's progress lines are not diagnostics
    assert "\x1b[" in info.value.diagnostics  # the colours stay, for terminal and overlay


@pytest.mark.parametrize(
    ("symbol", "version"),
    [("__wbspawn_v2_thread_spawn", "v2"), ("__wbspawn_thread_spawn", "v1")],
)
def test_a_std_whose_runtime_hooks_are_missing_names_their_version(
    symbol: str, version: str
) -> None:
    # A wbspawn crate of another version defines hooks of other names (their signatures
    # changed): the link fails, and the message says which the std calls.
    stderr = f"rust-lld: error: undefined symbol: {symbol}\n>>> referenced by wasm.rs:40\n"
    message = cargo_failure("demo", stderr)
    assert f"runtime hooks this std calls ({version})" in message
    assert "`use wbspawn as _;`" in message
    assert f"must be version {wbspawn.__version__}" in message
    assert "\n" not in message


def test_failed_wasm_bindgen_keeps_the_last_good_output(
    config: Config, toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = build(config, toolchain)
    good_js = (good.out_dir / "demo.js").read_text()
    monkeypatch.setenv("FAKE_WASM_BINDGEN_FAIL", "1")

    with pytest.raises(BuildError) as info:
        build(config, toolchain)

    assert "wasm-bindgen failed" in str(info.value)
    assert "__wasm_init_tls" in info.value.diagnostics
    assert (good.out_dir / "demo.js").read_text() == good_js  # not the half-written one
    assert sorted(p.name for p in good.out_dir.parent.iterdir()) == ["bindgen-last", "pkg"]


def test_encoded_rustflags_cannot_override(
    config: Config, fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGO_ENCODED_RUSTFLAGS", "-Cfoo")
    seen: list[Mapping[str, str]] = []

    def run(
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]:
        seen.append(env)
        return subprocess.run(list(args), cwd=cwd, env=dict(env), capture_output=True, text=True)

    build(config, discover(), run=run)

    assert seen
    assert all("CARGO_ENCODED_RUSTFLAGS" not in env for env in seen)


WORKSPACE_METADATA: dict[str, Any] = {
    "workspace_root": "/ws",
    "packages": [
        {
            "name": "runtime",
            "id": "path+file:///ws/runtime-rs#wbspawn@0.1.0",
            "manifest_path": "/ws/runtime-rs/Cargo.toml",
            "targets": [{"name": "wbspawn", "kind": ["lib"], "crate_types": ["lib"]}],
        },
        {
            "name": "my-demo",
            "id": "path+file:///ws/examples/demo#my-demo@0.1.0",
            "manifest_path": "/ws/examples/demo/Cargo.toml",
            "targets": [
                {"name": "my_demo", "kind": ["cdylib", "rlib"], "crate_types": ["cdylib", "rlib"]},
                {"name": "tool", "kind": ["bin"], "crate_types": ["bin"]},
            ],
        },
    ],
}


def test_workspace_member_is_found_by_manifest() -> None:
    info = crate_info_from_metadata(WORKSPACE_METADATA, Path("/ws/examples/demo/Cargo.toml"))
    assert info == CrateInfo(
        name="my-demo",
        lib_name="my_demo",
        package_id="path+file:///ws/examples/demo#my-demo@0.1.0",
        lockfile=Path("/ws/Cargo.lock"),
    )


def test_virtual_manifest_has_no_package() -> None:
    with pytest.raises(WbspawnError, match="defines no package"):
        crate_info_from_metadata(WORKSPACE_METADATA, Path("/ws/Cargo.toml"))


def test_crate_without_lib_target() -> None:
    with pytest.raises(WbspawnError, match="has no library target"):
        crate_info_from_metadata(
            {
                "workspace_root": "/c",
                "packages": [
                    {
                        "name": "c",
                        "manifest_path": "/c/Cargo.toml",
                        "targets": [{"name": "c", "kind": ["bin"], "crate_types": ["bin"]}],
                    }
                ],
            },
            Path("/c/Cargo.toml"),
        )


def test_wasm_artifact_skips_other_messages() -> None:
    crate = CrateInfo("demo", "demo", "demo-id", Path("/c/Cargo.lock"))
    stdout = "\n".join(
        [
            "not json",
            json.dumps(
                {"reason": "compiler-artifact", "package_id": "std", "filenames": ["x.rlib"]}
            ),
            json.dumps(
                {"reason": "compiler-artifact", "package_id": "other", "filenames": ["o.wasm"]}
            ),
            json.dumps(
                {
                    "reason": "compiler-artifact",
                    "package_id": "demo-id",
                    "filenames": ["/t/libdemo.rlib", "/t/demo.wasm"],
                }
            ),
            json.dumps({"reason": "build-finished", "success": True}),
        ]
    )
    assert wasm_artifact(stdout, crate) == Path("/t/demo.wasm")
    assert wasm_artifact("", crate) is None


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.build
def test_real_build_of_the_demo() -> None:
    # The real toolchain and the default (persistent) cache dir, so reruns are incremental.
    # The first run rebuilds std for atomics: minutes on 2 cores.
    config = Config(app_dir=REPO / "examples" / "demo")
    result = build(config, discover())

    assert (result.out_dir / result.wasm_name).read_bytes()[:4] == b"\0asm"
    glue = (result.out_dir / result.js_name).read_text()
    assert "initSync" in glue  # --target web: what workers call to join the memory
    # wasm-bindgen creates the memory itself when the module imports a shared one.
    assert "shared:true" in glue.replace(" ", "")


@pytest.mark.build
def test_two_apps_of_one_name_each_get_their_own_code_from_the_shared_target_dir(
    tmp_path: Path,
) -> None:
    # A copy of the demo with one more export shares the demo's target dir (same crate
    # name). Cargo names a cdylib's .wasm after the crate alone, so without care the second
    # build of either app found its own crate "fresh" and handed wasm-bindgen the other's.
    original = Config(app_dir=REPO / "examples" / "demo")
    copy = Config(app_dir=copy_app(REPO / "examples" / "demo", tmp_path / "demo"))
    with (copy.app_dir / "src" / "lib.rs").open("a") as source:
        source.write("\n#[wasm_bindgen]\npub fn only_in_the_copy() -> u32 { 7 }\n")

    def exports_it(config: Config) -> bool:
        result = build(config, discover())
        return "only_in_the_copy" in (result.out_dir / result.js_name).read_text()

    assert not exports_it(original)
    assert exports_it(copy)
    assert not exports_it(original)
    assert exports_it(copy)


@pytest.mark.build
def test_a_checkout_with_older_files_gets_its_own_dependency_code(tmp_path: Path) -> None:
    # Two checkouts of one project (a clone, a git worktree) share the target dir of their
    # crate name. Their path dependencies compile to the same artifacts, and cargo judged
    # those fresh by mtime: the checkout whose files were older than the other's last build
    # got the other's runtime code, silently.
    def checkout(name: str, extra: str, age_s: float) -> Config:
        root = tmp_path / name
        root.mkdir()
        for part in ("Cargo.toml", "Cargo.lock"):
            shutil.copy2(REPO / part, root / part)
        for part in ("runtime-rs", "examples", "tests/apps"):
            shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("target"))
        with (root / "runtime-rs" / "src" / "lib.rs").open("a") as source:
            source.write(extra)
        past = time.time() - age_s
        for path in root.rglob("*"):
            os.utime(path, (past, past))
        return Config(app_dir=root / "examples" / "demo")

    marker = "only_in_checkout_b"
    export = (
        f"\n/// A marker.\n#[wasm_bindgen::prelude::wasm_bindgen]\n"
        f"pub fn {marker}() -> u32 {{ 2 }}\n"
    )
    a = checkout("a", "", age_s=0)
    b = checkout("b", export, age_s=86400)

    def exports_marker(config: Config) -> bool:
        result = build(config, discover())
        return marker in (result.out_dir / result.js_name).read_text()

    assert not exports_marker(a)
    assert exports_marker(b)
    assert not exports_marker(a)


def test_cargo_diagnostics_keep_rustcs_words_only() -> None:
    stderr = (
        "\x1b[1m\x1b[92m   Compiling\x1b[0m wbspawn v0.1.0 (/ws/runtime-rs)\n"
        "\x1b[1m\x1b[33mwarning\x1b[0m\x1b[1m: unstable feature specified for "
        "`-Ctarget-feature`: `atomics`\x1b[0m\n"
        "  |\n"
        "  = note: this feature is not stably supported; its behavior can change in the future\n"
        "\n"
        "warning: `wbspawn` (lib) generated 1 warning\n"
        "   Compiling demo v0.1.0 (/ws/demo)\n"
        "warning: unused variable: `x`\n"
        " --> src/lib.rs:2:9\n"
        "\n"
        "warning: `demo` (lib) generated 2 warnings (1 duplicate)\n"
        "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.54s\n"
    )
    assert cargo_diagnostics(stderr) == "warning: unused variable: `x`\n --> src/lib.rs:2:9"
    assert cargo_diagnostics(stderr.split("   Compiling demo")[0]) == ""


def test_cargo_diagnostics_drop_the_unwinding_flags_warning_and_test_tallies() -> None:
    stderr = (
        "warning: unstable feature specified for `-Ctarget-feature`: `exception-handling`\n"
        "  |\n"
        "  = note: this feature is not stably supported; its behavior can change in the future\n"
        "\n"
        'warning: `tc` (test "crash") generated 2 warnings (2 duplicates)\n'
        "warning: `tc` (lib test) generated 2 warnings\n"
    )
    assert cargo_diagnostics(stderr) == ""


def test_run_streaming_hands_out_lines_as_they_come(tmp_path: Path) -> None:
    script = (
        "import sys\nfor i in range(3):\n    print(i, flush=True)\nprint('err', file=sys.stderr)\n"
    )
    seen: list[str] = []
    proc = run_streaming(
        ["python3", "-c", script], tmp_path, {"PATH": "/usr/bin:/bin"}, seen.append
    )
    assert seen == ["0", "1", "2"]
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "0\n1\n2\n", "err\n")


# --- stopping builds: a tool and everything it started ---------------------------------------


def test_tools_run_in_a_process_group_of_their_own(tmp_path: Path) -> None:
    script = "import os; print(os.getpgid(0))"
    started: list[subprocess.Popen[str]] = []
    for run in (run_captured, partial(run_streaming, on_line=lambda _: None)):
        proc = run(
            [sys.executable, "-c", script], tmp_path, dict(os.environ), on_start=started.append
        )
        assert int(proc.stdout) == started[-1].pid != os.getpgid(0)


def gated_cargo_env(config: Config, gate: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FAKE_CARGO_GATE": str(gate),
        "CARGO_TARGET_DIR": str(target_dir(config, key(config))),
    }


@pytest.mark.parametrize("runner", ["run_captured", "run_streaming"])
def test_ctrl_c_ends_the_tool_and_its_children(
    config: Config, fake_tools: FakeTools, cargo_child: CargoChild, tmp_path: Path, runner: str
) -> None:
    """What `wbspawn check` does on Ctrl-C: the tool's own process group never sees the
    terminal's SIGINT, so wbspawn must end all of it (cargo alone would leave rustc)."""
    gate = tmp_path / "gate"
    gate.touch()  # cargo waits, its child sleeping beside it
    args = [str(fake_tools.cargo), "build"]
    on_line = ", lambda line: None" if runner == "run_streaming" else ""
    script = (
        f"import json, pathlib, sys\nfrom wbspawn.build.process import {runner}\n"
        f"{runner}({args!r}, pathlib.Path({str(config.app_dir)!r}), "
        f"json.loads(sys.argv[1]){on_line})\n"
    )
    env = json.dumps(gated_cargo_env(config, gate))
    caller = subprocess.Popen(
        [sys.executable, "-c", script, env], stderr=subprocess.PIPE, text=True
    )
    try:
        pids = cargo_child.pids()
        caller.send_signal(signal.SIGINT)  # to the caller alone, as a terminal's Ctrl-C
        _, stderr = caller.communicate(timeout=30)
    finally:
        caller.kill()
        caller.wait()
    assert "KeyboardInterrupt" in stderr
    assert wait_gone(pids["cargo"])
    assert wait_gone(pids["child"]), "cargo's child was left running"


def test_a_tool_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    started: list[subprocess.Popen[str]] = []
    ready = threading.Event()
    done: list[subprocess.CompletedProcess[str]] = []
    thread = threading.Thread(
        target=lambda: done.append(
            run_streaming(
                [sys.executable, "-c", script],
                tmp_path,
                dict(os.environ),
                lambda line: ready.set(),
                on_start=started.append,
            )
        )
    )
    thread.start()
    assert ready.wait(30)
    begun = time.monotonic()
    end_process_group(started[0], grace_s=0.3)
    thread.join(10)
    assert done[0].returncode == -signal.SIGKILL
    assert 0.3 <= time.monotonic() - begun < 5


def test_a_stopped_build_ends_cargo_and_its_children_and_serves_nothing(
    config: Config,
    toolchain: Toolchain,
    fake_tools: FakeTools,
    cargo_child: CargoChild,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    monkeypatch.setenv("FAKE_CARGO_GATE", str(gate))
    job = BuildJob()
    errors: list[Exception] = []

    def build_and_fail() -> None:
        try:
            build(config, toolchain, job=job)
        except WbspawnError as exc:
            errors.append(exc)

    thread = threading.Thread(target=build_and_fail)
    thread.start()
    pids = cargo_child.pids()
    assert job.stop()
    thread.join(30)
    assert wait_gone(pids["cargo"])
    assert wait_gone(pids["child"]), "cargo's child was left running"
    assert errors  # cargo's exit (or BuildStopped), never a result
    assert not output_dir(config, "demo", key(config)).exists()


def test_a_stopped_job_starts_nothing_and_a_done_one_cannot_be_stopped(
    config: Config, toolchain: Toolchain, fake_tools: FakeTools
) -> None:
    stopped = BuildJob()
    stopped.stop()
    with pytest.raises(BuildStopped):
        build(config, toolchain, job=stopped)
    assert not fake_tools.cargo_log.exists()

    done = BuildJob()
    result = build(config, toolchain, job=done)
    assert not done.stop()
    assert not done.stopped
    assert (result.out_dir / "demo.js").is_file()
