"""Progress reporting as a plain callback, so tqdm (CLI) and gr.Progress (app) plug into
the same loops.

A `ProgressFn` is called as `progress(done, total, message)`; `should_stop()` lets a
caller cancel a long loop between steps.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


def no_progress(done: int, total: int, message: str) -> None:
    """A progress callback that reports nothing."""


LOG_DRAW_SECONDS = 10.0
"""Least time between two draws of a bar whose stderr is no terminal (a log file, a pipe): one
draw per step wrote 1.2 MB into the log of a default train-gan run."""


class _BestEffortStream:
    """The stream a bar draws on, which stops drawing, instead of failing the work, once
    writing fails: a pipe `| head` closed, a terminal gone. tqdm itself only forgives EIO."""

    def __init__(self, stream: TextIO) -> None:
        self._stream: TextIO | None = stream

    def write(self, text: str) -> int:
        return self._attempt(lambda stream: stream.write(text)) or 0

    def flush(self) -> None:
        self._attempt(lambda stream: stream.flush())

    def _attempt(self, call: Callable[[TextIO], int | None]) -> int | None:
        if self._stream is None:
            return None
        try:
            return call(self._stream)
        except (OSError, ValueError):  # ValueError: the stream was closed
            self._stream = None
            return None

    def __getattr__(self, name: str) -> object:  # fileno, isatty, encoding for tqdm
        return getattr(self._stream, name)


def _notebook_stream(stream: TextIO) -> bool:
    """Whether `stream` is a Jupyter kernel's (no terminal, but it redraws a line as one does)."""
    return type(stream).__module__.startswith("ipykernel.")


@contextmanager
def tqdm_progress(desc: str = "", unit: str = "step") -> Iterator[ProgressFn]:
    """A `ProgressFn` that drives one tqdm bar (with ETA) for the duration of a `with`.

    A new total starts a new phase on the same line. The rate counts from a phase's first
    report, so work resumed part-way (a training run at step 5,000 of 9,000) gets its ETA from
    this sitting's speed, not from steps it never did. Into a log or a pipe (not a Jupyter
    notebook) the bar is drawn at most every `LOG_DRAW_SECONDS`; a stream that fails (or
    none: `2>&-`) only ends the drawing. `TQDM_DISABLE=1` turns every bar off."""
    stream = sys.stderr
    bar: tqdm | None = None

    def report(done: int, total: int, message: str) -> None:
        nonlocal bar
        if bar is None:
            terminal = stream is not None and (stream.isatty() or _notebook_stream(stream))
            off = {"disable": True} if stream is None else {}  # else TQDM_DISABLE decides
            bar = tqdm(
                total=total, initial=done, desc=desc, unit=unit, dynamic_ncols=True,
                file=_BestEffortStream(stream) if stream is not None else None,
                mininterval=0.1 if terminal else LOG_DRAW_SECONDS, postfix=message or None,
                **off,
            )  # fmt: skip
            return
        if message:
            bar.set_postfix_str(message, refresh=False)
        if total != bar.total:
            bar.initial = 0  # reset() draws the bar at n = 0: no negative rate on that line
            bar.reset(total=total)
            bar.initial = done
        bar.update(done - bar.n)  # drawn when tqdm's interval has passed

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Inside the block, SIGTERM (`kill`, a service manager, a container stop) stops the
    process as Ctrl-C does: exit hooks and `finally` blocks run (Python's default SIGTERM
    skips them: the app's Open3D child and temporary folders stayed), and a command exits
    with its Ctrl-C status. A thread other than the main one cannot take signals: there the
    block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def stop_on_signals() -> Iterator[StopFn]:
    """A `should_stop` that turns true at the first SIGINT/SIGTERM; a second one acts as usual."""
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()
        signal.signal(signum, previous[signum])

    for sig in signals:
        signal.signal(sig, request_stop)
    try:
        yield stop.is_set
    finally:
        for sig in signals:
            signal.signal(sig, previous[sig])
