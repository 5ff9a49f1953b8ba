"""Caps on what one request, job or visitor may use (upload bytes, image pixels and size, job
time, process memory, sessions kept), read in one place.

Defaults live in `Limits`; a `GANLIFT_*` environment variable per field overrides its default,
and the command-line flags added by `add_limit_arguments` override both. Whatever enforces a cap
(the image loader, the app's uploads and session store, long jobs through `JobGuard`) is handed
a `Limits`.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import dataclasses
import math
import operator
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from engine.errors import GANliftError
from engine.progress import StopFn

MIB = 1024 * 1024


def in_mib(count: int) -> str:
    """A byte count as the MiB a cap was given in ("6000 MiB", "0.5 MiB", "0.001 MiB"): a
    given cap's bytes are its MiB rounded down, which three decimals (two significant digits
    below 0.01) undo; never a whole number alone (0.5 read "0") or an exponent (6000, 6e+03)."""
    mib = count / MIB
    text = f"{mib:.3f}".rstrip("0").rstrip(".") if mib >= 0.01 else f"{mib:.2g}"
    return f"{text} MiB"


MALLOC_ARENAS = 2
"""glibc malloc arenas the app process may use (see `cap_allocator_arenas`)."""
_M_ARENA_MAX = -8
"""`mallopt` parameter number of M_ARENA_MAX in glibc's malloc.h."""


@dataclass(frozen=True)
class Limits:
    """What one upload or job may use; 0 disables the time and memory caps."""

    upload_bytes: int = 64 * MIB
    """Largest uploaded or read image file, in bytes."""
    image_pixels: int = 40_000_000
    """Largest decoded image (width x height), checked from the header before decoding."""
    min_image_side: int = 16
    """Smallest width or height of a photo to reconstruct, in pixels."""
    job_seconds: float = 900.0
    """Wall time after which a long job (reconstruction, video) stops at its next step."""
    memory_bytes: int = 0
    """Resident memory of the process above which long jobs stop at their next step."""
    sessions: int = 64
    """App sessions whose state is kept in memory; the least recently used beyond this are
    cleared (their page then says so)."""
    session_seconds: float = 3600.0
    """An app session's state is dropped this long after its last change (0: never)."""


DEFAULT_LIMITS = Limits()
"""The built-in caps (what the CLI uses unless told otherwise)."""

MAX_SEED = 2**32 - 1
"""Largest seed a command or a visitor may give (random generators take at most 64 bits)."""


def check_seed(seed: object, what: str = "The seed") -> int:
    """`seed` if it is a whole number from 0 to `MAX_SEED`, else a GANliftError naming `what`:
    torch's CPU generator keeps 32 bits, so seed 2**32 drew what seed 0 draws."""
    try:
        value = -1 if isinstance(seed, bool) else operator.index(seed)  # numpy's ints too
    except TypeError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise GANliftError(f"{what} must be a whole number from 0 to {MAX_SEED}, got {seed!r}.")
    return value


@dataclass(frozen=True)
class _Source:
    """Where a `Limits` field can be set, and how its unit converts."""

    flag: str
    variable: str
    convert: Callable[[float], float | int]
    help: str
    zero_turns_off: bool = False
    """Whether 0 is allowed (and means no cap); otherwise the value must be above 0."""


_SOURCES: dict[str, _Source] = {
    "upload_bytes": _Source(
        "--max-upload-mb",
        "GANLIFT_MAX_UPLOAD_MB",
        lambda mib: int(mib * MIB),
        "largest image file, MiB",
    ),
    "image_pixels": _Source(
        "--max-pixels", "GANLIFT_MAX_PIXELS", int, "largest decoded image, pixels"
    ),
    "min_image_side": _Source(
        "--min-image-side", "GANLIFT_MIN_IMAGE_SIDE", int, "smallest photo side, pixels"
    ),
    "job_seconds": _Source(
        "--job-seconds",
        "GANLIFT_JOB_SECONDS",
        float,
        "long jobs stop after this many seconds; 0: never",
        zero_turns_off=True,
    ),
    "memory_bytes": _Source(
        "--memory-mb",
        "GANLIFT_MEMORY_MB",
        lambda mib: int(mib * MIB),
        "long jobs stop above this RSS in MiB (Linux, macOS); 0: never",
        zero_turns_off=True,
    ),
    "sessions": _Source("--max-sessions", "GANLIFT_MAX_SESSIONS", int, "app sessions in memory"),
    "session_seconds": _Source(
        "--session-seconds",
        "GANLIFT_SESSION_SECONDS",
        float,
        "drop an app session this long after its last change; 0: never",
        zero_turns_off=True,
    ),
}
"""Every `Limits` field's flag, environment variable and unit."""


def limits_from_environment(environ: Mapping[str, str] = os.environ) -> Limits:
    """`DEFAULT_LIMITS` with every `GANLIFT_*` limit variable that is set applied."""
    changes = {
        field: _checked(environ[source.variable], source.variable, source)
        for field, source in _SOURCES.items()
        if environ.get(source.variable, "").strip()
    }
    return dataclasses.replace(DEFAULT_LIMITS, **changes)


