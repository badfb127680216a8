"""The rebuild scheduler: turns batches of changes into builds, reloads and stylesheet swaps.

One builder task runs every build, so two cargo runs never overlap. A change that arrives
while a build runs only marks that another build is wanted: however many arrive, exactly one
follow-up build runs when the current one ends. Builds run on a worker thread (cargo is a
blocking subprocess); the event loop stays free to serve pages and websockets meanwhile.
A failed build changes nothing that is served: the last good build stays.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from wbspawn.build import (
    BuildError,
    BuildResult,
    CrateInfo,
    LineSink,
    run_streaming,
)
from wbspawn.config import Config
from wbspawn.errors import WbspawnError
from wbspawn.reload import Hub
from wbspawn.terminal import CargoProgress, Terminal
from wbspawn.toolchain import Toolchain
from wbspawn.watch import Change, Kind, WatchPlan


class BuildFunction(Protocol):
    def __call__(
        self,
        config: Config,
        toolchain: Toolchain,
        *,
        on_cargo_line: LineSink | None = None,
        stream: Callable[
            [Sequence[str], Path, Mapping[str, str], LineSink],
            subprocess.CompletedProcess[str],
        ] = ...,
        crate: CrateInfo | None = None,
    ) -> BuildResult: ...


MANIFESTS = frozenset({"Cargo.toml", "Cargo.lock"})


def package_name(app_dir: Path) -> str:
    """The package name in APP_DIR/Cargo.toml, for messages before the first build."""
    try:
        name = tomllib.loads((app_dir / "Cargo.toml").read_text(encoding="utf-8"))["package"][
            "name"
        ]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return app_dir.name
    return name if isinstance(name, str) else app_dir.name


class Rebuilder:
    def __init__(
        self,
        config: Config,
        toolchain: Toolchain,
        hub: Hub,
        terminal: Terminal,
        build: BuildFunction,
    ) -> None:
        self.config = config
        self.toolchain = toolchain
        self.hub = hub
        self.terminal = terminal
        self.build_fn = build
        self.current: BuildResult | None = None  # the last good build: what is served
        self.last_error: WbspawnError | None = None
        self.builds = 0  # started so far
        self._wanted = asyncio.Event()
        self._building = False
        self._reasons: list[str] = []
        self._pending_reload: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._process_lock = threading.Lock()
        self._stopped = False
        # `cargo metadata`'s answer, kept until a manifest changes: tens of ms a build.
        self._crate: CrateInfo | None = None

    def current_build(self) -> BuildResult | None:
        return self.current

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def busy(self) -> bool:
        """A build runs, or one is about to."""
        return self._building or self._wanted.is_set()

    # --- changes in ---------------------------------------------------------------------

    def handle(self, changes: Sequence[Change], plan: WatchPlan) -> None:
        """One batch from the watcher. Never blocks: builds happen in `run`."""
        rebuild = [c.shown(plan) for c in changes if c.kind is Kind.REBUILD]
        reload = [c.shown(plan) for c in changes if c.kind is Kind.RELOAD]
        css = [c for c in changes if c.kind is Kind.CSS]
        if any(c.path.name in MANIFESTS for c in changes):
            self._crate = None
        if rebuild:
            # The reload after the build brings the new HTML, JS and CSS along.
            styles = [c.shown(plan) for c in css]
            self.terminal.changed(rebuild + reload + styles, "rebuilding")
            self._pending_reload += reload + styles
            self.request_build(", ".join(rebuild[:3]) + (" …" if len(rebuild) > 3 else ""))
            return
        if reload:
            if self.busy:
                self.terminal.changed(reload, "reloading after the build")
                self._pending_reload += reload
            else:
                self.terminal.changed(reload, "reloading")
                self.hub.reload(reload)
        for change in css:
            if change.url is None:
                continue
            self.terminal.changed([change.shown(plan)], "swapping the stylesheet")
            self.hub.css(change.url)

    def request_build(self, reason: str = "") -> None:
        if reason:
            self._reasons.append(reason)
        self._wanted.set()

    # --- builds -------------------------------------------------------------------------

    async def run(self) -> None:
        """The builder task: one build at a time, for as long as the server runs."""
        while True:
            await self._wanted.wait()
            await self.build_now()

    async def build_now(self) -> BuildResult | None:
        """Run one build now (the caller makes sure none runs); the good result or None."""
        self._wanted.clear()
        reasons, self._reasons = self._reasons, []
        self._building = True
        self.builds += 1
        self.hub.building()
        what = self.current.crate_name if self.current else package_name(self.config.app_dir)
        self.terminal.building(what, self.config.profile, ", ".join(dict.fromkeys(reasons)))
        started = time.monotonic()
        progress = CargoProgress()
        try:
            result = await asyncio.to_thread(self._build, progress)
        except WbspawnError as exc:
            self._finish_failed(exc, time.monotonic() - started)
            return None
        except asyncio.CancelledError:
            self.stop()
            raise
        finally:
            self._building = False
        self.current = result
        self.last_error = None
        self.terminal.warnings(result.diagnostics)
        self.terminal.built(result, progress)
        changed, self._pending_reload = self._pending_reload, []
        self.hub.built(result, changed)
        return result

    def _finish_failed(self, exc: WbspawnError, seconds: float) -> None:
        self.last_error = exc
        if self._stopped:
            return
        self.terminal.failed(exc, seconds)
        diagnostics = exc.diagnostics if isinstance(exc, BuildError) else ""
        self.hub.failed(str(exc), diagnostics)
        if self._pending_reload:
            # Web files changed meanwhile: show them (the page reconnects to the overlay).
            changed, self._pending_reload = self._pending_reload, []
            self.hub.reload(changed)

    def _build(self, progress: CargoProgress) -> BuildResult:
        def on_line(line: str) -> None:
            if progress.feed(line):
                self.terminal.progress(progress)

        def stream(
            args: Sequence[str], cwd: Path, env: Mapping[str, str], sink: LineSink
        ) -> subprocess.CompletedProcess[str]:
            return run_streaming(args, cwd, env, sink, on_start=self._track)

        try:
            result = self.build_fn(
                self.config, self.toolchain, on_cargo_line=on_line, stream=stream, crate=self._crate
            )
        except WbspawnError:
            self._crate = None  # asked again next time: maybe it was the manifest
            raise
        else:
            self._crate = result.crate
            return result
        finally:
            with self._process_lock:
                self._process = None

    def _track(self, process: subprocess.Popen[str]) -> None:
        with self._process_lock:
            self._process = process
            stopped = self._stopped
        if stopped:
            process.terminate()

    def stop(self) -> None:
        """Stops a running cargo: the server is going away, no build may outlive it."""
        with self._process_lock:
            self._stopped = True
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
