"""Stand-ins for the `should_stop` callbacks of long loops: stop after a number of polls."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator


def stop_after(polls: int) -> Callable[[], bool]:
    """A `should_stop` that answers False `polls` times, then True at every later poll."""
    calls = itertools.count()
    return lambda: next(calls) >= polls


def stop_on_signals_after(polls: int) -> Callable[[], contextlib.AbstractContextManager]:
    """A stand-in for `engine.progress.stop_on_signals` whose `should_stop` is
    `stop_after(polls)`, one count over every command it serves (as Ctrl-C pressed once)."""
    should_stop = stop_after(polls)

    @contextlib.contextmanager
    def stop_on_signals() -> Iterator[Callable[[], bool]]:
        yield should_stop

    return stop_on_signals
