"""The dist's files: every file the pages lead to, renamed by its content and with every
reference to it rewritten.

From each page, references (urls.py) are followed to the files they name (site.py). Each
file but the pages, public/'s files and the service worker moves to `assets/` under a name
with a hash of its content: `main.js` -> `assets/main.3f9a0c21b4.js`. A file's hash covers
the names it refers to, so changing the runtime's `instance.js` renames every runtime script
that imports it, up to the page's `main.js`: a CDN may keep each name forever.

Files that refer to each other in a cycle get one hash for all of them. wasm-bindgen's glue
`app.js` and its `app_bg.wasm` are tied that way on purpose: the runtime finds the wasm as
the glue's URL with `.js` replaced by `_bg.wasm`, so the two keep that relation:
`app.<hash>.js` and `app.<hash>_bg.wasm`.

References are rewritten relative to the file that holds them (`./bootstrap.<hash>.js`, or
for a string handed to other code, `new URL("./app.<hash>.js", import.meta.url).href`), so
the dist works at any base URL, e.g. a GitHub Pages project site under `/<repo>/`.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from wbspawn.errors import WbspawnError
from wbspawn.serve.app import app_settings
from wbspawn.ship import urls
from wbspawn.ship.site import (
    APP_JSON,
    DEFAULT_ICON,
    SERVICE_WORKER,
    Site,
    Source,
    default_page,
    resolve_url,
)

ASSETS_DIR: Final = "assets"
HASH_LENGTH: Final = 10
_PLACEHOLDER: Final = "_" * HASH_LENGTH
# wasm-bindgen's name for the module beside `<name>.js`; kept whole as the "extension".
_BG_WASM: Final = "_bg.wasm"
_TEXT_KINDS: Final = {".html": "html", ".js": "js", ".mjs": "js", ".css": "css"}


@dataclass
class Node:
    source: Source
    data: bytes
    refs: list[tuple[urls.Ref, str | None]] = field(default_factory=list)
    module: bool = False  # a JS file run as a module (plain strings are URLs there)
    inject_icon: bool = False  # a page without an icon: the default one is linked in
    head_end: int = 0

    @property
    def url(self) -> str:
        return self.source.url

    @property
    def hashed(self) -> bool:
        return self.source.kind == "asset" or self.source.url == APP_JSON

    @property
    def text_kind(self) -> str | None:
        return _TEXT_KINDS.get(posixpath.splitext(self.url)[1].lower())

    def targets(self) -> Iterator[str]:
        for _, target in self.refs:
            if target is not None:
                yield target


@dataclass(frozen=True)
class Warning:
    file: str
    url: str

    def __str__(self) -> str:
        if self.file == "no page":
            return f"no page refers to {self.url}, the app's glue: nothing will start the app"
        return f"{self.file} refers to {self.url}, which is not part of the app (it will 404)"


@dataclass(frozen=True)
class Assembled:
    files: dict[str, bytes]  # dist-relative path -> content
    names: dict[str, str]  # the app's URL path -> dist-relative path, for every file
    warnings: list[Warning]


# Generated files: (the URL paths they refer to, their content from the final names).
Render = Callable[[Mapping[str, str]], bytes]


def assemble(
    site: Site,
    *,
    service_worker: bytes,
    crate: str,
    glue_url: str,
    wasm_url: str,
    mode: str = "worker",
) -> Assembled:
    """Every file of the dist, renamed and rewritten (`mode`: the default page's start())."""
    graph = _Graph(site, service_worker=service_worker, crate=crate, glue_url=glue_url, mode=mode)
    pages = site.pages() or [default_page(site.static_dir)]
    publics = site.public_files()
    for source in [*pages, *publics]:
        _check_kept_path(source)
        graph.add(source)
    graph.follow()
    if glue_url not in graph.nodes:
        graph.warnings.append(Warning("no page", glue_url))
    # The runtime finds the wasm beside the glue whether or not the glue names it.
    for url in (glue_url, wasm_url):
        pkg_file = site.resolve(url, "/")
        if pkg_file is not None:
            graph.add(pkg_file)
    graph.follow()
    return graph.render()


class _Graph:
    def __init__(
        self, site: Site, *, service_worker: bytes, crate: str, glue_url: str, mode: str
    ) -> None:
        self.site = site
        self.nodes: dict[str, Node] = {}
        self.queue: list[str] = []
        self.warnings: list[Warning] = []
        self.service_worker = service_worker
        self.crate = crate
        self.mode = mode
        self.glue_url = glue_url
        public = site.public_dir
        self.has_public_icon = public is not None and (public / "favicon.ico").is_file()

    # --- finding the files -----------------------------------------------------------------

    def add(self, source: Source) -> None:
        if source.url in self.nodes:
            return
        if source.path is not None:
            data = source.path.read_bytes()
        elif source.url == SERVICE_WORKER:
            data = self.service_worker
        else:
            data = b""  # app.json: made once the glue's name is known
        node = Node(source, data)
        self.nodes[source.url] = node
        if source.kind != "public":
            self.queue.append(source.url)

    def follow(self) -> None:
        while self.queue:
            node = self.nodes[self.queue.pop()]
            self._scan(node)
            for ref, target in node.refs:
                if target is None:
                    continue
                source = self.site.resolve(target, node.url)
                if target not in self.nodes and source is not None:
                    self.add(source)
                # Imported, or loaded by <script type="module">: a module, where plain
                # strings are URLs. A worker script named by `new URL` says so itself.
                if ref.kind == "import" or ref.module_script:
                    self.nodes[target].module = True

    def _scan(self, node: Node) -> None:
        if node.url == APP_JSON:
            node.refs = [(urls.Ref(0, 0, self.glue_url, "plain"), self.glue_url)]
            return
        kind = node.text_kind
        if kind is None or node.source.kind == "generated":
            return
        text = _decode(node)
        if kind == "html":
            scan = urls.html_scan(text)
            refs = scan.refs
            node.head_end = scan.head_end
            node.inject_icon = not scan.has_icon and not self.has_public_icon
        elif kind == "js":
            node.module |= urls.is_module_source(urls.js_tokens(text))
            # Plain strings too: whether this file is a module may be learnt later, from a
            # file that imports it; `_edit` skips them in classic scripts.
            refs = urls.js_refs(text, module=True)
        else:
            refs = urls.css_refs(text)
        for ref in refs:
            target = self._target(node, ref)
            node.refs.append((ref, target))
        if node.inject_icon:
            node.refs.append((urls.Ref(0, 0, DEFAULT_ICON, "attr"), DEFAULT_ICON))

    def _target(self, node: Node, ref: urls.Ref) -> str | None:
        path, _ = urls.split_suffix(ref.url)
        if not path:
            return None
        url = resolve_url(path, node.url)
        source = None if url is None else self.site.resolve(url, node.url)
        if source is None:
            # Plain strings only looked like paths; a structural reference is a real miss.
            if ref.kind != "plain" and not path.endswith("/"):
                self.warnings.append(Warning(node.url, ref.url))
            return None
        return source.url

    # --- naming and rewriting --------------------------------------------------------------

    def render(self) -> Assembled:
        self._tie_wasm_to_glue()
        names: dict[str, str] = {}
        for url, node in self.nodes.items():
            if not node.hashed:
                names[url] = url.removeprefix("/")
        hashed = {url for url, node in self.nodes.items() if node.hashed}
        for group in _components(hashed, self._hashed_edges()):
            provisional = dict(names)
            for url in group:
                provisional[url] = _hashed_name(url, _PLACEHOLDER)
            digest = hashlib.sha256()
            for url in sorted(group):
                digest.update(url.encode() + b"\0" + self._content(url, provisional) + b"\0")
            hash_text = digest.hexdigest()[:HASH_LENGTH]
            for url in group:
                names[url] = _hashed_name(url, hash_text)
        self._check_names(names)
        files = {names[url]: self._content(url, names) for url in self.nodes}
        return Assembled(files=files, names=names, warnings=self.warnings)

    def _hashed_edges(self) -> dict[str, set[str]]:
        edges: dict[str, set[str]] = {}
        for url, node in self.nodes.items():
            if node.hashed:
                edges[url] = {t for t in node.targets() if self.nodes[t].hashed}
        for wasm, glue in self._wasm_glue_pairs():
            # Both ways, whether or not the glue names the wasm: one group, one hash.
            edges[wasm].add(glue)
            edges[glue].add(wasm)
        return edges

    def _wasm_glue_pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for url, node in self.nodes.items():
            if url.endswith(_BG_WASM) and node.hashed:
                glue = url.removesuffix(_BG_WASM) + ".js"
                if glue in self.nodes and self.nodes[glue].hashed:
                    pairs.append((url, glue))
        return pairs

    def _tie_wasm_to_glue(self) -> None:
        for wasm, glue in self._wasm_glue_pairs():
            if posixpath.dirname(wasm) != posixpath.dirname(glue):
                raise WbspawnError(f"{wasm} and {glue} must sit in one directory")

    def _content(self, url: str, names: Mapping[str, str]) -> bytes:
        node = self.nodes[url]
        if url == APP_JSON:
            # Read by the default page (at the dist's root) and handed to start(), which
            # resolves it against the page's URL.
            glue = "./" + names[self.glue_url]
            return json.dumps(app_settings(glue, self.crate, self.mode)).encode()
        if not node.refs or node.source.kind == "public":
            return node.data
        text = _decode(node)
        own = names[url]
        edits: list[urls.Edit] = []
        for ref, target in node.refs:
            if target is None:
                continue
            edit = self._edit(node, own, ref, target, names)
            if edit is not None:
                edits.append(edit)
        return urls.apply_edits(text, edits).encode()

    def _edit(
        self, node: Node, own: str, ref: urls.Ref, target: str, names: Mapping[str, str]
    ) -> urls.Edit | None:
        _, suffix = urls.split_suffix(ref.url)
        relative = _relative(names[target], own) + suffix
        if ref.start == ref.end:  # the default icon, linked into a page without one
            tag = f'\n  <link rel="icon" href="{_html_attr(relative)}">\n'
            return urls.Edit(node.head_end, node.head_end, tag)
        target_moves = self.nodes[target].hashed
        if ref.kind in ("import", "meta", "css"):
            # Resolved against the file itself, which may have moved too.
            if relative == ref.url:
                return None
            if ref.kind == "css":  # the text inside url(...) or @import's quotes
                return urls.Edit(ref.start, ref.end, relative)
            return urls.Edit(ref.start, ref.end, _js_string(relative, _decode(node)[ref.start]))
        if ref.kind == "plain" and not node.module:
            return None  # a classic script: no import.meta to resolve against
        if not target_moves:
            return None  # it keeps its URL, and so does the page or string naming it
        if ref.kind == "attr":
            return urls.Edit(ref.start, ref.end, _html_attr(relative))
        # A plain string, handed to code that resolves it against the page: made absolute
        # from the module's own URL, which is right at any base URL.
        quoted = json.dumps(relative)
        return urls.Edit(ref.start, ref.end, f"new URL({quoted}, import.meta.url).href")

    def _check_names(self, names: Mapping[str, str]) -> None:
        seen: dict[str, str] = {}
        for url, name in names.items():
            other = seen.setdefault(name, url)
            if other != url and self.nodes[other].data != self.nodes[url].data:
                raise WbspawnError(
                    f"{other} and {url} would both be {name} in the dist: rename one "
                    "(public/ files keep their path, beside the pages)"
                )


def _check_kept_path(source: Source) -> None:
    """A page or public file keeps its path: never the service worker's, nor one in assets/,
    where every file is cached for a year."""
    rel = source.url.removeprefix("/")
    where = f"public/{rel}" if source.kind == "public" else rel
    if source.url == SERVICE_WORKER:
        raise WbspawnError(f"{where} would take the place of wbspawn's service worker: rename it")
    if rel.split("/", 1)[0] == ASSETS_DIR:
        raise WbspawnError(
            f"{where} would sit among the content-hashed files in the dist's {ASSETS_DIR}/, "
            "which hosts cache for a year: move it out of a top-level assets/ directory"
        )


def _components(nodes: set[str], edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), each after every component it refers to."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    for root in sorted(nodes):
        if root in index:
            continue
        # Iterative Tarjan: (node, iterator over its targets).
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(edges.get(root, ())))))
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges.get(target, ())))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component))
    return out


def _hashed_name(url: str, hash_text: str) -> str:
    name = posixpath.basename(url)
    if name.endswith(_BG_WASM) and len(name) > len(_BG_WASM):
        stem, ext = name[: -len(_BG_WASM)], _BG_WASM
    else:
        stem, ext = posixpath.splitext(name)
        if not stem:  # ".x" style names cannot reach here (private), but be safe
            stem, ext = name, ""
    return f"{ASSETS_DIR}/{stem}.{hash_text}{ext}"


def _relative(target: str, own: str) -> str:
    rel = posixpath.relpath(target, posixpath.dirname(own) or ".")
    return rel if rel.startswith("../") else "./" + rel


def _js_string(value: str, quote: str) -> str:
    """A JS string literal for `value`, in the quotes the original used."""
    if quote in ("'", '"') and quote not in value and "\\" not in value:
        return f"{quote}{value}{quote}"
    return json.dumps(value)


def _html_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;")


def _decode(node: Node) -> str:
    try:
        return node.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WbspawnError(f"{node.url} is not UTF-8 text ({exc}): save it as UTF-8") from exc
