"""`wbspawn check`: the CI smoke test, run as a user runs it (a subprocess), in each engine.

Most pages here never load the app's wasm, so the fake cargo and wasm-bindgen build them in
milliseconds; the last two tests check the real demo and a copy of it made to fail. What a
page does wrong is judged the same in Chromium, Firefox and WebKit (`--browser`), so those
tests run in each; the rest of check's logic does not depend on the engine and runs in
Chromium, the default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from conftest import DEMO_DIR, LAB_DIR, FakeTools, copy_app
from wbspawn.check.browser import ENGINE_NAMES
from wbspawn.check.smoke import dist_expects_done, expects_done
from wbspawn.ship.hosting import Rules
from wbspawn.ship.manifest import Dist

pytestmark = pytest.mark.browser

TITLES = {"chromium": "Chromium ", "firefox": "Firefox ", "webkit": "WebKitGTK "}
each_engine = pytest.mark.parametrize("engine_name", ENGINE_NAMES)

DONE = 'import { done } from "/_wbspawn/bootstrap.js";\n'
PAGE = '<!doctype html><html><head><script type="module" src="main.js"></script></head></html>'


def run_check(
    app_dir: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wbspawn", "check", str(app_dir), *args],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_json(app_dir: Path, env: Mapping[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_check(app_dir, "--json", *args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def sources(report: dict[str, Any]) -> list[str]:
    return [error["source"] for error in report["errors"]]


@pytest.fixture
def page(crate_dir: Path) -> Iterator[Path]:
    """The app's page: index.html loading main.js; tests write main.js."""
    (crate_dir / "index.html").write_text(PAGE)
    yield crate_dir


@each_engine
def test_a_page_that_says_done_true_passes(
    page: Path, fake_tools: FakeTools, engine_name: str
) -> None:
    (page / "main.js").write_text(DONE + 'done(true, "all fine");\n')
    code, report = check_json(page, fake_tools.env, "--browser", engine_name)
    assert code == 0
    assert report["status"] == "pass"
    assert report["errors"] == []
    assert report["done"] == {"ok": True, "detail": "all fine"}
    assert report["waited_for"] == "done"
    assert report["cross_origin_isolated"] is True
    assert report["crate"] == "demo"
    assert report["engine"] == engine_name
    assert report["browser"].startswith(TITLES[engine_name])
    assert report["duration_s"] >= report["build_s"] >= 0


def test_human_output(page: Path, fake_tools: FakeTools) -> None:
    (page / "main.js").write_text(DONE + 'done(true, "all fine");\n')
    proc = run_check(page, env=fake_tools.env)
    assert proc.returncode == 0
    assert proc.stdout.startswith("wbspawn check: PASS demo in ")
    assert proc.stdout.rstrip().endswith("(done: all fine)")
    (page / "main.js").write_text(DONE + 'console.error("first");\ndone(false, "second");\n')
    proc = run_check(page, env=fake_tools.env)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("wbspawn check: FAIL demo in ")
    assert " s on Chromium " in lines[0]
    assert lines[0].endswith(", 2 errors:")
    assert lines[1].startswith("  [console] first (http://127.0.0.1:")
    assert lines[2] == "  [done] done(false): second"


def test_a_done_false_just_after_an_error_is_reported_too(
    page: Path, fake_tools: FakeTools
) -> None:
    # The error ends the wait for done(...); the verdict comes within the grace after it.
    (page / "main.js").write_text(
        DONE + 'console.error("first");\nsetTimeout(() => done(false, "second"), 300);\n'
    )
    code, report = check_json(page, fake_tools.env)
    assert code == 1
    assert report["done"] == {"ok": False, "detail": "second"}
    assert [(e["source"], e["message"]) for e in report["errors"]][-1] == (
        "done",
        "done(false): second",
    )


