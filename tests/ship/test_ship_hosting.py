"""The host configs `wbspawn build` writes (ship/hosting.py), `wbspawn preview` (preview.py),
and Debian's nginx serving a dist with the generated nginx.conf."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import nginx
from dists import HASHED, WASM, make_dist
from wbspawn.errors import WbspawnError
from wbspawn.serve.server import running
from wbspawn.ship import hosting
from wbspawn.ship.manifest import find_dist, read_dist
from wbspawn.ship.preview import preview_app

ISOLATION = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
}
# What every response carries from a host configured by the dist.
EVERY = {**ISOLATION, "x-content-type-options": "nosniff"}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    return make_dist(tmp_path / "dist")


@pytest.fixture
def preview(dist: Path) -> Iterator[TestClient]:
    with TestClient(preview_app(dist), base_url="http://127.0.0.1:4173") as client:
        yield client


def test_rules_put_the_app_headers_after_the_isolation_ones() -> None:
    rules = hosting.rules_for(
        "credentialless",
        [("Content-Security-Policy", "script-src 'self'"), ("cross-origin-opener-policy", "x")],
        ["b.html", "a.html", "a.html"],
    )
    assert rules.headers == (
        ("Cross-Origin-Embedder-Policy", "credentialless"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "script-src 'self'"),
        ("cross-origin-opener-policy", "x"),
    )
    assert rules.unhashed == ("a.html", "b.html")
    assert hosting.Rules.from_json(json.loads(json.dumps(rules.to_json()))) == rules


def test_cache_control_by_path() -> None:
    assert hosting.cache_control("/assets/main.0123456789.js") == hosting.IMMUTABLE
    assert hosting.cache_control("/repo/assets/main.0123456789.js") == hosting.IMMUTABLE
    for path in ("/", "/index.html", "/wbspawn-sw.js", "/assets/", "/assets/x/y.js"):
        assert hosting.cache_control(path) == hosting.REVALIDATE, path


def test_netlify_headers_set_each_header_in_one_rule_only() -> None:
    # Netlify and Cloudflare join the values of a header that two matching rules set.
    rules = hosting.rules_for(
        "require-corp", (), ["index.html", "docs/about.html", "wbspawn-sw.js"]
    )
    text = hosting.netlify_headers(rules, "app")
    blocks: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            current = line
            blocks[current] = {}
        else:
            name, _, value = line.strip().partition(": ")
            blocks[current][name] = value
    assert {k.lower(): v for k, v in blocks["/*"].items()} == EVERY
    assert blocks["/assets/*"] == {"Cache-Control": hosting.IMMUTABLE}
    for url in ("/", "/index.html", "/docs/about.html", "/docs/about", "/wbspawn-sw.js"):
        assert blocks[url] == {"Cache-Control": hosting.REVALIDATE}, url
    assert not any("Cache-Control" in h and "Cross-Origin" in str(h) for h in blocks.values())


def test_vercel_json() -> None:
    rules = hosting.rules_for("require-corp", [("X-Frame-Options", "DENY")], ["index.html"])
    data = json.loads(hosting.vercel_json(rules))
    by_source = {e["source"]: {h["key"]: h["value"] for h in e["headers"]} for e in data["headers"]}
    assert {k.lower(): v for k, v in by_source["/(.*)"].items()} == {
        **EVERY,
        "x-frame-options": "DENY",
    }
    assert by_source["/assets/(.*)"] == {"Cache-Control": hosting.IMMUTABLE}
    assert by_source["/"] == by_source["/index.html"] == {"Cache-Control": hosting.REVALIDATE}


def test_caddy_and_apache_send_every_header() -> None:
    rules = hosting.rules_for("require-corp", [("X-Quote", 'say "hi"')], ["index.html"])
    caddy = hosting.caddy_conf(rules, "app")
    apache = hosting.htaccess(rules, "app")
    for name, value in EVERY.items():
        title = "-".join(part.capitalize() for part in name.split("-"))
        assert f'{title} "{value}"' in caddy
        assert f'Header always set {title} "{value}"' in apache
    assert 'X-Quote "say \\"hi\\""' in caddy
    assert f'header @hashed Cache-Control "{hosting.IMMUTABLE}"' in caddy
    assert f'header @unhashed Cache-Control "{hosting.REVALIDATE}"' in caddy
    assert f'Header set Cache-Control "{hosting.IMMUTABLE}"' in apache
    assert "AddType application/wasm .wasm" in apache


def test_every_config_hides_the_configs_and_dot_names_at_any_depth() -> None:
    rules = hosting.rules_for("require-corp", (), ["index.html"])
    pattern = r"/(_headers|vercel\.json|nginx\.conf|caddy\.conf)$|/\."
    assert f'location ~ "{pattern}" {{\n    return 404;' in hosting.nginx_conf(rules, "app")
    assert f"@private path_regexp {pattern}\nrespond @private 404" in hosting.caddy_conf(
        rules, "app"
    )
    assert f'RedirectMatch 404 "{pattern}"' in hosting.htaccess(rules, "app")


def test_nginx_accepts_the_generated_snippet(dist: Path, tmp_path: Path) -> None:
    proc = nginx.check_config(dist, tmp_path / "nginx-t")
    assert proc.returncode == 0, proc.stderr
    assert "syntax is ok" in proc.stderr


def fetch(url: str) -> tuple[int, dict[str, str]]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        with error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}


PATHS = [
    ("", 200, hosting.REVALIDATE),
    ("index.html", 200, hosting.REVALIDATE),
    ("wbspawn-sw.js", 200, hosting.REVALIDATE),
    ("robots.txt", 200, hosting.REVALIDATE),
    ("docs/", 200, hosting.REVALIDATE),
    (HASHED, 200, hosting.IMMUTABLE),
    (WASM, 200, hosting.IMMUTABLE),
    ("assets/missing.0123456789.js", 404, None),
    ("missing.html", 404, None),
    ("nginx.conf", 404, None),
    ("_headers", 404, None),
    (".wbspawn-dist.json", 404, None),
    (".htaccess", 404, None),
]


def test_nginx_serves_the_dist_with_the_generated_headers(dist: Path, tmp_path: Path) -> None:
    with nginx.serving(dist, tmp_path / "nginx") as url:
        for path, status, cache in PATHS:
            got, headers = fetch(url + path)
            assert got == status, path
            assert {k: headers.get(k) for k in EVERY} == EVERY, path
            assert headers.get("cache-control") == cache, path
        _, headers = fetch(url + WASM)
        assert headers["content-type"] == "application/wasm"


def test_preview_serves_the_dist_as_nginx_does(preview: TestClient) -> None:
    for path, status, cache in PATHS:
        response = preview.get("/" + path, follow_redirects=False)
        assert response.status_code == status, path
        assert {k: response.headers.get(k) for k in EVERY} == EVERY, path
        assert response.headers.get("cache-control") == cache, path
    assert preview.get("/" + WASM).headers["content-type"] == "application/wasm"
    assert preview.get("/" + HASHED).headers["content-type"].startswith("text/javascript")


# Requests whose answers the generated config decides: files, pages and directories with an
# index.html, the host configs and dotfiles at any depth, methods. Left out, where hosts differ
# among themselves or browsers never ask: a directory without index.html (nginx 403, Caddy
# and Netlify 404, preview 404), raw `..` segments (browsers resolve them first) and symlinks
# (preview judges where one leads, as the dev server does; a host serves what it copied).
AS_NGINX = [
    *(
        ("GET", path)
        for path in (
            "/",
            "/index.html",
            "/index.html?v=1",
            "/docs",
            "/docs/",
            "/docs/index.html",
            "/robots.txt",
            "/robots.txt/",
            "/index.html/",
            "//robots.txt",
            "/" + HASHED,
            "/" + WASM,
            "/missing",
            "/assets/missing.0123456789.js",
            *(f"/{name}" for name in [*hosting.CONFIG_FILES, ".wbspawn-dist.json"]),
            *(f"/docs/{name}" for name in [*hosting.CONFIG_FILES, ".wbspawn-dist.json"]),
            "/docs/%5fheaders",
            "/docs/nginx.conf/",
            "/.env",
            "/docs/.env",
            "/.git/config",
            "/docs/.hidden/note.txt",
            "/nginx.conf.d/note.txt",
        )
    ),
    ("HEAD", "/"),
    ("HEAD", "/docs/nginx.conf"),
    ("POST", "/"),
    ("DELETE", "/robots.txt"),
]


def answer(base_url: str, method: str, path: str) -> tuple[int, str | None, dict[str, str]]:
    """Status, redirect target (its path) and the headers the config sets, for `path` sent
    exactly as written."""
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, headers={"Host": "localhost"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    location = response.getheader("location")
    names = [*EVERY, "cache-control"]
    headers = {name: value for name in names if (value := response.getheader(name)) is not None}
    return response.status, urllib.parse.urlsplit(location).path if location else None, headers


def test_preview_answers_as_nginx_with_the_generated_config(dist: Path, tmp_path: Path) -> None:
    for name in [*hosting.CONFIG_FILES, ".wbspawn-dist.json", ".env", "index.html"]:
        (dist / "docs" / name).write_text("a copy")
    for name in (".git/config", ".env", "docs/.hidden/note.txt", "nginx.conf.d/note.txt"):
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_text("x")
    with nginx.serving(dist, tmp_path / "nginx") as host, running(preview_app(dist)) as preview:
        for method, path in AS_NGINX:
            expected = answer(host, method, path)
            assert answer(preview, method, path) == expected, (method, path)


def test_preview_injects_nothing_and_answers_like_a_static_host(preview: TestClient) -> None:
    assert preview.get("/").text == "<!doctype html><title>x</title>"
    redirect = preview.get("/docs", follow_redirects=False)
    assert redirect.status_code in (301, 307, 308)
    assert redirect.headers["location"].endswith("/docs/")
    assert preview.post("/").status_code == 405
    etag = preview.get("/index.html").headers["etag"]
    not_modified = preview.get("/index.html", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.headers["cross-origin-embedder-policy"] == "require-corp"


def test_preview_serves_no_private_file_through_a_symlink(dist: Path) -> None:
    # A host copying the dist would follow the link; the preview keeps the dev server's rule:
    # what a link resolves to is judged too.
    (dist / ".secret").write_text("token")
    (dist / "leak.txt").symlink_to(".secret")
    (dist / "manifest-leak.json").symlink_to(".wbspawn-dist.json")
    with TestClient(preview_app(dist), base_url="http://127.0.0.1") as client:
        assert client.get("/.secret").status_code == 404
        assert client.get("/leak.txt").status_code == 404
        assert client.get("/manifest-leak.json").status_code == 404
        assert client.get("/robots.txt").status_code == 200


def test_preview_answers_a_symlink_loop_with_a_404(dist: Path) -> None:
    (dist / "selfloop").symlink_to("selfloop")
    (dist / "docs" / "loop").symlink_to("loop")
    with TestClient(preview_app(dist), base_url="http://127.0.0.1") as client:
        for path in ("/selfloop", "/selfloop/", "/docs/loop", "/docs/loop/index.html"):
            assert client.get(path).status_code == 404, path


def test_preview_answers_only_allowed_hosts(dist: Path) -> None:
    with TestClient(preview_app(dist), base_url="http://evil.example") as client:
        assert client.get("/").status_code == 400
    with TestClient(
        preview_app(dist, allowed_hosts=["evil.example"]), base_url="http://evil.example"
    ) as client:
        assert client.get("/").status_code == 200


def test_preview_sends_the_app_headers(tmp_path: Path) -> None:
    rules = hosting.rules_for("credentialless", [("X-Frame-Options", "DENY")], ["index.html"])
    dist = make_dist(tmp_path / "dist", rules)
    with TestClient(preview_app(dist), base_url="http://127.0.0.1") as client:
        headers = client.get("/").headers
    assert headers["cross-origin-embedder-policy"] == "credentialless"
    assert headers["x-frame-options"] == "DENY"


def test_what_is_a_dist(dist: Path, tmp_path: Path) -> None:
    assert read_dist(dist).crate == "app"
    assert find_dist(dist) == dist
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "Cargo.toml").write_text("")
    with pytest.raises(WbspawnError, match=r"has no dist yet: run `wbspawn build"):
        find_dist(app)
    make_dist(app / "dist")
    assert find_dist(app) == app / "dist"
    with pytest.raises(WbspawnError, match="is not a dist built by wbspawn"):
        read_dist(app)
    (dist / ".wbspawn-dist.json").write_text("{}")
    with pytest.raises(WbspawnError, match="rebuild it with `wbspawn build`"):
        read_dist(dist)
