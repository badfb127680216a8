"""The one settings object: built at the CLI edge, passed down to every component.

Settings come from the command line and from `[package.metadata.wbspawn]` in the app's
Cargo.toml; the command line wins (`settings()` merges the two).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal

from wbspawn.build.flags import PANIC_VALUES, Panic
from wbspawn.errors import WbspawnError

Coep = Literal["require-corp", "credentialless"]
COEP_VALUES: Final = ("require-corp", "credentialless")

# Where the app's instance runs when the default page starts it: in a worker of its own, or on
# the page's thread (runtime-js/bootstrap.js, docs/main-thread.md).
Mode = Literal["worker", "main"]
MODE_VALUES: Final = ("worker", "main")

# `wbspawn build --wasm-opt`: binaryen's levels, or "off" (ship/wasmopt.py).
WASM_OPT_LEVELS: Final = ("O", "O1", "O2", "O3", "O4", "Os", "Oz", "off")

# `wbspawn check`: how long a page has to call done(...), and how long one that never
# calls it must run without an error.
CHECK_TIMEOUT_S: Final = 60.0
CHECK_SETTLE_S: Final = 2.0

# An HTTP field name (RFC 9110 token) and a value without line breaks or NULs.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\r\n\0]")


def default_cache_dir() -> Path:
    # Outside the repo so the target dir (std rebuilt for atomics: minutes on 2 cores)
    # survives `git clean` and never triggers a file watcher in the app dir.
    if env := os.environ.get("WBSPAWN_CACHE_DIR"):
        return Path(env).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "wbspawn"
    return Path.home() / ".cache" / "wbspawn"


@dataclass(frozen=True)
class Config:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    release: bool = False
    # How panics end a thread: "abort" (the target's default) or "unwind" (flags.py).
    panic: Panic = "abort"
    # std::thread on wbspawn's workers (stdpatch.py), where the toolchain's std has a patch.
    std_threads: bool = True
    # Stack overflow checks in every thread (stackcheck.py), where wasm-opt is installed.
    stack_check: bool = True
    cache_dir: Path = field(default_factory=default_cache_dir)
    watch: bool = True
    # Pages reload as a quick build starts, its output held until it ends (serve/rebuild.py).
    early_reload: bool = True
    open_browser: bool = False
    # Extra response headers, applied last (they may replace the defaults).
    headers: tuple[tuple[str, str], ...] = ()
    coep: Coep = "require-corp"
    # Host names accepted on top of localhost, 127.0.0.1, [::1] and the bound host;
    # a leading dot (".example.test") accepts the name and every subdomain.
    allowed_hosts: tuple[str, ...] = ()
    # `wbspawn build`: binaryen's optimization level for the release wasm ("off": none), and
    # where the dist goes (None: APP_DIR/dist).
    wasm_opt: str = "O3"
    dist_dir: Path | None = None
    # The default page's start() mode (an app with a page of its own passes it to start()).
    mode: Mode = "worker"

    def __post_init__(self) -> None:
        # Resolved once so cache keys and the "stay inside APP_DIR" checks agree.
        object.__setattr__(self, "app_dir", Path(self.app_dir).expanduser().resolve())
        object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser().resolve())
        if self.dist_dir is not None:
            object.__setattr__(self, "dist_dir", Path(self.dist_dir).expanduser().resolve())

    @property
    def profile(self) -> str:
        return "release" if self.release else "debug"

    @property
    def dist(self) -> Path:
        """Where `wbspawn build` writes the dist."""
        return self.app_dir / "dist" if self.dist_dir is None else self.dist_dir


def parse_header(text: str, *, where: str = "--header") -> tuple[str, str]:
    """`"Name: value"` -> ("Name", "value"), or a WbspawnError naming `where`."""
    name, sep, value = text.partition(":")
    return check_header(name.strip(), value.strip() if sep else None, where=where, text=text)


def check_header(
    name: str, value: str | None, *, where: str, text: str | None = None
) -> tuple[str, str]:
    shown = text if text is not None else f"{name}: {value}"
    if value is None or not _HEADER_NAME.match(name):
        raise WbspawnError(f"{where} {shown!r} is not a header: write it as 'Name: value'")
    if _BAD_VALUE.search(value):
        raise WbspawnError(f"{where} {name!r} has a line break in its value: remove it")
    return name, value


def check_host_name(name: str, *, where: str, bind: bool = False) -> str:
    """A host name as the Host header carries it: lower case, IPv6 in brackets.

    `bind`: a name to listen on (--host), which has no subdomain form.
    """
    host = name.strip().lower()
    if "*" in host:
        fix = (
            "pass --host 0.0.0.0 to listen on every address"
            if bind
            else "list each name, or write a leading dot (.example.test) for a name and all "
            "its subdomains"
        )
        raise WbspawnError(f"{where} {name!r}: wildcards are not supported: {fix}")
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]"  # a bare IPv6 address
    # A leading dot is the subdomain form, a trailing one a fully qualified name; any other
    # empty label (`evil..name`) makes no name.
    name_part = host if bind else host.removeprefix(".")
    labels = [] if host.startswith("[") else name_part.removesuffix(".").split(".")
    if (
        not host
        or any(c in host for c in "/@ \t")
        or host.rsplit("]", 1)[-1].count(":")
        or "" in labels
    ):
        raise WbspawnError(
            f"{where} {name!r} is not a host name: give a name or address without port or "
            "scheme, e.g. myhost.local"
        )
    return host


# Cargo.toml keys -> Config fields. Kebab case, like Cargo's own keys.
MANIFEST_KEYS: Final = {
    "host": "host",
    "port": "port",
    "release": "release",
    "panic": "panic",
    "std-threads": "std_threads",
    "stack-check": "stack_check",
    "watch": "watch",
    "early-reload": "early_reload",
    "open": "open_browser",
    "headers": "headers",
    "coep": "coep",
    "mode": "mode",
    "allowed-hosts": "allowed_hosts",
    "wasm-opt": "wasm_opt",
}


def manifest_settings(app_dir: Path) -> dict[str, Any]:
    """`[package.metadata.wbspawn]` of APP_DIR/Cargo.toml as Config keyword arguments.

    A missing or unparsable Cargo.toml gives {}: the build reports those with cargo's own
    words. A wrong key or value under our table is a loud error.
    """
    manifest = Path(app_dir) / "Cargo.toml"
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    package = data.get("package")
    metadata = package.get("metadata") if isinstance(package, dict) else None
    table = metadata.get("wbspawn") if isinstance(metadata, dict) else None
    if table is None:
        return {}
    where = f"{manifest} [package.metadata.wbspawn]"
    if not isinstance(table, dict):
        raise WbspawnError(f"{where} must be a table: write [package.metadata.wbspawn]")
    return _manifest_values(table, where)


def _manifest_values(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in MANIFEST_KEYS:
            known = ", ".join(MANIFEST_KEYS)
            raise WbspawnError(f"{where}: unknown key {key!r} (known: {known})")
        name = MANIFEST_KEYS[key]
        out[name] = _manifest_value(key, value, where)
    return out


def _manifest_value(key: str, value: Any, where: str) -> Any:
    def wrong(expected: str) -> WbspawnError:
        return WbspawnError(f"{where}: {key} must be {expected}, not {value!r}")

    if key == "host":
        if not isinstance(value, str) or not value:
            raise wrong("a host name or address")
        check_host_name(value, where=f"{where}: host", bind=True)
        return value
    if key == "port":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
            raise wrong("a port number 0-65535")
        return value
    if key in ("release", "watch", "early-reload", "open", "std-threads", "stack-check"):
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if key == "coep":
        if value not in COEP_VALUES:
            raise wrong(" or ".join(repr(v) for v in COEP_VALUES))
        return value
    if key == "mode":
        if value not in MODE_VALUES:
            raise wrong(" or ".join(repr(v) for v in MODE_VALUES))
        return value
    if key == "panic":
        if value not in PANIC_VALUES:
            raise wrong(" or ".join(repr(v) for v in PANIC_VALUES))
        return value
    if key == "wasm-opt":
        if value not in WASM_OPT_LEVELS:
            raise wrong("one of " + ", ".join(repr(v) for v in WASM_OPT_LEVELS))
        return value
    if key == "headers":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise wrong('a table of strings, e.g. headers = { "X-Name" = "value" }')
        return tuple(check_header(n, v, where=f"{where}: headers") for n, v in value.items())
    # allowed-hosts
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise wrong('a list of host names, e.g. ["myhost.local"]')
    return tuple(check_host_name(v, where=f"{where}: allowed-hosts") for v in value)


def merge_headers(*layers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Later layers replace earlier headers of the same name (names are case-insensitive);
    a replaced header moves to where its layer puts it, after the layers before."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer:
            merged.pop(name.lower(), None)
            merged[name.lower()] = (name, value)
    return tuple(merged.values())


def settings(app_dir: Path, cli: Mapping[str, Any], **fixed: Any) -> Config:
    """The Config for APP_DIR: `cli` values that are not None win over the manifest's.

    Headers merge by name (the command line's replace the manifest's); allowed hosts add up.
    `fixed` are values only the caller decides (e.g. cache_dir in tests).
    """
    from_manifest = manifest_settings(app_dir)
    given = {k: v for k, v in cli.items() if v is not None}
    known = {f.name for f in fields(Config)}
    unknown = set(given) - known
    if unknown:
        raise TypeError(f"not Config fields: {sorted(unknown)}")
    values: dict[str, Any] = {**from_manifest, **given}
    values["headers"] = merge_headers(from_manifest.get("headers", ()), given.get("headers", ()))
    hosts = [*from_manifest.get("allowed_hosts", ()), *given.get("allowed_hosts", ())]
    values["allowed_hosts"] = tuple(dict.fromkeys(hosts))
    values.update(fixed)
    return Config(app_dir=app_dir, **values)
