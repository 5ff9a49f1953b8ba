"""Progress reporting as a plain callback, so tqdm (CLI) and gr.Progress (app) plug into
the same loops.

A `ProgressFn` is called as `progress(done, total, message)`; `should_stop()` lets a
caller cancel a long loop between steps.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


def no_progress(done: int, total: int, message: str) -> None:
    """A progress callback that reports nothing."""


@contextmanager
def tqdm_progress(desc: str = "", unit: str = "step") -> Iterator[ProgressFn]:
    """A `ProgressFn` that drives one tqdm bar (with ETA) for the duration of a `with`.

    A new total starts a new phase on the same line. The rate counts from a phase's first
    report, so work resumed part-way (a training run at step 5,000 of 9,000) gets its ETA from
    this sitting's speed, not from steps it never did."""
    bar: tqdm | None = None

    def report(done: int, total: int, message: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=done, desc=desc, unit=unit, dynamic_ncols=True)
        elif total != bar.total:
            bar.initial = 0  # reset() draws the bar at n = 0: no negative rate on that line
            bar.reset(total=total)
            bar.initial = done
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield report
    finally:
        if bar is not None:
            bar.close()


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
