"""The dev loop's speed, as a person feels it: `make bench-devloop`.

Runs `wbspawn serve` on a copy of the demo (a light page that starts the app and shows the
number its `devloop_marker` export returns) and measures, in headless Chromium:

- HTML edit -> page reloaded: from writing index.html to the new document running its
  first script, on the page's clock (p50 and p95 over 20 edits; each edit waits until the
  page before has started its app).
- Rust edit -> new code running: from writing src/lib.rs to the moment the page has the new
  number from the app (timed inside the page: no polling delay counts), split into cargo,
  wasm-bindgen and the stack-check pass (as the server timed them, sent with the message that
  ends the build), the server's own part (noticing the change, the rest of the build, telling
  the page) and the page's part after the build's end (fetching the wasm it waited for, its
  compile, the instance, the first call). The page reloads as the build starts (serve/
  rebuild.py): the table says how many new documents started before the build ended, and
  when. These edits change one function: wasm-bindgen's last output is spliced, not rebuilt
  (build/splice.py); the table says how many were.
- Rust edit adding an export: the same, for edits wasm-bindgen must see (a new export each).
- The Rust edits again on a server started with `--no-early-reload` (pages reload after the
  build): what the early reload changes in the whole, cargo included.

Prints a table and writes bench/devloop.json (date, machine, numbers). Timings belong here,
never in tests.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright
from websockets.sync.client import ClientConnection

from wbspawn.check.chromium import LAUNCH_ARGS, chromium_version, find_chromium

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "devloop.json"
HTML_EDITS = 20
RUST_EDITS = 10  # after one warm-up edit
# Edits that add an export: wasm-bindgen must run (no splice of its last output).
EXPORT_EDITS = 3

# Each new document says so on the console: the bench waits for console messages (which the
# browser sends anyway) and never asks the page anything while it loads. Playwright's waits
# (wait_for_function, locators) inject its utility script into every new document, a 330 KB
# compile on the page's thread, and then poll it every frame: work no user's page does, on the
# path being timed.
INDEX = """<!doctype html>
<html><head><meta charset="utf-8">
<script type="module" src="main.js"></script>
</head><body><p id="n">EDIT</p><p id="marker">…</p>
<script>console.log(`devloop-html EDIT ${performance.timeOrigin + performance.now()}`)</script>
</body></html>
"""
# Times on the page's clock, in ms since the Unix epoch (timeOrigin is when the document's
# navigation started): the bench compares them with the time it wrote the edit.
MAIN = """import { done, start } from "/_wbspawn/bootstrap.js";
const now = () => performance.timeOrigin + performance.now();
const app = await start("/pkg/demo.js");
const started = now();
const marker = await app.call("devloop_marker");
const times = { navigation: performance.timeOrigin, started, running: now(), marker };
document.getElementById("marker").textContent = String(marker);
console.log(`devloop-rust ${JSON.stringify(times)}`);
done(true);
"""
MARKER = """
#[wasm_bindgen]
pub fn devloop_marker() -> u32 {
    VALUE
}
"""
EXPORT = """
#[wasm_bindgen]
pub fn devloop_export_VALUE() -> u32 {
    VALUE
}
"""


def _load(name: str) -> ModuleType:
    """A helper module of the test suite (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / f"{name}.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load tests/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


apps = _load("apps")
devserver = _load("devserver")


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Messages:
    """The server's websocket messages, each with the time it arrived."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for raw in self.ws:
                with self.lock:
                    self.seen.append((time.perf_counter(), json.loads(raw)))
                    self.lock.notify_all()
        except Exception:  # noqa: S110 - the socket closes when the bench ends
            pass

    def first_after(
        self, start: float, want: Callable[[dict[str, Any]], bool], timeout: float = 600
    ) -> tuple[float, dict[str, Any]]:
        deadline = time.perf_counter() + timeout
        with self.lock:
            while True:
                for at, message in self.seen:
                    if at >= start and want(message):
                        return at, message
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError("no such message from the server")
                self.lock.wait(left)


def set_marker(app: Path, value: int, *, export: bool = False) -> None:
    """The marker returns `value`; with `export`, an export named after it comes too."""
    original = (apps.DEMO_DIR / "src" / "lib.rs").read_text()
    added = MARKER + (EXPORT if export else "")
    (app / "src" / "lib.rs").write_text(original + added.replace("VALUE", str(value)))


class Console:
    """The page's console lines, in order, from one listener that lives as long as the page:
    a line that comes before the bench waits for it is kept, never missed (Playwright delivers
    an event only to listeners present when it arrives)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.lines: list[str] = []
        page.on("console", lambda message: self.lines.append(message.text))

    def mark(self) -> int:
        return len(self.lines)

    def wait_for(self, prefix: str, since: int, timeout: float = 600) -> tuple[int, str]:
        """The first line from index `since` on that starts with `prefix`: its index and the
        rest of it."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(since, len(self.lines)):
                if self.lines[index].startswith(prefix):
                    return index, self.lines[index][len(prefix) :]
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page said no {prefix!r} within {timeout:g} s")
            # A timer in Playwright's driver, nothing asked of the page: it lets the events in.
            self.page.wait_for_timeout(5)

    def app_started(self, since: int, timeout: float = 600) -> tuple[int, dict[str, Any]]:
        index, rest = self.wait_for("devloop-rust ", since, timeout)
        return index, json.loads(rest)


@contextlib.contextmanager
def served(app: Path, browser: Browser, *args: str) -> Iterator[tuple[Console, Messages]]:
    """`wbspawn serve APP *args`, its messages, and a page of it that has started the app."""
    server = devserver.DevServer(app, *args)
    try:
        with server.socket() as ws:
            page = browser.new_page()
            console = Console(page)
            page.goto(server.url)
            console.app_started(0, timeout=120)
            yield console, Messages(ws)
            page.close()
    finally:
        server.stop()


def bench_html(console: Console, app: Path, messages: Messages) -> tuple[list[float], list[float]]:
    """(edit -> page reloaded, edit -> the server's reload message) for each edit, in ms."""
    samples, server = [], []
    for i in range(1, HTML_EDITS + 1):
        time.sleep(0.3)  # the app's workers settle: each load starts from quiet
        since = console.mark()
        started = time.perf_counter()
        edited_ms = time.time() * 1000  # the page's clock counts from the same epoch
        (app / "index.html").write_text(INDEX.replace("EDIT", str(i)))
        index, parsed_ms = console.wait_for(f"devloop-html {i} ", since, timeout=60)
        samples.append(float(parsed_ms) - edited_ms)
        told, _ = messages.first_after(
            started, lambda m: m["type"] == "reload" and "index.html" in m.get("paths", [])
        )
        server.append((told - started) * 1000)
        console.app_started(index)  # the next edit comes once this page has started its app
    return samples, server


def bench_rust(
    console: Console, app: Path, messages: Messages, edits: int, *, export: bool = False
) -> list[dict[str, float]]:
    """Each edit's times; `export`: each edit adds an export (wasm-bindgen runs)."""
    runs = []
    for i in range(edits + 1):
        time.sleep(0.3)
        value = (1000 if export else 100) + i
        since = console.mark()
        started = time.perf_counter()
        edited_ms = time.time() * 1000  # the page's clock counts from the same epoch
        set_marker(app, value, export=export)
        built_at, built = messages.first_after(started, devserver.good_build)
        told_ms = edited_ms + (built_at - started) * 1000
        since, seen = console.app_started(since)
        while seen["marker"] != value:  # a page of the build before (a reload in between)
            since, seen = console.app_started(since + 1)
        timing = built["build"]
        run = {
            "total_ms": seen["running"] - edited_ms,
            "cargo_ms": timing["cargo_s"] * 1000,
            "bindgen_ms": timing["bindgen_s"] * 1000,
            "stackcheck_ms": timing.get("stackcheck_s", 0.0) * 1000,
            "server_ms": told_ms - edited_ms - timing["duration_s"] * 1000,
            "build_rest_ms": (
                timing["duration_s"]
                - timing["cargo_s"]
                - timing["bindgen_s"]
                - timing.get("stackcheck_s", 0.0)
            )
            * 1000,
            "navigation_ms": seen["navigation"] - edited_ms,
            "after_build_ms": seen["running"] - told_ms,
            "start_ms": seen["started"] - seen["navigation"],
            "call_ms": seen["running"] - seen["started"],
            "spliced": 1.0 if timing.get("spliced") else 0.0,
            "early": 1.0 if seen["navigation"] < told_ms else 0.0,
        }
        run["overhead_ms"] = run["total_ms"] - run["cargo_ms"]
        if i > 0:  # the first edit warms caches up
            runs.append(run)
    return runs


def main() -> int:
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="wbspawn-devloop-") as tmp, sync_playwright() as pw:
        app = apps.copy_app(apps.DEMO_DIR, Path(tmp) / "demo")
        (app / "index.html").write_text(INDEX)
        (app / "main.js").write_text(MAIN)
        set_marker(app, 1)
        print("bench-devloop: building a copy of the demo…", file=sys.stderr, flush=True)
        browser = pw.chromium.launch(executable_path=str(chromium), args=list(LAUNCH_ARGS))
        with served(app, browser) as (console, messages):
            html, html_server = bench_html(console, app, messages)
            rust = bench_rust(console, app, messages, RUST_EDITS)
            exported = bench_rust(console, app, messages, EXPORT_EDITS, export=True)
        # The same edits with pages reloading only after the build, for the difference the
        # early reload makes to the whole (the page's start competes with cargo for the CPU).
        with served(app, browser, "--no-early-reload") as (console, messages):
            late = bench_rust(console, app, messages, RUST_EDITS)
        browser.close()

    def column(name: str) -> list[float]:
        return [run[name] for run in rust]

    results: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu_model(),
            "chromium": chromium_version(chromium),
            "python": platform.python_version(),
        },
        "html_reload_ms": {
            "n": len(html),
            "p50": round(percentile(html, 50), 1),
            "p95": round(percentile(html, 95), 1),
            "samples": [round(s, 1) for s in html],
            "server_p50": round(percentile(html_server, 50), 1),
            "target_p50": 150,
        },
        "rust_edit_ms": {
            "n": len(rust),
            **{
                name: round(statistics.median(column(name)), 1)
                for name in (
                    "total_ms",
                    "cargo_ms",
                    "bindgen_ms",
                    "stackcheck_ms",
                    "build_rest_ms",
                    "server_ms",
                    "navigation_ms",
                    "after_build_ms",
                    "start_ms",
                    "call_ms",
                    "overhead_ms",
                )
            },
            "spliced": int(sum(column("spliced"))),
            "early": int(sum(column("early"))),
            "target_overhead": 150,
            "runs": [{k: round(v, 1) for k, v in run.items()} for run in rust],
        },
        "export_edit_ms": {
            "n": len(exported),
            **{
                name: round(statistics.median(run[name] for run in exported), 1)
                for name in ("total_ms", "cargo_ms", "bindgen_ms", "after_build_ms", "overhead_ms")
            },
            "spliced": int(sum(run["spliced"] for run in exported)),
            "early": int(sum(run["early"] for run in exported)),
        },
        "late_reload_ms": {
            "n": len(late),
            **{
                name: round(statistics.median(run[name] for run in late), 1)
                for name in ("total_ms", "cargo_ms", "overhead_ms")
            },
        },
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


