"""The one exception type that carries a message meant for a person.

Raise `GANliftError("one sentence naming the input and the fix")` for anything a user
can cause (bad file, wrong shape, missing model). The CLI prints it on one line and
exits non-zero; the app turns it into `gr.Error`. Anything else is a bug, except running
out of memory and the system refusing a path (`out_of_memory`, `refused_path`), which are
recognised so that they too read as one sentence.
"""

import errno
import re

from engine.wording import shown


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
    return f"ran out of memory ({match[2] or _bytes_text(int(match[1]))} were asked for at once)"


def _bytes_text(count: int) -> str:
    """`count` bytes in the largest binary unit that keeps one or more of it: "95.4 GiB"."""
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 2**power:
            return f"{count / 2**power:.1f} {unit}"
    return f"{count} bytes"


_PATH_FIXES = {
    errno.ENAMETOOLONG: "give a shorter name",
    errno.ELOOP: "the path's symbolic links form a loop; fix or avoid them",
    errno.EACCES: "choose a path this user may use",
    errno.EPERM: "choose a path this user may use",
    errno.EROFS: "choose a writable location",
    errno.ENOSPC: "free some disk space or choose another disk",
    errno.EDQUOT: "free some of your disk quota or choose another disk",
    errno.EIO: "a disk or device failed to read or write it, so choose another path",
}
"""The OSErrors that are about a path the user chose or the disk it is on, never a bug,
and what to do about each."""


def refused_path(error: BaseException) -> str | None:
    """A sentence for an OSError the system raised about a path (too long, not permitted,
    read-only, a full disk), naming the path and the fix; None for any other error (a
    permission refused with no path, such as a signal's, is no path's)."""
    if not isinstance(error, OSError) or error.errno not in _PATH_FIXES:
        return None
    if error.filename is None and error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = f" ({shown(str(error.filename))})" if error.filename else ""
    return f"{error.strerror}{where}; {_PATH_FIXES[error.errno]}."
