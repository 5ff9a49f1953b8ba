"""Sessions by browser page, so that closing or reloading a page stops its running actions.

When a page goes away (or a `gradio_client` script ends), Gradio drops its queued events and
the results of its running one, but the running handler goes on: a full reconstruction
abandoned by a reload held the compute queue, and every other visitor, for minutes. Gradio
tells `unload` handlers only the page's session hash, not its `gr.State`; so each long job
registers its `Session` here under that hash as it starts, and the page's `unload` presses
Stop for it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.session import Session

logger = logging.getLogger("ganlift.app")


class Pages:
    """The `Session` of each open page, by the page's Gradio session hash."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakValueDictionary[str, Session] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def opened(self, page: str, session: Session) -> None:
        """Remember that the page with session hash `page` works on `session`."""
        with self._lock:
            self._sessions[page] = session

    def closed(self, page: str) -> None:
        """Stop the running actions of the page with session hash `page`, which has gone (its
        visitor cannot see their results nor press Stop any more), and end its job's wait."""
        with self._lock:
            session = self._sessions.pop(page, None)
        if session is None:
            return
        session.job_waits(False)  # Gradio drops the page's queued jobs
        if session.request_stop():
            logger.info("a page closed while its action ran: the action was asked to stop")
