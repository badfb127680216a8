"""The rebuild scheduler: turns batches of changes into builds, reloads and stylesheet swaps.

One builder task runs every build, so two cargo runs never overlap. A change that arrives
while a build runs stops that build (its tools' whole process group is ended): a build of
older sources would only reload pages with stale code or show stale errors. Then exactly
one build of the newest sources runs, however many changes came. Builds run on a worker
thread (cargo is a blocking subprocess); the event loop stays free to serve pages and
websockets meanwhile. A failed or stopped build changes nothing that is served: the last
good build stays.

The early reload: a page's start (its document, the runtime, the app's worker; over 100 ms)
would otherwise begin only once the build ends. So after a good build, the pages are told to
reload as the next build starts, and its output (`/pkg/`, `/_wbspawn/app.json`) is held: its
requests are answered once the build ends, with the new build, or with the last good one
when it failed (the overlay shows why). The new page has started by the time cargo is done,
and waits only for the wasm. A build that runs past HOLD_MAX_S lets the held requests go with
the last good build, and reloads the pages again when it ends. No early reload after a failed
build (the developer is fixing errors: the page keeps running under the overlay), after a
manifest change (new dependencies build for minutes), after a build that took longer than
HOLD_MAX_S, or with `early_reload` off.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from wbspawn.build.cargo import CrateInfo
from wbspawn.build.pipeline import BuildResult
from wbspawn.build.process import BuildJob, LineSink
from wbspawn.build.toolchain import Toolchain
from wbspawn.config import Config
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.serve.reload import Hub
from wbspawn.serve.watch import Change, Kind, WatchPlan
from wbspawn.terminal import CargoProgress, Terminal


class BuildFunction(Protocol):
    def __call__(
        self,
        config: Config,
        toolchain: Toolchain,
        *,
        on_cargo_line: LineSink | None = None,
        crate: CrateInfo | None = None,
        job: BuildJob | None = None,
    ) -> BuildResult: ...


MANIFESTS = frozenset({"Cargo.toml", "Cargo.lock"})

# How long a page that reloaded early (above) may wait for the build before it gets the last
# good one: incremental builds of large apps take seconds on 2 cores. After a build that took
# longer, pages reload at the end.
HOLD_MAX_S = 20.0


def package_name(app_dir: Path) -> str:
    """The package name in APP_DIR/Cargo.toml, for messages before the first build."""
    try:
        name = tomllib.loads((app_dir / "Cargo.toml").read_text(encoding="utf-8"))["package"][
            "name"
        ]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return app_dir.name
    return name if isinstance(name, str) else app_dir.name


def unexpected_failure(exc: Exception) -> BuildError:
    """A failed build for an error no step expects (a bug, a full disk, a rename that lost a
    race): shown like any failed build, with the traceback for a report."""
    return BuildError(
        f"unexpected {type(exc).__name__} ({exc}): save a file to build again, and please "
        "report this if it happens again",
        "".join(traceback.format_exception(exc)),
    )


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
        self._job: BuildJob | None = None  # the build running now
        self._reasons: list[str] = []
        self._pending_reload: list[str] = []
        self._stopped = False
        # `cargo metadata`'s answer, kept until a manifest changes: tens of ms a build.
        self._crate: CrateInfo | None = None
        self._manifest_changes = 0
        self._manifest_changes_built = -1  # as many as the last good build had seen
        # Set while the build's output may be served; cleared from an early reload until the
        # build it announced ends (or HOLD_MAX_S passes: `_held_too_long`).
        self._served = asyncio.Event()
        self._served.set()
        self._hold_timer: asyncio.TimerHandle | None = None

    def current_build(self) -> BuildResult | None:
        return self.current

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def busy(self) -> bool:
        """A build runs, or one is about to."""
        return self._job is not None or self._wanted.is_set()

    async def settled(self) -> None:
        """Returns once the build's output may be served: at once, unless the pages reloaded
        early for a build that still runs."""
        await self._served.wait()

    @property
    def holding(self) -> bool:
        return not self._served.is_set()

    # --- changes in ---------------------------------------------------------------------

    def handle(self, changes: Sequence[Change], plan: WatchPlan) -> None:
        """One batch from the watcher. Never blocks: builds happen in `run`."""
        rebuild = [c.shown(plan) for c in changes if c.kind is Kind.REBUILD]
        reload = [c.shown(plan) for c in changes if c.kind is Kind.RELOAD]
        css = [c for c in changes if c.kind is Kind.CSS]
        if any(c.path.name in MANIFESTS for c in changes):
            self._crate = None
            self._manifest_changes += 1
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
        """Asks for a build of the sources as they are now; a running build is stopped."""
        if self._stopped:
            return
        if reason:
            self._reasons.append(reason)
        self._wanted.set()
        if self._job is not None:
            self._job.stop()

    # --- builds -------------------------------------------------------------------------

    async def run(self) -> None:
        """The builder task: one build at a time, for as long as the server runs."""
        while not self._stopped:
            await self._wanted.wait()
            await self.build_now()

    async def build_now(self) -> BuildResult | None:
        """Build now (the caller makes sure none runs), and again each time newer changes
        stop the build; the good result, or None."""
        while True:
            if self._stopped:  # the server is going away: no build starts any more
                return None
            self._wanted.clear()
            reasons, self._reasons = self._reasons, []
            job = BuildJob()
            self._job = job
            self.builds += 1
            self.hub.building()
            if not self._reloads_early():
                # A manifest changed since the pages reloaded (this build overtook theirs):
                # they get the last good build now, and reload when this one ends.
                self._release()
            elif not self.holding:
                self._hold()
                # The reload brings the web files changed so far along.
                self._pending_reload = []
                self.hub.reload_for_build()
            what = self.current.crate_name if self.current else package_name(self.config.app_dir)
            self.terminal.building(what, self.config.profile, ", ".join(dict.fromkeys(reasons)))
            started = time.monotonic()
            progress = CargoProgress()
            crate, manifest_changes = self._crate, self._manifest_changes
            failure: Exception | None = None
            try:
                result = await asyncio.to_thread(self._build, job, crate, progress)
            except asyncio.CancelledError:
                self.stop()
                raise
            except Exception as exc:
                # Whatever went wrong, expected or not, is a failed build: the dev loop
                # keeps watching, and the next save builds again.
                failure = exc
            finally:
                self._job = None
            if self._stopped:
                return None
            if job.stopped:
                # Overtaken by newer changes (they asked for the next build): this one's
                # errors and reload would be stale.
                self.terminal.overtaken()
                continue
            if failure is not None:
                self._crate = None  # asked again next time: maybe it was the manifest
                error = (
                    failure if isinstance(failure, WbspawnError) else unexpected_failure(failure)
                )
                self._finish_failed(error, time.monotonic() - started)
                return None
            if manifest_changes == self._manifest_changes:
                self._crate = result.crate
            self._manifest_changes_built = manifest_changes
            self.current = result
            self.last_error = None
            # Pages that reloaded early and waited have this build: no reload for them.
            reload = not self.holding
            self._release()
            self.terminal.warnings(result.diagnostics)
            self.terminal.built(result, progress)
            changed, self._pending_reload = self._pending_reload, []
            self.hub.built(result, changed, reload=reload or bool(changed))
            return result

    def _finish_failed(self, exc: WbspawnError, seconds: float) -> None:
        self.last_error = exc
        self._release()  # the held requests get the last good build, under the overlay
        self.terminal.failed(exc, seconds)
        diagnostics = exc.diagnostics if isinstance(exc, BuildError) else ""
        self.hub.failed(str(exc), diagnostics)
        if self._pending_reload:
            # Web files changed meanwhile: show them (the page reconnects to the overlay).
            changed, self._pending_reload = self._pending_reload, []
            self.hub.reload(changed)

    # --- the early reload ---------------------------------------------------------------

    def _reloads_early(self) -> bool:
        """Whether this build's pages reload as it starts: after a good build (`last_error`
        is set if a later one failed), the manifests as it saw them, that took less than a
        page may wait (the first build of a server is no guide: it may have built it all)."""
        return (
            self.config.early_reload
            and self.current is not None
            and self.last_error is None
            and self._manifest_changes_built == self._manifest_changes
            and (self.hub.generation == 1 or self.current.duration_s <= HOLD_MAX_S)
        )

    def _hold(self) -> None:
        self._served.clear()
        self._hold_timer = asyncio.get_running_loop().call_later(HOLD_MAX_S, self._held_too_long)

    def _held_too_long(self) -> None:
        # The pages that reloaded early run the last good build meanwhile, and reload again
        # when this build ends (it is no longer holding them).
        self._release()

    def _release(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        self._served.set()

    def _build(
        self, job: BuildJob, crate: CrateInfo | None, progress: CargoProgress
    ) -> BuildResult:
        def on_line(line: str) -> None:
            if progress.feed(line):
                self.terminal.progress(progress)

        return self.build_fn(
            self.config, self.toolchain, on_cargo_line=on_line, crate=crate, job=job
        )

    def stop(self) -> None:
        """Stops a running build, its tools' whole process group: the server is going away,
        no build may outlive it."""
        self._stopped = True
        self._release()  # a page waiting for the build's output gets the last good one
        if self._job is not None:
            self._job.stop()
