"""The browser engines (wbspawn/check/): finding each, and the same page contract in each.

The contract every engine keeps (`wbspawn check` and the runtime tests rely on it): evaluate
calls a function with arguments, awaits a promise and returns JSON; a throw is a ScriptError
with the page's message; and a page collects every uncaught error, unhandled rejection,
console error and failed request of its own and of every worker, nested ones too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from wbspawn.check import engines, firefox, webkit, xvfb
from wbspawn.check.browser import (
    BrowserError,
    Page,
    ScriptError,
    WaitTimeout,
    decode_result,
    evaluation_source,
)
from wbspawn.check.chromium import chromium_version, find_chromium
from wbspawn.errors import WbspawnError
from wbspawn.serve.app import Files
from wbspawn.serve.headers import ISOLATION_HEADERS, HeadersMiddleware
from wbspawn.serve.server import running


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_env_override_wins(tmp_path: Path) -> None:
    chosen = executable(tmp_path / "my-chromium")
    env = {"WBSPAWN_CHROMIUM": str(chosen)}
    assert find_chromium(env, which=lambda _: "/usr/bin/other") == chosen


def test_env_override_must_exist(tmp_path: Path) -> None:
    with pytest.raises(WbspawnError, match=r"WBSPAWN_CHROMIUM=.* does not exist"):
        find_chromium({"WBSPAWN_CHROMIUM": str(tmp_path / "nope")})


def test_path_then_default(tmp_path: Path) -> None:
    assert find_chromium({}, which=lambda _: "/opt/chromium") == Path("/opt/chromium")
    default = executable(tmp_path / "chromium")
    assert find_chromium({}, which=lambda _: None, default=default) == default


def test_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(WbspawnError, match="apt-get install chromium"):
        find_chromium({}, which=lambda _: None, default=tmp_path / "none")


def test_firefox_is_found_like_chromium(tmp_path: Path) -> None:
    chosen = executable(tmp_path / "my-firefox")
    assert firefox.find({"WBSPAWN_FIREFOX": str(chosen)}, which=lambda _: None) == chosen
    assert firefox.find({}, which=lambda n: f"/opt/{n}") == Path("/opt/firefox-esr")
    with pytest.raises(WbspawnError, match=r"Firefox not found: run `apt-get install firefox-esr`"):
        firefox.find({}, which=lambda _: None, defaults=(tmp_path / "none",))


def test_webkit_is_found_like_chromium(tmp_path: Path) -> None:
    chosen = executable(tmp_path / "MiniBrowser")
    assert webkit.find({"WBSPAWN_WEBKIT": str(chosen)}, which=lambda _: None) == chosen
    with pytest.raises(WbspawnError, match=r"WBSPAWN_WEBKIT=.* does not exist"):
        webkit.find({"WBSPAWN_WEBKIT": str(tmp_path / "nope")})


def prints(path: Path, text: str) -> Path:
    path.write_text(f"#!/bin/sh\necho '{text}'\n")
    path.chmod(0o755)
    return path


def test_each_engine_reads_its_version_from_what_it_prints(tmp_path: Path) -> None:
    chromium = prints(tmp_path / "chromium", "Chromium 156.0.8078.79 built on Debian")
    assert chromium_version(chromium) == "Chromium 156.0.8078.79"
    assert firefox.version(prints(tmp_path / "ff", "Mozilla Firefox 153.7.0esr")) == (
        "Firefox 153.7.0esr"
    )
    minibrowser = prints(tmp_path / "MiniBrowser", "WebKitGTK 2.50.6")
    assert webkit.version(minibrowser, display=":99") == "WebKitGTK 2.50.6"


def test_a_version_the_engine_does_not_print_says_what_it_printed_and_the_fix(
    tmp_path: Path,
) -> None:
    odd = prints(tmp_path / "firefox", "Iceweasel ???")
    with pytest.raises(
        WbspawnError, match=r"printed 'Iceweasel \?\?\?': run `apt-get install fire"
    ):
        firefox.version(odd)
    with pytest.raises(WbspawnError, match=r"--version` failed .*: run `apt-get install chromium"):
        chromium_version(tmp_path / "gone")


def test_missing_xvfb_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(WbspawnError, match=r"apt-get install xvfb"):
        xvfb.find({}, which=lambda _: None, default=tmp_path / "none")


def test_an_unknown_engine_names_the_known_ones() -> None:
    with pytest.raises(WbspawnError, match="choose one of chromium, firefox, webkit"):
        engines.engine("netscape")


def test_firefox_prefs_become_user_js() -> None:
    text = firefox._user_js({"dom.workers.maxPerDomain": 3, "a.b": True, "c": 'say "hi"'})
    assert text.splitlines() == [
        'user_pref("dom.workers.maxPerDomain", 3);',
        'user_pref("a.b", true);',
        'user_pref("c", "say \\"hi\\"");',
    ]


def test_an_evaluation_embeds_the_expression_and_its_arguments() -> None:
    source = evaluation_source("(a) => a", ("x", [1, None]), 2.5)
    assert "() => ((a) => a)" in source
    assert '["x", [1, null]]' in source
    assert ", 2500)" in source
    assert decode_result('{"ok": true, "value": [1, 2]}') == [1, 2]
    assert decode_result('{"ok": true}') is None
    with pytest.raises(ScriptError, match="TypeError: no"):
        decode_result('{"ok": false, "error": "TypeError: no"}')


# --- the same contract in every engine ---------------------------------------------------------

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="module" src="/page.js"></script></head><body>problems</body></html>"""
PAGE_JS = """console.error("said by the page");
console.warn("a warning is no problem");
setTimeout(() => { throw new Error("thrown by the page"); }, 10);
Promise.reject(new Error("rejected by the page"));
fetch("/missing.json");
new Worker("/worker.js", { type: "module" });
new Worker("/nested-parent.js", { type: "module" });
"""
WORKER_JS = """console.error("said by a worker");
setTimeout(() => { throw new Error("thrown by a worker"); }, 10);
Promise.reject(new Error("rejected by a worker"));
fetch("/missing-from-a-worker.json");
"""
NESTED_PARENT_JS = 'new Worker("/nested.js", { type: "module" });\n'
# The nested worker says it ran with a request the site records (see the test).
NESTED_JS = """fetch("/nested-ran.txt");
console.error("said by a nested worker");
setTimeout(() => { throw new Error("thrown by a nested worker"); }, 10);
"""
EXPECTED = {
    ("console", "said by the page"),
    ("uncaught", "thrown by the page"),
    ("uncaught", "rejected by the page"),
    ("request", "/missing.json: 404"),
    ("console", "said by a worker"),
    ("uncaught", "thrown by a worker"),
    ("uncaught", "rejected by a worker"),
    ("request", "/missing-from-a-worker.json: 404"),
    ("console", "said by a nested worker"),
    ("uncaught", "thrown by a nested worker"),
}


