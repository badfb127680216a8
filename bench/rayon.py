"""`make bench`, rayon and start-up half.

- rayon kernels (bench/apps/common/kernels.rs: an 800x600 Mandelbrot set of 256 iterations,
  `par_iter` over rows; `par_sort_unstable` of 2 million u32) at 1 and 2 threads: wbspawn
  (rayon's global pool on std threads, no set-up) against wasm-bindgen-rayon 1.3
  (`initThreadPool(n)` in a module worker, as its README shows) and the same kernels as a
  native program on this machine.
- clocks: ns per `Instant::now()` with wbspawn (std's own, one clock for every thread) beside
  the `web-time` crate (each worker's `performance.now()`) and a native `Instant::now()`.
- start-up: navigation to a ready app, and navigation to the first parallel result (the page
  asks for it the moment its app is ready and times the answer itself: no driver round trip
  counts), against wasm-bindgen-rayon, a bare module worker that only instantiates the same
  wasm, and that worker with a second (empty) worker started beside it.

Same compiler, profile (release) and wasm-bindgen for all; wbspawn's build has its default
stack checks, the peer none (they need wbspawn's workers). wbspawn's runtime scripts are
served as the dev server serves them (a versioned URL the browser caches for good), every
other file revalidated on each load. Every measurement gets a fresh page
(a global rayon pool is sized once per page). Prints tables and writes bench/rayon.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import (
    APPS,
    BENCH,
    Driver,
    Failed,
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
from wbspawn.config import default_cache_dir
from wbspawn.serve.server import running

THREADS = (1, 2)
PEER = "wasm-bindgen-rayon 1.3"


def build_apps(toolchain: Toolchain) -> dict[str, Path]:
    ours = build(our_config(), toolchain)
    peer = build(peer_config("rayon-peer-bench"), toolchain)
    return {"wbspawn": ours.out_dir, "rayon-peer": peer.out_dir}


def build_native(toolchain: Toolchain) -> Path:
    """The native program, built by the same compiler, in the cache."""
    target = default_cache_dir() / "target" / "native-bench"
    env = {**toolchain.subprocess_env(), "CARGO_TARGET_DIR": str(target)}
    subprocess.run(
        [str(toolchain.cargo), "build", "--release", "--quiet"],
        cwd=APPS / "native-bench",
        env=env,
        check=True,
    )
    return target / "release" / "native-bench"


def run_native(binary: Path, runs: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for threads in THREADS:
        best: dict[str, float] = {}
        for _ in range(runs):
            proc = subprocess.run(
                [str(binary), str(threads)], capture_output=True, text=True, check=True
            )
            line: dict[str, float] = json.loads(proc.stdout)
            for key, value in line.items():
                if key.endswith(("_ms", "_us", "_ns")):
                    best[key] = min(value, best.get(key, value))
                else:
                    best[key] = value
        results[str(threads)] = best
        print(f"  native     {threads} thread(s)   {best}", file=sys.stderr, flush=True)
    return results


def ready_ms(session: Session) -> float:
    return float(session.evaluate("window.benchReady"))


def startup(drivers: Sequence[Driver], runs: int) -> dict[str, dict[str, Any]]:
    """Medians over `runs` fresh pages per runtime: navigation to ready, and to the first
    result. The runtimes take turns page by page: this machine's load drifts over minutes, and
    runtime after runtime would time each in different weather."""
    samples: dict[str, dict[str, list[float]]] = {d.runtime: {} for d in drivers}

    def record(driver: Driver, key: str, value: float) -> None:
        samples[driver.runtime].setdefault(key, []).append(value)

    for run in range(runs):
        # Who goes first moves too: a page opened right after another's teardown starts slower.
        for driver in [*drivers[run % len(drivers) :], *drivers[: run % len(drivers)]]:
            if driver.runtime.startswith("bare"):
                driver.measure("ready", lambda s: {"ms": ready_ms(s)})
                if "error" not in driver.results["ready"]:
                    record(driver, "ready", driver.results["ready"]["ms"])
                continue
            for threads in THREADS:

                def first(s: Session) -> dict[str, Any]:
                    return {
                        "ready_ms": ready_ms(s),
                        "first_ms": float(s.evaluate("window.benchFirst")),
                    }

                key = f"first_{threads}"
                query = f"threads={threads}&first=1"
                if driver.runtime == "wbspawn":
                    # As the peer's initThreadPool(threads) is told its pool's size: the
                    # workers to start ahead are the pool's.
                    query += f"&prestart={threads}"
                driver.measure(key, first, query=query)
                result = driver.results[key]
                if "error" not in result:
                    record(driver, f"ready_{threads}", result["ready_ms"])
                    record(driver, key, result["first_ms"])
    return {
        runtime: {key: {"median_ms": median(v), "runs": len(v)} for key, v in keyed.items()}
        for runtime, keyed in samples.items()
    }


def kernels(driver: Driver, reps: int) -> dict[str, Any]:
    """Best of `reps` runs of each kernel per thread count, on a fresh page each."""
    out: dict[str, Any] = {}
    for threads in THREADS:

        def run(s: Session, threads: int = threads) -> dict[str, Any]:
            if driver.runtime == "wbspawn":
                s.call("rayon_first", threads)
            pool = s.call("rayon_threads")
            if pool != threads:
                raise Failed(f"rayon's pool has {pool} threads, not {threads}")
            best: dict[str, Any] = {}
            for kernel in ("mandelbrot", "sort"):
                runs = [s.call(f"rayon_{kernel}", timeout_s=300) for _ in range(reps)]
                best[f"{kernel}_ms"] = min(ms for ms, _ in runs)
                best[f"{kernel}_checksum"] = runs[0][1]
            return best

        driver.measure(f"kernels_{threads}", run, query=f"threads={threads}")
        out[str(threads)] = driver.results[f"kernels_{threads}"]
    return out


def clocks(driver: Driver) -> dict[str, Any]:
    """ns per clock reading on the app's thread: std's Instant (wbspawn's clock), web-time's,
    std's SystemTime; the best of 5 runs of a million readings on one fresh page."""

    def run(s: Session) -> dict[str, Any]:
        runs = [s.call("bench_clocks", 1_000_000) for _ in range(5)]
        names = ("instant_ns", "web_time_ns", "system_time_ns")
        return {name: min(r[i] for r in runs) for i, name in enumerate(names)}

    driver.measure("clocks", run)
    measured: dict[str, Any] = driver.results["clocks"]
    return measured


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else ""


def print_tables(results: dict[str, Any]) -> None:
    ours, peer, native = results["wbspawn"], results["rayon-peer"], results["native"]
    print(f"\n| kernel | threads | wbspawn | {PEER} | native | wbspawn / native | wbspawn / peer |")
    print("|---|---|---|---|---|---|---|")
    for kernel, title in (("mandelbrot", "Mandelbrot 800x600x256"), ("sort", "par_sort 2M u32")):
        for threads in THREADS:
            o = lookup(ours, "kernels", str(threads), f"{kernel}_ms")
            p = lookup(peer, "kernels", str(threads), f"{kernel}_ms")
            n = lookup(native, str(threads), f"{kernel}_ms")
            print(
                f"| {title} | {threads} | {fmt(o, 'ms')} | {fmt(p, 'ms')} | {fmt(n, 'ms')} "
                f"| {ratio(o, n)} | {ratio(o, p)} |"
            )
    bare = lookup(results["bare"], "startup", "ready", "median_ms")
    pair = lookup(results["bare-pair"], "startup", "ready", "median_ms")
    print(
        f"\n| start-up (median of fresh pages) | wbspawn | {PEER} | bare module worker "
        "| bare worker + a second worker |"
    )
    print("|---|---|---|---|---|")
    for threads in THREADS:
        o = lookup(ours, "startup", f"ready_{threads}", "median_ms")
        p = lookup(peer, "startup", f"ready_{threads}", "median_ms")
        print(
            f"| navigation -> app ready ({threads} thread pool) | {fmt(o, 'ms')} | {fmt(p, 'ms')} "
            f"| {fmt(bare, 'ms')} | {fmt(pair, 'ms')} |"
        )
    for threads in THREADS:
        o = lookup(ours, "startup", f"first_{threads}", "median_ms")
        p = lookup(peer, "startup", f"first_{threads}", "median_ms")
        what = f"navigation -> first rayon result, {threads} thread(s)"
        print(f"| {what} | {fmt(o, 'ms')} | {fmt(p, 'ms')} | | |")
    clock = ours.get("clocks", {})
    print(
        "\n| clock reading (ns per call) | wbspawn `std::time::Instant` | `web_time::Instant` "
        "| wbspawn `SystemTime` | native `Instant` |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| app's thread, Chromium | {fmt(clock.get('instant_ns'), 'ns')} "
        f"| {fmt(clock.get('web_time_ns'), 'ns')} | {fmt(clock.get('system_time_ns'), 'ns')} "
        f"| {fmt(lookup(native, '1', 'instant_ns'), 'ns')} |"
    )
    checksums = {
        (name, kernel): lookup(
            res, *(["kernels"] if name != "native" else []), str(t), f"{kernel}_checksum"
        )
        for name, res in (("wbspawn", ours), ("peer", peer), ("native", native))
        for kernel in ("mandelbrot", "sort")
        for t in THREADS
    }
    for kernel in ("mandelbrot", "sort"):
        values = {v for (name, k), v in checksums.items() if k == kernel and v is not None}
        if len(values) > 1:
            print(f"- {kernel}: checksums differ between runtimes: {values}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run)")
    parser.add_argument("--out", type=Path, default=BENCH / "rayon.json")
    args = parser.parse_args(argv)

    toolchain = discover()
    print("bench: building the bench apps (release) and the native program", file=sys.stderr)
    packages = build_apps(toolchain)
    native = build_native(toolchain)
    # Start-up: medians of 15 fresh pages per runtime (single pages move by 50% on a busy
    # machine). Kernels: best of 8, as V8 tiers code up over the first runs (in every runtime).
    runs, reps = (3, 2) if args.quick else (15, 8)
    results: dict[str, Any] = {"native": run_native(native, reps)}
    with running(bench_app(packages)) as url, engines.launch("chromium") as browser:
        version = browser.version
        drivers = [Driver(browser, url, r) for r in ("bare", "bare-pair", "wbspawn", "rayon-peer")]
        print("bench: start-up, the runtimes taking turns", file=sys.stderr, flush=True)
        for runtime, medians in startup(drivers, runs).items():
            results[runtime] = {"startup": medians}
        for driver in drivers:
            if not driver.runtime.startswith("bare"):
                print(f"bench: kernels on {driver.runtime}", file=sys.stderr, flush=True)
                results[driver.runtime]["kernels"] = kernels(driver, reps)
                if driver.runtime == "wbspawn":
                    results[driver.runtime]["clocks"] = clocks(driver)
    print_tables(results)
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
