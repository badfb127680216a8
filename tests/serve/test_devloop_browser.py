"""The dev loop as a person sees it: a page in Chromium, a real `wbspawn serve`, real edits.

The Rust tests use a copy of the demo (built for real, incrementally: the cached target dir
is shared) whose page shows one number from the app's `devloop_marker` export; the tests
change that number, break it, fix it, and restyle the page. The last three use the fake
tools (no wasm on those pages) to test plain HTML reloads, an edit announced before the page's
client connected, and a server restart.

Chromium only, unlike the runtime's tests: what is tested here is the server (the reload
websocket, the overlay's DOM, the CSS swap), which no browser engine changes, and the tests
use Playwright's locators, which drive Chromium only here (docs/browsers.md).
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route

from conftest import DEMO_DIR, LAB_DIR, FakeTools, copy_app
from devserver import DevServer, good_build, receive, receive_until, wait_until_watching
from pages import PageErrors, wait_for_done
from wbspawn.ship.template import new_app

pytestmark = pytest.mark.browser

REBUILD_MS = 300_000  # a debug rebuild of the demo: seconds, more on a busy machine

INDEX = """<!doctype html>
<html><head>
<link rel="stylesheet" href="style.css">
<script type="module" src="main.js"></script>
</head><body><p id="marker">…</p></body></html>
"""
MAIN = """import { done, start } from "/_wbspawn/bootstrap.js";
const app = await start("/pkg/demo.js");
window.wbspawnApp = app;
window.marker = await app.call("devloop_marker");
document.getElementById("marker").textContent = String(window.marker);
done(true, `marker ${window.marker}`);
"""
STYLE = "#marker { color: rgb(0, 0, 255); }\n"
MARKER = """
/// For the dev-loop browser tests: they change this number and wait for the page to show it.
#[wasm_bindgen]
pub fn devloop_marker() -> u32 {
    BODY
}
"""


# What the terminal test makes the app print, and how it ends it.
PRINTS = """
#[wasm_bindgen]
pub fn devloop_say(text: String) {
    std::thread::Builder::new()
        .name("teller".into())
        .spawn(move || println!("{text}"))
        .unwrap()
        .join()
        .unwrap();
    eprintln!("{} on stderr", 42);
}

