"""`wbspawn new --template dom`: an app whose Rust owns the page, served and clicked in every
engine, checked and built for release by wbspawn's own commands."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import NewPage
from pages import assert_no_uncaught, wait_for_done
from wbspawn.build.pipeline import build
from wbspawn.build.toolchain import discover
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.server import running
from wbspawn.ship.template import new_app

pytestmark = [pytest.mark.browser, pytest.mark.build]

CLICKED = """() => {
    document.querySelector("button").click();
    return document.getElementById("result").textContent;
}"""
RESULT = """() => {
    const text = document.getElementById("result").textContent;
    return text.includes("primes below 3,000,000 on") ? text : null;
}"""


@pytest.fixture(scope="module")
def dom_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_app(tmp_path_factory.mktemp("apps") / "page-app", variant="dom").dir


@pytest.fixture(scope="module")
def dom_url(dom_app: Path) -> Iterator[str]:
    config = Config(app_dir=dom_app)
    with running(create_app(config, build(config, discover()))) as url:
        yield url


def test_the_page_is_built_by_rust_and_a_click_counts_on_threads(
    new_page: NewPage, dom_url: str
) -> None:
    page = new_page()
    page.open(dom_url)
    status, detail = wait_for_done(page, timeout_s=60)
    assert (status, detail) == ("pass", "25997 primes below 300,000")
    # The page's own start function made the button; its handler awaits the count.
    assert page.evaluate(CLICKED) == "counting…"
    said = page.wait_for(RESULT, timeout_s=60)
    assert said.startswith("216816 primes below 3,000,000 on "), said
    # The click never made the page wait: no warning from the main thread.
    waited = [m.text for m in page.console if "main thread waited" in m.text]
    assert waited == [], waited
    assert_no_uncaught(page)


def wbspawn(*args: str) -> None:
    # Its own process, as a user runs it (the engines of this test run live in this one).
    proc = subprocess.run(
        [sys.executable, "-m", "wbspawn", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_passes_and_so_does_the_release_dist(dom_app: Path) -> None:
    # The test above runs the served app in every engine; this is the commands a user runs.
    wbspawn("check", str(dom_app))
    wbspawn("build", str(dom_app))
    wbspawn("check", str(dom_app / "dist"))
