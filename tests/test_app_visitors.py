"""Log lines name the visitor whose request made them (`app.visitors`): an app shared by a lab
logs everyone's actions, refusals and failures into one stream."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest

from app import reconstruct
from app.session import AppContext, Session
from app.ui import build_app
from app.visitors import (
    VisitorField,
    as_visitor,
    current_visitor,
    label_requests,
    visitor_label,
)
from tests.e2e.tiny_model import tiny_app_context, write_tiny_model


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    return tiny_app_context(*write_tiny_model(tmp_path_factory.mktemp("visitors")))


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The app's log as launch.py formats it."""
    caplog.set_level(logging.INFO, logger="ganlift.app")
    caplog.handler.addFilter(VisitorField())
    caplog.handler.setFormatter(logging.Formatter("%(name)s%(visitor)s: %(message)s"))
    return caplog


def sampled_as(context: AppContext, label: str) -> Session:
    """A session that drew a sample in a request of the visitor `label`."""
    session = Session(context)
    with as_visitor(label):
        reconstruct.sample(session, 3)
    return session


def test_a_visitor_is_named_by_sign_in_and_page() -> None:
    assert visitor_label("ann", "k3v9qz1w8e") == "ann k3v9qz"
    assert visitor_label(None, "k3v9qz1w8e") == "k3v9qz"
    assert visitor_label(None, None) == ""


def test_an_action_logs_as_its_visitor(
    context: AppContext, lines: pytest.LogCaptureFixture
) -> None:
    sampled_as(context, "ann k3v9qz")
    logging.getLogger("ganlift.app").info("between requests")
    text = lines.text.splitlines()
    assert any(line.startswith("ganlift.app [ann k3v9qz]: ") and "took" in line for line in text)
    assert "ganlift.app: between requests" in text


def test_a_cleared_session_is_logged_as_its_own_visitor(
    context: AppContext, lines: pytest.LogCaptureFixture
) -> None:
    """Another visitor's action or the expiry thread clears it: the line must name its page."""
    session = sampled_as(context, "k3v9qz")
    with as_visitor("ann p0q1r2"):
        assert session.clear_if_idle(60, now=time.monotonic() + 61)
    assert "ganlift.app [k3v9qz]: session state dropped: cleared after 60 s without any action" in (
        lines.text.splitlines()
    )


def test_a_session_keeps_its_visitor_between_requests(context: AppContext) -> None:
    session = sampled_as(context, "k3v9qz")
    reconstruct.sample(session, 4)  # e.g. called by a library user, outside any request
    assert session.visitor == "k3v9qz"


class _Pages:
    """Stands in for gr.Blocks: records whose request each event ran as."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def process_api(self, block_fn: object, inputs: list, *rest: object, **options: object):
        self.seen.append(current_visitor())


def test_every_event_runs_as_its_request_s_visitor(context: AppContext) -> None:
    """Gradio passes the request by name or by position, one or a batch's list."""
    pages = _Pages()
    label_requests(pages)
    ann = SimpleNamespace(username="ann", session_hash="k3v9qz1w8e")
    page = SimpleNamespace(username=None, session_hash="p0q1r2s3")
    for call in (
        pages.process_api(None, [], request=ann),
        pages.process_api(None, [], None, page),  # (block_fn, inputs, state, request)
        pages.process_api(None, [], request=[ann, page]),
        pages.process_api(None, [], request=None),
    ):
        asyncio.run(call)
    assert pages.seen == ["ann k3v9qz", "p0q1r2", "ann k3v9qz", ""]
    assert current_visitor() == ""  # each event's label ends with it
    demo = build_app(context)
    assert demo.process_api.__qualname__.startswith("label_requests")
