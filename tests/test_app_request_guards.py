"""The request guards: API calls past the body cap get a 413 before the app reads them, whether
they declare their length or stream it; uploads and small calls pass; session ids are bounded;
uploads sweep what cut-off uploads left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from gradio.route_utils import get_fn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from app.request_guards import (
    RequestBounds,
    UnknownEventsLogged,
    UploadSweep,
    request_guards,
)

CAP = 1000


async def body_length(request: Request) -> JSONResponse:
    return JSONResponse({"read": len(await request.body())})


def capped_client() -> TestClient:
    routes = [Route(path, body_length, methods=["POST"]) for path in ("/api/call", "/api/upload")]
    app = Starlette(routes=routes, middleware=request_guards(max_bytes=CAP))
    return TestClient(app)


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 100):
        yield b"1" * 100


def test_calls_past_the_cap_are_refused_and_uploads_pass() -> None:
    client = capped_client()
    assert client.post("/api/call", content=b"1" * CAP).json() == {"read": CAP}
    refused = client.post("/api/call", content=b"1" * (CAP + 1))
    assert refused.status_code == 413 and "The request is larger than" in refused.json()["error"]
    unstated = client.post("/api/call", content=chunks(10 * CAP))  # no Content-Length
    assert unstated.status_code == 413
    assert client.post("/api/call", content=chunks(CAP)).json() == {"read": CAP}
    assert client.post("/api/upload", content=b"1" * (10 * CAP)).json() == {"read": 10 * CAP}


class Call(BaseModel):
    data: list[str]


def test_a_call_of_unstated_length_to_a_fastapi_route_gets_413_not_400() -> None:
    """Gradio's routes parse their body with FastAPI, which turned an error raised while it
    read the body into 400 "There was an error parsing the body"."""
    app = FastAPI(middleware=request_guards(max_bytes=CAP))

    @app.post("/api/call")
    async def call(body: Call) -> dict[str, int]:
        return {"values": len(body.data)}

    client = TestClient(app, headers={"Content-Type": "application/json"})
    chunks = (part for part in [b'{"data": ["', b"1" * (2 * CAP), b'"]}'])
    assert client.post("/api/call", content=chunks).status_code == 413
    small = (part for part in [b'{"data": ["', b"1" * 10, b'"]}'])
    assert client.post("/api/call", content=small).json() == {"values": 1}


def test_session_ids_clients_choose_are_bounded() -> None:
    """Gradio keys a table by the session_hash a client sends and keeps the entry until the
    result is read: 2300 calls with ids of 1 MB held 2.5 GB."""
    client = TestClient(
        Starlette(
            routes=[Route("/gradio_api/call/sample", body_length, methods=["POST", "GET"])],
            middleware=request_guards(max_bytes=10 * CAP),
        )
    )
    call = "/gradio_api/call/sample"
    for chosen in ("h" * 65, "a b", "../x", 7, ""):
        refused = client.post(call, json={"data": [3], "session_hash": chosen})
        assert refused.status_code == 400 and "session_hash must be 1 to 64" in refused.text
    refused = client.get(call, params={"session_hash": "h" * 1000})
    assert refused.status_code == 400
    for chosen in ("k3v9qz1w8e", "0f8fad5b-d9cb-469f-a165-70867728950e"):  # a page's, a client's
        assert client.post(call, json={"data": [3], "session_hash": chosen}).status_code == 200
        assert client.get(call, params={"session_hash": chosen}).status_code == 200
    assert client.post(call, content=b"not json").status_code == 200  # the app's to refuse
    oversized = {"data": ["1" * (10 * CAP)], "session_hash": "a b"}
    assert client.post(call, json=oversized).status_code == 413  # capped before it is read


def test_the_guards_pass_the_servers_start_and_stop() -> None:
    """A lifespan scope has no path: the guards hand it on untouched."""
    with capped_client() as client:
        assert client.post("/api/call", content=b"1" * 10).json() == {"read": 10}


def test_each_upload_sweeps_the_parts_of_uploads_cut_off_long_ago(monkeypatch) -> None:
    """Also after an upload that failed: the sweep is what frees a cut-off upload's part."""
    sweeps: list[bool] = []
    monkeypatch.setattr("app.request_guards.remove_partial_uploads", lambda: sweeps.append(True))
    client = capped_client()
    assert client.post("/api/upload", content=b"1" * 10).json() == {"read": 10}
    assert client.post("/api/call", content=b"1" * 10).json() == {"read": 10}
    assert sweeps == [True]  # uploads only