# Paths the site was asked for, in order.
REQUESTED: list[str] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A cross-origin isolated site whose page and workers do everything that is a problem."""
    root = tmp_path_factory.mktemp("site")
    for name, text in {
        "index.html": PAGE,
        "page.js": PAGE_JS,
        "worker.js": WORKER_JS,
        "nested-parent.js": NESTED_PARENT_JS,
        "nested.js": NESTED_JS,
        "quiet.html": "<!doctype html><p>quiet</p>",
        "nested-ran.txt": "",
    }.items():
        (root / name).write_text(text)
    files = HeadersMiddleware(
        Starlette(routes=[Mount("/", app=Files(directory=root, html=True))]), ISOLATION_HEADERS
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            REQUESTED.append(scope["path"])
        await files(scope, receive, send)

    with running(app) as url:
        yield url


def seen(page: Page) -> set[tuple[str, str]]:
    found = set()
    for problem in page.problems:
        for source, text in EXPECTED:
            if problem.source == source and text in problem.message:
                found.add((source, text))
    return found


@pytest.mark.browser
def test_a_page_reports_every_problem_of_its_own_and_its_workers(tab: Page, site: str) -> None:
    REQUESTED.clear()
    tab.open(site)
    deadline = time.monotonic() + 15
    while seen(tab) != EXPECTED and time.monotonic() < deadline:
        tab.pause(0.1)
    missing = EXPECTED - seen(tab)
    # With a debugger attached, Firefox now and then freezes a worker's `new Worker()` for good
    # (docs/browsers.md; the runtime never calls it there). Then the nested worker never runs,
    # and what it would have said is no report's to miss: the rest is checked, and the test
    # ends as skipped, saying so.
    nested = {e for e in EXPECTED if "nested" in e[1]}
    froze = tab.engine == "firefox" and nested <= missing and "/nested-ran.txt" not in REQUESTED
    if froze:
        missing -= nested
    assert missing == set(), tab.problems
    assert not any("warning is no problem" in p.message for p in tab.problems)
    assert any(m.level == "warning" for m in tab.console), tab.console
    assert "said by a worker" in tab.console_errors()
    if froze:
        pytest.skip("Firefox froze the nested worker's start (its bug with a debugger attached)")


@pytest.mark.browser
def test_evaluate_calls_awaits_and_returns_json(tab: Page, site: str) -> None:
    tab.open(site + "quiet.html")
    assert tab.cross_origin_isolated() is True
    assert tab.evaluate("(a, b) => a + b", 2, 3) == 5
    assert tab.evaluate("Promise.resolve([1, undefined, 'x'])") == [1, None, "x"]
    assert tab.evaluate("new Int32Array([1, -2])") == [1, -2]
    assert tab.evaluate("async (o) => ({...o, b: 2})", {"a": 1}) == {"a": 1, "b": 2}
    assert tab.evaluate("undefined") is None
    with pytest.raises(ScriptError, match="TypeError: nope"):
        tab.evaluate("() => { throw new TypeError('nope'); }")
    with pytest.raises(ScriptError, match="Error: later"):
        tab.evaluate("() => Promise.reject(new Error('later'))")
    with pytest.raises(ScriptError, match=r"no result within 0\.2 s"):
        tab.evaluate("() => new Promise(() => {})", timeout_s=0.2)
    with pytest.raises(WaitTimeout):
        tab.wait_for("() => false", timeout_s=0.3)
    assert tab.wait_for("() => 'yes'") == "yes"
    assert tab.problems == []


@pytest.mark.browser
def test_a_page_nobody_serves_cannot_be_opened(tab: Page, unused_tcp_port: int) -> None:
    with pytest.raises(BrowserError, match=f"127.0.0.1:{unused_tcp_port}"):
        tab.open(f"http://127.0.0.1:{unused_tcp_port}/", timeout_s=20)
