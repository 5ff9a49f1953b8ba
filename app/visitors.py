"""Who a log line is about: the signed-in name and page of the request being served.

An app shared by a lab logs every visitor's actions, refusals and failures into one stream;
each line made while serving a request names its visitor as `[name page]` (`[page]` without
sign-in), the page being the first characters of Gradio's session hash, one per page load.
The label travels in a context variable, which Gradio's worker threads inherit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import gradio as gr

PAGE_LABEL_LENGTH = 6
"""Characters of the session hash that name a page in the log (enough to tell pages apart)."""

_visitor: ContextVar[str] = ContextVar("ganlift_visitor", default="")


def visitor_label(username: str | None, session_hash: str | None) -> str:
    """The log's name for a request's visitor: 'name page', 'page', or '' when neither is known
    (a request that is no page's, such as a script's plain HTTP call)."""
    page = (session_hash or "")[:PAGE_LABEL_LENGTH]
    return " ".join(part for part in (username, page) if part)


def current_visitor() -> str:
    """The label of the visitor whose request is being served here, or ''."""
    return _visitor.get()


@contextmanager
def as_visitor(label: str) -> Iterator[None]:
    """Log as `label`'s for the block (for work done on a session's behalf outside its
    requests, such as clearing it when idle)."""
    token = _visitor.set(label)
    try:
        yield
    finally:
        _visitor.reset(token)


def label_requests(demo: gr.Blocks) -> None:
    """Make every event `demo` serves log as its visitor's (`visitor_label`), from its inputs'
    checks to its handler's last line."""
    gradio_process_api = demo.process_api

    async def process_api(block_fn: Any, inputs: list[Any], *rest: Any, **options: Any) -> Any:
        request = options.get("request", rest[1] if len(rest) > 1 else None)
        if isinstance(request, list):  # a batched event: its requests share one page
            request = request[0] if request else None
        label = visitor_label(
            getattr(request, "username", None), getattr(request, "session_hash", None)
        )
        with as_visitor(label):
            return await gradio_process_api(block_fn, inputs, *rest, **options)

    demo.process_api = process_api


class VisitorField(logging.Filter):
    """Give each record a `visitor` field, ' [label]' or '' (for a format such as
    '%(name)s%(visitor)s: %(message)s')."""

    def filter(self, record: logging.LogRecord) -> bool:
        label = current_visitor()
        record.visitor = f" [{label}]" if label else ""
        return True
