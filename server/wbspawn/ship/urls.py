"""The URLs in a web app's HTML, JavaScript and CSS, found without running anything.

`wbspawn build` renames files by their content, so every place that names a file must be
found and rewritten. What is found:

- HTML: `src` and `href` attributes; inline `<script>` and `<style>` contents.
- JavaScript: `import`/`export ... from "x"`, `import "x"`, `import("x")` (module specifiers)
  and `new URL("x", import.meta.url)`, all relative to the script itself; and, in modules,
  plain string literals that look like a path to a file (`"/pkg/app.js"`, `"./data.json"`),
  such as the glue URL the page hands to `start()`.
- CSS: `url(...)` and `@import "x"`.

The JavaScript lexer knows comments, strings, template literals and regular expressions well
enough that a quote in a comment or a `/` in a regex never hides a URL or invents one; it
does not parse. A string literal is an object key or a name when it stands where an
expression cannot (`{"x": 1}`, `export { a as "x" }`): those are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

# import: a module specifier; meta: `new URL(x, import.meta.url)`. Both are resolved against
#   the file's own URL and rewritten as a relative string.
# plain: a string literal in a module, rewritten as an expression that resolves against the
#   module's URL (the string could be handed to anything: fetch, start, a Worker).
# attr: an HTML attribute; css: a url() or @import.
RefKind = Literal["import", "meta", "plain", "attr", "css"]


@dataclass(frozen=True)
class Ref:
    start: int  # offset of the value's text in the document (the quote, for JS strings)
    end: int
    url: str  # the URL as written
    kind: RefKind
    # For an HTML attribute: the tag says the target is a module script.
    module_script: bool = False


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    out: list[str] = []
    at = 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < at:
            raise ValueError("overlapping edits")
        out += [text[at : edit.start], edit.text]
        at = edit.end
    out.append(text[at:])
    return "".join(out)


def is_local(url: str) -> bool:
    """A URL that may name a file of the site: no scheme, no host, not empty or a fragment."""
    if not url or url.startswith(("#", "//", "?")):
        return False
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url) is None


def split_suffix(url: str) -> tuple[str, str]:
    """("path", "?query#fragment") of a URL."""
    for i, char in enumerate(url):
        if char in "?#":
            return url[:i], url[i:]
    return url, ""


# --- JavaScript ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: Literal["name", "string", "template", "regex", "number", "punct"]
    start: int
    end: int
    text: str


# After these a `/` starts a regular expression; after a name, a number or a closing bracket
# it divides.
_REGEX_AFTER_KEYWORDS = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)
_NAME = re.compile(r"[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*")
_NUMBER = re.compile(r"\d[\w.]*|\.\d[\w]*")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []

    def regex_allowed(self) -> bool:
        if not self.tokens:
            return True
        last = self.tokens[-1]
        if last.kind == "name":
            return last.text in _REGEX_AFTER_KEYWORDS
        if last.kind in ("number", "string", "template", "regex"):
            return False
        return last.text not in (")", "]", "}")

    def run(self, pos: int = 0, *, in_template: bool = False) -> int:
        """Lexes from `pos`; inside a template substitution, up to its closing brace."""
        text = self.text
        depth = 0
        while pos < len(text):
            char = text[pos]
            if char in " \t\r\n\ufeff\u00a0\u2028\u2029":
                pos += 1
            elif text.startswith("//", pos):
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            elif text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                pos = len(text) if end < 0 else end + 2
            elif char in "'\"":
                pos = self._string(pos)
            elif char == "`":
                pos = self._template(pos)
            elif char == "/" and self.regex_allowed() and (end := self._regex_end(pos)) > 0:
                self.tokens.append(Token("regex", pos, end, text[pos:end]))
                pos = end
            elif (match := _NAME.match(text, pos)) is not None:
                self.tokens.append(Token("name", pos, match.end(), match.group()))
                pos = match.end()
            elif (match := _NUMBER.match(text, pos)) is not None:
                self.tokens.append(Token("number", pos, match.end(), match.group()))
                pos = match.end()
            else:
                if in_template:
                    if char == "{":
                        depth += 1
                    elif char == "}":
                        if depth == 0:
                            return pos + 1
                        depth -= 1
                self.tokens.append(Token("punct", pos, pos + 1, char))
                pos += 1
        return pos

    def _string(self, pos: int) -> int:
        text, quote = self.text, self.text[pos]
        end = pos + 1
        while end < len(text) and text[end] != quote and text[end] != "\n":
            end += 2 if text[end] == "\\" else 1
        end = min(end + 1, len(text))
        self.tokens.append(Token("string", pos, end, text[pos:end]))
        return end

    def _template(self, pos: int) -> int:
        text = self.text
        # Inserted before the tokens of its substitutions, so the tokens stay in order.
        index = len(self.tokens)
        end = pos + 1
        while end < len(text) and text[end] != "`":
            if text[end] == "\\":
                end += 2
            elif text.startswith("${", end):
                end = self.run(end + 2, in_template=True)
            else:
                end += 1
        end = min(end + 1, len(text))
        self.tokens.insert(index, Token("template", pos, end, text[pos:end]))
        return end

    def _regex_end(self, pos: int) -> int:
        """The end of a regex literal at `pos`, or -1 if there is none on this line (then
        the `/` was a division after all)."""
        text = self.text
        end, in_class = pos + 1, False
        while end < len(text):
            char = text[end]
            if char == "\n":
                return -1
            if char == "\\":
                end += 2
                continue
            if char == "[":
                in_class = True
            elif char == "]":
                in_class = False
            elif char == "/" and not in_class:
                end += 1
                while end < len(text) and (text[end].isalnum() or text[end] in "_$"):
                    end += 1
                return end
            end += 1
        return -1


def js_tokens(text: str) -> list[Token]:
    """Names, strings, templates, regexes, numbers and single-character punctuation;
    comments and whitespace dropped."""
    lexer = _Lexer(text)
    lexer.run()
    return lexer.tokens


def _string_value(token: Token) -> str | None:
    """A string literal's value, or None if it has escapes (never a plain path)."""
    body = token.text[1:-1] if len(token.text) >= 2 and token.text[-1] == token.text[0] else None
    if body is None or "\\" in body:
        return None
    return body


