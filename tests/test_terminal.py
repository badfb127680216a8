from __future__ import annotations

import io
import json

from wbspawn.build.pipeline import BuildResult
from wbspawn.errors import BuildError
from wbspawn.output import AppExit, OutputLine
from wbspawn.terminal import CargoProgress, Terminal, wants_color


def artifact(name: str, fresh: bool) -> str:
    return json.dumps({"reason": "compiler-artifact", "target": {"name": name}, "fresh": fresh})


def test_progress_counts_compiled_crates() -> None:
    progress = CargoProgress()
    lines = [
        artifact("core", True),
        artifact("wbspawn", False),
        "not json",
        json.dumps({"reason": "build-script-executed"}),
        artifact("demo", False),
        json.dumps({"reason": "build-finished", "success": True}),
    ]
    changed = [progress.feed(line) for line in lines]
    assert changed == [True, True, False, False, True, False]
    assert (progress.compiled, progress.fresh, progress.last) == (2, 1, "demo")


def test_colour_follows_the_conventions() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_color(Tty(), {})
    assert not wants_color(Tty(), {"NO_COLOR": "1"})
    assert not wants_color(io.StringIO(), {})
    assert wants_color(io.StringIO(), {"FORCE_COLOR": "1"})


def test_a_log_gets_plain_outcome_lines(build_output: BuildResult) -> None:
    err, out = io.StringIO(), io.StringIO()
    term = Terminal(err, out, color=False, live=False)
    progress = CargoProgress()
    progress.feed(artifact("demo", False))
    term.building("demo", "debug", "src/lib.rs")
    term.progress(progress)  # not a tty: no live line
    term.built(build_output, progress)
    term.failed(BuildError("cargo build failed", "\x1b[31merror[E0425]\x1b[0m: oops"), 1.25)
    term.changed(["a.css", "b.css", "c.css", "d.css"], "swapping")
    term.serving("demo", "http://127.0.0.1:8000/")
    assert err.getvalue().splitlines() == [
        "wbspawn: building demo [debug] (src/lib.rs)…",
        "wbspawn: built demo in 0.0 s (cargo 0.0 s, wasm-bindgen 0.00 s, 1 crate compiled)",
        "error[E0425]: oops",
        "wbspawn: build failed after 1.2 s: cargo build failed",
        "wbspawn: a.css, b.css, c.css (+1 more) changed: swapping",
    ]
    assert out.getvalue() == "wbspawn: serving demo at http://127.0.0.1:8000/\n"


def test_a_terminal_gets_one_live_progress_line() -> None:
    err = io.StringIO()
    term = Terminal(err, io.StringIO(), color=False, live=True)
    progress = CargoProgress()
    for name in ("a", "b"):
        progress.feed(artifact(name, False))
        term.progress(progress)
    term.line("done")
    text = err.getvalue()
    assert text.count("\r\x1b[K") == 3  # each update overwrites, and the next line clears it
    assert text.endswith("\r\x1b[Kwbspawn: done\n")
    assert "2 crates done (last: b)" in text


def test_the_apps_output_goes_to_the_stream_it_was_written_to_tagged() -> None:
    err, out = io.StringIO(), io.StringIO()
    terminal = Terminal(err, out, color=False)
    terminal.app_output(
        [OutputLine("stdout", "main", "hello"), OutputLine("stderr", "printer-2", "oops")]
    )
    terminal.app_exit(AppExit(3, aborted=False))
    terminal.app_exit(AppExit(134, aborted=True))
    assert out.getvalue() == "[main] hello\n"
    assert err.getvalue() == (
        "[printer-2] oops\n"
        "wbspawn: the app exited with code 3\n"
        "wbspawn: the app aborted (code 134)\n"
    )
