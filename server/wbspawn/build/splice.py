"""wasm-bindgen's last output, reused when a build changed only function bodies and data.

wasm-bindgen parses, rewrites and emits the whole module on every build: 150 to 200 ms of a
debug build's dev loop, for an edit that changed one function. The splice tool
(`stackcheck/src/splice.rs`, built as the stack-check pass is: rusttool.py) makes the same
output from the last one in about 25 ms when it can prove that is exact, and refuses when it
cannot (a new function, a changed import or export, a body wasm-bindgen had rewritten); the
build then runs wasm-bindgen as before. Debug builds only: a release build is what ships.

Beside each output dir, `bindgen-last/` keeps what the splice starts from: the cargo module
wasm-bindgen (or the splice) last read, its output before the stack checks, and what else
made that output (wasm-bindgen's version and arguments). It is replaced whole by a rename, so
it always holds one input with its own output, whatever the served dir holds; deleting it
costs one wasm-bindgen run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wbspawn.build import rusttool
from wbspawn.build.process import BuildJob, Runner, run_captured
from wbspawn.build.toolchain import Toolchain
from wbspawn.errors import WbspawnError
from wbspawn.swapdir import swap_in

# The tool is a binary of the stack-check pass's crate.
TOOL_CRATE = "stackcheck"
TOOL_BINARY = "wbspawn-bindgen-splice"
# A splice tool to use instead of building one (tests use a stand-in).
TOOL_ENV = "WBSPAWN_BINDGEN_SPLICE"
LAST = "bindgen-last"
INPUT = "input.wasm"
OUTPUT = "pkg"
KEY = "key"
# The environment variables that change what wasm-bindgen makes.
BINDGEN_ENV = ("WASM_BINDGEN_EXTERNREF", "WASM_BINDGEN_ANYREF", "WASM_BINDGEN_MULTI_VALUE")


def prepare(
    toolchain: Toolchain,
    cache_dir: Path,
    compiler: str,
    *,
    run: Runner = run_captured,
    job: BuildJob | None = None,
) -> Path | None:
    """The splice tool, built first if the cache has none for this compiler; None if it
    cannot be built (every build then runs wasm-bindgen, as it would anyway)."""
    if (chosen := rusttool.chosen(TOOL_ENV)) is not None:
        return chosen
    try:
        return rusttool.built_tool(
            TOOL_CRATE, TOOL_BINARY, toolchain, cache_dir, run=run, compiler=compiler, job=job
        )
    except WbspawnError:
        return None


@dataclass(frozen=True)
class LastOutput:
    """The last wasm-bindgen output of one output dir, and the tool that splices into it."""

    tool: Path
    folder: Path
    # What else the output depends on: wasm-bindgen's version and arguments.
    key: str

    @classmethod
    def beside(cls, out_dir: Path, tool: Path, made_by: str, env: Mapping[str, str]) -> LastOutput:
        """The last output of `out_dir`, made by `made_by` (wasm-bindgen's version and
        arguments) in `env`. Its key holds those, the variables wasm-bindgen reads and the
        tool's own build (its file name carries a digest of its source): output made
        otherwise is never spliced into."""
        read = " ".join(f"{name}={env.get(name, '')}" for name in BINDGEN_ENV)
        return cls(tool, out_dir.parent / LAST, f"{made_by}; {read}; {tool.name}")

    def splice(
        self,
        wasm: Path,
        staging: Path,
        wasm_name: str,
        env: Mapping[str, str],
        *,
        run: Runner = run_captured,
    ) -> bool:
        """Writes into the empty `staging` what wasm-bindgen would make of `wasm`, from the
        last output; False (and `staging` empty) where that takes a wasm-bindgen run."""
        last = self.folder / OUTPUT
        try:
            if (self.folder / KEY).read_text(encoding="utf-8") != self.key:
                return False
            # The glue and the rest as they are; the module is the splice's to write.
            ignore = shutil.ignore_patterns(wasm_name)
            shutil.copytree(last, staging, ignore=ignore, dirs_exist_ok=True)
        except (OSError, ValueError):
            _empty(staging)
            return False
        args = [str(self.tool), str(self.folder / INPUT), str(last / wasm_name), str(wasm)]
        try:
            proc = run([*args, str(staging / wasm_name)], staging, env)
        except OSError:
            proc = None
        if proc is None or proc.returncode != 0 or not proc.stdout.startswith("spliced "):
            _empty(staging)
            return False
        return True

    def remember(self, wasm: Path, output: Path) -> None:
        """Keeps `output` (wasm-bindgen's, or the splice's, before the stack checks) as what
        `wasm` makes, for the next build to splice into. Best effort: without it, the next
        build runs wasm-bindgen."""
        staged: Path | None = None
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix=f"{LAST}.staging-", dir=self.folder.parent))
            shutil.copytree(output, staged / OUTPUT)
            shutil.copyfile(wasm, staged / INPUT)
            (staged / KEY).write_text(self.key, encoding="utf-8")
            swap_in(staged, self.folder)
        except OSError:
            # What is there is still one input with its own output, but an older build's:
            # dropped, so that a failing disk costs wasm-bindgen runs, never a stale base.
            shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
