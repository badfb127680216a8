"""The headers a dist needs, written for each common host.

One set of rules, generated into the dist for every host and used by `wbspawn preview`:

- every response: Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy:
  require-corp (or credentialless), Cross-Origin-Resource-Policy: same-origin (threads need
  SharedArrayBuffer, which only a cross-origin isolated page gets), X-Content-Type-Options:
  nosniff, and the app's own `headers` from `[package.metadata.wbspawn]` or `--header`;
- files under `assets/` (content-hashed, so a new build never reuses a name): cached for a
  year, `immutable`;
- everything else (the pages, the service worker, public/'s files): `no-cache`, revalidated
  on every load, so a new deploy is seen at once.

The rules match `assets/<file>` at any depth, so the nginx, Caddy and Apache snippets also
work when the dist is served under a sub-path. Netlify, Cloudflare Pages and Vercel serve a
site from its root. On every host, a header is set by one rule only: Netlify and Cloudflare
join the values of a header that two matching rules set, which would make
`no-cache, public, max-age=31536000` of a cache header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from wbspawn.config import merge_headers
from wbspawn.serve.headers import base_headers

IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
HASHED_DIR: Final = "assets"
# Matched against a URL path: a file directly inside an assets/ directory.
HASHED_PATTERN: Final = re.compile(r"/assets/[^/]+$")

# The generated files, by host; none of them is part of the site.
NETLIFY: Final = "_headers"
VERCEL: Final = "vercel.json"
NGINX: Final = "nginx.conf"
CADDY: Final = "caddy.conf"
APACHE: Final = ".htaccess"
CONFIG_FILES: Final = (NETLIFY, VERCEL, NGINX, CADDY, APACHE)


@dataclass(frozen=True)
class Rules:
    # Sent with every response, errors included.
    headers: tuple[tuple[str, str], ...]
    # Files that cannot be hashed (pages, the service worker), by dist-relative path: hosts
    # whose default cache policy we cannot see get an explicit short one for these.
    unhashed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"headers": [list(h) for h in self.headers], "unhashed": list(self.unhashed)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Rules:
        headers = data.get("headers", [])
        unhashed = data.get("unhashed", [])
        if not isinstance(headers, list) or not isinstance(unhashed, list):
            raise ValueError("hosting rules: headers and unhashed must be lists")
        return cls(
            headers=tuple((str(name), str(value)) for name, value in headers),
            unhashed=tuple(str(u) for u in unhashed),
        )


def rules_for(coep: str, extra: Iterable[tuple[str, str]], unhashed: Iterable[str]) -> Rules:
    headers = merge_headers(base_headers(coep), extra)
    return Rules(headers=headers, unhashed=tuple(sorted(set(unhashed))))


def cache_control(path: str) -> str:
    """The Cache-Control for a successful response to URL path `path`."""
    return IMMUTABLE if HASHED_PATTERN.search(path) else REVALIDATE


def page_urls(unhashed: Iterable[str]) -> list[str]:
    """The URL paths a host may serve an unhashed file at: `/index.html` also at `/`, and a
    page also without `.html` (Netlify's and Cloudflare's pretty URLs)."""
    out: list[str] = []
    for path in unhashed:
        out.append("/" + path)
        if path == "index.html" or path.endswith("/index.html"):
            out.append("/" + path.removesuffix("index.html"))
        elif path.endswith(".html"):
            out.append("/" + path.removesuffix(".html"))
    return list(dict.fromkeys(out))


def configs(rules: Rules, crate: str) -> dict[str, str]:
    """Every host's file: name -> text."""
    return {
        NETLIFY: netlify_headers(rules, crate),
        VERCEL: vercel_json(rules),
        NGINX: nginx_conf(rules, crate),
        CADDY: caddy_conf(rules, crate),
        APACHE: htaccess(rules, crate),
    }


def netlify_headers(rules: Rules, crate: str) -> str:
    lines = [
        f"# {crate}: response headers for Netlify and Cloudflare Pages, written by",
        "# `wbspawn build`. This file must sit at the root of the published directory.",
        "/*",
        *(f"  {name}: {value}" for name, value in rules.headers),
        f"/{HASHED_DIR}/*",
        f"  Cache-Control: {IMMUTABLE}",
    ]
    for url in page_urls(rules.unhashed):
        lines += [url, f"  Cache-Control: {REVALIDATE}"]
    return "\n".join(lines) + "\n"


