"""`make bench-testrun`: what `wbspawn test` costs, beside native `cargo test` of the same crate.

A generated crate of 400 small threaded tests (each spawns two threads that talk over a
channel and joins them), in a temporary dir. Its test build is warmed first (std, the runtime
and the crate built; what a developer's second run finds), then, in one run on one machine:

- `wbspawn test` in Chromium and in Firefox: seconds from the command to libtest's first
  `test ... ok` line, and to its end;
- native `cargo test` of the same crate: the same two times.

Prints a table and writes bench/testrun.json.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BENCH, machine

TESTS = 400
RUNS = 3

TEST = """
#[test]
fn threaded_{n}() {{
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || tx.send({n}u64).unwrap());
    let receiver = std::thread::spawn(move || rx.recv().unwrap() * 2);
    sender.join().unwrap();
    assert_eq!(receiver.join().unwrap(), {n}u64 * 2);
}}
"""


def make_crate(root: Path) -> Path:
    crate = root / "many-tests"
    (crate / "src").mkdir(parents=True)
    (crate / "tests").mkdir()
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "many-tests"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n'
    )
    (crate / "src" / "lib.rs").write_text("")
    (crate / "tests" / "many.rs").write_text("".join(TEST.format(n=n) for n in range(TESTS)))
    return crate


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds to the first test result line, seconds to the end); the run must pass."""
    started = time.monotonic()
    first: float | None = None
    with subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        for line in proc.stdout or ():
            if first is None and line.startswith("test ") and " ... " in line:
                first = time.monotonic() - started
        code = proc.wait()
    total = time.monotonic() - started
    if code != 0 or first is None:
        raise SystemExit(f"testrun: {' '.join(args)} failed (exit {code})")
    return first, total


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wbspawn-testrun-") as tmp:
        crate = make_crate(Path(tmp))
        wbspawn = [sys.executable, "-m", "wbspawn", "test", str(crate), "--test", "many"]
        native = ["cargo", "test", "--test", "many"]
        # Warm: every build done once, as a developer's second run finds it.
        subprocess.run([*wbspawn, "--browser", "chromium"], check=True, capture_output=True)
        subprocess.run(native, cwd=crate, check=True, capture_output=True)
        rows = {
            "wbspawn test, Chromium": [*wbspawn, "--browser", "chromium"],
            "wbspawn test, Firefox": [*wbspawn, "--browser", "firefox"],
            "native cargo test": native,
        }
        for name, args in rows.items():
            runs = [timed(args, crate) for _ in range(RUNS)]
            firsts = sorted(first for first, _ in runs)
            totals = sorted(total for _, total in runs)
            results[name] = {
                "first_result_s": round(firsts[len(firsts) // 2], 2),
                "total_s": round(totals[len(totals) // 2], 2),
            }
            print(
                f"{name:28} first result {results[name]['first_result_s']:6.2f} s   "
                f"{TESTS} tests {results[name]['total_s']:6.2f} s   (median of {RUNS})"
            )
    out = {"date": dt.date.today().isoformat(), "machine": machine(), "tests": TESTS, **results}
    (BENCH / "testrun.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
