"""std threads: the toolchain's std, patched so that `std::thread` runs on wbspawn's workers.

wasm32-unknown-unknown's std cannot start a thread. wbspawn carries one small patch per
supported std version (`runtime-rs/std-patches/rust-<major>.<minor>.patch`) that lets the
wbspawn crate start and join std's threads. The build already rebuilds std (-Zbuild-std), so
the patched copy costs nothing extra: it is made once in the cache, per compiler and patch,
and cargo reads it through `__CARGO_TESTS_ONLY_SRC_ROOT` (cargo looks there before the
sysroot's `lib/rustlib/src/rust/library`). Cargo does not notice edits to std's source, so the
target dir is keyed on the patch's hash (`StdThreads.key`) and a new patch or compiler builds
std afresh.

A compiler without a matching patch builds as before: `wbspawn::spawn` works, `std::thread`
does not; `describe()` says which in one line.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wbspawn.assets import asset_dir
from wbspawn.build.toolchain import Toolchain
from wbspawn.errors import WbspawnError

# Where cargo's -Zbuild-std takes std's source from when set (cargo 1.96, `core/compiler/
# standard_lib.rs`): the `library` dir of a rust-src checkout.
SRC_ROOT_ENV = "__CARGO_TESTS_ONLY_SRC_ROOT"
# Marks a prepared copy as complete (a copy interrupted half-way is never used).
_READY = ".wbspawn-std-ready"


class PatchError(WbspawnError):
    """A patch that does not fit the source it is applied to."""


# --- unified diffs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hunk:
    old_start: int  # 1-based line of the first old line, as `@@ -old_start,...` says
    old: tuple[str, ...]  # context and removed lines, in order
    new: tuple[str, ...]  # context and added lines, in order


@dataclass(frozen=True)
class FilePatch:
    path: str  # relative to the patched tree, without git's a/ b/ prefixes
    hunks: tuple[Hunk, ...]
    # `--- /dev/null`: the patch creates the file, which must not exist yet.
    new_file: bool = False


_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_patch(text: str) -> list[FilePatch]:
    """The files and hunks of a unified diff; text before the first file is a comment."""
    files: list[FilePatch] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("--- "):
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise PatchError(f"patch line {i + 1}: `---` without a `+++` line")
        new_file = lines[i][4:].split("\t")[0].strip() == "/dev/null"
        path = _strip_prefix(lines[i + 1][4:].split("\t")[0].strip())
        i += 2
        hunks: list[Hunk] = []
        while i < len(lines) and lines[i].startswith("@@"):
            hunk, i = _parse_hunk(lines, i)
            hunks.append(hunk)
        if not hunks:
            raise PatchError(f"patch of {path} has no hunks")
        if new_file and (len(hunks) != 1 or hunks[0].old):
            raise PatchError(f"patch creating {path} must be one hunk of added lines")
        files.append(FilePatch(path, tuple(hunks), new_file))
    if not files:
        raise PatchError("the patch changes no file")
    return files


def _strip_prefix(path: str) -> str:
    return path[2:] if path.startswith(("a/", "b/")) else path


def _parse_hunk(lines: Sequence[str], i: int) -> tuple[Hunk, int]:
    match = _HUNK_HEADER.match(lines[i])
    if match is None:
        raise PatchError(f"patch line {i + 1}: not a hunk header: {lines[i]!r}")
    old_start = int(match.group(1))
    old_len = int(match.group(2) or "1")
    new_len = int(match.group(4) or "1")
    old: list[str] = []
    new: list[str] = []
    i += 1
    while len(old) < old_len or len(new) < new_len:
        if i >= len(lines):
            raise PatchError(f"patch ends inside the hunk at line {old_start}")
        line = lines[i]
        tag, body = (line[:1], line[1:]) if line else (" ", "")
        if tag == " ":
            old.append(body)
            new.append(body)
        elif tag == "-":
            old.append(body)
        elif tag == "+":
            new.append(body)
        elif tag != "\\":  # "\ No newline at end of file"
            raise PatchError(f"patch line {i + 1}: unexpected {line!r} inside a hunk")
        i += 1
    return Hunk(old_start, tuple(old), tuple(new)), i


def apply_hunks(text: str, hunks: Sequence[Hunk], *, path: str) -> str:
    """`text` with every hunk applied. Each hunk's old lines must match exactly, at the line
    the hunk says or nearby (earlier hunks may have moved it); anything else is a PatchError."""
    lines = text.split("\n")
    offset = 0
    for number, hunk in enumerate(hunks, start=1):
        at = _find(lines, hunk.old, hunk.old_start - 1 + offset)
        if at is None:
            raise PatchError(
                f"hunk {number} of {path} (at line {hunk.old_start}) does not match the source"
            )
        lines[at : at + len(hunk.old)] = hunk.new
        offset = at - (hunk.old_start - 1) + len(hunk.new) - len(hunk.old)
    return "\n".join(lines)


def _find(lines: list[str], old: Sequence[str], expected: int, window: int = 200) -> int | None:
    size = len(old)
    for distance in range(window + 1):
        for at in {expected - distance, expected + distance}:
            if 0 <= at <= len(lines) - size and lines[at : at + size] == list(old):
                return at
    return None


def apply_patch(patches: Sequence[FilePatch], root: Path) -> None:
    """Applies every file's hunks under `root`, each file replaced (never edited in place: the
    tree may be hard links to the toolchain's own files)."""
    results: list[tuple[Path, str]] = []
    for patch in patches:
        target = root / patch.path
        if patch.new_file:
            if target.exists():
                raise PatchError(f"{patch.path} already exists, and the patch would create it")
            results.append((target, "\n".join(patch.hunks[0].new) + "\n"))
            continue
        try:
            text = target.read_text(encoding="utf-8")
        except OSError as exc:
            raise PatchError(f"cannot read {patch.path} to patch it ({exc})") from exc
        results.append((target, apply_hunks(text, patch.hunks, path=patch.path)))
    for target, text in results:
        replacement = target.with_name(target.name + ".wbspawn-new")
        replacement.write_text(text, encoding="utf-8")
        replacement.replace(target)