#[wasm_bindgen]
pub fn devloop_exit(code: i32) {
    std::process::exit(code);
}
"""


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    app = copy_app(DEMO_DIR, tmp_path_factory.mktemp("live") / "demo")
    (app / "index.html").write_text(INDEX)
    (app / "main.js").write_text(MAIN)
    (app / "style.css").write_text(STYLE)
    set_marker(app, "1")
    return app


def set_marker(app: Path, body: str) -> None:
    original = (DEMO_DIR / "src" / "lib.rs").read_text()
    (app / "src" / "lib.rs").write_text(original + PRINTS + MARKER.replace("BODY", body))


@pytest.fixture(scope="module")
def live_server(live_app: Path) -> Iterator[DevServer]:
    server = DevServer(live_app)
    yield server
    server.stop()


def open_app(page: Page, server: DevServer) -> None:
    page.goto(server.url)
    status, detail = wait_for_done(page)
    assert status == "pass", detail


def overlay_text(page: Page) -> str:
    return page.locator("#wbspawn-overlay .diagnostics").inner_text()


def test_rust_edit_reloads_the_page_running_the_new_code(
    fresh_page: tuple[Page, PageErrors], live_server: DevServer, live_app: Path
) -> None:
    tab, errors = fresh_page
    open_app(tab, live_server)
    assert tab.locator("#marker").inner_text() == "1"
    tab.evaluate("window.survivor = 'before the edit'")
    seen = len(live_server.lines)
    with live_server.socket() as ws:
        receive(ws)
        set_marker(live_app, "2")
        # The page reloads as the build starts, and its wasm comes when the build ends: no
        # second reload (rebuild.py).
        messages = receive_until(ws, good_build, timeout=REBUILD_MS / 1000)
    assert [m["type"] for m in messages] == ["building", "reload", "built"]
    assert messages[1]["reason"] == "building"
    tab.locator("#marker").filter(has_text="2").wait_for(timeout=REBUILD_MS)
    assert tab.evaluate("window.survivor") is None  # a new page: reloaded
    assert tab.evaluate("window.marker") == 2
    # The page heard that the build it waited for is done: its "building…" badge goes.
    tab.locator("#wbspawn-badge").wait_for(state="detached")
    # An edit inside one function takes no wasm-bindgen run: its last output, with the new
    # body spliced in, is what the page runs (build/splice.py).
    built = live_server.lines[live_server.wait_for_line(r"built demo", after=seen)]
    assert "wasm-bindgen's last output spliced" in built, built
    errors.assert_none()


def test_what_the_app_prints_reaches_the_terminal(
    fresh_page: tuple[Page, PageErrors], live_server: DevServer
) -> None:
    page, errors = fresh_page
    open_app(page, live_server)
    page.evaluate("window.wbspawnApp.call('devloop_say', 'hello from a thread')")
    # stdout to stdout and stderr to stderr, as `cargo run` shows a program's.
    live_server.wait_for_out_line("[teller] hello from a thread")
    live_server.wait_for_line(r"^\[main\] 42 on stderr$")
    page.evaluate("window.wbspawnApp.call('devloop_exit', 4).catch(() => {})")
    live_server.wait_for_line(r"^wbspawn: the app exited with code 4$")
    errors.assert_none()


def test_a_broken_build_shows_rustcs_error_and_the_old_build_keeps_running(
    fresh_page: tuple[Page, PageErrors], live_server: DevServer, live_app: Path
) -> None:
    tab, errors = fresh_page
    open_app(tab, live_server)
    tab.evaluate("window.survivor = 'before the edit'")
    set_marker(live_app, "undefined_marker_value")
    overlay = tab.locator("#wbspawn-overlay .diagnostics")
    overlay.wait_for(timeout=REBUILD_MS)
    text = overlay_text(tab)
    assert "cannot find value `undefined_marker_value` in this scope" in text
    assert "error[E0425]" in text
    locations = tab.locator("#wbspawn-overlay .locations").inner_text()
    assert "src/lib.rs:" in locations  # file:line in view
    # rustc's colours made it through (ansi.py classes, styled by overlay.css).
    assert tab.locator("#wbspawn-overlay .diagnostics .ansi-fg-9").count() > 0
    # The page reloaded as the build started (the one before was good), and what it waited
    # for is the last good build, which runs under the overlay.
    assert tab.evaluate("window.survivor") is None
    tab.locator("#marker").filter(has_text="2").wait_for(timeout=REBUILD_MS)
    assert tab.evaluate("window.wbspawnApp.call('devloop_marker')") == 2

    # A page opened now shows the error at once, over the last good build.
    other = tab.context.new_page()
    open_app(other, live_server)
    assert other.locator("#marker").inner_text() == "2"
    other.locator("#wbspawn-overlay .diagnostics").wait_for()
    assert "undefined_marker_value" in overlay_text(other)

    # Dismissible.
    other.locator("#wbspawn-overlay .close").click()
    assert other.locator("#wbspawn-overlay").count() == 0
    other.close()
    errors.assert_none()


def test_the_fix_makes_the_overlay_go_away(
    fresh_page: tuple[Page, PageErrors], live_server: DevServer, live_app: Path
) -> None:
    tab, errors = fresh_page
    open_app(tab, live_server)
    tab.locator("#wbspawn-overlay .diagnostics").wait_for()  # still broken from before
    with live_server.socket() as ws:
        set_marker(live_app, "3")
        messages = receive_until(ws, good_build, timeout=REBUILD_MS / 1000)
    # After a failed build the page keeps running, under the overlay, until a good one: no
    # early reload.
    assert [m for m in messages if m["type"] == "reload"] == [messages[-1]]
    assert messages[-1]["reason"] == "build"
    tab.locator("#marker").filter(has_text="3").wait_for(timeout=REBUILD_MS)
    assert tab.locator("#wbspawn-overlay").count() == 0
    errors.assert_none()


def test_css_edit_restyles_without_a_reload(
    fresh_page: tuple[Page, PageErrors], live_server: DevServer, live_app: Path
) -> None:
    tab, errors = fresh_page
    open_app(tab, live_server)
    color = "getComputedStyle(document.getElementById('marker')).color"
    assert tab.evaluate(color) == "rgb(0, 0, 255)"
    tab.evaluate("window.survivor = 'page state'")
    (live_app / "style.css").write_text("#marker { color: rgb(255, 0, 0); }\n")
    tab.wait_for_function(f"{color} === 'rgb(255, 0, 0)'", timeout=60_000)
    assert tab.evaluate("window.survivor") == "page state"  # not reloaded
    # The old sheet goes once the new one has loaded (its load event may come after the
    # new colour shows).
    tab.wait_for_function("document.querySelectorAll('link[rel=stylesheet]').length === 1")
    errors.assert_none()


def test_an_app_that_owns_the_page_gets_the_overlay_and_the_reload(
    fresh_page: tuple[Page, PageErrors], tmp_path: Path
) -> None:
    # A Yew app on the main thread (`--template yew`): the page is the app's, not ours, and the
    # overlay and the reload still work over it. Release builds: the template's own test
    # builds Yew's dependencies so (test_template_page_browser.py), and they are many.
    app = new_app(tmp_path / "yew-app", variant="yew").dir
    lib = app / "src" / "lib.rs"
    label = '"Count primes below 3,000,000 with rayon"'
    assert label in lib.read_text()
    server = DevServer(app, "--release")
    try:
        tab, errors = fresh_page
        open_app(tab, server)
        button = tab.locator("main button")
        assert button.inner_text() == "Count primes below 3,000,000 with rayon"

        lib.write_text(lib.read_text().replace(label, "undefined_label"))
        tab.locator("#wbspawn-overlay .diagnostics").wait_for(timeout=REBUILD_MS)
        assert "cannot find value `undefined_label` in this scope" in overlay_text(tab)
        # The last good build runs under the overlay (restarted, if the page reloaded as the
        # build started: that depends on how long the server's builds take, rebuild.py).
        button.filter(has_text="Count primes below").wait_for(timeout=REBUILD_MS)

        tab.evaluate("window.survivor = 'before the fix'")
        lib.write_text(lib.read_text().replace("undefined_label", '"Count again"'))
        tab.locator("main button").filter(has_text="Count again").wait_for(timeout=REBUILD_MS)
        assert tab.evaluate("window.survivor") is None  # a new page: reloaded
        assert tab.locator("#wbspawn-overlay").count() == 0
        tab.locator("main button").click()
        said = tab.locator("main .said").filter(has_text="216816 primes below 3,000,000 on")
        said.wait_for(timeout=60_000)
        errors.assert_none()
    finally:
        server.stop()


def test_the_thread_inspector_shows_a_rayon_pools_threads(
    fresh_page: tuple[Page, PageErrors], tmp_path: Path
) -> None:
    app = new_app(tmp_path / "yew-app", variant="yew").dir
    server = DevServer(app, "--release")  # as above: Yew's dependencies built once, for release
    try:
        tab, errors = fresh_page
        open_app(tab, server)
        button = tab.locator("#wbspawn-threads .threads-button")
        button.wait_for()
        inspector = tab.locator("#wbspawn-inspector .inspector")
        assert inspector.count() == 0  # closed until asked for: nothing loaded, nothing polled
        tab.keyboard.press("Alt+t")
        inspector.wait_for()
        tab.locator("main button").click()
        tab.locator("main .said").filter(has_text="primes below 3,000,000 on").wait_for(
            timeout=60_000
        )
        # rayon's pool stays: its threads, spawned by the thread that ran the count.
        deadline = time.monotonic() + 20
        while True:  # until the table shows the pool (it refreshes twice a second)
            rows = inspector.locator("tbody tr").all_inner_texts()
            spawners = [row.split("\t")[5] for row in rows[1:]]
            if spawners and max(map(spawners.count, spawners)) >= 2:
                break
            assert time.monotonic() < deadline, rows
            tab.wait_for_timeout(200)
        assert rows[0].split("\t")[:3] == [rows[0].split("\t")[0], "main", "running"], rows
        spawned = [row.split("\t") for row in rows[1:]]
        # Every thread says who spawned it; rayon's share one (the first thread to use rayon).
        spawners = [cells[5] for cells in spawned]
        assert all(spawners), rows
        assert max(spawners.count(by) for by in spawners) >= 2, rows
        assert {cells[2] for cells in spawned} <= {"running", "condvar", "parked", "lock"}, rows
        assert "workers " in inspector.locator(".pool").inner_text()
        # As a person sees it: a panel of some size over the page, rows and all.
        shot = inspector.screenshot()
        width, height = struct.unpack(">II", shot[16:24])  # the PNG's IHDR
        assert width > 300 and height >= 40 + 16 * len(rows), (width, height, rows)
        tab.keyboard.press("Alt+t")
        inspector.wait_for(state="detached")
        errors.assert_none()
    finally:
        server.stop()


def test_a_deadlock_opens_the_inspector_naming_its_threads_and_panics_are_listed(
    fresh_page: tuple[Page, PageErrors], tmp_path: Path
) -> None:
    server = DevServer(copy_app(LAB_DIR, tmp_path / "lab"))
    try:
        tab, _ = fresh_page  # the deadlock is a console error, on purpose
        open_app(tab, server)
        # A thread's panic first: counted on the button, listed in the inspector.
        said = tab.evaluate("window.wbspawnApp.call('panicking_thread', 'std')")
        assert "deliberate panic 7" in said
        button = tab.locator("#wbspawn-threads .threads-button")
        button.filter(has_text="threads · 1 death").wait_for(timeout=10_000)
        # One the app's panic hook does not print (as Yew's `console_error_panic_hook`).
        said = tab.evaluate("window.wbspawnApp.call('panicking_thread_under_a_silent_hook')")
        assert "a panic no hook printed" in said
        button.filter(has_text="threads · 2 deaths").wait_for(timeout=10_000)
        # And a crash (a trap, no panic): reported by the runtime, not by std.
        assert "unreachable" in tab.evaluate("window.wbspawnApp.call('trap', 'std')")
        button.filter(has_text="threads · 3 deaths").wait_for(timeout=10_000)
        tab.evaluate("window.wbspawnApp.call('join_cycle')")
        inspector = tab.locator("#wbspawn-inspector .inspector")
        inspector.wait_for(timeout=15_000)  # opened by the runtime's word, not by a person
        said = inspector.locator(".deadlock")
        said.wait_for()
        assert "these threads join each other" in said.inner_text()
        stuck = inspector.locator("tbody tr.stuck").all_inner_texts()
        assert sorted(row.split("\t")[1] for row in stuck) == ["ping", "pong"], stuck
        assert tab.locator("#wbspawn-threads .threads-button.alert").count() == 1
        panic, hushed, crash = inspector.locator(".panics li").all_inner_texts()
        assert panic.startswith("'doomed' panicked at src/lib.rs:"), panic
        assert panic.rstrip().endswith("deliberate panic 7"), panic
        assert hushed.startswith("'hushed' panicked at src/lib.rs:"), hushed
        assert hushed.rstrip().endswith("a panic no hook printed"), hushed
        assert crash.startswith("'<unnamed>' crashed") and "unreachable" in crash, crash
    finally:
        server.stop()


# --- pages without wasm, with the fake tools --------------------------------------------------


@pytest.fixture
def plain_app(crate_dir: Path) -> Path:
    (crate_dir / "index.html").write_text(
        '<!doctype html><html><head><script type="module" src="main.js"></script></head>'
        '<body><p id="text">one</p></body></html>'
    )
    (crate_dir / "main.js").write_text("document.body.dataset.loaded = 'yes';\n")
    return crate_dir


class Hellos:
    """The `hello`s the page's reload client has received. A client that has not seen a
    server shows nothing when that server goes; and before the first, an edit's `reload`
    reaches the page only through that first hello (a reload, not the same page updated)."""

    def __init__(self, tab: Page) -> None:
        self.tab = tab
        self.count = 0
        tab.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and json.loads(payload).get("type") == "hello":
            self.count += 1

    def wait(self, timeout_s: float = 30) -> None:
        """Until the first."""
        deadline = time.monotonic() + timeout_s
        while self.count == 0:
            assert time.monotonic() < deadline, "the page's reload client never connected"
            self.tab.wait_for_timeout(50)


def test_html_edit_reloads_the_page(
    fresh_page: tuple[Page, PageErrors], plain_app: Path, fake_tools: FakeTools
) -> None:
    tab, errors = fresh_page
    hellos = Hellos(tab)
    server = DevServer(plain_app, env=fake_tools.env)
    try:
        # Before the page opens: the watcher's probe is a page change, which reloads pages.
        with server.socket() as ws:
            wait_until_watching(ws, plain_app)
        tab.goto(server.url)
        tab.locator("body[data-loaded=yes]").wait_for()
        hellos.wait()
        index = plain_app / "index.html"
        index.write_text(index.read_text().replace("one", "two"))
        tab.locator("#text").filter(has_text="two").wait_for(timeout=60_000)
    finally:
        server.stop()
    errors.assert_none()


def test_a_page_whose_client_connects_after_an_edit_reloads(
    fresh_page: tuple[Page, PageErrors], plain_app: Path, fake_tools: FakeTools
) -> None:
    # The page is served, then the edit is announced while its reload client is still
    # loading (held back here): the client's first hello must tell it the page is stale.
    tab, errors = fresh_page
    script = "**/_wbspawn/static/reload.js*"
    held: list[Route] = []
    # Only the first page's: the reloaded one loads its client at once.
    tab.route(script, lambda route: route.continue_() if held else held.append(route))
    server = DevServer(plain_app, env=fake_tools.env)
    try:
        with server.socket() as ws:
            wait_until_watching(ws, plain_app)
            tab.goto(server.url, wait_until="commit")
            tab.locator("#text").filter(has_text="one").wait_for()
            tab.wait_for_function("document.body.dataset.loaded === 'yes'")
            while not held:  # route handlers run only inside Playwright's calls
                tab.wait_for_timeout(50)
            index = plain_app / "index.html"
            index.write_text(index.read_text().replace("one", "two"))
            receive_until(ws, lambda m: m["type"] == "reload" and "index.html" in m["paths"])
        assert len(held) == 1
        held[0].continue_()
        tab.locator("#text").filter(has_text="two").wait_for(timeout=30_000)
    finally:
        server.stop()
    errors.assert_none()


def test_after_a_server_restart_the_page_reconnects_and_reloads(
    fresh_page: tuple[Page, PageErrors],
    plain_app: Path,
    fake_tools: FakeTools,
    unused_tcp_port: int,
) -> None:
    tab, errors = fresh_page
    hellos = Hellos(tab)
    first = DevServer(plain_app, env=fake_tools.env, port=unused_tcp_port)
    try:
        tab.goto(first.url)
        tab.locator("body[data-loaded=yes]").wait_for()
        hellos.wait()
        tab.evaluate("window.survivor = 'old page'")
    finally:
        first.stop()
    tab.locator("#wbspawn-badge").wait_for(state="attached")  # "server gone, reconnecting…"
    second = DevServer(plain_app, env=fake_tools.env, port=unused_tcp_port)
    try:
        tab.wait_for_function("window.survivor === undefined", timeout=60_000)
        tab.locator("body[data-loaded=yes]").wait_for()
    finally:
        second.stop()
    errors.assert_none()
