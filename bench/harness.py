"""What every `make bench` suite shares: building the bench apps, serving them, a fresh page
per measurement in a headless browser (any engine, through wbspawn's engine layer), and the
machine's description."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from wbspawn import assets
from wbspawn.build.toolchain import Toolchain, find_wasm_bindgen, wasm_bindgen_version
from wbspawn.check.browser import Browser, BrowserError
from wbspawn.config import Config
from wbspawn.serve.app import Files, runtime_routes
from wbspawn.serve.headers import ISOLATION_HEADERS, HeadersMiddleware

BENCH = Path(__file__).resolve().parent
APPS = BENCH / "apps"
MIB = 1 << 20
SETTLE_S = 0.5


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def our_config() -> Config:
    """wbspawn's bench app, for release, with wbspawn's defaults (std threads, stack checks)."""
    return Config(app_dir=APPS / "wbspawn-bench", release=True)


def peer_config(app: str) -> Config:
    """A peer runtime's bench app, for release. The peer starts its threads itself: std as the
    toolchain has it (the patched one would call into wbspawn, which it does not link), and no
    stack checks (they need wbspawn's workers to set each stack's bounds)."""
    return Config(app_dir=APPS / app, release=True, std_threads=False, stack_check=False)


def release_build(toolchain: Toolchain, **more: str) -> dict[str, str]:
    """How the measured apps were built, for a report."""
    return {
        "profile": "release",
        "wasm_bindgen": wasm_bindgen_version(find_wasm_bindgen()),
        "toolchain": toolchain.kind,
        **more,
    }


def write_report(out: Path, fields: Mapping[str, Any]) -> None:
    """Writes a bench's JSON report to `out`: when, on what machine, then `fields`."""
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        **fields,
    }
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nbench: wrote {out}", file=sys.stderr)


def bench_app(packages: Mapping[str, Path]) -> ASGIApp:
    """The bench page (bench/web), the runtime's scripts (as the dev server serves them: at a
    versioned URL cached for good), and each app's package at /bench-pkg/<name>/, all
    cross-origin isolated."""
    routes = runtime_routes(assets.runtime_js_dir())
    routes += [
        Mount(f"/bench-pkg/{name}", app=Files(directory=path)) for name, path in packages.items()
    ]
    routes.append(Mount("/", app=Files(directory=BENCH / "web", html=True)))
    return HeadersMiddleware(Starlette(routes=routes), ISOLATION_HEADERS)


STATUS_JS = """() => { const d = document.documentElement.dataset;
    return d.wbspawnStatus ? [d.wbspawnStatus, d.wbspawnDetail ?? ""] : null; }"""

# Calls an export of the page's bench app; never throws, never waits past the timeout.
CALL_JS = """async ([name, args, ms]) => Promise.race([
    window.bench.call(name, ...args).then(
        (value) => ({ ok: true, value }),
        (error) => ({ ok: false, error: String(error) })),
    new Promise((resolve) => setTimeout(
        () => resolve({ ok: false, error: `no answer within ${ms / 1000} s` }), ms)),
])"""


class Failed(Exception):
    """A measurement that could not finish; its message goes in the table."""


class Session:
    """One fresh page (fresh wasm memory) with one runtime's bench app started."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.page = browser.new_page()
        try:
            self.page.open(url)
            status = self.page.wait_for(STATUS_JS, timeout_s=60)
        except BrowserError as exc:
            self.page.close()
            raise Failed(f"did not start: {str(exc).splitlines()[0]}") from exc
        if status[0] != "pass":
            self.page.close()
            raise Failed(f"did not start: {status[1]}")

    def call(self, name: str, *args: Any, timeout_s: float = 120) -> Any:
        return self.evaluate(CALL_JS, [name, list(args), timeout_s * 1000], timeout_s=timeout_s)

    def evaluate(self, expression: str, *args: Any, timeout_s: float = 120) -> Any:
        """`expression` in the page; its own {ok, value|error} or a throw becomes Failed."""
        try:
            outcome = self.page.evaluate(expression, *args, timeout_s=timeout_s + 10)
        except BrowserError as exc:
            raise Failed(str(exc).splitlines()[0]) from exc
        if isinstance(outcome, dict) and "ok" in outcome:
            if not outcome["ok"]:
                raise Failed(str(outcome["error"]))
            return outcome["value"]
        return outcome

    def close(self) -> None:
        self.page.close()


class Driver:
    """Runs each measurement on a fresh page; records a failure instead of stopping."""

    def __init__(self, browser: Browser, base_url: str, runtime: str) -> None:
        self.browser, self.base_url, self.runtime = browser, base_url, runtime
        self.results: dict[str, Any] = {}

    def measure(self, key: str, run: Callable[[Session], dict[str, Any]], query: str = "") -> None:
        try:
            session = Session(self.browser, f"{self.base_url}?runtime={self.runtime}&{query}")
        except Failed as failure:
            self.results[key] = {"error": str(failure)}
        else:
            try:
                self.results[key] = run(session)
            except Failed as failure:
                self.results[key] = {"error": str(failure)}
            finally:
                session.close()
                # The closed page's workers end in the background: let them go before the next
                # page is timed, or its start-up competes with their teardown for the cores.
                time.sleep(SETTLE_S)
        print(f"  {self.runtime:10} {key:14} {self.results[key]}", file=sys.stderr, flush=True)

    def measure_pages(
        self, key: str, run: Callable[[Session], dict[str, float]], pages: int, query: str = ""
    ) -> None:
        """`measure` on `pages` fresh pages, keeping the median of each number: one fresh page
        swings by an order of magnitude on a busy machine."""
        samples = []
        for page in range(pages):
            self.measure(f"{key}#{page + 1}", run, query)
            samples.append(self.results.pop(f"{key}#{page + 1}"))
        good = [sample for sample in samples if "error" not in sample]
        if not good:
            self.results[key] = samples[-1]
            return
        medians = {field: statistics.median(s[field] for s in good) for field in good[0]}
        self.results[key] = {**medians, "pages": len(good)}


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": model, "os": platform.platform()}


def lookup(results: Mapping[str, Any], *keys: Any) -> float | None:
    value: Any = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return None if value is None else float(value)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    return f"{value:,.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"
