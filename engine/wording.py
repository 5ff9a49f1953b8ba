"""Counts in messages as people write them: "1 sample", "3 samples" (never "1 samples" or
"sample(s)")."""

from __future__ import annotations


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
