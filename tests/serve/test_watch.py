from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import watchfiles

from conftest import run_async
from wbspawn.serve.watch import (
    Change,
    Kind,
    Watcher,
    WatchPlan,
    classify,
    classify_all,
    needs_new_plan,
    plan_from_metadata,
    watch_targets,
)

WS = Path("/ws")
APP = WS / "examples" / "app"
PLAN = WatchPlan(
    app_dir=APP,
    crate_dirs=(WS / "runtime-rs",),
    web_dirs=(WS / "runtime-js",),
    manifest_files=(WS / "Cargo.toml", WS / "Cargo.lock"),
    ignored=(WS / "target", APP / "cache"),
)


@pytest.mark.parametrize(
    ("path", "kind", "url"),
    [
        (APP / "src" / "lib.rs", Kind.REBUILD, None),
        (APP / "src" / "deep" / "mod.rs", Kind.REBUILD, None),
        (APP / "src" / "words.txt", Kind.REBUILD, None),  # include_str!
        (APP / "src" / "snippet.js", Kind.REBUILD, None),  # wasm-bindgen module = "/src/..."
        (APP / "Cargo.toml", Kind.REBUILD, None),
        (APP / "Cargo.lock", Kind.REBUILD, None),
        (APP / "build.rs", Kind.REBUILD, None),
        (APP / "index.html", Kind.RELOAD, "/index.html"),
        (APP / "main.js", Kind.RELOAD, "/main.js"),
        (APP / "img" / "logo.svg", Kind.RELOAD, "/img/logo.svg"),
        (APP / "style.css", Kind.CSS, "/style.css"),
        (APP / "css" / "theme.CSS", Kind.CSS, "/css/theme.CSS"),
        (WS / "runtime-rs" / "src" / "pool.rs", Kind.REBUILD, None),
        (WS / "runtime-rs" / "README.md", Kind.REBUILD, None),  # include_str! for docs
        (WS / "runtime-js" / "bootstrap.js", Kind.RELOAD, None),
        (WS / "Cargo.toml", Kind.REBUILD, None),
        (WS / "Cargo.lock", Kind.REBUILD, None),
    ],
)
def test_what_a_change_means(path: Path, kind: Kind, url: str | None) -> None:
    assert classify(PLAN, path) == Change(kind, path, url)


@pytest.mark.parametrize(
    "path",
    [
        WS / "Makefile",  # the workspace root is not watched, only its manifests
        WS / "target" / "debug" / "app.wasm",
        APP / "target" / "wasm32-unknown-unknown" / "debug" / "app.wasm",
        WS / "runtime-rs" / "target" / "x.rlib",
        APP / "cache" / "out" / "pkg" / "app.js",  # the build cache, inside the app here
        APP / "dist" / "assets" / "main.0123456789.js",  # `wbspawn build`'s output
        APP / ".git" / "index",
        APP / ".env",
        APP / ".vscode" / "settings.json",
        APP / "src" / ".lib.rs.swp",
        APP / "src" / "lib.rs.swx",
        APP / "src" / "lib.rs~",
        APP / "4913",
        APP / "src" / "#lib.rs#",
        APP / "src" / ".#lib.rs",
        APP / "index.html___jb_tmp___",
        APP / "style.css.crswap",
        APP / "node_modules" / "x" / "index.js",
        APP,
        Path("/elsewhere/lib.rs"),
    ],
)
def test_ignored(path: Path) -> None:
    assert classify(PLAN, path) is None


def test_a_deleted_stylesheet_reloads() -> None:
    css = APP / "style.css"
    changes = classify_all(
        PLAN,
        {(watchfiles.Change.deleted, str(css)), (watchfiles.Change.added, str(APP / "a~"))},
    )
    assert changes == [Change(Kind.RELOAD, css, "/style.css")]


def test_plan_from_cargo_metadata() -> None:
    metadata: dict[str, Any] = {
        "workspace_root": "/ws",
        "target_directory": "/ws/target",
        "packages": [
            {"manifest_path": "/ws/examples/app/Cargo.toml", "source": None},
            {"manifest_path": "/ws/runtime-rs/Cargo.toml", "source": None},
            {
                "manifest_path": "/home/u/.cargo/registry/src/x/wasm-bindgen-0.2.129/Cargo.toml",
                "source": "registry+https://github.com/rust-lang/crates.io-index",
            },
        ],
    }
    plan = plan_from_metadata(APP, metadata, web_dirs=[WS / "runtime-js"], ignored=[Path("/cache")])
    assert plan == WatchPlan(
        app_dir=APP,
        crate_dirs=(WS / "runtime-rs",),
        web_dirs=(WS / "runtime-js",),
        manifest_files=(WS / "Cargo.toml", WS / "Cargo.lock"),
        ignored=(Path("/cache"), WS / "target"),
    )


