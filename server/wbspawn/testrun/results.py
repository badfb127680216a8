"""What libtest printed, read back: each test's result and the binary's tally, for `--json`
and the per-engine summary. libtest's own text is what the terminal shows."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

Outcome = Literal["ok", "failed", "ignored"]

_RESULT: Final = re.compile(
    r"^test (?P<name>.+?)(?: - should panic)? \.\.\. (?P<result>ok|FAILED|ignored)"
)
_TALLY: Final = re.compile(
    r"^test result: (?:ok|FAILED)\. (?P<passed>\d+) passed; (?P<failed>\d+) failed; "
    r"(?P<ignored>\d+) ignored; (?P<measured>\d+) measured; (?P<filtered>\d+) filtered out"
)


@dataclass
class TestResult:
    name: str
    outcome: Outcome


@dataclass
class BinaryRun:
    """One test binary's run in one engine."""

    label: str
    exit_code: int | None = None
    # None: libtest never printed its tally (a crash, a hang, a build that did not start).
    passed: int | None = None
    failed: int | None = None
    ignored: int | None = None
    filtered_out: int | None = None
    tests: list[TestResult] = field(default_factory=list)
    # Why the binary failed other than by a failing test (a hang, the page's error).
    error: str | None = None
    # The threads still running when it hung, by name (libtest names them after the test).
    still_running: list[str] | None = None
    # On a hang: every thread and what it waited for, one line a thread (check/threads.py).
    threads: list[str] | None = None
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.error is None

    def read(self, lines: Iterable[str]) -> None:
        """Takes in what libtest printed (its stdout, in order)."""
        for line in lines:
            result = _RESULT.match(line)
            if result is not None:
                outcome: Outcome = {"ok": "ok", "FAILED": "failed"}.get(result["result"], "ignored")  # type: ignore[assignment]
                self.tests.append(TestResult(result["name"], outcome))
                continue
            tally = _TALLY.match(line)
            if tally is not None:
                self.passed = int(tally["passed"])
                self.failed = int(tally["failed"])
                self.ignored = int(tally["ignored"])
                self.filtered_out = int(tally["filtered"])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EngineRun:
    engine: str
    browser: str | None = None
    binaries: list[BinaryRun] = field(default_factory=list)
    error: str | None = None  # the engine could not run at all

    @property
    def ok(self) -> bool:
        return self.error is None and all(binary.ok for binary in self.binaries)

    def summary(self) -> str:
        """One line: the engine and its tally over every binary."""
        passed = sum(b.passed or 0 for b in self.binaries)
        failed = sum(b.failed or 0 for b in self.binaries)
        ignored = sum(b.ignored or 0 for b in self.binaries)
        broken = [b.label for b in self.binaries if not b.ok and not b.failed]
        verdict = "ok" if self.ok else "FAILED"
        count = len(self.binaries)
        line = (
            f"test {verdict} in {self.browser or self.engine}: {passed} passed; "
            f"{failed} failed; {ignored} ignored ({count} test binar{'y' if count == 1 else 'ies'})"
        )
        if self.error:
            line += f"; {self.error}"
        elif broken:
            line += f"; did not finish: {', '.join(broken)}"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "browser": self.browser,
            "status": "pass" if self.ok else "fail",
            "error": self.error,
            "binaries": [b.to_json() for b in self.binaries],
        }
