"""Command line: flags become a Config here, and errors become one line on stderr.

    wbspawn serve APP_DIR [options]     (also installed as `wbspawn-serve`)
    wbspawn check APP_DIR|DIST_DIR [--json] [--timeout S] [--browser chromium|firefox|webkit|all]
    wbspawn doctor [APP_DIR]
    wbspawn new DIR [--name NAME]
    wbspawn build APP_DIR [--out DIR] [--wasm-opt LEVEL]
    wbspawn preview DIR [--host HOST] [--port PORT]
    wbspawn clean
    wbspawn env [APP_DIR] [--release] [--panic abort|unwind]
    wbspawn test [CRATE_DIR] [--browser ...] [--json] [--timeout S] [cargo opts] [-- libtest args]

Options left out stay None, so `config.settings` can tell them from the defaults and let
`[package.metadata.wbspawn]` in the app's Cargo.toml fill them in.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from wbspawn import __version__
from wbspawn.build.flags import PANIC_VALUES
from wbspawn.check.browser import ENGINE_NAMES
from wbspawn.config import (
    CHECK_SETTLE_S,
    CHECK_TIMEOUT_S,
    COEP_VALUES,
    WASM_OPT_LEVELS,
    Config,
    check_host_name,
    parse_header,
    settings,
)
from wbspawn.errors import BuildError, WbspawnError
from wbspawn.ship.template import TEMPLATES


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text}")
    return value


def _app_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app_dir", metavar="APP_DIR", type=Path, help="directory of the Rust crate")


def _listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, help="port (8000; 0 picks a free one)")


def _allowed_host_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="NAME",
        help="also answer requests for this host name (repeatable; .example.test = subdomains)",
    )


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    _app_dir_argument(parser)
    _listen_arguments(parser)
    _build_arguments(parser)
    parser.add_argument(
        "--no-watch",
        dest="watch",
        action="store_const",
        const=False,
        help="build once; no watching, rebuilding or reloading",
    )
    parser.add_argument(
        "--no-early-reload",
        dest="early_reload",
        action="store_const",
        const=False,
        help="reload pages only after a good build (by default they reload as a quick build "
        "starts and wait for its wasm)",
    )
    parser.add_argument(
        "--open",
        dest="open_browser",
        action="store_const",
        const=True,
        help="open the page in the default browser once built",
    )
    _response_arguments(parser)
    _allowed_host_argument(parser)


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--release", action="store_const", const=True, help="build with --release")
    _flavour_arguments(parser)


def _flavour_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--panic",
        choices=PANIC_VALUES,
        help="abort (default) or unwind: unwinding releases a panicking thread's locks",
    )
    parser.add_argument(
        "--no-std-threads",
        dest="std_threads",
        action="store_const",
        const=False,
        help="build with the toolchain's std as it is: std::thread unsupported",
    )
    parser.add_argument(
        "--no-stack-check",
        dest="stack_check",
        action="store_const",
        const=False,
        help="no stack overflow checks (a little smaller and faster; an overflow corrupts memory)",
    )


def _response_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--header",
        dest="headers",
        action="append",
        metavar="'NAME: VALUE'",
        help="add a response header to every response (repeatable)",
    )
    parser.add_argument(
        "--coep",
        choices=COEP_VALUES,
        help="Cross-Origin-Embedder-Policy (require-corp)",
    )


def _cli_settings(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(args, name, None) for name in names}
    headers: list[str] | None = values.get("headers")
    if headers is not None:
        values["headers"] = tuple(parse_header(h) for h in headers)
    host: str | None = values.get("host")
    if host is not None:
        check_host_name(host, where="--host", bind=True)  # bound as given: only checked
    hosts: list[str] | None = values.get("allowed_hosts")
    if hosts is not None:
        values["allowed_hosts"] = tuple(check_host_name(h, where="--allowed-host") for h in hosts)
    return values


SERVE_SETTINGS = (
    "host",
    "port",
    "release",
    "panic",
    "std_threads",
    "stack_check",
    "watch",
    "early_reload",
    "open_browser",
    "headers",
    "coep",
    "allowed_hosts",
)


def _existing_app_dir(args: argparse.Namespace) -> Path:
    app_dir: Path = args.app_dir
    if not app_dir.is_dir():
        raise WbspawnError(f"no such directory: {app_dir}")
    return app_dir


def _existing_crate_dir(args: argparse.Namespace) -> Path:
    """For the commands that only build: said before their "building…" line."""
    from wbspawn.build.cargo import crate_manifest

    app_dir = _existing_app_dir(args)
    crate_manifest(app_dir)
    return app_dir


def config_from_args(args: argparse.Namespace) -> Config:
    return settings(_existing_app_dir(args), _cli_settings(args, SERVE_SETTINGS))


def run_serve(args: argparse.Namespace) -> int:
    # Imported here so `wbspawn --help` does not pay for uvicorn and starlette.
    from wbspawn.serve.server import serve

    serve(config_from_args(args))
    return 0


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    _app_dir_argument(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=CHECK_TIMEOUT_S,
        metavar="S",
        help="seconds the page has to call done(...) (%(default)g)",
    )
    parser.add_argument(
        "--settle",
        type=_seconds,
        default=CHECK_SETTLE_S,
        metavar="S",
        help="seconds a page that never calls done(...) must run without errors (%(default)g)",
    )
    parser.add_argument(
        "--browser",
        choices=(*ENGINE_NAMES, "all"),
        default="chromium",
        help="the headless browser to run the app in; all: each in turn (%(default)s)",
    )
    _build_arguments(parser)
    _response_arguments(parser)


def run_check(args: argparse.Namespace) -> int:
    from wbspawn.check.smoke import (
        check_dist,
        check_engines,
        combined_json,
        error_report,
        format_report,
    )
    from wbspawn.ship.manifest import is_dist

    started = time.monotonic()
    app_dir = _existing_app_dir(args)
    # The server runs on a free loopback port for the check, whatever the manifest says.
    config = settings(
        app_dir,
        _cli_settings(args, ("release", "panic", "std_threads", "stack_check", "headers", "coep")),
        host="127.0.0.1",
        port=0,
        watch=False,
        open_browser=False,
    )
    every = args.browser == "all"
    names = list(ENGINE_NAMES) if every else [args.browser]
    try:
        if is_dist(app_dir):
            # A built dist: served as a production host would, nothing built.
            reports = check_dist(app_dir, names, timeout_s=args.timeout, settle_s=args.settle)
        else:
            reports = check_engines(config, names, timeout_s=args.timeout, settle_s=args.settle)
    except WbspawnError as exc:
        if args.json:
            # CI reads the JSON even when the check could not run; the error line follows.
            errors = [error_report(config, exc, started, name) for name in names]
            print(json.dumps(combined_json(errors) if every else errors[0].to_json(), indent=2))
        raise
    if args.json:
        print(json.dumps(combined_json(reports) if every else reports[0].to_json(), indent=2))
    else:
        print("\n".join(format_report(report) for report in reports))
    return 0 if all(report.status == "pass" for report in reports) else 1


def add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app_dir",
        metavar="APP_DIR",
        type=Path,
        nargs="?",
        help="also check the wasm-bindgen CLI against this crate's Cargo.lock",
    )


def run_doctor(args: argparse.Namespace) -> int:
    from wbspawn.check.doctor import diagnose, report
    from wbspawn.terminal import Terminal

    app_dir = None if args.app_dir is None else _existing_app_dir(args)
    terminal = Terminal(sys.stdout)
    return report(diagnose(app_dir), terminal, print)


def add_new_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir", metavar="DIR", type=Path, help="directory for the app (new, or empty)"
    )
    parser.add_argument("--name", help="the crate's name (default: the directory's name)")
    parser.add_argument(
        "--template",
        choices=TEMPLATES,
        default="worker",
        help="what to make: "
        + "; ".join(f"{name}: {what}" for name, what in TEMPLATES.items())
        + " (worker)",
    )


def run_new(args: argparse.Namespace) -> int:
    from wbspawn.ship.template import new_app

    app = new_app(args.dir, name=args.name, variant=args.template)
    shown = str(args.dir)
    print(f"wbspawn: created {app.name} in {shown}: {', '.join(app.files)}")
    print(f"  wbspawn serve {shown}   # develop at http://127.0.0.1:8000")
    print(f"  wbspawn build {shown}   # release build into {shown.rstrip('/')}/dist")
    return 0


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    _app_dir_argument(parser)
    parser.add_argument(
        "--out",
        dest="dist_dir",
        type=Path,
        metavar="DIR",
        help="where the dist goes (APP_DIR/dist); replaced whole, so it must be new, empty "
        "or an earlier dist",
    )
    parser.add_argument(
        "--wasm-opt",
        dest="wasm_opt",
        choices=WASM_OPT_LEVELS,
        metavar="LEVEL",
        help=f"binaryen's optimization level for the wasm: {', '.join(WASM_OPT_LEVELS)} (O3)",
    )
    _flavour_arguments(parser)
    _response_arguments(parser)


def run_build(args: argparse.Namespace) -> int:
    from wbspawn.ship import sizes
    from wbspawn.ship.dist import build_dist

    names = ("panic", "std_threads", "stack_check", "headers", "coep", "wasm_opt", "dist_dir")
    config = settings(_existing_crate_dir(args), _cli_settings(args, names), release=True)
    result = build_dist(config)
    print(sizes.table(result.sizes))
    print(
        f"wbspawn: built {result.dist.crate} into {result.dist.root} in "
        f"{result.duration_s:.1f} s; `wbspawn preview {result.dist.root}` serves it"
    )
    return 0


def add_preview_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir",
        metavar="DIR",
        type=Path,
        help="a dist built by `wbspawn build`, or the app whose dist/ to serve",
    )
    _listen_arguments(parser)
    parser.add_argument(
        "--open",
        dest="open_browser",
        action="store_const",
        const=True,
        help="open the page in the default browser",
    )
    _allowed_host_argument(parser)


def run_preview(args: argparse.Namespace) -> int:
    from wbspawn.ship.preview import preview

    directory: Path = args.dir
    if not directory.is_dir():
        raise WbspawnError(f"no such directory: {directory}")
    names = ("host", "port", "open_browser", "allowed_hosts")
    preview(settings(directory, _cli_settings(args, names), watch=False))
    return 0


def add_env_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app_dir",
        metavar="APP_DIR",
        type=Path,
        nargs="?",
        default=Path(),
        help="the crate whose [package.metadata.wbspawn] settings apply (default: here)",
    )
    parser.add_argument("--release", action="store_const", const=True, help="release std")
    _flavour_arguments(parser)


def run_env(args: argparse.Namespace) -> int:
    import shlex

    from wbspawn.build import toolchain as toolchain_mod
    from wbspawn.build.pipeline import cargo_env
    from wbspawn.testrun.runtime_lib import cargo_test_env

    names = ("release", "panic", "std_threads")
    config = settings(_existing_app_dir(args), _cli_settings(args, names))
    toolchain = toolchain_mod.discover()
    env, std = cargo_env(config, toolchain)
    if config.std_threads:
        # `cargo test` too: the tests run in a browser (wbspawn test-runner).
        env |= cargo_test_env(
            toolchain, std, config.panic, release=config.release, cache_dir=config.cache_dir
        )
    for name, value in env.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


TEST_TIMEOUT_S = 300.0


def add_test_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app_dir",
        metavar="CRATE_DIR",
        type=Path,
        nargs="?",
        default=Path(),
        help="the crate whose tests to run (default: here)",
    )
    parser.add_argument(
        "--browser",
        choices=(*ENGINE_NAMES, "all"),
        default="chromium",
        help="the headless browser to run the tests in; all: each in turn (%(default)s)",
    )
    parser.add_argument("--release", action="store_const", const=True, help="build with --release")
    parser.add_argument(
        "--panic",
        choices=PANIC_VALUES,
        help="as the app builds (abort unless [package.metadata.wbspawn] says otherwise): a "
        "panicking test's thread ends and the test fails alone; unwind: it unwinds, dropping "
        "what it holds, as on native (not in WebKitGTK, which hangs on a caught panic)",
    )
    parser.add_argument(
        "--no-stack-check",
        dest="stack_check",
        action="store_const",
        const=False,
        help="no stack overflow checks",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=TEST_TIMEOUT_S,
        metavar="S",
        help="seconds each test binary may run before it counts as hung (%(default)g)",
    )
    parser.add_argument(
        "--json", action="store_true", help="a JSON report on stdout (libtest's text on stderr)"
    )
    cargo = parser.add_argument_group("cargo test's options")
    cargo.add_argument("--lib", action="store_true", help="only the library's unit tests")
    cargo.add_argument(
        "--test",
        action="append",
        metavar="NAME",
        help="only the integration test NAME (repeatable)",
    )
    cargo.add_argument("--features", metavar="FEATURES", help="features to activate")
    cargo.add_argument("--all-features", action="store_true", help="activate every feature")
    cargo.add_argument(
        "--no-default-features", action="store_true", help="do not activate the default feature"
    )
    parser.epilog = (
        "Arguments after `--` go to libtest, as with cargo test: a filter, --exact, --skip, "
        "--ignored, --include-ignored, --list, --test-threads N, --nocapture. Doc-tests are "
        "not run."
    )


RUNNER_BROWSER_ENV = "WBSPAWN_TEST_BROWSER"


def add_test_runner_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("wasm", metavar="TEST_WASM", type=Path, help="the test binary cargo built")
    parser.epilog = (
        "Everything after TEST_WASM goes to libtest. The engine is "
        f"${RUNNER_BROWSER_ENV} (chromium, firefox, webkit or all; default chromium)."
    )


def run_test_runner(args: argparse.Namespace) -> int:
    import os

    from wbspawn.testrun.run import TestOptions, run_test_binary

    browser = os.environ.get(RUNNER_BROWSER_ENV, "chromium")
    if browser not in (*ENGINE_NAMES, "all"):
        raise WbspawnError(
            f"{RUNNER_BROWSER_ENV}={browser} is no engine: choose chromium, firefox, webkit or all"
        )
    config = settings(Path.cwd(), {}, host="127.0.0.1", port=0, watch=False, open_browser=False)
    options = TestOptions(
        libtest_args=tuple(args.libtest_args),
        engines=tuple(ENGINE_NAMES) if browser == "all" else (browser,),  # type: ignore[arg-type]
        timeout_s=TEST_TIMEOUT_S,
    )
    return run_test_binary(config, args.wasm, options)


def _cargo_test_args(args: argparse.Namespace) -> tuple[str, ...]:
    cargo: list[str] = []
    if args.lib:
        cargo.append("--lib")
    for name in args.test or []:
        cargo += ["--test", name]
    if args.features:
        cargo += ["--features", args.features]
    if args.all_features:
        cargo.append("--all-features")
    if args.no_default_features:
        cargo.append("--no-default-features")
    return tuple(cargo)


def run_test(args: argparse.Namespace) -> int:
    from wbspawn.testrun.run import TestOptions, run_tests

    # Tests run as the app's build runs: the same panic mode (docs/testing.md says why).
    config = settings(
        _existing_crate_dir(args),
        _cli_settings(args, ("release", "panic", "stack_check")),
        host="127.0.0.1",
        port=0,
        watch=False,
        open_browser=False,
    )
    options = TestOptions(
        cargo_args=_cargo_test_args(args),
        libtest_args=tuple(args.libtest_args),
        engines=tuple(ENGINE_NAMES) if args.browser == "all" else (args.browser,),
        timeout_s=args.timeout,
        json=args.json,
    )
    return run_tests(config, options)


def add_prebuild_arguments(parser: argparse.ArgumentParser) -> None:
    _build_arguments(parser)


def run_prebuild(args: argparse.Namespace) -> int:
    from wbspawn.build import toolchain as toolchain_mod
    from wbspawn.build.prebuild import prebuild

    given = {
        name: value
        for name, value in _cli_settings(
            args, ("release", "panic", "std_threads", "stack_check")
        ).items()
        if value is not None
    }
    config = Config(app_dir=Path(), **given)
    started = time.monotonic()
    [result, *_] = prebuild(config, toolchain_mod.discover())
    print(
        f"wbspawn: prebuilt {config.profile} builds with panic={config.panic} in "
        f"{config.cache_dir} ({time.monotonic() - started:.0f} s; {result.std_threads}): "
        "a new app's first build compiles only its own crates"
    )
    return 0


def add_clean_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: it removes the whole cache


def run_clean(args: argparse.Namespace) -> int:
    from wbspawn.build import cache
    from wbspawn.config import default_cache_dir

    del args
    cache_dir = default_cache_dir()
    removed = cache.clean(cache_dir)
    if not removed:
        print(f"wbspawn: nothing to remove in {cache_dir}")
        return 0
    for part in removed:
        print(f"  removed {part.name}/ ({part.size_bytes / (1 << 20):.0f} MiB): {part.about}")
    total = sum(part.size_bytes for part in removed) / (1 << 20)
    print(f"wbspawn: removed {total:.0f} MiB from {cache_dir}; the next build makes what it needs")
    return 0


def _report(exc: WbspawnError) -> None:
    if isinstance(exc, BuildError) and exc.diagnostics.strip():
        from wbspawn.terminal import Terminal

        Terminal().tool_output(exc.diagnostics)
    print(f"wbspawn: error: {exc}", file=sys.stderr)


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        code = func(args)
    except WbspawnError as exc:
        _report(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


SERVE_DESCRIPTION = (
    "Build a Rust crate for wasm threads and serve it; rebuild and reload the page on every "
    "change. Options can also sit in [package.metadata.wbspawn] of the crate's Cargo.toml "
    "(the command line wins)."
)


def serve_main(argv: Sequence[str] | None = None) -> int:
    """`wbspawn-serve APP_DIR ...`"""
    parser = argparse.ArgumentParser(prog="wbspawn-serve", description=SERVE_DESCRIPTION)
    add_serve_arguments(parser)
    return _run(run_serve, parser.parse_args(argv))


class Subcommand(NamedTuple):
    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS = (
    Subcommand(
        "serve",
        "build a crate, serve it, rebuild on changes",
        SERVE_DESCRIPTION,
        add_serve_arguments,
        run_serve,
    ),
    Subcommand(
        "check",
        "CI smoke test: build, run in a headless browser, fail on any error",
        "Build the crate, serve it on a free port and load it in headless Chromium "
        "(--browser: Firefox, WebKit, or all three in turn). Exit 1 on any uncaught error "
        "or unhandled rejection (page or worker), console error, failed request, "
        "crossOriginIsolated false, done(false, ...), or no done(...) within --timeout; "
        "exit 0 otherwise. Given a dist (`wbspawn build`'s output), nothing is built: the "
        "dist is served as `wbspawn preview` serves it.",
        add_check_arguments,
        run_check,
    ),
    Subcommand(
        "doctor",
        "check the tools the build needs and say how to install what is missing",
        "Check the compiler, std sources, wasm linker, wasm-bindgen CLI and the browsers "
        "(Chromium; Firefox and WebKit for --browser); print their versions and the fix "
        "for whatever is missing. Exit 1 if anything the build or a default check needs is.",
        add_doctor_arguments,
        run_doctor,
    ),
    Subcommand(
        "new",
        "make a new app: a crate using std::thread, its page, ready to serve",
        "Write a new app into DIR: Cargo.toml, src/lib.rs (std::thread), index.html, "
        "main.js, style.css, .gitignore and a README. `wbspawn serve DIR` runs it.",
        add_new_arguments,
        run_new,
    ),
    Subcommand(
        "build",
        "release build into a dist for any static host",
        "Build the crate for release into DIR (APP_DIR/dist): the pages, content-hashed "
        "scripts and wasm (optimized with wasm-opt), header configs for common hosts and a "
        "service worker for hosts without headers. DIR is replaced only by a complete "
        "build. Prints each file's size raw, gzipped and with brotli.",
        add_build_arguments,
        run_build,
    ),
    Subcommand(
        "test",
        "run a crate's #[test]s in headless browsers, as cargo test does",
        "Build the crate's tests for wasm threads (the library's unit tests and every "
        "tests/*.rs), run each test binary in a headless browser (--browser: Chromium, "
        "Firefox, WebKit, or all three in turn) and print libtest's output. Exit 101 if a "
        "test failed, a binary hung or crashed, or the build failed; 0 if all passed.",
        add_test_arguments,
        run_test,
    ),
    Subcommand(
        "test-runner",
        "cargo's runner for wasm test binaries: cargo test in a headless browser",
        "Run one test binary that `cargo test --target wasm32-unknown-unknown` built (with "
        "the environment `wbspawn env` prints) in a headless browser, and exit with libtest's "
        "status. Set it as the target's runner in .cargo/config.toml (`wbspawn new` does).",
        add_test_runner_arguments,
        run_test_runner,
    ),
    Subcommand(
        "env",
        "print the environment to run cargo yourself against wbspawn's std",
        'Print shell `export` lines (for `eval "$(wbspawn env)"`) that make a plain `cargo '
        "check`, `cargo clippy` or rust-analyzer build for wasm as wbspawn's builds do: the "
        "toolchain, the wasm target, the shared-memory flags and the std built for wasm (built "
        "first if the cache has none).",
        add_env_arguments,
        run_env,
    ),
    Subcommand(
        "prebuild",
        "build std and the runtime's dependencies now, for every app after",
        "Build what every app's first build would: std for wasm, the stack-check pass and "
        "the dependencies of a `wbspawn new` app (wasm-bindgen, its macros, the wbspawn "
        "crate), into the cache. A new app's first build then compiles only its own crates. "
        "Once per machine and build flavour (--release, --panic); `make setup` runs it for "
        "debug builds.",
        add_prebuild_arguments,
        run_prebuild,
    ),
    Subcommand(
        "clean",
        "remove wbspawn's cache: std for wasm, target dirs, built output",
        "Remove everything wbspawn keeps in its cache (WBSPAWN_CACHE_DIR, else "
        "~/.cache/wbspawn): std built for wasm, the stack-check pass, cargo's target dirs and "
        "each app's built output. All of it is made again by the next build, more slowly.",
        add_clean_arguments,
        run_clean,
    ),
    Subcommand(
        "preview",
        "serve a built dist as a production host would",
        "Serve a dist built by `wbspawn build` with the headers its host configs send: "
        "no build, no watching, nothing injected.",
        add_preview_arguments,
        run_preview,
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    """`wbspawn serve|check|doctor|new|build|test|preview|clean|env ...`"""
    parser = argparse.ArgumentParser(prog="wbspawn")
    parser.add_argument("--version", action="version", version=f"wbspawn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for sub in COMMANDS:
        command = commands.add_parser(sub.name, help=sub.help, description=sub.description)
        sub.add_arguments(command)
        command.set_defaults(func=sub.run)
    argv = list(sys.argv[1:] if argv is None else argv)
    # `wbspawn test ... -- ARGS`: ARGS are libtest's, never wbspawn's.
    libtest_args: list[str] = []
    if argv[:1] == ["test"] and "--" in argv:
        at = argv.index("--")
        argv, libtest_args = argv[:at], argv[at + 1 :]
    elif argv[:1] == ["test-runner"] and len(argv) > 2 and not argv[1].startswith("-"):
        # cargo's runner: `wbspawn test-runner TEST_WASM ARGS...`, ARGS all libtest's.
        argv, libtest_args = argv[:2], argv[2:]
    args = parser.parse_args(argv)
    args.libtest_args = libtest_args
    return _run(args.func, args)
