"""The dist's files: content-hashed names and rewritten references (ship/hashing.py, site.py),
on small apps made here, with the repo's real runtime scripts and isolation gate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apps import REPO
from wbspawn.errors import WbspawnError
from wbspawn.ship.hashing import Assembled, assemble
from wbspawn.ship.site import Site, resolve_url

GLUE = """import { waitAsync } from './snippets/wbspawn-0123456789abcdef/src/platform.js';
export default async function init(module_or_path) {
    if (module_or_path === undefined) module_or_path = new URL('app_bg.wasm', import.meta.url);
}
"""
PAGE = """<!doctype html><html><head>
<link rel="stylesheet" href="style.css">
<script type="module" src="main.js"></script>
</head><body></body></html>
"""
MAIN = 'import { start, done } from "/_wbspawn/bootstrap.js";\nawait start("/pkg/app.js");\n'


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    write(
        root,
        {
            "Cargo.toml": "[package]\nname = 'app'\n",
            "src/lib.rs": "",
            "index.html": PAGE,
            "main.js": MAIN,
            "style.css": ".a { background: url(img/bg.png) }\n",
            "img/bg.png": b"\x89PNG fake",
            "notes.txt": "not referenced",
            "target/wasm32-unknown-unknown/x.html": "<p>cargo output</p>",
        },
    )
    return root


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    write(
        root,
        {
            "app.js": GLUE,
            "app_bg.wasm": b"\0asm\x01\0\0\0wasm-one",
            "app.d.ts": "export {};",
            "snippets/wbspawn-0123456789abcdef/src/platform.js": "export function waitAsync() {}",
        },
    )
    return root


def site_for(app: Path, pkg: Path) -> Site:
    return Site(
        app_dir=app,
        pkg_dir=pkg,
        runtime_js_dir=REPO / "runtime-js",
        static_dir=REPO / "static",
        ship_dir=REPO / "ship",
    )


def build(app: Path, pkg: Path, mode: str = "worker") -> Assembled:
    return assemble(
        site_for(app, pkg),
        service_worker=b"// the service worker",
        crate="app",
        glue_url="/pkg/app.js",
        wasm_url="/pkg/app_bg.wasm",
        mode=mode,
    )


def text(result: Assembled, url: str) -> str:
    return result.files[result.names[url]].decode()


def test_every_file_but_pages_and_the_service_worker_is_hashed_into_assets(
    app: Path, pkg: Path
) -> None:
    result = build(app, pkg)
    assert result.names["/index.html"] == "index.html"
    assert result.names["/wbspawn-sw.js"] == "wbspawn-sw.js"
    hashed = {u: n for u, n in result.names.items() if u not in ("/index.html", "/wbspawn-sw.js")}
    for url, name in hashed.items():
        stem = Path(url).name.split(".")[0].removesuffix("_bg")
        assert re.fullmatch(rf"assets/{re.escape(stem)}\.[0-9a-f]{{10}}(\.\w+|_bg\.wasm)", name), (
            url,
            name,
        )
    assert {"/main.js", "/style.css", "/img/bg.png", "/pkg/app.js", "/pkg/app_bg.wasm"} <= set(
        hashed
    )
    # The page's runtime import goes through the isolation gate, which re-exports bootstrap.
    assert "/_wbspawn/isolate.js" in hashed and "/_wbspawn/bootstrap.js" in hashed
    # Whatever nothing refers to stays out: notes, type declarations, cargo's output, sources.
    assert not any("notes" in n or n.endswith(".d.ts") or "target" in n for n in result.files)
    assert "src/lib.rs" not in result.files and "Cargo.toml" not in result.files
    assert result.warnings == []


def test_references_are_rewritten_relative_to_the_file_that_holds_them(
    app: Path, pkg: Path
) -> None:
    result = build(app, pkg)
    names = result.names
    page = text(result, "/index.html")
    assert f'href="./{names["/style.css"]}"' in page
    assert f'src="./{names["/main.js"]}"' in page
    main = text(result, "/main.js")
    gate = Path(names["/_wbspawn/isolate.js"]).name
    glue = Path(names["/pkg/app.js"]).name
    assert f'from "./{gate}"' in main
    # A string handed to start() resolves against the module, so any base URL works.
    assert f'start(new URL("./{glue}", import.meta.url).href)' in main
    assert f"url(./{Path(names['/img/bg.png']).name})" in text(result, "/style.css")
    glue_text = text(result, "/pkg/app.js")
    assert (
        f"from './{Path(names['/pkg/snippets/wbspawn-0123456789abcdef/src/platform.js']).name}'"
        in glue_text
    )
    assert f"new URL('./{Path(names['/pkg/app_bg.wasm']).name}', import.meta.url)" in glue_text
    gate_text = text(result, "/_wbspawn/isolate.js")
    assert f'from "./{Path(names["/_wbspawn/bootstrap.js"]).name}"' in gate_text
    # The service worker keeps its name at the root, one level up from the gate.
    assert 'new URL("../wbspawn-sw.js", import.meta.url)' in gate_text


def test_the_runtime_finds_the_wasm_where_it_looks_for_it(app: Path, pkg: Path) -> None:
    # bootstrap.js looks for the wasm at the glue's URL with .js replaced by _bg.wasm.
    result = build(app, pkg)
    glue, wasm = result.names["/pkg/app.js"], result.names["/pkg/app_bg.wasm"]
    assert wasm == glue.removesuffix(".js") + "_bg.wasm"
    assert result.files[wasm] == (pkg / "app_bg.wasm").read_bytes()


def test_a_change_renames_the_file_and_everything_that_leads_to_it(app: Path, pkg: Path) -> None:
    before = build(app, pkg).names
    (pkg / "app_bg.wasm").write_bytes(b"\0asm\x01\0\0\0wasm-two")
    after = build(app, pkg).names
    for url in ("/pkg/app_bg.wasm", "/pkg/app.js", "/main.js"):
        assert before[url] != after[url], url
    for url in ("/style.css", "/img/bg.png", "/_wbspawn/bootstrap.js", "/_wbspawn/isolate.js"):
        assert before[url] == after[url], url
    assert build(app, pkg).names == after  # the same input, the same names


def test_files_that_import_each_other_share_one_hash(app: Path, pkg: Path) -> None:
    write(
        app,
        {
            "main.js": MAIN + 'import { b } from "./a.js";\n',
            "a.js": 'import "./b.js";\nexport const a = 1;\n',
            "b.js": 'import { a } from "./a.js";\nexport const b = a;\n',
        },
    )
    names = build(app, pkg).names
    hash_of = {url: names[url].split(".")[-2] for url in ("/a.js", "/b.js")}
    assert hash_of["/a.js"] == hash_of["/b.js"]


def test_public_files_are_copied_as_they_are(app: Path, pkg: Path) -> None:
    write(app, {"public/robots.txt": "User-agent: *\n", "public/data/input.json": '{"a": 1}'})
    write(app, {"main.js": MAIN + 'fetch("/data/input.json");\n'})
    result = build(app, pkg)
    assert result.files["robots.txt"] == b"User-agent: *\n"
    assert result.files["data/input.json"] == b'{"a": 1}'
    # A reference to a public file keeps its URL: the file keeps it too.
    assert 'fetch("/data/input.json")' in text(result, "/main.js")


def test_the_default_page_starts_the_app_in_the_manifests_mode(app: Path, pkg: Path) -> None:
    (app / "index.html").unlink()
    result = build(app, pkg, mode="main")
    assert json.loads(text(result, "/_wbspawn/app.json"))["mode"] == "main"


def test_the_default_page_when_the_app_has_none(app: Path, pkg: Path) -> None:
    (app / "index.html").unlink()
    result = build(app, pkg)
    assert "index.html" in result.files
    app_json = json.loads(text(result, "/_wbspawn/app.json"))
    assert app_json == {"pkg": "./" + result.names["/pkg/app.js"], "crate": "app", "mode": "worker"}
    default_app = text(result, "/_wbspawn/static/default-app.js")
    json_name = Path(result.names["/_wbspawn/app.json"]).name
    assert f'fetch(new URL("./{json_name}", import.meta.url).href)' in default_app


def test_a_page_without_an_icon_gets_the_default_one(app: Path, pkg: Path) -> None:
    result = build(app, pkg)
    icon = result.names["/_wbspawn/static/favicon.svg"]
    page = text(result, "/index.html")
    assert f'<link rel="icon" href="./{icon}">' in page
    assert page.index('rel="icon"') < page.index("</head>")
    write(app, {"public/favicon.ico": b"ico"})
    assert "/_wbspawn/static/favicon.svg" not in build(app, pkg).names


def test_a_page_without_a_head_end_tag_keeps_its_doctype_first(app: Path, pkg: Path) -> None:
    page = (app / "index.html").read_text().replace("</head>", "")
    assert page.lower().startswith("<!doctype html>")
    (app / "index.html").write_text(page)
    built = text(build(app, pkg), "/index.html")
    assert built.lower().startswith("<!doctype html>")
    assert 'rel="icon"' in built


def test_pages_in_subdirectories(app: Path, pkg: Path) -> None:
    write(
        app,
        {
            "docs/about.html": (
                '<html><head><script type="module" src="../main.js"></script></head></html>'
            )
        },
    )
    result = build(app, pkg)
    assert result.names["/docs/about.html"] == "docs/about.html"
    assert f'src="../{result.names["/main.js"]}"' in text(result, "/docs/about.html")


def test_an_earlier_dist_inside_the_app_is_not_part_of_it(app: Path, pkg: Path) -> None:
    write(app, {"old-dist/index.html": PAGE, "old-dist/.wbspawn-dist.json": "{}"})
    assert "/old-dist/index.html" not in build(app, pkg).names


def test_references_to_missing_files_are_warned_about(app: Path, pkg: Path) -> None:
    write(app, {"index.html": PAGE.replace("</head>", '<img src="missing.png"></head>')})
    warnings = [str(w) for w in build(app, pkg).warnings]
    assert warnings == [
        "/index.html refers to missing.png, which is not part of the app (it will 404)"
    ]


def test_private_files_are_never_reached(app: Path, pkg: Path) -> None:
    write(
        app,
        {".env": "SECRET=1", "main.js": MAIN + 'fetch("./.env.json"); fetch("./target/x.html");\n'},
    )
    result = build(app, pkg)
    assert not any(".env" in name or "target" in name for name in result.files)


def test_a_name_two_files_would_share_is_an_error(app: Path, pkg: Path) -> None:
    write(app, {"public/wbspawn-sw.js": "// mine"})
    with pytest.raises(WbspawnError, match=r"public/wbspawn-sw\.js would take the place"):
        build(app, pkg)


def test_resolve_url() -> None:
    assert resolve_url("./a.js", "/x/main.js") == "/x/a.js"
    assert resolve_url("../a.js", "/x/main.js") == "/a.js"
    assert resolve_url("/pkg/a.js", "/x/main.js") == "/pkg/a.js"
    assert resolve_url("sub/", "/index.html") == "/sub/"
    assert resolve_url("../../a.js", "/main.js") == "/a.js"  # as browsers clamp at the root


def test_kept_paths_may_not_take_reserved_places(app: Path, pkg: Path) -> None:
    write(app, {"public/assets/logo.png": b"png"})
    with pytest.raises(WbspawnError, match=r"public/assets/logo.png would sit among"):
        build(app, pkg)
    (app / "public" / "assets" / "logo.png").unlink()
    write(app, {"assets/page.html": "<html></html>"})
    with pytest.raises(WbspawnError, match=r"assets/page.html would sit among"):
        build(app, pkg)


def test_a_public_dir_that_leads_outside_the_app_is_not_copied(
    app: Path, pkg: Path, tmp_path: Path
) -> None:
    write(tmp_path, {"outside/passwd": "secret"})
    write(app, {".git/config": "secret"})
    for target in (tmp_path / "outside", app / ".git"):
        (app / "public").symlink_to(target, target_is_directory=True)
        result = build(app, pkg)
        assert not any(b"secret" in content for content in result.files.values()), target
        (app / "public").unlink()
