"""`wbspawn test`: build the crate's test binaries once, run each in each engine's headless
browser, and print what libtest prints, as `cargo test` does.

One server serves the binary under test (`/pkg/`) and the runtime; the test page
(static/test.html) starts the binary with libtest's arguments and runs its `main`. libtest's
lines reach the terminal from the browser's console as they come (check/output.py tells them
from the page's own messages); the program's end is its exit code. A binary that has not
ended within the timeout is stopped, with the threads still running named (libtest names
each test's thread after the test) and the pool's figures.

Exit status as cargo's: 0 when every binary passed in every engine, 101 when a test failed,
a binary hung or crashed, or the build failed; 1 when the run could not start (no browser,
no toolchain).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlencode

from wbspawn.build import toolchain as toolchain_mod
from wbspawn.build.pipeline import BuildResult
from wbspawn.check import engines
from wbspawn.check.browser import BrowserError, EngineName, Page
from wbspawn.check.output import output_lines
from wbspawn.check.smoke import evaluate_or_none, exit_code
from wbspawn.check.threads import format_threads, read_threads
from wbspawn.config import Config
from wbspawn.errors import BuildError
from wbspawn.serve.app import create_app
from wbspawn.serve.server import running
from wbspawn.terminal import CargoProgress, Terminal
from wbspawn.testrun.build import TestBinary, TestBuild, build_tests, prepare_runner_binary
from wbspawn.testrun.results import BinaryRun, EngineRun

# cargo test's codes: a failed test or build is 101.
FAILED: Final = 101
POLL_S: Final = 0.1
TEST_PAGE: Final = "_wbspawn/static/test.html"


@dataclass(frozen=True)
class TestOptions:
    cargo_args: tuple[str, ...] = ()
    libtest_args: tuple[str, ...] = ()
    engines: tuple[EngineName, ...] = ("chromium",)
    timeout_s: float = 300.0
    json: bool = False


def run_tests(config: Config, options: TestOptions, *, out: TextIO | None = None) -> int:
    """The whole command: build, run everywhere, print; the exit status."""
    stdout = sys.stdout if out is None else out
    # With --json, stdout is the report's and libtest's text goes to stderr.
    text_out = sys.stderr if options.json else stdout
    term = Terminal(out=text_out)
    found = [(engines.engine(name), engines.engine(name).find()) for name in options.engines]
    toolchain = toolchain_mod.discover()
    term.building(f"{config.app_dir.name}'s tests", config.profile)
    progress = CargoProgress()

    def on_line(line: str) -> None:
        if progress.feed(line):
            term.progress(progress)

    try:
        build = build_tests(config, toolchain, options.cargo_args, on_cargo_line=on_line)
    except BuildError as exc:
        term.failed(exc)
        if options.json:
            stdout.write(json.dumps({"status": "fail", "error": str(exc), "engines": []}) + "\n")
        return FAILED
    term.warnings(build.diagnostics)
    term.line(
        f"built {len(build.binaries)} test binar{'y' if len(build.binaries) == 1 else 'ies'} "
        f"of {build.crate_name} in {build.duration_s:.1f} s ({build.stack_checks})",
        "green",
    )
    runs = [EngineRun(engine.name, engine.version(path)) for engine, path in found]
    serving: list[TestBinary] = build.binaries[:1]

    def current() -> BuildResult | None:
        return _as_build_result(build, serving[0]) if serving else None

    libtest_args = _libtest_args(options.libtest_args, text_out)
    with running(create_app(config, current)) as url:
        for (engine, path), run in zip(found, runs, strict=True):
            try:
                with engine.start(path) as browser:
                    for binary in build.binaries:
                        serving[:] = [binary]
                        term.line(f"running {binary.label} in {run.browser}", "dim")
                        page = browser.new_page()
                        try:
                            run.binaries.append(
                                _run_binary(page, url, binary, libtest_args, options, text_out)
                            )
                        finally:
                            page.close()
            except BrowserError as exc:
                run.error = str(exc)
    for run in runs:
        term.line(run.summary(), "green" if run.ok else "red")
    if options.json:
        report = {
            "crate": build.crate_name,
            "status": "pass" if all(run.ok for run in runs) else "fail",
            "engines": [run.to_json() for run in runs],
        }
        stdout.write(json.dumps(report) + "\n")
    return 0 if all(run.ok for run in runs) else FAILED


def run_test_binary(
    config: Config, wasm: Path, options: TestOptions, *, out: TextIO | None = None
) -> int:
    """`wbspawn test-runner`: one test binary cargo built (`cargo test` with wbspawn as the
    target's runner), run in each engine; the exit status is libtest's, as the binary's own
    would be on native (0, or 101 when a test failed), and 101 for a hang or a crash."""
    stdout = sys.stdout if out is None else out
    found = [(engines.engine(name), engines.engine(name).find()) for name in options.engines]
    binary = prepare_runner_binary(wasm, config, toolchain_mod.discover())
    build = TestBuild(binary.target, [binary], 0.0, "", "", "")
    args = _libtest_args(options.libtest_args, stdout)
    codes: list[int] = []
    with running(create_app(config, lambda: _as_build_result(build, binary))) as url:
        for engine, path in found:
            try:
                with engine.start(path) as browser:
                    page = browser.new_page()
                    try:
                        run = _run_binary(page, url, binary, args, options, stdout)
                    finally:
                        page.close()
            except BrowserError as exc:
                sys.stderr.write(f"wbspawn test-runner: {exc}\n")
                codes.append(1)
                continue
            finished = run.error is None and run.exit_code is not None
            codes.append(run.exit_code if finished and run.exit_code is not None else FAILED)
    return next((code for code in codes if code != 0), 0)


def _libtest_args(args: Sequence[str], out: TextIO) -> list[str]:
    # libtest in the browser cannot see a terminal: colours as cargo test would show them.
    isatty = getattr(out, "isatty", None)
    wants = bool(isatty and isatty())
    if wants and not any(a == "--color" or a.startswith("--color=") for a in args):
        return [*args, "--color", "always"]
    return list(args)


def _as_build_result(build: TestBuild, binary: TestBinary) -> BuildResult:
    return BuildResult(
        out_dir=binary.out_dir,
        js_name=binary.js_name,
        wasm_name=binary.wasm_name,
        crate_name=build.crate_name,
        duration_s=build.duration_s,
        cargo_s=0.0,
        bindgen_s=0.0,
    )


def _run_binary(
    page: Page,
    url: str,
    binary: TestBinary,
    args: Sequence[str],
    options: TestOptions,
    out: TextIO,
) -> BinaryRun:
    run = BinaryRun(binary.label)
    started = time.monotonic()
    query = urlencode([("arg", arg) for arg in args])
    printed = 0
    texts: list[str] = []

    def show() -> None:
        nonlocal printed
        lines = output_lines(page.console)
        for line in lines[printed:]:
            stream = out if line.stream == "stdout" else sys.stderr
            stream.write(line.text + "\n")
            stream.flush()
            if line.stream == "stdout":
                texts.append(line.text)
        printed = len(lines)

    try:
        page.open(f"{url}{TEST_PAGE}?{query}", timeout_s=options.timeout_s + 30)
        deadline = started + options.timeout_s
        while time.monotonic() < deadline:
            show()
            run.exit_code = exit_code(page)
            if run.exit_code is not None:
                break
            uncaught = [p for p in page.problems if p.source in ("uncaught", "request")]
            if uncaught:
                run.error = "; ".join(p.message for p in uncaught)
                break
            page.pause(POLL_S)
        else:
            state = _pool_state(page)
            run.still_running = [str(t) for t in state.get("threads", [])]
            run.error = _hang_message(options.timeout_s, run.still_running, state)
            threads = read_threads(page)
            if threads is not None:
                run.threads = threads.lines
                run.error += "\n" + format_threads(threads)
        # Lines the pump passed on with the end itself.
        page.pause(POLL_S)
        show()
    except BrowserError as exc:
        run.error = str(exc)
    run.read(texts)
    run.duration_s = round(time.monotonic() - started, 3)
    if run.error:
        sys.stderr.write(f"wbspawn test: {binary.label}: {run.error}\n")
    elif run.exit_code not in (0, None) and run.failed is None:
        run.error = f"the test binary ended with code {run.exit_code} before libtest's result"
        sys.stderr.write(f"wbspawn test: {binary.label}: {run.error}\n")
    return run


def _pool_state(page: Page) -> dict[str, Any]:
    state = evaluate_or_none(page, "self.wbspawnApp ? self.wbspawnApp.poolState() : null")
    return state if isinstance(state, dict) else {}


def _hang_message(timeout_s: float, threads: Sequence[str], state: dict[str, Any]) -> str:
    names = ", ".join(threads) if threads else "none (every thread waits)"
    pool = ", ".join(
        f"{key} {state[key]}" for key in ("live", "idle", "queued", "booting") if key in state
    )
    return f"did not finish within {timeout_s:g} s (--timeout); threads still running: {names}" + (
        f"; pool: {pool}" if pool else ""
    )
