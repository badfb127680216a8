from __future__ import annotations

import asyncio
import contextlib
import io
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import CargoChild, FakeTools, run_async, wait_gone
from wbspawn.build.pipeline import BuildResult, build
from wbspawn.build.process import BuildJob
from wbspawn.build.toolchain import Toolchain, discover
from wbspawn.config import Config
from wbspawn.errors import BuildError
from wbspawn.serve import rebuild
from wbspawn.serve.rebuild import Rebuilder, package_name
from wbspawn.serve.reload import Hub, Subscriber
from wbspawn.serve.watch import Change, Kind, WatchPlan
from wbspawn.terminal import Terminal

TOOLCHAIN = Toolchain(kind="env", cargo=Path("/bin/false"), rustc=Path("/bin/false"))


class FakeBuilds:
    """A build function whose builds wait for `release()`, fail on demand and count overlaps.

    A build whose job is stopped while it waits fails the way a killed cargo does."""

    def __init__(self, result: BuildResult) -> None:
        self.result = result
        self.started = 0
        self.running = 0
        self.most_at_once = 0
        self.fail_next = False
        self.raise_next: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Semaphore(0)
        self.lock = threading.Lock()

    def __call__(
        self, config: Config, toolchain: Toolchain, *, job: BuildJob | None = None, **kwargs: Any
    ) -> BuildResult:
        with self.lock:
            self.started += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            number, fail, unexpected = self.started, self.fail_next, self.raise_next
            self.fail_next, self.raise_next = False, None
        self.entered.release()
        try:
            deadline = time.monotonic() + 30
            while not self.gate.wait(0.01) and time.monotonic() < deadline:
                if job is not None and job.stopped:
                    raise BuildError("cargo build failed for demo", "killed by SIGTERM")
            if unexpected is not None:
                raise unexpected
            if fail:
                raise BuildError("cargo build failed for demo", "error[E0425]: oops")
            with contextlib.nullcontext() if job is None else job.last_step():
                return replace(self.result, duration_s=float(number))
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def builds(build_output: BuildResult) -> FakeBuilds:
    return FakeBuilds(build_output)


def make(config: Config, builds: FakeBuilds) -> tuple[Rebuilder, Hub, Subscriber]:
    hub = Hub()
    subscriber = Subscriber()
    hub.subscribers.add(subscriber)
    terminal = Terminal(io.StringIO(), io.StringIO(), color=False, live=False)
    return Rebuilder(config, TOOLCHAIN, hub, terminal, builds), hub, subscriber


def types(subscriber: Subscriber) -> list[str]:
    out = [m["type"] for m in subscriber.pending]
    subscriber.pending.clear()
    return out


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not condition():
            await asyncio.sleep(0.01)


def plan(config: Config) -> WatchPlan:
    return WatchPlan(app_dir=config.app_dir)


def rs(config: Config, name: str = "lib.rs") -> Change:
    return Change(Kind.REBUILD, config.app_dir / "src" / name)


def test_changes_during_a_build_stop_it_then_exactly_one_more_runs(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        task = asyncio.create_task(rebuilder.run())
        builds.gate.clear()
        rebuilder.handle([rs(config)], plan(config))
        await asyncio.to_thread(builds.entered.acquire)  # build 1 runs, held at the gate
        for i in range(20):  # one burst, as the watcher hands it over
            rebuilder.handle([rs(config, f"m{i}.rs")], plan(config))
        await asyncio.to_thread(builds.entered.acquire)  # build 2 runs: build 1 was stopped
        builds.gate.set()
        await until(lambda: hub.generation == 1 and not rebuilder.busy)
        await asyncio.sleep(0.2)  # room for a third build, which must not come
        task.cancel()

    run_async(scenario())
    assert builds.started == 2
    assert builds.most_at_once == 1
    # The stopped build neither reloaded the page nor showed its errors.
    messages = list(subscriber.pending)
    assert [m["type"] for m in messages] == ["building", "building", "reload"]
    assert messages[-1]["build"]["duration_s"] == 2.0  # the second build's
    assert hub.failure is None


def test_a_stopped_build_never_shows_its_errors_and_keeps_the_last_good_one(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        good, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config), fail=True)
        rebuilder.handle([rs(config)], plan(config))  # stops the failing build
        await asyncio.to_thread(builds.entered.acquire)
        assert rebuilder.current_build() == good  # served meanwhile
        builds.gate.set()
        await until(lambda: hub.generation == 2)
        task.cancel()

    run_async(scenario())
    # The pages reloaded as the stopped build started, once: they wait for the newest build.
    assert types(subscriber) == ["building", "reload", "building", "built"]
    assert rebuilder.last_error is None


