"""Argument types and error reporting shared by `python -m engine`, the benchmark scripts
(`python -m bench.NAME`) and the research scripts (`python -m scripts.NAME`): a bad value is
one argparse line and exit status 2, an engine error one `error:` line and exit status 2."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from engine.errors import GANliftError
from engine.limits import MAX_SEED

INTERRUPTED = 130
"""Exit status of a command that Ctrl-C (or a stop signal) ended early, as shells report
SIGINT; what it finished is kept and a rerun continues it."""


def seed(text: str) -> int:
    """An argparse type: a seed from 0 to `MAX_SEED`."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"a seed is a whole number from 0 to {MAX_SEED}, got '{text}'"
        )
    return value


def at_least(minimum: float, kind: type[int] | type[float] = int) -> Callable[[str], float]:
    """An argparse type: a whole number (`kind` int) or a finite number (float) of at least
    `minimum`."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected {noun} of at least {minimum:g}, got '{text}'"
            )
        return value

    return parse


def positive(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got '{text}'")
    return value


def numbers(text: str) -> list[float]:
    """An argparse type: comma-separated finite numbers (an empty text gives none)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = [math.nan]
    if not all(math.isfinite(value) for value in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'")
    return values


def run_script(main: Callable[[], None]) -> None:
    """Call a script's `main`; an engine error (a missing model, a path that cannot be
    written) becomes `error: ...` on stderr and exit status 2 instead of a traceback."""
    try:
        main()
    except GANliftError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
