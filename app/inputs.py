"""Checks of the numbers a visitor types, each failing with one sentence that names the field."""

from __future__ import annotations

from engine.errors import GANliftError


def whole_number(value: float | str, what: str, *, minimum: int | None = None) -> int:
    """``value`` (a number or its text) as an int, or a GANliftError naming ``what`` when it
    is not a whole number or is below ``minimum``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer() or (minimum is not None and number < minimum):
        bound = "" if minimum is None else f" of {minimum} or more"
        raise GANliftError(f"{what} must be a whole number{bound}, got {value}.")
    return int(number)
