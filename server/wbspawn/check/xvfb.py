"""A virtual X display for browsers without a headless mode (WebKitGTK's MiniBrowser)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final

from wbspawn.build.toolchain import Which, find_executable
from wbspawn.check.browser import BrowserError

INSTALL_HINT: Final = "run `apt-get install xvfb` (or `make setup`)"
START_TIMEOUT_S: Final = 30.0


def find(
    environ: Mapping[str, str] | None = None,
    *,
    which: Which = shutil.which,
    default: Path = Path("/usr/bin/Xvfb"),
) -> Path:
    """WBSPAWN_XVFB, else `Xvfb` on PATH, else /usr/bin/Xvfb."""
    return find_executable(
        "WBSPAWN_XVFB",
        "Xvfb",
        [default],
        os.environ if environ is None else environ,
        which,
        what="an Xvfb executable",
        missing=f"Xvfb (a virtual display for WebKit) not found: {INSTALL_HINT}",
    )


class Xvfb:
    """`Xvfb` on the first free display number (it picks one itself: `-displayfd`)."""

    def __init__(self, path: Path | None = None) -> None:
        executable = find() if path is None else path
        read_end, write_end = os.pipe()
        try:
            self._process = subprocess.Popen(
                [
                    str(executable),
                    "-displayfd",
                    str(write_end),
                    "-screen",
                    "0",
                    "1280x1024x24",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write_end,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(read_end)
            raise BrowserError(f"cannot start Xvfb ({executable}): {exc}: {INSTALL_HINT}") from exc
        finally:
            os.close(write_end)
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()  # empty if Xvfb exited first
        if not number.isdigit():
            self.close()
            raise BrowserError(f"Xvfb ({executable}) did not start a display: {INSTALL_HINT}")
        self.display = f":{number}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> Xvfb:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