@pytest.mark.parametrize(
    "error",
    [OSError(39, "Directory not empty"), RuntimeError("a bug")],
    ids=["OSError", "RuntimeError"],
)
def test_an_unexpected_error_is_a_failed_build_and_watching_goes_on(
    config: Config, builds: FakeBuilds, error: Exception
) -> None:
    rebuilder, hub, subscriber = make(config, builds)
    builds.raise_next = error

    async def scenario() -> None:
        task = asyncio.create_task(rebuilder.run())
        rebuilder.handle([rs(config)], plan(config))
        await until(lambda: hub.failure is not None or task.done())
        assert not task.done()
        rebuilder.handle([rs(config)], plan(config))  # the next save builds again
        await until(lambda: hub.generation == 1 or task.done())
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "build-failed", "building", "reload"]
    assert builds.started == 2
    err = rebuilder.terminal.err
    assert isinstance(err, io.StringIO)
    assert re.search(
        rf"build failed after [\d.]+ s: unexpected {type(error).__name__} \(", err.getvalue()
    )


def test_a_newer_change_ends_the_running_cargo_and_its_children(
    config: Config,
    fake_tools: FakeTools,
    cargo_child: CargoChild,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real build and the fake cargo: the stopped cargo's process group is gone."""
    gate = tmp_path / "gate"
    gate.touch()
    monkeypatch.setenv("FAKE_CARGO_GATE", str(gate))
    hub = Hub()
    subscriber = Subscriber()
    hub.subscribers.add(subscriber)
    terminal = Terminal(io.StringIO(), io.StringIO(), color=False, live=False)
    rebuilder = Rebuilder(config, discover(), hub, terminal, build)

    async def scenario() -> None:
        task = asyncio.create_task(rebuilder.run())
        rebuilder.handle([rs(config)], plan(config))
        pids = await asyncio.to_thread(cargo_child.pids)
        cargo_child.path.unlink()
        rebuilder.handle([rs(config)], plan(config))
        assert await asyncio.to_thread(wait_gone, pids["child"]), "cargo's child lives on"
        assert await asyncio.to_thread(wait_gone, pids["cargo"])
        await asyncio.to_thread(cargo_child.pids)  # the next build's cargo
        gate.unlink()
        await until(lambda: hub.generation == 1)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "building", "reload"]


def test_the_last_good_build_stays_while_a_build_fails(config: Config, builds: FakeBuilds) -> None:
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        good = await rebuilder.build_now()
        assert good is not None
        assert rebuilder.current_build() == good
        builds.fail_next = True
        assert await rebuilder.build_now() is None
        assert rebuilder.current_build() == good  # still served
        assert hub.failure is not None
        assert "error[E0425]: oops" in hub.failure["diagnostics"]
        fixed = await rebuilder.build_now()
        assert rebuilder.current_build() == fixed
        assert hub.failure is None

    run_async(scenario())
    assert types(subscriber) == [
        "building",
        "reload",  # after the first build
        "building",
        "reload",  # early: the last build was quick
        "build-failed",
        "building",  # not early after a failure: the page kept running with the overlay
        "reload",
    ]