def event_routes() -> list[Route]:
    """Routes failing as Gradio's do for an unknown fn_index, api name or event id, and two
    failing otherwise."""
    blocks, body = SimpleNamespace(fns={}), SimpleNamespace(session_hash=None, fn_index=None)

    async def unknown_index(request: Request) -> JSONResponse:
        return JSONResponse(get_fn(blocks, None, SimpleNamespace(**vars(body) | {"fn_index": 9})))

    async def unknown_name(request: Request) -> JSONResponse:
        return JSONResponse(get_fn(blocks, "nonexistent", body))

    async def unknown_event_id(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            yield b"event: error\n\n"
            raise HTTPException(404)

        return StreamingResponse(stream())

    async def broken(request: Request) -> JSONResponse:
        return JSONResponse({}[request.path_params["key"]])

    return [
        Route("/gradio_api/queue/join", unknown_index, methods=["POST"]),
        Route("/gradio_api/call/nonexistent", unknown_name, methods=["POST"]),
        Route("/gradio_api/call/sample/{event}", unknown_event_id),
        Route("/broken/{key}", broken),
    ]


def test_a_request_for_an_event_the_app_lacks_is_404_and_one_log_line(caplog) -> None:
    """Each logged some 70 lines of traceback (and was answered 500)."""
    client = TestClient(Starlette(routes=event_routes(), middleware=request_guards()))
    with caplog.at_level("WARNING", logger="ganlift.app"):
        for path in ("/gradio_api/queue/join", "/gradio_api/call/nonexistent"):
            refused = client.post(path, json={"data": []})
            assert refused.status_code == 404 and "view_api() lists" in refused.json()["error"]
        streamed = client.get("/gradio_api/call/sample/bogus")
        assert streamed.status_code == 200 and streamed.text == "event: error\n\n"
    assert [line.split(" named ")[0] for line in caplog.messages] == [
        "POST /gradio_api/queue/join",
        "POST /gradio_api/call/nonexistent",
        "GET /gradio_api/call/sample/bogus",
    ]
    assert all("\n" not in line for line in caplog.messages)
    with pytest.raises(KeyError):  # any other failure keeps its traceback
        client.get("/broken/k")


class RawExchange:
    """One request driven through an ASGI app by hand: its body arrives in `chunks` (TestClient
    hands a streamed body on in one message), and every message sent back is kept."""

    def __init__(self, chunks: list[bytes], path: str = "/api/call") -> None:
        self.scope = {"type": "http", "method": "POST", "path": path, "headers": []}
        self.pending = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        self.pulled, self.sent = 0, []

    async def receive(self) -> dict:
        self.pulled += 1
        return self.pending.pop(0) if self.pending else {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def through(self, app) -> RawExchange:
        asyncio.run(app(self.scope, self.receive, self.send))
        return self

    @property
    def status(self) -> int:
        return self.sent[0]["status"]


async def echo_length(scope, receive, send) -> None:
    """An app answering with the length of the body it read."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_a_streamed_body_is_cut_off_at_the_cap_not_read_whole() -> None:
    cap = RequestBounds(echo_length, max_bytes=CAP)
    flood = RawExchange([b"1" * 100] * 10_000).through(cap)
    assert flood.status == 413 and flood.pulled <= CAP // 100 + 1  # 1 MB was read before 413
    one_past = RawExchange([b"1" * 100] * (CAP // 100) + [b"1"]).through(cap)
    assert one_past.status == 413  # not handed on cut to the cap as if whole
    at_cap = RawExchange([b"1" * 100] * (CAP // 100) + [b""]).through(cap)
    assert at_cap.status == 200 and at_cap.sent[1]["body"] == str(CAP).encode()


def test_a_streamed_body_is_read_once_for_its_size_and_its_session_id() -> None:
    """The body the app reads is the one that was checked: the whole of it, in one piece."""
    bounds = RequestBounds(echo_length, max_bytes=CAP)
    call = b'{"data": [3], "session_hash": "a b"}'
    refused = RawExchange([call[:10], call[10:20], call[20:]]).through(bounds)
    assert refused.status == 400 and b"session_hash must be" in refused.sent[1]["body"]
    call = b'{"data": [3], "session_hash": "k3v9qz1w8e"}'
    passed = RawExchange([call[:10], call[10:20], call[20:]]).through(bounds)
    assert passed.status == 200 and passed.sent[1]["body"] == str(len(call)).encode()
    assert passed.pulled == 3  # the app was handed the body, not left to read the client's


def test_a_failed_upload_sweeps_too(monkeypatch) -> None:
    """Failed uploads are the ones that leave parts behind."""
    sweeps: list[bool] = []
    monkeypatch.setattr("app.request_guards.remove_partial_uploads", lambda: sweeps.append(True))

    async def failing(scope, receive, send) -> None:
        raise OSError("the client went away mid-upload")

    with pytest.raises(OSError):
        RawExchange([b"1"], path="/gradio_api/upload").through(UploadSweep(failing))
    assert sweeps == [True]


def test_a_started_stream_for_an_unknown_event_is_ended_and_logged_on_one_line(caplog) -> None:
    async def unknown_event(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"event: error\n\n", "more_body": True})
        raise RuntimeError("Caught handled exception, but response already started.") from (
            HTTPException(404)
        )

    path = "/gradio_api/call/sample/x\n2026-12-07 ganlift.app: forged"  # as percent-decoded
    with caplog.at_level("WARNING", logger="ganlift.app"):
        exchange = RawExchange([b""], path=path).through(UnknownEventsLogged(unknown_event))
    assert exchange.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert len(caplog.messages) == 1 and "\n" not in caplog.messages[0]


@pytest.mark.parametrize("declared", [b"abc", b"1e9", b"-5", b" 12"])
def test_a_content_length_that_is_no_count_is_refused_as_too_large(declared: bytes) -> None:
    """int() of such a header raised ValueError, a 500 with a traceback."""
    exchange = RawExchange([b"{}"])
    exchange.scope["headers"] = [(b"content-length", declared)]
    assert exchange.through(RequestBounds(echo_length, max_bytes=CAP)).status == 413


def test_an_event_named_like_an_upload_is_capped_as_a_call() -> None:
    """Only Gradio's own upload route has the upload cap; an API event whose name holds
    "upload" (the Cars tab's upload_car_a) is a call."""
    bounds = RequestBounds(echo_length, max_bytes=CAP)
    for path in ("/gradio_api/call/upload_car_a", "/gradio_api/upload_car_a", "/api/uploads"):
        assert RawExchange([b"1" * (CAP + 1)], path=path).through(bounds).status == 413
    upload = RawExchange([b"1" * (CAP + 1)], path="/gradio_api/upload/").through(bounds)
    assert upload.status == 200
