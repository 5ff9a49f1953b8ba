"""A cap on the size of every request body but an upload's.

Gradio reads an API call's whole JSON body into memory, keeps its values in the page's state
and echoes a refused one; a 200 MB seed sent to `/gradio_api/call/sample` was accepted, and 14
of them took the server from 1.1 to 7.3 GB. Uploads have their own cap (`--max-upload-mb`,
Gradio's `max_file_size`), and nothing else the app takes comes near `API_BODY_BYTES`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from engine.limits import MIB

API_BODY_BYTES = MIB
"""Largest body of a request other than an upload: an API call's values (numbers, choices, a
view-labels table, references to uploaded files) take a few kilobytes at most."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestBodyCap:
    """ASGI middleware answering 413 to a request whose body passes `max_bytes`: by its
    Content-Length before any of it is read, else once that much has streamed in (the body is
    read here, at most `max_bytes` of it, and handed on whole: an error raised while the app
    read it became FastAPI's 400). Uploads pass through."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = API_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
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
        handed_on = False

        async def replay() -> Message:
            nonlocal handed_on
            if handed_on:
                return await receive()  # after the body: a disconnect, when it comes
            handed_on = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": f"The request is larger than {self.max_bytes / MIB:g} MiB; send images "
                "as uploaded files (gradio_client's handle_file) and values as they are."
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
