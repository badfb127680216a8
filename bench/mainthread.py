"""`make bench`, apps that own the page (the main-thread mode, docs/main-thread.md).

On fresh pages, the runtimes taking turns page by page, a rayon pool of 2 threads (2 workers
started ahead, as wasm-bindgen-rayon's `initThreadPool(2)` starts 2):

- page load to first frame: navigation to the first animation frame after the app is ready
  (the page could show the app's content from then on);
- a click to its result: a button's handler runs a rayon job and the time runs until the job
  ended, for the smallest job (a `par_iter` over 10,000 numbers: the latency) and the
  Mandelbrot kernel (800x600x256: the work). The first click of a page builds rayon's pool;
  the warm figures are the median of the next clicks.

Runtimes: wbspawn with the app on the page, the click calling rayon there (the page's wait
spins) and awaiting it on a thread (`join_async`, the way docs/main-thread.md recommends);
wasm-bindgen-rayon 1.3 on the page as its README shows (`init()`, `initThreadPool(2)`, rayon's
`web_spin_lock`); and wbspawn's default worker mode (the click's job runs in the app's worker,
awaited by the page) for reference. Same compiler, release profile and wasm-bindgen for all;
wbspawn's build has its default stack checks. Prints a table, writes bench/mainthread.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import (
    BENCH,
    Driver,
    Session,
    bench_app,
    fmt,
    lookup,
    median,
    our_config,
    peer_config,
    release_build,
    write_report,
)

from wbspawn.build.pipeline import build
from wbspawn.build.toolchain import Toolchain, discover
from wbspawn.check import engines
from wbspawn.serve.server import running

THREADS = 2
WARM_CLICKS = 5
PEER = "wasm-bindgen-rayon 1.3"
# (row name, runtime on the bench page, the export the click calls)
VARIANTS = (
    ("wbspawn, on the page, rayon called there", "wbspawn-main", "rayon_click"),
    ("wbspawn, on the page, awaiting a thread", "wbspawn-main", "rayon_click_async"),
    (f"{PEER}, on the page (web_spin_lock)", "rayon-peer-main", "rayon_click"),
    ("wbspawn, worker mode (app.call)", "wbspawn", "rayon_click"),
)


def build_apps(toolchain: Toolchain) -> dict[str, Path]:
    ours = build(our_config(), toolchain)
    peer = build(peer_config("rayon-peer-main-bench"), toolchain)
    return {"wbspawn": ours.out_dir, "rayon-peer-main": peer.out_dir}


def page_run(export: str) -> Any:
    def run(s: Session) -> dict[str, float]:
        frame = float(s.page.wait_for("() => window.benchFrame ?? null", timeout_s=30))
        out = {"ready_ms": float(s.evaluate("window.benchReady")), "frame_ms": frame}
        for heavy in (False, True):
            name = "heavy" if heavy else "small"
            clicks = [
                float(s.evaluate(f"window.clickJob({json.dumps(export)}, {json.dumps(heavy)})"))
                for _ in range(WARM_CLICKS + 1)
            ]
            out[f"{name}_first_ms"] = clicks[0]
            out[f"{name}_warm_ms"] = median(clicks[1:])
        return out

    return run


def measure(browser: Any, url: str, runs: int) -> dict[str, dict[str, Any]]:
    drivers = [(row, Driver(browser, url, runtime), export) for row, runtime, export in VARIANTS]
    samples: dict[str, dict[str, list[float]]] = {row: {} for row, _, _ in VARIANTS}
    for run in range(runs):
        turn = run % len(drivers)
        for row, driver, export in [*drivers[turn:], *drivers[:turn]]:
            key = f"{row}#{run}"
            driver.measure(key, page_run(export), query=f"threads={THREADS}&prestart={THREADS}")
            result = driver.results.pop(key)
            if "error" in result:
                samples[row].setdefault("errors", []).append(0.0)
                continue
            for field, value in result.items():
                samples[row].setdefault(field, []).append(value)
    return {
        row: {
            field: {"median_ms": median(values), "runs": len(values)}
            for field, values in fields.items()
            if field != "errors"
        }
        | {"failed_pages": len(fields.get("errors", []))}
        for row, fields in samples.items()
    }


def print_table(results: dict[str, Any]) -> None:
    columns = (
        ("navigation -> first frame", "frame_ms"),
        ("click -> small job, first", "small_first_ms"),
        ("click -> small job, warm", "small_warm_ms"),
        ("click -> Mandelbrot, first", "heavy_first_ms"),
        ("click -> Mandelbrot, warm", "heavy_warm_ms"),
    )
    print("\n| 2 threads, medians of fresh pages | " + " | ".join(c for c, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for row, _, _ in VARIANTS:
        cells = [fmt(lookup(results, row, key, "median_ms"), "ms") for _, key in columns]
        print(f"| {row} | " + " | ".join(cells) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    parser.add_argument("--out", type=Path, default=BENCH / "mainthread.json")
    args = parser.parse_args(argv)

    toolchain = discover()
    print("bench: building the bench apps (release)", file=sys.stderr)
    packages = build_apps(toolchain)
    runs = 3 if args.quick else 11
    with running(bench_app(packages)) as url, engines.launch("chromium") as browser:
        version = browser.version
        results = measure(browser, url, runs)
    print_table(results)
    write_report(
        args.out,
        {
            "chromium": version,
            "build": release_build(toolchain),
            "quick": args.quick,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