def table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    html = results["html_reload_ms"]
    rust = results["rust_edit_ms"]
    export = results["export_edit_ms"]
    late = results["late_reload_ms"]

    def ms(value: float) -> str:
        return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"

    rows = [
        ("HTML edit -> page reloaded, p50", ms(html["p50"]), "< 150 ms"),
        ("HTML edit -> page reloaded, p95", ms(html["p95"]), ""),
        ("  of which: server notices, tells the page (p50)", ms(html["server_p50"]), ""),
        ("Rust edit -> new code running (median)", ms(rust["total_ms"]), ""),
        ("  cargo", ms(rust["cargo_ms"]), ""),
        ("  everything but cargo", ms(rust["overhead_ms"]), "< 150 ms"),
        (
            f"    wasm-bindgen (its output spliced: {rust['spliced']} of {rust['n']})",
            ms(rust["bindgen_ms"]),
            "",
        ),
        ("    stack-check pass", ms(rust["stackcheck_ms"]), ""),
        ("    rest of the build (metadata, locks, swap)", ms(rust["build_rest_ms"]), ""),
        ("    server: notice the edit, tell the page", ms(rust["server_ms"]), ""),
        ("    page: build's end -> new code running", ms(rust["after_build_ms"]), ""),
        (
            f"  new document started, after the edit (before the build's end: "
            f"{rust['early']} of {rust['n']})",
            ms(rust["navigation_ms"]),
            "",
        ),
        ("  app start: document to start() resolved", ms(rust["start_ms"]), ""),
        ("  first call", ms(rust["call_ms"]), ""),
        (f"Rust edit adding an export (median of {export['n']})", ms(export["total_ms"]), ""),
        ("  cargo", ms(export["cargo_ms"]), ""),
        ("  everything but cargo", ms(export["overhead_ms"]), ""),
        (
            f"    wasm-bindgen (spliced: {export['spliced']} of {export['n']})",
            ms(export["bindgen_ms"]),
            "",
        ),
        ("    page: build's end -> new code running", ms(export["after_build_ms"]), ""),
        (
            f"Rust edit inside a function, --no-early-reload (median of {late['n']})",
            ms(late["total_ms"]),
            "",
        ),
        ("  cargo", ms(late["cargo_ms"]), ""),
        ("  everything but cargo", ms(late["overhead_ms"]), ""),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"wbspawn dev loop, {results['date']}: {machine['cores']} cores, {machine['cpu']}, "
        f"{machine['chromium']} (HTML n={html['n']}, Rust n={rust['n']})",
        f"{'measurement'.ljust(width)}  {'result':>9}  target",
    ]
    lines += [f"{name.ljust(width)}  {value:>9}  {target}" for name, value, target in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
