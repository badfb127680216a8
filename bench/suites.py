"""`make bench-suites`: published crates' own threaded test suites, run by `wbspawn test`.

Crates that exercise threads, channels, timeouts and thread pools hard, at the versions this
repository's lockfile has, their `tests/` unmodified. What is changed, and only in each copy's
Cargo.toml: a dev-dependency that cannot build for wasm32-unknown-unknown is dropped (`rand`,
whose `getrandom` has no browser backend unless a crate asks for one), and the test files
that use it are left out (`SKIPPED`, named in docs/testing.md with the reason). Each crate's
source comes from cargo's registry (`cargo fetch` of an exact version).

Every suite runs in Chromium, Firefox and WebKit (`wbspawn test --release --json`, unwinding
but in WebKit: `PANIC`);
this prints a table of passed/failed/ignored per crate and engine, with each failing test's
name, and writes bench/suites.json. Not part of `make test`: these suites take minutes, and
what they find is read and explained in docs/testing.md, not asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import BENCH, machine

TIMEOUT_S = 300


@dataclass(frozen=True)
class Suite:
    crate: str
    version: str
    # Dev-dependencies that do not build for wasm, dropped from the copy's Cargo.toml.
    dropped: tuple[str, ...]
    # tests/*.rs that use a dropped dependency, left out.
    skipped: tuple[str, ...]
    # Whether the library's own unit tests build without the dropped dependencies.
    lib: bool


SUITES = (
    Suite("crossbeam-channel", "0.5.17", ("rand", "signal-hook"), ("array", "list", "zero"), True),
    Suite("crossbeam-utils", "0.8.23", ("rand",), ("sharded_lock",), True),
    Suite("rayon-core", "1.13.0", ("rand", "rand_xorshift"), (), False),
    Suite("parking_lot", "0.12.5", ("rand",), (), False),
)


def fetch(suite: Suite, work: Path) -> Path:
    """The crate's published source, from cargo's registry (downloaded if missing)."""
    seed = work / f"fetch-{suite.crate}"
    (seed / "src").mkdir(parents=True)
    (seed / "src" / "lib.rs").write_text("")
    (seed / "Cargo.toml").write_text(
        '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n\n'
        f'[dependencies]\n{suite.crate} = "={suite.version}"\n'
    )
    subprocess.run(["cargo", "fetch", "-q"], cwd=seed, check=True)
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    name = f"{suite.crate}-{suite.version}"
    found = sorted(home.glob(f"registry/src/*/{name}"))
    if not found:
        raise SystemExit(f"suites: cargo fetched {name} but its source is not under {home}")
    copy = work / name
    shutil.copytree(found[0], copy)
    return copy


def drop_dev_dependencies(manifest: Path, names: tuple[str, ...]) -> None:
    """Removes `[dev-dependencies.NAME]` tables (cargo publish writes one table each)."""
    text = manifest.read_text()
    for name in names:
        table = re.compile(rf"^\[dev-dependencies\.{re.escape(name)}\]\n(?:[^\[\n].*\n|\n)*", re.M)
        text, count = table.subn("", text)
        if count != 1:
            raise SystemExit(f"suites: {manifest} has no [dev-dependencies.{name}] to drop")
    manifest.write_text(text)


# As native `cargo test`, the suites unwind: their tests of panics (a scope that reports a
# panicking thread, a poisoned lock) rely on it. Except in WebKit, whose unwinding hangs on a
# caught panic (docs/browsers.md): there they abort, as wbspawn apps do by default.
PANIC = {"chromium": "unwind", "firefox": "unwind", "webkit": "abort"}


def run(suite: Suite, crate_dir: Path, engine: str) -> dict[str, Any]:
    tests = sorted(p.stem for p in (crate_dir / "tests").glob("*.rs"))
    targets = [arg for name in tests if name not in suite.skipped for arg in ("--test", name)]
    if suite.lib:
        targets.append("--lib")
    # --release: crossbeam-channel's linearizability tests hand a value between two threads
    # 400,000 times, which an unoptimized build does 25 times slower in a browser than
    # natively (over 2 minutes against 5 s); optimized, they take seconds.
    command = [sys.executable, "-m", "wbspawn", "test", str(crate_dir), "--release", "--json"]
    command += ["--browser", engine, "--panic", PANIC[engine], "--timeout", str(TIMEOUT_S)]
    proc = subprocess.run(
        [*command, *targets],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"suites: no report for {suite.crate}:\n{proc.stderr[-4000:]}") from None
    (BENCH / "suites" / f"{suite.crate}-{engine}.log").write_text(proc.stderr)
    [engine_run] = report["engines"]
    return dict(engine_run)


def tally(engine: dict[str, Any]) -> dict[str, Any]:
    binaries = engine["binaries"]
    failed = [
        f"{b['label']}: {t['name']}"
        for b in binaries
        for t in b["tests"]
        if t["outcome"] == "failed"
    ]
    return {
        "passed": sum(b["passed"] or 0 for b in binaries),
        "failed": sum(b["failed"] or 0 for b in binaries),
        "ignored": sum(b["ignored"] or 0 for b in binaries),
        "unfinished": [f"{b['label']}: {b['error']}" for b in binaries if b["error"]],
        "failures": failed,
        "error": engine["error"],
    }


def main() -> int:
    (BENCH / "suites").mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wbspawn-suites-") as tmp:
        for suite in SUITES:
            crate_dir = fetch(suite, Path(tmp))
            drop_dev_dependencies(crate_dir / "Cargo.toml", suite.dropped)
            engines = {}
            for engine in PANIC:
                run_ = run(suite, crate_dir, engine)
                engines[run_["browser"] or engine] = {"panic": PANIC[engine], **tally(run_)}
            results[suite.crate] = {
                "version": suite.version,
                "dropped": list(suite.dropped),
                "skipped": list(suite.skipped),
                "engines": engines,
            }
            for browser, counts in engines.items():
                print(
                    f"{suite.crate} {suite.version} in {browser} (panic={counts['panic']}): "
                    f"{counts['passed']} passed, {counts['failed']} failed, "
                    f"{counts['ignored']} ignored"
                )
                for line in (*counts["failures"], *counts["unfinished"]):
                    print(f"    {line}")
    out = {"date": dt.date.today().isoformat(), "machine": machine(), "suites": results}
    (BENCH / "suites.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
