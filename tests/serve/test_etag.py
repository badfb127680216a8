from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from wbspawn.serve.etag import EtagMiddleware, etag_for, matches


async def data(request: Request) -> Response:
    return JSONResponse({"a": 1}, headers={"cache-control": "no-cache", "vary": "accept"})


async def tagged(request: Request) -> Response:
    return PlainTextResponse("x", headers={"etag": '"own"'})


async def missing(request: Request) -> Response:
    return PlainTextResponse("no", status_code=404)


@pytest.fixture
def client() -> TestClient:
    routes = [Route("/data", data, methods=["GET", "HEAD", "POST"]), Route("/tagged", tagged)]
    routes.append(Route("/missing", missing))
    return TestClient(EtagMiddleware(Starlette(routes=routes)))


def test_responses_without_an_etag_get_one(client: TestClient) -> None:
    response = client.get("/data")
    assert response.headers["etag"] == etag_for(b'{"a":1}')
    assert client.head("/data").headers["etag"] == response.headers["etag"]


def test_matching_if_none_match_gives_304(client: TestClient) -> None:
    etag = client.get("/data").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/data", headers={"if-none-match": header})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["vary"] == "accept"
        assert "content-type" not in response.headers
    assert client.get("/data", headers={"if-none-match": '"old"'}).status_code == 200


def test_own_etags_errors_and_posts_are_untouched(client: TestClient) -> None:
    assert client.get("/tagged").headers["etag"] == '"own"'
    assert "etag" not in client.get("/missing").headers
    assert "etag" not in client.post("/data").headers


def test_matches() -> None:
    assert matches('"a", "b"', '"b"')
    assert not matches('"a"', '"b"')
