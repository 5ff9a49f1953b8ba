"""Words in messages: counts as people write them ("1 sample", "3 samples", never "1 samples"
or "sample(s)"), what a value is, and a refused value repeated safely."""

from __future__ import annotations

import reprlib

SHOWN_CHARACTERS = 200
"""Longest text of a refused value a message repeats."""


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, made plural (with `plural`, else an added "s") unless it is 1."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def type_phrase(value: object) -> str:
    """What `value` is, for a refusal: "a Tensor", "an int", "an ndarray", "None"."""
    if value is None:
        return "None"
    name = type(value).__name__
    vowel_sound = name[0].lower() in "aeiou" or name.startswith("nd")  # "an ndarray"
    return f"{'an' if vowel_sound else 'a'} {name}"


def shown(value: object, *, quoted: bool = False, most: int = SHOWN_CHARACTERS) -> str:
    """`value` as a refusal or a log line repeats it: text as typed, or as its repr when
    `quoted` or when it holds a line break or another control character (a seed of
    "abc\n<date> ganlift.app: ..." wrote a forged line into the server log); cut to about
    `most` characters (a 200 MB seed sent to the API was echoed back and logged whole), text
    saying how long it was."""
    if not isinstance(value, str):
        cut = reprlib.Repr()
        cut.maxstring = cut.maxother = most
        return cut.repr(value)
    part = value[:most]
    text = part if not quoted and part.isprintable() else repr(part)
    return text if len(value) <= most else f"{text}... ({len(value):,} characters)"
