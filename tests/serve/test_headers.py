from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from conftest import run_async
from wbspawn.config import Config
from wbspawn.serve.app import DevStarlette
from wbspawn.serve.headers import (
    ISOLATION_HEADERS,
    HeadersMiddleware,
    isolation_headers,
    response_headers,
)
from wbspawn.serve.reload import Hub

EXPECTED = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
}


def assert_isolated(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get_list(name) == [value], name


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok", headers={"Cross-Origin-Opener-Policy": "unsafe-none"})


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


def test_default_headers() -> None:
    assert {k.lower(): v for k, v in ISOLATION_HEADERS.items()} == EXPECTED


@pytest.mark.parametrize("path,status", [("/ok", 200), ("/missing", 404)])
def test_every_response_is_isolated(path: str, status: int) -> None:
    app = HeadersMiddleware(Starlette(routes=[Route("/ok", ok)]))
    response = TestClient(app).get(path)
    assert response.status_code == status
    assert_isolated(response)  # and the app's own COOP was replaced, not duplicated


def test_server_errors_are_isolated() -> None:
    app = DevStarlette(
        routes=[Route("/boom", boom)], headers=ISOLATION_HEADERS, hosts=("testserver",), hub=Hub()
    )
    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert_isolated(response)


def test_header_set_is_a_parameter() -> None:
    headers = {**isolation_headers(coep="credentialless"), "X-Extra": "1"}
    app = HeadersMiddleware(Starlette(routes=[Route("/ok", ok)]), headers)
    response = TestClient(app).get("/ok")
    assert response.headers["cross-origin-embedder-policy"] == "credentialless"
    assert response.headers["x-extra"] == "1"


def test_other_scopes_pass_through_untouched() -> None:
    seen: list[tuple[Scope, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, send))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    scope: Scope = {"type": "websocket", "path": "/ws"}
    run_async(HeadersMiddleware(inner)(scope, receive, send))
    assert seen == [(scope, send)]


def test_dev_server_headers(tmp_path: Path) -> None:
    headers = response_headers(Config(app_dir=tmp_path))
    assert headers == {
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Embedder-Policy": "require-corp",
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }


def test_server_errors_are_not_sniffed(tmp_path: Path) -> None:
    headers = response_headers(Config(app_dir=tmp_path))
    app = DevStarlette(
        routes=[Route("/boom", boom)], headers=headers, hosts=("testserver",), hub=None
    )
    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"


def test_dev_server_headers_take_coep_and_extra_headers(tmp_path: Path) -> None:
    config = Config(
        app_dir=tmp_path,
        coep="credentialless",
        headers=(("X-Frame-Options", "DENY"), ("cache-control", "max-age=5")),
    )
    headers = response_headers(config)
    assert headers["Cross-Origin-Embedder-Policy"] == "credentialless"
    assert headers["X-Frame-Options"] == "DENY"
    # --header replaces a default of the same name (whatever its case), never duplicates it.
    assert headers["cache-control"] == "max-age=5"
    assert "Cache-Control" not in headers
