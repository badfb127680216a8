"""Helpers for browser tests: page errors and the done(...) signal."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page


def call(page: Page, name: str, *args: Any) -> Any:
    """Calls an export of the app the page started (`window.wbspawnApp`) and returns its value."""
    return page.evaluate("([name, args]) => window.wbspawnApp.call(name, ...args)", [name, args])


class PageErrors:
    """Uncaught errors from a page; any one fails the test that owns the page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def assert_none(self) -> None:
        assert self.errors == [], f"page errors: {self.errors}"


def wait_for_done(page: Page, timeout_s: float = 180) -> tuple[str, str]:
    """Waits for the page's done(ok, detail); returns (status, detail)."""
    page.wait_for_selector("html[data-wbspawn-status]", timeout=timeout_s * 1000, state="attached")
    status = page.get_attribute("html", "data-wbspawn-status") or ""
    detail = page.get_attribute("html", "data-wbspawn-detail") or ""
    return status, detail


def open_lab(page: Page, base_url: str, query: str = "") -> None:
    """Opens the runtime lab (tests/apps/lab: the app started with runtime options from
    `query`) and waits until the app is ready."""
    page.goto(f"{base_url}{query}")
    status, detail = wait_for_done(page, timeout_s=60)
    assert status == "pass", detail