def vercel_json(rules: Rules) -> str:
    def pairs(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"key": name, "value": value} for name, value in items]

    entries: list[dict[str, object]] = [
        {"source": "/(.*)", "headers": pairs(rules.headers)},
        {"source": f"/{HASHED_DIR}/(.*)", "headers": pairs([("Cache-Control", IMMUTABLE)])},
    ]
    for url in page_urls(rules.unhashed):
        entries.append({"source": url, "headers": pairs([("Cache-Control", REVALIDATE)])})
    return json.dumps({"headers": entries}, indent=2) + "\n"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_GZIP_TYPES = (
    "application/wasm application/javascript text/javascript text/css application/json "
    "image/svg+xml"
)

# Never part of the site, though they sit in its directory: the host configs at any depth, and
# anything under a name that starts with a dot (`.wbspawn-dist.json`, `.git/`), as `wbspawn
# preview` and the dev server refuse them.
_PRIVATE_PATTERN = r"/(_headers|vercel\.json|nginx\.conf|caddy\.conf)$|/\."


def nginx_conf(rules: Rules, crate: str) -> str:
    isolation = [f"add_header {name} {_quoted(value)} always;" for name, value in rules.headers]
    indented = "\n".join("    " + line for line in isolation)
    return f"""\
# {crate}: response headers for nginx, written by `wbspawn build`. Include this file in the
# server block whose root is this directory (the dist):
#
#     server {{
#         listen 443 ssl;
#         server_name example.com;
#         root /srv/{crate}/dist;
#         include /srv/{crate}/dist/nginx.conf;
#     }}
#
# Threads need the cross-origin isolation headers on every response, errors included
# (`always`). An add_header inside a location replaces all those of the server block, so
# the location for assets/ repeats them.
{chr(10).join(isolation)}
add_header Cache-Control {_quoted(REVALIDATE)};

# Content-hashed files: a new build never reuses a name.
location ~ "{HASHED_PATTERN.pattern}" {{
{indented}
    add_header Cache-Control {_quoted(IMMUTABLE)};
}}

# The host configs and dotfiles beside the site are not part of it.
location ~ "{_PRIVATE_PATTERN}" {{
    return 404;
}}

# The wasm compresses to a quarter of its size. (nginx's mime.types has application/wasm
# since 1.21; an older one needs `types {{ application/wasm wasm; }}` in the http block.)
gzip on;
gzip_types {_GZIP_TYPES};
"""


def caddy_conf(rules: Rules, crate: str) -> str:
    headers = "\n".join(f"\t{name} {_quoted(value)}" for name, value in rules.headers)
    return f"""\
# {crate}: response headers for Caddy 2, written by `wbspawn build`. Import this file in
# the site block that serves this directory (the dist):
#
#     example.com {{
#         root * /srv/{crate}/dist
#         import /srv/{crate}/dist/caddy.conf
#         file_server
#     }}
header {{
{headers}
}}

# Content-hashed files (a new build never reuses a name) for a year; the rest revalidated.
@hashed path_regexp {HASHED_PATTERN.pattern}
header @hashed Cache-Control {_quoted(IMMUTABLE)}
@unhashed not path_regexp {HASHED_PATTERN.pattern}
header @unhashed Cache-Control {_quoted(REVALIDATE)}

# The host configs and dotfiles beside the site are not part of it.
@private path_regexp {_PRIVATE_PATTERN}
respond @private 404

encode zstd gzip
"""


def htaccess(rules: Rules, crate: str) -> str:
    isolation = "\n".join(
        f"Header always set {name} {_quoted(value)}" for name, value in rules.headers
    )
    return f"""\
# {crate}: response headers for Apache 2.4, written by `wbspawn build`. Apache reads this
# file from the directory it serves if that directory allows it (AllowOverride FileInfo
# Indexes, or All) and mod_headers is enabled (`a2enmod headers`); or copy these lines into
# the <Directory> block of this directory. Without mod_headers Apache refuses this file
# (500), which is better than silently serving a page that cannot run threads.
{isolation}
Header set Cache-Control {_quoted(REVALIDATE)}
# Content-hashed files: a new build never reuses a name.
<If "%{{REQUEST_URI}} =~ m#{HASHED_PATTERN.pattern}#">
    Header set Cache-Control {_quoted(IMMUTABLE)}
</If>

AddType application/wasm .wasm
AddType text/javascript .js .mjs

# The host configs beside the site are not part of it, nor anything under a dot-name
# (.wbspawn-dist.json, a .git/): 404, as the other configs and `wbspawn preview` answer; and
# the configs are denied by name too, whatever URL reaches them.
RedirectMatch 404 "{_PRIVATE_PATTERN}"
<FilesMatch "^(_headers|vercel\\.json|nginx\\.conf|caddy\\.conf)$">
    Require all denied
</FilesMatch>
"""