# --- the toolchain's std ----------------------------------------------------------------------


@dataclass(frozen=True)
class Rustc:
    release: str  # "1.96.0", "1.97.0-nightly"
    commit: str  # commit hash, or "unknown"
    sysroot: Path

    @property
    def series(self) -> str:
        """`1.96` for 1.96.0 and 1.96.0-nightly: the std a patch is written for."""
        return ".".join(self.release.split("-")[0].split(".")[:2])

    @property
    def library(self) -> Path:
        return self.sysroot / "lib" / "rustlib" / "src" / "rust" / "library"


def rustc_info(toolchain: Toolchain) -> Rustc:
    """The compiler's version and sysroot (asked once per compiler binary and change)."""
    try:
        stamp = toolchain.rustc.stat().st_mtime_ns
    except OSError as exc:
        raise WbspawnError(
            f"cannot read {toolchain.rustc} ({exc}): reinstall the toolchain"
        ) from exc
    return _rustc_info(str(toolchain.rustc), stamp, tuple(sorted(toolchain.env.items())))


@functools.lru_cache(maxsize=8)
def _rustc_info(rustc: str, _stamp: int, env: tuple[tuple[str, str], ...]) -> Rustc:
    full_env = {**os.environ, **dict(env)}

    def ask(*args: str) -> str:
        try:
            proc = subprocess.run(
                [rustc, *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env=full_env,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WbspawnError(f"`{rustc} {' '.join(args)}` failed ({exc})") from exc
        if proc.returncode != 0:
            raise WbspawnError(f"`{rustc} {' '.join(args)}` failed: {proc.stderr.strip()[:200]}")
        return proc.stdout

    verbose = ask("-vV")
    fields = dict(line.split(": ", 1) for line in verbose.splitlines() if ": " in line)
    release = fields.get("release", "").strip()
    if not release:
        raise WbspawnError(f"cannot read the version from `{rustc} -vV`: reinstall the toolchain")
    return Rustc(
        release=release,
        commit=fields.get("commit-hash", "unknown").strip(),
        sysroot=Path(ask("--print", "sysroot").strip()),
    )


def patches_dir() -> Path:
    # Beside the crate whose std_threads.rs they go with.
    return asset_dir("runtime-rs") / "std-patches"


def patch_for(series: str, directory: Path | None = None) -> Path | None:
    """The patch for std `series` ("1.96"), if wbspawn has one."""
    path = (patches_dir() if directory is None else directory) / f"rust-{series}.patch"
    return path if path.is_file() else None


def supported_series(directory: Path | None = None) -> list[str]:
    folder = patches_dir() if directory is None else directory
    names = (p.name for p in folder.glob("rust-*.patch"))
    return sorted(name[len("rust-") : -len(".patch")] for name in names)


@dataclass(frozen=True)
class StdThreads:
    """Whether a build gets std threads, and what it needs for them."""

    enabled: bool
    rustc: str  # the compiler's release, for messages
    reason: str = ""  # why not, when off
    source_root: Path | None = None  # the patched `library` dir for cargo
    key: str = ""  # names the target dir of builds with this std

    def describe(self) -> str:
        if self.enabled:
            return f"std threads: on (rustc {self.rustc})"
        return f"std threads: off ({self.reason}); wbspawn::spawn still works"

    def cargo_env(self) -> dict[str, str]:
        return {SRC_ROOT_ENV: str(self.source_root)} if self.source_root else {}


def disabled(reason: str, rustc: str = "") -> StdThreads:
    return StdThreads(enabled=False, rustc=rustc, reason=reason)


def prepare(toolchain: Toolchain, cache_dir: Path, *, patches: Path | None = None) -> StdThreads:
    """The patched std for this toolchain, made in `cache_dir` the first time.

    A toolchain with no patch for its std, or whose std the patch does not fit, gives a
    disabled StdThreads with the reason; problems writing the cache are WbspawnErrors.
    """
    try:
        rustc = rustc_info(toolchain)
    except WbspawnError as exc:
        return disabled(f"cannot ask the compiler its version: {exc}")
    patch = patch_for(rustc.series, patches)
    if patch is None:
        have = ", ".join(supported_series(patches)) or "none"
        return disabled(
            f"no patch for rustc {rustc.release}'s std; wbspawn has: {have}", rustc.release
        )
    if not rustc.library.is_dir():
        return disabled(f"no std sources at {rustc.library}", rustc.release)
    digest = hashlib.sha256(patch.read_bytes()).hexdigest()[:12]
    name = f"{rustc.release}-{rustc.commit[:12]}-{digest}"
    root = cache_dir / "std" / name
    library = root / "library"
    if not (root / _READY).is_file():
        try:
            _make(rustc.library, patch, root)
        except PatchError as exc:
            return disabled(
                f"the patch for {rustc.series} does not fit this std: {exc}", rustc.release
            )
    return StdThreads(
        enabled=True,
        rustc=rustc.release,
        source_root=library,
        key=f"std{digest[:8]}",
    )


def _make(source: Path, patch: Path, root: Path) -> None:
    """Copies `source` (a rust-src `library` dir) to `root/library` and patches it; the copy
    appears only once complete, so concurrent builds and interrupted ones are safe."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=root.parent))
    try:
        _link_tree(source, staging / "library")
        apply_patch(parse_patch(patch.read_text(encoding="utf-8")), staging / "library")
        (staging / _READY).write_text(f"{patch.name}\n", encoding="utf-8")
        try:
            staging.rename(root)
        except OSError:
            # Another build made it meanwhile (or a broken leftover is in the way).
            if not (root / _READY).is_file():
                shutil.rmtree(root, ignore_errors=True)
                staging.rename(root)
    except OSError as exc:
        raise WbspawnError(
            f"cannot prepare std's source in {root.parent} ({exc}): check the disk and "
            "WBSPAWN_CACHE_DIR"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _link_tree(source: Path, dest: Path) -> None:
    """A copy of `source` made of hard links where the file system allows (70 MB otherwise)."""

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, dest, copy_function=link_or_copy, symlinks=True)
