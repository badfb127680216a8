"""Helpers for browser tests: calling the app, the done(...) signal, page errors.

They take a page of the engine layer (`wbspawn.check.browser.Page`: Chromium, Firefox or
WebKit, what the runtime tests use) or a Playwright page (the Chromium-only dev-loop and
dist tests, which drive Playwright directly).
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page as PlaywrightPage

from wbspawn.check.browser import Page

AnyPage = Page | PlaywrightPage

_CALL = "(name, args) => window.wbspawnApp.call(name, ...args)"
_CALLING = """(name, args) => window.wbspawnApp.call(name, ...args)
    .then(String, (e) => 'rejected: ' + e.message)"""
_DONE = """() => { const d = document.documentElement.dataset;
    return d.wbspawnStatus ? [d.wbspawnStatus, d.wbspawnDetail ?? ""] : null; }"""


def call(page: AnyPage, name: str, *args: Any) -> Any:
    """Calls an export of the app the page started (`window.wbspawnApp`) and returns its value."""
    if isinstance(page, Page):
        return page.evaluate(_CALL, name, list(args))
    return page.evaluate("([name, args]) => window.wbspawnApp.call(name, ...args)", [name, args])


def calling(page: Page, name: str, *args: Any) -> str:
    """Calls an export and returns its value or the rejection's message, as text."""
    return str(page.evaluate(_CALLING, name, list(args)))


def wait_for_done(page: AnyPage, timeout_s: float = 180) -> tuple[str, str]:
    """Waits for the page's done(ok, detail); returns (status, detail)."""
    if isinstance(page, Page):
        status, detail = page.wait_for(_DONE, timeout_s=timeout_s, interval_s=0.1)
        return str(status), str(detail)
    page.wait_for_selector("html[data-wbspawn-status]", timeout=timeout_s * 1000, state="attached")
    status = page.get_attribute("html", "data-wbspawn-status") or ""
    detail = page.get_attribute("html", "data-wbspawn-detail") or ""
    return status, detail


def open_lab(page: Page, base_url: str, query: str = "") -> None:
    """Opens the runtime lab (tests/apps/lab: the app started with runtime options from
    `query`) and waits until the app is ready."""
    page.open(f"{base_url}{query}")
    status, detail = wait_for_done(page, timeout_s=60)
    assert status == "pass", detail


def assert_no_uncaught(page: Page) -> None:
    """No uncaught error or unhandled rejection in the page or its workers."""
    assert page.uncaught() == [], f"uncaught in {page.engine}: {page.uncaught()}"


class PageErrors:
    """Uncaught errors from a Playwright page; any one fails the test that owns the page."""

    def __init__(self, page: PlaywrightPage) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def assert_none(self) -> None:
        assert self.errors == [], f"page errors: {self.errors}"


def said_in_the_console(page: Page, words: str, within_s: float) -> list[str]:
    """Waits until a console.error of the page or a worker contains `words`; all of them."""
    deadline = time.monotonic() + within_s
    while not any(words in e for e in page.console_errors()) and time.monotonic() < deadline:
        page.pause(0.2)
    return page.console_errors()


def wait_until_started(page: Page, idle: int) -> None:
    """Waits until `idle` workers are parked in the pool and the dispatcher has its instance.
    That instance's stack comes from the shared heap too, and it may come up after the
    prestarted workers: a memory reading taken before then sees it grow the heap (4 pages)."""
    page.wait_for(
        f"""() => window.wbspawnApp.poolState().then(
            (pool) => pool.started && pool.idle === {idle} && pool.booting === 0)""",
        timeout_s=30,
    )
