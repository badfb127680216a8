from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from wbspawn.serve.inject import InjectMiddleware, injected_etag, insert_snippet, served_snippet

SNIPPET = served_snippet("a-server.0")
TAG = SNIPPET.decode()
PAGE = "<!doctype html><html><head><title>t</title></head><body>hi</body></html>"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (PAGE, PAGE.replace("</head>", TAG + "</head>")),
        ("<HEAD></HEAD >", f"<HEAD>{TAG}</HEAD >"),
        ("<p>no head</p><body class=x>b", f"<p>no head</p>{TAG}<body class=x>b"),
        ("<p>fragment</p>", f"<p>fragment</p>{TAG}"),
        ("", TAG),
    ],
)
def test_insert_snippet(html: str, expected: str) -> None:
    assert insert_snippet(html.encode(), SNIPPET).decode() == expected


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def streamed(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"<html><he"
        yield b"ad></he"
        yield b"ad><body>x</body></html>"

    return StreamingResponse(chunks(), media_type="text/html; charset=utf-8")


async def text(request: Request) -> Response:
    return PlainTextResponse("</head>")


async def missing(request: Request) -> Response:
    return HTMLResponse("<html><head></head>not found</html>", status_code=404)


async def gzipped(request: Request) -> Response:
    return Response(b"\x1f\x8b...", media_type="text/html", headers={"content-encoding": "gzip"})


@pytest.fixture
def client() -> TestClient:
    routes = [
        Route("/page", page, methods=["GET", "HEAD", "POST"]),
        Route("/streamed", streamed),
        Route("/text", text),
        Route("/missing", missing),
        Route("/gzipped", gzipped),
    ]
    return TestClient(InjectMiddleware(Starlette(routes=routes), lambda: SNIPPET))


def test_html_gets_the_script_and_a_fixed_length(client: TestClient) -> None:
    response = client.get("/page")
    assert response.text == PAGE.replace("</head>", TAG + "</head>")
    assert response.headers["content-length"] == str(len(PAGE) + len(SNIPPET))


def test_streamed_html_is_injected_across_chunks(client: TestClient) -> None:
    response = client.get("/streamed")
    assert response.text == f"<html><head>{TAG}</head><body>x</body></html>"
    assert response.headers["content-length"] == str(len(response.content))


def test_head_gets_the_length_of_the_injected_page(client: TestClient) -> None:
    response = client.head("/page")
    assert response.content == b""
    assert response.headers["content-length"] == str(len(PAGE) + len(SNIPPET))


@pytest.mark.parametrize("path", ["/text", "/missing"])
def test_other_responses_are_untouched(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert TAG not in response.text
    assert response.headers["content-length"] == str(len(response.content))


def test_encoded_html_is_untouched(client: TestClient) -> None:
    with client.stream("GET", "/gzipped") as response:
        assert b"".join(response.iter_raw()) == b"\x1f\x8b..."


def test_other_methods_are_untouched(client: TestClient) -> None:
    assert TAG not in client.post("/page").text


def test_injected_etag() -> None:
    assert injected_etag('"abc"', SNIPPET) != '"abc"'
    assert injected_etag('"abc"', SNIPPET).startswith('"abc-')
    assert injected_etag('W/"abc"', SNIPPET).startswith('W/"abc-')
    assert injected_etag('"abc"', b"<script></script>") != injected_etag('"abc"', SNIPPET)