PHOTO_CAPS = ("upload_bytes", "image_pixels", "min_image_side")
"""The `Limits` fields that hold for every photo read, in the app as on the command line (the
others cap the app's jobs and sessions)."""


def add_limit_arguments(
    parser: argparse.ArgumentParser, fields: Iterable[str] = tuple(_SOURCES)
) -> None:
    """Add a flag for each of the `Limits` `fields` (unset by default: the environment or the
    built-in value applies)."""
    group = parser.add_argument_group("limits (default: the GANLIFT_* variable, else built in)")
    for source in map(_SOURCES.__getitem__, fields):
        group.add_argument(
            source.flag,
            metavar="N",
            help=f"{source.help} (environment: {source.variable})",
        )


def limits_from_arguments(
    args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> Limits:
    """The limits in force: the flags of `add_limit_arguments` over the environment's."""
    changes = {}
    for field, source in _SOURCES.items():
        value = getattr(args, source.flag.lstrip("-").replace("-", "_"), None)
        if value is not None:
            changes[field] = _checked(value, source.flag, source)
    return dataclasses.replace(limits_from_environment(environ), **changes)


def check_image_size(image: torch.Tensor, name: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a photo `[N, 3, H, W]` whose width or height is below `limits.min_image_side`."""
    height, width = image.shape[-2:]
    least = limits.min_image_side
    if max(height, width) < least:
        size = f"{width}x{height} pixels"
    elif height < least:
        size = f"{height} pixels high ({width}x{height})"
    elif width < least:
        size = f"{width} pixels wide ({width}x{height})"
    else:
        return
    raise GANliftError(f"{name} is only {size}; use an image at least {least} pixels on each side.")


def cap_allocator_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Bound glibc's per-thread malloc arenas; returns False where the C library is not glibc.

    A server answers from many threads, and glibc gives each its own arena, which keeps freed
    memory: resident memory then creeps up with every new visitor although nothing leaks.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def raise_open_file_limit() -> int | None:
    """Raise this process's limit on open files to its hard limit (left as it is where that is
    unlimited, which the system may refuse); returns the limit now, or None where there is none
    to raise (Windows). A server holds a file per connection, and at the common 1024 a
    thousand idle connections stopped it answering."""
    try:
        import resource  # Unix only
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # a system that refuses: the old limit holds
            return soft
        return hard
    return soft


def return_free_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc's malloc_trim); returns False where
    the C library is not glibc. glibc keeps what a process frees for its next allocations, so
    a server whose sessions expired kept a gigabyte it no longer used."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


def resident_memory_bytes() -> int:
    """This process's resident set size now (Linux), else its peak so far (other Unix systems),
    else 0 (Windows, where neither is read: the memory cap never trips there)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource  # Unix only
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, others KiB


class JobGuard:
    """A `should_stop` for long loops that also trips when the job runs past
    `limits.job_seconds` or the process's memory passes `limits.memory_bytes`; `reason` then
    says which, in a sentence for the user."""

    def __init__(
        self,
        limits: Limits,
        *,
        should_stop: StopFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        memory: Callable[[], int] = resident_memory_bytes,
    ) -> None:
        self.limits = limits
        self.reason: str | None = None
        self._user_stop = should_stop
        self._clock = clock
        self._memory = memory
        self._start = clock()

    def should_stop(self) -> bool:
        """True once the user asked to stop or a cap was passed (then `reason` is set)."""
        if self._user_stop is not None and self._user_stop():
            return True
        if self.reason is None:
            self.reason = self._cap_passed()
        return self.reason is not None

    def _cap_passed(self) -> str | None:
        seconds = self.limits.job_seconds
        if seconds and self._clock() - self._start > seconds:
            return (
                f"The job was stopped at the time limit of {seconds:g} s; use the fast quality "
                "or ask the host to raise --job-seconds."
            )
        cap = self.limits.memory_bytes
        if cap and self._memory() > cap:
            return (
                f"The job was stopped because the server passed its memory limit of "
                f"{in_mib(cap)}; try again later or use a smaller image."
            )
        return None


def _checked(text: str, name: str, source: _Source) -> float:
    """`text` as a number above 0 (or 0 where it turns the cap off) in the field's unit, or
    a GANliftError naming the flag or variable `name`."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value):
        value = -1.0  # inf would be no cap at all, which 0 says where a cap may be off
    if source.zero_turns_off and not value >= 0:
        raise GANliftError(f"{name} must be a number of 0 (no cap) or more, got '{text}'.")
    if not source.zero_turns_off and not value > 0:
        raise GANliftError(f"{name} must be a number above 0, got '{text}'.")
    converted = source.convert(value)
    if value > 0 and converted == 0:  # a cap of 0 images or bytes, or 0 turning a cap off
        raise GANliftError(f"{name} '{text}' rounds down to 0; give a larger number.")
    return converted