def test_a_failed_first_build_serves_nothing(config: Config, builds: FakeBuilds) -> None:
    rebuilder, hub, _ = make(config, builds)
    builds.fail_next = True
    assert run_async(rebuilder.build_now()) is None
    assert rebuilder.current_build() is None
    assert isinstance(rebuilder.last_error, BuildError)
    assert [m["type"] for m in hub.state()] == ["hello", "build-failed"]


def test_web_changes_reload_at_once_when_idle(config: Config, builds: FakeBuilds) -> None:
    rebuilder, _, subscriber = make(config, builds)
    html = Change(Kind.RELOAD, config.app_dir / "index.html", "/index.html")
    css = Change(Kind.CSS, config.app_dir / "style.css", "/style.css")

    async def scenario() -> None:
        rebuilder.handle([html], plan(config))
        rebuilder.handle([css], plan(config))

    run_async(scenario())
    assert list(subscriber.pending) == [
        {"type": "reload", "reason": "change", "paths": ["index.html"]},
        {"type": "css", "path": "/style.css"},
    ]
    assert builds.started == 0


def test_html_changed_during_a_build_waits_for_its_reload(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)
    html = Change(Kind.RELOAD, config.app_dir / "index.html", "/index.html")
    css = Change(Kind.CSS, config.app_dir / "style.css", "/style.css")

    async def scenario() -> None:
        task = asyncio.create_task(rebuilder.run())
        builds.gate.clear()
        rebuilder.handle([rs(config)], plan(config))
        await asyncio.to_thread(builds.entered.acquire)
        rebuilder.handle([html], plan(config))  # no reload yet: the build's reload brings it
        rebuilder.handle([css], plan(config))  # a stylesheet swap needs no wait
        assert types(subscriber) == ["building", "css"]
        builds.gate.set()
        await until(lambda: hub.generation == 1)
        task.cancel()

    run_async(scenario())
    [reload] = list(subscriber.pending)
    assert reload["type"] == "reload"
    assert reload["paths"] == ["index.html"]


def test_html_changed_during_a_failed_build_still_reloads(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, _, subscriber = make(config, builds)
    html = Change(Kind.RELOAD, config.app_dir / "index.html", "/index.html")

    async def scenario() -> None:
        task = asyncio.create_task(rebuilder.run())
        builds.gate.clear()
        builds.fail_next = True
        rebuilder.handle([rs(config)], plan(config))
        await asyncio.to_thread(builds.entered.acquire)
        rebuilder.handle([html], plan(config))
        builds.gate.set()
        await until(lambda: not rebuilder.busy)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "build-failed", "reload"]


def test_rust_and_web_changes_together_make_one_build_and_one_reload(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)
    html = Change(Kind.RELOAD, config.app_dir / "index.html", "/index.html")

    async def scenario() -> None:
        task = asyncio.create_task(rebuilder.run())
        rebuilder.handle([rs(config), html], plan(config))
        await until(lambda: hub.generation == 1)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "reload"]
    assert builds.started == 1


def test_changes_are_named_from_their_root(config: Config) -> None:
    dep = config.app_dir.parent / "runtime-rs"
    watch_plan = WatchPlan(app_dir=config.app_dir, crate_dirs=(dep,))
    assert rs(config).shown(watch_plan) == "src/lib.rs"
    assert Change(Kind.REBUILD, dep / "src" / "pool.rs").shown(watch_plan) == (
        "runtime-rs/src/pool.rs"
    )
    assert Change(Kind.REBUILD, Path("/elsewhere/Cargo.toml")).shown(watch_plan) == (
        "/elsewhere/Cargo.toml"
    )


def test_package_name(config: Config, tmp_path: Path) -> None:
    assert package_name(config.app_dir) == "demo"
    assert package_name(tmp_path / "nowhere") == "nowhere"


