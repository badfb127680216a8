"""`wbspawn test` end to end: a crate's own #[test]s (tests/apps/suite, which knows nothing of
wbspawn) and the runtime's own tests (runtime-rs/tests), built for wasm and run in headless
browsers, with libtest's results read back from `--json`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from apps import REPO

SUITE = REPO / "tests" / "apps" / "suite"
RUNTIME = REPO / "runtime-rs"

# The unit tests that fail on purpose, each in its own way.
FAILING = {
    "tests::fails_with_output",  # an assertion, after printing
    "tests::panics_with_the_wrong_message",  # should_panic(expected) not met
    "tests::returns_err",  # a test returning Err
    "tests::traps",  # its thread crashes (a trap)
}
PASSING_UNIT = {"tests::sums_in_parallel", "tests::panics_as_expected"}
THREADS = {
    "spawn_and_join",
    "channels_between_many_threads",
    "recv_timeout_times_out",
    "scoped_threads_borrow",
    "a_barrier_and_a_mutex",
    "rayon_pool",
    "sleeps_at_least_as_long_as_asked",
}


def wbspawn_test(crate: Path, *args: str, timeout_s: float = 900) -> tuple[int, Any, str]:
    """Runs `wbspawn test CRATE --json ARGS`: exit status, the JSON report, libtest's text."""
    proc = subprocess.run(
        [sys.executable, "-m", "wbspawn", "test", str(crate), "--json", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=dict(os.environ),
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"no JSON report:\n{proc.stdout}\n{proc.stderr}") from None
    return proc.returncode, report, proc.stderr


def outcomes(run: dict[str, Any], label: str) -> dict[str, str]:
    binary = next(b for b in run["binaries"] if b["label"] == label)
    return {test["name"]: test["outcome"] for test in binary["tests"]}


def test_a_crates_own_tests_run_in_every_engine() -> None:
    code, report, text = wbspawn_test(SUITE, "--browser", "all")
    assert code == 101, text
    assert [run["engine"] for run in report["engines"]] == ["chromium", "firefox", "webkit"]
    for run in report["engines"]:
        unit = outcomes(run, "unittests src/lib.rs")
        assert {name for name, outcome in unit.items() if outcome == "failed"} == FAILING, run
        assert {name for name, outcome in unit.items() if outcome == "ok"} == PASSING_UNIT
        assert unit["tests::ignored_with_a_reason"] == "ignored"
        threads = outcomes(run, "tests/threads.rs")
        assert {name for name, outcome in threads.items() if outcome == "ok"} == THREADS, run
        assert threads["hangs_forever"] == "ignored"
        assert run["status"] == "fail"
    # libtest's own report of a failure: what the test printed, then its panic, then the
    # trap's, which has no output of its own.
    assert "---- tests::fails_with_output stdout ----\nprinted before the failure\n" in text
    assert "assertion `left == right` failed: two and two" in text
    assert "note: the test's thread died: thread crashed: RuntimeError" in text
    assert "test result: ok. 7 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out" in text


def test_libtests_options_reach_it() -> None:
    code, report, text = wbspawn_test(SUITE, "--test", "threads", "--", "--exact", "rayon_pool")
    assert code == 0, text
    [binary] = report["engines"][0]["binaries"]
    assert (binary["passed"], binary["filtered_out"]) == (1, 7)
    code, report, text = wbspawn_test(
        SUITE, "--test", "threads", "--", "--skip", "rayon", "--test-threads", "1"
    )
    assert code == 0, text
    assert report["engines"][0]["binaries"][0]["passed"] == 6
    code, report, text = wbspawn_test(SUITE, "--lib", "--", "--list")
    assert code == 0, text
    assert "tests::traps: test" in text


def test_unwinding_tests_report_the_same() -> None:
    code, report, text = wbspawn_test(SUITE, "--lib", "--panic", "unwind")
    assert code == 101, text
    unit = outcomes(report["engines"][0], "unittests src/lib.rs")
    assert {name for name, outcome in unit.items() if outcome == "failed"} == FAILING
    assert "printed before the failure" in text


def test_a_hung_test_is_named_after_the_timeout() -> None:
    code, report, text = wbspawn_test(
        SUITE, "--test", "threads", "--timeout", "10", "--", "--ignored", "hangs_forever"
    )
    assert code == 101, text
    [binary] = report["engines"][0]["binaries"]
    assert binary["still_running"] == ["hangs_forever"]
    assert binary["error"].startswith("did not finish within 10 s (--timeout)")
    assert "threads still running: hangs_forever" in text
    # What each thread waited for: the test's own on its channel (libtest's main waits with a
    # timeout, looking for dead test threads).
    hung = next(line for line in binary["threads"] if line.startswith("'hangs_forever' (#"))
    assert "is parked: a channel, park or a scope" in hung, binary["threads"]
    assert "\nthreads:\n  main (#" in text and "\n  'hangs_forever' (#" in text, text


def test_the_runtimes_own_tests_pass_in_every_engine() -> None:
    code, report, text = wbspawn_test(
        RUNTIME, "--test", "join_async", "--test", "pool_accounting", "--browser", "all"
    )
    assert code == 0, text
    for run in report["engines"]:
        assert run["status"] == "pass", run
        assert outcomes(run, "tests/pool_accounting.rs") == {
            "sequential_spawn_join_reuses_the_same_workers": "ok"
        }


def test_a_plain_cargo_test_runs_in_the_browser(tmp_path: Path) -> None:
    # `eval "$(wbspawn env)"; cargo test`: cargo builds the tests and hands each binary to
    # `wbspawn test-runner`, which runs it in Chromium and exits with libtest's status.
    printed = subprocess.run(
        [sys.executable, "-m", "wbspawn", "env", str(SUITE)],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    env = dict(os.environ)
    for line in printed.splitlines():
        name, value = line.removeprefix("export ").split("=", 1)
        env[name] = shlex.split(value)[0]
    env["CARGO_TARGET_DIR"] = str(tmp_path / "target")  # not the repository's

    def cargo_test(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["cargo", "test", *args],
            cwd=SUITE,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    passing = cargo_test("--test", "threads", "--", "--exact", "spawn_and_join")
    assert passing.returncode == 0, passing.stderr
    assert "test spawn_and_join ... ok" in passing.stdout
    assert "1 passed; 0 failed; 0 ignored; 0 measured; 7 filtered out" in passing.stdout
    failing = cargo_test("--lib", "--", "--exact", "tests::returns_err")
    assert failing.returncode == 101, failing.stderr
    assert "test tests::returns_err ... FAILED" in failing.stdout
