"""Command line: flags become a Config here, and errors become one line on stderr.

    wbspawn serve APP_DIR [options]     (also installed as `wbspawn-serve`)
    wbspawn check APP_DIR [--json] [--timeout S]
    wbspawn doctor [APP_DIR]

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
from typing import Any

from wbspawn import __version__
from wbspawn.build.flags import PANIC_VALUES
from wbspawn.config import (
    CHECK_SETTLE_S,
    CHECK_TIMEOUT_S,
    COEP_VALUES,
    Config,
    check_host_name,
    parse_header,
    settings,
)
from wbspawn.errors import BuildError, WbspawnError


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


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    _app_dir_argument(parser)
    parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, help="port (8000; 0 picks a free one)")
    _build_arguments(parser)
    parser.add_argument(
        "--no-watch",
        dest="watch",
        action="store_const",
        const=False,
        help="build once; no watching, rebuilding or reloading",
    )
    parser.add_argument(
        "--open",
        dest="open_browser",
        action="store_const",
        const=True,
        help="open the page in the default browser once built",
    )
    _response_arguments(parser)
    parser.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        metavar="NAME",
        help="also answer requests for this host name (repeatable; .example.test = subdomains)",
    )


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--release", action="store_const", const=True, help="build with --release")
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
    _build_arguments(parser)
    _response_arguments(parser)


def run_check(args: argparse.Namespace) -> int:
    from wbspawn.check.smoke import check, error_report, format_report

    started = time.monotonic()
    # The server runs on a free loopback port for the check, whatever the manifest says.
    config = settings(
        _existing_app_dir(args),
        _cli_settings(args, ("release", "panic", "std_threads", "stack_check", "headers", "coep")),
        host="127.0.0.1",
        port=0,
        watch=False,
        open_browser=False,
    )
    try:
        report = check(config, timeout_s=args.timeout, settle_s=args.settle)
    except WbspawnError as exc:
        if args.json:
            print(json.dumps(error_report(config, exc, started).to_json(), indent=2))
        raise
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 0 if report.status == "pass" else 1


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


def main(argv: Sequence[str] | None = None) -> int:
    """`wbspawn serve|check|doctor ...`"""
    parser = argparse.ArgumentParser(prog="wbspawn")
    parser.add_argument("--version", action="version", version=f"wbspawn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="build a crate, serve it, rebuild on changes", description=SERVE_DESCRIPTION
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=run_serve)

    check = commands.add_parser(
        "check",
        help="CI smoke test: build, run in headless Chromium, fail on any error",
        description=(
            "Build the crate, serve it on a free port and load it in headless Chromium. Exit "
            "1 on any uncaught error or unhandled rejection (page or worker), console error, "
            "failed request, crossOriginIsolated false, done(false, ...), or no done(...) "
            "within --timeout; exit 0 otherwise."
        ),
    )
    add_check_arguments(check)
    check.set_defaults(func=run_check)

    doctor = commands.add_parser(
        "doctor",
        help="check the tools the build needs and say how to install what is missing",
        description=(
            "Check the compiler, std sources, wasm linker, wasm-bindgen CLI and Chromium; "
            "print their versions and the fix for whatever is missing. Exit 1 if any is."
        ),
    )
    add_doctor_arguments(doctor)
    doctor.set_defaults(func=run_doctor)

    args = parser.parse_args(argv)
    return _run(args.func, args)