@each_engine
@pytest.mark.parametrize(
    ("script", "source", "message"),
    [
        (DONE + 'done(false, "the answer was 41");', "done", "done(false): the answer was 41"),
        ('throw new Error("boom");', "uncaught", "Error: boom"),
        ('Promise.reject(new Error("nobody caught me"));', "uncaught", "nobody caught me"),
        ('console.error("something broke");', "console", "something broke"),
        # WebKit names a failed request without its method (docs/browsers.md).
        ('await fetch("/data/missing.json");', "request", "/data/missing.json: 404"),
        (
            'new Worker("/worker.js", { type: "module" });',
            "uncaught",
            "thrown in a worker",
        ),
        (
            'new Worker("/worker.js", { type: "module" }).postMessage("log");',
            "console",
            "logged in a worker",
        ),
    ],
)
def test_each_kind_of_error_fails_the_check(
    page: Path, fake_tools: FakeTools, script: str, source: str, message: str, engine_name: str
) -> None:
    (page / "main.js").write_text(script + "\n")
    (page / "worker.js").write_text(
        'onmessage = () => console.error("logged in a worker");\n'
        'setTimeout(() => { throw new Error("thrown in a worker"); }, 200);\n'
    )
    code, report = check_json(page, fake_tools.env, "--browser", engine_name)
    assert code == 1
    assert report["status"] == "fail"
    assert source in sources(report)
    assert any(message in error["message"] for error in report["errors"]), report["errors"]


@each_engine
def test_a_missing_script_is_a_failed_request(
    page: Path, fake_tools: FakeTools, engine_name: str
) -> None:
    (page / "index.html").write_text(PAGE.replace("main.js", "missing.js"))
    code, report = check_json(page, fake_tools.env, "--browser", engine_name)
    assert code == 1
    method = "" if engine_name == "webkit" else "GET "
    assert report["errors"][0] == {
        "source": "request",
        "message": f"{method}/missing.js: 404 Not Found",
        "location": None,
    }


def test_no_done_within_the_timeout_fails(page: Path, fake_tools: FakeTools) -> None:
    (page / "main.js").write_text(DONE + "if (location.hash === '#never') done(true);\n")
    code, report = check_json(page, fake_tools.env, "--timeout", "1")
    assert code == 1
    assert sources(report) == ["timeout"]
    assert report["errors"][0]["message"] == "no done(...) within 1 s (--timeout)"


def test_a_page_that_never_calls_done_passes_once_settled(
    page: Path, fake_tools: FakeTools
) -> None:
    (page / "main.js").write_text('document.body.textContent = "hello";\n')
    code, report = check_json(page, fake_tools.env, "--settle", "0.5")
    assert code == 0
    assert report["waited_for"] == "settle"
    assert report["done"] is None


@each_engine
def test_a_page_without_isolation_fails(
    page: Path, fake_tools: FakeTools, engine_name: str
) -> None:
    # The app's own configuration takes cross-origin isolation away.
    manifest = page / "Cargo.toml"
    manifest.write_text(
        manifest.read_text() + "\n[package.metadata.wbspawn]\n"
        'headers = { "Cross-Origin-Embedder-Policy" = "unsafe-none" }\n'
    )
    (page / "main.js").write_text(DONE + "done(true);\n")
    code, report = check_json(page, fake_tools.env, "--browser", engine_name)
    assert code == 1
    assert report["cross_origin_isolated"] is False
    assert sources(report) == ["isolation"]


def test_a_failed_build_fails_with_rustcs_errors(page: Path, fake_tools: FakeTools) -> None:
    (page / "src" / "lib.rs").write_text("COMPILE_ERROR")
    code, report = check_json(page, fake_tools.env)
    assert code == 1
    assert sources(report) == ["build"]
    assert "error[E0425]: cannot find value `x` in this scope" in report["errors"][0]["message"]
    assert "\x1b" not in report["errors"][0]["message"]


def test_no_chromium_is_one_error_line(page: Path, fake_tools: FakeTools, tmp_path: Path) -> None:
    env = {**fake_tools.env, "WBSPAWN_CHROMIUM": str(tmp_path / "no-chromium")}
    proc = run_check(page, env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"wbspawn: error: WBSPAWN_CHROMIUM={tmp_path / 'no-chromium'} does not exist: "
        "point it at a Chromium executable"
    )
    code, report = check_json(page, env)
    assert (code, report["status"], sources(report)) == (1, "fail", ["setup"])


def test_all_runs_each_engine_in_turn_and_fails_if_one_does(
    page: Path, fake_tools: FakeTools
) -> None:
    (page / "main.js").write_text(DONE + 'done(true, "fine");\n')
    code, report = check_json(page, fake_tools.env, "--browser", "all")
    assert (code, report["status"]) == (0, "pass")
    assert list(report["engines"]) == list(ENGINE_NAMES)
    for engine, result in report["engines"].items():
        assert (result["engine"], result["status"], result["errors"]) == (engine, "pass", [])
        assert result["browser"].startswith(TITLES[engine])
    proc = run_check(page, "--browser", "all", env=fake_tools.env)
    assert [line.split(" on ")[1].split()[0] for line in proc.stdout.splitlines()] == [
        "Chromium",
        "Firefox",
        "WebKitGTK",
    ]
    # Only Firefox's run of the page says something is wrong.
    (page / "main.js").write_text(
        DONE + 'if (navigator.userAgent.includes("Firefox/")) console.error("firefox only");\n'
        'done(true, "fine");\n'
    )
    code, report = check_json(page, fake_tools.env, "--browser", "all")
    assert (code, report["status"]) == (1, "fail")
    statuses = {engine: result["status"] for engine, result in report["engines"].items()}
    assert statuses == {"chromium": "pass", "firefox": "fail", "webkit": "pass"}
    assert sources(report["engines"]["firefox"]) == ["console"]


