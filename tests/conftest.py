"""Shared fixtures, each named for what it gives. Browser fixtures go at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import stat
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import Page as PlaywrightPage
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from apps import DEMO_DIR as DEMO_DIR
from apps import LAB_DIR as LAB_DIR
from apps import REPO as REPO
from apps import copy_app as copy_app
from pages import PageErrors, assert_no_uncaught, open_lab
from wbspawn.build.pipeline import BuildResult, build
from wbspawn.build.toolchain import discover
from wbspawn.check import chromium, engines
from wbspawn.check.browser import ENGINE_NAMES
from wbspawn.check.browser import Browser as EngineBrowser
from wbspawn.check.browser import Page as EnginePage
from wbspawn.check.chromium import LAUNCH_ARGS, find_chromium
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.protocols import HEADER_TIMEOUT_S
from wbspawn.serve.server import running

FAKES = Path(__file__).parent / "fakes"


def pytest_configure(config: pytest.Config) -> None:
    # The Ctrl-C tests send SIGINT to the servers and builds they start. A shell without job
    # control starts a background command with SIGINT ignored (`make test &` in a script), and
    # an ignored signal stays ignored across exec: Python would then install no
    # KeyboardInterrupt handler and those children would not stop. A handled signal is reset
    # to the default on exec, so handling it here gives every child the usual Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)


T = TypeVar("T")

CARGO_TOML = """\
[package]
name = "demo"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
wasm-bindgen = "=0.2.100"
"""

CARGO_LOCK = """\
version = 4

[[package]]
name = "demo"
version = "0.1.0"
dependencies = ["wasm-bindgen"]

[[package]]
name = "wasm-bindgen"
version = "0.2.100"
source = "registry+https://github.com/rust-lang/crates.io-index"
"""


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main) on a thread of its own.

    Playwright's sync API (the browser tests) leaves an event loop marked running on the
    main thread for the rest of the session, and asyncio.run refuses to start beside it.
    """
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(main))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="run-async")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


@pytest.fixture
def unused_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def crate_dir(tmp_path: Path) -> Path:
    """A cdylib crate named `demo` that depends on wasm-bindgen 0.2.100 (locked)."""
    crate = tmp_path / "demo"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(CARGO_TOML)
    (crate / "Cargo.lock").write_text(CARGO_LOCK)
    (crate / "src" / "lib.rs").write_text("")
    return crate


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def config(crate_dir: Path, cache_dir: Path) -> Config:
    return Config(app_dir=crate_dir, cache_dir=cache_dir)


