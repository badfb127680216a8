"""`wbspawn new` (ship/template.py), how its apps get the runtime crate (build/cargo.py's
crates.io patch), and the crate's readiness for crates.io."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from apps import REPO
from wbspawn import assets
from wbspawn.build.cargo import (
    CRATES_IO,
    crate_info_from_metadata,
    manifest_patch_args,
    runtime_patch_args,
)
from wbspawn.build.pipeline import build
from wbspawn.build.toolchain import discover
from wbspawn.config import Config, default_cache_dir
from wbspawn.errors import WbspawnError
from wbspawn.ship.template import crate_name, new_app, runtime_versions


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wbspawn", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )


def test_new_writes_a_complete_app(tmp_path: Path) -> None:
    app = new_app(tmp_path / "my-app")
    assert app.name == "my-app"
    assert app.files == [
        ".cargo/config.toml",
        ".gitignore",
        "Cargo.toml",
        "README.md",
        "favicon.svg",
        "index.html",
        "main.js",
        "src/lib.rs",
        "style.css",
    ]
    root = tmp_path / "my-app"
    for name in app.files:
        assert "{{" not in (root / name).read_text(), name
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    assert manifest["package"]["name"] == "my-app"
    assert manifest["lib"]["crate-type"] == ["cdylib", "rlib"]
    wbspawn_req, bindgen = runtime_versions(assets.runtime_rs_dir())
    assert manifest["dependencies"] == {"wasm-bindgen": f"={bindgen}", "wbspawn": wbspawn_req}
    assert 'start("/pkg/my_app.js")' in (root / "main.js").read_text()
    assert "use wbspawn as _;" in (root / "src" / "lib.rs").read_text()
    assert "std::thread" in (root / "src" / "lib.rs").read_text()
    assert "/target/" in (root / ".gitignore").read_text()
    # cargo's own commands: the tests in a browser, the crate from this package.
    cargo = tomllib.loads((root / ".cargo" / "config.toml").read_text())
    assert cargo["target"]["wasm32-unknown-unknown"]["runner"] == "wbspawn test-runner"
    assert cargo["patch"]["crates-io"]["wbspawn"] == {"path": str(assets.runtime_rs_dir())}
    readme = (root / "README.md").read_text()
    assert "wbspawn serve ." in readme and "wbspawn build ." in readme


def test_new_dom_writes_an_app_that_owns_the_page(tmp_path: Path) -> None:
    app = new_app(tmp_path / "page-app", variant="dom")
    root = app.dir
    # The template's files, the variant's replacing the ones it has.
    assert app.files == new_app(tmp_path / "plain").files
    for name in app.files:
        assert "{{" not in (root / name).read_text(), name
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    assert set(manifest["dependencies"]) == {
        "wasm-bindgen",
        "wasm-bindgen-futures",
        "web-sys",
        "wbspawn",
    }
    assert manifest["package"]["metadata"]["wbspawn"] == {"mode": "main"}
    assert 'start(GLUE, { mode: "main" })' in (root / "main.js").read_text()
    assert 'const GLUE = "/pkg/page_app.js";' in (root / "main.js").read_text()
    lib = (root / "src" / "lib.rs").read_text()
    assert "#[wasm_bindgen(start)]" in lib and ".join_async().await" in lib
    assert "--template dom" in (root / "README.md").read_text()


def test_new_yew_is_the_dom_app_with_yew_rendering_the_page(tmp_path: Path) -> None:
    app = new_app(tmp_path / "yew-app", variant="yew")
    root = app.dir
    assert app.files == new_app(tmp_path / "plain").files
    for name in app.files:
        assert "{{" not in (root / name).read_text(), name
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    assert set(manifest["dependencies"]) == {
        "rayon",
        "wasm-bindgen",
        "wasm-bindgen-futures",
        "web-sys",
        "yew",
        "wbspawn",
    }
    assert manifest["dependencies"]["yew"]["features"] == ["csr"]
    assert manifest["package"]["metadata"]["wbspawn"] == {"mode": "main"}
    # The dom variant's page, under it: started on the main thread.
    dom = new_app(tmp_path / "dom-app", variant="dom").dir
    assert (root / "main.js").read_text() == (dom / "main.js").read_text().replace(
        "dom_app", "yew_app"
    )
    lib = (root / "src" / "lib.rs").read_text()
    assert "yew::Renderer::<App>::with_root" in lib and "into_par_iter()" in lib
    assert ".join_async().await" in lib
    assert "--template yew" in (root / "README.md").read_text()


def test_an_unknown_template_is_an_error_naming_the_ones_there_are(tmp_path: Path) -> None:
    known = "pick one of worker, dom, yew"
    with pytest.raises(WbspawnError, match=f"there is no template 'egui': {known}"):
        new_app(tmp_path / "app", variant="egui")
    assert not (tmp_path / "app").exists()


def test_the_versions_are_the_runtime_crates() -> None:
    assert runtime_versions(REPO / "runtime-rs") == ("0.1", "0.2.129")


def test_the_wasm_bindgen_pin_is_one_version_everywhere() -> None:
    # The crate spells its pin out (the wheel carries it alone); the workspace, Cargo.lock and
    # so the installed CLI (`make setup` reads Cargo.lock) must agree with it.
    _, crate_pin = runtime_versions(REPO / "runtime-rs")
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]
    assert workspace["dependencies"]["wasm-bindgen"] == f"={crate_pin}"
    lock = tomllib.loads((REPO / "Cargo.lock").read_text())
    locked = {p["version"] for p in lock["package"] if p["name"] == "wasm-bindgen"}
    assert locked == {crate_pin}


def test_new_refuses_a_directory_with_files(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "keep.txt").write_text("mine")
    with pytest.raises(WbspawnError, match="already exists and is not empty"):
        new_app(tmp_path / "app")
    assert (tmp_path / "app" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert new_app(tmp_path / "empty").name == "empty"


@pytest.mark.parametrize("name", ["1app", "my app", "app.js", "std", "wbspawn", "test"])
def test_names_cargo_would_refuse(name: str) -> None:
    with pytest.raises(WbspawnError, match="pass --name NAME"):
        crate_name(name, given=False)
    with pytest.raises(WbspawnError, match=r"cannot name a crate|taken"):
        crate_name(name, given=True)


def test_the_cli_says_what_to_do_next(tmp_path: Path) -> None:
    proc = run_cli("new", "hello", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == [
        "  wbspawn serve hello   # develop at http://127.0.0.1:8000",
        "  wbspawn build hello   # release build into hello/dist",
    ]
    again = run_cli("new", "hello", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "wbspawn: error: hello already exists and is not empty: pick a new directory"
    ]
    dom = run_cli("new", "page", "--template", "dom", cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr
    assert "mode" in (tmp_path / "page" / "Cargo.toml").read_text()
    bad = run_cli("new", "9lives", cwd=tmp_path)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "pass --name NAME" in bad.stderr


def metadata_for(dependency: dict[str, object]) -> dict[str, object]:
    return {
        "workspace_root": "/app",
        "packages": [
            {
                "name": "app",
                "id": "app",
                "manifest_path": "/app/Cargo.toml",
                "targets": [{"name": "app", "kind": ["cdylib"], "crate_types": ["cdylib"]}],
                "dependencies": [dependency],
            }
        ],
    }


def test_a_crates_io_dependency_on_wbspawn_is_built_from_the_packaged_crate() -> None:
    registry = crate_info_from_metadata(
        metadata_for({"name": "wbspawn", "source": CRATES_IO}), Path("/app/Cargo.toml")
    )
    assert registry.runtime_from_registry
    args = runtime_patch_args(registry)
    assert args[0] == "--config"
    key, _, value = args[1].partition("=")
    assert key == "patch.crates-io.wbspawn.path"
    assert Path(json.loads(value)) == assets.runtime_rs_dir()
    path = crate_info_from_metadata(
        metadata_for({"name": "wbspawn", "source": None, "path": "/x/runtime-rs"}),
        Path("/app/Cargo.toml"),
    )
    assert not path.runtime_from_registry
    assert runtime_patch_args(path) == []


@pytest.mark.build
def test_a_new_apps_build_says_nothing_about_the_patch(tmp_path: Path) -> None:
    """The crates.io patch is used, and cargo has no warning about it. It had one for every
    build while std was built inside the app's build (-Zbuild-std): the patch also applied
    to std's own crate graph, where wbspawn is not used."""
    app = new_app(tmp_path / "fresh")
    result = build(Config(app_dir=app.dir, cache_dir=default_cache_dir()), discover())
    assert "was not used in the crate graph" not in result.diagnostics
    assert result.crate is not None and result.crate.runtime_from_registry