def test_a_missing_engine_is_one_error_line(
    page: Path, fake_tools: FakeTools, tmp_path: Path
) -> None:
    env = {**fake_tools.env, "WBSPAWN_FIREFOX": str(tmp_path / "no-firefox")}
    proc = run_check(page, "--browser", "all", env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"wbspawn: error: WBSPAWN_FIREFOX={tmp_path / 'no-firefox'} does not exist: "
        "point it at a Firefox executable"
    )
    code, report = check_json(page, env, "--browser", "all")
    assert code == 1
    assert {e: sources(r) for e, r in report["engines"].items()} == {
        "chromium": ["setup"],
        "firefox": ["setup"],
        "webkit": ["setup"],
    }


def test_which_pages_must_call_done(tmp_path: Path) -> None:
    assert expects_done(tmp_path)  # no index.html: the default page calls it
    (tmp_path / "index.html").write_text("<p>hi</p>")
    assert not expects_done(tmp_path)
    (tmp_path / "app.js").write_text("result.done(); doneCount(); x.done = 1;")
    assert not expects_done(tmp_path)
    (tmp_path / "main.js").write_text("await run();\ndone(true, 'ok');")
    assert expects_done(tmp_path)


def test_which_dists_must_call_done(tmp_path: Path) -> None:
    # The runtime's own scripts (bootstrap.js defines done) do not count; the app's do, and
    # so do the default page's, which the dist carries under /_wbspawn/static/.
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "bootstrap.1a2b.js").write_text("export function done(ok) {}\ndone(1);")
    (tmp_path / "assets" / "main.3c4d.js").write_text("await run();")
    files = {
        "/_wbspawn/bootstrap.js": "assets/bootstrap.1a2b.js",
        "/main.js": "assets/main.3c4d.js",
    }

    def dist(files: dict[str, str]) -> Dist:
        return Dist(tmp_path, "demo", ("index.html",), Rules(headers=()), files)

    assert not dist_expects_done(dist(files))
    (tmp_path / "assets" / "main.3c4d.js").write_text("await run();\ndone(true, 'ok');")
    assert dist_expects_done(dist(files))
    (tmp_path / "assets" / "main.3c4d.js").write_text("await run();")
    (tmp_path / "assets" / "default-app.5e6f.js").write_text("done(true, 'ok');")
    assert dist_expects_done(
        dist({**files, "/_wbspawn/static/default-app.js": "assets/default-app.5e6f.js"})
    )


# --- the real demo ---------------------------------------------------------------------------


@pytest.mark.build
def test_the_demo_passes_in_every_engine() -> None:
    proc = run_check(DEMO_DIR, "--json", "--browser", "all")
    combined = json.loads(proc.stdout)
    assert (proc.returncode, combined["status"]) == (0, "pass"), proc.stdout
    for report in combined["engines"].values():
        assert report["errors"] == []
        assert report["done"]["ok"] is True
        assert report["cross_origin_isolated"] is True


@pytest.mark.build
def test_a_demo_that_fails_its_checks_fails(tmp_path: Path) -> None:
    app = copy_app(DEMO_DIR, tmp_path / "demo")
    (app / "main.js").write_text(
        'import { done, start } from "/_wbspawn/bootstrap.js";\n'
        'const app = await start("/pkg/demo.js");\n'
        'const n = await app.call("spawn_join", 4);\n'
        "done(false, `spawn_join gave ${JSON.stringify(n)}, not what the test wanted`);\n"
    )
    proc = run_check(app, "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert report["errors"] == [
        {
            "source": "done",
            "message": "done(false): spawn_join gave [0,1,4,9], not what the test wanted",
            "location": None,
        }
    ]