def write_executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def python_wrapper(path: Path, script: Path) -> Path:
    return write_executable(path, f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')


@dataclass(frozen=True)
class FakeTools:
    cargo: Path
    rustc: Path
    wasm_bindgen: Path
    cargo_log: Path
    # The environment that selects them, for subprocesses (already set in os.environ).
    env: dict[str, str]


# Answers as a compiler does where the build asks (its version, its sysroot: one without
# std's sources, so std threads are off and the fake cargo makes the std).
FAKE_RUSTC = """#!/bin/sh
case "$*" in
  -vV) printf 'rustc 1.96.0 (fake)\\nrelease: 1.96.0\\ncommit-hash: 0123456789abcdef\\n' ;;
  "--print sysroot") echo SYSROOT/fake-sysroot ;;
  *) echo rustc 1.96.0 ;;
esac
"""


@pytest.fixture
def fake_tools(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    """Fake cargo, rustc, wasm-bindgen, wasm-opt, stack-check pass and splice, selected through
    WBSPAWN_* variables."""
    bin_dir = tmp_path / "fake-bin"
    cargo = python_wrapper(bin_dir / "cargo", FAKES / "cargo.py")
    rustc = write_executable(bin_dir / "rustc", FAKE_RUSTC.replace("SYSROOT", str(tmp_path)))
    wasm_bindgen = python_wrapper(bin_dir / "wasm-bindgen", FAKES / "wasm_bindgen.py")
    wasm_opt = python_wrapper(bin_dir / "wasm-opt", FAKES / "wasm_opt.py")
    stackcheck = python_wrapper(bin_dir / "wbspawn-stackcheck", FAKES / "stackcheck.py")
    splicer = python_wrapper(bin_dir / "wbspawn-bindgen-splice", FAKES / "splice.py")
    cargo_log = tmp_path / "cargo-calls.jsonl"
    selection = {
        "WBSPAWN_CARGO": str(cargo),
        "WBSPAWN_RUSTC": str(rustc),
        "WBSPAWN_WASM_BINDGEN": str(wasm_bindgen),
        "WBSPAWN_WASM_OPT": str(wasm_opt),
        "WBSPAWN_STACKCHECK": str(stackcheck),
        "WBSPAWN_BINDGEN_SPLICE": str(splicer),
        "FAKE_SPLICE_LOG": str(tmp_path / "splice-calls.log"),
        "FAKE_STACKCHECK_LOG": str(tmp_path / "stackcheck-calls.log"),
        "FAKE_WASM_OPT_LOG": str(tmp_path / "wasm-opt-calls.log"),
        "WBSPAWN_CACHE_DIR": str(cache_dir),
        "FAKE_CARGO_LOG": str(cargo_log),
    }
    for name, value in selection.items():
        monkeypatch.setenv(name, value)
    return FakeTools(cargo, rustc, wasm_bindgen, cargo_log, env=dict(os.environ))


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class CargoChild:
    """What FAKE_CARGO_CHILD reports: the fake cargo's pid and its sleeping child's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[int] = []

    def pids(self, timeout: float = 60) -> dict[str, int]:
        """The pids of the build running now (remove `path` to wait for the next one)."""
        deadline = time.monotonic() + timeout
        while not (self.path.exists() and self.path.read_text()):
            assert time.monotonic() < deadline, "the fake cargo never started its child"
            time.sleep(0.02)
        pids: dict[str, int] = json.loads(self.path.read_text())
        self.seen += pids.values()
        return pids


@pytest.fixture
def cargo_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CargoChild]:
    """Makes the fake cargo start a child process (as cargo starts rustc); kills whatever
    of them is left after the test."""
    child = CargoChild(tmp_path / "cargo-child.json")
    monkeypatch.setenv("FAKE_CARGO_CHILD", str(child.path))
    yield child
    if child.path.exists() and child.path.read_text():
        child.pids()
    for pid in child.seen:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def build_output(tmp_path: Path) -> BuildResult:
    """What a build of `demo` leaves behind, without building."""
    out_dir = tmp_path / "out" / "pkg"
    out_dir.mkdir(parents=True)
    (out_dir / "demo.js").write_text("export default function init() {}\n")
    (out_dir / "demo_bg.wasm").write_bytes(b"\0asm\x01\0\0\0")
    return BuildResult(
        out_dir=out_dir,
        js_name="demo.js",
        wasm_name="demo_bg.wasm",
        crate_name="demo",
        duration_s=0.0,
        cargo_s=0.0,
        bindgen_s=0.0,
    )


@pytest.fixture
def runtime_js_dir(tmp_path: Path) -> Path:
    """A stand-in for runtime-js/ (the real one belongs to the JS runtime's tests)."""
    runtime = tmp_path / "runtime-js"
    runtime.mkdir()
    (runtime / "bootstrap.js").write_text("export async function start() {}\n")
    (runtime / "worker.js").write_text("self.onmessage = () => {};\n")
    return runtime


@pytest.fixture
def client(config: Config, build_output: BuildResult, runtime_js_dir: Path) -> Iterator[TestClient]:
    """The dev server app for `crate_dir`, in process; static/ is the repo's real one."""
    app = create_app(config, build_output, runtime_js_dir=runtime_js_dir)
    # An allowed Host (hosts.py): TestClient's default "testserver" is not one.
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


class Served:
    """A real server (uvicorn in a thread, as `wbspawn serve` runs it) and what it logs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.records: list[logging.LogRecord] = []

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http").rstrip("/") + "/_wbspawn/ws"

    def round_trip(self) -> None:
        """One request answered: the server's event loop is past whatever came before, and
        has logged what it logs for it (uvicorn logs as a handler returns, before the loop
        runs anything else)."""
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            self.url + "_wbspawn/static/reload.js", timeout=30
        ):
            pass

    def complaints(self) -> list[str]:
        """What it logged at WARNING or above: what a developer would see in the terminal."""
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@contextlib.contextmanager
def serving(app: ASGIApp, header_timeout: float = HEADER_TIMEOUT_S) -> Iterator[Served]:
    """`running(app)` with uvicorn's log (the "uvicorn.error" logger) collected."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            served.records.append(record)

    handler = Collect()
    with running(app, header_timeout=header_timeout) as url:
        served = Served(url)
        # Added once uvicorn has configured its logging (it replaces its loggers' handlers).
        logger = logging.getLogger("uvicorn.error")
        logger.addHandler(handler)
        try:
            yield served
        finally:
            logger.removeHandler(handler)


# --- Browser tests: the real demo and the runtime lab, built once per session ----------------
#
# The runtime's tests run in every engine: `engine` is one running browser per engine
# (Chromium through Playwright, Firefox through WebDriver BiDi, WebKitGTK through its
# inspector; wbspawn/check/), and each test is collected once per engine: test_x[firefox].
# A test an engine cannot run says why with @pytest.mark.not_in("webkit", reason="..."), which
# skips it there with that reason. The dev-loop and dist tests drive Playwright's Chromium
# directly (`browser`, `fresh_page` below).


def chromium_path() -> str:
    return str(find_chromium())


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Playwright's own browser download does not exist here; Debian's Chromium does. The
    # flags keep it from calling home (this machine has no network beyond localhost).
    return {
        **browser_type_launch_args,
        "executable_path": chromium_path(),
        "args": list(LAUNCH_ARGS),
    }


@pytest.fixture
def fresh_page(browser: PlaywrightBrowser) -> Iterator[tuple[PlaywrightPage, PageErrors]]:
    """A Chromium page (Playwright) in a context of its own, with its errors collected."""
    context = browser.new_context()
    page = context.new_page()
    errors = PageErrors(page)
    yield page, errors
    context.close()


@pytest.fixture(autouse=True)
def _skip_where_marked(request: pytest.FixtureRequest) -> None:
    """@pytest.mark.not_in("webkit", reason=...): skip in those engines, naming the reason."""
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("engine") if callspec is not None else None
    for marker in request.node.iter_markers("not_in"):
        if name in marker.args:
            pytest.skip(f"not in {name}: {marker.kwargs['reason']}")


@pytest.fixture(scope="session", params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> Iterator[EngineBrowser]:
    """One running browser per engine, for the whole session (pytest runs one engine's
    tests, then the next's)."""
    name: str = request.param
    if name == "chromium":
        # pytest-playwright's Playwright: one sync Playwright per process.
        browser: EngineBrowser = chromium.launch(playwright=request.getfixturevalue("playwright"))
    else:
        browser = engines.launch(name)
    yield browser
    browser.close()


NewPage = Callable[[], EnginePage]
OPENED_PAGES = pytest.StashKey[list[EnginePage]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # A hang in a browser says nothing in the traceback ("no result within 120 s"); the
    # runtime's own warnings (a stalled pool, a worker that never started) are in the console,
    # and its dispatcher still answers where the threads wait. A teardown's failure too:
    # new_lab's check for uncaught errors runs there.
    report: pytest.TestReport = yield
    pages = item.stash.get(OPENED_PAGES, [])
    if report.failed and pages:
        report.sections.append(("page consoles", page_transcript(pages)))
    return report


# The pool as the runtime's dispatcher sees it (`app.poolState()`), if the page started an app.
POOL_STATE = "() => window.wbspawnApp?.poolState?.() ?? null"


def page_transcript(pages: list[EnginePage]) -> str:
    lines = []
    for number, page in enumerate(pages, 1):
        lines.append(f"page {number}:")
        lines += [f"  [{m.level}] {m.text}" for m in page.console] or ["  (nothing)"]
        lines.append(f"  pool: {pool_state(page)}")
    return "\n".join(lines)


def pool_state(page: EnginePage) -> str:
    try:
        return json.dumps(page.evaluate(POOL_STATE, timeout_s=5))
    except Exception as exc:  # a closed or stuck page must not hide the failure
        return f"(no answer: {exc})"


@pytest.fixture
def new_page(engine: EngineBrowser, request: pytest.FixtureRequest) -> Iterator[NewPage]:
    """Opens fresh pages (no cache, no storage) in this test's engine; closed after the test.
    A failing test's report shows what their consoles said."""
    pages: list[EnginePage] = []
    request.node.stash[OPENED_PAGES] = pages

    def open_page() -> EnginePage:
        page = engine.new_page()
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.close()


@pytest.fixture
def tab(new_page: NewPage) -> EnginePage:
    """One fresh page in this test's engine."""
    return new_page()


@pytest.fixture(scope="session")
def demo_config() -> Config:
    return Config(app_dir=DEMO_DIR)


@pytest.fixture(scope="session")
def demo_build(demo_config: Config) -> BuildResult:
    """examples/demo built for real (incremental after the first run: the cache persists)."""
    return build(demo_config, discover())


@pytest.fixture(scope="session")
def demo_url(demo_config: Config, demo_build: BuildResult) -> Iterator[str]:
    """The dev server for the demo, on a free port, for the whole session."""
    with running(create_app(demo_config, demo_build)) as url:
        yield url


@pytest.fixture(scope="session")
def lab_config() -> Config:
    return Config(app_dir=LAB_DIR)


@pytest.fixture(scope="session")
def lab_url(lab_config: Config) -> Iterator[str]:
    """The runtime lab (tests/apps/lab), built once and served for the whole session."""
    with running(create_app(lab_config, build(lab_config, discover()))) as url:
        yield url


@pytest.fixture(scope="session")
def lab_unwind_url() -> Iterator[str]:
    """The runtime lab built with panic=unwind (its own std), served for the whole session."""
    config = Config(app_dir=LAB_DIR, panic="unwind")
    with running(create_app(config, build(config, discover()))) as url:
        yield url


@pytest.fixture(scope="module", params=["abort", "unwind"])
def lab_url_for_panic(request: pytest.FixtureRequest) -> str:
    """The lab built with panics that abort (the default) or unwind."""
    url: str = request.getfixturevalue("lab_url" if request.param == "abort" else "lab_unwind_url")
    return url


OpenLab = Callable[..., EnginePage]


@pytest.fixture
def new_lab(new_page: NewPage, lab_url: str) -> Iterator[OpenLab]:
    """Opens the lab in a fresh page with runtime options (`?prestart=0&...`); every page it
    opened must end without an uncaught error."""
    pages: list[EnginePage] = []

    def open_page(query: str = "", url: str = lab_url) -> EnginePage:
        page = new_page()
        pages.append(page)
        open_lab(page, url, query)
        return page

    yield open_page
    for page in pages:
        assert_no_uncaught(page)