def test_the_watcher_finds_the_same_from_the_manifest(tmp_path: Path) -> None:
    def manifest(deps: str) -> list[str]:
        (tmp_path / "Cargo.toml").write_text(f"[package]\nname = 'a'\n{deps}")
        return manifest_patch_args(tmp_path)

    assert manifest('[dependencies]\nwbspawn = "0.1"\n')[0] == "--config"
    assert manifest('[dependencies]\nwbspawn = { version = "0.1" }\n')[0] == "--config"
    wasm = '[target.\'cfg(target_arch = "wasm32")\'.dependencies]\nwbspawn = "0.1"\n'
    assert manifest(wasm)[0] == "--config"
    assert manifest('[dependencies]\nwbspawn = { path = "../runtime-rs" }\n') == []
    assert manifest("[dependencies]\nwbspawn.workspace = true\n") == []
    assert manifest("[dependencies]\n") == []


def test_the_crate_manifest_is_complete_for_crates_io() -> None:
    package = tomllib.loads((REPO / "runtime-rs" / "Cargo.toml").read_text())["package"]
    for key in ("description", "license", "repository", "readme", "keywords", "categories"):
        assert package.get(key), key
    # Nothing inherited: the wheel carries runtime-rs/ without the workspace around it.
    assert not any(isinstance(v, dict) and v.get("workspace") for v in package.values())
    assert len(package["keywords"]) <= 5
    for name in ("README.md", "LICENSE-MIT", "LICENSE-APACHE"):
        assert (REPO / "runtime-rs" / name).is_file(), name


