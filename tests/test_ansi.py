from __future__ import annotations

from wbspawn import ansi

# What `cargo build --color=always` prints for a failed build (trimmed).
RUSTC_ERROR = (
    "\x1b[1m\x1b[91merror[E0425]\x1b[0m\x1b[1m: cannot find value `x` in this scope\x1b[0m\n"
    "\x1b[1m\x1b[94m  --> \x1b[0msrc/lib.rs:3:5\n"
    "\x1b[1m\x1b[94m3\x1b[0m \x1b[1m\x1b[94m|\x1b[0m     x < 1\n"
)


def test_plain_removes_every_escape() -> None:
    assert ansi.plain(RUSTC_ERROR) == (
        "error[E0425]: cannot find value `x` in this scope\n  --> src/lib.rs:3:5\n3 |     x < 1\n"
    )
    hyperlink = "\x1b]8;;file:///src/lib.rs\x1b\\lib.rs\x1b]8;;\x1b\\"
    assert ansi.plain(hyperlink) == "lib.rs"
    assert ansi.plain("a\x1b[2Kb\x1b[1Gc") == "abc"


def test_colours_become_classes() -> None:
    html = ansi.to_html(RUSTC_ERROR)
    assert '<span class="ansi-b ansi-fg-9">error[E0425]</span>' in html
    assert '<span class="ansi-b">: cannot find value `x` in this scope</span>' in html
    assert "src/lib.rs:3:5" in html
    assert "\x1b" not in html
    assert "style=" not in html  # classes only: a strict style-src CSP must not drop colours


def test_text_is_escaped() -> None:
    html = ansi.to_html("\x1b[31m<script>alert('x') & \"y\"</script>\x1b[0m")
    assert html == (
        '<span class="ansi-fg-1">&lt;script&gt;alert(&#x27;x&#x27;) &amp; '
        "&quot;y&quot;&lt;/script&gt;</span>"
    )


def test_resets() -> None:
    assert ansi.to_html("\x1b[1;4;32mA\x1b[22mB\x1b[24;39mC\x1b[mD") == (
        '<span class="ansi-b ansi-u ansi-fg-2">A</span><span class="ansi-u ansi-fg-2">B</span>CD'
    )


def test_extended_colours_map_to_the_basic_classes() -> None:
    assert ansi.to_html("\x1b[38;5;9mA") == '<span class="ansi-fg-9">A</span>'
    assert ansi.to_html("\x1b[38;5;196mA") == '<span class="ansi-fg-9">A</span>'
    assert ansi.to_html("\x1b[48;2;0;0;0mA") == '<span class="ansi-bg-0">A</span>'
    assert ansi.to_html("\x1b[38;5;999mA") == "A"  # out of range: ignored


def test_plain_text_is_unchanged() -> None:
    assert ansi.to_html("plain\ntext") == "plain\ntext"
    assert ansi.plain("plain") == "plain"
