"""Atomic file writes: every file GANlift writes appears complete or not at all.

Write to a temporary file in the destination's folder, then rename it over the destination
(`os.replace` is atomic within one file system), so a crash or a kill never leaves a torn file.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from engine.errors import GANliftError
from engine.wording import type_phrase


def _process_umask() -> int:
    """The umask, read once at import: reading it means setting it, so it is set back at once."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_process_umask()
"""The mode `open()` gives a new file; `mkstemp`'s temporary files are private (0600)."""
_SEPARATORS = tuple(separator for separator in (os.sep, os.altsep) if separator)
"""What ends a name that names a folder."""


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so format-by-suffix writers work);
    rename it onto `path` when the `with` body succeeds, remove it otherwise.

    The file ends with the mode a plain write would give it: an existing file's own, else the
    umask's default, so results stay readable by whoever could read them before. A writer that
    fails on a full disk raises the system's OSError (ENOSPC) naming `path`, whatever it raised
    itself (torch.save: a RuntimeError about a stream position; safetensors: its own error).
    """
    path = file_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp"
        )
    except OSError as error:
        raise _unwritable(path, error) from error
    os.close(handle)
    temporary = Path(name)
    try:
        try:
            yield temporary
        except Exception as error:
            code = None if isinstance(error, GANliftError) else _full_disk(error, path.parent)
            if code is None:
                raise
            raise OSError(code, os.strerror(code), str(path)) from error
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else _NEW_FILE_MODE
        with contextlib.suppress(OSError):  # FAT and exFAT refuse modes; the write still counts
            os.chmod(temporary, mode)
        try:
            os.replace(temporary, path)
        except OSError as error:
            raise GANliftError(
                f"Cannot write '{path}' ({error.strerror}); choose another file name."
            ) from error
        _sweep_leftovers(path)
    finally:
        temporary.unlink(missing_ok=True)


def _unwritable(path: Path, error: OSError) -> GANliftError:
    """The error for a `path` whose folder cannot be made or written in, naming the file that
    stands where a folder should ("File exists" said nothing of which)."""
    blocker = next((folder for folder in path.parents if folder.is_file()), None)
    if blocker is not None:
        return GANliftError(
            f"Cannot write '{path}': {blocker} is a file, not a folder; choose another path."
        )
    return GANliftError(
        f"Cannot write '{path}' ({error.strerror}); choose a folder you can write to."
    )


FULL_DISK_BYTES = 2**20
"""Free space below which a failed write is taken as one the disk was too full for."""


def _full_disk(error: Exception, folder: Path) -> int | None:
    """ENOSPC or EDQUOT when a writer's `error` in `folder` came from a full disk or quota: the
    system's error, in any wrapping, or a RuntimeError (torch.save's stream error, which does
    not say why) while the disk is nearly full, with the failed write's temporary file still
    there. Else None: other errors are bugs to keep."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return error.errno
    for code in (errno.ENOSPC, errno.EDQUOT):  # a writer that words the system's error itself
        if os.strerror(code) in str(error):
            return code
    if type(error) is not RuntimeError:
        return None
    try:
        full = shutil.disk_usage(folder).free < FULL_DISK_BYTES
    except OSError:
        return None
    return errno.ENOSPC if full else None


LEFTOVER_SECONDS = 3600
"""How long a temporary file of `atomic_path` must have lain untouched before a later write of
the same file removes it as a killed write's leftover (a live write touches its file)."""


def _sweep_leftovers(path: Path) -> None:
    """Remove the temporary files that writes of `path` killed outright (SIGKILL, power loss)
    left beside it, once they are `LEFTOVER_SECONDS` old: no cleanup ran for them."""
    cutoff = time.time() - LEFTOVER_SECONDS
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*{path.suffix or '.tmp'}"):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if leftover.is_file() and leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def output_folder(path: str | os.PathLike) -> Path:
    """`path` as a folder to write results into, made with its parents if missing; commands
    call it before any slow work, so a bad --out costs nothing."""
    if not str(path).strip():
        raise GANliftError("The output folder is empty text; give --out a folder's name.")
    path = Path(path)
    if _probe(path, "output folder") and not path.is_dir():
        raise GANliftError(f"Output folder {path} is a file; choose a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GANliftError(
            f"Cannot create the output folder {path} ({error.strerror}); choose a folder you "
            "can write to."
        ) from error
    try:  # a trial file, since os.access says yes to root even where nothing can be written
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise GANliftError(
            f"Cannot write in the output folder {path} ({error.strerror}); choose a folder you "
            "can write to."
        ) from error
    return path


def path_first(path: object, caller: str) -> Path:
    """`path` as a Path, or a GANliftError saying that `caller` takes its path first: the
    engine's other writers take the object first (`save_image(image, path)`), so a call in
    that order met a bare TypeError."""
    if not isinstance(path, str | os.PathLike):
        raise GANliftError(
            f"{caller} takes the file's path first, got {type_phrase(path)}; call "
            f"{caller}(path, ...)."
        )
    return file_path(path)


def output_file(path: str | os.PathLike) -> Path:
    """`path` as a file a command will write when its work is done, checked now: its folder
    is made if missing, and the path itself must not be a folder."""
    path = file_path(path)
    if _probe(path, "output file") and path.is_dir():
        raise GANliftError(f"Output file {path} is a folder; choose a file name.")
    output_folder(path.parent)
    return path


def file_path(path: str | os.PathLike) -> Path:
    """`path` as the Path of a file to write; a name ending in a separator is refused, as it
    names a folder (`Path` drops the separator: `--out new/` became a file called `new`)."""
    text = os.fspath(path)
    if isinstance(text, str) and text.endswith(_SEPARATORS):
        raise GANliftError(
            f"Output file {text} names a folder (it ends in {text[-1]}); choose a file name."
        )
    return Path(path)


def _probe(path: Path, role: str) -> bool:
    """Whether `path` exists; a name the system refuses (too long, no permission to look) is a
    one-sentence error, not a traceback. (Below a file nothing exists; making it says why.)"""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as error:
        raise GANliftError(
            f"Cannot use {path} as the {role} ({error.strerror}); choose another name."
        ) from error
    return True


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    return write_bytes(path, text.encode())


def write_json(
    path: str | os.PathLike, data: Any, *, indent: int = 2, sort_keys: bool = False
) -> Path:
    """Write `data` as JSON (indented, one final newline) to `path` atomically."""
    return write_text(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def save_torch(data: Any, path: str | os.PathLike) -> Path:
    """`torch.save(data, path)` atomically; returns the path."""
    path = torch_file(path)
    with atomic_path(path) as temporary:
        torch.save(data, temporary)
    return path


def torch_file(path: str | os.PathLike) -> Path:
    """`path` as the name of a file `torch.save` writes: not a .safetensors one, which
    `torch.load` reads as safetensors, so that the file could never be read back."""
    path = file_path(path)
    if path.suffix.lower() == ".safetensors":
        raise GANliftError(
            f"Output file {path} would hold a torch file under a .safetensors name, which "
            "torch.load takes for safetensors; give it a name ending in .pt."
        )
    return path
