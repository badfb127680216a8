"""`make bench`, runtime half: wbspawn against wasm-bindgen-spawn 0.0.2, side by side.

Both bench apps (bench/apps/) run the same measurement code (bench/apps/common/measure.rs),
are built with the same compiler, flags, profile (release) and wasm-bindgen version, and are
driven in one headless Chromium run. wbspawn runs through its bootstrap (`--target web`); the
peer runs in a classic worker with `--target no-modules`, the only output it supports. Every
measurement gets a fresh page (fresh memory); a measurement that fails or hangs is recorded as
such and the run moves on.

Prints a table and writes bench/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from wbspawn import assets
from wbspawn.build.flags import TARGET
from wbspawn.build.pipeline import BuildResult, build, target_dir
from wbspawn.build.toolchain import Toolchain, discover, find_wasm_bindgen, wasm_bindgen_version
from wbspawn.config import Config
from wbspawn.serve.app import Files
from wbspawn.serve.headers import ISOLATION_HEADERS, HeadersMiddleware
from wbspawn.serve.server import running

BENCH = Path(__file__).resolve().parent
APPS = BENCH / "apps"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUNTIMES = ("wbspawn", "peer")
PEER = "wasm-bindgen-spawn 0.0.2"
MIB = 1 << 20

# Page options per measurement (wbspawn only; the peer has no options). "cold" lets idle
# workers retire 5 ms after their thread, and the measurement pauses 40 ms before each spawn,
# so no worker is ever free; everything else runs with the defaults.
COLD_QUERY = "prestart=0&idleTimeoutMs=5"


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def build_apps(toolchain: Toolchain) -> dict[str, Path]:
    """Builds both bench apps; returns each runtime's served package dir."""
    ours = build(Config(app_dir=APPS / "wbspawn-bench", release=True), toolchain)
    peer_config = Config(app_dir=APPS / "peer-bench", release=True)
    peer = build(peer_config, toolchain)
    return {"wbspawn": ours.out_dir, "peer": peer_no_modules(peer_config, peer, toolchain)}


def peer_no_modules(config: Config, result: BuildResult, toolchain: Toolchain) -> Path:
    """Runs wasm-bindgen again on the peer's wasm with `--target no-modules`."""
    lib = result.js_name.removesuffix(".js")
    wasm = target_dir(config, result.crate_name) / TARGET / "release" / f"{lib}.wasm"
    out = config.cache_dir / "out" / "peer-bench-no-modules"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [str(find_wasm_bindgen()), "--target", "no-modules", "--out-dir", str(out), str(wasm)],
        check=True,
        env=toolchain.subprocess_env(),
    )
    return out


def bench_app(packages: dict[str, Path]) -> ASGIApp:
    routes = [
        Mount("/_wbspawn", app=Files(directory=assets.runtime_js_dir())),
        Mount("/bench-pkg/wbspawn", app=Files(directory=packages["wbspawn"])),
        Mount("/bench-pkg/peer", app=Files(directory=packages["peer"])),
        Mount("/", app=Files(directory=BENCH / "web", html=True)),
    ]
    return HeadersMiddleware(Starlette(routes=routes), ISOLATION_HEADERS)


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
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.goto(url)
        self.page.wait_for_selector("html[data-wbspawn-status]", state="attached", timeout=60_000)
        if self.page.get_attribute("html", "data-wbspawn-status") != "pass":
            detail = self.page.get_attribute("html", "data-wbspawn-detail")
            self.context.close()
            raise Failed(f"did not start: {detail}")

    def call(self, name: str, *args: Any, timeout_s: float = 120) -> Any:
        outcome = self.page.evaluate(CALL_JS, [name, list(args), timeout_s * 1000])
        if not outcome["ok"]:
            raise Failed(f"{name}: {outcome['error']}")
        return outcome["value"]

    def close(self) -> None:
        self.context.close()


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
        print(f"  {self.runtime:8} {key:12} {self.results[key]}", file=sys.stderr, flush=True)


def latency(samples: list[float], unit: str, scale: float = 1.0) -> dict[str, Any]:
    return {
        f"p50_{unit}": percentile(samples, 50) * scale,
        f"p95_{unit}": percentile(samples, 95) * scale,
        "samples": len(samples),
    }


def run_measurements(driver: Driver, quick: bool) -> dict[str, Any]:
    peer = driver.runtime == "peer"

    def n(full: int) -> int:
        return max(2, int(full * (0.25 if quick else 1.0)))

    driver.measure(
        "cold",
        lambda s: latency(
            s.call("bench_cold", n(10 if peer else 40), 40, timeout_s=300), "ms", 1e-3
        ),
        query=COLD_QUERY,
    )
    driver.measure(
        "warm",
        lambda s: latency(s.call("bench_warm", n(10 if peer else 2000), 1 if peer else 100), "us"),
    )
    driver.measure("seq1000", lambda s: {"ms": s.call("bench_sequential", 1000)})
    driver.measure("burst64", lambda s: {"ms": s.call("bench_burst", 64)})
    driver.measure("pingpong", lambda s: latency(s.call("bench_ping_pong", n(2000), 100), "us"))
    driver.measure("mandelbrot", lambda s: mandelbrot(s, reps=2 if quick else 3))
    driver.measure("memory", memory_growth)
    return driver.results


def mandelbrot(session: Session, reps: int) -> dict[str, Any]:
    """Best of `reps` runs at 1, 2 and 4 threads, interleaved so drift hits all alike."""
    best: dict[int, float] = {}
    checksums = set()
    for _ in range(reps):
        for threads in (1, 2, 4):
            ms, checksum = session.call("bench_mandelbrot", threads, 1200, 256)
            best[threads] = min(ms, best.get(threads, math.inf))
            checksums.add(checksum)
    if len(checksums) != 1:
        raise Failed(f"Mandelbrot checksums differ between thread counts: {checksums}")
    return {"ms": best, "speedup": {t: best[1] / best[t] for t in best}}


