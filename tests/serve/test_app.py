from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message, Scope

from conftest import run_async
from wbspawn.build.pipeline import BuildResult
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.inject import RELOAD_SCRIPT, served_snippet
from wbspawn.serve.reload import Hub

ISOLATION = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
}


def assert_isolated(response: httpx.Response) -> None:
    for name, value in ISOLATION.items():
        assert response.headers.get_list(name) == [value], name
    # Every response is taken as the type it says it is.
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code in (400, 404)
    assert "secret" not in response.text
    assert_isolated(response)


def test_app_json(client: TestClient) -> None:
    response = client.get("/_wbspawn/app.json")
    assert response.status_code == 200
    assert response.json() == {"pkg": "/pkg/demo.js", "crate": "demo", "mode": "worker"}
    assert_isolated(response)


def test_app_json_gives_the_default_page_the_manifests_mode(
    config: Config, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    app = create_app(replace(config, mode="main"), build_output, runtime_js_dir=runtime_js_dir)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/_wbspawn/app.json").json()["mode"] == "main"


def test_wasm_is_served_as_wasm(client: TestClient) -> None:
    response = client.get("/pkg/demo_bg.wasm")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/wasm"
    assert response.content == b"\0asm\x01\0\0\0"
    assert_isolated(response)


@pytest.mark.parametrize(
    ("path", "cache"),
    [
        ("/pkg/demo.js", "no-cache"),
        # The runtime's, after the redirect to their versioned URL.
        ("/_wbspawn/bootstrap.js", "public, max-age=31536000, immutable"),
        ("/_wbspawn/worker.js", "public, max-age=31536000, immutable"),
    ],
)
def test_scripts_are_javascript_and_isolated(client: TestClient, path: str, cache: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == cache
    assert_isolated(response)


def test_mjs_is_javascript(client: TestClient, config: Config) -> None:
    (config.app_dir / "extra.mjs").write_text("export {};\n")
    response = client.get("/extra.mjs")
    assert response.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "name",
    ["src/lib.rs", "Cargo.toml", "Cargo.lock", "types.d.ts", "app.ts", "README.md", "LICENSE"],
)
def test_sources_are_plain_text(client: TestClient, config: Config, name: str) -> None:
    """Not whatever the machine's mime.types says (`.rs` as application/rls-services+xml,
    `.ts` as a Qt translation file), nor octet-stream."""
    path = config.app_dir / name
    if not path.exists():
        path.write_text("text\n")
    response = client.get("/" + name)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert_isolated(response)


def test_default_index_when_the_app_has_none(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<pre id="log">' in response.text
    assert "/_wbspawn/static/default-app.js" in response.text
    assert "<script>" not in response.text  # no inline scripts (CSP script-src 'self')
    assert_isolated(response)


def test_default_page_assets(client: TestClient) -> None:
    response = client.get("/_wbspawn/static/default-app.js")
    assert response.status_code == 200
    assert "/_wbspawn/bootstrap.js" in response.text
    assert response.headers["content-type"].startswith("text/javascript")


def test_app_index_when_it_has_one(client: TestClient, config: Config) -> None:
    (config.app_dir / "index.html").write_text("<title>my app</title>")
    (config.app_dir / "style.css").write_text("body {}")
    assert client.get("/").text == "<title>my app</title>"
    assert client.get("/index.html").text == "<title>my app</title>"
    style = client.get("/style.css")
    assert style.headers["content-type"].startswith("text/css")
    assert_isolated(style)


def test_not_modified_is_isolated(client: TestClient) -> None:
    first = client.get("/pkg/demo.js")
    response = client.get("/pkg/demo.js", headers={"If-None-Match": first.headers["etag"]})
    assert response.status_code == 304
    assert_isolated(response)


@pytest.mark.parametrize(
    "path",
    [
        "/missing.js",
        "/pkg/missing.js",
        "/_wbspawn/missing.js",
        "/_wbspawn/static/x.js",
        "/missing.wasm",
        "/pkg/missing_bg.wasm",
        "/missing.css",
        "/styles/missing.css",
        "/missing.mjs",
    ],
)
def test_missing_script_is_a_plain_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert not response.headers["content-type"].startswith("text/html")
    assert "<" not in response.text
    assert_isolated(response)


def test_head_requests(client: TestClient) -> None:
    response = client.head("/pkg/demo_bg.wasm")
    assert response.status_code == 200
    assert response.headers["content-length"] == "8"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file beside, not inside, the app dir."""
    path = tmp_path / "secret.txt"
    path.write_text("secret")
    return path


def test_dotfiles_are_refused(client: TestClient, config: Config) -> None:
    (config.app_dir / ".env").write_text("secret")
    (config.app_dir / ".git").mkdir()
    (config.app_dir / ".git" / "config").write_text("secret")
    for path in ("/.env", "/.git/config", "/%2egit/config"):
        assert_refused(client.get(path))


def test_public_files_are_served_at_the_root(client: TestClient, config: Config) -> None:
    # As `wbspawn build` puts them in a dist (ship/site.py): files fetched by computed URLs.
    public = config.app_dir / "public"
    (public / "data").mkdir(parents=True)
    (public / "data" / "input.json").write_text('{"from": "public"}')
    (public / "robots.txt").write_text("User-agent: *\n")
    (config.app_dir / "robots.txt").write_text("the app's own, shadowed\n")
    assert client.get("/data/input.json").json() == {"from": "public"}
    assert client.get("/robots.txt").text == "User-agent: *\n"
    assert client.get("/public/robots.txt").status_code == 200  # still under its own path
    (public / ".env").write_text("SECRET=1")
    assert client.get("/.env").status_code == 404


def test_target_dir_is_refused(client: TestClient, config: Config) -> None:
    wasm = config.app_dir / "target" / "wasm32-unknown-unknown" / "debug" / "demo.wasm"
    wasm.parent.mkdir(parents=True)
    wasm.write_text("secret")
    assert_refused(client.get("/target/wasm32-unknown-unknown/debug/demo.wasm"))


@pytest.mark.parametrize(
    "path",
    [
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/src/%2e%2e/%2e%2e/secret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "/_wbspawn/%2e%2e/secret.txt",
        "/_wbspawn/static/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt",
    ],
)
def test_traversal_is_refused(client: TestClient, secret: Path, path: str) -> None:
    assert_refused(client.get(path))


def asgi_get(app: ASGIApp, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET with `path` exactly as given: HTTP clients would normalize `..` away."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
    }
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    async def request() -> None:
        await app(scope, receive, send)

    run_async(request())
    start = messages[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], headers, body


@pytest.mark.parametrize("path", ["/../secret.txt", "/pkg/../../secret.txt", "/./secret.txt"])
def test_raw_dot_segments_are_refused(client: TestClient, secret: Path, path: str) -> None:
    status, headers, body = asgi_get(client.app, path)
    assert status in (400, 404)
    assert b"secret" not in body
    assert headers["cross-origin-embedder-policy"] == "require-corp"


def test_symlink_out_of_the_app_is_refused(
    client: TestClient, config: Config, secret: Path
) -> None:
    (config.app_dir / "link.txt").symlink_to(secret)
    (config.app_dir / "linkdir").symlink_to(secret.parent, target_is_directory=True)
    assert_refused(client.get("/link.txt"))
    assert_refused(client.get("/linkdir/secret.txt"))


def test_symlinks_to_private_files_inside_the_app_are_refused(
    client: TestClient, config: Config
) -> None:
    app = config.app_dir
    (app / ".env").write_text("secret")
    (app / ".git").mkdir()
    (app / ".git" / "config").write_text("secret")
    (app / "target" / "debug").mkdir(parents=True)
    (app / "target" / "debug" / "x.wasm").write_text("secret")
    (app / "public.txt").symlink_to(".env")
    (app / "config.txt").symlink_to(app / ".git" / "config")
    (app / "git").symlink_to(".git", target_is_directory=True)
    (app / "build").symlink_to("target", target_is_directory=True)
    for path in ("/public.txt", "/config.txt", "/git/config", "/build/debug/x.wasm"):
        assert_refused(client.get(path))


@pytest.mark.parametrize(
    ("target", "path"),
    [("outside", "/secret.txt"), (".git", "/config"), ("target", "/debug/x.wasm")],
)
def test_a_public_dir_that_leads_to_private_files_is_not_served(
    client: TestClient, config: Config, secret: Path, target: str, path: str
) -> None:
    """public/ is served at the root: a symlink there must not make a web root of what it
    points at (`ln -s /etc public` served /etc/passwd as /passwd)."""
    app = config.app_dir
    (app / ".git").mkdir()
    (app / ".git" / "config").write_text("secret")
    (app / "target" / "debug").mkdir(parents=True)
    (app / "target" / "debug" / "x.wasm").write_text("secret")
    link = secret.parent if target == "outside" else app / target
    (app / "public").symlink_to(link, target_is_directory=True)
    assert_refused(client.get(path))
    assert_refused(client.get("/public" + path))


def test_a_public_dir_that_is_a_symlink_to_web_files_is_served(
    client: TestClient, config: Config
) -> None:
    app = config.app_dir
    (app / "web" / "data").mkdir(parents=True)
    (app / "web" / "data" / "input.json").write_text("{}")
    (app / "public").symlink_to("web", target_is_directory=True)
    assert client.get("/data/input.json").json() == {}


def test_symlinks_to_web_files_inside_the_app_are_served(
    client: TestClient, config: Config
) -> None:
    app = config.app_dir
    (app / "assets").mkdir()
    (app / "assets" / "app.js").write_text("// js")
    (app / "app.js").symlink_to("assets/app.js")
    (app / "static").symlink_to("assets", target_is_directory=True)
    assert client.get("/app.js").text == "// js"
    assert client.get("/static/app.js").text == "// js"


def test_a_file_is_not_a_directory(client: TestClient) -> None:
    """`lib.rs/` would make the page's relative URLs resolve under the file's name."""
    assert client.get("/src/lib.rs").status_code == 200
    assert client.get("/src/lib.rs/").status_code == 404
    assert client.get("/pkg/demo.js/").status_code == 404


def test_a_symlink_loop_is_a_plain_404(client: TestClient, config: Config) -> None:
    """Not a 500 with a traceback in the terminal for each request."""
    app = config.app_dir
    (app / "selfloop").symlink_to("selfloop")
    (app / "ping").symlink_to("pong")
    (app / "pong").symlink_to("ping")
    for path in ("/selfloop", "/selfloop/x.js", "/ping", "/pong/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert_isolated(response)


def test_nested_target_dirs_are_refused(client: TestClient, config: Config) -> None:
    wasm = config.app_dir / "worker" / "target" / "x.wasm"
    wasm.parent.mkdir(parents=True)
    wasm.write_text("secret")
    assert_refused(client.get("/worker/target/x.wasm"))


def test_only_get_and_head(client: TestClient) -> None:
    response = client.post("/pkg/demo.js")
    assert response.status_code == 405
    assert_isolated(response)


def test_default_favicon_when_the_app_has_none(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.text.startswith("<svg")
    assert_isolated(response)


def test_app_favicon_when_it_has_one(client: TestClient, config: Config) -> None:
    (config.app_dir / "favicon.ico").write_bytes(b"\0\0\1\0icon")
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.content == b"\0\0\1\0icon"


# --- dev-server behaviour: caching, headers from the config, the reload client ----------


@pytest.mark.parametrize(
    "path", ["/", "/pkg/demo.js", "/_wbspawn/app.json", "/_wbspawn/static/reload.js"]
)
def test_every_response_revalidates_with_an_etag(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "no-cache"
    assert_isolated(again)


def test_errors_are_not_cached_either(client: TestClient) -> None:
    for response in (client.get("/missing.js"), client.post("/pkg/demo.js")):
        assert response.headers["cache-control"] == "no-cache"


def test_config_headers_and_coep(
    crate_dir: Path, cache_dir: Path, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    config = Config(
        app_dir=crate_dir,
        cache_dir=cache_dir,
        coep="credentialless",
        headers=(("X-Frame-Options", "DENY"),),
    )
    client = TestClient(
        create_app(config, build_output, runtime_js_dir=runtime_js_dir),
        base_url="http://127.0.0.1:8000",
    )
    for response in (client.get("/pkg/demo.js"), client.get("/nope.js")):
        assert response.headers["cross-origin-embedder-policy"] == "credentialless"
        assert response.headers["x-frame-options"] == "DENY"


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def dev_client(
    config: Config, build_output: BuildResult, runtime_js_dir: Path, hub: Hub
) -> TestClient:
    """The app as `wbspawn serve` makes it: with a Hub, so with the reload client."""
    app = create_app(config, build_output, hub=hub, runtime_js_dir=runtime_js_dir)
    return TestClient(app, base_url="http://127.0.0.1:8000")


def test_pages_get_the_reload_client(dev_client: TestClient, config: Config, hub: Hub) -> None:
    tag = served_snippet(hub.served()).decode()
    default = dev_client.get("/")
    assert tag in default.text
    assert default.headers["content-length"] == str(len(default.content))
    (config.app_dir / "index.html").write_text("<html><head></head><body></body></html>")
    (config.app_dir / "other.html").write_text("<p>no head</p>")
    assert dev_client.get("/").text == f"<html><head>{tag}</head><body></body></html>"
    assert dev_client.get("/other.html").text == f"<p>no head</p>{tag}"


def test_a_page_names_the_state_it_was_served_in(
    dev_client: TestClient, config: Config, hub: Hub
) -> None:
    (config.app_dir / "index.html").write_text("<html><head></head><body></body></html>")
    first = dev_client.get("/")
    assert f"reload.js?served={hub.server_id}.0" in first.text
    # Revalidated by the ETag alone: the file did not change, the page did.
    assert "last-modified" not in first.headers
    hub.reload(["index.html"])
    second = dev_client.get("/", headers={"if-none-match": first.headers["etag"]})
    # A new state is a new page: no 304 that would keep the stale tag.
    assert second.status_code == 200
    assert f"reload.js?served={hub.server_id}.1" in second.text
    assert second.headers["etag"] != first.headers["etag"]
    assert dev_client.head("/").headers["content-length"] == str(len(second.content))
    hub.css("/style.css")  # swapped in place: pages stay current
    assert dev_client.get("/").text == second.text


def test_only_pages_get_the_reload_client(dev_client: TestClient, config: Config) -> None:
    (config.app_dir / "page.js").write_text("// </head>")
    for path in ("/page.js", "/pkg/demo.js", "/_wbspawn/app.json", "/missing.html"):
        assert RELOAD_SCRIPT.encode() not in dev_client.get(path).content


def test_a_page_and_a_range_of_its_file_never_share_an_etag(
    dev_client: TestClient, config: Config
) -> None:
    """A cache that took the injected page and raw bytes of the file for one representation
    would splice them together."""
    (config.app_dir / "index.html").write_text("<html><head></head><body>hi</body></html>")
    page = dev_client.get("/index.html")
    part = dev_client.get("/index.html", headers={"range": "bytes=0-9"})
    assert RELOAD_SCRIPT.encode() in page.content
    assert part.status_code == 206
    assert part.content == b"<html><hea"
    assert page.headers["etag"] != part.headers["etag"]
    assert dev_client.head("/index.html").headers["etag"] == page.headers["etag"]
    # The page's own ETag still revalidates it cheaply.
    again = dev_client.get("/index.html", headers={"if-none-match": page.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == page.headers["etag"]
    # A stale page is sent again.
    (config.app_dir / "index.html").write_text("<html><head></head><body>v2</body></html>")
    changed = dev_client.get("/index.html", headers={"if-none-match": page.headers["etag"]})
    assert changed.status_code == 200
    assert "v2" in changed.text


def test_reload_client_assets(dev_client: TestClient) -> None:
    script = dev_client.get("/_wbspawn/static/reload.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/_wbspawn/ws" in script.text
    style = dev_client.get("/_wbspawn/static/overlay.css")
    assert style.headers["content-type"].startswith("text/css")
    assert ".ansi-fg-1" in style.text


def test_without_a_hub_pages_are_served_as_they_are(client: TestClient) -> None:
    assert RELOAD_SCRIPT.encode() not in client.get("/").content


def test_before_the_first_good_build(config: Config, runtime_js_dir: Path) -> None:
    hub = Hub()
    app = create_app(config, lambda: None, hub=hub, runtime_js_dir=runtime_js_dir)
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    meta = client.get("/_wbspawn/app.json")
    assert meta.status_code == 503
    assert meta.json() == {"error": "no successful build yet"}
    assert client.get("/pkg/demo.js").status_code == 404
    assert served_snippet(hub.served()).decode() in client.get("/").text  # shows the errors


def test_pkg_follows_the_current_build(
    config: Config, build_output: BuildResult, runtime_js_dir: Path, tmp_path: Path
) -> None:
    builds = [build_output]
    app = create_app(config, lambda: builds[-1], runtime_js_dir=runtime_js_dir)
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    assert client.get("/pkg/demo.js").status_code == 200
    renamed = tmp_path / "out2" / "pkg"
    renamed.mkdir(parents=True)
    (renamed / "other.js").write_text("// other\n")
    builds.append(BuildResult(renamed, "other.js", "other_bg.wasm", "other", 0.0, 0.0, 0.0))
    assert client.get("/_wbspawn/app.json").json() == {
        "pkg": "/pkg/other.js",
        "crate": "other",
        "mode": "worker",
    }
    assert client.get("/pkg/other.js").text == "// other\n"
    assert client.get("/pkg/demo.js").status_code == 404


def test_the_builds_output_waits_until_it_is_settled(
    config: Config, build_output: BuildResult, runtime_js_dir: Path, tmp_path: Path
) -> None:
    # While a build its pages reloaded early for runs (rebuild.py), /pkg/ and app.json are
    # answered when it ends, with what it made; nothing else waits.
    builds = [build_output]
    renamed = tmp_path / "out2" / "pkg"
    renamed.mkdir(parents=True)
    (renamed / "other.js").write_text("// other\n")

    async def scenario() -> None:
        settled = asyncio.Event()
        app = create_app(
            config,
            lambda: builds[-1],
            hub=Hub(),
            settled=settled.wait,
            runtime_js_dir=runtime_js_dir,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8000"
        ) as client:
            page = await client.get("/")
            assert page.status_code == 200
            glue = asyncio.create_task(client.get("/pkg/other.js"))
            meta = asyncio.create_task(client.get("/_wbspawn/app.json"))
            await asyncio.sleep(0.2)
            assert not glue.done() and not meta.done()
            builds.append(BuildResult(renamed, "other.js", "other_bg.wasm", "other", 0.0, 0.0, 0.0))
            settled.set()
            assert (await glue).text == "// other\n"
            assert (await meta).json()["pkg"] == "/pkg/other.js"

    run_async(scenario())


def test_runtime_files_redirect_to_a_versioned_url_cached_for_good(
    client: TestClient, runtime_js_dir: Path
) -> None:
    """One request for the runtime per page load: its modules and worker scripts resolve
    under the versioned URL, which the browser never revalidates."""
    stable = client.get("/_wbspawn/bootstrap.js", follow_redirects=False)
    assert stable.status_code == 307
    assert stable.headers["cache-control"] == "no-cache"
    assert_isolated(stable)
    location = stable.headers["location"]
    assert re.fullmatch(r"/_wbspawn/v/[0-9a-f]{16}/bootstrap\.js", location)
    versioned = client.get(location)
    assert versioned.status_code == 200
    assert versioned.text == (runtime_js_dir / "bootstrap.js").read_text()
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["content-type"].startswith("text/javascript")
    assert_isolated(versioned)
    # A relative import from there stays under the version.
    sibling = location.rsplit("/", 1)[0] + "/worker.js"
    assert client.get(sibling).headers["cache-control"].endswith("immutable")


def test_a_changed_runtime_gets_a_new_version_and_the_old_one_is_gone(
    client: TestClient, runtime_js_dir: Path
) -> None:
    old = client.get("/_wbspawn/bootstrap.js", follow_redirects=False).headers["location"]
    (runtime_js_dir / "bootstrap.js").write_text("export const changed = true;\n")
    new = client.get("/_wbspawn/bootstrap.js", follow_redirects=False).headers["location"]
    assert new != old
    assert client.get(new).text == "export const changed = true;\n"
    # Never the new content under the old, immutable name.
    gone = client.get(old)
    assert gone.status_code == 404
    assert "immutable" not in gone.headers["cache-control"]


def test_a_missing_runtime_file_is_a_404_not_a_redirect(client: TestClient) -> None:
    response = client.get("/_wbspawn/missing.js", follow_redirects=False)
    assert response.status_code == 404
    version = client.get("/_wbspawn/bootstrap.js", follow_redirects=False).headers["location"]
    missing = version.rsplit("/", 1)[0] + "/missing.js"
    assert client.get(missing).status_code == 404


def test_a_cache_control_header_of_the_user_applies_to_all_but_versioned_files(
    config: Config, build_output: BuildResult, runtime_js_dir: Path
) -> None:
    """--header Cache-Control replaces every response's, but a content-addressed URL stays
    immutable (its content never changes under it)."""
    config = replace(config, headers=(("Cache-Control", "no-store"),))
    app = create_app(config, build_output, runtime_js_dir=runtime_js_dir)
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        assert test_client.get("/pkg/demo.js").headers["cache-control"] == "no-store"
        stable = test_client.get("/_wbspawn/bootstrap.js", follow_redirects=False)
        assert stable.headers["cache-control"] == "no-store"
        versioned = test_client.get(stable.headers["location"])
        assert versioned.headers["cache-control"].endswith("immutable")
