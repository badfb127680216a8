from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import CARGO_TOML
from wbspawn.config import (
    Config,
    check_host_name,
    manifest_settings,
    merge_headers,
    parse_header,
    settings,
)
from wbspawn.errors import WbspawnError

METADATA = """
[package.metadata.wbspawn]
host = "0.0.0.0"
port = 9000
release = true
panic = "unwind"
watch = false
early-reload = false
open = true
coep = "credentialless"
mode = "main"
headers = { "X-Frame-Options" = "DENY", "X-Team" = "web" }
allowed-hosts = ["dev.example.test", "::1"]
"""


def with_metadata(crate_dir: Path, text: str) -> Path:
    (crate_dir / "Cargo.toml").write_text(CARGO_TOML + text)
    return crate_dir


def test_defaults(crate_dir: Path) -> None:
    config = settings(crate_dir, {})
    assert (config.host, config.port, config.release) == ("127.0.0.1", 8000, False)
    assert config.panic == "abort"
    assert (config.watch, config.open_browser, config.coep) == (True, False, "require-corp")
    assert config.early_reload
    assert config.mode == "worker"
    assert (config.headers, config.allowed_hosts) == ((), ())


def test_manifest_keys(crate_dir: Path) -> None:
    config = settings(with_metadata(crate_dir, METADATA), {})
    assert (config.host, config.port, config.release) == ("0.0.0.0", 9000, True)
    assert config.panic == "unwind"
    assert (config.watch, config.open_browser, config.coep) == (False, True, "credentialless")
    assert not config.early_reload
    assert config.mode == "main"
    assert config.headers == (("X-Frame-Options", "DENY"), ("X-Team", "web"))
    assert config.allowed_hosts == ("dev.example.test", "[::1]")


def test_command_line_wins(crate_dir: Path) -> None:
    cli = {
        "host": "127.0.0.1",
        "port": 0,
        "release": None,  # not given: the manifest's value stays
        "watch": None,
        "coep": "require-corp",
        "headers": (("x-frame-options", "SAMEORIGIN"),),
        "allowed_hosts": ("other.test",),
    }
    config = settings(with_metadata(crate_dir, METADATA), cli)
    assert (config.host, config.port, config.release, config.watch) == ("127.0.0.1", 0, True, False)
    assert config.coep == "require-corp"
    # Headers merge by name, the command line's replacing the manifest's (and coming after).
    assert config.headers == (("X-Team", "web"), ("x-frame-options", "SAMEORIGIN"))
    # Allowed hosts add up.
    assert config.allowed_hosts == ("dev.example.test", "[::1]", "other.test")


def test_fixed_values_are_the_callers(crate_dir: Path, tmp_path: Path) -> None:
    config = settings(with_metadata(crate_dir, METADATA), {}, port=0, cache_dir=tmp_path)
    assert config.port == 0
    assert config.cache_dir == tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1", "unknown key 'prot' (known: host, port, release, panic, std-threads,"),
        ('panic = "catch"', "panic must be 'abort' or 'unwind', not 'catch'"),
        ("port = 70000", "port must be a port number 0-65535, not 70000"),
        ('port = "80"', "port must be a port number 0-65535, not '80'"),
        ('release = "yes"', "release must be true or false"),
        ("early-reload = 1", "early-reload must be true or false"),
        ('coep = "none"', "coep must be 'require-corp' or 'credentialless', not 'none'"),
        ('mode = "page"', "mode must be 'worker' or 'main', not 'page'"),
        ('headers = ["X: 1"]', "headers must be a table of strings"),
        ('headers = { "Bad Name" = "1" }', "is not a header"),
        ('allowed-hosts = "x"', "allowed-hosts must be a list of host names"),
        ('allowed-hosts = ["x:80"]', "is not a host name"),
        ('allowed-hosts = ["*"]', "wildcards are not supported: list each name, or write a"),
        ('allowed-hosts = ["a..b"]', "is not a host name"),
        ('host = "evil..name"', "is not a host name"),
        ('host = ".example.test"', "is not a host name"),
    ],
)
def test_manifest_errors_are_loud(crate_dir: Path, text: str, message: str) -> None:
    with_metadata(crate_dir, f"\n[package.metadata.wbspawn]\n{text}\n")
    with pytest.raises(WbspawnError) as info:
        manifest_settings(crate_dir)
    assert message in str(info.value)
    assert "[package.metadata.wbspawn]" in str(info.value)


def test_unreadable_manifest_is_left_to_cargo(tmp_path: Path) -> None:
    assert manifest_settings(tmp_path) == {}
    (tmp_path / "Cargo.toml").write_text("[package\n")
    assert manifest_settings(tmp_path) == {}


def test_parse_header() -> None:
    assert parse_header("X-Thing:  a: b ") == ("X-Thing", "a: b")
    assert parse_header("X-Empty:") == ("X-Empty", "")
    for bad in ("no colon", ": value", "Bad Name: x"):
        with pytest.raises(WbspawnError, match="is not a header: write it as 'Name: value'"):
            parse_header(bad)
    with pytest.raises(WbspawnError, match="line break"):
        parse_header("X-A: b\r\nSet-Cookie: c")


def test_merge_headers() -> None:
    assert merge_headers([("A", "1"), ("B", "2")], [("a", "3")]) == (("B", "2"), ("a", "3"))
    assert merge_headers([("A", "1")], [], [("C", "4"), ("a", "5")]) == (("C", "4"), ("a", "5"))


def test_config_paths_are_resolved(tmp_path: Path) -> None:
    config = Config(app_dir=tmp_path / "x" / "..", cache_dir=tmp_path / "c" / "..")
    assert config.app_dir == tmp_path.resolve()
    assert config.cache_dir == tmp_path.resolve()
    assert config.profile == "debug"


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("Dev.Example.Test", "dev.example.test"),
        (".lan", ".lan"),
        ("example.test.", "example.test."),
        ("::1", "[::1]"),
        ("[::1]", "[::1]"),
        ("0.0.0.0", "0.0.0.0"),
    ],
)
def test_host_names(name: str, host: str) -> None:
    assert check_host_name(name, where="--allowed-host") == host


@pytest.mark.parametrize(
    "name", ["", ".", "a..b", "..lan", "*", "*.lan", "a:80", "http://a", "a b"]
)
def test_not_host_names(name: str) -> None:
    with pytest.raises(WbspawnError, match=f"^--allowed-host {re.escape(repr(name))}"):
        check_host_name(name, where="--allowed-host")
