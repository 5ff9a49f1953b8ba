"""A cap on the size of every request body but an upload's, and on the session ids clients
choose.

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
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from app.folders import remove_partial_uploads
from engine.limits import MIB

API_BODY_BYTES = MIB
"""Largest body of a request other than an upload: an API call's values (numbers, choices, a
view-labels table, references to uploaded files) take a few kilobytes at most."""

MAX_SESSION_ID = 64
"""Longest session id a client may choose (gradio_client's are 36 characters)."""
SESSION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_SESSION_ID}}}")
"""A session id a client may choose."""
_SESSION_ID_REFUSAL = (
    f"session_hash must be 1 to {MAX_SESSION_ID} letters, digits, hyphens or underscores; let "
    "the page or gradio_client choose it."
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestBodyCap:
    """ASGI middleware answering 413 to a request whose body passes `max_bytes`: by its
    Content-Length before any of it is read, else once that much has streamed in (the body is
    read here, at most `max_bytes` of it, and handed on whole: an error raised while the app
    read it became FastAPI's 400). A `session_hash` that is not a `SESSION_ID`, in the body or
    the query, is answered 400. Uploads pass through, and each one removes the files that
    uploads cut off long ago left behind."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = API_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].rstrip("/").endswith("/upload"):
            try:
                await self.app(scope, receive, send)
            finally:  # a glob of the cache: off the event loop, after a failed upload too
                await asyncio.to_thread(remove_partial_uploads)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if not all(map(_is_session_id, query.get("session_hash", []))):
            await _answer(send, 400, _SESSION_ID_REFUSAL)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        if not _session_id_allowed(bytes(body)):
            await _answer(send, 400, _SESSION_ID_REFUSAL)
            return
        handed_on = False

        async def replay() -> Message:
            nonlocal handed_on
            if handed_on:
                return await receive()  # after the body: a disconnect, when it comes
            handed_on = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await _answer(
            send,
            413,
            f"The request is larger than {self.max_bytes / MIB:g} MiB; send images as uploaded "
            "files (gradio_client's handle_file) and values as they are.",
        )


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
