"""The code's layering: no module imports another that (directly or not) imports it back.

Runtime modules (runtime-rs/src) and server modules (server/wbspawn) alike; a cycle means two
modules that are really one, or a layer that reaches up.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from apps import REPO

SERVER = REPO / "server" / "wbspawn"
RUNTIME = REPO / "runtime-rs" / "src"


def python_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SERVER.rglob("*.py"):
        module = ".".join(("wbspawn", *path.relative_to(SERVER).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("wbspawn")
            ):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    target_is_module = (
                        (SERVER / candidate.removeprefix("wbspawn.").replace(".", "/"))
                        .with_suffix(".py")
                        .exists()
                    )
                    targets.add(candidate if target_is_module else node.module)
        graph[module] = {t for t in targets if t != module and not module.startswith(t + ".")}
    return graph


def rust_uses() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in RUNTIME.rglob("*.rs"):
        parts = path.relative_to(RUNTIME).with_suffix("").parts
        module = "::".join(p for p in parts if p not in ("lib", "mod")) or "crate"
        text = re.sub(r"(?s)#\[cfg\(test\)\]\s*mod tests.*", "", path.read_text())
        used = set(re.findall(r"crate::([a-z_]+)", text))
        top = module.split("::")[0]
        graph[module] = {u for u in used if u != top and module != "crate"}
    # A module's dependencies are its top-level module's (platform::wasm counts as platform).
    merged: dict[str, set[str]] = {}
    for module, deps in graph.items():
        merged.setdefault(module.split("::")[0], set()).update(deps)
    return merged


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def shown(found: Iterable[list[str]]) -> str:
    return "; ".join(" -> ".join(cycle) for cycle in found)


def test_server_modules_import_no_cycle() -> None:
    graph = python_imports()
    assert "wbspawn.build.pipeline" in graph
    assert cycles(graph) == [], shown(cycles(graph))


def test_runtime_modules_use_no_cycle() -> None:
    graph = rust_uses()
    assert "pool" in graph and "thread" in graph
    assert cycles(graph) == [], shown(cycles(graph))


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
