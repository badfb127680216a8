"""Finding the URLs in HTML, JavaScript and CSS (ship/urls.py)."""

from __future__ import annotations

import pytest

from wbspawn.ship.urls import (
    Edit,
    apply_edits,
    css_refs,
    html_scan,
    is_local,
    is_module_source,
    js_refs,
    js_tokens,
    split_suffix,
)


def found(refs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(r.url, r.kind) for r in refs]


def test_module_specifiers_and_meta_urls() -> None:
    text = """
import { a } from "./a.js";
import "./side.js";
export * from './re.js';
export { b } from "./b.js";
const lazy = await import("./lazy.js");
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
"""
    assert found(js_refs(text)) == [
        ("./a.js", "import"),
        ("./side.js", "import"),
        ("./re.js", "import"),
        ("./b.js", "import"),
        ("./lazy.js", "import"),
        ("./worker.js", "meta"),
    ]


def test_spans_cover_the_quotes() -> None:
    text = 'import x from "./a.js";'
    (ref,) = js_refs(text)
    assert text[ref.start : ref.end] == '"./a.js"'


def test_plain_path_strings_in_a_module() -> None:
    text = 'import { start } from "/_wbspawn/bootstrap.js";\nstart("/pkg/demo.js");\n'
    assert found(js_refs(text)) == [
        ("/_wbspawn/bootstrap.js", "import"),
        ("/pkg/demo.js", "plain"),
    ]


def test_plain_strings_are_not_urls_in_a_classic_script() -> None:
    assert js_refs('fetch("/data.json");', module=False) == []
    assert found(js_refs('fetch("/data.json");', module=True)) == [("/data.json", "plain")]


def test_only_strings_that_look_like_a_file_path_are_plain_urls() -> None:
    text = """export const x = [
  "/", "/dir/", "hello", "./no-extension", "//cdn.example/x.js", "https://a.test/x.js",
  "./has space.js", "./ok.json", "../up.wasm", "/pkg/demo.js?v=1#f",
];"""
    assert [r.url for r in js_refs(text)] == ["./ok.json", "../up.wasm", "/pkg/demo.js?v=1#f"]


def test_strings_in_comments_regexes_and_templates_are_not_urls() -> None:
    text = r"""export {};
// import "./in-line-comment.js";
/* start("/pkg/in-block-comment.js"); it's a comment with a quote */
const re = /"\/pkg\/in-regex.js"/g;
const t = `template "./in-template.js" ${"./inside-substitution.js"} after`;
const ratio = a / b / c; start("/pkg/after-division.js");
"""
    urls = [r.url for r in js_refs(text)]
    assert urls == ["./inside-substitution.js", "/pkg/after-division.js"]


def test_a_quote_in_a_regex_does_not_start_a_string() -> None:
    text = 'export const q = /\'/; const s = "./real.js";'
    assert [r.url for r in js_refs(text)] == ["./real.js"]


def test_keys_names_and_properties_are_not_urls() -> None:
    text = """export const map = { "./key.js": 1, b: "./value.js" };
export { x as "./exported-name.js" };
obj["./computed.js"];
"""
    # An object key and an export name are not expressions; a computed member is.
    assert [r.url for r in js_refs(text)] == ["./value.js", "./computed.js"]


def test_a_ternary_branch_is_an_expression() -> None:
    text = 'export const u = fast ? "./a.js" : "./b.js";'
    assert [r.url for r in js_refs(text)] == ["./a.js", "./b.js"]


def test_strings_with_escapes_are_left_alone() -> None:
    assert js_refs(r'export const u = "./a\u002ejs";') == []


def test_module_detection() -> None:
    assert is_module_source(js_tokens("export const a = 1;"))
    assert is_module_source(js_tokens('import x from "y";'))
    assert is_module_source(js_tokens("console.log(import.meta.url);"))
    # Dynamic import() is allowed in classic scripts too.
    assert not is_module_source(js_tokens('import("./x.js"); obj.import = 1;'))


def test_html_attributes_and_inline_code() -> None:
    text = """<!doctype html>
<html><head>
<!-- <script src="commented.js"></script> -->
<link rel="stylesheet" href="style.css">
<link rel=icon href=icon.svg>
<script type="module" src="main.js"></script>
<script type="module">import { start } from "/_wbspawn/bootstrap.js"; start("/pkg/a.js");</script>
<script>fetch("/classic.json")</script>
<style>body { background: url('bg.png') }</style>
</head><body><a href="https://example.test/">x</a><img src="#frag"><img src='pic.png'></body></html>
"""
    scan = html_scan(text)
    assert found(scan.refs) == [
        ("style.css", "attr"),
        ("icon.svg", "attr"),
        ("main.js", "attr"),
        ("/_wbspawn/bootstrap.js", "import"),
        ("/pkg/a.js", "plain"),
        ("bg.png", "css"),
        ("pic.png", "attr"),
    ]
    assert [r.module_script for r in scan.refs if r.kind == "attr"] == [False, False, True, False]
    assert scan.has_icon
    assert text[scan.head_end :].startswith("</head>")
    for ref in scan.refs:
        assert ref.url in text[ref.start : ref.end]


def test_a_page_without_a_head_end_tag_gets_new_tags_after_its_doctype() -> None:
    # A tag before the doctype would switch the page to quirks mode.
    text = '<!DOCTYPE html>\n<html lang="en"><head>\n<title>x</title><script src="a.js"></script>'
    scan = html_scan(text)
    assert text[: scan.head_end] == '<!DOCTYPE html>\n<html lang="en"><head>'
    bare = "<!doctype html><p>hello</p>"
    assert bare[: html_scan(bare).head_end] == "<!doctype html>"
    assert html_scan("<p>no doctype</p>").head_end == 0


def test_a_page_without_an_icon() -> None:
    scan = html_scan('<html><head><link rel="stylesheet" href="a.css"></head></html>')
    assert not scan.has_icon


def test_css_urls_and_imports() -> None:
    text = """@import "base.css";
@import url(theme.css);
/* url(commented.png) */
.a { background: url("a.png"), url(b.svg#x); }
.b { background: url(data:image/png;base64,AAAA); }
"""
    refs = css_refs(text)
    assert [r.url for r in refs] == ["base.css", "theme.css", "a.png", "b.svg#x"]
    for ref in refs:
        assert text[ref.start : ref.end] == ref.url


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("a.js", True),
        ("/a.js", True),
        ("../a.js", True),
        ("https://x.test/a.js", False),
        ("//x.test/a.js", False),
        ("data:text/plain,x", False),
        ("mailto:a@b.test", False),
        ("#top", False),
        ("", False),
    ],
)
def test_local_urls(url: str, local: bool) -> None:
    assert is_local(url) is local


def test_split_suffix_and_edits() -> None:
    assert split_suffix("/a.js?x=1#y") == ("/a.js", "?x=1#y")
    assert split_suffix("/a.js") == ("/a.js", "")
    assert apply_edits("0123456789", [Edit(6, 8, "x"), Edit(1, 2, "AB")]) == "0AB2345x89"
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits("0123", [Edit(0, 2, ""), Edit(1, 3, "")])
