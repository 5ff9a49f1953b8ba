"""Command-line plumbing shared by the benchmark scripts: counts checked by argparse (one line
and exit 2, as `python -m engine` does) and engine errors reported the same way."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from engine.errors import GANliftError


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of at least {minimum}, got '{text}'"
            )
        return value

    return parse


def positive(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got '{text}'")
    return value


def run(main: Callable[[], None]) -> None:
    """Call a script's `main`; an engine error (a missing model, a path that cannot be
    written) becomes `error: ...` on stderr and exit status 2 instead of a traceback."""
    try:
        main()
    except GANliftError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