def memory_growth(session: Session) -> dict[str, Any]:
    """Memory per 1,000 spawns, in chunks of 100: a runtime that runs out of memory still
    tells how far it got, at what rate, and how fast it spawned until then."""
    sizes = [session.call("memory_bytes")]
    chunk_ms: list[float] = []
    error = None
    for _ in range(10):
        try:
            chunk_ms.append(session.call("bench_sequential", 100, timeout_s=60))
        except Failed as failure:
            error = str(failure)
            break
        sizes.append(session.call("memory_bytes"))
    spawns = 100 * len(chunk_ms)
    result: dict[str, Any] = {"spawns": spawns, "grown_mib": (sizes[-1] - sizes[0]) / MIB}
    if spawns:
        result["mib_per_1000"] = result["grown_mib"] / spawns * 1000
        result["ms_per_spawn"] = sum(chunk_ms) / spawns
    if error:
        result["error"] = f"failed after {spawns} spawns: {error}"
    return result


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": model, "os": platform.platform()}


def chromium_version(path: str) -> str:
    proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def lookup(results: dict[str, Any], *keys: Any) -> float | None:
    value: Any = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


class Row:
    """One line of the table: a value per runtime and the issue's target for it."""

    def __init__(
        self,
        measure: str,
        path: tuple[Any, ...],
        unit: str,
        target: str = "",
        met: Callable[[float, float | None], bool] | None = None,
    ) -> None:
        self.measure, self.path, self.unit, self.target, self.met = measure, path, unit, target, met

    def evaluate(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        ours = lookup(results["wbspawn"], *self.path)
        peer = lookup(results["peer"], *self.path)
        note = ""
        if self.path == ("seq1000", "ms") and peer is None:
            # The peer could not finish 1,000 spawns: estimate from its rate before it failed.
            rate = lookup(results["peer"], "memory", "ms_per_spawn")
            if rate is not None:
                peer, note = 1000 * rate, " (est.)"
        ratio = peer / ours if ours and peer and self.unit in ("ms", "us") else None
        met = self.met(ours, peer) if self.met and ours is not None else None
        return {
            "measure": self.measure,
            "wbspawn": ours,
            "peer": peer,
            "peer_note": note,
            "unit": self.unit,
            "peer_over_wbspawn": ratio,
            "target": self.target,
            "met": met,
        }


ROWS = [
    Row("cold spawn+join p50", ("cold", "p50_ms"), "ms", ">= 5x faster than peer",
        lambda o, p: p is not None and p / o >= 5),
    Row("cold spawn+join p95", ("cold", "p95_ms"), "ms"),
    Row("warm spawn+join p50", ("warm", "p50_us"), "us", "< 200 us", lambda o, p: o < 200),
    Row("warm spawn+join p95", ("warm", "p95_us"), "us"),
    Row("1,000 sequential spawn+join", ("seq1000", "ms"), "ms", ">= 50x faster than peer",
        lambda o, p: p is not None and p / o >= 50),
    Row("spawn 64 at once, join all", ("burst64", "ms"), "ms"),
    Row("channel round trip p50", ("pingpong", "p50_us"), "us", "< 30 us", lambda o, p: o < 30),
    Row("Mandelbrot speed-up, 2 threads", ("mandelbrot", "speedup", 2), "x", ">= 1.8x",
        lambda o, p: o >= 1.8),
    Row("Mandelbrot speed-up, 4 threads", ("mandelbrot", "speedup", 4), "x"),
    Row("memory growth per 1,000 spawns", ("memory", "mib_per_1000"), "MiB", "< 64 MiB",
        lambda o, p: o < 64),
]  # fmt: skip


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    return f"{value:,.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def print_table(table: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> None:
    print(f"\n| measure | wbspawn | {PEER} | peer / wbspawn | target | met |")
    print("|---|---|---|---|---|---|")
    for row in table:
        ratio = f"{row['peer_over_wbspawn']:,.1f}x" if row["peer_over_wbspawn"] else ""
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        ours, peer = fmt(row["wbspawn"], row["unit"]), fmt(row["peer"], row["unit"])
        print(
            f"| {row['measure']} | {ours} | {peer}{row['peer_note']} | {ratio} "
            f"| {row['target']} | {met} |"
        )
    for runtime, measures in results.items():
        for key, value in measures.items():
            if "error" in value:
                print(f"- {runtime}, {key}: {value['error']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    args = parser.parse_args(argv)

    toolchain = discover()
    print("bench: building both bench apps (release)", file=sys.stderr, flush=True)
    packages = build_apps(toolchain)
    chromium = os.environ.get("WBSPAWN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    results: dict[str, dict[str, Any]] = {}
    with running(bench_app(packages)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for runtime in RUNTIMES:
                print(f"bench: measuring {runtime}", file=sys.stderr, flush=True)
                results[runtime] = run_measurements(Driver(browser, url, runtime), args.quick)
        finally:
            browser.close()

    table = [row.evaluate(results) for row in ROWS]
    print_table(table, results)
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "chromium": chromium_version(chromium),
        "build": {
            "profile": "release",
            "wasm_bindgen": wasm_bindgen_version(find_wasm_bindgen()),
            "toolchain": toolchain.kind,
            "peer_output": "--target no-modules (the peer's only supported output)",
        },
        "quick": args.quick,
        "table": table,
        "raw": results,
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nbench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