def test_plan_without_metadata_watches_the_app() -> None:
    assert plan_from_metadata(APP, None) == WatchPlan(app_dir=APP)


def make_app(root: Path) -> Path:
    app = root / "app"
    for sub in ("src", "target/debug/deps", ".git", "css", "node_modules/x"):
        (app / sub).mkdir(parents=True)
    (app / "src" / "lib.rs").write_text("")
    (app / "index.html").write_text("<p>1</p>")
    (app / "style.css").write_text("p {}")
    return app


def test_ignored_directories_are_never_watched(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    deep, flat = watch_targets(WatchPlan(app_dir=app, manifest_files=(tmp_path / "Cargo.toml",)))
    assert deep == [app / "css", app / "src"]
    assert flat == [app, tmp_path]


def test_new_top_level_directories_and_manifests_replan(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    plan = WatchPlan(app_dir=app)
    (app / "assets").mkdir()
    assert needs_new_plan(plan, {(watchfiles.Change.added, str(app / "assets"))})
    assert needs_new_plan(plan, {(watchfiles.Change.modified, str(app / "Cargo.toml"))})
    assert not needs_new_plan(plan, {(watchfiles.Change.added, str(app / "target"))})
    assert not needs_new_plan(plan, {(watchfiles.Change.modified, str(app / "index.html"))})


# --- the real watcher, on real files ------------------------------------------------------


class Batches:
    """Runs a Watcher in the background and hands out what it reports."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.queue: asyncio.Queue[list[Change]] = asyncio.Queue()

    async def run(self) -> None:
        async for batch in self.watcher.batches():
            await self.queue.put(batch)

    async def until(self, want: Callable[[Change], bool], timeout: float = 20) -> list[Change]:
        """Every change reported up to and including the first that `want`s."""
        seen: list[Change] = []
        async with asyncio.timeout(timeout):
            while True:
                batch = await self.queue.get()
                seen += batch
                if any(want(change) for change in batch):
                    return seen

    async def ready(self, probe: Path) -> None:
        """Writes `probe` until the watcher reports it: its watches are in place."""
        async with asyncio.timeout(20):
            while True:
                probe.write_text(str(asyncio.get_running_loop().time()))
                with contextlib.suppress(TimeoutError):
                    await self.until(lambda c: c.path == probe, timeout=0.5)
                    return


def at(path: Path) -> Callable[[Change], bool]:
    return lambda change: change.path == path


@contextlib.asynccontextmanager
async def watching(plan: Callable[[], WatchPlan], probe: Path) -> AsyncIterator[Batches]:
    batches = Batches(Watcher(plan))
    task = asyncio.create_task(batches.run())
    try:
        await batches.ready(probe)
        yield batches
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_real_changes_arrive_classified(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    dep = tmp_path / "dep"
    (dep / "src").mkdir(parents=True)
    plan = WatchPlan(app_dir=app, crate_dirs=(dep,))

    async def scenario() -> list[Change]:
        async with watching(lambda: plan, app / "probe.txt") as batches:
            # Ignored writes first, then a sentinel for each of the two watchers (recursive
            # and flat): everything before it has been seen by the time it is reported.
            # inotify keeps order within a watcher, not between the two.
            (app / "target" / "debug" / "deps" / "x.rlib").write_text("x")
            (app / ".git" / "index").write_text("x")
            (app / "src" / ".lib.rs.swp").write_text("x")
            (app / "node_modules" / "x" / "i.js").write_text("x")
            (app / "style.css").write_text("p { color: red }")
            (dep / "src" / "lib.rs").write_text("// changed")
            (app / "index.html").write_text("<p>2</p>")
            seen: list[Change] = []
            for sentinel in (dep / "src" / "lib.rs", app / "index.html"):
                if all(c.path != sentinel for c in seen):
                    seen += await batches.until(at(sentinel))
            return seen

    seen = run_async(scenario())
    # (A late event of the readiness probe may still arrive.)
    assert {(c.kind, c.path) for c in seen if c.path.name != "probe.txt"} == {
        (Kind.CSS, app / "style.css"),
        (Kind.REBUILD, dep / "src" / "lib.rs"),
        (Kind.RELOAD, app / "index.html"),
    }


def test_a_new_directory_is_watched_after_a_replan(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    plans: list[int] = []

    def plan() -> WatchPlan:
        plans.append(1)
        return WatchPlan(app_dir=app)

    async def scenario() -> list[Change]:
        async with watching(plan, app / "probe.txt") as batches:
            (app / "assets").mkdir()
            await batches.until(lambda c: c.path == app / "assets")
            await batches.ready(app / "probe.txt")  # the new generation is up
            (app / "assets" / "logo.svg").write_text("<svg/>")
            return await batches.until(lambda c: c.path.name == "logo.svg")

    seen = run_async(scenario())
    assert Change(Kind.RELOAD, app / "assets" / "logo.svg", "/assets/logo.svg") in seen
    assert len(plans) >= 2
