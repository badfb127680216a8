"""A small dist laid out as `wbspawn build` writes one, built from nothing: for the tests of
hosting, preview and the servers that serve a dist."""

from __future__ import annotations

from pathlib import Path

from wbspawn.ship import hosting
from wbspawn.ship.manifest import Dist, write_manifest

HASHED = "assets/main.0123456789.js"
WASM = "assets/app.0123456789_bg.wasm"


def make_dist(root: Path, rules: hosting.Rules | None = None) -> Path:
    """A small dist as `wbspawn build` lays one out, without building anything."""
    rules = rules or hosting.rules_for("require-corp", (), ["index.html", "wbspawn-sw.js"])
    files = {
        "index.html": "<!doctype html><title>x</title>",
        "wbspawn-sw.js": "// sw",
        HASHED: "export {};",
        WASM: "\0asm\x01\0\0\0",
        "docs/index.html": "<p>docs</p>",
        "robots.txt": "User-agent: *",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    for name, text in hosting.configs(rules, "app").items():
        (root / name).write_text(text)
    dist = Dist(root=root, crate="app", pages=("index.html",), rules=rules, files={})
    write_manifest(dist, root)
    return root
