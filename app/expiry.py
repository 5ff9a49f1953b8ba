"""Dropping the state of sessions left idle (`--session-seconds`).

Gradio's own expiry of a `gr.State` starts only when a handler returns the state as an output,
and GANlift's handlers change the `Session` in place instead, so that expiry (and its delete
callback) never fires. This registry keeps a weak reference to every live session and, from a
daemon thread, clears those idle longer than the limit: their input, reconstruction, car
samples and exported files go, the (now small) `Session` object stays for Gradio to drop.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.session import Session

logger = logging.getLogger("ganlift.app")

_LONGEST_CHECK_INTERVAL = 30.0
"""Seconds between sweeps at most (a quarter of the limit when that is shorter)."""


class IdleSessions:
    """Every live session of one app process; `clear_idle` drops the state of idle ones."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None

    def add(self, session: Session) -> None:
        """Track `session` (until it is garbage collected)."""
        with self._lock:
            self._sessions.add(session)

    def clear_idle(self, seconds: float, now: float | None = None) -> int:
        """Clear every session idle for more than `seconds`; returns how many were cleared."""
        now = time.monotonic() if now is None else now
        with self._lock:
            sessions = list(self._sessions)
        return sum(session.clear_if_idle(seconds, now) for session in sessions)

    def start_sweeping(self, seconds: float) -> None:
        """Clear idle sessions from a daemon thread from now on (once; 0 seconds: never)."""
        with self._lock:
            if seconds <= 0 or self._sweeper is not None:
                return
            interval = min(seconds / 4, _LONGEST_CHECK_INTERVAL)
            self._sweeper = threading.Thread(
                target=self._sweep_forever,
                args=(seconds, interval),
                name="ganlift-session-expiry",
                daemon=True,
            )
            self._sweeper.start()

    def _sweep_forever(self, seconds: float, interval: float) -> None:
        while True:
            time.sleep(interval)
            try:
                self.clear_idle(seconds)
            except Exception:  # a bug in one sweep must not end expiry for the process
                logger.exception("clearing idle sessions failed")