@pytest.mark.build
def test_cargo_package_passes(tmp_path: Path) -> None:
    """`cargo package -p wbspawn`: the crate as crates.io would get it builds on its own."""
    toolchain = discover()
    proc = subprocess.run(
        [
            str(toolchain.cargo),
            "package",
            "-p",
            "wbspawn",
            "--allow-dirty",  # other work in the tree must not fail this test
            "--target-dir",
            str(tmp_path / "target"),
        ],
        cwd=REPO,
        env=toolchain.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    crate = tmp_path / "target" / "package" / "wbspawn-0.1.0"
    for name in ("README.md", "LICENSE-MIT", "LICENSE-APACHE", "src/lib.rs", "src/platform.js"):
        assert (crate / name).is_file(), name
    assert not (crate / "std-patches").exists()


@pytest.mark.build
def test_the_wheel_carries_all_a_new_app_needs(tmp_path: Path) -> None:
    """Outside this repository the package's own copies are all there is: the template, the
    runtime's browser half and the crate, whose manifest must load without the workspace."""
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheel_dir)],
        check=True,
        timeout=600,
    )
    (wheel,) = wheel_dir.glob("wbspawn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    script = (
        "import sys; from pathlib import Path; from wbspawn import assets; "
        "from wbspawn.ship.template import new_app; new_app(Path(sys.argv[1])); "
        "print(assets.runtime_rs_dir()); print(assets.runtime_js_dir())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "demo")],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    runtime_rs, runtime_js = (Path(line) for line in proc.stdout.splitlines())
    assert runtime_rs.is_relative_to(site) and runtime_js.is_relative_to(site)
    assert (runtime_js / "bootstrap.js").is_file()
    toolchain = discover()
    path = json.dumps(str(runtime_rs))
    metadata = subprocess.run(
        [
            str(toolchain.cargo),
            "metadata",
            "--format-version",
            "1",
            "--config",
            f"patch.crates-io.wbspawn.path={path}",
        ],
        cwd=tmp_path / "demo",
        env=toolchain.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert metadata.returncode == 0, metadata.stderr
    packages = {p["name"]: p for p in json.loads(metadata.stdout)["packages"]}
    assert Path(packages["wbspawn"]["manifest_path"]) == runtime_rs / "Cargo.toml"
