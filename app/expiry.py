"""Dropping the state of sessions left idle (`--session-seconds`) or beyond the number kept in
memory (`--max-sessions`).

Gradio's own expiry of a `gr.State` starts only when a handler returns the state as an output,
and GANlift's handlers change the `Session` in place instead, so that expiry (and its delete
callback) never fires. This registry keeps a weak reference to every live session and, from a
daemon thread, clears those idle longer than the limit; and as each action starts, it clears
the least recently used beyond the cap. Their input, reconstruction, car samples and exported
files go, the (now small) `Session` object stays, so that its page says what happened; after a
sweep that cleared any, the freed heap goes back to the system.

Gradio keeps many more page states than that cap (`page_states`), dropping the least recently
used without a word: it makes a closed page's state again to run the page's unload handler
(`app.pages`), so a few quick reloads elsewhere pushed a visitor's session out when it kept
one state a session. Each open page's clear check (every 15 s) keeps its own state recent.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from engine.limits import return_free_memory

if TYPE_CHECKING:
    from app.session import Session

logger = logging.getLogger("ganlift.app")

PAGE_STATES_PER_KEPT_SESSION, FEWEST_PAGE_STATES = 4, 512
"""Page states Gradio keeps per session whose state GANlift keeps, and at least (a page state
with a cleared session is about 200 KiB)."""


def page_states(sessions: int) -> int:
    """The page states Gradio keeps when GANlift keeps the state of `sessions` sessions."""
    return max(PAGE_STATES_PER_KEPT_SESSION * sessions, FEWEST_PAGE_STATES)


_LONGEST_CHECK_INTERVAL = 30.0
"""Seconds between sweeps at most (a quarter of the limit when that is shorter, but at least
`_SHORTEST_CHECK_INTERVAL`)."""
_SHORTEST_CHECK_INTERVAL = 1.0
"""Seconds between sweeps at least: a limit of a microsecond swept without pause (30 % of a
core while idle); a session then outlives its limit by up to this."""


class SessionExpiry:
    """Every live session of one app process; `clear_idle` drops the state of idle ones and
    `keep_most_recent` that of the least recently used."""

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

    def keep_most_recent(self, capacity: int) -> int:
        """Clear the sessions holding state beyond the `capacity` most recently active (those
        running an action are kept); returns how many were cleared."""
        with self._lock:
            holding = [(s.last_active, s) for s in self._sessions if s.holds_state()]
        if len(holding) <= capacity:
            return 0
        holding.sort(key=lambda entry: entry[0], reverse=True)
        how = f"cleared to make room: the server keeps the {capacity} most recently used sessions"
        return sum(
            session.clear_if_idle_since(moment, how) for moment, session in holding[capacity:]
        )

    def stop_running(self, seconds: float) -> bool:
        """Ask every running action to stop and wait up to `seconds` for them to end; returns
        whether they all did. The server calls it as it shuts down: a reconstruction left
        running while the interpreter exited aborted the process (SIGABRT) instead of letting
        it exit 0."""
        with self._lock:
            sessions = list(self._sessions)
        running = [session for session in sessions if session.request_stop(shutdown=True)]
        deadline = time.monotonic() + seconds
        while any(session.running() for session in running):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def start_sweeping(self, seconds: float) -> None:
        """Clear idle sessions from a daemon thread from now on (once; 0 seconds: never)."""
        with self._lock:
            if seconds <= 0 or self._sweeper is not None:
                return
            interval = min(max(seconds / 4, _SHORTEST_CHECK_INTERVAL), _LONGEST_CHECK_INTERVAL)
            self._sweeper = threading.Thread(
                target=self._sweep_forever,
                args=(seconds, interval),
                name="ganlift-session-expiry",
                daemon=True,
            )
            self._sweeper.start()

    def sweep(self, seconds: float, now: float | None = None) -> int:
        """Clear sessions idle for more than `seconds` and, when any were, return the freed
        heap to the system; returns how many were cleared."""
        cleared = self.clear_idle(seconds, now)
        if cleared:
            return_free_memory()
        return cleared

    def _sweep_forever(self, seconds: float, interval: float) -> None:
        while True:
            time.sleep(interval)
            try:
                self.sweep(seconds)
            except Exception:  # a bug in one sweep must not end expiry for the process
                logger.exception("clearing idle sessions failed")
