"""Which files the dev server watches, what a change to each means, and the watching itself.

Watched: the app crate, every local path dependency (`cargo metadata`: packages without a
source, e.g. runtime-rs/ when the app depends on it by path), the workspace's Cargo.toml and
Cargo.lock, and the JS runtime's files. A change means:

    REBUILD   Rust or Cargo files of the app (`*.rs`, Cargo.toml, Cargo.lock, `src/`), any
              file of a path dependency, the workspace manifest
    CSS       a `.css` file of the app: swapped in the page without a reload
    RELOAD    any other file of the app (its web files), any file of the JS runtime

Never: `target/` and every cargo target dir, the build cache, `.git` and every other
dotfile or dot-dir, `node_modules/`, editor temp and swap files.

Each root is watched flat, and its subdirectories recursively, skipping the ignored
ones: a `target/` of thousands of directories is never given to inotify at all (no watch
limit exhausted, no event storm when rust-analyzer runs `cargo check`). A directory added
at the top of a root, or a changed Cargo.toml, makes the watcher start over with a fresh
plan.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import watchfiles

# Build output and dependencies, never the app's sources: cargo's target/, `wbspawn build`'s
# dist/ (its scripts would make `wbspawn check` expect done() and reload the page mid-build).
TOP_LEVEL_IGNORED = frozenset({"target", "dist", "node_modules"})
RUST_NAMES = frozenset({"Cargo.toml", "Cargo.lock", "build.rs"})

# vim (swap files, its 4913 write test, backups~), emacs (#autosave#; .#locks are
# dotfiles), JetBrains (___jb_tmp___), Kate, Chromium's File System Access swap, `sed -i`,
# and the tmp/bak files of "safe write" savers.
_EDITOR_TEMP = re.compile(
    r"(~|\.sw[a-px]|___jb_\w+___|\.kate-swp|\.crswap|\.tmp|\.bak)$|^4913$|^#.*#$"
    r"|^sed[A-Za-z0-9]{6}$"  # `sed -i` writes one beside the file, then renames it
)

# How long the watcher waits for more events after one before it reports them (ms): long
# enough to catch an editor's delete-rename-write of one save (its steps come within a
# millisecond or two). Every edit waits one to two steps before its build starts: at 20 ms
# that was 33 ms of each reload in `make bench-devloop`, at 10 ms it is about 17.
STEP_MS = 10
DEBOUNCE_MS = 400


class Kind(enum.Enum):
    REBUILD = "rebuild"
    RELOAD = "reload"
    CSS = "css"


@dataclass(frozen=True)
class Change:
    kind: Kind
    path: Path
    # URL path of an app file ("/style.css"); None for files the page does not load.
    url: str | None = None

    def shown(self, plan: WatchPlan) -> str:
        """For the terminal: `src/lib.rs` in the app, `runtime-rs/src/pool.rs` elsewhere."""
        if self.path.is_relative_to(plan.app_dir):
            return self.path.relative_to(plan.app_dir).as_posix()
        for root in plan.roots():
            if self.path.is_relative_to(root):
                return f"{root.name}/{self.path.relative_to(root).as_posix()}"
        return str(self.path)


@dataclass(frozen=True)
class WatchPlan:
    app_dir: Path
    crate_dirs: tuple[Path, ...] = ()  # local path dependencies, not the app
    web_dirs: tuple[Path, ...] = ()  # the JS runtime
    manifest_files: tuple[Path, ...] = ()  # workspace Cargo.toml and Cargo.lock
    ignored: tuple[Path, ...] = ()  # cargo target dirs, the build cache

    def roots(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys((self.app_dir, *self.crate_dirs, *self.web_dirs)))


def plan_from_metadata(
    app_dir: Path,
    metadata: dict[str, Any] | None,
    *,
    web_dirs: Sequence[Path] = (),
    ignored: Sequence[Path] = (),
) -> WatchPlan:
    """The plan for APP_DIR from `cargo metadata` (with deps); None watches the app alone."""
    app_dir = app_dir.resolve()
    crate_dirs: list[Path] = []
    manifest_files: list[Path] = []
    skip = [p.resolve() for p in ignored]
    if metadata is not None:
        for package in metadata.get("packages", []):
            if package.get("source") is not None:
                continue  # from a registry or git: cargo's copy never changes
            crate_dir = Path(package["manifest_path"]).resolve().parent
            if crate_dir != app_dir:
                crate_dirs.append(crate_dir)
        if root := metadata.get("workspace_root"):
            manifest_files += [Path(root).resolve() / n for n in ("Cargo.toml", "Cargo.lock")]
        if target := metadata.get("target_directory"):
            skip.append(Path(target).resolve())
    return WatchPlan(
        app_dir=app_dir,
        crate_dirs=tuple(sorted(set(crate_dirs))),
        web_dirs=tuple(p.resolve() for p in web_dirs),
        manifest_files=tuple(manifest_files),
        ignored=tuple(dict.fromkeys(skip)),
    )


def is_ignored_name(name: str) -> bool:
    return name.startswith(".") or bool(_EDITOR_TEMP.search(name))


def classify(plan: WatchPlan, path: Path) -> Change | None:
    """What a change to `path` means, or None if it means nothing."""
    if any(path.is_relative_to(skip) for skip in plan.ignored):
        return None
    if path in plan.manifest_files:
        return Change(Kind.REBUILD, path)
    roots = [root for root in plan.roots() if path.is_relative_to(root) and path != root]
    if not roots:
        return None
    root = max(roots, key=lambda r: len(r.parts))  # the innermost: nested crates
    parts = path.relative_to(root).parts
    if parts[0] in TOP_LEVEL_IGNORED or any(is_ignored_name(part) for part in parts):
        return None
    if root in plan.web_dirs and root != plan.app_dir:
        return Change(Kind.RELOAD, path)
    if root != plan.app_dir:
        return Change(Kind.REBUILD, path)
    if path.suffix == ".rs" or path.name in RUST_NAMES or parts[0] == "src":
        return Change(Kind.REBUILD, path)
    url = "/" + "/".join(parts)
    if path.suffix.lower() == ".css":
        return Change(Kind.CSS, path, url)
    return Change(Kind.RELOAD, path, url)


def classify_all(plan: WatchPlan, raw: Iterable[tuple[watchfiles.Change, str]]) -> list[Change]:
    changes: dict[Path, Change] = {}
    for event, name in sorted(raw, key=lambda item: item[1]):
        path = Path(name)
        change = classify(plan, path)
        if change is None:
            continue
        if change.kind is Kind.CSS and event is watchfiles.Change.deleted:
            # Nothing to swap in: the page must drop the sheet, which only a reload does.
            change = Change(Kind.RELOAD, path, change.url)
        changes[path] = change
    return list(changes.values())


def watch_targets(plan: WatchPlan) -> tuple[list[Path], list[Path]]:
    """(watched recursively, watched flat): subdirectories, then roots and manifest dirs."""
    deep: list[Path] = []
    flat: list[Path] = []
    for root in plan.roots():
        if not root.is_dir():
            continue
        flat.append(root)
        for entry in sorted(root.iterdir()):
            if (
                entry.is_dir()
                and not entry.is_symlink()
                and entry.name not in TOP_LEVEL_IGNORED
                and not is_ignored_name(entry.name)
                and not any(entry.resolve().is_relative_to(skip) for skip in plan.ignored)
                and not any(r != root and entry == r for r in plan.roots())
            ):
                deep.append(entry)
    for manifest in plan.manifest_files:
        if manifest.parent.is_dir() and manifest.parent not in flat:
            flat.append(manifest.parent)
    return deep, flat


def needs_new_plan(plan: WatchPlan, raw: Iterable[tuple[watchfiles.Change, str]]) -> bool:
    """A new top-level directory (not watched yet) or a changed manifest (new dependencies)."""
    roots = plan.roots()
    for event, name in raw:
        path = Path(name)
        if path.name == "Cargo.toml" and classify(plan, path) is not None:
            return True
        if (
            event is watchfiles.Change.added
            and path.parent in roots
            and path.is_dir()
            and classify(plan, path) is not None
        ):
            return True
    return False


class Watcher:
    """Batches of classified changes, forever; `plan` is asked again whenever it may be stale.

    `plan` may block (it runs `cargo metadata`): it runs on a worker thread.
    """

    def __init__(
        self,
        plan: Callable[[], WatchPlan],
        *,
        on_error: Callable[[str], None] | None = None,
        step_ms: int = STEP_MS,
    ) -> None:
        self.make_plan = plan
        self.on_error = on_error
        self.step_ms = step_ms
        self.plan: WatchPlan | None = None

    async def batches(self) -> AsyncIterator[list[Change]]:
        while True:
            try:
                self.plan = plan = await asyncio.to_thread(self.make_plan)
                async for raw in self._raw_events(plan):
                    changes = classify_all(plan, raw)
                    if changes:
                        yield changes
                    if needs_new_plan(plan, raw):
                        break
            except Exception as exc:
                # A root vanished (a branch switch), the OS refused a watch (inotify limits):
                # say so and start over, the watcher must outlive it.
                if self.on_error is not None:
                    self.on_error(f"file watching restarts after an error: {exc}")
                await asyncio.sleep(1)

    async def _raw_events(
        self, plan: WatchPlan
    ) -> AsyncIterator[set[tuple[watchfiles.Change, str]]]:
        deep, flat = watch_targets(plan)
        stop = asyncio.Event()
        queue: asyncio.Queue[set[tuple[watchfiles.Change, str]]] = asyncio.Queue()

        async def feed(paths: list[Path], recursive: bool) -> None:
            async for raw in watchfiles.awatch(
                *paths,
                watch_filter=None,
                recursive=recursive,
                step=self.step_ms,
                debounce=DEBOUNCE_MS,
                stop_event=stop,
                ignore_permission_denied=True,
            ):
                await queue.put(raw)

        feeds = [
            asyncio.create_task(feed(paths, recursive))
            for paths, recursive in ((deep, True), (flat, False))
            if paths
        ]
        if not feeds:
            # Nothing to watch (the app dir is gone for now): look again in a moment.
            await asyncio.sleep(1)
            return
        try:
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait([getter, *feeds], return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                for task in done:
                    task.result()  # raises what the feed raised
                return
        finally:
            stop.set()
            for task in feeds:
                task.cancel()
            await asyncio.gather(*feeds, return_exceptions=True)
