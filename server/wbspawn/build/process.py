"""Running the build's tools: captured or streamed, each in a process group of its own, and
stoppable from another thread (`BuildJob`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from wbspawn.errors import WbspawnError

# Called with each tool's process as soon as it starts (so that another thread can stop it).
ProcessHook = Callable[[subprocess.Popen[str]], None]
# Receives each stdout line (cargo's JSON messages) while the process runs.
LineSink = Callable[[str], None]


class Runner(Protocol):
    """(args, cwd, env) -> finished process with text stdout/stderr; never raises on exit
    status."""

    def __call__(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


class StreamRunner(Protocol):
    """Like Runner, plus a LineSink: how the dev server shows cargo's progress as it happens."""

    def __call__(
        self,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        on_line: LineSink,
        *,
        on_start: ProcessHook | None = None,
    ) -> subprocess.CompletedProcess[str]: ...


# How long a stopped build's tools get to exit on SIGTERM before what is left gets SIGKILL.
STOP_GRACE_S = 2.0


def _start(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    # A session (so a process group) of its own: cargo's rustc and build-script children
    # can be ended together with it (SIGTERM to cargo alone leaves them running), and a
    # Ctrl-C at the terminal reaches wbspawn only, which decides what to stop.
    return subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _signal_group(pgid: int, sig: int) -> bool:
    """Sends `sig` to a process group; False if the group is gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # gone (or the id now belongs to others)
        return False
    return True


def end_process_group(proc: subprocess.Popen[str], grace_s: float = STOP_GRACE_S) -> None:
    """Ends a tool started here and everything it started: SIGTERM to its process group,
    SIGKILL to whatever is left after `grace_s`. Blocks until then at most."""
    if not _signal_group(proc.pid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reaps the leader: a zombie still holds its group
        if not _signal_group(proc.pid, 0):
            return
        time.sleep(0.02)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)


def run_captured(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    on_start: ProcessHook | None = None,
) -> subprocess.CompletedProcess[str]:
    with _start(args, cwd, env) as proc:
        try:
            if on_start is not None:
                on_start(proc)
            stdout, stderr = proc.communicate()
        except BaseException:  # Ctrl-C, or the build stopped: the tool must not live on
            end_process_group(proc)
            raise
    return subprocess.CompletedProcess(list(args), proc.returncode, stdout, stderr)


def run_streaming(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    on_line: LineSink,
    *,
    on_start: ProcessHook | None = None,
) -> subprocess.CompletedProcess[str]:
    """run_captured, but stdout lines reach `on_line` as they come.

    `on_start` gets the process, so a server shutting down can stop a build mid-way.
    """
    proc = _start(args, cwd, env)
    stdout, stderr = proc.stdout, proc.stderr
    if stdout is None or stderr is None:  # pragma: no cover - both are pipes above
        raise RuntimeError("subprocess pipes missing")
    stderr_lines: list[str] = []
    # stderr is drained on its own thread: a full stderr pipe would stall cargo, and then
    # stdout, and this loop with it.
    drain = threading.Thread(target=lambda: stderr_lines.extend(stderr), daemon=True)
    drain.start()
    stdout_lines: list[str] = []
    with stdout, stderr:
        try:
            if on_start is not None:
                on_start(proc)
            for line in stdout:
                stdout_lines.append(line)
                on_line(line.rstrip("\n"))
            returncode = proc.wait()
        except BaseException:  # Ctrl-C, or the build stopped: the tool must not live on
            end_process_group(proc)
            raise
        finally:
            drain.join()
    return subprocess.CompletedProcess(
        list(args), returncode, "".join(stdout_lines), "".join(stderr_lines)
    )


class BuildStopped(WbspawnError):
    """The build was stopped before it finished: newer changes came in, or the server is
    going away."""

    def __init__(self) -> None:
        super().__init__("the build was stopped before it finished")


class BuildJob:
    """One build that another thread may stop.

    `stop()` ends the tool running now with its whole process group, and keeps the build
    from starting another tool or from replacing the served output. Once the output is
    swapped in (`last_step`), the build is done and there is nothing left to stop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._done = False
        self._processes: list[subprocess.Popen[str]] = []

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> bool:
        """Stops the build unless it is done; True if it was stopped.

        Never blocks (it is called on the event loop): the SIGTERM goes out at once, the
        wait for the group to end and the SIGKILL after it run on a thread. Not a daemon
        thread: an exiting server still finishes them.
        """
        with self._lock:
            if self._done:
                return False
            self._stopped = True
            running = [p for p in self._processes if p.returncode is None]
        for proc in running:
            threading.Thread(
                target=end_process_group, args=(proc,), name="wbspawn-stop-build"
            ).start()
        return True

    def check(self) -> None:
        if self._stopped:
            raise BuildStopped

    def started(self, proc: subprocess.Popen[str]) -> None:
        """The ProcessHook of this build's tools."""
        with self._lock:
            if not self._stopped:
                self._processes.append(proc)
                return
        end_process_group(proc)
        raise BuildStopped

    @contextlib.contextmanager
    def last_step(self) -> Iterator[None]:
        """Holds `stop()` off while the output is swapped in: a build is either stopped
        before it, or done."""
        with self._lock:
            if self._stopped:
                raise BuildStopped
            yield
            self._done = True
