"""Built dists in Chromium: the demo's release build on a host that sends the headers (Debian's
nginx with the generated nginx.conf, and `wbspawn preview`) and on one that sends none
(`python -m http.server`: the service worker path); the page's one message when isolation is
impossible; the stack checks after wasm-opt; and `wbspawn new` then `wbspawn check`."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserType, Frame, Page, Request

import nginx
from apps import DEMO_DIR, LAB_DIR
from pages import PageErrors, call, wait_for_done
from wbspawn.build.stackcheck import checks_state
from wbspawn.check.chromium import LAUNCH_ARGS, find_chromium
from wbspawn.config import Config
from wbspawn.serve.server import running
from wbspawn.ship.dist import build_dist
from wbspawn.ship.manifest import Dist
from wbspawn.ship.preview import preview_app
from wbspawn.terminal import Terminal

pytestmark = [pytest.mark.build, pytest.mark.browser]

ISOLATION_MESSAGE = "wbspawn: this page cannot run threads: "


def built(app: Path, out: Path) -> Dist:
    quiet = Terminal(io.StringIO())
    return build_dist(Config(app_dir=app, dist_dir=out), terminal=quiet).dist


@pytest.fixture(scope="session")
def demo_dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """examples/demo built with `wbspawn build` (release, wasm-opt -O3, hashed names)."""
    return built(DEMO_DIR, tmp_path_factory.mktemp("demo") / "dist")


class Visit:
    """A page in a fresh context: its navigations, console errors, failed requests and
    uncaught errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.navigations: list[str] = []
        self.console_errors: list[str] = []
        self.errors = PageErrors(page)
        page.on(
            "framenavigated",
            lambda frame: self.navigations.append(frame.url) if frame == page.main_frame else None,
        )
        page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )
        # Which document asked for each request: the service worker's reload aborts what the
        # first document had in flight (its icon, say), and that is no failure. A request
        # belongs to the document committed when it was asked for: the old document still
        # asks (Chromium fetches its icon late) after the reload's navigation request has
        # started, until the new one commits. Judged when the visit ends, because Chromium
        # reports the aborts before the commit that causes them.
        self._commits = 0
        self._failed: list[str] = []
        self._asked_by: dict[Request, int] = {}
        self._aborted: list[tuple[Request, int]] = []
        page.on("framenavigated", self._committed)
        page.on("request", self._request)
        page.on("requestfailed", self._request_failed)
        page.on(
            "response",
            lambda r: self._failed.append(f"{r.url}: {r.status}") if r.status >= 400 else None,
        )

    def _committed(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self._commits += 1

    def _request(self, request: Request) -> None:
        # A main-frame navigation asks for the document that its commit will bring.
        ahead = request.is_navigation_request() and request.frame == self.page.main_frame
        self._asked_by[request] = self._commits + int(ahead)

    def _request_failed(self, request: Request) -> None:
        # Chromium's word for a load cancelled by a navigation (these tests run in Chromium).
        if request.failure == "net::ERR_ABORTED":
            self._aborted.append((request, self._asked_by.get(request, self._commits)))
        else:
            self._failed.append(f"{request.url}: {request.failure}")

    @property
    def failed(self) -> list[str]:
        """Failed requests, but for those a later document's commit cut short."""
        return self._failed + [
            f"{r.url}: {r.failure}" for r, asked_by in self._aborted if asked_by >= self._commits
        ]

    def run_app(self, url: str) -> str:
        self.page.goto(url)
        status, detail = wait_for_done(self.page, timeout_s=120)
        assert status == "pass", detail
        assert self.page.evaluate("crossOriginIsolated") is True
        self.errors.assert_none()
        assert self.console_errors == []
        assert self.failed == []
        return detail


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    context = browser.new_context()
    yield Visit(context.new_page())
    context.close()


def registrations(page: Page) -> int:
    count: int = page.evaluate("navigator.serviceWorker.getRegistrations().then((r) => r.length)")
    return count


@contextlib.contextmanager
def plain_server(root: Path) -> Iterator[str]:
    """`python -m http.server`: a static server that sends no isolation headers at all."""
    port = nginx.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    url, timeout=5
                ) as response:
                    assert response.headers.get("Cross-Origin-Opener-Policy") is None
                    break
            except OSError:
                assert time.monotonic() < deadline, "python -m http.server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


# The first document asks for /hang after its navigation to /next has started and before
# /next commits (the server holds /next back); that commit aborts it. The second document
# then aborts its own request for /hang: a real failure.
NAVIGATING_PAGES = {
    "/": b"<script>location.href = '/next'; setTimeout(() => fetch('/hang'), 300);</script>",
    "/next": b"""<script>
      const stop = new AbortController();
      fetch('/hang', { signal: stop.signal }).catch(() => {});
      setTimeout(() => stop.abort(), 300);
    </script>""",
}