async def a_build_at_the_gate(
    rebuilder: Rebuilder,
    builds: FakeBuilds,
    subscriber: Subscriber,
    change: Change,
    *,
    fail: bool = False,
) -> tuple[BuildResult, asyncio.Task[None]]:
    """A first good build (its messages dropped), then the builder running a build of
    `change` that waits at the gate (and fails after it, with `fail`): that first build,
    and the builder's task."""
    good = await rebuilder.build_now()
    assert good is not None
    subscriber.pending.clear()
    builds.fail_next = fail
    task = asyncio.create_task(rebuilder.run())
    builds.gate.clear()
    rebuilder.handle([change], plan(rebuilder.config))
    await asyncio.to_thread(builds.entered.acquire)
    return good, task


async def held(rebuilder: Rebuilder) -> bool:
    """Whether a request for the build's output would wait now."""
    waiter = asyncio.create_task(rebuilder.settled())
    await asyncio.sleep(0.05)
    waiting = not waiter.done()
    waiter.cancel()
    return waiting


def test_a_quick_build_reloads_the_pages_as_it_starts_and_holds_its_output(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        await rebuilder.build_now()
        assert types(subscriber) == ["building", "reload"]  # the first build: no page yet
        served = hub.served()
        task = asyncio.create_task(rebuilder.run())
        builds.gate.clear()
        rebuilder.handle([rs(config)], plan(config))
        await asyncio.to_thread(builds.entered.acquire)
        assert list(subscriber.pending) == [
            {"type": "building"},
            {"type": "reload", "reason": "building", "paths": []},
        ]
        subscriber.pending.clear()
        assert hub.served() != served  # a page served before the reload is stale
        served = hub.served()
        assert await held(rebuilder)
        waiting = asyncio.create_task(rebuilder.settled())
        builds.gate.set()
        await until(lambda: hub.generation == 2)
        await asyncio.wait_for(waiting, 5)
        current = rebuilder.current_build()
        assert current is not None
        assert current.duration_s == 2.0  # the new build is what they get
        assert not await held(rebuilder)
        task.cancel()
        # The pages that waited run this build: told it is done, not to reload again.
        [built] = list(subscriber.pending)
        assert built["type"] == "built"
        assert built["build"]["duration_s"] == 2.0
        assert hub.served() == served

    run_async(scenario())


def test_a_failed_build_lets_the_held_pages_have_the_last_good_one(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        good, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config), fail=True)
        assert await held(rebuilder)
        builds.gate.set()
        await until(lambda: hub.failure is not None)
        assert not await held(rebuilder)
        assert rebuilder.current_build() == good
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "reload", "build-failed"]


@pytest.mark.parametrize("why", ["manifest", "off"])
def test_no_early_reload_after_a_manifest_change_or_when_turned_off(
    config: Config, builds: FakeBuilds, why: str
) -> None:
    if why == "off":
        config = replace(config, early_reload=False)
    rebuilder, hub, subscriber = make(config, builds)
    change = (
        Change(Kind.REBUILD, config.app_dir / "Cargo.toml") if why == "manifest" else rs(config)
    )

    async def scenario() -> None:
        _, task = await a_build_at_the_gate(rebuilder, builds, subscriber, change)
        assert types(subscriber) == ["building"]  # the page runs on meanwhile
        assert not await held(rebuilder)
        builds.gate.set()
        await until(lambda: hub.generation == 2)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["reload"]


def test_a_build_that_takes_too_long_lets_the_pages_go_then_reloads_them(
    config: Config, builds: FakeBuilds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rebuild, "HOLD_MAX_S", 0.2)
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        good, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config))
        assert await held(rebuilder)
        async with asyncio.timeout(5):
            await rebuilder.settled()  # let go meanwhile, with the last good build
        assert rebuilder.current_build() == good
        builds.gate.set()
        await until(lambda: hub.generation == 2)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "reload", "reload"]


