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
from wbspawn.app import Files
from wbspawn.build import BuildResult, build, target_dir
from wbspawn.config import Config
from wbspawn.flags import TARGET
from wbspawn.headers import ISOLATION_HEADERS, HeadersMiddleware
from wbspawn.server import running
from wbspawn.toolchain import Toolchain, discover, find_wasm_bindgen, wasm_bindgen_version

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


class Driver:
    """Opens a fresh page per measurement and calls the bench app's exports."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url

    def measure(
        self, runtime: str, calls: Sequence[tuple[str, list[Any]]], *, timeout_s: float, query: str = ""
    ) -> list[Any] | str:
        """Runs the calls in order on one fresh page; their values, or why it failed."""
        context = self.browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{self.base_url}?runtime={runtime}&{query}")
            page.wait_for_selector("html[data-wbspawn-status]", state="attached", timeout=60_000)
            if page.get_attribute("html", "data-wbspawn-status") != "pass":
                return f"did not start: {page.get_attribute('html', 'data-wbspawn-detail')}"
            values = []
            for name, args in calls:
                outcome = page.evaluate(
                    """async ([name, args, ms]) => Promise.race([
                        window.bench.call(name, ...args).then(
                            (value) => ({ ok: true, value }),
                            (error) => ({ ok: false, error: String(error) })),
                        new Promise((resolve) => setTimeout(
                            () => resolve({ ok: false, error: `no answer within ${ms / 1000} s` }), ms)),
                    ])""",
                    [name, args, timeout_s * 1000],
                )
                if not outcome["ok"]:
                    return f"{name}: {outcome['error']}"
                values.append(outcome["value"])
            return values
        finally:
            context.close()


def run_measurements(driver: Driver, runtime: str, quick: bool) -> dict[str, Any]:
    peer = runtime == "peer"
    scale = 0.25 if quick else 1.0
    n = lambda full: max(1, int(full * scale))  # noqa: E731
    out: dict[str, Any] = {}

    def record(key: str, outcome: list[Any] | str, make: Callable[[list[Any]], dict[str, Any]]) -> None:
        out[key] = {"error": outcome} if isinstance(outcome, str) else make(outcome)
        print(f"  {runtime:8} {key:12} {out[key]}", file=sys.stderr, flush=True)

    cold = driver.measure(runtime, [("bench_cold", [n(10 if peer else 40), 40])], timeout_s=300, query=COLD_QUERY)
    record("cold", cold, lambda v: {"p50_ms": percentile(v[0], 50) / 1000, "p95_ms": percentile(v[0], 95) / 1000, "samples": len(v[0])})

    warm = driver.measure(runtime, [("bench_warm", [n(10 if peer else 2000), 1 if peer else 100])], timeout_s=300)
    record("warm", warm, lambda v: {"p50_us": percentile(v[0], 50), "p95_us": percentile(v[0], 95), "samples": len(v[0])})

    sequential = driver.measure(runtime, [("bench_sequential", [1000])], timeout_s=120)
    record("seq1000", sequential, lambda v: {"ms": v[0]})

    burst = driver.measure(runtime, [("bench_burst", [64])], timeout_s=120)
    record("burst64", burst, lambda v: {"ms": v[0]})

    pingpong = driver.measure(runtime, [("bench_ping_pong", [n(2000), 100])], timeout_s=120)
    record("pingpong", pingpong, lambda v: {"p50_us": percentile(v[0], 50), "p95_us": percentile(v[0], 95)})

    reps = 2 if quick else 3
    mandel_calls = [("bench_mandelbrot", [t, 1200, 256]) for _ in range(reps) for t in (1, 2, 4)]
    mandel = driver.measure(runtime, mandel_calls, timeout_s=120)

    def speedups(values: list[Any]) -> dict[str, Any]:
        best = {t: min(v[0] for (name, (tt, *_)), v in zip(mandel_calls, values, strict=True) if tt == t) for t in (1, 2, 4)}
        checksums = {v[1] for v in values}
        return {
            "ms": best,
            "speedup": {t: best[1] / best[t] for t in (1, 2, 4)},
            "checksums_agree": len(checksums) == 1,
        }

    record("mandelbrot", mandel, speedups)

    # Memory per 1,000 spawns, in chunks of 100 so a runtime that runs out of memory still
    # tells how far it got and at what rate.
    out["memory"] = memory_growth(driver, runtime)
    print(f"  {runtime:8} {'memory':12} {out['memory']}", file=sys.stderr, flush=True)
    return out


def memory_growth(driver: Driver, runtime: str) -> dict[str, Any]:
    chunks: list[float] = []
    sizes: list[float] = []
    error = None
    context = driver.browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{driver.base_url}?runtime={runtime}")
        page.wait_for_selector("html[data-wbspawn-status]", state="attached", timeout=60_000)
        call = """async ([name, args]) => Promise.race([
            window.bench.call(name, ...args).then((value) => ({ ok: true, value }),
                                                  (error) => ({ ok: false, error: String(error) })),
            new Promise((resolve) => setTimeout(() => resolve({ ok: false, error: "no answer within 60 s" }), 60000)),
        ])"""
        sizes.append(page.evaluate(call, ["memory_bytes", []])["value"])
        for _ in range(10):
            outcome = page.evaluate(call, ["bench_sequential", [100]])
            if not outcome["ok"]:
                error = outcome["error"]
                break
            chunks.append(outcome["value"])
            sizes.append(page.evaluate(call, ["memory_bytes", []])["value"])
    finally:
        context.close()
    spawns = 100 * len(chunks)
    grown = (sizes[-1] - sizes[0]) / MIB if sizes else 0.0
    result: dict[str, Any] = {"spawns": spawns, "grown_mib": grown}
    if spawns:
        result["mib_per_1000"] = grown / spawns * 1000
        result["ms_per_spawn"] = sum(chunks) / spawns
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


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "failed"
    return f"{value:,.3g} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def summarize(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    ours, peer = results["wbspawn"], results["peer"]

    def get(r: dict[str, Any], *keys: Any) -> float | None:
        value: Any = r
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value)

    def ratio(a: float | None, b: float | None) -> float | None:
        return b / a if a and b else None

    # The peer's 1,000 spawns, if it could not finish them, estimated from its rate before
    # failing (memory run), and marked as such.
    peer_seq = get(peer, "seq1000", "ms")
    peer_seq_note = ""
    if peer_seq is None and get(peer, "memory", "ms_per_spawn"):
        peer_seq = 1000 * (get(peer, "memory", "ms_per_spawn") or 0)
        peer_seq_note = " (est.)"
    rows = [
        ("cold spawn+join p50", get(ours, "cold", "p50_ms"), get(peer, "cold", "p50_ms"), "ms", "≥5× faster than peer", lambda o, p: ratio(o, p), 5.0),
        ("cold spawn+join p95", get(ours, "cold", "p95_ms"), get(peer, "cold", "p95_ms"), "ms", "", lambda o, p: ratio(o, p), None),
        ("warm spawn+join p50", get(ours, "warm", "p50_us"), get(peer, "warm", "p50_us"), "µs", "< 200 µs", lambda o, p: o, 200.0),
        ("warm spawn+join p95", get(ours, "warm", "p95_us"), get(peer, "warm", "p95_us"), "µs", "", lambda o, p: None, None),
        ("1,000 sequential spawn+join", get(ours, "seq1000", "ms"), peer_seq, "ms", "≥50× faster than peer", lambda o, p: ratio(o, p), 50.0),
        ("spawn 64 at once, join all", get(ours, "burst64", "ms"), get(peer, "burst64", "ms"), "ms", "", lambda o, p: ratio(o, p), None),
        ("channel round trip p50", get(ours, "pingpong", "p50_us"), get(peer, "pingpong", "p50_us"), "µs", "< 30 µs", lambda o, p: o, 30.0),
        ("Mandelbrot speed-up, 2 threads", get(ours, "mandelbrot", "speedup", 2), get(peer, "mandelbrot", "speedup", 2), "×", "≥ 1.8×", lambda o, p: o, 1.8),
        ("Mandelbrot speed-up, 4 threads", get(ours, "mandelbrot", "speedup", 4), get(peer, "mandelbrot", "speedup", 4), "×", "", lambda o, p: None, None),
        ("memory growth per 1,000 spawns", get(ours, "memory", "mib_per_1000"), get(peer, "memory", "mib_per_1000"), "MiB", "< 64 MiB", lambda o, p: o, 64.0),
    ]
    table = []
    for label, o, p, unit, target, judge, bound in rows:
        verdict = judge(o, p)
        met: bool | None = None
        if bound is not None and verdict is not None:
            lower_is_better = "<" in target
            met = verdict < bound if lower_is_better else verdict >= bound
        note = peer_seq_note if label.startswith("1,000") else ""
        table.append(
            {
                "measure": label,
                "wbspawn": o,
                "peer": p,
                "unit": unit,
                "target": target,
                "ratio": ratio(o, p) if unit in ("ms", "µs") else None,
                "met": met,
                "peer_note": note,
            }
        )
    return table


def print_table(table: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> None:
    print(f"\n| measure | wbspawn | {PEER} | peer / wbspawn | target | met |")
    print("|---|---|---|---|---|---|")
    for row in table:
        ratio = f"{row['ratio']:,.1f}×" if row["ratio"] else ""
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        print(
            f"| {row['measure']} | {fmt(row['wbspawn'], row['unit'])} | "
            f"{fmt(row['peer'], row['unit'])}{row['peer_note']} | {ratio} | {row['target']} | {met} |"
        )
    for runtime, measures in results.items():
        for key, value in measures.items():
            if isinstance(value, dict) and "error" in value:
                print(f"- {runtime} {key}: {value['error']}")


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
            driver = Driver(browser, url)
            for runtime in RUNTIMES:
                print(f"bench: measuring {runtime}", file=sys.stderr, flush=True)
                results[runtime] = run_measurements(driver, runtime, args.quick)
        finally:
            browser.close()

    table = summarize(results)
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
