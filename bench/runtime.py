"""`make bench`, spawn half: wbspawn against wasm-bindgen-spawn 0.0.2, side by side, and
wbspawn's `std::thread::spawn` against its own `wbspawn::spawn`.

Both bench apps (bench/apps/) run the same measurement code (bench/apps/common/measure.rs),
are built with the same compiler, flags, profile (release) and wasm-bindgen version, and are
driven in one headless Chromium run; wbspawn runs again in headless Firefox (its own column),
so gaps between the engines show. The peer is not run in Firefox: it keeps every worker it
starts, and Firefox queues workers past its per-site cap (512) without starting them.
wbspawn runs through its bootstrap (`--target web`); the peer runs in a classic worker with
`--target no-modules`, the only output it supports. Every measurement gets a fresh page (fresh
memory); a measurement that fails or hangs is recorded as such and the run moves on.

Prints a table and writes bench/results.json.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import (
    BENCH,
    MIB,
    Driver,
    Failed,
    Session,
    bench_app,
    fmt,
    lookup,
    median,
    our_config,
    peer_config,
    percentile,
    release_build,
    write_report,
)

from wbspawn.build.pipeline import BuildResult, build
from wbspawn.build.toolchain import Toolchain, discover, find_wasm_bindgen
from wbspawn.check import engines
from wbspawn.config import Config
from wbspawn.serve.server import running

# (results key, runtime, engine): what runs where.
RUNS = (
    ("wbspawn", "wbspawn", "chromium"),
    ("peer", "peer", "chromium"),
    ("wbspawn-firefox", "wbspawn", "firefox"),
)
PEER = "wasm-bindgen-spawn 0.0.2"

# Page options per measurement (wbspawn only; the peer has no options). "cold" lets idle
# workers retire 5 ms after their thread, and the measurement pauses 40 ms before each spawn,
# so no worker is ever free; everything else runs with the defaults.
COLD_QUERY = "prestart=0&idleTimeoutMs=5"


def build_apps(toolchain: Toolchain) -> dict[str, Path]:
    """Builds both bench apps; returns each runtime's served package dir."""
    ours = build(our_config(), toolchain)
    peer_app = peer_config("peer-bench")
    peer = build(peer_app, toolchain)
    return {"wbspawn": ours.out_dir, "peer": peer_no_modules(peer_app, peer, toolchain)}


def peer_no_modules(config: Config, result: BuildResult, toolchain: Toolchain) -> Path:
    """Runs wasm-bindgen again on the peer's wasm with `--target no-modules`."""
    if result.cargo_wasm is None:
        raise RuntimeError("the build did not say where cargo's .wasm is")
    out = config.cache_dir / "out" / "peer-bench-no-modules"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [
            str(find_wasm_bindgen()),
            "--target",
            "no-modules",
            "--out-dir",
            str(out),
            str(result.cargo_wasm),
        ],
        check=True,
        env=toolchain.subprocess_env(),
    )
    return out


def latency(samples: list[float], unit: str, scale: float = 1.0) -> dict[str, Any]:
    return {
        f"p50_{unit}": percentile(samples, 50) * scale,
        f"p95_{unit}": percentile(samples, 95) * scale,
        "samples": len(samples),
    }


BURST_PAGES = 5


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
    # A fresh page's first burst swung from 2 to 40 ms between single runs.
    driver.measure_pages("burst64", lambda s: {"ms": s.call("bench_burst", 64)}, BURST_PAGES)
    driver.measure("pingpong", lambda s: latency(s.call("bench_ping_pong", n(2000), 100), "us"))
    driver.measure("mandelbrot", lambda s: mandelbrot(s, reps=2 if quick else 3))
    driver.measure("memory", memory_growth)
    if not peer:
        # The first spawn on a fresh page (the prestarted workers are still booting), and the
        # first and second burst of 64: what start-up costs a program that spawns at once.
        # Medians over fresh pages.
        pages = 3 if quick else 9
        driver.measure_pages("first_spawn", lambda s: {"us": s.call("bench_warm", 1, 0)[0]}, pages)
        driver.measure_pages(
            "burst64_first_second",
            lambda s: {
                "first_ms": s.call("bench_burst", 64),
                "second_ms": s.call("bench_burst", 64),
            },
            pages,
        )
        # 200-spawn batches, the mean per spawn of each: one slow batch shows a worker booted
        # that was not needed.
        driver.measure("batches200", lambda s: batches(s, "bench_sequential", 10 if quick else 20))
        # With the dev server's thread inspector open: the page asks poolState() twice a
        # second, and the dispatcher reads every thread's state (closed, the runtime only
        # notes each wait).
        driver.measure(
            "warm_inspected",
            lambda s: latency(s.call("bench_warm", n(2000), 100), "us"),
            query="inspect=1",
        )
        driver.measure(
            "batches200_inspected",
            lambda s: batches(s, "bench_sequential", 10 if quick else 20),
            query="inspect=1",
        )
        # std::thread::spawn, the same runtime underneath.
        driver.measure("std_warm", lambda s: latency(s.call("bench_std_warm", n(2000), 100), "us"))
        driver.measure(
            "std_batches200", lambda s: batches(s, "bench_std_sequential", 10 if quick else 20)
        )
    results: dict[str, Any] = driver.results
    return results


