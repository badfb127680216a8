"""`wbspawn new --template dom` and `--template yew`: apps whose Rust owns the page, served and
clicked in every engine, checked and built for release by wbspawn's own commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PageTemplate:
    variant: str
    # Where the click's answer shows.
    said: str
    # Served and checked as release builds: the release build compiles the dependencies
    # anyway, and Yew's are too many to compile twice here (`make setup` prebuilds the dom
    # template's debug ones).
    release: bool


TEMPLATES = [PageTemplate("dom", "#result", False), PageTemplate("yew", "main .said", True)]

CLICK = """() => document.querySelector("button").click()"""
SAID = """(selector) => {
    const text = document.querySelector(selector)?.textContent ?? "";
    return text.includes("primes below 3,000,000 on") ? text : null;
}"""


@pytest.fixture(scope="module", params=TEMPLATES, ids=lambda t: t.variant)
def template(request: pytest.FixtureRequest) -> PageTemplate:
    chosen: PageTemplate = request.param
    return chosen


@pytest.fixture(scope="module")
def page_app(template: PageTemplate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_app(tmp_path_factory.mktemp("apps") / "page-app", variant=template.variant).dir


@pytest.fixture(scope="module")
def page_url(page_app: Path, template: PageTemplate) -> Iterator[str]:
    config = Config(app_dir=page_app, release=template.release)
    with running(create_app(config, build(config, discover()))) as url:
        yield url


def test_rust_builds_the_page_and_a_click_counts_on_threads(
    new_page: NewPage, page_url: str, template: PageTemplate
) -> None:
    page = new_page()
    page.open(page_url)
    status, detail = wait_for_done(page, timeout_s=60)
    assert (status, detail) == ("pass", "25997 primes below 300,000")
    # The page's own heading and paragraph are still there, beside what Rust added.
    shown = page.evaluate(
        "() => [document.querySelector('h1')?.textContent, "
        "document.getElementById('result')?.textContent]"
    )
    assert shown == ["page-app", "25997 primes below 300,000"], shown
    # The page's own start function made the button; its handler awaits the count.
    page.evaluate(CLICK)
    said = page.wait_for(SAID, template.said, timeout_s=60)
    assert said.startswith("216816 primes below 3,000,000 on "), said
    # The click never made the page wait: no warning from the main thread.
    waited = [m.text for m in page.console if "main thread waited" in m.text]
    assert waited == [], waited
    assert_no_uncaught(page)


def wbspawn(*args: str) -> str:
    # Its own process, as a user runs it (the engines of this test run live in this one).
    proc = subprocess.run(
        [sys.executable, "-m", "wbspawn", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_check_passes_and_so_does_the_release_dist(page_app: Path, template: PageTemplate) -> None:
    # The test above runs the served app in every engine; this is the commands a user runs.
    release = ["--release"] if template.release else []
    checked = json.loads(wbspawn("check", str(page_app), "--json", "--browser", "all", *release))
    for engine, report in checked["engines"].items():
        assert report["done"] == {"ok": True, "detail": "25997 primes below 300,000"}, engine
    wbspawn("build", str(page_app))
    wbspawn("check", str(page_app / "dist"))