def _text(tokens: Sequence[Token], i: int) -> str:
    return tokens[i].text if 0 <= i < len(tokens) else ""


def _is_keyword(tokens: Sequence[Token], i: int, word: str) -> bool:
    """tokens[i] is the name `word`, not a property (`x.import`)."""
    return _text(tokens, i) == word and tokens[i].kind == "name" and _text(tokens, i - 1) != "."


def is_module_source(tokens: Sequence[Token]) -> bool:
    """Has `export`, a static `import` or `import.meta`: code only a module may contain."""
    for i in range(len(tokens)):
        if _is_keyword(tokens, i, "export"):
            return True
        if _is_keyword(tokens, i, "import") and _text(tokens, i + 1) != "(":
            return True
    return False


def _looks_like_file_path(value: str) -> bool:
    path, _ = split_suffix(value)
    if not path.startswith(("/", "./", "../")) or path.startswith("//"):
        return False
    last = path.rsplit("/", 1)[-1]
    return "." in last.strip(".") and not re.search(r"\s", path)


def js_refs(text: str, *, module: bool | None = None) -> list[Ref]:
    """The URLs in a script. `module`: whether it runs as a module (None: decide from its
    code); plain string literals are URLs only in modules, where `import.meta.url` exists."""
    tokens = js_tokens(text)
    if module is None:
        module = is_module_source(tokens)
    refs: list[Ref] = []
    for i, token in enumerate(tokens):
        if token.kind != "string":
            continue
        value = _string_value(token)
        if value is None:
            continue
        if _is_specifier(tokens, i):
            refs.append(Ref(token.start, token.end, value, "import"))
        elif _is_meta_url(tokens, i):
            refs.append(Ref(token.start, token.end, value, "meta"))
        elif module and _looks_like_file_path(value) and _is_expression(tokens, i):
            refs.append(Ref(token.start, token.end, value, "plain"))
    return refs


def _is_specifier(tokens: Sequence[Token], i: int) -> bool:
    before = _text(tokens, i - 1)
    if before == "from" and tokens[i - 1].kind == "name":
        return True  # import x from "y"; export * from "y"
    if _is_keyword(tokens, i - 1, "import"):
        return True  # import "y"
    # import("y")
    return before == "(" and _is_keyword(tokens, i - 2, "import")


def _is_meta_url(tokens: Sequence[Token], i: int) -> bool:
    # new URL("x", import.meta.url)
    before = [_text(tokens, i - 3), _text(tokens, i - 2), _text(tokens, i - 1)]
    after = [_text(tokens, i + k) for k in range(1, 8)]
    return before == ["new", "URL", "("] and after[:6] == [",", "import", ".", "meta", ".", "url"]


def _is_expression(tokens: Sequence[Token], i: int) -> bool:
    before, after = _text(tokens, i - 1), _text(tokens, i + 1)
    if after == ":" and before in ("{", ","):
        return False  # an object key
    if after == "(" or "as" in (before, after):
        return False  # a method name; an import or export name
    return before != "."