def test_html_changed_while_the_pages_wait_reloads_them_again(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)
    html = Change(Kind.RELOAD, config.app_dir / "index.html", "/index.html")

    async def scenario() -> None:
        _, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config))
        rebuilder.handle([html], plan(config))  # after the page reloaded: it has the old one
        builds.gate.set()
        await until(lambda: hub.generation == 2)
        task.cancel()

    run_async(scenario())
    messages = list(subscriber.pending)
    assert [m["type"] for m in messages] == ["building", "reload", "reload"]
    assert messages[-1]["paths"] == ["index.html"]


def test_stopping_the_server_lets_held_requests_go(config: Config, builds: FakeBuilds) -> None:
    rebuilder, _, subscriber = make(config, builds)

    async def scenario() -> None:
        _, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config))
        assert await held(rebuilder)
        rebuilder.stop()
        async with asyncio.timeout(5):
            await rebuilder.settled()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run_async(scenario())


def test_the_build_after_a_manifest_changes_build_reloads_early_again(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)
    manifest = Change(Kind.REBUILD, config.app_dir / "Cargo.toml")

    async def scenario() -> None:
        await rebuilder.build_now()
        task = asyncio.create_task(rebuilder.run())
        rebuilder.handle([manifest], plan(config))
        await until(lambda: hub.generation == 2)
        types(subscriber)
        rebuilder.handle([rs(config)], plan(config))
        await until(lambda: hub.generation == 3)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "reload", "built"]


def test_a_manifest_change_while_pages_wait_lets_them_go_at_once(
    config: Config, builds: FakeBuilds
) -> None:
    rebuilder, hub, subscriber = make(config, builds)
    manifest = Change(Kind.REBUILD, config.app_dir / "Cargo.toml")

    async def scenario() -> None:
        good, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config))
        assert await held(rebuilder)
        rebuilder.handle([manifest], plan(config))  # overtakes it: dependencies may build
        await asyncio.to_thread(builds.entered.acquire)
        assert not await held(rebuilder)
        assert rebuilder.current_build() == good
        builds.gate.set()
        await until(lambda: hub.generation == 2)
        task.cancel()

    run_async(scenario())
    # The pages ran the last good build meanwhile: the manifest's build reloads them.
    assert types(subscriber) == ["building", "reload", "building", "reload"]


def test_after_a_build_longer_than_a_page_may_wait_pages_reload_at_the_end(
    config: Config, builds: FakeBuilds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake's builds take 1 s, 2 s, 3 s... by their result.
    monkeypatch.setattr(rebuild, "HOLD_MAX_S", 0.5)
    rebuilder, hub, subscriber = make(config, builds)

    async def scenario() -> None:
        await rebuilder.build_now()  # 1 s, but a server's first build is no guide
        task = asyncio.create_task(rebuilder.run())
        types(subscriber)
        rebuilder.handle([rs(config)], plan(config))  # 2 s: early after a server's first
        await until(lambda: hub.generation == 2)
        assert types(subscriber) == ["building", "reload", "built"]
        rebuilder.handle([rs(config)], plan(config))  # after one of 2 s: not early
        await until(lambda: hub.generation == 3)
        task.cancel()

    run_async(scenario())
    assert types(subscriber) == ["building", "reload"]
    assert hub.generation == 3


def test_once_stopped_no_build_starts_and_the_builder_ends(
    config: Config, builds: FakeBuilds
) -> None:
    # The server stops the builder as it is told to exit, and the watcher may hand over a
    # change before it is cancelled: the builder must end, not spin.
    rebuilder, _, subscriber = make(config, builds)

    async def scenario() -> None:
        _, task = await a_build_at_the_gate(rebuilder, builds, subscriber, rs(config))
        rebuilder.handle([rs(config, "other.rs")], plan(config))  # overtakes it
        rebuilder.stop()
        rebuilder.handle([rs(config, "late.rs")], plan(config))
        async with asyncio.timeout(10):
            await task
        assert builds.started == 2

    run_async(scenario())