@pytest.mark.build
def test_what_the_app_prints_and_its_exit_are_reported_in_every_engine(tmp_path: Path) -> None:
    app = copy_app(LAB_DIR, tmp_path / "lab")
    (app / "lab.js").write_text(
        'import { start } from "/_wbspawn/bootstrap.js";\n'
        'const app = await start("/pkg/lab.js");\n'
        'await app.call("print_from_threads", 2, 2);\n'
        'await app.call("exit_with", 5, true).catch(() => {});\n'
    )
    proc = run_check(app, "--json", "--browser", "all")
    combined = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    for name, report in combined["engines"].items():
        assert report["exit_code"] == 5, name
        assert sources(report) == ["console"], name
        assert report["errors"][0]["message"] == "wbspawn: the app exited with code 5"
        assert {"stream": "stdout", "thread": "main", "text": "main says hello"} in report["output"]
        printer = [line for line in report["output"] if line["thread"] == "printer-1"]
        assert printer == [
            {"stream": "stdout", "thread": "printer-1", "text": "printer-1 line 0"},
            {"stream": "stdout", "thread": "printer-1", "text": "printer-1 line 1"},
            {"stream": "stderr", "thread": "printer-1", "text": "printer-1 done on stderr"},
            {"stream": "stderr", "thread": "printer-1", "text": "printer-1 stderr write"},
        ]
        assert report["output"][-1] == {
            "stream": "stdout",
            "thread": "exiter",
            "text": "last words before exit(5)",
        }
    # Without --json the lines are printed as they come, tagged, on stderr.
    human = run_check(app)
    assert human.returncode == 1
    assert "[printer-0] printer-0 line 1\n" in human.stderr
    assert "[exiter] last words before exit(5)\n" in human.stderr
    assert "(exited with code 5)" in human.stdout


@pytest.mark.build
def test_a_deadlock_fails_the_check_with_every_threads_wait_in_every_engine(
    tmp_path: Path,
) -> None:
    app = copy_app(LAB_DIR, tmp_path / "lab")
    (app / "lab.js").write_text(
        'import { start } from "/_wbspawn/bootstrap.js";\n'
        'const app = await start("/pkg/lab.js");\n'
        'await app.call("join_cycle");\n'
    )
    proc = run_check(app, "--json", "--browser", "all", "--timeout", "20")
    combined = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    for name, report in combined["engines"].items():
        # Named by the runtime within seconds, long before the timeout.
        assert sources(report) == ["console"], (name, report["errors"])
        assert "these threads join each other" in report["errors"][0]["message"], name
        assert (report["deadlock"] or {}).get("kind") == "joins", (name, report)
        ping = next(line for line in report["threads"] if line.startswith("'ping' (#"))
        assert " joins 'pong' (#" in ping, (name, report["threads"])
        assert report["threads"][0].startswith("main (#"), (name, report["threads"])
        by_name = {row["name"]: row for row in report["thread_table"]}
        assert by_name["ping"]["state"] == by_name["pong"]["state"] == "joining", name
    human = run_check(app, "--timeout", "20")
    assert human.returncode == 1
    assert "\n  threads:\n    main (#" in human.stdout, human.stdout
    assert "\n    'pong' (#" in human.stdout, human.stdout


@pytest.mark.build
@pytest.mark.parametrize(
    ("options", "call", "kind", "said"),
    [
        ("{}", '"lock_order_deadlock", true', "blocked", "waits for a lock (0x"),
        ("{ maxWorkers: 2, prestart: 0 }", '"all_wait_for_each_other", 3', "cap", "maxWorkers = 2"),
    ],
    ids=["lock-order", "cap"],
)
def test_other_deadlocks_are_named_in_the_checks_report(
    tmp_path: Path, options: str, call: str, kind: str, said: str
) -> None:
    # The app's own thread blocks in the call (it joins): the runtime names the rest.
    app = copy_app(LAB_DIR, tmp_path / "lab")
    (app / "lab.js").write_text(
        'import { start } from "/_wbspawn/bootstrap.js";\n'
        f'const app = await start("/pkg/lab.js", {options});\n'
        f"await app.call({call});\n"
    )
    # The page calls no done(): the check watches it settle, long enough for the verdicts.
    proc = run_check(app, "--json", "--settle", "10")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert sources(report) == ["console"], report["errors"]
    assert said in report["errors"][0]["message"], report["errors"]
    assert (report["deadlock"] or {}).get("kind") == kind, report
    assert report["threads"][0].startswith("main (#"), report["threads"]
    assert " joins " in report["threads"][0], report["threads"]