# --- HTML ----------------------------------------------------------------------------------

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_ATTR = re.compile(
    r"""\s*([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""",
)
_URL_ATTRS = frozenset({"src", "href"})


@dataclass(frozen=True)
class HtmlTag:
    name: str
    start: int
    end: int
    attrs: dict[str, str]


@dataclass(frozen=True)
class HtmlScan:
    refs: list[Ref]
    # Where a tag can go: just before </head>; in a page without one, after the doctype and
    # the <html> and <head> start tags (a tag before the doctype would put the page in quirks
    # mode).
    head_end: int
    has_icon: bool


def html_scan(text: str) -> HtmlScan:
    refs: list[Ref] = []
    head_end = -1
    # Past the doctype and the <html>/<head> start tags, while nothing else came first.
    preamble_end = 0
    in_preamble = True
    has_icon = False
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            break
        if text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            pos = len(text) if end < 0 else end + 3
            continue
        if text.startswith("<!", lt):  # the doctype (or another declaration)
            end = text.find(">", lt + 2)
            pos = len(text) if end < 0 else end + 1
            if in_preamble:
                preamble_end = pos
            continue
        match = _TAG.match(text, lt)
        if match is None:
            pos = lt + 1
            continue
        closing, name = match.group(1) == "/", match.group(2).lower()
        if closing:
            if name == "head" and head_end < 0:
                head_end = lt
            pos = match.end()
            continue
        tag, attr_refs = _start_tag(text, match.end(), name, lt)
        refs += attr_refs
        pos = tag.end
        if in_preamble and name in ("html", "head"):
            preamble_end = pos
        else:
            in_preamble = False
        rel = tag.attrs.get("rel", "").lower().split()
        if name == "link" and "icon" in rel:
            has_icon = True
        if name in ("script", "style"):
            close = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(text, pos)
            body_end = len(text) if close is None else close.start()
            if name == "script" and "src" not in tag.attrs:
                module = tag.attrs.get("type", "").strip().lower() == "module"
                refs += [_shift(r, pos) for r in js_refs(text[pos:body_end], module=module)]
            elif name == "style":
                refs += [_shift(r, pos) for r in css_refs(text[pos:body_end])]
            pos = body_end if close is None else close.end()
    return HtmlScan(
        refs=refs, head_end=head_end if head_end >= 0 else preamble_end, has_icon=has_icon
    )


def _start_tag(text: str, pos: int, name: str, start: int) -> tuple[HtmlTag, list[Ref]]:
    attrs: dict[str, str] = {}
    spans: dict[str, tuple[int, int]] = {}
    while pos < len(text):
        if text.startswith(">", pos):
            pos += 1
            break
        if text.startswith("/>", pos):
            pos += 2
            break
        match = _ATTR.match(text, pos)
        if match is None or match.end() == pos:
            pos += 1  # a stray character: skip it, as browsers do
            continue
        key = match.group(1).lower()
        for group in (2, 3, 4):
            if match.group(group) is not None:
                attrs.setdefault(key, match.group(group))
                spans.setdefault(key, (match.start(group), match.end(group)))
                break
        else:
            attrs.setdefault(key, "")
        pos = match.end()
    is_module = name == "script" and attrs.get("type", "").strip().lower() == "module"
    is_module = is_module or (
        name == "link" and "modulepreload" in attrs.get("rel", "").lower().split()
    )
    refs = [
        Ref(spans[key][0], spans[key][1], attrs[key].strip(), "attr", module_script=is_module)
        for key in _URL_ATTRS
        if key in spans and is_local(attrs[key].strip())
    ]
    return HtmlTag(name, start, pos, attrs), refs


def _shift(ref: Ref, offset: int) -> Ref:
    return Ref(ref.start + offset, ref.end + offset, ref.url, ref.kind, ref.module_script)


# --- CSS -----------------------------------------------------------------------------------

_CSS_URL = re.compile(
    r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s"']*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""",
    re.IGNORECASE,
)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def css_refs(text: str) -> list[Ref]:
    # Comments blanked out (same length), so offsets stay those of the original text.
    blanked = _CSS_COMMENT.sub(lambda m: " " * len(m.group()), text)
    refs: list[Ref] = []
    for match in _CSS_URL.finditer(blanked):
        group = next(g for g in range(1, 6) if match.group(g) is not None)
        url = match.group(group)
        if is_local(url):
            refs.append(Ref(match.start(group), match.end(group), url, "css"))
    return refs
