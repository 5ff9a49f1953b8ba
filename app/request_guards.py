"""ASGI middleware guarding what the server takes in: a cap on every request body but an
upload's, a bound on the session ids clients choose, a sweep of the parts uploads leave, and
one log line (not a traceback) for a request naming an event the app does not have.

Gradio reads an API call's whole JSON body into memory, keeps its values in the page's state
and echoes a refused one; a 200 MB seed sent to `/gradio_api/call/sample` was accepted, and 14
of them took the server from 1.1 to 7.3 GB. Uploads have their own cap (`--max-upload-mb`,
Gradio's `max_file_size`), and nothing else the app takes comes near `API_BODY_BYTES`. Gradio
also keys a table by the `session_hash` a client sends, and keeps an entry until its result is
read: 2300 calls of 1 MB ids held 2.5 GB. Its pages and gradio_client send ids of 11 to 36
letters, digits and hyphens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from gradio.route_utils import FnIndexInferError, get_fn
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from app.folders import remove_partial_uploads
from engine.limits import MIB, in_mib
from engine.wording import shown

logger = logging.getLogger("ganlift.app")

API_BODY_BYTES = MIB
"""Largest body of a request other than an upload: an API call's values (numbers, choices, a
view-labels table, references to uploaded files) take a few kilobytes at most."""

MAX_SESSION_ID = 64
"""Longest session id a client may choose (gradio_client's are 36 characters)."""
SESSION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SESSION_ID}}}")
"""A session id a client may choose."""
_UNKNOWN_EVENT = (
    "The request names an event this app does not have; call it by an api_name that "
    "gradio_client's view_api() lists."
)
_SESSION_ID_REFUSAL = (
    f"session_hash must be 1 to {MAX_SESSION_ID} letters, digits, hyphens or underscores; let "
    "the page or gradio_client choose it."
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_guards(max_bytes: int = API_BODY_BYTES) -> list[Middleware]:
    """The three guards, outermost first."""
    return [
        Middleware(UnknownEventsLogged),
        Middleware(UploadSweep),
        Middleware(RequestBounds, max_bytes=max_bytes),
    ]


class UnknownEventsLogged:
    """ASGI middleware logging in one line a request for an event, endpoint or event id the app
    does not have: Gradio raised it through the server, which logged some 70 lines of traceback
    for each (a client could fill the disk). An unknown event or endpoint is answered 404 (it
    was 500); an unknown event id's stream has said 404 already, and is ended."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracked_send(message: Message) -> None:
            nonlocal started, finished
            started = started or message["type"] == "http.response.start"
            finished = message["type"] == "http.response.body" and not message.get("more_body")
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as error:
            if not _names_what_is_not_there(error):
                raise
            reason = error.__cause__ if isinstance(error, RuntimeError) else error
            logger.warning(
                "%s %s named what this app does not have (%s)",
                scope.get("method", ""),
                shown(scope["path"], most=100),
                shown(f"{type(reason).__name__}: {reason}", most=100),
            )
            if not started:
                await _answer(send, 404, _UNKNOWN_EVENT)
            elif not finished:  # the stream has told the client already: end it
                await send({"type": "http.response.body", "body": b"", "more_body": False})


class UploadSweep:
    """ASGI middleware removing, after each upload (a failed one too), the files that uploads
    cut off long ago left in the Gradio cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_upload(scope):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:  # a glob of the cache: off the event loop
            await asyncio.to_thread(remove_partial_uploads)


class RequestBounds:
    """ASGI middleware bounding a request but an upload: 413 to a body past `max_bytes` (by its
    Content-Length before any of it is read, else once that much has streamed in), 400 to a
    `session_hash`, in the query or the JSON body, that is not a `SESSION_ID`. The body is read
    here once, at most `max_bytes` of it, and handed on whole (an error raised while the app
    read it became FastAPI's 400)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = API_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_capped(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse_size(send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if not all(map(_is_session_id, query.get("session_hash", []))):
            await _answer(send, 400, _SESSION_ID_REFUSAL)
            return
        body = await _read_body(receive, self.max_bytes)
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            await self._refuse_size(send)
            return
        if not _session_id_allowed(body):
            await _answer(send, 400, _SESSION_ID_REFUSAL)
            return
        await self.app(scope, _replaying(body, receive), send)

    async def _refuse_size(self, send: Send) -> None:
        await _answer(
            send,
            413,
            f"The request is larger than {in_mib(self.max_bytes)}; send images as uploaded "
            "files (gradio_client's handle_file) and values as they are.",
        )


def _names_what_is_not_there(error: Exception) -> bool:
    """Whether `error` is Gradio's for an unknown event handler (fn_index or api name), or its
    404 for an unknown event id raised once the stream had started."""
    if isinstance(error, FnIndexInferError):
        return True
    if isinstance(error, KeyError):
        innermost = error.__traceback__
        while innermost is not None and innermost.tb_next is not None:
            innermost = innermost.tb_next
        return innermost is not None and innermost.tb_frame.f_code is get_fn.__code__
    cause = error.__cause__
    return isinstance(cause, HTTPException) and cause.status_code == 404


def _is_upload(scope: Scope) -> bool:
    """Whether the request is one of Gradio's uploads."""
    return scope["type"] == "http" and scope["path"].rstrip("/").endswith("/upload")


def _is_capped(scope: Scope) -> bool:
    """Whether `RequestBounds` takes the request: any HTTP request but an upload (those have
    their own cap, and are swept after)."""
    return scope["type"] == "http" and not _is_upload(scope)


async def _read_body(receive: Receive, stop_past: int) -> bytes | None:
    """The request's body, or None when the client goes away first; reading stops once more
    than `stop_past` bytes have come."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if len(body) > stop_past:
            return bytes(body)
        if not message.get("more_body", False):
            return bytes(body)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands on `body` whole, then whatever `receive` brings (a disconnect)."""
    handed_on = False

    async def replay() -> Message:
        nonlocal handed_on
        if handed_on:
            return await receive()
        handed_on = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _session_id_allowed(body: bytes) -> bool:
    """Whether a JSON body's `session_hash`, where it has one, is a `SESSION_ID` (a body that
    is no JSON object is the app's to refuse)."""
    try:
        call = json.loads(body)
    except ValueError:
        return True
    if not isinstance(call, dict) or "session_hash" not in call:
        return True
    return _is_session_id(call["session_hash"])


def _is_session_id(value: object) -> bool:
    """Whether `value` is a `SESSION_ID`."""
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


async def _answer(send: Send, status: int, error: str) -> None:
    """Answer `status` with the JSON `{"error": error}`."""
    body = json.dumps({"error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
