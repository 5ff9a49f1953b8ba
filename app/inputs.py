"""Checks of the numbers a visitor types, each failing with one sentence that names the field."""

from __future__ import annotations

import math

from engine.errors import GANliftError
from engine.limits import MAX_SEED
from engine.wording import shown


def typed_whole_number(
    value: float | str | None, what: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` (a number or its text) as an int, or a GANliftError naming ``what`` when it
    is empty, not a whole number (the boxes send 1.5 as it is, not rounded; an API client may
    send true) or lies outside ``minimum`` … ``maximum``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise GANliftError(f"{what} is empty; enter a whole number{_bound(minimum, maximum)}.")
    try:
        number = float("nan") if isinstance(value, bool) else float(value)  # True is no 1
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    too_small = minimum is not None and number < minimum
    too_large = maximum is not None and number > maximum
    if not number.is_integer() or too_small or too_large:
        raise GANliftError(
            f"{what} must be a whole number{_bound(minimum, maximum)}, got {shown(value)}."
        )
    return int(number)


def _bound(minimum: int | None, maximum: int | None) -> str:
    """ " from 0 to 9", " of 1 or more", " of 9 or less" or ""."""
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" of {minimum} or more"
    if maximum is not None:
        return f" of {maximum} or less"
    return ""


def seed_number(value: float | str | None, what: str = "The seed") -> int:
    """A seed the visitor typed, from 0 to `MAX_SEED`; `what` names its box ("Seed A")."""
    return typed_whole_number(value, what, minimum=0, maximum=MAX_SEED)


def tick(value: object, what: str) -> bool:
    """A tick box's value, or a GANliftError naming ``what`` when it is not true or false (the
    UI's boxes always send a bool; an API client may send "false", which Python reads as
    true)."""
    if not isinstance(value, bool):
        raise GANliftError(f"{what} must be true or false, got {shown(value, quoted=True)}.")
    return value


def numbers(**fields: float | None) -> list[float]:
    """Each field's value as a float, or a GANliftError naming the first that is not a finite
    number (the UI's sliders always send one; an API client may send anything)."""
    values = []
    for name, value in fields.items():
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not math.isfinite(number):
            what = name.replace("_", " ").capitalize()
            raise GANliftError(f"{what} must be a finite number, got {shown(value)}.")
        values.append(number)
    return values
