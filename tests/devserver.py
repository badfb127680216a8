"""Helpers for tests against a real `wbspawn serve` process: start it, read it, talk to it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin


class DevServer:
    """`python -m wbspawn serve APP_DIR --port 0 ...` in a subprocess.

    Waits for the `serving ... at URL` line; stderr, and stdout after that line (what the
    app prints to its stdout), are collected line by line so tests can wait for what the
    server says it does.
    """

    def __init__(
        self,
        app_dir: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        startup_s: float = 600,
    ) -> None:
        self.app_dir = app_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wbspawn", "serve", str(app_dir), "--port", str(port), *args],
            env=dict(os.environ if env is None else env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.out_lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + startup_s
        line = ""
        while not line and time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline()
        match = re.match(r"wbspawn: serving (\S+) at (http://\S+/)", line)
        if match is None:
            self.stop()
            raise AssertionError(f"no URL from the server: {line!r}; stderr: {self.stderr}")
        self.url = match.group(2)
        self._out_reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._out_reader.start()
        self.origin = self.url.rstrip("/")
        self.ws_url = "ws" + self.origin[len("http") :] + "/_wbspawn/ws"

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.out_lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def wait_for_out_line(self, line: str, *, timeout: float = 60) -> None:
        """Waits until the server printed exactly `line` on stdout."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while line not in self.out_lines:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no stdout line {line!r} in: {self.out_lines}")
                self._seen.wait(left)

    @property
    def stderr(self) -> str:
        with self._seen:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, *, after: int = 0, timeout: float = 60) -> int:
        """Index of the first stderr line from `after` on that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for index in range(after, len(self.lines)):
                    if regex.search(self.lines[index]):
                        return index
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no line matching {pattern!r} in:\n{self.stderr}")
                self._seen.wait(left)

    def socket(self, origin: str | None = None, **kwargs: Any) -> ClientConnection:
        connection: ClientConnection = connect(
            self.ws_url,
            origin=Origin(origin or self.origin),
            proxy=None,
            open_timeout=30,
            **kwargs,
        )
        return connection

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        if hasattr(self, "_out_reader"):
            self._out_reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.returncode


def receive(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return message


def receive_until(
    ws: ClientConnection, want: Callable[[dict[str, Any]], bool], timeout: float = 120
) -> list[dict[str, Any]]:
    """Every message up to and including the first one `want`s."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        message = receive(ws, max(0.01, deadline - time.monotonic()))
        seen.append(message)
        if want(message):
            return seen


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("type") == kind


def good_build(message: dict[str, Any]) -> bool:
    """A good build's end: `built` when the pages reloaded as it started, else its `reload`."""
    kind = message.get("type")
    return kind == "built" or (kind == "reload" and message.get("reason") == "build")


def types(messages: Sequence[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def wait_until_watching(ws: ClientConnection, app_dir: Path, timeout: float = 60) -> None:
    """Saves a probe file until the server reports it: from then on, edits are seen.

    The probe is a web file of the app: its change is a reload without a build.
    """
    probe = app_dir / "probe.txt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe.write_text(str(time.monotonic()))
        try:
            receive_until(
                ws, lambda m: m["type"] == "reload" and "probe.txt" in m["paths"], timeout=0.5
            )
            return
        except TimeoutError:
            continue
    raise AssertionError("the server never reported the probe file")
