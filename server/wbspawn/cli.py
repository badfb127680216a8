"""Command line: flags become a Config here, and errors become one line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wbspawn import __version__
from wbspawn.build import BuildError
from wbspawn.config import Config
from wbspawn.errors import WbspawnError


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app_dir", metavar="APP_DIR", type=Path, help="directory of the Rust crate")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port (%(default)s; 0 = any)")
    parser.add_argument("--release", action="store_true", help="build with --release")


def config_from_args(args: argparse.Namespace) -> Config:
    app_dir: Path = args.app_dir
    if not app_dir.is_dir():
        raise WbspawnError(f"no such directory: {app_dir}")
    return Config(app_dir=app_dir, host=args.host, port=args.port, release=args.release)


def run_serve(args: argparse.Namespace) -> int:
    # Imported here so `wbspawn --help` does not pay for uvicorn and starlette.
    from wbspawn.server import serve

    serve(config_from_args(args))
    return 0


def _report(exc: WbspawnError) -> None:
    if isinstance(exc, BuildError) and exc.diagnostics.strip():
        print(exc.diagnostics.rstrip(), file=sys.stderr)
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


def serve_main(argv: Sequence[str] | None = None) -> int:
    """`wbspawn-serve APP_DIR ...`"""
    parser = argparse.ArgumentParser(
        prog="wbspawn-serve", description="Build a Rust crate for wasm threads and serve it."
    )
    add_serve_arguments(parser)
    return _run(run_serve, parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """`wbspawn serve APP_DIR ...`; more subcommands (check, doctor) go beside `serve`."""
    parser = argparse.ArgumentParser(prog="wbspawn")
    parser.add_argument("--version", action="version", version=f"wbspawn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="build a crate and serve it",
        description="Build a Rust crate for wasm threads and serve it.",
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=run_serve)
    args = parser.parse_args(argv)
    return _run(args.func, args)