def batches(session: Session, export: str, count: int) -> dict[str, Any]:
    session.call(export, 50)  # the workers exist
    means = [session.call(export, 200) / 200 * 1000 for _ in range(count)]
    return {"median_us": median(means), "max_us": max(means), "batches": count}


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
        firefox = lookup(results.get("wbspawn-firefox", {}), *self.path)
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
            "wbspawn_firefox": firefox,
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
    Row(f"spawn 64 at once, join all (median of {BURST_PAGES} pages)", ("burst64", "ms"), "ms"),
    Row("channel round trip p50", ("pingpong", "p50_us"), "us", "< 30 us", lambda o, p: o < 30),
    Row("Mandelbrot speed-up, 2 threads", ("mandelbrot", "speedup", 2), "x", ">= 1.8x",
        lambda o, p: o >= 1.8),
    Row("Mandelbrot speed-up, 4 threads", ("mandelbrot", "speedup", 4), "x"),
    Row("memory growth per 1,000 spawns", ("memory", "mib_per_1000"), "MiB", "< 64 MiB",
        lambda o, p: o < 64),
]  # fmt: skip

# wbspawn alone: start-up of spawning, and std::thread::spawn against wbspawn::spawn.
OWN_ROWS = [
    ("first spawn+join, fresh page (median of 9)", ("first_spawn", "us"), "us", "< 5,000 us"),
    ("first burst of 64, fresh page (median of 9)", ("burst64_first_second", "first_ms"), "ms", ""),
    ("second burst of 64", ("burst64_first_second", "second_ms"), "ms", ""),
    ("200 sequential spawn+join, mean per spawn (median batch)",
     ("batches200", "median_us"), "us", ""),
    ("... slowest batch", ("batches200", "max_us"), "us", ""),
    ("std::thread::spawn+join p50", ("std_warm", "p50_us"), "us", ""),
    ("wbspawn::spawn+join p50", ("warm", "p50_us"), "us", ""),
    ("std::thread, 200 sequential, mean per spawn", ("std_batches200", "median_us"), "us",
     "within 10% of wbspawn::spawn"),
    ("wbspawn::spawn+join p50, thread inspector open", ("warm_inspected", "p50_us"), "us",
     "as closed"),
    ("200 sequential, mean per spawn, thread inspector open",
     ("batches200_inspected", "median_us"), "us", "as closed"),
]  # fmt: skip


def print_table(table: list[dict[str, Any]], results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n| measure | wbspawn, Chromium | wbspawn, Firefox | {PEER}, Chromium "
        "| peer / wbspawn (Chromium) | target | met |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in table:
        ratio = f"{row['peer_over_wbspawn']:,.1f}x" if row["peer_over_wbspawn"] else ""
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        ours, peer = fmt(row["wbspawn"], row["unit"]), fmt(row["peer"], row["unit"])
        firefox = fmt(row["wbspawn_firefox"], row["unit"])
        print(
            f"| {row['measure']} | {ours} | {firefox} | {peer}{row['peer_note']} | {ratio} "
            f"| {row['target']} | {met} |"
        )
    print("\n| wbspawn alone | Chromium | Firefox | target |")
    print("|---|---|---|---|")
    for measure, path, unit, target in OWN_ROWS:
        chromium = fmt(lookup(results["wbspawn"], *path), unit)
        firefox = fmt(lookup(results.get("wbspawn-firefox", {}), *path), unit)
        print(f"| {measure} | {chromium} | {firefox} | {target} |")
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
    results: dict[str, dict[str, Any]] = {}
    versions: dict[str, str] = {}
    with running(bench_app(packages)) as url:
        for engine in dict.fromkeys(engine for _, _, engine in RUNS):
            with engines.launch(engine) as browser:
                versions[engine] = browser.version
                for key, runtime, where in RUNS:
                    if where != engine:
                        continue
                    print(f"bench: measuring {runtime} in {engine}", file=sys.stderr, flush=True)
                    results[key] = run_measurements(Driver(browser, url, runtime), args.quick)

    table = [row.evaluate(results) for row in ROWS]
    print_table(table, results)
    own = [
        {
            "measure": m,
            "value": lookup(results["wbspawn"], *p),
            "firefox": lookup(results["wbspawn-firefox"], *p),
            "unit": u,
            "target": t,
        }
        for m, p, u, t in OWN_ROWS
    ]
    write_report(
        args.out,
        {
            "browsers": versions,
            "build": release_build(
                toolchain, peer_output="--target no-modules (the peer's only supported output)"
            ),
            "quick": args.quick,
            "table": table,
            "wbspawn_alone": own,
            "raw": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