class NavigatingPages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/hang":
            time.sleep(10)
        elif self.path == "/next":
            time.sleep(1.5)
        body = NAVIGATING_PAGES.get(self.path, b"")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the browser gave up on it: that is the point

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_visit_forgives_only_the_requests_a_later_document_cut_short(visit: Visit) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NavigatingPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        visit.page.goto(url + "/")
        visit.page.wait_for_url(url + "/next", timeout=20_000)
        deadline = time.monotonic() + 20
        while not visit.failed:
            assert time.monotonic() < deadline, "the second document's request was not aborted"
            visit.page.wait_for_timeout(50)
        visit.page.wait_for_timeout(300)
        assert visit.failed == [f"{url}/hang: net::ERR_ABORTED"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_on_nginx_with_the_generated_config_it_runs_threaded_without_a_reload(
    demo_dist: Dist, visit: Visit, tmp_path: Path
) -> None:
    with nginx.serving(demo_dist.root, tmp_path / "nginx") as url:
        assert "all checks passed" in visit.run_app(url)
        assert visit.navigations == [url]  # the host sent the headers: no reload
        assert registrations(visit.page) == 0  # and no service worker


def test_on_a_host_without_headers_the_service_worker_isolates_the_page(
    demo_dist: Dist, visit: Visit
) -> None:
    with plain_server(demo_dist.root) as url:
        visit.run_app(url)
        # Registered, then one reload under the service worker, which added the headers.
        assert visit.navigations == [url, url]
        assert visit.page.evaluate("navigator.serviceWorker.controller !== null")
        # The next visit is isolated from the start: no second reload.
        visit.navigations.clear()
        visit.page.goto(url)
        status, detail = wait_for_done(visit.page, timeout_s=120)
        assert status == "pass", detail
        assert visit.navigations == [url]


def test_preview_serves_the_dist_as_nginx_does(demo_dist: Dist, visit: Visit) -> None:
    with running(preview_app(demo_dist.root)) as url:
        visit.run_app(url)
        assert visit.navigations == [url]
        assert registrations(visit.page) == 0


def check_json(target: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "wbspawn", "check", str(target), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def test_check_judges_a_dist_as_it_will_be_deployed(demo_dist: Dist, tmp_path: Path) -> None:
    code, report = check_json(demo_dist.root)
    assert (code, report["status"]) == (0, "pass"), report["errors"]
    assert report["crate"] == "demo"
    assert report["build_s"] is None  # nothing was built
    assert report["waited_for"] == "done"
    assert report["cross_origin_isolated"] is True
    # The same dist without its wasm: what a broken deploy would do.
    broken = tmp_path / "dist"
    shutil.copytree(demo_dist.root, broken)
    (wasm,) = list(broken.rglob("*.wasm"))
    wasm.unlink()
    code, report = check_json(broken)
    assert (code, report["status"]) == (1, "fail")
    assert any(
        error["source"] == "request" and wasm.name in error["message"] for error in report["errors"]
    ), report["errors"]


def isolation_failure(page: Page) -> str:
    status, detail = wait_for_done(page, timeout_s=60)
    assert status == "fail"
    assert detail.startswith(ISOLATION_MESSAGE)
    shown = page.text_content("#wbspawn-isolation-error")
    assert shown == detail
    assert page.evaluate("crossOriginIsolated") is False
    return detail


def test_without_a_secure_context_the_page_says_why_once(
    demo_dist: Dist, browser_type: BrowserType
) -> None:
    # A name other than localhost over plain http is not a secure context: no service
    # workers, no SharedArrayBuffer.
    browser = browser_type.launch(
        executable_path=str(find_chromium()),
        args=[*LAUNCH_ARGS, "--host-resolver-rules=MAP wbspawn.test 127.0.0.1"],
    )
    try:
        page = browser.new_page()
        visit = Visit(page)
        with plain_server(demo_dist.root) as url:
            insecure = url.replace("127.0.0.1", "wbspawn.test")
            page.goto(insecure)
            detail = isolation_failure(page)
        assert "not served over https" in detail
        assert visit.console_errors == [detail]  # one message, and the app never started
        assert len(visit.navigations) == 1
        visit.errors.assert_none()
    finally:
        browser.close()


def test_without_service_workers_the_page_says_why_once(demo_dist: Dist, browser: Browser) -> None:
    context = browser.new_context(service_workers="block")
    try:
        page = context.new_page()
        visit = Visit(page)
        with plain_server(demo_dist.root) as url:
            page.goto(url)
            detail = isolation_failure(page)
        assert "service worker" in detail
        assert visit.console_errors == [detail]
        assert visit.navigations == [url]
    finally:
        context.close()


def test_stack_overflows_are_still_caught_after_wasm_opt(tmp_path: Path, browser: Browser) -> None:
    dist = built(LAB_DIR, tmp_path / "lab-dist")
    wasm = dist.root / dist.files["/pkg/lab_bg.wasm"]
    assert checks_state(wasm.read_bytes()) is True  # __set_stack_limits, starting wide open
    context = browser.new_context()
    try:
        page = context.new_page()
        errors = PageErrors(page)
        with running(preview_app(dist.root)) as url:
            page.goto(url)
            status, detail = wait_for_done(page, timeout_s=120)
            assert status == "pass", detail
            message = call(page, "overflow", "std")
            assert "stack overflow" in message
            assert "Builder::stack_size" in message
            # Nothing below the stack was overwritten: the runtime goes on.
            assert call(page, "spawn_join", "std", 8) == [i * i for i in range(8)]
        errors.assert_none()
    finally:
        context.close()


def test_a_new_app_builds_and_passes_check_outside_the_repository(tmp_path: Path) -> None:
    # Named like the demo so that it shares the demo's cached std (std takes minutes).
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_")}
    new = subprocess.run(
        [sys.executable, "-m", "wbspawn", "new", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert new.returncode == 0, new.stderr
    check = subprocess.run(
        [sys.executable, "-m", "wbspawn", "check", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("wbspawn check: PASS demo")
    assert "25997 primes below 300,000" in check.stdout
    # Nothing outside the app was needed or touched: its own lockfile, with the runtime.
    lock = (tmp_path / "demo" / "Cargo.lock").read_text()
    assert 'name = "wbspawn"' in lock
