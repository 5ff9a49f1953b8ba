"""The one exception type that carries a message meant for a person.

Raise `GANliftError("one sentence naming the input and the fix")` for anything a user
can cause (bad file, wrong shape, missing model). The CLI prints it on one line and
exits non-zero; the app turns it into `gr.Error`. Anything else is a bug, except running
out of memory, which `out_of_memory` recognises so that it too reads as one sentence.
"""

import re


class GANliftError(Exception):
    """A failure caused by the user's input, with a message that says what to do."""


class StoppedEarly(GANliftError):
    """The user stopped a job before it had anything worth keeping (nothing was saved)."""


_REQUEST_SIZE = re.compile(r"allocate (\d+) bytes|allocate ([\d.]+ [KMGT]iB)")
"""How torch's CPU allocator ("... allocate 1024 bytes") and CUDA's ("Tried to allocate
2.00 GiB") name the request that failed."""


def out_of_memory(error: BaseException) -> str | None:
    """A phrase saying `error` is an allocation failure ("ran out of memory (95.4 GiB were
    asked for)"), or None for any other error. Python raises MemoryError; torch raises a
    RuntimeError naming its allocator (torch.OutOfMemoryError, one, on a GPU)."""
    text = str(error)
    if not isinstance(error, MemoryError) and not (
        isinstance(error, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    ):
        return None
    match = _REQUEST_SIZE.search(text)
    if match is None:
        return "ran out of memory"
    size = match[2] or f"{int(match[1]) / 2**30:.1f} GiB"
    return f"ran out of memory ({size} were asked for at once)"
