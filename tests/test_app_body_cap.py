"""The request body cap: API calls past it get a 413 before the app reads them, whether they
declare their length or stream it; uploads and small calls pass."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.body_cap import RequestBodyCap

CAP = 1000


async def body_length(request: Request) -> JSONResponse:
    return JSONResponse({"read": len(await request.body())})


def capped_client() -> TestClient:
    routes = [Route(path, body_length, methods=["POST"]) for path in ("/api/call", "/api/upload")]
    app = Starlette(routes=routes, middleware=[Middleware(RequestBodyCap, max_bytes=CAP)])
    return TestClient(app)


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 100):
        yield b"1" * 100


def test_calls_past_the_cap_are_refused_and_uploads_pass() -> None:
    client = capped_client()
    assert client.post("/api/call", content=b"1" * CAP).json() == {"read": CAP}
    refused = client.post("/api/call", content=b"1" * (CAP + 1))
    assert refused.status_code == 413 and "The request is larger than" in refused.json()["error"]
    streamed = client.post("/api/call", content=chunks(10 * CAP))  # no Content-Length
    assert streamed.status_code == 413
    assert client.post("/api/call", content=chunks(CAP)).json() == {"read": CAP}
    assert client.post("/api/upload", content=b"1" * (10 * CAP)).json() == {"read": 10 * CAP}
